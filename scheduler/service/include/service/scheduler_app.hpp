#pragma once
/// @file The scheduler service's logic, without a broker: MQTT messages in, messages to
/// publish out, the wall clock passed in. It runs the station core on the bus: consumes
/// pile status, telemetry and events, sends commands to piles, answers requests, keeps
/// the station clock and publishes the station state and bills. `main` wires it to Paho.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "contract/messages.hpp"
#include "contract/publication.hpp"
#include "station/clock.hpp"
#include "station/station.hpp"

namespace service {

/// How the station clock runs (station-rules §7).
struct ClockConfig {
    bool simulated = false;        ///< false: wall time shifted by the UTC offset
    station::TimeMs start = 0;     ///< simulated: station time at start-up
    double speed = 1;              ///< simulated: station seconds per wall second (0 = stopped)
    int utc_offset_minutes = 480;  ///< production: station local time = UTC + offset
};

/// Appends one line to durable storage and returns once it is there (throws if it cannot).
using JournalFn = std::function<void(const std::string& line)>;

struct SchedulerOptions {
    ClockConfig clock;
    /// Distinguishes this process's command ids from an earlier one's.
    std::string boot = "s";
    /// Names this station's order and bill ids on the bus (they count from 0); a journal
    /// keeps it across restarts, so ids go on meaning the same orders.
    std::string run = "s";
    /// Every command the station takes (requests, pile reports, the clock) is journaled
    /// here before it is applied; none = the station lives in memory only.
    JournalFn journal;
    /// An earlier run's journal lines to resume from (empty = a fresh start). The station is
    /// rebuilt by replaying them (the core is deterministic), with its run, clock and the
    /// piles' sessions, before anything new is taken.
    std::vector<std::string> resume;
    /// Minimum wall time between two retained station/state publications.
    std::int64_t state_interval_ms = 200;
    /// While a pile charges and the clock runs, the state is published again at least this
    /// often (wall ms), so that readers see energy and fees grow; 0 = only on changes.
    std::int64_t state_refresh_ms = 1000;
    /// |meter - model| above this (kWh) is logged when a session's bill is made.
    double reconcile_tolerance_kwh = 0.05;
    /// A pile that went offline (its last will) counts as faulty only if it is not back
    /// within this much wall time: a charger keeps charging through a network blip or a
    /// broker restart, and its session must not be cut for it.
    std::int64_t offline_grace_ms = 10000;
};

/// Log sink: level ("info", "warn") and message.
using LogFn = std::function<void(std::string_view level, std::string_view message)>;

class SchedulerApp {
public:
    SchedulerApp(station::Profile profile, SchedulerOptions options, std::int64_t wall_ms, LogFn log);

    /// The topic filters to subscribe to, with their QoS.
    static std::vector<std::pair<std::string, int>> subscriptions();

    /// Handles one inbound message. Every payload is untrusted: a bad, unknown or replayed
    /// one is logged and dropped and changes nothing.
    void on_message(std::string_view topic, std::string_view payload, std::int64_t wall_ms);
    /// Brings the station up to the clock: runs what became due, sends the resulting
    /// commands, publishes bills and (at most every state_interval_ms) the state.
    void tick(std::int64_t wall_ms);
    /// After (re)connecting: publishes the retained clock and state again, and restarts
    /// the grace period of piles that were offline.
    void on_connected(std::int64_t wall_ms);
    /// The broker is gone: cut off, the scheduler cannot tell an offline pile from its own
    /// outage, so no pile's grace period runs out until it is back.
    void on_connection_lost();
    /// Wall time at which something is next due (an internal event or a pending state
    /// publication), for the caller's sleep; nullopt if nothing is.
    std::optional<std::int64_t> next_due_wall_ms(std::int64_t wall_ms) const;
    /// Messages to publish, oldest first.
    std::vector<contract::Publication> take_publications();

    const station::Station& station() const { return station_; }
    station::TimeMs station_time(std::int64_t wall_ms) const { return clock_.now(wall_ms); }
    /// Counters for monitoring and tests.
    struct Stats {
        std::int64_t messages = 0;
        std::int64_t dropped = 0;
        std::int64_t commands_sent = 0;
        std::int64_t bills = 0;
    };
    const Stats& stats() const { return stats_; }

private:
    struct PileLink {
        bool online = false;
        std::optional<std::int64_t> offline_since;  // wall time of its last will, until back
        bool fault_from_disconnect = false;
        std::string session;       // the session the pile was told to run
        bool session_resumed = false;  // ... told again after the pile restarted
        bool ended_resumed = false;
        std::string ended_session; // the last session the station ended here ...
        station::BillId ended_bill = station::kNone;  // ... and its bill, for reconciliation
        std::string boot;          // de-duplication of the pile's messages
        // Last sequence number seen per channel (telemetry, events): MQTT keeps order
        // within a topic only, so a QoS 1 event may arrive after later QoS 0 telemetry.
        std::int64_t last_seq[2] = {-1, -1};
    };

    void handle_pile(std::string_view topic, std::string_view pile, int channel, std::string_view payload,
                     std::int64_t wall_ms);
    void check_offline(std::int64_t wall_ms);
    void handle_request(std::string_view payload, std::int64_t wall_ms);
    contract::SchedulerReply apply(const contract::SchedulerRequest& req, std::int64_t wall_ms);
    /// Parses a pile's message and checks it names the topic's pile; drops it if not.
    template <typename Message>
    bool read(std::string_view payload, std::string_view pile, std::string_view topic, Message& m);
    /// Whether a pile's message on `channel` (0 telemetry, 1 events) is new, not a replay.
    bool fresh(PileLink& link, int channel, const contract::Origin& origin);
    void drop(std::string_view why, std::string_view topic);
    void advance(std::int64_t wall_ms);
    void flush_events();
    /// An order as published on station/orders and in order replies.
    nlohmann::json order_update(station::OrderId id) const;
    /// Journals a station command (unless replaying) and applies it at station time.
    station::Outcome act(nlohmann::json command);
    station::Outcome apply_command(const nlohmann::json& command);
    void resume(std::int64_t wall_ms);
    nlohmann::json pile_ids() const;
    void resume_session(station::PileIndex p);
    void journal_clock(std::int64_t wall_ms);
    bool charging() const;
    bool state_due(std::int64_t wall_ms) const;
    void command(station::PileIndex p, contract::PileCommand cmd);
    void publish_clock(std::int64_t wall_ms);
    void publish_state(std::int64_t wall_ms);
    void log(std::string_view level, std::string_view message) const;

    station::Station station_;
    SchedulerOptions options_;
    station::SimulatedClock clock_;
    LogFn log_;
    std::vector<PileLink> links_;
    std::vector<contract::Publication> out_;
    bool connected_ = false;
    // Drop warnings are limited to a few per second, so a flood of junk is no log flood.
    std::int64_t drop_log_second_ = 0;
    int drop_logs_this_second_ = 0;
    std::int64_t drops_not_logged_ = 0;
    std::int64_t last_wall_ = 0;
    int offline_pending_ = 0;  // piles whose grace period is running
    const std::string requests_topic_;
    std::int64_t command_seq_ = 0;
    bool replaying_ = false;
    std::int64_t revision_ = 0;
    std::int64_t published_revision_ = -1;
    std::int64_t last_state_wall_ = 0;
    // Replies to recent requests by id, so a repeated request is answered, not re-applied.
    std::unordered_map<std::string, std::string> recent_replies_;
    std::deque<std::string> recent_order_;
    Stats stats_;
};

}  // namespace service
