#pragma once
/// @file A vendor charger's message, decoded by its dialect (dialect_goe.hpp,
/// dialect_openevse.hpp) into the station's terms with units normalised (kW, kWh): what
/// the vendor bridge (vendor_bridge.hpp) works with.

#include <optional>
#include <string>

namespace gateway {

/// What the charger reports it is doing.
enum class ChargerActivity {
    NoCar,     ///< no vehicle plugged in
    Waiting,   ///< plugged in, not drawing (waiting for the car, or not allowed)
    Charging,  ///< delivering energy
    Complete,  ///< the car stopped drawing
    Fault,     ///< the charger reports an error (see ChargerUpdate::fault)
    Disabled   ///< the charger is disabled or sleeping
};

/// The answer to a command sent to the charger (go-e `{key}/result`).
struct CommandResult {
    bool ok = false;
    std::string text;  ///< the charger's words, for the log
};

/// One decoded message: only what it said is set.
struct ChargerUpdate {
    std::optional<bool> online;
    std::optional<ChargerActivity> activity;
    /// With activity Fault: why (e.g. "GFCI fault").
    std::string fault;
    /// go-e `err`: 0 = no error, else the charger's error code (a fault).
    std::optional<int> error_code;
    std::optional<double> power_kw;
    std::optional<double> current_a;  ///< OpenEVSE: power is current × voltage
    std::optional<double> voltage_v;
    /// The charger's session counter (energy since plug-in or since its session began).
    std::optional<double> session_kwh;
    /// The charger's lifetime meter.
    std::optional<double> total_kwh;
    /// Whether the charger now holds our enable (go-e `frc` 2 / 1, OpenEVSE claim state
    /// active / disabled): the echo that acknowledges an enable or disable by state.
    std::optional<bool> enabled_echo;
    std::optional<CommandResult> result;
};

/// A decoded message, a refusal, or neither (a key the bridge does not map).
struct Decoded {
    std::optional<ChargerUpdate> update;
    std::string error;  ///< why the payload was dropped, "" if it was not
};

}  // namespace gateway
