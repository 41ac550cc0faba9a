#pragma once
/// @file Password hashing off the HTTP workers. PBKDF2 (hundreds of ms of CPU at the
/// default 600,000 iterations) runs on a few threads of its own, with a bounded number of
/// requests waiting for them; a request beyond that is refused at once (the API answers
/// 503 `busy`) instead of holding an HTTP worker and competing for the CPU with every other
/// request. A flood of logins then slows logins, not the station.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace api {

class PasswordWork {
  public:
    /// `threads` ≥ 1 hashing threads; at most `max_waiting` requests queued behind them.
    PasswordWork(int threads, std::size_t max_waiting);
    ~PasswordWork();
    PasswordWork(const PasswordWork&) = delete;
    PasswordWork& operator=(const PasswordWork&) = delete;

    /// verify_password(password, stored) on the pool; nullopt if too many are waiting.
    std::optional<bool> verify(const std::string& password, const std::string& stored);
    /// hash_password(password, iterations) on the pool; nullopt if too many are waiting.
    std::optional<std::string> hash(const std::string& password, int iterations);

  private:
    /// Runs `job` on the pool and waits for it; false if it was refused.
    bool run(const std::function<void()>& job);
    void work();

    std::size_t max_waiting_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> waiting_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace api
