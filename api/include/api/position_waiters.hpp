#pragma once
/// @file Request threads waiting until the API's copy of the scheduler's log reaches the
/// position of their change (so that their answer, and the client's next read, show it).
/// Each position the store reaches wakes only the waiters it satisfies: with many
/// requests in flight, waking every waiting thread on every batch costs more than the
/// batch itself.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "api/store_port.hpp"

namespace api {

class PositionWaiters {
  public:
    /// Waits until the log of `run` has reached `pos`: at once if `current()` (the store's
    /// position, read under this object's lock) already has, else until `reached` says so.
    /// False if that did not happen within `timeout`.
    bool wait(const std::string& run, std::int64_t pos, const std::function<LogPosition()>& current,
              std::chrono::milliseconds timeout);
    /// The store has reached `have` (call after the position is stored): wakes the waiters
    /// of that run at or before it.
    void reached(const LogPosition& have);
    /// Threads waiting now (for tests).
    std::size_t waiting() const;

  private:
    struct Waiter {
        const std::string& run;
        bool done = false;
        std::condition_variable cv;
    };
    mutable std::mutex mutex_;
    std::multimap<std::int64_t, Waiter*> waiting_;  // by position
};

}  // namespace api
