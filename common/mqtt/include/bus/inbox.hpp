#pragma once
/// @file The hand-over point between Paho's callback threads and a service's own thread:
/// callbacks push, the service thread pops. Nothing else is shared between them.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace bus {

struct InboxItem {
    enum class Kind { Message, Connected, Lost } kind = Kind::Message;
    std::string topic;
    std::string payload;
    int source = 0;  ///< which client it came from, for processes with several
};

class Inbox {
public:
    void push(InboxItem item) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            items_.push_back(std::move(item));
        }
        ready_.notify_one();
    }
    /// The oldest item, waiting until `deadline` at most.
    std::optional<InboxItem> pop_until(std::chrono::steady_clock::time_point deadline) {
        std::unique_lock<std::mutex> lock(mutex_);
        if (!ready_.wait_until(lock, deadline, [this] { return !items_.empty() || woken_; })) {
            return std::nullopt;
        }
        woken_ = false;
        if (items_.empty()) {
            return std::nullopt;
        }
        InboxItem item = std::move(items_.front());
        items_.pop_front();
        return item;
    }
    /// Wakes a waiting pop (e.g. to shut down).
    void wake() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            woken_ = true;
        }
        ready_.notify_all();
    }
    std::size_t size() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return items_.size();
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<InboxItem> items_;
    bool woken_ = false;
};

}  // namespace bus
