#include "service/pile_links.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace service {

PileLinks::PileLinks(std::size_t piles, std::int64_t offline_grace_ms)
    : links_(piles), offline_grace_ms_(offline_grace_ms) {}

bool PileLinks::take_boot(PileLink& link, const std::string& boot) {
    if (boot == link.boot) {
        return false;
    }
    link.boot = boot;
    link.last_seq[kTelemetry] = link.last_seq[kEvents] = -1;
    return true;
}

bool PileLinks::fresh(std::size_t p, int channel, const contract::Origin& origin) {
    PileLink& link = links_[p];
    take_boot(link, origin.boot);
    std::int64_t& last = link.last_seq[channel];
    if (origin.seq <= last) {
        return false;
    }
    last = origin.seq;
    return true;
}

bool PileLinks::went_offline(std::size_t p, std::int64_t wall_ms) {
    PileLink& link = links_[p];
    const bool was_online = link.online;
    if (was_online) {
        if (!link.offline_since) {
            ++offline_pending_;
        }
        link.offline_since = wall_ms;
    }
    link.online = false;
    return was_online;
}

bool PileLinks::came_online(std::size_t p, const std::string& boot) {
    PileLink& link = links_[p];
    // Status is compared with the pile's other messages only through the boot id, so a
    // retained status is always taken.
    const bool known = !link.boot.empty();
    const bool restarted = take_boot(link, boot) && known;
    link.online = true;
    if (link.offline_since) {
        --offline_pending_;
        link.offline_since.reset();
    }
    return restarted;
}

void PileLinks::connected(std::int64_t wall_ms) {
    connected_ = true;
    for (PileLink& link : links_) {
        if (link.offline_since) {
            link.offline_since = wall_ms;
        }
    }
}

std::vector<std::size_t> PileLinks::take_expired(std::int64_t wall_ms) {
    std::vector<std::size_t> expired;
    if (!connected_ || offline_pending_ == 0) {
        return expired;
    }
    for (std::size_t p = 0; p < links_.size(); ++p) {
        PileLink& link = links_[p];
        if (link.offline_since && wall_ms - *link.offline_since >= offline_grace_ms_) {
            link.offline_since.reset();
            --offline_pending_;
            expired.push_back(p);
        }
    }
    return expired;
}

std::optional<std::int64_t> PileLinks::next_expiry(std::int64_t wall_ms) const {
    std::optional<std::int64_t> due;
    for (std::size_t i = 0; connected_ && offline_pending_ > 0 && i < links_.size(); ++i) {
        const PileLink& link = links_[i];
        if (link.offline_since) {
            const auto at = std::max(wall_ms, *link.offline_since + offline_grace_ms_);
            due = due ? std::min(*due, at) : at;
        }
    }
    return due;
}

void PileLinks::session_started(std::size_t p, std::string session) {
    links_[p].session = std::move(session);
}

void PileLinks::session_stopped(std::size_t p, station::BillId bill) {
    PileLink& link = links_[p];
    link.ended_session = std::move(link.session);
    link.ended_bill = bill;
    link.ended_resumed = link.session_resumed;
    link.session.clear();
    link.session_resumed = false;
}

nlohmann::json PileLinks::image() const {
    nlohmann::json links = nlohmann::json::array();
    for (const PileLink& l : links_) {
        links.push_back(
            nlohmann::json{{"session", l.session}, {"offline_fault", l.fault_from_disconnect}});
    }
    return links;
}

void PileLinks::restore(const nlohmann::json& image) {
    if (!image.is_array() || image.size() != links_.size()) {
        throw std::runtime_error("pile links of another station");
    }
    for (std::size_t p = 0; p < links_.size(); ++p) {
        links_[p].session = image[p].at("session").get<std::string>();
        links_[p].fault_from_disconnect = image[p].at("offline_fault").get<bool>();
    }
}

}  // namespace service
