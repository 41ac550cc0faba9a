#include "output.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "station/time.hpp"

namespace replay::detail {

long long to_cents(double v) {
    const double scaled = v * 100.0;
    return static_cast<long long>(
        std::floor(scaled + 0.5 + 1e-7 * std::max(1.0, std::fabs(scaled))));
}

Sink& Sink::str(std::string_view s) {
    buf_.push_back('"');
    for (char c : s) {
        if (c == '"' || c == '\\') {
            buf_.push_back('\\');
            buf_.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20) {
            static constexpr char kHex[] = "0123456789abcdef";
            buf_.append("\\u00");
            buf_.push_back(kHex[(c >> 4) & 0xF]);
            buf_.push_back(kHex[c & 0xF]);
        } else {
            buf_.push_back(c);
        }
    }
    buf_.push_back('"');
    return *this;
}

Sink& Sink::integer(long long v) {
    char tmp[24];
    const auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    buf_.append(tmp, r.ptr);
    return *this;
}

Sink& Sink::cents(double v, bool trim) {
    if (!(std::fabs(v) < kMaxExactYuan)) {
        // Whole cents no longer exist this far out (and would overflow long long): the
        // value is written as it is, with two decimals.
        char tmp[400];
        const auto r = std::to_chars(tmp, tmp + sizeof tmp, v, std::chars_format::fixed, 2);
        buf_.append(tmp, r.ptr);
        return *this;
    }
    long long c = to_cents(v);
    if (c < 0) {
        buf_.push_back('-');
        c = -c;
    }
    integer(c / 100);
    const long long frac = c % 100;
    if (trim && frac == 0) {
        return *this;
    }
    buf_.push_back('.');
    buf_.push_back(static_cast<char>('0' + frac / 10));
    if (!trim || frac % 10 != 0) {
        buf_.push_back(static_cast<char>('0' + frac % 10));
    }
    return *this;
}

Sink& Sink::hms(station::TimeMs t) {
    const long long s = station::ms_of_day(t) / station::kMsPerSecond;
    const long long parts[3] = {s / 3600, s / 60 % 60, s % 60};
    for (int i = 0; i < 3; ++i) {
        if (i > 0) {
            buf_.push_back(':');
        }
        buf_.push_back(static_cast<char>('0' + parts[i] / 10));
        buf_.push_back(static_cast<char>('0' + parts[i] % 10));
    }
    return *this;
}

}  // namespace replay::detail
