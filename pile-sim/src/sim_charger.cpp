#include "pilesim/sim_charger.hpp"

#include <algorithm>

#include "station/time.hpp"

namespace pilesim {

SimCharger::SimCharger(station::PileSpec spec, station::TimeMs now)
    : spec_(std::move(spec)), last_(now) {}

void SimCharger::advance(station::TimeMs now) {
    // A timed fault ends at its moment: energy before it is not delivered, after it is.
    if (fault_until_ && *fault_until_ <= now) {
        const station::TimeMs until = *fault_until_;
        fault_until_.reset();
        advance(until);
        faulty_ = false;
    }
    // The station clock may be set back: no energy flows backwards.
    const station::TimeMs from = std::min(last_, now);
    if (delivering()) {
        const double wh = spec_.power * 1000.0 * station::ms_to_hours(now - from);
        session_wh_ += wh;
        total_wh_ += wh;
    }
    last_ = now;
}

void SimCharger::resync(station::TimeMs now) {
    last_ = now;
    if (fault_until_ && *fault_until_ <= now) {
        faulty_ = false;
        fault_until_.reset();
    }
}

void SimCharger::set_enabled(bool on, station::TimeMs now) {
    advance(now);
    enabled_ = on;
}

void SimCharger::set_car(bool present, station::TimeMs now) {
    advance(now);
    if (present && !car_) {
        session_wh_ = 0;
    }
    car_ = present;
}

void SimCharger::inject_fault(int minutes, station::TimeMs now) {
    advance(now);
    faulty_ = true;
    fault_until_.reset();
    if (minutes > 0) {
        fault_until_ = now + minutes * station::kMsPerMinute;
    }
}

void SimCharger::clear_fault(station::TimeMs now) {
    advance(now);
    faulty_ = false;
    fault_until_.reset();
}

}  // namespace pilesim
