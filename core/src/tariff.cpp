#include "station/tariff.hpp"

#include <algorithm>
#include <cmath>

#include "station/time.hpp"

namespace station {

Tariff Tariff::standard() {
    constexpr TimeMs h = kMsPerHour;
    std::vector<TariffBand> bands = {
        {0, 7 * h, 0.4},       {7 * h, 10 * h, 0.7},  {10 * h, 15 * h, 1.0}, {15 * h, 18 * h, 0.7},
        {18 * h, 21 * h, 1.0}, {21 * h, 23 * h, 0.7}, {23 * h, 24 * h, 0.4},
    };
    Tariff t;
    std::string error;
    make(std::move(bands), 0.8, t, error);
    return t;
}

bool Tariff::make(std::vector<TariffBand> bands, double service_rate, Tariff& out,
                  std::string& error) {
    if (!std::isfinite(service_rate) || service_rate < 0 || service_rate > kMaxPricePerKwh) {
        error = "service rate must be a number from 0 to 10000";
        return false;
    }
    if (bands.empty()) {
        error = "tariff needs at least one band";
        return false;
    }
    std::sort(bands.begin(), bands.end(),
              [](const TariffBand& a, const TariffBand& b) { return a.from < b.from; });
    TimeMs expected = 0;
    for (const TariffBand& b : bands) {
        if (b.from != expected || b.to <= b.from || b.to > kMsPerDay) {
            error = "tariff bands must tile 00:00-24:00 without gaps or overlaps";
            return false;
        }
        if (!std::isfinite(b.price) || b.price < 0 || b.price > kMaxPricePerKwh) {
            error = "tariff prices must be numbers from 0 to 10000";
            return false;
        }
        expected = b.to;
    }
    if (expected != kMsPerDay) {
        error = "tariff bands must tile 00:00-24:00 without gaps or overlaps";
        return false;
    }
    Tariff t;
    t.bands_ = std::move(bands);
    double acc = 0;
    for (const TariffBand& b : t.bands_) {
        t.prefix_.push_back(acc);
        acc += b.price * static_cast<double>(b.to - b.from);
    }
    t.day_integral_ = acc;
    t.service_rate_ = service_rate;
    out = std::move(t);
    return true;
}

double Tariff::price_at(TimeMs t) const {
    const TimeMs s = ms_of_day(t);
    auto it = std::upper_bound(bands_.begin(), bands_.end(), s,
                               [](TimeMs v, const TariffBand& b) { return v < b.from; });
    return std::prev(it)->price;
}

double Tariff::integral_from_midnight(TimeMs s) const {
    auto it = std::upper_bound(bands_.begin(), bands_.end(), s,
                               [](TimeMs v, const TariffBand& b) { return v < b.from; });
    const auto i = static_cast<std::size_t>(std::prev(it) - bands_.begin());
    return prefix_[i] + bands_[i].price * static_cast<double>(s - bands_[i].from);
}

double Tariff::price_hours(TimeMs from, TimeMs to) const {
    if (to <= from) {
        return 0;
    }
    const double whole_days = static_cast<double>(day_of(to) - day_of(from));
    const double ms = whole_days * day_integral_ + integral_from_midnight(ms_of_day(to)) -
                      integral_from_midnight(ms_of_day(from));
    return ms / static_cast<double>(kMsPerHour);
}

double Tariff::charging_fee(double kwh, TimeMs from, TimeMs to) const {
    if (to <= from) {
        return 0;
    }
    // Constant power: each slice's share of the energy equals its share of the time, so the
    // fee is the energy times the time-weighted mean price.
    return kwh * price_hours(from, to) / ms_to_hours(to - from);
}

}  // namespace station
