#pragma once
/// @file Tickets for the live streams (GET /admin/index/live, /client/index/live): a browser's
/// EventSource cannot send the `token` header, and a token in a URL would end up in access
/// logs, proxies and the browser's history for its whole lifetime (a day). So the page
/// trades its token (in the header, as everywhere) for a ticket: random, single-use, valid
/// for a few seconds, naming the token's account and expiry. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "api/tokens.hpp"

namespace api {

class LiveTickets {
  public:
    /// Tickets live `lifetime_s` seconds; at most `max_outstanding` are held (beyond, the
    /// expired ones are dropped, then the oldest).
    explicit LiveTickets(std::int64_t lifetime_s = 30, std::size_t max_outstanding = 10000);

    /// What a ticket lets in: the verified claims of the token it was traded for, and the
    /// station the stream is about ("" for the first one served).
    struct Redeemed {
        TokenClaims claims;
        std::string station;
    };
    /// A new ticket for the verified `claims`, for a stream about `station`.
    std::string issue(const TokenClaims& claims, std::int64_t now_s, std::string station = {});
    /// What an unexpired, unused ticket lets in (the ticket is used up); nullopt otherwise.
    std::optional<Redeemed> redeem(const std::string& ticket, std::int64_t now_s);
    std::int64_t lifetime_s() const { return lifetime_s_; }

  private:
    struct Held {
        TokenClaims claims;
        std::int64_t expires_s = 0;
        std::uint64_t serial = 0;
        std::string station;
    };
    void prune(std::int64_t now_s);

    std::int64_t lifetime_s_;
    std::size_t max_outstanding_;
    std::mutex mutex_;
    std::unordered_map<std::string, Held> held_;
    std::uint64_t serial_ = 0;
};

}  // namespace api
