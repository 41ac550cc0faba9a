#pragma once
/// @file Station-time arithmetic and its text forms. Pure functions only.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "station/types.hpp"

namespace station {

inline constexpr TimeMs kMsPerSecond = 1000;
inline constexpr TimeMs kMsPerMinute = 60 * kMsPerSecond;
inline constexpr TimeMs kMsPerHour = 60 * kMsPerMinute;
inline constexpr TimeMs kMsPerDay = 24 * kMsPerHour;

/// Day number (days since 1970-01-01, station local) containing `t`; floors for negative times.
constexpr std::int64_t day_of(TimeMs t) {
    return t >= 0 ? t / kMsPerDay : -((-t + kMsPerDay - 1) / kMsPerDay);
}
/// Milliseconds since the start of `t`'s day, in [0, kMsPerDay).
constexpr TimeMs ms_of_day(TimeMs t) {
    return t - day_of(t) * kMsPerDay;
}
/// Converts hours (possibly fractional) to milliseconds, rounded to nearest.
TimeMs hours_to_ms(double hours);
/// Converts milliseconds to hours.
constexpr double ms_to_hours(TimeMs ms) {
    return static_cast<double>(ms) / static_cast<double>(kMsPerHour);
}

/// A proleptic Gregorian calendar date.
struct CivilDate {
    int year;
    int month;  ///< 1..12
    int day;    ///< 1..31
    friend bool operator==(const CivilDate&, const CivilDate&) = default;
};

/// Days since 1970-01-01 for a civil date (H. Hinnant's algorithm).
std::int64_t days_from_civil(CivilDate d);
/// Civil date of a day number.
CivilDate civil_from_days(std::int64_t days);
/// ISO weekday of a day number: 1 = Monday … 7 = Sunday.
int iso_weekday(std::int64_t days);

/// "HH:MM:SS" of the time of day (seconds rounded down).
std::string format_hms(TimeMs t);
/// "YYYY-MM-DD HH:MM:SS".
std::string format_datetime(TimeMs t);
/// "YYYY-MM-DD".
std::string format_date(std::int64_t days);
/// Parses "YYYY-MM-DD HH:MM:SS"; nullopt if malformed or out of range.
std::optional<TimeMs> parse_datetime(std::string_view text);
/// Parses "YYYY-MM-DD"; returns the day number.
std::optional<std::int64_t> parse_date(std::string_view text);

}  // namespace station
