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
#include <vector>

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

/// The first line of a journal: which station it belongs to and where its run began.
struct JournalStart {
    station::TimeMs at = 0;          ///< station time when the run began
    std::string run;                 ///< the run's id (order and bill ids count from 0 in each run)
    std::string profile;             ///< the station profile's name
    std::vector<std::string> piles;  ///< the profile's pile ids, in order
    bool simulated = false;          ///< the run's clock is simulated
    /// Command lines of the run that earlier journal files held (a snapshot covers them);
    /// this file's lines count on from there. Journals written before snapshots existed
    /// have no `base`: it reads as 0, which is what it meant.
    std::int64_t base = 0;
    bool operator==(const JournalStart&) const = default;
};

std::string to_json(const JournalStart& s);
/// "" or why `line` is not a journal's start line (untrusted: never throws).
std::string parse(std::string_view line, JournalStart& out);

std::string to_json(const JournalEntry& e);
std::string parse(std::string_view line, JournalEntry& out);

}  // namespace contract
