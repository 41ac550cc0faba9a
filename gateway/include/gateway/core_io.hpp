#pragma once
/// @file What every functional core of the gateway (OCPP, vendor dialects) takes with each
/// input and hands back besides its messages: the time, and log lines for the shell.

#include <cstdint>
#include <string>
#include <string_view>

#include "contract/publication.hpp"
#include "station/types.hpp"

namespace gateway {

/// The time of an input: station time for what goes on the bus, wall-clock UTC for
/// protocol times and timeouts.
struct Now {
    station::TimeMs station_ms = 0;
    std::int64_t wall_ms = 0;
};

struct LogLine {
    std::string level;  ///< "info", "warn"
    std::string text;
};

/// {pile, online: false}, retained: a gateway pile's MQTT last will, and what is published
/// when the charger behind it goes away.
contract::Publication offline_status(std::string_view pile);

}  // namespace gateway
