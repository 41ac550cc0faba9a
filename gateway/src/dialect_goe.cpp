#include "gateway/dialect_goe.hpp"

#include <cmath>

#include "dialect_decode.hpp"

namespace gateway::goe {

using detail::excerpt;
using detail::non_negative;
using detail::refuse;
using detail::with;
using nlohmann::json;

namespace {

/// `nrg`: U L1 L2 L3 N, I L1 L2 L3, P L1 L2 L3 N Total, pf L1 L2 L3 N (apikeys-en.md).
constexpr std::size_t kNrgTotalPower = 11;

std::string topic_root(const VendorDevice& d) {
    return d.topic_base + d.device + "/";
}

}  // namespace

std::vector<std::string> subscriptions(const VendorDevice& device) {
    return {topic_root(device) + "#"};
}

std::optional<std::string> key_of(const VendorDevice& device, std::string_view topic) {
    const std::string root = topic_root(device);
    if (topic.size() <= root.size() || topic.substr(0, root.size()) != root) {
        return std::nullopt;
    }
    return std::string(topic.substr(root.size()));
}

Decoded decode(std::string_view key, std::string_view payload) {
    if (key == "frc/result" || key == "rst/result") {
        // Plain text, not JSON (mqtt-en.md): "success" or what was wrong with the write.
        std::string text = excerpt(payload);
        if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
            text = text.substr(1, text.size() - 2);
        }
        ChargerUpdate u;
        u.result = CommandResult{text == "success", text};
        return with(std::move(u));
    }
    if (key != "mcc" && key != "car" && key != "err" && key != "nrg" && key != "wh" &&
        key != "eto" && key != "frc") {
        return {};  // an api key the station does not use, our own /set, other results
    }
    const json j = detail::parse_vendor_json(payload);
    if (j.is_discarded()) {
        return refuse(key, "is not JSON", payload);
    }
    ChargerUpdate u;
    if (key == "mcc") {
        if (!j.is_boolean()) {
            return refuse(key, "is not a boolean", payload);
        }
        u.online = j.get<bool>();
    } else if (key == "car") {
        if (j.is_null()) {
            u.activity = ChargerActivity::Fault;
            u.fault = "car state null (internal error)";
        } else if (!j.is_number_integer() || j.get<std::int64_t>() < 0 ||
                   j.get<std::int64_t>() > 5) {
            return refuse(key, "is not a car state 0..5", payload);
        } else {
            switch (j.get<int>()) {
                case 1:
                    u.activity = ChargerActivity::NoCar;
                    break;
                case 2:
                    u.activity = ChargerActivity::Charging;
                    break;
                case 3:
                    u.activity = ChargerActivity::Waiting;
                    break;
                case 4:
                    u.activity = ChargerActivity::Complete;
                    break;
                case 5:
                    u.activity = ChargerActivity::Fault;
                    u.fault = "car state 5 (error)";
                    break;
                default:
                    u.activity = ChargerActivity::Fault;
                    u.fault = "car state 0 (unknown/error)";
                    break;
            }
        }
    } else if (key == "err") {
        if (j.is_null()) {
            return refuse(key, "is null (internal error)", payload);
        }
        if (!j.is_number_integer() || j.get<std::int64_t>() < 0 || j.get<std::int64_t>() > 255) {
            return refuse(key, "is not an error code 0..255", payload);
        }
        u.error_code = j.get<int>();
    } else if (key == "nrg") {
        if (!j.is_array() || j.size() <= kNrgTotalPower) {
            return refuse(key, "is not an array of at least 12 values", payload);
        }
        const auto watts = non_negative(j[kNrgTotalPower]);
        if (!watts) {
            return refuse(key, "[11] (total power, W) is not a number >= 0", payload);
        }
        u.power_kw = *watts / 1000.0;
    } else if (key == "wh" || key == "eto") {
        const auto wh = non_negative(j);
        if (!wh) {
            return refuse(key, "is not a number of Wh >= 0", payload);
        }
        (key == "wh" ? u.session_kwh : u.total_kwh) = *wh / 1000.0;
    } else {  // frc
        if (!j.is_number_integer() || j.get<std::int64_t>() < 0 || j.get<std::int64_t>() > 2) {
            return refuse(key, "is not a force state 0..2", payload);
        }
        const int frc = j.get<int>();
        if (frc != 0) {
            u.enabled_echo = frc == 2;
        }
    }
    return with(std::move(u));
}

contract::Publication enable(const VendorDevice& device, bool on) {
    return {topic_root(device) + "frc/set", on ? "2" : "1", 1, false};
}

contract::Publication reboot(const VendorDevice& device) {
    return {topic_root(device) + "rst/set", "true", 1, false};
}

}  // namespace gateway::goe
