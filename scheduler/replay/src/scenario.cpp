#include "replay/scenario.hpp"

#include <charconv>
#include <cmath>

#include "station/time.hpp"

namespace replay {

using station::kMsPerHour;
using station::kMsPerMinute;
using station::kMsPerSecond;
using station::TimeMs;

namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_blank(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

// Binary junk must be reported, not echoed into JSON output.
bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\r') {
                return false;
            }
            ++i;
            continue;
        }
        std::size_t len = 0;
        if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
            len = 2;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
        } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
            len = 4;
        } else {
            return false;
        }
        if (i + len > s.size()) {
            return false;
        }
        for (std::size_t k = 1; k < len; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
                return false;
            }
        }
        i += len;
    }
    return true;
}

bool parse_uint(std::string_view s, int max_digits, long long& out) {
    if (s.empty() || s.size() > static_cast<std::size_t>(max_digits)) {
        return false;
    }
    out = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
        out = out * 10 + (c - '0');
    }
    return true;
}

// "HH:MM", "HH:MM:SS", each optionally followed by "+DAYS".
std::optional<TimeMs> parse_time(std::string_view token) {
    long long days = 0;
    if (const auto plus = token.find('+'); plus != std::string_view::npos) {
        if (!parse_uint(token.substr(plus + 1), 5, days)) {
            return std::nullopt;
        }
        token = token.substr(0, plus);
    }
    long long h = 0;
    long long m = 0;
    long long s = 0;
    const auto c1 = token.find(':');
    if (c1 == std::string_view::npos || !parse_uint(token.substr(0, c1), 2, h)) {
        return std::nullopt;
    }
    const std::string_view rest = token.substr(c1 + 1);
    const auto c2 = rest.find(':');
    if (c2 == std::string_view::npos) {
        if (rest.size() != 2 || !parse_uint(rest, 2, m)) {
            return std::nullopt;
        }
    } else if (c2 != 2 || !parse_uint(rest.substr(0, 2), 2, m) || rest.size() != 5 ||
               !parse_uint(rest.substr(3), 2, s)) {
        return std::nullopt;
    }
    if (h > 23 || m > 59 || s > 59) {
        return std::nullopt;
    }
    return days * station::kMsPerDay + h * kMsPerHour + m * kMsPerMinute + s * kMsPerSecond;
}

std::optional<double> parse_number(std::string_view s) {
    if (s.empty()) {
        return std::nullopt;
    }
    double v = 0;
    const char* first = s.data();
    if (*first == '+') {
        ++first;
    }
    const auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) {
        return std::nullopt;
    }
    return v;
}

bool valid_id(std::string_view id) {
    if (id.empty()) {
        return false;
    }
    for (char c : id) {
        if (is_blank(c) || c == '(' || c == ')' || c == ',' || c == '#') {
            return false;
        }
    }
    return true;
}

// Parses the inside of one tuple; returns "" or the reason it is malformed.
std::string parse_tuple(std::string_view body, ScenarioEvent& ev) {
    std::string_view f[4];
    std::size_t n = 0;
    while (true) {
        const auto comma = body.find(',');
        if (n == 4) {
            return "an event has exactly 4 fields: (type,id,mode,amount)";
        }
        f[n++] = trim(body.substr(0, comma));
        if (comma == std::string_view::npos) {
            break;
        }
        body.remove_prefix(comma + 1);
    }
    if (n != 4) {
        return "an event has exactly 4 fields: (type,id,mode,amount)";
    }
    if (f[0] != "A" && f[0] != "B" && f[0] != "C") {
        return "unknown event type '" + std::string(f[0]) + "' (expected A, B or C)";
    }
    if (!valid_id(f[1])) {
        return "bad car or pile id '" + std::string(f[1]) + "'";
    }
    ev.subject = f[1];
    if (f[2] != "F" && f[2] != "T" && f[2] != "O") {
        return "bad mode '" + std::string(f[2]) + "' (expected F, T or O)";
    }
    const auto amount = parse_number(f[3]);
    if (!amount) {
        return "amount '" + std::string(f[3]) + "' is not a number";
    }
    const char type = f[0][0];
    const bool other = f[2] == "O";
    if (type == 'A') {
        if (other) {
            if (*amount != 0) {
                return "a cancel (A,car,O,x) takes amount 0";
            }
            ev.kind = EventKind::Cancel;
            return "";
        }
        if (*amount <= 0) {
            return "a request needs an amount above 0";
        }
        ev.kind = EventKind::Arrive;
        ev.mode = station::parse_mode(f[2]);
        ev.kwh = *amount;
        return "";
    }
    if (type == 'C') {
        ev.kind = EventKind::Change;
        if (!other) {
            ev.mode = station::parse_mode(f[2]);
        }
        if (*amount > 0) {
            ev.kwh = *amount;
        } else if (*amount != 0 && *amount != -1) {
            return "a change takes an amount above 0, or -1 / 0 to keep it";
        }
        return "";
    }
    if (!other) {
        return "a pile event takes mode O";
    }
    if (*amount != std::floor(*amount) || *amount < 0 || *amount > 1e6) {
        return "a pile event takes 0 (fault), 1 (recover) or whole minutes >= 2";
    }
    if (*amount == 1) {
        ev.kind = EventKind::Recover;
    } else {
        ev.kind = EventKind::Fault;
        ev.fault_duration = static_cast<TimeMs>(*amount) * kMsPerMinute;
    }
    return "";
}

}  // namespace

ScenarioReader::ScenarioReader(std::string_view text) : rest_(text) {
    if (rest_.substr(0, 3) == "\xef\xbb\xbf") {  // a byte-order mark some editors write
        rest_.remove_prefix(3);
    }
}

bool ScenarioReader::fail(std::string reason) {
    error_line_ = line_number_ > 0 ? line_number_ : 1;
    error_ = std::move(reason);
    done_ = true;
    return false;
}

// Moves to the next line that has events and reads its time; false at the end or on error.
bool ScenarioReader::start_line() {
    while (!rest_.empty()) {
        ++line_number_;
        const auto nl = rest_.find('\n');
        const std::string_view line = rest_.substr(0, nl);
        rest_ = nl == std::string_view::npos ? std::string_view{} : rest_.substr(nl + 1);
        if (!valid_utf8(line)) {
            return fail("not valid UTF-8 text");
        }
        std::string_view body = trim(line);
        if (body.empty() || body.front() == '#') {
            continue;
        }
        std::size_t cut = 0;
        while (cut < body.size() && !is_blank(body[cut]) && body[cut] != '(') {
            ++cut;
        }
        const std::string_view token = body.substr(0, cut);
        const auto at = parse_time(token);
        if (!at) {
            return fail("bad time '" + std::string(token) +
                        "' (expected HH:MM or HH:MM:SS, optionally +DAYS)");
        }
        if (last_time_ && *at < *last_time_) {
            return fail("time '" + std::string(token) + "' is earlier than the line before");
        }
        if (!last_time_) {
            // Day 0 is the first event's day, even if the file starts at "+1".
            day_shift_ = station::day_of(*at) * station::kMsPerDay;
        }
        last_time_ = at;
        line_time_ = *at - day_shift_;
        line_ = trim(body.substr(cut));
        line_has_event_ = false;
        return true;
    }
    return false;
}

bool ScenarioReader::next(ScenarioEvent& ev) {
    if (done_) {
        return false;
    }
    while (line_.empty() || line_.front() != '(') {
        // Whatever follows a line's last event is a comment.
        if (line_number_ > 0 && !line_has_event_) {
            return fail("expected an event such as (A,V1,T,40) after the time");
        }
        if (!start_line()) {
            if (!failed() && !any_event_) {
                return fail("the scenario has no events");
            }
            done_ = true;
            return false;
        }
    }
    const auto close = line_.find(')');
    if (close == std::string_view::npos) {
        return fail("unclosed '(' in an event");
    }
    ev = ScenarioEvent{};
    ev.at = line_time_;
    ev.line = line_number_;
    ev.text = line_.substr(0, close + 1);
    if (std::string e = parse_tuple(line_.substr(1, close - 1), ev); !e.empty()) {
        return fail(std::move(e));
    }
    line_ = trim(line_.substr(close + 1));
    line_has_event_ = true;
    any_event_ = true;
    return true;
}

ScenarioParse parse_scenario(std::string_view text) {
    ScenarioParse result;
    ScenarioReader reader(text);
    ScenarioEvent ev;
    while (reader.next(ev)) {
        result.events.push_back(ev);
    }
    if (reader.failed()) {
        result.events.clear();
        result.error_line = reader.error_line();
        result.error = reader.error();
    }
    return result;
}

}  // namespace replay
