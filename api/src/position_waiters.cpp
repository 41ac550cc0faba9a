#include "api/position_waiters.hpp"

namespace api {

bool PositionWaiters::wait(const std::string& run, std::int64_t pos,
                           const std::function<LogPosition()>& current,
                           std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    // Read under the lock: a position stored after this read is announced by a `reached`
    // that waits for the lock, so it finds this waiter registered.
    if (const LogPosition have = current(); have.run == run && have.pos >= pos) {
        return true;
    }
    Waiter w{run, false, {}};
    const auto it = waiting_.emplace(pos, &w);
    w.cv.wait_for(lock, timeout, [&] { return w.done; });
    if (!w.done) {
        waiting_.erase(it);
    }
    return w.done;
}

void PositionWaiters::reached(const LogPosition& have) {
    std::lock_guard lock(mutex_);
    for (auto it = waiting_.begin(); it != waiting_.end() && it->first <= have.pos;) {
        if (it->second->run == have.run) {
            it->second->done = true;
            it->second->cv.notify_one();
            it = waiting_.erase(it);
        } else {
            ++it;
        }
    }
}

std::size_t PositionWaiters::waiting() const {
    std::lock_guard lock(mutex_);
    return waiting_.size();
}

}  // namespace api
