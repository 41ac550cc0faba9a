#pragma once
/// @file The chargers the gateway accepts, from its JSON configuration file
/// (docs/gateway.md): each charger's OCPP identity, its password (or its SHA-256), and its
/// connectors, each presented as one pile of the station with its mode and power.
///
///   {"chargers": [{"identity": "CP1", "password_sha256": "<64 hex>",
///                  "connectors": [{"connector": 1, "pile": "F1", "mode": "F",
///                                  "power_kw": 30}]}]}

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "station/profile.hpp"

namespace gateway {

/// One connector of a charger and the pile it is on the bus.
struct ConnectorSpec {
    int connector = 0;       ///< OCPP connectorId, >= 1
    station::PileSpec pile;  ///< id, mode and power (kW)
};

struct ChargerSpec {
    std::string identity;         ///< the last path segment of the charger's URL
    std::string password;         ///< plain (tests); or
    std::string password_sha256;  ///< lower-case hex SHA-256 of the password
    std::vector<ConnectorSpec> connectors;
};

struct Registry {
    std::vector<ChargerSpec> chargers;
    /// The charger with that identity, or nullptr.
    const ChargerSpec* find(std::string_view identity) const;
};

/// Reading a configuration: a registry, or the first problem found, naming the charger
/// and field (e.g. `chargers[1] (CP2): connectors[0]: pile "F1" is used twice`).
struct RegistryLoad {
    std::optional<Registry> registry;
    std::string error;
};
RegistryLoad parse_registry(std::string_view text);

/// Whether an identity may appear in a URL path and a log line: 1..48 characters of
/// A-Z a-z 0-9 . _ - : (OCPP 2.0.1's rule for the identity; 1.6 sets none).
bool valid_identity(std::string_view identity);

/// Whether a pile id is one the bus takes (contract::valid_topic_id) and profiles take:
/// 1 to 64 characters, no blanks, control characters, / + # , ( ).
bool valid_pile_id(std::string_view id);

}  // namespace gateway
