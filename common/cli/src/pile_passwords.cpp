#include "cli/pile_passwords.hpp"

#include "cli/cli.hpp"

namespace cli {

std::string PilePasswords::of(std::string_view pile) const {
    if (by_pile.empty()) {
        return shared;
    }
    const auto it = by_pile.find(pile);
    return it == by_pile.end() ? std::string() : it->second;
}

std::string parse_pile_passwords(std::string_view text,
                                 std::map<std::string, std::string, std::less<>>& out) {
    out.clear();
    int number = 0;
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        ++number;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        const std::size_t start = line.find_first_not_of(" \t");
        if (start == std::string_view::npos || line[start] == '#') {
            continue;
        }
        line.remove_prefix(start);
        const std::size_t gap = line.find_first_of(" \t");
        const std::size_t from =
            gap == std::string_view::npos ? gap : line.find_first_not_of(" \t", gap);
        const std::string where = "line " + std::to_string(number);
        if (from == std::string_view::npos) {
            return where + ": a pile id without a password";
        }
        std::string_view password = line.substr(from);
        while (!password.empty() && (password.back() == ' ' || password.back() == '\t')) {
            password.remove_suffix(1);
        }
        if (!out.emplace(std::string(line.substr(0, gap)), std::string(password)).second) {
            return where + ": pile " + std::string(line.substr(0, gap)) + " is named twice";
        }
    }
    if (out.empty()) {
        return "no pile has a password";
    }
    return "";
}

std::string load_pile_passwords(const std::vector<std::string>& piles, PilePasswords& out) {
    out = PilePasswords{};
    out.shared = env("STATION_MQTT_PASSWORD");
    const std::string path = env("STATION_PILE_PASSWORDS_FILE");
    if (path.empty()) {
        return "";
    }
    if (!out.shared.empty()) {
        return "both STATION_MQTT_PASSWORD and STATION_PILE_PASSWORDS_FILE are set: give one";
    }
    std::string text;
    if (!read_file(path, text)) {
        return "STATION_PILE_PASSWORDS_FILE: cannot read " + path;
    }
    if (const std::string bad = parse_pile_passwords(text, out.by_pile); !bad.empty()) {
        return "STATION_PILE_PASSWORDS_FILE " + path + ": " + bad;
    }
    for (const std::string& pile : piles) {
        if (!out.by_pile.contains(pile)) {
            return "STATION_PILE_PASSWORDS_FILE " + path + " has no password for pile " + pile;
        }
    }
    return "";
}

}  // namespace cli
