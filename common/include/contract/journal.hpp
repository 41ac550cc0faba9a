#pragma once
/// @file One line of the scheduler's journal (`station-scheduler --journal`) after its
/// start line: a station command, a clock setting or a time the station advanced to, at
/// station time `t`, with the id of the request that brought it. The journal is the
/// scheduler's log: replaying its lines rebuilds the station, its change-log positions
/// and its answers to requests. Lines are read back as untrusted: `parse` never throws
/// and refuses any line that is not exactly one of these.

#include <optional>
#include <string>
#include <string_view>

#include "station/command.hpp"
#include "station/types.hpp"

namespace contract {

struct JournalEntry {
    enum class Kind { Command, Clock, Advance };
    Kind kind = Kind::Command;
    station::TimeMs t = 0;
    /// Command: what ran (`command.subject` points into `subject`; call `bind()` after
    /// copying the entry).
    station::Command command;
    std::string subject;
    /// Command Fault: the pile went away (its last will), not a fault it reported.
    bool offline = false;
    double speed = 1;     ///< Clock: station seconds per wall second from t on
    std::string request;  ///< the request's id, "" if none brought it

    /// Points `command.subject` at this entry's `subject`.
    void bind() { command.subject = subject; }
};

std::string to_json(const JournalEntry& e);
std::string parse(std::string_view line, JournalEntry& out);

}  // namespace contract
