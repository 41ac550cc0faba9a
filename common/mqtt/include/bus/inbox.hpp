#pragma once
/// @file The hand-over point between Paho's callback threads and a service's own thread:
/// callbacks push, the service thread pops. Nothing else is shared between them.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "bus/mqtt_client.hpp"

namespace bus {

struct InboxItem {
    enum class Kind { Message, Connected, Lost } kind = Kind::Message;
    Received message;  ///< for Kind::Message
    int source = 0;    ///< which client it came from, for processes with several
};

class Inbox {
  public:
    void push(InboxItem item) {
        bool was_empty = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            was_empty = items_.empty();
            items_.push_back(std::move(item));
        }
        // The consumer waits only on an empty inbox and then takes everything: waking it
        // for every message of a burst costs a context switch each (measured: a quarter of
        // the scheduler's time under a telemetry flood).
        if (was_empty) {
            ready_.notify_one();
        }
    }
    /// The oldest item, waiting until `deadline` at most.
    std::optional<InboxItem> pop_until(std::chrono::steady_clock::time_point deadline) {
        std::unique_lock<std::mutex> lock(mutex_);
        if (!ready_.wait_until(lock, deadline, [this] { return !items_.empty(); })) {
            return std::nullopt;
        }
        InboxItem item = std::move(items_.front());
        items_.pop_front();
        return item;
    }
    /// Everything waiting, oldest first, waiting until `deadline` for the first item.
    std::deque<InboxItem> pop_all_until(std::chrono::steady_clock::time_point deadline) {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait_until(lock, deadline, [this] { return !items_.empty(); });
        std::deque<InboxItem> all;
        all.swap(items_);
        return all;
    }

  private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<InboxItem> items_;
};

}  // namespace bus
