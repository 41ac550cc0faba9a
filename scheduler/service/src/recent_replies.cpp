#include "service/recent_replies.hpp"

#include <stdexcept>
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
    if (!image.is_array()) {
        throw std::runtime_error("recent replies are not a list");
    }
    // Through remember(): a damaged or crafted image with an id twice or more replies than
    // the capacity cannot leave the list and the map out of step.
    for (const nlohmann::json& r : image) {
        remember(r.at(0).get<std::string>(), r.at(1).get<std::string>());
    }
}

}  // namespace service
