#pragma once
/// @file The OpenEVSE WiFi MQTT dialect (OpenEVSE/openevse_esp32_firmware docs/mqtt.md):
/// `openevse/announce/{id}` retained, its last will with `"state": "disconnected"`; values
/// under the base topic (`openevse-{id}` by default); control by the MQTT service's claim
/// (`claim/set`), whose retained `claim` echoes it. docs/gateway.md has the mapping table.
/// Pure functions: no I/O.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "contract/publication.hpp"
#include "gateway/vendor_devices.hpp"
#include "gateway/vendor_update.hpp"

namespace gateway::openevse {

/// The default base topic of a device: "openevse-{id}".
std::string default_base_topic(std::string_view id);

/// What the bridge subscribes to: the announce topic and `{base}/#`.
std::vector<std::string> subscriptions(const VendorDevice& device);
/// "announce" for the device's announce topic, the sub-topic under its base topic
/// ("state", "claim"), nullopt for a topic of another device.
std::optional<std::string> key_of(const VendorDevice& device, std::string_view topic);
/// Decodes: `announce` (state connected / disconnected: online), `state` (1 no car,
/// 2 connected, 3 charging, 4..11 faults, 254 sleeping, 255 disabled), `amp` (mA),
/// `voltage` (V), `power` (W), `session_energy` (Wh), `total_energy` (kWh), `claim`
/// (state active / disabled echo). Other keys decode to neither an update nor an error.
Decoded decode(std::string_view key, std::string_view payload);
/// Claims the charger for the station: `claim/set` {"state": "active"} or
/// {"state": "disabled"}; not retained.
contract::Publication enable(const VendorDevice& device, bool on);
/// Restarts (docs/mqtt.md): `restart` {"device": "gateway"} (the WiFi module, whose
/// firmware holds the claims: a Soft reset) or {"device": "evse"} (the EVSE controller: a
/// Hard reset); not retained. OpenEVSE answers nothing.
contract::Publication restart(const VendorDevice& device, bool hard);

}  // namespace gateway::openevse
