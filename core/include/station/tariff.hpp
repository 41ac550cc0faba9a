#pragma once
/// @file Time-of-use prices and the fee of a charging session (station-rules §6).

#include <string>
#include <vector>

#include "station/types.hpp"

namespace station {

/// One price band of the daily schedule: [from, to) in milliseconds of the day.
struct TariffBand {
    TimeMs from;
    TimeMs to;
    double price;  ///< CNY per kWh
};

/// The highest unit price or service rate a tariff takes (CNY per kWh): far above any
/// real one, low enough that no fee of a bounded session overflows a cent count.
inline constexpr double kMaxPricePerKwh = 10000;

/// A daily time-of-use schedule plus a flat service rate. Immutable once built.
class Tariff {
  public:
    /// The station-rules §6 defaults: peak 1.0, flat 0.7, valley 0.4, service 0.8.
    static Tariff standard();
    /// Builds a tariff from bands that must tile [00:00, 24:00) exactly (any order), with
    /// prices and service rate in [0, kMaxPricePerKwh]; on failure returns false and writes the
    /// reason to `error`.
    static bool make(std::vector<TariffBand> bands, double service_rate, Tariff& out,
                     std::string& error);

    double service_rate() const { return service_rate_; }
    /// Unit price (CNY/kWh) in force at `t`.
    double price_at(TimeMs t) const;
    /// Time-weighted price over [from, to]: ∫ price dt, in CNY·h per kWh/h.
    double price_hours(TimeMs from, TimeMs to) const;
    /// Charging fee of `kwh` delivered at constant power over [from, to]: the energy
    /// of each slice is billed at the price in force during that slice.
    double charging_fee(double kwh, TimeMs from, TimeMs to) const;
    /// Service fee of `kwh`.
    double service_fee(double kwh) const { return kwh * service_rate_; }
    /// The bands, sorted by start.
    const std::vector<TariffBand>& bands() const { return bands_; }

  private:
    /// ∫ price dt from midnight to `ms_in_day`, in price·ms.
    double integral_from_midnight(TimeMs ms_in_day) const;

    std::vector<TariffBand> bands_;
    std::vector<double> prefix_;  ///< integral_from_midnight at each band's start
    double day_integral_ = 0;
    double service_rate_ = 0;
};

}  // namespace station
