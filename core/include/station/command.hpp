#pragma once
/// @file One station command, whatever brings it: a scenario event (`station-replay`), a
/// request on the bus, or a line of the scheduler's journal. Each of those notations maps
/// to this type, and `apply` is the one place that runs it on the station.

#include <optional>
#include <string_view>

#include "station/rejection.hpp"
#include "station/types.hpp"

namespace station {

class Station;

enum class CommandOp : std::uint8_t {
    Submit,
    Change,
    Cancel,
    Fault,
    Recover,
    SwitchOn,
    SwitchOff,
    EndMetered,  ///< a metered pile's meter ended its session (Station::end_metered)
};

struct Command {
    CommandOp op = CommandOp::Submit;
    /// The car (Submit, Change, Cancel) or the pile (the others). A view: the caller
    /// keeps the text alive while the command is applied.
    std::string_view subject;
    std::optional<Mode> mode;  ///< Submit: required; Change: nullopt keeps it
    /// Submit: required; Change: nullopt keeps it; EndMetered: the meter's reading, required
    std::optional<double> kwh;
    TimeMs fault_duration = 0;  ///< Fault: > 0 recovers by itself after that long
};

/// Runs the command on the station at its current time. A Submit without a mode or an
/// amount, or an EndMetered without an amount, is refused as an invalid amount; nothing
/// else is assumed.
Outcome apply(Station& station, const Command& command);

/// "submit", "change", "cancel", "fault", "recover", "switch_on", "switch_off",
/// "end_metered".
std::string_view to_string(CommandOp op);
std::optional<CommandOp> parse_command_op(std::string_view s);

}  // namespace station
