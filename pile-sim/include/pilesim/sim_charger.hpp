#pragma once
/// @file A simulated vendor charger (go-e, OpenEVSE), without a broker: it knows nothing of
/// the station's orders. While it is enabled, a car is plugged in and it has no fault, it
/// delivers at its power on the station clock; its session counter starts again at 0 when
/// a car is plugged in, its total meter never does. Time is passed in.

#include <optional>

#include "station/profile.hpp"
#include "station/types.hpp"

namespace pilesim {

class SimCharger {
  public:
    /// Out of the box a charger is enabled and a car is plugged in.
    SimCharger(station::PileSpec spec, station::TimeMs now);

    const station::PileSpec& spec() const { return spec_; }

    /// Moves the charger to `now`: energy accrues while it delivers.
    void advance(station::TimeMs now);
    /// The clock it follows was replaced (its first station clock message): it goes on from
    /// `now` without delivering across the jump.
    void resync(station::TimeMs now);
    void set_enabled(bool on, station::TimeMs now);
    /// Plugging a car in starts the session counter again from 0.
    void set_car(bool present, station::TimeMs now);
    /// A fault (0 minutes = until cleared) stops delivery.
    void inject_fault(int minutes, station::TimeMs now);
    void clear_fault(station::TimeMs now);

    bool enabled() const { return enabled_; }
    bool car() const { return car_; }
    bool faulty() const { return faulty_; }
    bool delivering() const { return enabled_ && car_ && !faulty_; }
    /// The power delivered now (kW).
    double power_kw() const { return delivering() ? spec_.power : 0; }
    /// Energy since the car was plugged in (Wh).
    double session_wh() const { return session_wh_; }
    /// Energy delivered since the charger was made (Wh).
    double total_wh() const { return total_wh_; }

  private:
    station::PileSpec spec_;
    station::TimeMs last_;
    bool enabled_ = true;
    bool car_ = true;
    bool faulty_ = false;
    std::optional<station::TimeMs> fault_until_;
    double session_wh_ = 0;
    double total_wh_ = 0;
};

}  // namespace pilesim
