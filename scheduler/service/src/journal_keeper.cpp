#include "service/journal_keeper.hpp"

#include <algorithm>
#include <utility>

namespace service {

JournalKeeper::JournalKeeper(JournalFn journal, SnapshotFn save, std::int64_t snapshot_every)
    : journal_(std::move(journal)), save_(std::move(save)), snapshot_every_(snapshot_every) {}

void JournalKeeper::start(const std::string& start_line) {
    if (journal_) {
        journal_(start_line);
    }
}

void JournalKeeper::write(const contract::JournalEntry& entry) {
    if (journal_ && !replaying_) {
        journal_(contract::to_json(entry));
        journaled_t_ = std::max(journaled_t_, entry.t);
        ++lines_;
    }
}

void JournalKeeper::reached(station::TimeMs t) {
    if (t > journaled_t_) {
        contract::JournalEntry e;
        e.kind = contract::JournalEntry::Kind::Advance;
        e.t = t;
        write(e);
    }
}

void JournalKeeper::begin_replay(std::int64_t base, std::int64_t covered) {
    replaying_ = true;
    lines_ = base;
    snapshot_lines_ = covered;
}

bool JournalKeeper::snapshot_due() const {
    return save_ && snapshot_every_ > 0 && lines_ - snapshot_lines_ >= snapshot_every_;
}

void JournalKeeper::save_snapshot(const Snapshot& snapshot, const std::string& start_line) {
    snapshot_lines_ = lines_;
    save_(snapshot, start_line);
}

}  // namespace service
