#pragma once
/// @file What the scheduler knows of each pile's link to it: whether the pile is online, the
/// grace period after its last will, which of its messages are new (its boot id and the last
/// sequence number per channel) and the sessions the station told it to run. No broker and
/// no clock: wall time is passed in.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "contract/messages.hpp"
#include "station/types.hpp"

namespace service {

/// One pile's link to the scheduler.
struct PileLink {
    bool online = false;                          ///< its latest status said online
    std::optional<std::int64_t> offline_since;    ///< wall time of its last will, until back
    bool fault_from_disconnect = false;           ///< faulty only because it went away
    std::string session;                          ///< the session the pile was told to run ...
    bool session_resumed = false;                 ///< ... told again after the pile restarted
    std::string ended_session;                    ///< the last session the station ended there ...
    station::BillId ended_bill = station::kNone;  ///< ... its bill, for reconciliation ...
    bool ended_resumed = false;                   ///< ... and whether it had been resumed
    std::string boot;  ///< the pile's boot id its sequence numbers belong to
    /// Last sequence number seen per channel (PileLinks::kTelemetry, kEvents): MQTT keeps
    /// order within a topic only, so a QoS 1 event may arrive after later QoS 0 telemetry.
    std::int64_t last_seq[2] = {-1, -1};
};

/// The links of all of a station's piles, by pile index.
class PileLinks {
  public:
    /// The channels whose messages carry sequence numbers.
    static constexpr int kTelemetry = 0;
    static constexpr int kEvents = 1;

    /// `piles` links, all offline; a pile offline for `offline_grace_ms` of wall time while
    /// the scheduler is connected is due to count as faulty.
    PileLinks(std::size_t piles, std::int64_t offline_grace_ms);

    std::size_t size() const { return links_.size(); }
    PileLink& operator[](std::size_t p) { return links_[p]; }
    const PileLink& operator[](std::size_t p) const { return links_[p]; }

    /// Whether a pile's message on `channel` is new, not a replay or one overtaken by a later
    /// one. A new boot id means the pile restarted: its sequences begin again.
    bool fresh(std::size_t p, int channel, const contract::Origin& origin);

    /// The pile's status says it is offline (its last will) at `wall_ms`. Returns whether it
    /// was online until now: then its grace period starts.
    bool went_offline(std::size_t p, std::int64_t wall_ms);
    /// The pile's status says it is online, from boot `boot`; its grace period (if any) ends.
    /// Returns whether it restarted: it had said another boot id before.
    bool came_online(std::size_t p, const std::string& boot);

    /// The scheduler (re)connected to the broker at `wall_ms`: the grace period of every pile
    /// still offline starts again, as the scheduler could not see it come back meanwhile.
    void connected(std::int64_t wall_ms);
    /// The broker is gone: no grace period runs out until it is back.
    void connection_lost() { connected_ = false; }

    /// The piles whose grace period has run out by `wall_ms` (in index order); they leave
    /// the grace period. None while disconnected.
    std::vector<std::size_t> take_expired(std::int64_t wall_ms);
    /// The wall time at which the next grace period runs out (not before `wall_ms`); nullopt
    /// if none runs.
    std::optional<std::int64_t> next_expiry(std::int64_t wall_ms) const;

    /// The station started a session on the pile and told it `session`.
    void session_started(std::size_t p, std::string session);
    /// The station stopped the pile's session, with `bill` (kNone: none): it becomes the
    /// pile's ended session.
    void session_stopped(std::size_t p, station::BillId bill);

    /// The links' part of a snapshot: each pile's session and whether it is faulty only for
    /// being offline, as [{"session", "offline_fault"}, ...].
    nlohmann::json image() const;
    /// Restores image(); throws if it is not one of this many piles.
    void restore(const nlohmann::json& image);

  private:
    /// Takes the pile's boot id; a new one starts its sequences again. Returns whether it
    /// differed.
    static bool take_boot(PileLink& link, const std::string& boot);

    std::vector<PileLink> links_;
    std::int64_t offline_grace_ms_;
    bool connected_ = false;
    int offline_pending_ = 0;  // piles whose grace period is running
};

}  // namespace service
