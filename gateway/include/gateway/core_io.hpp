#pragma once
/// @file What every functional core of the gateway (OCPP, vendor dialects) takes with each
/// input and hands back besides its messages: the time, and log lines for the shell.

#include <array>
#include <cstddef>
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

/// The piles a core presents, counted as it publishes them, and their sessions (for the
/// shell's metrics).
struct PileCounts {
    std::size_t offline = 0;
    /// Online piles by state, indexed by station::PileState (Off, Work, Rest, Fault).
    std::array<std::size_t, 4> online{};
    /// Sessions the charger confirmed: a running transaction, a started vendor session.
    std::size_t sessions_active = 0;

    void add(bool is_online, station::PileState state) {
        if (is_online) {
            ++online[static_cast<std::size_t>(state)];
        } else {
            ++offline;
        }
    }
};

/// {pile, online: false}, retained: a gateway pile's MQTT last will, and what is published
/// when the charger behind it goes away.
contract::Publication offline_status(std::string_view pile);

}  // namespace gateway
