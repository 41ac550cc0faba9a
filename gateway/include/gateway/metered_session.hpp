#pragma once
/// @file The energy of a station session read from a charger's own session counter (go-e
/// `wh`, OpenEVSE `session_energy`), which counts from the charger's idea of a session
/// (plug-in) rather than ours, and starts again at 0 when a car is plugged in anew.

#include <optional>

namespace gateway {

class MeteredSession {
  public:
    /// A session starting while the counter shows `counter_kwh` (nullopt: not known yet,
    /// the first reading is taken as the start).
    explicit MeteredSession(std::optional<double> counter_kwh);

    /// A reading of the counter; returns the energy since the start. A counter that went
    /// down was reset: what it shows now counts on top of what was metered before.
    double update(double counter_kwh);
    /// The energy since the start, to a tenth of a watt-hour.
    double energy_kwh() const;

  private:
    std::optional<double> base_;
    double last_ = 0;
    double carried_ = 0;
};

}  // namespace gateway
