#include "gateway/vendor_devices.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "contract/topics.hpp"
#include "gateway/charger_registry.hpp"
#include "gateway/dialect_goe.hpp"
#include "gateway/dialect_openevse.hpp"

namespace gateway {

using nlohmann::json;

namespace {

/// A largest power a pile may be configured with: a typo (22000 for 22 kW) is refused.
constexpr double kMaxPowerKw = 1000;

// A topic prefix or base topic: printable, no wildcards, no empty levels at its ends.
bool valid_topic_base(const std::string& base, bool trailing_slash_ok) {
    if (base.empty() || base.size() > 128 || base.front() == '/' ||
        (!trailing_slash_ok && base.back() == '/')) {
        return false;
    }
    for (const char c : base) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f || c == '+' || c == '#') {
            return false;
        }
    }
    return true;
}

std::string optional_string(const json& j, const char* name, std::string fallback,
                            std::string& error) {
    if (!j.contains(name)) {
        return fallback;
    }
    if (!j[name].is_string()) {
        error = std::string("\"") + name + "\" must be a string";
        return "";
    }
    return j[name].get<std::string>();
}

std::string read_device(const json& j, VendorDevice& out) {
    if (!j.contains("dialect") || !j["dialect"].is_string() ||
        (j["dialect"] != "go-e" && j["dialect"] != "openevse")) {
        return "\"dialect\" must be \"go-e\" or \"openevse\"";
    }
    out.dialect = j["dialect"] == "go-e" ? Dialect::GoE : Dialect::OpenEvse;
    const char* id_field = out.dialect == Dialect::GoE ? "serial" : "id";
    if (!j.contains(id_field) || !j[id_field].is_string() ||
        !contract::valid_topic_id(j[id_field].get<std::string>())) {
        return std::string("\"") + id_field +
               "\" must be a string usable as a topic level (1 to 64 characters, no / + # or "
               "blanks)";
    }
    out.device = j[id_field].get<std::string>();
    std::string error;
    if (out.dialect == Dialect::GoE) {
        out.topic_base =
            optional_string(j, "topic_prefix", std::string(goe::kDefaultPrefix), error);
        if (error.empty() && !valid_topic_base(out.topic_base, true)) {
            error =
                "\"topic_prefix\" must be 1 to 128 printable characters without + # or a "
                "leading /";
        }
    } else {
        out.topic_base =
            optional_string(j, "base_topic", openevse::default_base_topic(out.device), error);
        if (error.empty() && !valid_topic_base(out.topic_base, false)) {
            error =
                "\"base_topic\" must be 1 to 128 printable characters without + # or a "
                "leading or trailing /";
        }
    }
    if (!error.empty()) {
        return error;
    }
    if (!j.contains("pile") || !j["pile"].is_string() ||
        !valid_pile_id(j["pile"].get<std::string>())) {
        return "\"pile\" must be a valid pile id (1 to 64 characters, no blanks, / + # , ( ))";
    }
    out.pile.id = j["pile"].get<std::string>();
    out.pile.name = optional_string(j, "name", out.pile.id, error);
    if (!error.empty()) {
        return error;
    }
    if (!j.contains("mode") || !j["mode"].is_string() || (j["mode"] != "F" && j["mode"] != "T")) {
        return "\"mode\" must be \"F\" or \"T\"";
    }
    out.pile.mode = j["mode"] == "F" ? station::Mode::Fast : station::Mode::Slow;
    if (!j.contains("power_kw") || !j["power_kw"].is_number() ||
        !std::isfinite(j["power_kw"].get<double>()) || !(j["power_kw"].get<double>() > 0) ||
        j["power_kw"].get<double>() > kMaxPowerKw) {
        return "\"power_kw\" must be a number above 0 and at most 1000";
    }
    out.pile.power = j["power_kw"].get<double>();
    return "";
}

}  // namespace

std::string_view to_string(Dialect d) {
    return d == Dialect::GoE ? "go-e" : "openevse";
}

VendorDevicesLoad parse_vendor_devices(std::string_view text) {
    VendorDevicesLoad out;
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        out.error = "the dialects file is not a JSON object";
        return out;
    }
    if (!j.contains("devices") || !j["devices"].is_array() || j["devices"].empty()) {
        out.error = "\"devices\" must be a non-empty array";
        return out;
    }
    VendorDevices devices;
    std::set<std::string> topics;
    std::set<std::string> piles;
    const json& list = j["devices"];
    for (std::size_t i = 0; i < list.size(); ++i) {
        std::string where = "devices[" + std::to_string(i) + "]";
        if (!list[i].is_object()) {
            out.error = where + " is not an object";
            return out;
        }
        VendorDevice d;
        if (std::string e = read_device(list[i], d); !e.empty()) {
            if (!d.device.empty()) {
                where += " (" + std::string(to_string(d.dialect)) + " " + d.device + ")";
            }
            out.error = where + ": " + e;
            return out;
        }
        where += " (" + std::string(to_string(d.dialect)) + " " + d.device + ")";
        // Two devices on one topic would read each other's values.
        const bool unique = d.dialect == Dialect::GoE
                                ? topics.insert(d.topic_base + d.device + "/").second
                                : topics.insert("openevse/announce/" + d.device).second &&
                                      topics.insert(d.topic_base + "/").second;
        if (!unique) {
            out.error = where + ": the device is listed twice";
            return out;
        }
        if (!piles.insert(d.pile.id).second) {
            out.error = where + ": pile \"" + d.pile.id + "\" is used twice";
            return out;
        }
        devices.devices.push_back(std::move(d));
    }
    out.devices = std::move(devices);
    return out;
}

}  // namespace gateway
