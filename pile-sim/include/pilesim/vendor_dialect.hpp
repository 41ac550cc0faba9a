#pragma once
/// @file How a simulated vendor charger (sim_charger.hpp) speaks on MQTT: its vendor's
/// topics and payloads, as the vendor documents them (go-e API v2: mqtt-en.md,
/// apikeys-en.md; OpenEVSE: openevse_esp32_firmware docs/mqtt.md). No broker here: it
/// turns the charger's state into publications and the messages it receives into changes
/// of the charger and answers.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "contract/publication.hpp"
#include "pilesim/sim_charger.hpp"

namespace pilesim {

class VendorDialect {
  public:
    virtual ~VendorDialect() = default;

    /// The MQTT last will: the charger is gone (retained).
    virtual contract::Publication last_will() const = 0;
    /// The topics the charger listens on (with QoS).
    virtual std::vector<std::pair<std::string, int>> subscriptions() const = 0;
    /// Everything, retained: after each (re)connection.
    virtual std::vector<contract::Publication> hello(const SimCharger& c) = 0;
    /// The values that change, retained: at the charger's reporting rate.
    virtual std::vector<contract::Publication> report(const SimCharger& c) = 0;
    /// A message on a subscribed topic: applied to the charger; returns the answers.
    virtual std::vector<contract::Publication> on_message(std::string_view topic,
                                                          std::string_view payload, SimCharger& c,
                                                          station::TimeMs now) = 0;
};

/// go-e API v2: `go-eCharger/{serial}/{key}`, `frc/set` answered on `frc/result`.
std::unique_ptr<VendorDialect> make_goe_dialect(std::string serial);
/// OpenEVSE: `openevse/announce/{id}`, values under `openevse-{id}/`, `claim/set` echoed
/// on the retained `claim`.
std::unique_ptr<VendorDialect> make_openevse_dialect(std::string id);

}  // namespace pilesim
