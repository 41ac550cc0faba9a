#pragma once
/// @file The scenario notation of scenario-format.md: parsing a text into timed events.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "station/types.hpp"

namespace replay {

enum class EventKind { Arrive, Cancel, Change, Fault, Recover };

/// One event tuple, e.g. `(A,V1,T,40)`.
struct ScenarioEvent {
    station::TimeMs at = 0;  ///< day * 24 h + time of day; day 0 is the first event's day
    int line = 0;            ///< 1-based source line
    std::string text;        ///< the tuple as written, without blanks
    EventKind kind = EventKind::Arrive;
    std::string subject;     ///< car or pile id
    std::optional<station::Mode> mode;  ///< Arrive: the mode; Change: nullopt keeps it
    std::optional<double> kwh;          ///< Arrive: the amount; Change: nullopt keeps it
    station::TimeMs fault_duration = 0; ///< Fault: 0 = until recovered
};

/// Parse result: the events, or the first error with its line.
struct ScenarioParse {
    std::vector<ScenarioEvent> events;
    int error_line = 0;  ///< 0 when there is no error
    std::string error;

    bool ok() const { return error.empty(); }
};

/// Parses a whole scenario. Never throws; a scenario without events is an error.
ScenarioParse parse_scenario(std::string_view text);

}  // namespace replay
