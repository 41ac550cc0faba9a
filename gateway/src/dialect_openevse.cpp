#include "gateway/dialect_openevse.hpp"

#include "dialect_decode.hpp"

namespace gateway::openevse {

using detail::excerpt;
using detail::non_negative;
using detail::refuse;
using detail::with;
using nlohmann::json;

namespace {

std::string announce_topic(const VendorDevice& d) {
    return "openevse/announce/" + d.device;
}

// The EVSE states of the firmware's openevse.h (OPENEVSE_STATE_*).
const char* fault_name(int state) {
    switch (state) {
        case 4:
            return "vent required";
        case 5:
            return "diode check failed";
        case 6:
            return "GFCI fault";
        case 7:
            return "no earth ground";
        case 8:
            return "stuck relay";
        case 9:
            return "GFCI self-test failed";
        case 10:
            return "over temperature";
        default:
            return "over current";
    }
}

}  // namespace

std::string default_base_topic(std::string_view id) {
    return "openevse-" + std::string(id);
}

std::vector<std::string> subscriptions(const VendorDevice& device) {
    return {announce_topic(device), device.topic_base + "/#"};
}

std::optional<std::string> key_of(const VendorDevice& device, std::string_view topic) {
    if (topic == announce_topic(device)) {
        return std::string("announce");
    }
    const std::string root = device.topic_base + "/";
    if (topic.size() <= root.size() || topic.substr(0, root.size()) != root) {
        return std::nullopt;
    }
    return std::string(topic.substr(root.size()));
}

Decoded decode(std::string_view key, std::string_view payload) {
    if (key == "claim/") {
        key = "claim";
    }
    if (key != "announce" && key != "state" && key != "amp" && key != "voltage" && key != "power" &&
        key != "session_energy" && key != "total_energy" && key != "claim") {
        return {};  // a value the station does not use, our own claim/set
    }
    const json j = detail::parse_vendor_json(payload);
    if (j.is_discarded()) {
        return refuse(key, "is not JSON", payload);
    }
    ChargerUpdate u;
    if (key == "announce") {
        if (!j.is_object() || !j.contains("state") || !j["state"].is_string() ||
            (j["state"] != "connected" && j["state"] != "disconnected")) {
            return refuse(key, "has no state connected or disconnected", payload);
        }
        u.online = j["state"] == "connected";
    } else if (key == "state") {
        if (!j.is_number_integer()) {
            return refuse(key, "is not an integer", payload);
        }
        const auto s = j.get<std::int64_t>();
        if (s == 0) {
            return {};  // starting: nothing to say yet
        }
        if (s == 1) {
            u.activity = ChargerActivity::NoCar;
        } else if (s == 2) {
            u.activity = ChargerActivity::Waiting;
        } else if (s == 3) {
            u.activity = ChargerActivity::Charging;
        } else if (s >= 4 && s <= 11) {
            u.activity = ChargerActivity::Fault;
            u.fault = "state " + std::to_string(s) + " (" + fault_name(static_cast<int>(s)) + ")";
        } else if (s == 254 || s == 255) {
            u.activity = ChargerActivity::Disabled;
        } else {
            return refuse(key, "is not a known EVSE state", payload);
        }
    } else if (key == "amp") {
        const auto ma = non_negative(j);
        if (!ma) {
            return refuse(key, "is not a current in mA >= 0", payload);
        }
        u.current_a = *ma / 1000.0;
    } else if (key == "voltage") {
        const auto v = non_negative(j);
        if (!v) {
            return refuse(key, "is not a voltage >= 0", payload);
        }
        u.voltage_v = *v;
    } else if (key == "power") {
        const auto w = non_negative(j);
        if (!w) {
            return refuse(key, "is not a power in W >= 0", payload);
        }
        u.power_kw = *w / 1000.0;
    } else if (key == "session_energy") {
        const auto wh = non_negative(j);
        if (!wh) {
            return refuse(key, "is not a number of Wh >= 0", payload);
        }
        u.session_kwh = *wh / 1000.0;
    } else if (key == "total_energy") {
        const auto kwh = non_negative(j);
        if (!kwh) {
            return refuse(key, "is not a number of kWh >= 0", payload);
        }
        u.total_kwh = *kwh;
    } else {  // claim
        if (!j.is_object() || !j.contains("state") || !j["state"].is_string()) {
            return refuse(key, "is not a claim with a state", payload);
        }
        const auto state = j["state"].get<std::string>();
        if (state == "active") {
            u.enabled_echo = true;
        } else if (state == "disabled") {
            u.enabled_echo = false;
        }  // "null": no claim; others are not ours to interpret
    }
    return with(std::move(u));
}

contract::Publication enable(const VendorDevice& device, bool on) {
    json claim = {{"state", on ? "active" : "disabled"}};
    return {device.topic_base + "/claim/set", claim.dump(), 1, false};
}

contract::Publication restart(const VendorDevice& device, bool hard) {
    const json which = {{"device", hard ? "evse" : "gateway"}};
    return {device.topic_base + "/restart", which.dump(), 1, false};
}

}  // namespace gateway::openevse
