#include "api/login_guard.hpp"

#include <algorithm>

namespace api {

namespace {

// How many of the oldest entries a full table looks through for one it may drop: bounded
// work per failure, whatever the table holds.
constexpr int kEvictionScan = 64;

}  // namespace

std::string LoginGuard::pair_key(const std::string& account, const std::string& address) {
    return account + '\n' + address;
}

std::string LoginGuard::address_key(const std::string& address) {
    return '\n' + address;
}

std::int64_t LoginGuard::wait_locked(const std::string& key, std::int64_t now_s) const {
    const auto it = entries_.find(key);
    return it == entries_.end() || it->second.locked_until <= now_s
               ? 0
               : it->second.locked_until - now_s;
}

std::int64_t LoginGuard::wait_s(const std::string& account, const std::string& address,
                                std::int64_t now_s) {
    std::lock_guard lock(mutex_);
    return std::max(wait_locked(pair_key(account, address), now_s),
                    wait_locked(address_key(address), now_s));
}

void LoginGuard::failed(const std::string& account, const std::string& address,
                        std::int64_t now_s) {
    std::lock_guard lock(mutex_);
    count_failure(pair_key(account, address), limits_.free_failures, now_s);
    count_failure(address_key(address), limits_.address_free_failures, now_s);
}

void LoginGuard::succeeded(const std::string& account, const std::string& address) {
    std::lock_guard lock(mutex_);
    if (const auto it = entries_.find(pair_key(account, address)); it != entries_.end()) {
        by_age_.erase(it->second.age);
        entries_.erase(it);
    }
}

std::size_t LoginGuard::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

void LoginGuard::count_failure(const std::string& key, int free_failures, std::int64_t now_s) {
    auto it = entries_.find(key);
    if (it == entries_.end()) {
        if (entries_.size() >= limits_.max_entries && !make_room(now_s)) {
            return;
        }
        it = entries_.emplace(key, Entry{}).first;
        it->second.age = by_age_.insert(by_age_.end(), key);
    } else {
        by_age_.splice(by_age_.end(), by_age_, it->second.age);
    }
    Entry& e = it->second;
    ++e.failures;
    if (e.failures > free_failures) {
        std::int64_t lock_s = limits_.first_lock_s;
        for (int i = free_failures + 1; i < e.failures && lock_s < limits_.max_lock_s; ++i) {
            lock_s *= 2;
        }
        e.locked_until = now_s + std::min(lock_s, limits_.max_lock_s);
    }
}

bool LoginGuard::make_room(std::int64_t now_s) {
    int scanned = 0;
    for (auto age = by_age_.begin(); age != by_age_.end() && scanned < kEvictionScan;
         ++age, ++scanned) {
        const auto it = entries_.find(*age);
        if (it->second.locked_until <= now_s) {
            by_age_.erase(age);
            entries_.erase(it);
            return true;
        }
    }
    return false;
}

}  // namespace api
