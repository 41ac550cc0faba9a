#include "service/recent_replies.hpp"

#include <utility>

namespace service {

const std::string* RecentReplies::find(const std::string& id) const {
    const auto it = replies_.find(id);
    return it == replies_.end() ? nullptr : &it->second;
}

void RecentReplies::remember(const std::string& id, std::string text) {
    if (replies_.emplace(id, std::move(text)).second) {
        order_.push_back(id);
    }
    if (order_.size() > capacity_) {
        replies_.erase(order_.front());
        order_.pop_front();
    }
}

nlohmann::json RecentReplies::image() const {
    nlohmann::json replies = nlohmann::json::array();
    for (const std::string& id : order_) {
        replies.push_back(nlohmann::json::array({id, replies_.at(id)}));
    }
    return replies;
}

void RecentReplies::restore(const nlohmann::json& image) {
    // As the snapshot kept them: no capacity check, as a snapshot holds at most as many.
    for (const nlohmann::json& r : image) {
        const std::string id = r.at(0).get<std::string>();
        replies_.emplace(id, r.at(1).get<std::string>());
        order_.push_back(id);
    }
}

}  // namespace service
