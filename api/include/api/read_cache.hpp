#pragma once
/// @file A small cache of read results in front of the database, for rows read on every
/// request (a user, a user's orders). Coherent because this process is the database's
/// only writer: each write forgets what it changed after it commits, and a result read
/// while a write was under way is not kept (the generation changed meanwhile).

#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace api {

template <typename Key, typename Value>
class ReadCache {
  public:
    explicit ReadCache(std::size_t max_entries = 100000) : max_entries_(max_entries) {}

    /// The cached value; on a miss, nullopt and `generation` to pass to put().
    std::optional<Value> get(const Key& key, std::int64_t& generation) {
        std::lock_guard lock(mutex_);
        if (const auto it = entries_.find(key); it != entries_.end()) {
            return it->second;
        }
        generation = generation_;
        return std::nullopt;
    }
    /// Keeps a value read from the database, unless something was forgotten since the
    /// matching get().
    void put(const Key& key, const Value& value, std::int64_t generation) {
        std::lock_guard lock(mutex_);
        if (generation != generation_) {
            return;
        }
        if (entries_.size() >= max_entries_) {
            entries_.clear();
        }
        entries_.insert_or_assign(key, value);
    }
    /// The cached value, or else what `load` reads (std::optional<Value>), kept if it found
    /// one.
    template <typename Load>
    std::optional<Value> get_or_load(const Key& key, Load&& load) {
        std::int64_t generation = 0;
        if (auto hit = get(key, generation)) {
            return hit;
        }
        std::optional<Value> found = load();
        if (found) {
            put(key, *found, generation);
        }
        return found;
    }
    void forget(const Key& key) {
        std::lock_guard lock(mutex_);
        entries_.erase(key);
        ++generation_;
    }
    void forget_all() {
        std::lock_guard lock(mutex_);
        entries_.clear();
        ++generation_;
    }

  private:
    std::mutex mutex_;
    std::unordered_map<Key, Value> entries_;
    std::int64_t generation_ = 0;
    std::size_t max_entries_;
};

}  // namespace api
