#pragma once
/// @file The chargers that speak their vendor's own MQTT topics, from the dialects file
/// (docs/gateway.md): each device's dialect and identity on the vendor broker, and the
/// pile it is on the station's bus with its mode and power.
///
///   {"devices": [{"dialect": "go-e", "serial": "000001", "pile": "F1", "mode": "F",
///                 "power_kw": 22},
///                {"dialect": "openevse", "id": "55ad", "pile": "T1", "mode": "T",
///                 "power_kw": 7.2}]}

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "station/profile.hpp"

namespace gateway {

enum class Dialect { GoE, OpenEvse };

/// "go-e" or "openevse", as in the dialects file.
std::string_view to_string(Dialect d);

struct VendorDevice {
    Dialect dialect = Dialect::GoE;
    /// go-e: the serial number; OpenEVSE: the last 4 characters of the device id (its
    /// `openevse/announce/{id}` topic).
    std::string device;
    /// go-e: the topic prefix before the serial (`mtp`, default "go-eCharger/");
    /// OpenEVSE: the base topic (default "openevse-{id}").
    std::string topic_base;
    station::PileSpec pile;
};

struct VendorDevices {
    std::vector<VendorDevice> devices;
};

/// Reading a dialects file: the devices, or the first problem found, naming the device
/// and field (e.g. `devices[1] (openevse 55ad): pile "F1" is used twice`).
struct VendorDevicesLoad {
    std::optional<VendorDevices> devices;
    std::string error;
};
VendorDevicesLoad parse_vendor_devices(std::string_view text);

}  // namespace gateway
