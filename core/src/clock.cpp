#include "station/clock.hpp"

#include <cmath>

namespace station {

SimulatedClock::SimulatedClock(TimeMs origin, double speed, std::int64_t wall_anchor_ms)
    : origin_(origin),
      speed_(speed > 0 && std::isfinite(speed) ? speed : 0),
      wall_anchor_(wall_anchor_ms) {}

TimeMs SimulatedClock::now(std::int64_t wall_ms) const {
    const auto elapsed = static_cast<double>(wall_ms - wall_anchor_);
    return origin_ + static_cast<TimeMs>(std::llround(elapsed * speed_));
}

void SimulatedClock::set(TimeMs t, double speed, std::int64_t wall_ms) {
    origin_ = t;
    speed_ = speed > 0 && std::isfinite(speed) ? speed : 0;
    wall_anchor_ = wall_ms;
}

void SimulatedClock::advance(TimeMs delta, std::int64_t wall_ms) {
    const TimeMs current = now(wall_ms);
    origin_ = current + (delta > 0 ? delta : 0);
    wall_anchor_ = wall_ms;
}

}  // namespace station
