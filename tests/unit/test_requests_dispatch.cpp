// station-rules §1 (profiles), §2 (requests and queue numbers), §3 (calling and dispatch).
#include <catch2/catch.hpp>
#include <cmath>

#include "support.hpp"

using station::Candidates;
using station::Mode;
using station::OrderState;
using station::Rejection;
using test::at;

TEST_CASE("§1 the three named profiles ship with their parameters", "[rules][profile]") {
    const auto bupt = station::builtin_profile("bupt-2023");
    REQUIRE(bupt);
    CHECK(bupt->waiting_area == 6);
    CHECK(bupt->queue_length == 2);
    REQUIRE(bupt->piles.size() == 5);
    CHECK(bupt->piles[0].id == "F1");
    CHECK(bupt->piles[0].power == 30);
    CHECK(bupt->piles[4].id == "T3");
    CHECK(bupt->piles[4].power == 7);
    const auto acc = station::builtin_profile("acceptance-42");
    REQUIRE(acc);
    CHECK(acc->waiting_area == 10);
    CHECK(acc->queue_length == 3);
    CHECK(acc->piles[2].power == 10);
    const auto g8 = station::builtin_profile("g8");
    REQUIRE(g8);
    CHECK(g8->piles.size() == 5);
    CHECK(g8->piles[2].id == "F3");
    CHECK(g8->piles[3].id == "T1");
    for (const auto& name : station::builtin_profile_names()) {
        const auto p = station::builtin_profile(name);
        REQUIRE(p);
        CHECK(p->policy.candidates == Candidates::Best);
        CHECK(p->policy.fault_strategy == station::FaultStrategy::Priority);
        CHECK(p->policy.fault_pause == station::FaultPause::All);
        CHECK(station::validate_profile(*p).empty());
    }
    CHECK_FALSE(station::builtin_profile("nope"));
}

TEST_CASE("§1 profile files: the documented shape — defaults and errors", "[rules][profile]") {
    const auto ok = station::parse_profile_json(R"({"name": "big-site",
        "waiting_area": 50, "queue_length": 3,
        "piles": [{"id": "F1", "mode": "F", "power": 30, "name": "快充1"},
                  {"id": "T1", "mode": "T", "power": 7}],
        "dispatch": {"candidates": "free"},
        "fault": {"strategy": "time-order", "pause": "mode"},
        "tariff": {"service_rate": 0.5, "periods": [
            {"from": "08:00", "to": "20:00", "price": 1.2},
            {"from": "20:00", "to": "08:00", "price": 0.3}]}})");
    REQUIRE(ok.profile);
    CHECK(ok.profile->name == "big-site");
    CHECK(ok.profile->piles[0].name == "快充1");
    CHECK(ok.profile->piles[1].name == "T1");
    CHECK(ok.profile->policy.candidates == Candidates::Free);
    CHECK(ok.profile->policy.fault_strategy == station::FaultStrategy::TimeOrder);
    CHECK(ok.profile->policy.fault_pause == station::FaultPause::Mode);
    CHECK(ok.profile->tariff.price_at(at(21, 0)) == 0.3);
    CHECK(ok.profile->tariff.service_rate() == 0.5);

    const char* bad[] = {
        "",
        "[]",
        "{not json",
        R"({"waiting_area": 5, "queue_length": 2})",
        R"({"waiting_area": 0, "queue_length": 2, "piles": [{"id":"F1","mode":"F","power":30}]})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"F1","mode":"X","power":30}]})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"F1","mode":"F","power":0}]})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"F1","mode":"F","power":"30"}]})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"F 1","mode":"F","power":30}]})",
        // A pile id is a topic level on the bus and a field of a scenario's tuples.
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"F\u00001","mode":"F","power":30}]})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"F/1","mode":"F","power":30}]})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"F+","mode":"F","power":30}]})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"F\u007f","mode":"F","power":30}]})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"","mode":"F","power":30}]})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF","mode":"F","power":30}]})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"F1","mode":"F","power":30},
                                                              {"id":"F1","mode":"T","power":7}]})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": []})",
        R"({"waiting_area": 5.5, "queue_length": 2, "piles": [{"id":"F1","mode":"F","power":30}]})",
        R"({"waiting_area": 99999999999999, "queue_length": 2, "piles": [{"id":"F1","mode":"F","power":30}]})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"F1","mode":"F","power":30}],
            "dispatch": {"candidates": "nearest"}})",
        R"({"waiting_area": 5, "queue_length": 2, "piles": [{"id":"F1","mode":"F","power":30}],
            "tariff": {"periods": [{"from": "00:00", "to": "12:00", "price": 1}]}})",
    };
    for (const char* text : bad) {
        INFO(text);
        const auto r = station::parse_profile_json(text);
        CHECK_FALSE(r.profile);
        CHECK_FALSE(r.error.empty());
    }
}

TEST_CASE("§2 queue numbers: mode letter plus a per-mode counter", "[rules][requests]") {
    station::Station st(*station::builtin_profile("bupt-2023"), at(6, 0));
    REQUIRE(st.submit("V1", Mode::Fast, 10).ok());
    REQUIRE(st.submit("V2", Mode::Slow, 10).ok());
    REQUIRE(st.submit("V3", Mode::Fast, 10).ok());
    CHECK(st.number_text(test::order_of(st, "V1")) == "F1");
    CHECK(st.number_text(test::order_of(st, "V2")) == "T1");
    CHECK(st.number_text(test::order_of(st, "V3")) == "F2");
}

TEST_CASE("§2 counters restart each day and calling follows issue order", "[rules][requests]") {
    // One fast pile with one place: A charges, B waits overnight, C arrives the next day.
    station::Station st(test::profile(1, 0, 30, 7, 5, 1), at(23, 0));
    REQUIRE(st.submit("A", Mode::Fast, 60).ok());  // 23:00 -> 01:00
    REQUIRE(st.submit("B", Mode::Fast, 10).ok());
    CHECK(st.number_text(test::order_of(st, "B")) == "F2");
    st.advance_to(at(0, 30, 0, 1));
    REQUIRE(st.submit("C", Mode::Fast, 10).ok());
    CHECK(st.number_text(test::order_of(st, "C")) == "F1");  // today's F1
    CHECK(st.front_cars(test::order_of(st, "C").id) == 1);   // yesterday's F2 goes first
    st.advance_to(at(1, 0, 0, 1));
    CHECK(test::queue_of(st, "F1") == "B");
    CHECK(test::waiting_of(st) == "C");
    REQUIRE(st.submit("D", Mode::Fast, 10).ok());
    CHECK(st.number_text(test::order_of(st, "D")) == "F2");
}

TEST_CASE("§2 a full waiting area rejects a request and changes nothing", "[rules][requests]") {
    station::Station st(test::profile(1, 0, 30, 7, 2, 1), at(8, 0));
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());  // to the pile
    REQUIRE(st.submit("B", Mode::Fast, 30).ok());
    REQUIRE(st.submit("C", Mode::Fast, 30).ok());
    CHECK(st.waiting_count() == 2);
    const auto r = st.submit("D", Mode::Fast, 30);
    CHECK(r.rejection == Rejection::WaitingAreaFull);
    CHECK(st.orders().size() == 3);
    CHECK_FALSE(st.active_order("D"));
    CHECK(test::waiting_of(st) == "B,C");
    // The next request still gets the next number: a rejected one consumed none.
    REQUIRE(st.cancel("C").ok());
    REQUIRE(st.submit("D", Mode::Fast, 30).ok());
    CHECK(st.number_text(test::order_of(st, "D")) == "F4");
}

TEST_CASE("§2 a car with an active request cannot submit a second one", "[rules][requests]") {
    station::Station st(test::profile(1, 1, 30, 10, 5, 2), at(8, 0));
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());
    CHECK(st.submit("A", Mode::Slow, 5).rejection == Rejection::CarAlreadyActive);
    CHECK(st.orders().size() == 1);
    st.run_until_idle();  // A finishes at 09:00
    CHECK(test::order_of(st, "A").state == OrderState::Finished);
    REQUIRE(st.submit("A", Mode::Slow, 5).ok());  // a new order for the same car
    CHECK(st.orders().size() == 2);
}

TEST_CASE("§2 requests need a positive amount and a mode the station has", "[rules][requests]") {
    station::Station st(test::profile(1, 0, 30, 10, 5, 2), at(8, 0));
    CHECK(st.submit("A", Mode::Fast, 0).rejection == Rejection::InvalidAmount);
    CHECK(st.submit("A", Mode::Fast, -3).rejection == Rejection::InvalidAmount);
    CHECK(st.submit("A", Mode::Fast, std::nan("")).rejection == Rejection::InvalidAmount);
    CHECK(st.submit("A", Mode::Fast, INFINITY).rejection == Rejection::InvalidAmount);
    CHECK(st.submit("A", Mode::Slow, 5).rejection == Rejection::NoPileForMode);
    CHECK(st.submit("", Mode::Fast, 5).rejection == Rejection::InvalidCar);
    CHECK(st.orders().empty());
}

TEST_CASE("§2 front_cars counts same-mode cars ahead — re-dispatch group included",
          "[rules][requests]") {
    station::Station st(test::profile(1, 1, 30, 10, 10, 1), at(8, 0));
    REQUIRE(st.submit("F-a", Mode::Fast, 30).ok());  // at F1
    REQUIRE(st.submit("F-b", Mode::Fast, 30).ok());
    REQUIRE(st.submit("T-a", Mode::Slow, 30).ok());  // at T1
    REQUIRE(st.submit("F-c", Mode::Fast, 30).ok());
    CHECK(st.front_cars(test::order_of(st, "F-b").id) == 0);
    CHECK(st.front_cars(test::order_of(st, "F-c").id) == 1);
    REQUIRE(st.fault("F1").ok());  // F-a goes to the fast re-dispatch group
    CHECK(test::group_of(st, Mode::Fast) == "F-a");
    CHECK(st.front_cars(test::order_of(st, "F-b").id) == 1);
    CHECK(st.front_cars(test::order_of(st, "F-c").id) == 2);
    CHECK(st.front_cars(test::order_of(st, "T-a").id) == 0);  // not waiting
}

TEST_CASE("§3 a called car joins the pile with the earliest completion", "[rules][dispatch]") {
    station::Station st(test::profile(0, 2, 30, 10, 10, 3), at(8, 0));
    REQUIRE(st.submit("A", Mode::Slow, 40).ok());  // tie of idle piles: T1
    REQUIRE(st.submit("B", Mode::Slow, 10).ok());  // T1: 4h+1h, T2: 1h
    REQUIRE(st.submit("C", Mode::Slow, 10).ok());  // T1: 5h, T2: 1h+1h
    REQUIRE(st.submit("D", Mode::Slow, 30).ok());  // T1: 4h+3h, T2: 2h+3h
    REQUIRE(st.submit("E", Mode::Slow, 5).ok());   // T1: 4.5h, T2: 5.5h
    CHECK(test::queue_of(st, "T1") == "A,E");
    CHECK(test::queue_of(st, "T2") == "B,C,D");
    CHECK(test::order_of(st, "A").state == OrderState::Charging);
    CHECK(test::order_of(st, "E").state == OrderState::Dispatched);
    CHECK(st.pile_state(*st.find_pile("T1")) == station::PileState::Work);
}

TEST_CASE("§3 completion time uses each pile's own power", "[rules][dispatch]") {
    station::Profile p = test::profile(2, 0, 30, 10, 10, 3);
    p.piles[1].power = 60;  // F2 is twice as fast
    station::Station st(p, at(8, 0));
    REQUIRE(st.submit("A", Mode::Fast, 30).ok());  // F1: 1h, F2: 0.5h
    CHECK(test::queue_of(st, "F2") == "A");
    REQUIRE(st.submit("B", Mode::Fast, 15).ok());  // F1: 0.5h, F2: 0.5h+0.25h
    CHECK(test::queue_of(st, "F1") == "B");
    REQUIRE(st.submit("C", Mode::Fast, 15).ok());  // F1: 0.5h+0.5h, F2: 0.5h+0.25h
    CHECK(test::queue_of(st, "F2") == "A,C");
}

TEST_CASE("§3 ties go to the first pile in station order", "[rules][dispatch]") {
    station::Station st(test::profile(0, 3, 30, 10, 10, 3), at(8, 0));
    REQUIRE(st.submit("A", Mode::Slow, 10).ok());
    REQUIRE(st.submit("B", Mode::Slow, 20).ok());
    REQUIRE(st.submit("C", Mode::Slow, 10).ok());  // T3 idle: 1h; T1 1h+1h; T2 2h+1h
    REQUIRE(st.submit("D", Mode::Slow, 10).ok());  // T1 2h = T3 2h -> T1
    CHECK(test::queue_of(st, "T1") == "A,D");
    CHECK(test::queue_of(st, "T2") == "B");
    CHECK(test::queue_of(st, "T3") == "C");
}

namespace {
// T1 holds two short cars (full), T2 one long car and a free place; X arrives.
station::Station best_or_free(Candidates c) {
    station::Policy policy;
    policy.candidates = c;
    station::Station st(test::profile(0, 2, 30, 10, 10, 2, policy), at(8, 0));
    REQUIRE(st.submit("C", Mode::Slow, 100).ok());  // T1 (tie)
    REQUIRE(st.submit("A", Mode::Slow, 1).ok());    // T2
    REQUIRE(st.submit("B", Mode::Slow, 1).ok());    // T2
    REQUIRE(st.submit("X", Mode::Slow, 10).ok());
    return st;
}
}  // namespace

TEST_CASE("§3 candidates=best: a car whose best pile is full keeps waiting", "[rules][dispatch]") {
    auto st = best_or_free(Candidates::Best);
    CHECK(test::queue_of(st, "T1") == "C");
    CHECK(test::queue_of(st, "T2") == "A,B");
    CHECK(test::waiting_of(st) == "X");  // T2 would finish it first, but T2 is full
    st.advance_to(at(8, 6));             // A done: a place frees at T2
    CHECK(test::queue_of(st, "T2") == "B,X");
    CHECK(test::waiting_of(st).empty());
}

TEST_CASE("§3 candidates=free: a car goes to the best pile with a free place",
          "[rules][dispatch]") {
    auto st = best_or_free(Candidates::Free);
    CHECK(test::queue_of(st, "T1") == "C,X");
    CHECK(test::queue_of(st, "T2") == "A,B");
    CHECK(test::waiting_of(st).empty());
}

TEST_CASE("§3 calling repeats until no car can be called — modes are independent",
          "[rules][dispatch]") {
    station::Station st(test::profile(1, 1, 30, 10, 10, 2), at(8, 0));
    for (const char* car : {"F-a", "F-b", "F-c"}) {
        REQUIRE(st.submit(car, Mode::Fast, 30).ok());
    }
    REQUIRE(st.submit("T-a", Mode::Slow, 10).ok());
    CHECK(test::queue_of(st, "F1") == "F-a,F-b");
    CHECK(test::queue_of(st, "T1") == "T-a");
    CHECK(test::waiting_of(st) == "F-c");
    st.advance_to(at(9, 0));  // F-a done, F-b starts, F-c called
    CHECK(test::queue_of(st, "F1") == "F-b,F-c");
    CHECK(test::order_of(st, "F-b").state == OrderState::Charging);
    CHECK(test::order_of(st, "F-a").state == OrderState::Finished);
}

TEST_CASE("§3 dispatch stays sub-linear: a thousand piles pick the right one",
          "[rules][dispatch]") {
    // Every pile busy with a different finish time except one; the index must find it.
    station::Station st(test::profile(0, 1000, 30, 10, 2000, 2), at(8, 0));
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(st.submit("car" + std::to_string(i), Mode::Slow, 1000.0 - i).ok());
    }
    // Pile i holds the car needing 1000 - i kWh; T1000 finishes first.
    REQUIRE(st.submit("late", Mode::Slow, 1).ok());
    CHECK(test::queue_of(st, "T1000") == "car999,late");
}
