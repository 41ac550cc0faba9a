#pragma once
// Timing and statistics shared by the load tools of the change-log benchmarks
// (log_lag, stations_load): a steady clock in nanoseconds and interpolated percentiles.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <vector>

namespace bench {

/// Nanoseconds on the steady clock (only differences mean anything).
inline std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

/// The p-th percentile (0..100) of `v`, interpolated linearly between the two nearest
/// ranks; NaN for no values.
inline double percentile(std::vector<double> v, double p) {
    if (v.empty()) {
        return std::nan("");
    }
    std::sort(v.begin(), v.end());
    const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(rank));
    const auto hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

}  // namespace bench
