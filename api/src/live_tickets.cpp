#include "api/live_tickets.hpp"

#include <algorithm>

#include "api/passwords.hpp"

namespace api {

LiveTickets::LiveTickets(std::int64_t lifetime_s, std::size_t max_outstanding)
    : lifetime_s_(lifetime_s), max_outstanding_(std::max<std::size_t>(1, max_outstanding)) {}

std::string LiveTickets::issue(const TokenClaims& claims, std::int64_t now_s, std::string station) {
    std::string ticket = random_hex(24);
    std::lock_guard lock(mutex_);
    if (held_.size() >= max_outstanding_) {
        prune(now_s);
    }
    held_[ticket] = Held{claims, now_s + lifetime_s_, ++serial_, std::move(station)};
    return ticket;
}

std::optional<LiveTickets::Redeemed> LiveTickets::redeem(const std::string& ticket,
                                                         std::int64_t now_s) {
    std::lock_guard lock(mutex_);
    const auto it = held_.find(ticket);
    if (it == held_.end()) {
        return std::nullopt;
    }
    const Held held = it->second;
    held_.erase(it);
    if (held.expires_s < now_s || held.claims.expires_s <= now_s) {
        return std::nullopt;
    }
    return Redeemed{held.claims, held.station};
}

void LiveTickets::prune(std::int64_t now_s) {
    for (auto it = held_.begin(); it != held_.end();) {
        it = it->second.expires_s < now_s ? held_.erase(it) : std::next(it);
    }
    while (held_.size() >= max_outstanding_) {
        const auto oldest = std::min_element(held_.begin(), held_.end(), [](auto& a, auto& b) {
            return a.second.serial < b.second.serial;
        });
        held_.erase(oldest);
    }
}

}  // namespace api
