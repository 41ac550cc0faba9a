#include "metrics/exposition.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace metrics {

std::string format_value(double v) {
    if (std::isnan(v)) {
        return "NaN";
    }
    if (std::isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    // Exact integers (counts, cents, positions) up to 2^53 are written as integers.
    if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {
        return std::to_string(static_cast<long long>(v));
    }
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

namespace {

std::string escape(std::string_view v, bool quote) {
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (quote && c == '"') {
            out += "\\\"";
        } else {
            out += c;
        }
    }
    return out;
}

bool name_char(char c, bool first, bool label) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    const bool colon = c == ':' && !label;
    return first ? (alpha || colon) : (alpha || digit || colon);
}

}  // namespace

std::string escape_label_value(std::string_view v) {
    return escape(v, true);
}

std::string escape_help(std::string_view v) {
    return escape(v, false);
}

bool valid_name(std::string_view name, bool label) {
    if (name.empty() || (label && name.substr(0, 2) == "__")) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!name_char(name[i], i == 0, label)) {
            return false;
        }
    }
    return true;
}

}  // namespace metrics
