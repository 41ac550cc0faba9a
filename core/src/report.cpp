#include "station/report.hpp"

#include "station/time.hpp"

namespace station {

TimeSpan period_span(Period period, std::int64_t day) {
    switch (period) {
        case Period::Day:
            return {day * kMsPerDay, (day + 1) * kMsPerDay};
        case Period::Week: {
            const std::int64_t monday = day - (iso_weekday(day) - 1);
            return {monday * kMsPerDay, (monday + 7) * kMsPerDay};
        }
        case Period::Month: {
            const CivilDate d = civil_from_days(day);
            const std::int64_t first = days_from_civil({d.year, d.month, 1});
            const CivilDate next =
                d.month == 12 ? CivilDate{d.year + 1, 1, 1} : CivilDate{d.year, d.month + 1, 1};
            return {first * kMsPerDay, days_from_civil(next) * kMsPerDay};
        }
    }
    return {0, 0};
}

std::optional<Period> parse_period(std::string_view s) {
    if (s == "day") {
        return Period::Day;
    }
    if (s == "week") {
        return Period::Week;
    }
    if (s == "month") {
        return Period::Month;
    }
    return std::nullopt;
}

PileTotals pile_report(std::span<const Bill> bills, PileIndex pile, TimeSpan span) {
    PileTotals t;
    for (const Bill& b : bills) {
        if (b.pile == pile && b.stop >= span.from && b.stop < span.to) {
            t.add(b);
        }
    }
    return t;
}

}  // namespace station
