// station-rules §4 (changes, cancels, completion) and §5 (faults, switching, recovery).
#include <catch2/catch.hpp>

#include "support.hpp"

using station::FaultPause;
using station::FaultStrategy;
using station::Mode;
using station::OrderState;
using station::Place;
using station::Rejection;
using test::at;

namespace {
// One fast and one slow pile, one place each: later cars wait.
station::Station small_station() {
    return station::Station(test::profile(1, 1, 30, 10, 10, 1), at(8, 0));
}
}  // namespace

// ---- §4 the change / cancel table, cell by cell -------------------------------------

TEST_CASE("§4 waiting area / change mode: new number of the new mode — to the tail",
          "[rules][changes]") {
    auto st = small_station();
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());    // F1 at the pile
    REQUIRE(st.submit("T-a", Mode::Slow, 50).ok());  // T1 at the pile
    REQUIRE(st.submit("B", Mode::Fast, 30).ok());    // F2 waits
    REQUIRE(st.submit("C", Mode::Slow, 20).ok());    // T2 waits
    REQUIRE(st.submit("D", Mode::Slow, 20).ok());    // T3 waits
    const auto id = test::order_of(st, "B").id;
    REQUIRE(st.change("B", Mode::Slow, std::nullopt).ok());
    const auto& b = st.order(id);
    CHECK(b.id == id);  // the same order
    CHECK(b.mode == Mode::Slow);
    CHECK(st.number_text(b) == "T4");
    CHECK(b.requested_kwh == 30);
    CHECK(st.waiting_of(Mode::Slow).back() == id);
    CHECK(test::waiting_of(st) == "C,D,B");
    CHECK(st.front_cars(id) == 2);
}

TEST_CASE("§4 waiting area / change amount: keeps its number and place", "[rules][changes]") {
    auto st = small_station();
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());
    REQUIRE(st.submit("B", Mode::Fast, 30).ok());
    REQUIRE(st.submit("C", Mode::Fast, 30).ok());
    REQUIRE(st.change("B", std::nullopt, 12.5).ok());
    CHECK(test::order_of(st, "B").requested_kwh == 12.5);
    CHECK(st.number_text(test::order_of(st, "B")) == "F2");
    CHECK(test::waiting_of(st) == "B,C");
    // Naming the car's own mode is only an amount change.
    REQUIRE(st.change("C", Mode::Fast, 7).ok());
    CHECK(st.number_text(test::order_of(st, "C")) == "F3");
    CHECK(test::waiting_of(st) == "B,C");
    // Bad amounts are refused and change nothing.
    CHECK(st.change("C", std::nullopt, 0.0).rejection == Rejection::InvalidAmount);
    CHECK(st.change("C", std::nullopt, -1.0).rejection == Rejection::InvalidAmount);
    CHECK(test::order_of(st, "C").requested_kwh == 7);
}

TEST_CASE("§4 waiting area / cancel: leaves — no bill", "[rules][changes]") {
    auto st = small_station();
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());
    REQUIRE(st.submit("B", Mode::Fast, 30).ok());
    REQUIRE(st.cancel("B").ok());
    CHECK(test::order_of(st, "B").state == OrderState::Cancelled);
    CHECK(test::waiting_of(st).empty());
    CHECK(st.bills().empty());
    CHECK_FALSE(st.active_order("B"));
}

TEST_CASE("§4 charging area / change mode or amount: rejected", "[rules][changes]") {
    station::Station st(test::profile(1, 0, 30, 10, 10, 2), at(8, 0));
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());  // charging
    REQUIRE(st.submit("B", Mode::Fast, 30).ok());  // dispatched, at the pile
    for (const char* car : {"A", "B"}) {
        CHECK(st.change(car, Mode::Slow, std::nullopt).rejection == Rejection::NotInWaitingArea);
        CHECK(st.change(car, std::nullopt, 5.0).rejection == Rejection::NotInWaitingArea);
        CHECK(test::order_of(st, car).requested_kwh == 30);
        CHECK(test::order_of(st, car).mode == Mode::Fast);
    }
    CHECK(test::queue_of(st, "F1") == "A,B");
}

TEST_CASE("§4 charging area / cancel while charging: stops with a bill", "[rules][changes]") {
    station::Station st(test::profile(1, 0, 30, 10, 10, 2), at(8, 0));
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());
    REQUIRE(st.submit("B", Mode::Fast, 30).ok());
    REQUIRE(st.submit("C", Mode::Fast, 30).ok());  // waits
    st.advance_to(at(8, 30));
    REQUIRE(st.cancel("A").ok());
    REQUIRE(st.bills().size() == 1);
    CHECK(st.bills()[0].kwh == Approx(15));
    CHECK(st.bills()[0].reason == station::StopReason::Cancelled);
    CHECK(test::order_of(st, "A").state == OrderState::Cancelled);
    CHECK(test::order_of(st, "A").delivered_kwh == Approx(15));
    // The next car starts at once and the freed place calls C.
    CHECK(test::order_of(st, "B").state == OrderState::Charging);
    CHECK(test::queue_of(st, "F1") == "B,C");
}

TEST_CASE("§4 charging area / cancel while queued at a pile: leaves — no bill",
          "[rules][changes]") {
    station::Station st(test::profile(1, 0, 30, 10, 10, 2), at(8, 0));
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());
    REQUIRE(st.submit("B", Mode::Fast, 30).ok());
    st.advance_to(at(8, 30));
    REQUIRE(st.cancel("B").ok());
    CHECK(st.bills().empty());
    CHECK(test::queue_of(st, "F1") == "A");
    CHECK(test::order_of(st, "A").state == OrderState::Charging);
}

TEST_CASE("§4 re-dispatch group / change: rejected — cancel: leaves", "[rules][changes]") {
    station::Station st(test::profile(1, 0, 30, 10, 10, 2), at(8, 0));
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());
    REQUIRE(st.submit("B", Mode::Fast, 30).ok());
    st.advance_to(at(8, 20));
    REQUIRE(st.fault("F1").ok());
    CHECK(test::group_of(st, Mode::Fast) == "A,B");
    CHECK(test::order_of(st, "A").place == Place::Redispatch);
    CHECK(test::order_of(st, "A").state == OrderState::Dispatched);
    CHECK(st.change("A", std::nullopt, 5.0).rejection == Rejection::NotInWaitingArea);
    CHECK(st.change("B", Mode::Slow, std::nullopt).rejection == Rejection::NotInWaitingArea);
    REQUIRE(st.cancel("A").ok());
    CHECK(test::group_of(st, Mode::Fast) == "B");
    CHECK(test::order_of(st, "A").state == OrderState::Cancelled);
    REQUIRE(st.bills().size() == 1);  // the session before the fault is kept
    CHECK(st.bills()[0].kwh == Approx(10));
}

TEST_CASE("§4 unknown cars are rejected", "[rules][changes]") {
    auto st = small_station();
    CHECK(st.cancel("ghost").rejection == Rejection::UnknownCar);
    CHECK(st.change("ghost", Mode::Fast, 3.0).rejection == Rejection::UnknownCar);
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());
    st.run_until_idle();
    CHECK(st.cancel("A").rejection == Rejection::UnknownCar);  // already finished
}

TEST_CASE("§4 completion: bill — FINISHED — next car at once — freed place calls",
          "[rules][changes]") {
    station::Station st(test::profile(1, 0, 30, 10, 10, 2), at(8, 0));
    REQUIRE(st.submit("A", Mode::Fast, 15).ok());
    REQUIRE(st.submit("B", Mode::Fast, 30).ok());
    REQUIRE(st.submit("C", Mode::Fast, 30).ok());
    st.advance_to(at(8, 30));
    CHECK(test::order_of(st, "A").state == OrderState::Finished);
    CHECK(test::order_of(st, "A").closed_at == at(8, 30));
    CHECK(test::order_of(st, "A").delivered_kwh == 15);
    CHECK(test::order_of(st, "B").state == OrderState::Charging);
    CHECK(test::queue_of(st, "F1") == "B,C");
    REQUIRE(st.bills().size() == 1);
    CHECK(st.bills()[0].stop == at(8, 30));
}

TEST_CASE("§4 one instant: completions run before that instant's requests", "[rules][changes]") {
    station::Station st(test::profile(1, 0, 30, 10, 1, 1), at(8, 0));
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());  // done 09:00
    REQUIRE(st.submit("B", Mode::Fast, 30).ok());  // fills the waiting area (N=1)
    st.advance_to(at(9, 0));
    // At 09:00 A finished and B was called, so the waiting area has room for C.
    REQUIRE(st.submit("C", Mode::Fast, 30).ok());
    CHECK(test::queue_of(st, "F1") == "B");
    CHECK(test::waiting_of(st) == "C");
}

// ---- §5 faults ----------------------------------------------------------------------

namespace {
// Two slow piles of 10 kW, three places each; T1: A (charging), B, C; T2: D, E.
station::Station faulted_layout(station::Policy policy) {
    station::Station st(test::profile(1, 2, 30, 10, 10, 3, policy), at(8, 0));
    REQUIRE(st.submit("A", Mode::Slow, 10).ok());  // T1
    REQUIRE(st.submit("D", Mode::Slow, 25).ok());  // T2, until 10:30
    REQUIRE(st.submit("B", Mode::Slow, 10).ok());  // T1: 10:00 beats T2: 11:30
    REQUIRE(st.submit("C", Mode::Slow, 10).ok());  // T1: 11:00 beats T2: 11:30
    REQUIRE(st.submit("E", Mode::Slow, 10).ok());  // T2: 11:30 beats T1: 12:00
    REQUIRE(st.submit("W", Mode::Slow, 10).ok());  // best is T1 (12:00 tie), full: waits
    REQUIRE(st.submit("F-a", Mode::Fast, 30).ok());
    REQUIRE(st.submit("F-b", Mode::Fast, 30).ok());
    REQUIRE(st.submit("F-c", Mode::Fast, 30).ok());
    REQUIRE(st.submit("F-d", Mode::Fast, 30).ok());  // F1 has 3 places: F-d waits
    REQUIRE(test::queue_of(st, "T1") == "A,B,C");
    REQUIRE(test::queue_of(st, "T2") == "D,E");
    st.advance_to(at(8, 30));
    return st;
}
}  // namespace

TEST_CASE("§5 priority: the faulty pile's queue becomes the group — interrupted car first",
          "[rules][faults]") {
    auto st = faulted_layout({});
    REQUIRE(st.fault("T1").ok());
    CHECK(st.pile_state(*st.find_pile("T1")) == station::PileState::Fault);
    CHECK(test::queue_of(st, "T1").empty());
    REQUIRE(st.bills().size() == 1);
    CHECK(st.bills()[0].kwh == Approx(5));
    CHECK(st.bills()[0].reason == station::StopReason::Fault);
    const auto& a = test::order_of(st, "A");
    CHECK(a.state == OrderState::Dispatched);
    CHECK(a.remaining_kwh() == Approx(5));
    // T2 had one free place: A (first in the group) took it.
    CHECK(test::queue_of(st, "T2") == "D,E,A");
    CHECK(test::group_of(st, Mode::Slow) == "B,C");
    // pause=all: the fast waiting area does not call while a group exists.
    st.advance_to(at(9, 0));  // F-a done at F1
    CHECK(test::queue_of(st, "F1") == "F-b,F-c");
    CHECK(test::waiting_of(st) == "W,F-d");
}

TEST_CASE("§5 pause=mode: only the group's own mode stops calling", "[rules][faults]") {
    station::Policy policy;
    policy.fault_pause = FaultPause::Mode;
    auto st = faulted_layout(policy);
    REQUIRE(st.fault("T1").ok());
    st.advance_to(at(9, 0));
    CHECK(test::queue_of(st, "F1") == "F-b,F-c,F-d");
    CHECK(test::waiting_of(st) == "W");
}

TEST_CASE("§5 time-order: the group takes every waiting car of the mode at other piles",
          "[rules][faults]") {
    station::Policy policy;
    policy.fault_strategy = FaultStrategy::TimeOrder;
    auto st = faulted_layout(policy);
    REQUIRE(st.fault("T1").ok());
    // Group = A, B, C (T1) + E (T2, not charging), by number: A=T1, D=T2, B=T3, C=T4, E=T5.
    // Then calling: T2 has D charging and two places: A then B go there.
    CHECK(test::queue_of(st, "T2") == "D,A,B");
    CHECK(test::group_of(st, Mode::Slow) == "C,E");
}

TEST_CASE("§5 recovery regroups waiting cars of the mode and calls again", "[rules][faults]") {
    auto st = faulted_layout({});
    REQUIRE(st.fault("T1").ok());
    st.advance_to(at(9, 0));
    REQUIRE(st.recover("T1").ok());
    // Group B, C plus E and A from T2 (not charging), by number: A=T1, B=T3, C=T4, E=T5.
    // A (5 kWh left): T1 09:30 vs T2 (D until 10:30) 11:00 -> T1. B: T1 10:30 vs T2 11:30
    // -> T1. C: T1 11:30 ties T2 11:30 -> T1 (now full). E: T2.
    CHECK(test::queue_of(st, "T1") == "A,B,C");
    CHECK(test::queue_of(st, "T2") == "D,E");
    CHECK(test::group_of(st, Mode::Slow).empty());
    CHECK(test::order_of(st, "A").state == OrderState::Charging);
    // Groups are empty again, so the waiting areas call in the same pass: F-d goes to F1,
    // W's best pile (T1, tie at 12:30) is full.
    CHECK(test::queue_of(st, "F1") == "F-b,F-c,F-d");
    CHECK(test::waiting_of(st) == "W");
}

TEST_CASE("§5 timed faults recover by themselves — an early recovery cancels the timer",
          "[rules][faults]") {
    station::Station st(test::profile(0, 1, 30, 10, 10, 2), at(8, 0));
    REQUIRE(st.submit("A", Mode::Slow, 20).ok());
    REQUIRE(st.fault("T1", 30 * station::kMsPerMinute).ok());
    CHECK(st.pile_fault_until(0) == at(8, 30));
    st.advance_to(at(8, 29));
    CHECK(st.pile_state(0) == station::PileState::Fault);
    st.advance_to(at(8, 30));
    CHECK(st.pile_state(0) == station::PileState::Work);  // back, and A resumed
    CHECK(test::order_of(st, "A").state == OrderState::Charging);

    REQUIRE(st.fault("T1", 60 * station::kMsPerMinute).ok());  // would end 09:30
    st.advance_to(at(8, 40));
    REQUIRE(st.recover("T1").ok());
    st.advance_to(at(8, 50));
    REQUIRE(st.fault("T1").ok());  // until recovered
    st.advance_to(at(10, 0));
    CHECK(st.pile_state(0) == station::PileState::Fault);  // the 09:30 timer did nothing
    CHECK_FALSE(st.pile_fault_until(0));
}

TEST_CASE("§5 bad pile events are rejected and change nothing", "[rules][faults]") {
    station::Station st(test::profile(1, 1, 30, 10, 10, 2), at(8, 0));
    CHECK(st.fault("X9").rejection == Rejection::UnknownPile);
    CHECK(st.recover("X9").rejection == Rejection::UnknownPile);
    CHECK(st.recover("T1").rejection == Rejection::PileNotFaulty);
    CHECK(st.fault("T1", -5).rejection == Rejection::InvalidDuration);
    REQUIRE(st.fault("T1").ok());
    CHECK(st.fault("T1").rejection == Rejection::PileAlreadyFaulty);
    CHECK(st.switch_off("X9").rejection == Rejection::UnknownPile);
    CHECK(st.switch_on("F1").rejection == Rejection::PileAlreadyOn);
    REQUIRE(st.switch_off("F1").ok());
    CHECK(st.switch_off("F1").rejection == Rejection::PileAlreadyOff);
}

TEST_CASE("§5 SWITCHOFF behaves like a fault in state OFF — SWITCHON like a recovery",
          "[rules][faults]") {
    station::Station st(test::profile(0, 2, 30, 10, 10, 2), at(8, 0));
    REQUIRE(st.submit("A", Mode::Slow, 20).ok());  // T1
    REQUIRE(st.submit("B", Mode::Slow, 20).ok());  // T2
    REQUIRE(st.submit("C", Mode::Slow, 20).ok());  // T1
    st.advance_to(at(9, 0));
    REQUIRE(st.switch_off("T1").ok());
    CHECK(st.pile_state(0) == station::PileState::Off);
    REQUIRE(st.bills().size() == 1);
    CHECK(st.bills()[0].reason == station::StopReason::SwitchedOff);
    CHECK(test::queue_of(st, "T2") == "B,A");  // A first from the group, C waits in it
    CHECK(test::group_of(st, Mode::Slow) == "C");
    REQUIRE(st.switch_on("T1").ok());
    // A joins the group (not charging at T2), by number A=T1, C=T3; both go to T1.
    CHECK(test::queue_of(st, "T1") == "A,C");
    CHECK(test::queue_of(st, "T2") == "B");
    CHECK(st.pile_state(0) == station::PileState::Work);
}

TEST_CASE("§5 a second fault of the same mode: priority appends — time-order re-sorts",
          "[rules][faults]") {
    for (const auto strategy : {FaultStrategy::Priority, FaultStrategy::TimeOrder}) {
        station::Policy policy;
        policy.fault_strategy = strategy;
        station::Station st(test::profile(0, 3, 30, 10, 10, 2, policy), at(8, 0));
        const std::pair<const char*, double> cars[] = {{"A", 30}, {"B", 31}, {"C", 32},
                                                       {"D", 10}, {"E", 10}, {"F", 10}};
        for (const auto& [car, kwh] : cars) {
            REQUIRE(st.submit(car, Mode::Slow, kwh).ok());
        }
        REQUIRE(test::queue_of(st, "T1") == "A,D");
        REQUIRE(test::queue_of(st, "T2") == "B,E");
        REQUIRE(test::queue_of(st, "T3") == "C,F");
        REQUIRE(st.fault("T2").ok());
        REQUIRE(st.fault("T1").ok());
        if (strategy == FaultStrategy::Priority) {
            // T2's queue, then T1's behind it; T3 stays full.
            CHECK(test::group_of(st, Mode::Slow) == "B,E,A,D");
            CHECK(test::queue_of(st, "T3") == "C,F");
        } else {
            // F (at T3, not charging) joins too and the whole group is sorted by number:
            // A,B,D,E,F. A, first, takes the place F left at T3.
            CHECK(test::group_of(st, Mode::Slow) == "B,D,E,F");
            CHECK(test::queue_of(st, "T3") == "C,A");
        }
    }
}

TEST_CASE("§5 nothing breaks when every pile of a mode is down", "[rules][faults]") {
    station::Station st(test::profile(1, 1, 30, 10, 10, 2), at(8, 0));
    REQUIRE(st.submit("A", Mode::Slow, 10).ok());
    REQUIRE(st.fault("T1").ok());
    REQUIRE(st.submit("B", Mode::Slow, 10).ok());
    st.run_until_idle();
    CHECK(test::group_of(st, Mode::Slow) == "A");
    CHECK(test::waiting_of(st) == "B");
    REQUIRE(st.recover("T1").ok());
    st.run_until_idle();
    CHECK(test::order_of(st, "A").state == OrderState::Finished);
    CHECK(test::order_of(st, "B").state == OrderState::Finished);
}
