#include "contract/topics.hpp"

#include <stdexcept>

namespace contract {

namespace {

constexpr std::string_view channel_name(PileChannel c) {
    switch (c) {
        case PileChannel::Status:
            return "status";
        case PileChannel::Telemetry:
            return "telemetry";
        case PileChannel::Events:
            return "events";
        case PileChannel::Commands:
            return "commands";
        case PileChannel::Acks:
            return "acks";
    }
    return "";
}

std::string join(std::string_view a, std::string_view b) {
    std::string s;
    s.reserve(kRoot.size() + a.size() + b.size() + 2);
    s.append(kRoot).append("/").append(a);
    if (!b.empty()) {
        s.append("/").append(b);
    }
    return s;
}

}  // namespace

std::string pile_topic(std::string_view pile, PileChannel channel) {
    return join("piles/" + std::string(pile), channel_name(channel));
}

std::string all_piles(PileChannel channel) {
    return join("piles/+", channel_name(channel));
}

std::string station_state_topic() {
    return join("station", "state");
}
std::string station_clock_topic() {
    return join("station", "clock");
}
std::string station_changes_topic() {
    return join("station", "changes");
}
std::string scheduler_requests_topic() {
    return join("scheduler", "requests");
}
std::string replies_topic(std::string_view client) {
    return join("replies", client);
}

bool is_replies_topic(std::string_view topic) {
    static const std::string prefix = std::string(kRoot) + "/replies/";
    return topic.size() > prefix.size() && topic.substr(0, prefix.size()) == prefix &&
           valid_topic_id(topic.substr(prefix.size()));
}

std::optional<PileTopic> parse_pile_topic(std::string_view topic) {
    static const std::string prefix = std::string(kRoot) + "/piles/";
    if (topic.substr(0, prefix.size()) != prefix) {
        return std::nullopt;
    }
    topic.remove_prefix(prefix.size());
    const auto slash = topic.find('/');
    if (slash == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view pile = topic.substr(0, slash);
    const std::string_view name = topic.substr(slash + 1);
    if (!valid_topic_id(pile)) {
        return std::nullopt;
    }
    for (PileChannel c : {PileChannel::Status, PileChannel::Telemetry, PileChannel::Events,
                          PileChannel::Commands, PileChannel::Acks}) {
        if (name == channel_name(c)) {
            return PileTopic{std::string(pile), c};
        }
    }
    return std::nullopt;
}

std::string at_centre(std::string_view station, std::string_view topic) {
    if (topic.substr(0, kRoot.size()) != kRoot ||
        (topic.size() > kRoot.size() && topic[kRoot.size()] != '/')) {
        throw std::invalid_argument("not a topic of the station's tree: " + std::string(topic));
    }
    if (station.empty()) {
        return std::string(topic);
    }
    if (!valid_topic_id(station)) {
        throw std::invalid_argument("not a station id: '" + std::string(station) + "'");
    }
    std::string out;
    out.reserve(topic.size() + station.size() + 10);
    out.append(kRoot).append("/stations/").append(station).append(topic.substr(kRoot.size()));
    return out;
}

bool valid_topic_id(std::string_view id) {
    if (id.empty() || id.size() > 64) {
        return false;
    }
    for (char c : id) {
        if (c == '/' || c == '+' || c == '#' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
            return false;
        }
    }
    return true;
}

}  // namespace contract
