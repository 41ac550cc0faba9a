#pragma once
/// @file The scheduler's side of its journal: writes the entries (not while a resume
/// replays them), counts the run's lines, remembers the latest station time the journal
/// holds and says when a snapshot is due, so that the journal and a restart's replay stay
/// bounded. The lines go to a JournalFn and the snapshots to a SnapshotFn: no files here.

#include <cstdint>
#include <functional>
#include <string>

#include "contract/journal.hpp"
#include "service/snapshot_file.hpp"
#include "station/types.hpp"

namespace service {

/// Appends one line to the journal (throws if it cannot). The caller makes the lines
/// durable before it publishes anything the app produced after them.
using JournalFn = std::function<void(const std::string& line)>;
/// Keeps a snapshot durably, then replaces the journal by `start_line` alone (the lines the
/// snapshot covers are no longer needed); throws if it cannot.
using SnapshotFn = std::function<void(const Snapshot& snapshot, const std::string& start_line)>;

class JournalKeeper {
  public:
    /// `journal` empty: nothing is journaled. `save` empty or `snapshot_every` <= 0: no
    /// snapshot is ever due.
    JournalKeeper(JournalFn journal, SnapshotFn save, std::int64_t snapshot_every);

    /// Whether there is a journal.
    bool enabled() const { return static_cast<bool>(journal_); }
    /// Writes the start line of a new journal (not one of the run's command lines).
    void start(const std::string& start_line);
    /// Appends the entry and counts it, unless replaying or there is no journal; throws if
    /// the journal cannot take it.
    void write(const contract::JournalEntry& entry);
    /// The station reached time `t` and has changes to publish: unless the journal holds
    /// that time already, it gets an Advance entry, so they come back after a crash.
    void reached(station::TimeMs t);
    /// The latest station time the journal holds.
    station::TimeMs journaled_t() const { return journaled_t_; }
    /// The run's journal lines so far, in all its files (the start lines not counted).
    std::int64_t lines() const { return lines_; }

    /// A resume replays the journal, which starts after `base` lines of the run; the
    /// snapshot it starts from (if any) covers `covered` of them. Nothing is written until
    /// end_replay().
    void begin_replay(std::int64_t base, std::int64_t covered);
    /// Counts the next line of the replay; returns whether it is to be applied (false: the
    /// snapshot covers it).
    bool replay_line() { return ++lines_ > snapshot_lines_; }
    /// The journal holds station time `t` (a replayed line's, or a snapshot's).
    void replayed(station::TimeMs t) { journaled_t_ = t; }
    void end_replay() { replaying_ = false; }
    bool replaying() const { return replaying_; }

    /// Whether enough lines were written since the last snapshot for another.
    bool snapshot_due() const;
    /// Hands the snapshot (of the station as of lines()) and the new journal's start line to
    /// the SnapshotFn; throws what it throws. Either way the next snapshot is due only after
    /// another `snapshot_every` lines: the journal is intact, so a failed snapshot is tried
    /// again at the next interval, not at every line.
    void save_snapshot(const Snapshot& snapshot, const std::string& start_line);

  private:
    JournalFn journal_;
    SnapshotFn save_;
    std::int64_t snapshot_every_;
    bool replaying_ = false;
    station::TimeMs journaled_t_ = 0;
    std::int64_t lines_ = 0;
    std::int64_t snapshot_lines_ = 0;  // lines covered by the latest snapshot
};

}  // namespace service
