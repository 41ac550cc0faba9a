#pragma once
/// @file The station clock (station-rules §7) as pure arithmetic: callers pass the
/// wall-clock reading in, so the core never reads a clock itself.

#include <cstdint>

#include "station/types.hpp"

namespace station {

/// Station time in production: wall-clock UTC milliseconds shifted to station local
/// time by a fixed offset (China: +480 minutes, no DST).
constexpr TimeMs station_time_from_utc(std::int64_t utc_ms, int utc_offset_minutes) {
    return utc_ms + static_cast<std::int64_t>(utc_offset_minutes) * 60'000;
}

/// The simulation clock: station time `origin` at wall time `wall_anchor`, running at
/// `speed` station seconds per wall second (0 = stopped; then only `advance` moves it).
class SimulatedClock {
  public:
    SimulatedClock(TimeMs origin, double speed, std::int64_t wall_anchor_ms);

    /// Station time at the given wall-clock reading.
    TimeMs now(std::int64_t wall_ms) const;
    double speed() const { return speed_; }
    /// Jumps to station time `t` now (`wall_ms`) and runs on at `speed` from there.
    void set(TimeMs t, double speed, std::int64_t wall_ms);
    /// Moves station time forward by `delta` (negative values are ignored: time never
    /// runs backwards).
    void advance(TimeMs delta, std::int64_t wall_ms);

  private:
    TimeMs origin_;
    double speed_;
    std::int64_t wall_anchor_;
};

}  // namespace station
