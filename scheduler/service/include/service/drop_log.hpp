#pragma once
/// @file How many dropped messages the scheduler logs: at most a few a second, so that a
/// flood of junk is no flood of log lines; the ones not logged are counted and reported in
/// one line when a later second brings a drop.

#include <cstdint>

namespace service {

class DropLog {
  public:
    /// The scheduler's limit of drops logged a second.
    static constexpr int kDefaultPerSecond = 10;

    explicit DropLog(int per_second = kDefaultPerSecond) : per_second_(per_second) {}

    /// What to log for one drop.
    struct Note {
        /// Drops of an earlier second that were not logged, to report first (0: none).
        std::int64_t unlogged = 0;
        /// Whether this drop gets its own log line.
        bool log = false;
    };
    /// A message was dropped at `wall_ms`.
    Note dropped(std::int64_t wall_ms);

  private:
    int per_second_;
    std::int64_t second_ = 0;  // the wall second the counts below are of
    int logged_ = 0;
    std::int64_t unlogged_ = 0;
};

}  // namespace service
