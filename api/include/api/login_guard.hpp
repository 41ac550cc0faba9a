#pragma once
/// @file Slows password guessing without letting anyone lock a user out (docs/security.md).
///
/// Failures count per account *and source address*: after `free_failures` failures in a
/// row, that pair waits `first_lock_s`, twice as long after each further failure, at most
/// `max_lock_s`. Someone guessing from elsewhere never locks the user out of their own
/// address. Failures also count per source address over all accounts, with a larger
/// allowance (`address_free_failures`), so one address cannot spray guesses over many
/// accounts. A success clears the pair's count.
///
/// Memory is bounded: at most `max_entries` entries. When full, the entry updated longest
/// ago that is not locked makes room; a locked entry is never dropped (so a flood of
/// made-up logins cannot lift a lock). If every entry is locked, a further failure is not
/// counted — reaching that takes `max_entries` × (free_failures + 1) failed logins, each
/// with the full password-hashing work, within the longest lock.
///
/// Time is an input, so every rule is tested without waiting. Thread-safe.

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace api {

struct LoginLimits {
    int free_failures = 5;
    std::int64_t first_lock_s = 60;
    std::int64_t max_lock_s = 900;
    int address_free_failures = 100;
    std::size_t max_entries = 100000;
};

class LoginGuard {
  public:
    explicit LoginGuard(LoginLimits limits = {}) : limits_(limits) {}

    /// Seconds before `account` may try again from `address`; 0 = now.
    std::int64_t wait_s(const std::string& account, const std::string& address, std::int64_t now_s);
    void failed(const std::string& account, const std::string& address, std::int64_t now_s);
    void succeeded(const std::string& account, const std::string& address);

    /// Entries held (for tests and metrics).
    std::size_t size() const;

  private:
    struct Entry {
        int failures = 0;
        std::int64_t locked_until = 0;
        std::list<std::string>::iterator age;  ///< its place in `by_age_`
    };
    static std::string pair_key(const std::string& account, const std::string& address);
    static std::string address_key(const std::string& address);
    std::int64_t wait_locked(const std::string& key, std::int64_t now_s) const;
    void count_failure(const std::string& key, int free_failures, std::int64_t now_s);
    bool make_room(std::int64_t now_s);

    LoginLimits limits_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
    std::list<std::string> by_age_;  ///< keys, least recently failed first
};

}  // namespace api
