#include "station/profile.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "station/time.hpp"

namespace station {

namespace {

Profile make_builtin(std::string name, int fast, int slow, double fast_kw, double slow_kw,
                     int waiting, int queue) {
    Profile p;
    p.name = std::move(name);
    p.waiting_area = waiting;
    p.queue_length = queue;
    for (int i = 1; i <= fast; ++i) {
        p.piles.push_back({"F" + std::to_string(i), "F" + std::to_string(i), Mode::Fast, fast_kw});
    }
    for (int i = 1; i <= slow; ++i) {
        p.piles.push_back({"T" + std::to_string(i), "T" + std::to_string(i), Mode::Slow, slow_kw});
    }
    return p;
}

using nlohmann::json;

// Reads "HH:MM" (or "24:00") as milliseconds of the day.
std::optional<TimeMs> parse_band_time(const std::string& s) {
    if (s.size() != 5 || s[2] != ':') {
        return std::nullopt;
    }
    for (std::size_t i : {0U, 1U, 3U, 4U}) {
        if (s[i] < '0' || s[i] > '9') {
            return std::nullopt;
        }
    }
    const int h = (s[0] - '0') * 10 + (s[1] - '0');
    const int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0)) {
        return std::nullopt;
    }
    return h * kMsPerHour + m * kMsPerMinute;
}

std::string read_tariff(const json& j, Tariff& out) {
    if (!j.is_object()) {
        return "\"tariff\" must be an object";
    }
    double service = Tariff::standard().service_rate();
    if (j.contains("service_rate")) {
        if (!j["service_rate"].is_number()) {
            return "\"tariff.service_rate\" must be a number";
        }
        service = j["service_rate"].get<double>();
    }
    if (!j.contains("periods") || !j["periods"].is_array()) {
        return "\"tariff.periods\" must be an array";
    }
    std::vector<TariffBand> bands;
    for (const json& b : j["periods"]) {
        if (!b.is_object() || !b.contains("from") || !b["from"].is_string() || !b.contains("to") ||
            !b["to"].is_string() || !b.contains("price") || !b["price"].is_number()) {
            return "each tariff period needs \"from\" and \"to\" (\"HH:MM\") and a numeric "
                   "\"price\"";
        }
        const auto from = parse_band_time(b["from"].get<std::string>());
        const auto to = parse_band_time(b["to"].get<std::string>());
        if (!from || !to) {
            return "tariff period times must be \"HH:MM\"";
        }
        const double price = b["price"].get<double>();
        if (*to > *from) {
            bands.push_back({*from, *to, price});
        } else {  // wraps midnight, e.g. 23:00-07:00
            bands.push_back({*from, kMsPerDay, price});
            if (*to > 0) {
                bands.push_back({0, *to, price});
            }
        }
    }
    std::string error;
    if (!Tariff::make(std::move(bands), service, out, error)) {
        return error;
    }
    return "";
}

std::string read_profile(const json& j, Profile& p) {
    if (!j.is_object()) {
        return "profile must be a JSON object";
    }
    if (j.contains("name")) {
        if (!j["name"].is_string()) {
            return "\"name\" must be a string";
        }
        p.name = j["name"].get<std::string>();
    } else {
        p.name = "custom";
    }
    for (const char* key : {"waiting_area", "queue_length"}) {
        if (!j.contains(key) || !j[key].is_number_integer()) {
            return std::string("\"") + key + "\" must be an integer";
        }
        const auto v = j[key].get<std::int64_t>();
        if (v < 1 || v > 1'000'000) {
            return std::string("\"") + key + "\" must be between 1 and 1000000";
        }
    }
    p.waiting_area = j["waiting_area"].get<int>();
    p.queue_length = j["queue_length"].get<int>();
    if (!j.contains("piles") || !j["piles"].is_array()) {
        return "\"piles\" must be an array";
    }
    std::size_t index = 0;
    for (const json& pj : j["piles"]) {
        const std::string where = "piles[" + std::to_string(index++) + "]: ";
        if (!pj.is_object()) {
            return where + "must be an object";
        }
        PileSpec s;
        if (!pj.contains("id") || !pj["id"].is_string()) {
            return where + "\"id\" must be a string";
        }
        s.id = pj["id"].get<std::string>();
        if (!pj.contains("mode") || !pj["mode"].is_string() ||
            !parse_mode(pj["mode"].get<std::string>())) {
            return where + "\"mode\" must be \"F\" or \"T\"";
        }
        s.mode = *parse_mode(pj["mode"].get<std::string>());
        if (!pj.contains("power") || !pj["power"].is_number()) {
            return where + "\"power\" must be a number";
        }
        s.power = pj["power"].get<double>();
        if (pj.contains("metered")) {
            if (!pj["metered"].is_boolean()) {
                return where + "\"metered\" must be true or false";
            }
            s.metered = pj["metered"].get<bool>();
        }
        if (pj.contains("name")) {
            if (!pj["name"].is_string()) {
                return where + "\"name\" must be a string";
            }
            s.name = pj["name"].get<std::string>();
        } else {
            s.name = s.id;
        }
        p.piles.push_back(std::move(s));
    }
    if (j.contains("dispatch")) {
        const json& d = j["dispatch"];
        if (!d.is_object()) {
            return "\"dispatch\" must be an object";
        }
        if (d.contains("candidates")) {
            const auto c = d["candidates"].is_string()
                               ? parse_candidates(d["candidates"].get<std::string>())
                               : std::nullopt;
            if (!c) {
                return "\"dispatch.candidates\" must be \"best\" or \"free\"";
            }
            p.policy.candidates = *c;
        }
    }
    if (j.contains("fault")) {
        const json& f = j["fault"];
        if (!f.is_object()) {
            return "\"fault\" must be an object";
        }
        if (f.contains("strategy")) {
            const auto s = f["strategy"].is_string()
                               ? parse_fault_strategy(f["strategy"].get<std::string>())
                               : std::nullopt;
            if (!s) {
                return "\"fault.strategy\" must be \"priority\" or \"time-order\"";
            }
            p.policy.fault_strategy = *s;
        }
        if (f.contains("pause")) {
            const auto s = f["pause"].is_string() ? parse_fault_pause(f["pause"].get<std::string>())
                                                  : std::nullopt;
            if (!s) {
                return "\"fault.pause\" must be \"all\" or \"mode\"";
            }
            p.policy.fault_pause = *s;
        }
    }
    if (j.contains("tariff")) {
        if (std::string e = read_tariff(j["tariff"], p.tariff); !e.empty()) {
            return e;
        }
    }
    return validate_profile(p);
}

}  // namespace

std::optional<Profile> builtin_profile(std::string_view name) {
    if (name == "bupt-2023") {
        return make_builtin("bupt-2023", 2, 3, 30, 7, 6, 2);
    }
    if (name == "acceptance-42") {
        return make_builtin("acceptance-42", 2, 3, 30, 10, 10, 3);
    }
    if (name == "g8") {
        return make_builtin("g8", 3, 2, 30, 10, 10, 3);
    }
    return std::nullopt;
}

bool valid_pile_id(std::string_view id) {
    if (id.empty() || id.size() > 64) {
        return false;
    }
    for (const char c : id) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f || c == '/' || c == '+' || c == '#' || c == ',' || c == '(' ||
            c == ')') {
            return false;
        }
    }
    return true;
}

std::vector<std::string_view> builtin_profile_names() {
    return {"bupt-2023", "acceptance-42", "g8"};
}

std::string validate_profile(const Profile& p) {
    if (p.waiting_area < 1) {
        return "waiting area must hold at least one car";
    }
    if (p.queue_length < 1) {
        return "pile queue length must be at least 1";
    }
    if (p.piles.empty()) {
        return "a station needs at least one pile";
    }
    std::set<std::string_view> ids;
    for (const PileSpec& s : p.piles) {
        if (!valid_pile_id(s.id)) {
            return "pile id \"" + s.id +
                   "\" must be 1 to 64 bytes without blanks, control characters or / + # , ( )";
        }
        if (!ids.insert(s.id).second) {
            return "pile id \"" + s.id + "\" appears twice";
        }
        if (!std::isfinite(s.power) || s.power <= 0 || s.power > 1e6) {
            return "pile \"" + s.id + "\" needs a power above 0 kWh/h";
        }
    }
    return "";
}

ProfileParse parse_profile_json(std::string_view text) {
    ProfileParse result;
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        result.error = "profile is not valid JSON";
        return result;
    }
    Profile p;
    try {
        result.error = read_profile(j, p);
    } catch (const json::exception& e) {
        // get<int>() of an out-of-range number and the like.
        result.error = std::string("profile has a value of the wrong type: ") + e.what();
    }
    if (result.error.empty()) {
        result.profile = std::move(p);
    }
    return result;
}

std::optional<Candidates> parse_candidates(std::string_view s) {
    if (s == "best") {
        return Candidates::Best;
    }
    if (s == "free") {
        return Candidates::Free;
    }
    return std::nullopt;
}

std::optional<FaultStrategy> parse_fault_strategy(std::string_view s) {
    if (s == "priority") {
        return FaultStrategy::Priority;
    }
    if (s == "time-order") {
        return FaultStrategy::TimeOrder;
    }
    return std::nullopt;
}

std::optional<FaultPause> parse_fault_pause(std::string_view s) {
    if (s == "all") {
        return FaultPause::All;
    }
    if (s == "mode") {
        return FaultPause::Mode;
    }
    return std::nullopt;
}

}  // namespace station
