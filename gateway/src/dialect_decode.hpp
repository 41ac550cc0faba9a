#pragma once
// Reading the JSON values vendor chargers publish, as untrusted input. Internal to the
// gateway's dialects.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/vendor_update.hpp"

namespace gateway::detail {

/// The most a vendor payload may hold; larger ones are dropped unread.
inline constexpr std::size_t kMaxVendorPayload = 16 * 1024;

/// Parses a payload as JSON; discarded (is_discarded) when it is not JSON or too large.
nlohmann::json parse_vendor_json(std::string_view payload);
/// A finite JSON number, else nullopt.
std::optional<double> finite_number(const nlohmann::json& j);
/// A finite JSON number >= 0, else nullopt.
std::optional<double> non_negative(const nlohmann::json& j);
/// A short printable excerpt of a payload, for the log.
std::string excerpt(std::string_view payload);
/// A payload refused: "KEY WHY: excerpt".
Decoded refuse(std::string_view key, std::string why, std::string_view payload);
/// A payload read as `u`.
Decoded with(ChargerUpdate u);

}  // namespace gateway::detail
