#include "gateway/ocpp_time.hpp"

#include <cstdio>

#include "station/time.hpp"

namespace gateway {

namespace {

// Reads `n` digits at `pos`; false if any is not a digit.
bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
    if (pos + n > s.size()) {
        return false;
    }
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        out = out * 10 + (s[i] - '0');
    }
    return true;
}

}  // namespace

std::optional<std::int64_t> parse_ocpp_time(std::string_view s) {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (s.size() < 20 || !digits(s, 0, 4, year) || s[4] != '-' || !digits(s, 5, 2, month) ||
        s[7] != '-' || !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s, 11, 2, hour) || s[13] != ':' || !digits(s, 14, 2, minute) || s[16] != ':' ||
        !digits(s, 17, 2, second)) {
        return std::nullopt;
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
        return std::nullopt;
    }
    std::size_t pos = 19;
    int millis = 0;
    if (s[pos] == '.') {
        ++pos;
        int scale = 100;
        const std::size_t start = pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            millis += (s[pos] - '0') * scale;
            scale /= 10;
            ++pos;
        }
        if (pos == start || pos - start > 9) {
            return std::nullopt;
        }
    }
    std::int64_t offset_minutes = 0;
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
        ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
        const int sign = s[pos] == '+' ? 1 : -1;
        int oh = 0, om = 0;
        if (!digits(s, pos + 1, 2, oh)) {
            return std::nullopt;
        }
        std::size_t mpos = pos + 3;
        if (mpos < s.size() && s[mpos] == ':') {
            ++mpos;
        }
        if (!digits(s, mpos, 2, om) || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset_minutes = sign * (oh * 60 + om);
        pos = mpos + 2;
    } else {
        return std::nullopt;  // OCPP times carry their zone
    }
    if (pos != s.size()) {
        return std::nullopt;
    }
    const station::CivilDate date{year, month, day};
    const std::int64_t days = station::days_from_civil(date);
    if (station::civil_from_days(days) != date) {
        return std::nullopt;  // e.g. 2026-02-30
    }
    return ((days * 24 + hour) * 60 + minute - offset_minutes) * 60'000 +
           std::int64_t{second} * 1000 + millis;
}

std::string format_ocpp_time(std::int64_t utc_ms) {
    const std::int64_t days = utc_ms >= 0
                                  ? utc_ms / station::kMsPerDay
                                  : -((-utc_ms + station::kMsPerDay - 1) / station::kMsPerDay);
    const std::int64_t in_day = utc_ms - days * station::kMsPerDay;
    const station::CivilDate d = station::civil_from_days(days);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", d.year, d.month, d.day,
                  static_cast<int>(in_day / station::kMsPerHour),
                  static_cast<int>(in_day / station::kMsPerMinute % 60),
                  static_cast<int>(in_day / 1000 % 60), static_cast<int>(in_day % 1000));
    return buf;
}

}  // namespace gateway
