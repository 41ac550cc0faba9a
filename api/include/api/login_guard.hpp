#pragma once
/// @file Slows password guessing: after a few failed logins an account is locked for a
/// while, doubling with each further failure. Time is an input, so the rule is tested
/// without waiting. Thread-safe.

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace api {

class LoginGuard {
  public:
    /// `free_failures` failures in a row are allowed; the next locks the account for
    /// `first_lock_s`, each further one for twice as long, at most `max_lock_s`.
    explicit LoginGuard(int free_failures = 5, std::int64_t first_lock_s = 60,
                        std::int64_t max_lock_s = 900)
        : free_failures_(free_failures), first_lock_s_(first_lock_s), max_lock_s_(max_lock_s) {}

    /// Seconds before `key` may try again; 0 = now.
    std::int64_t wait_s(const std::string& key, std::int64_t now_s) {
        std::lock_guard lock(mutex_);
        const auto it = accounts_.find(key);
        return it == accounts_.end() || it->second.locked_until <= now_s
                   ? 0
                   : it->second.locked_until - now_s;
    }
    void failed(const std::string& key, std::int64_t now_s) {
        std::lock_guard lock(mutex_);
        if (accounts_.size() >= kMaxAccounts && accounts_.find(key) == accounts_.end()) {
            accounts_.clear();  // a flood of made-up accounts must not grow memory without end
        }
        Account& a = accounts_[key];
        ++a.failures;
        if (a.failures > free_failures_) {
            std::int64_t lock_s = first_lock_s_;
            for (int i = free_failures_ + 1; i < a.failures && lock_s < max_lock_s_; ++i) {
                lock_s *= 2;
            }
            a.locked_until = now_s + std::min(lock_s, max_lock_s_);
        }
    }
    void succeeded(const std::string& key) {
        std::lock_guard lock(mutex_);
        accounts_.erase(key);
    }

  private:
    static constexpr std::size_t kMaxAccounts = 100000;
    struct Account {
        int failures = 0;
        std::int64_t locked_until = 0;
    };
    std::mutex mutex_;
    std::unordered_map<std::string, Account> accounts_;
    int free_failures_;
    std::int64_t first_lock_s_;
    std::int64_t max_lock_s_;
};

}  // namespace api
