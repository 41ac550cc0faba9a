#include "dialect_decode.hpp"

#include <cmath>

namespace gateway::detail {

nlohmann::json parse_vendor_json(std::string_view payload) {
    if (payload.size() > kMaxVendorPayload) {
        return nlohmann::json(nlohmann::json::value_t::discarded);
    }
    return nlohmann::json::parse(payload, nullptr, false);
}

std::optional<double> finite_number(const nlohmann::json& j) {
    if (!j.is_number()) {
        return std::nullopt;
    }
    const double v = j.get<double>();
    return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

std::optional<double> non_negative(const nlohmann::json& j) {
    const auto v = finite_number(j);
    return v && *v >= 0 ? v : std::nullopt;
}

std::string excerpt(std::string_view payload) {
    std::string out;
    for (const char c : payload.substr(0, 60)) {
        const auto u = static_cast<unsigned char>(c);
        out += u < 0x20 || u >= 0x7f ? '?' : c;
    }
    return payload.size() > 60 ? out + "..." : out;
}

Decoded refuse(std::string_view key, std::string why, std::string_view payload) {
    Decoded d;
    d.error = std::string(key) + " " + std::move(why) + ": " + excerpt(payload);
    return d;
}

Decoded with(ChargerUpdate u) {
    Decoded d;
    d.update = std::move(u);
    return d;
}

}  // namespace gateway::detail
