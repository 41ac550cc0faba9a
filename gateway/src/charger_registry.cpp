#include "gateway/charger_registry.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

namespace gateway {

using nlohmann::json;

namespace {

bool is_hex64(const std::string& s) {
    if (s.size() != 64) {
        return false;
    }
    for (const char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

std::string read_connector(const json& j, ConnectorSpec& out) {
    if (!j.is_object()) {
        return "is not an object";
    }
    if (!j.contains("connector") || !j["connector"].is_number_integer() ||
        j["connector"].get<std::int64_t>() < 1 || j["connector"].get<std::int64_t>() > 1000) {
        return "\"connector\" must be an integer from 1 to 1000";
    }
    out.connector = j["connector"].get<int>();
    if (!j.contains("pile") || !j["pile"].is_string()) {
        return "\"pile\" must be a string";
    }
    out.pile.id = j["pile"].get<std::string>();
    out.pile.name =
        j.contains("name") && j["name"].is_string() ? j["name"].get<std::string>() : out.pile.id;
    if (!j.contains("mode") || !j["mode"].is_string() || (j["mode"] != "F" && j["mode"] != "T")) {
        return "\"mode\" must be \"F\" or \"T\"";
    }
    out.pile.mode = j["mode"] == "F" ? station::Mode::Fast : station::Mode::Slow;
    if (!j.contains("power_kw") || !j["power_kw"].is_number() ||
        !std::isfinite(j["power_kw"].get<double>()) || !(j["power_kw"].get<double>() > 0)) {
        return "\"power_kw\" must be a number above 0";
    }
    out.pile.power = j["power_kw"].get<double>();
    return "";
}

}  // namespace

bool valid_pile_id(std::string_view id) {
    return station::valid_pile_id(id);
}

const ChargerSpec* Registry::find(std::string_view identity) const {
    for (const auto& c : chargers) {
        if (c.identity == identity) {
            return &c;
        }
    }
    return nullptr;
}

bool valid_identity(std::string_view identity) {
    if (identity.empty() || identity.size() > 48) {
        return false;
    }
    for (const char c : identity) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == ':';
        if (!ok) {
            return false;
        }
    }
    return true;
}

RegistryLoad parse_registry(std::string_view text) {
    RegistryLoad out;
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        out.error = "the configuration is not a JSON object";
        return out;
    }
    if (!j.contains("chargers") || !j["chargers"].is_array() || j["chargers"].empty()) {
        out.error = "\"chargers\" must be a non-empty array";
        return out;
    }
    Registry registry;
    std::set<std::string> identities;
    std::set<std::string> piles;
    const json& chargers = j["chargers"];
    for (std::size_t i = 0; i < chargers.size(); ++i) {
        const json& c = chargers[i];
        std::string where = "chargers[" + std::to_string(i) + "]";
        if (!c.is_object()) {
            out.error = where + " is not an object";
            return out;
        }
        ChargerSpec spec;
        if (!c.contains("identity") || !c["identity"].is_string() ||
            !valid_identity(c["identity"].get<std::string>())) {
            out.error = where + ": \"identity\" must be 1 to 48 of A-Z a-z 0-9 . _ - :";
            return out;
        }
        spec.identity = c["identity"].get<std::string>();
        where += " (" + spec.identity + ")";
        if (!identities.insert(spec.identity).second) {
            out.error = where + ": identity is used twice";
            return out;
        }
        const bool has_plain = c.contains("password");
        const bool has_hash = c.contains("password_sha256");
        if (has_plain == has_hash) {
            out.error = where + ": give exactly one of \"password\" and \"password_sha256\"";
            return out;
        }
        if (has_plain) {
            if (!c["password"].is_string() || c["password"].get<std::string>().size() < 8 ||
                c["password"].get<std::string>().size() > 40) {
                // OCPP 1.6 security whitepaper: AuthorizationKey is 16..40 bytes; 8 is
                // the least taken here.
                out.error = where + ": \"password\" must be a string of 8 to 40 characters";
                return out;
            }
            spec.password = c["password"].get<std::string>();
        } else {
            if (!c["password_sha256"].is_string() ||
                !is_hex64(c["password_sha256"].get<std::string>())) {
                out.error = where + ": \"password_sha256\" must be 64 lower-case hex digits";
                return out;
            }
            spec.password_sha256 = c["password_sha256"].get<std::string>();
        }
        if (!c.contains("connectors") || !c["connectors"].is_array() || c["connectors"].empty()) {
            out.error = where + ": \"connectors\" must be a non-empty array";
            return out;
        }
        std::set<int> numbers;
        for (std::size_t k = 0; k < c["connectors"].size(); ++k) {
            const std::string cwhere = where + ": connectors[" + std::to_string(k) + "]";
            ConnectorSpec conn;
            if (std::string e = read_connector(c["connectors"][k], conn); !e.empty()) {
                out.error = cwhere + ": " + e;
                return out;
            }
            if (!valid_pile_id(conn.pile.id)) {
                out.error =
                    cwhere + ": pile \"" + conn.pile.id +
                    "\" is not a valid pile id (1 to 64 characters, no blanks, / + # , ( ))";
                return out;
            }
            if (!numbers.insert(conn.connector).second) {
                out.error =
                    cwhere + ": connector " + std::to_string(conn.connector) + " is listed twice";
                return out;
            }
            if (!piles.insert(conn.pile.id).second) {
                out.error = cwhere + ": pile \"" + conn.pile.id + "\" is used twice";
                return out;
            }
            spec.connectors.push_back(std::move(conn));
        }
        registry.chargers.push_back(std::move(spec));
    }
    out.registry = std::move(registry);
    return out;
}

}  // namespace gateway
