#pragma once
/// @file The replies to recent requests that change the station, by request id, so that a
/// repeated request (a caller that did not hear the answer asks again under the same id) is
/// answered again instead of carried out twice. Memory is bounded: beyond its capacity the
/// oldest reply is forgotten.

#include <cstddef>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

namespace service {

class RecentReplies {
  public:
    /// How many replies the scheduler keeps.
    static constexpr std::size_t kDefaultCapacity = 65536;

    explicit RecentReplies(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

    /// The reply kept under `id`, or nullptr.
    const std::string* find(const std::string& id) const;
    /// Keeps `text` as the reply to `id` (the first reply kept under an id stays); beyond the
    /// capacity the oldest reply is forgotten.
    void remember(const std::string& id, std::string text);
    std::size_t size() const { return order_.size(); }

    /// The replies for a snapshot, oldest first: [[id, text], ...].
    nlohmann::json image() const;
    /// Adds the replies of image() after those kept already, as remember() would (an id
    /// kept already keeps its reply; the capacity holds); throws if it is malformed.
    void restore(const nlohmann::json& image);

  private:
    std::size_t capacity_;
    std::unordered_map<std::string, std::string> replies_;
    std::deque<std::string> order_;  // ids, oldest first
};

}  // namespace service
