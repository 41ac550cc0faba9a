#pragma once
// station-pile-sim --dialect: the simulated piles as vendor chargers on their vendor's
// MQTT topics (pilesim/vendor_dialect.hpp) instead of the station's contract.

#include <map>
#include <string>
#include <vector>

#include "cli/pile_passwords.hpp"
#include "station/profile.hpp"
#include "station/types.hpp"

namespace pilesim {

struct DialectFault {
    station::TimeMs at = 0;
    std::string pile;
    int minutes = 0;
};

struct DialectRun {
    std::string broker;
    std::string dialect;  ///< "go-e" or "openevse"
    std::vector<station::PileSpec> piles;
    /// Pile id -> the charger's serial (go-e) or id (OpenEVSE); default: the pile id.
    std::map<std::string, std::string> devices;
    double telemetry_hz = 1;
    int utc_offset_minutes = 480;
    std::vector<DialectFault> faults;
    /// Each charger logs in as its device id with its password here, if it has one.
    cli::PilePasswords passwords;
    std::string ca_file;  ///< for an ssl:// broker (bus::ClientOptions::ca_file)
};

/// Runs until SIGTERM/SIGINT; returns the exit status.
int run_dialect(const DialectRun& run);

}  // namespace pilesim
