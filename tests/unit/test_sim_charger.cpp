// The simulated vendor charger (pile-sim's SimCharger): energy on the station clock, and
// faults that stop it, timed or until cleared.
#include <catch2/catch.hpp>

#include "pilesim/sim_charger.hpp"
#include "station/time.hpp"

namespace {

station::PileSpec slow_pile() {
    station::PileSpec spec;
    spec.id = "T1";
    spec.mode = station::Mode::Slow;
    spec.power = 10;
    return spec;
}

}  // namespace

TEST_CASE("sim charger: delivers at its power while enabled with a car", "[pile-sim]") {
    pilesim::SimCharger c(slow_pile(), 0);
    c.advance(6 * station::kMsPerMinute);
    CHECK(c.session_wh() == Approx(1000));  // 10 kW for 6 minutes
    c.set_enabled(false, 6 * station::kMsPerMinute);
    c.advance(12 * station::kMsPerMinute);
    CHECK(c.session_wh() == Approx(1000));
    CHECK(c.total_wh() == Approx(1000));
}

TEST_CASE("sim charger: a timed fault ends at its moment, and energy flows again after it",
          "[pile-sim]") {
    pilesim::SimCharger c(slow_pile(), 0);
    c.inject_fault(1, 0);
    CHECK(c.faulty());
    CHECK(c.power_kw() == 0);
    c.advance(30 * station::kMsPerSecond);
    CHECK(c.faulty());
    CHECK(c.session_wh() == 0);
    // Advanced past the end in one step: the minute after it is delivered, none before.
    c.advance(2 * station::kMsPerMinute);
    CHECK_FALSE(c.faulty());
    CHECK(c.session_wh() == Approx(10000.0 / 60));
    // A fault until cleared stays until cleared.
    c.inject_fault(0, 2 * station::kMsPerMinute);
    c.advance(60 * station::kMsPerMinute);
    CHECK(c.faulty());
    c.clear_fault(60 * station::kMsPerMinute);
    CHECK_FALSE(c.faulty());
}
