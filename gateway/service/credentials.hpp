#pragma once
// HTTP Basic credentials of a charger (OCPP security profile 1), checked by the WebSocket
// server before the upgrade. Here, not in the core: hashing uses POCO.

#include <string>
#include <string_view>

#include "gateway/charger_registry.hpp"

namespace gateway {

/// The user must be the charger's identity and the password its own (plain, or the one
/// whose SHA-256 is registered). Compared in constant time.
bool check_credentials(const ChargerSpec& charger, std::string_view user,
                       std::string_view password);

/// Lower-case hex SHA-256 of `text` (what `password_sha256` holds).
std::string sha256_hex(std::string_view text);

}  // namespace gateway
