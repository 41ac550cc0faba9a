#pragma once
/// @file Period reports per pile (station-rules §8), computed from detailed bills.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "station/records.hpp"

namespace station {

enum class Period : std::uint8_t { Day, Week, Month };

/// A half-open span of station time [from, to).
struct TimeSpan {
    TimeMs from;
    TimeMs to;
};

/// The day, ISO week (Monday to Sunday) or calendar month containing day number `day`.
TimeSpan period_span(Period period, std::int64_t day);
std::optional<Period> parse_period(std::string_view s);

/// Totals of one pile's bills whose stop time (when the bill was generated) falls in
/// `span`. A session that crosses the span's edge counts whole in the period it ended in.
PileTotals pile_report(std::span<const Bill> bills, PileIndex pile, TimeSpan span);

}  // namespace station
