#pragma once
/// @file The go-e API v2 MQTT dialect (goecharger/go-eCharger-API-v2: mqtt-en.md,
/// apikeys-en.md): one retained JSON value per api key on `{prefix}{serial}/{key}`, the
/// last will `mcc` = false, writes on `{key}/set` answered on `{key}/result`.
/// docs/gateway.md has the mapping table. Pure functions: no I/O.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "contract/publication.hpp"
#include "gateway/vendor_devices.hpp"
#include "gateway/vendor_update.hpp"

namespace gateway::goe {

/// The default topic prefix (api key `mtp`).
inline constexpr std::string_view kDefaultPrefix = "go-eCharger/";

/// What the bridge subscribes to for the device: `{prefix}{serial}/#`.
std::vector<std::string> subscriptions(const VendorDevice& device);
/// The api key a topic of the device carries ("car", "frc/result"); nullopt for a topic
/// of another device.
std::optional<std::string> key_of(const VendorDevice& device, std::string_view topic);
/// Decodes the payload of an api key: `mcc` (online), `car` (1 idle, 2 charging, 3 waiting
/// for the car, 4 complete, 5 error; 0 and null unknown/error), `err` (0 none, else a
/// fault), `nrg` ([11] total power, W), `wh` (Wh since plug-in), `eto` (total, Wh), `frc`
/// (2 on / 1 off echo), `frc/result` and `rst/result` ("success" or the charger's
/// complaint). Other
/// keys decode to neither an update nor an error.
Decoded decode(std::string_view key, std::string_view payload);
/// Forces charging on (`frc/set` 2) or off (`frc/set` 1); not retained.
contract::Publication enable(const VendorDevice& device, bool on);
/// Reboots the charger: `rst/set` (api key `rst`, write-only, "Reboot charger" in the
/// API v2 key list). Taken to be answered on `rst/result` as `frc/set` is on `frc/result`
/// (go-e does not document its MQTT topics). go-e knows one kind of reboot, used for
/// both kinds of reset.
contract::Publication reboot(const VendorDevice& device);

}  // namespace gateway::goe
