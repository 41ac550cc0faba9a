// Metered piles (issue #10): a real charger's meter, not the station's model, ends its
// sessions and says what they delivered. The model only estimates when.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "contract/journal.hpp"
#include "station/command.hpp"
#include "station/image.hpp"
#include "station/station.hpp"
#include "support.hpp"

using station::Mode;
using station::OrderState;
using station::Rejection;
using station::Station;
using test::at;

namespace {

// One fast pile (30 kW) and two slow ones (10 kW); T1 metered.
station::Profile metered_profile() {
    station::Profile p = test::profile(1, 2, 30, 10, 5, 2);
    p.piles[1].metered = true;
    return p;
}

}  // namespace

TEST_CASE("metered pile: the session runs until the meter ends it, billed as measured",
          "[metered]") {
    Station st(metered_profile(), at(8, 0));
    REQUIRE(st.submit("A", Mode::Slow, 10).ok());  // T1, the model says 09:00
    REQUIRE(st.submit("B", Mode::Slow, 10).ok());  // T2
    st.advance_to(at(9, 30));
    // T2 (unmetered) finished B at 09:00 by the model; T1 still charges A: the charger is late.
    CHECK(test::order_of(st, "B").state == OrderState::Finished);
    const auto& a = test::order_of(st, "A");
    CHECK(a.state == OrderState::Charging);
    CHECK_FALSE(st.next_event_time());  // nothing will end A's session but the meter

    REQUIRE(st.end_metered("T1", 9.8).ok());  // the car was full at 9.8 kWh
    const auto& done = test::order_of(st, "A");
    CHECK(done.state == OrderState::Finished);
    CHECK(done.delivered_kwh == Approx(9.8));
    REQUIRE(st.bills().size() == 2);
    const station::Bill& bill = st.bill(done.last_bill);
    CHECK(bill.kwh == Approx(9.8));
    CHECK(bill.start == at(8, 0));
    CHECK(bill.stop == at(9, 30));
    CHECK(bill.reason == station::StopReason::Completed);
    CHECK(bill.charge_fee == Approx(st.profile().tariff.charging_fee(9.8, at(8, 0), at(9, 30))));
    CHECK(bill.service_fee == Approx(9.8 * st.profile().tariff.service_rate()));
    CHECK(st.pile_totals(1).kwh == Approx(9.8));
}

TEST_CASE("metered pile: the next car starts at once, refusals change nothing", "[metered]") {
    Station st(metered_profile(), at(8, 0));
    CHECK(st.end_metered("T1", 1).rejection == Rejection::PileNotCharging);
    CHECK(st.end_metered("T2", 1).rejection == Rejection::PileNotMetered);
    CHECK(st.end_metered("T9", 1).rejection == Rejection::UnknownPile);
    REQUIRE(st.submit("A", Mode::Slow, 10).ok());  // T1
    REQUIRE(st.submit("B", Mode::Slow, 20).ok());  // T2
    REQUIRE(st.submit("C", Mode::Slow, 5).ok());   // behind A at T1 (its estimate is earlier)
    REQUIRE(test::queue_of(st, "T1") == "A,C");
    st.advance_to(at(8, 30));
    for (const double bad : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
        CHECK(st.end_metered("T1", bad).rejection == Rejection::InvalidAmount);
    }
    CHECK(st.bills().empty());
    // Through the one command type too (the journal's end_metered).
    station::Command c;
    c.op = station::CommandOp::EndMetered;
    c.subject = "T1";
    CHECK(station::apply(st, c).rejection == Rejection::InvalidAmount);  // no reading
    c.kwh = 5.2;
    REQUIRE(station::apply(st, c).ok());
    CHECK(test::order_of(st, "A").state == OrderState::Finished);
    CHECK(test::order_of(st, "C").state == OrderState::Charging);
    CHECK(test::queue_of(st, "T1") == "C");
}

TEST_CASE("metered pile: a reading beyond a plausible overshoot is billed as that overshoot",
          "[metered]") {
    Station st(metered_profile(), at(8, 0));
    REQUIRE(st.submit("A", Mode::Slow, 20).ok());
    st.advance_to(at(10, 0));
    REQUIRE(st.end_metered("T1", 1e9).ok());  // the charger stopped; its meter is nonsense
    CHECK(st.bills()[0].kwh == Approx(20 + station::metered_overshoot(20)));
    CHECK(station::metered_overshoot(20) == 2);
    CHECK(station::metered_overshoot(0.05) == 1);
}

TEST_CASE("metered pile: a cancel or a fault bills the model's estimate", "[metered]") {
    Station st(metered_profile(), at(8, 0));
    REQUIRE(st.submit("A", Mode::Slow, 10).ok());
    st.advance_to(at(8, 30));
    REQUIRE(st.cancel("A").ok());
    REQUIRE(st.bills().size() == 1);
    CHECK(st.bills()[0].kwh == Approx(5));
    CHECK(st.bills()[0].reason == station::StopReason::Cancelled);
}

TEST_CASE("metered pile: a late session survives a snapshot, and the profile says metered",
          "[metered]") {
    Station st(metered_profile(), at(8, 0));
    REQUIRE(st.submit("A", Mode::Slow, 10).ok());
    st.advance_to(at(10, 0));  // an hour past the model's estimate
    const station::StationImage image = st.image();
    Station restored = Station::from_image(metered_profile(), image);
    CHECK(restored.image() == image);
    REQUIRE(restored.end_metered("T1", 10.1).ok());
    CHECK(test::order_of(restored, "A").delivered_kwh == Approx(10.1));
    // The same image under the unmetered profile is refused: its digest differs.
    CHECK_THROWS_AS(Station::from_image(test::profile(1, 2, 30, 10, 5, 2), image),
                    std::invalid_argument);

    const auto parsed = station::parse_profile_json(
        R"({"waiting_area":2,"queue_length":2,"piles":[{"id":"F1","mode":"F","power":30,"metered":true}]})");
    REQUIRE(parsed.profile);
    CHECK(parsed.profile->piles[0].metered);
    CHECK_THAT(
        station::parse_profile_json(
            R"({"waiting_area":2,"queue_length":2,"piles":[{"id":"F1","mode":"F","power":30,"metered":1}]})")
            .error,
        Catch::Contains("metered"));

    contract::JournalEntry e;
    CHECK_THAT(contract::parse(R"({"op":"end_metered","pile":"T1","t":5})", e),
               Catch::Contains("end_metered"));
    REQUIRE(contract::parse(R"({"op":"end_metered","pile":"T1","kwh":4.5,"t":5})", e).empty());
    CHECK(e.command.op == station::CommandOp::EndMetered);
    CHECK(e.command.subject == "T1");
    CHECK(*e.command.kwh == 4.5);
    CHECK(contract::parse(contract::to_json(e), e).empty());
}
