#pragma once
/// @file The scheduler service's logic, without a broker: MQTT messages in, messages to
/// publish out, the wall clock passed in. It runs the station core on the bus: consumes
/// pile status, telemetry and events, sends commands to piles, answers requests, keeps
/// the station clock and publishes the station state and bills. `main` wires it to Paho.
/// It orchestrates the pieces included below, each with one responsibility: the piles'
/// links (PileLinks), the request protocol (RequestIntake), the journal (JournalKeeper),
/// the change log (ChangeLog), the state's pacing (StatePacing), what is published
/// (Outbox) and the drop warnings (DropLog).

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "contract/journal.hpp"
#include "contract/messages.hpp"
#include "contract/publication.hpp"
#include "service/change_log.hpp"
#include "service/drop_log.hpp"
#include "service/journal_keeper.hpp"
#include "service/outbox.hpp"
#include "service/pile_links.hpp"
#include "service/request_intake.hpp"
#include "service/snapshot_file.hpp"
#include "service/state_pacing.hpp"
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

struct SchedulerOptions {
    ClockConfig clock;
    /// Distinguishes this process's command ids from an earlier one's.
    std::string boot = "s";
    /// Names this station's order and bill ids on the bus (they count from 0); a journal
    /// keeps it across restarts, so ids go on meaning the same orders.
    std::string run = "s";
    /// Every command the station takes (requests, pile reports, the clock) is journaled
    /// here before it is applied, with the id of the request that brought it, and so is
    /// the time the station advanced to before any change that time brought is published:
    /// whatever a reader was told comes back after a crash. None = the station lives in
    /// memory only.
    JournalFn journal;
    /// An earlier run's journal lines to resume from (empty = a fresh start). The station is
    /// rebuilt by replaying them (the core is deterministic), with its run, clock, change
    /// log positions, answers to recent requests and the piles' sessions, before anything
    /// new is taken.
    std::vector<std::string> resume;
    /// The latest snapshot (with `resume`, the journal lines after its start line): the
    /// station is restored from it and only the lines it does not cover are replayed.
    std::optional<Snapshot> snapshot;
    /// Takes a snapshot every `snapshot_every` journal lines (0 = never), so that the
    /// journal and a restart's replay stay bounded.
    SnapshotFn save_snapshot;
    std::int64_t snapshot_every = 100000;
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
    SchedulerApp(station::Profile profile, SchedulerOptions options, std::int64_t wall_ms,
                 LogFn log);

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
    /// The change log's position: the last change published (or to be published).
    std::int64_t log_position() const { return changes_.head(); }
    const std::string& run() const { return options_.run; }
    station::TimeMs station_time(std::int64_t wall_ms) const { return clock_.now(wall_ms); }
    /// Counters for monitoring and tests, since the process started.
    struct Stats {
        std::int64_t messages = 0;
        std::int64_t dropped = 0;
        std::int64_t commands_sent = 0;
        std::int64_t bills = 0;
        std::int64_t requests_done = 0;       ///< carried out and answered ok
        std::int64_t requests_refused = 0;    ///< answered with a refusal
        std::int64_t requests_repeated = 0;   ///< answered again, not carried out again
        std::int64_t requests_expired = 0;    ///< past their deadline, not carried out
        std::int64_t requests_malformed = 0;  ///< dropped
        std::int64_t commands_refused = 0;    ///< pile commands a pile acknowledged as failed
    };
    const Stats& stats() const { return stats_; }
    /// The station's present figures, for monitoring (station-scheduler --metrics).
    struct Figures {
        std::array<int, 4> piles_by_state{};  ///< indexed by station::PileState
        int piles_online = 0;                 ///< whose latest status said online
        int waiting = 0;                      ///< cars in the waiting area
        int queued = 0;                       ///< cars in the piles' queues (charging included)
        int charging = 0;                     ///< piles with a session under way
        std::int64_t journal_lines = 0;       ///< the run's journal lines (0 without a journal)
        std::int64_t log_position = 0;        ///< the change log's head
        std::int64_t bills = 0;               ///< bills of the run (a resumed run's included)
        std::int64_t billed_cents = 0;        ///< their fees, each to the cent as a bill shows it
    };
    /// O(piles + bills made since the last call).
    Figures figures();

  private:
    /// The pile ended the station's current session there on its own: the car's order ends.
    void session_ended_at_pile(station::PileIndex p, const contract::PileEvent& m);
    /// Logs where the pile's meter for a session differs from its bill.
    void reconcile(const std::string& pile, const contract::PileEvent& m, station::BillId bill);
    void handle_pile(std::string_view topic, std::string_view pile, int channel,
                     std::string_view payload, std::int64_t wall_ms);
    void check_offline(std::int64_t wall_ms);
    void handle_request(std::string_view payload, std::int64_t wall_ms);
    contract::SchedulerReply apply(const contract::SchedulerRequest& req, std::int64_t wall_ms);
    /// Parses a pile's message and checks it names the topic's pile; drops it if not.
    template <typename Message>
    bool read(std::string_view payload, std::string_view pile, std::string_view topic, Message& m);
    void drop(std::string_view why, std::string_view topic);
    void advance(std::int64_t wall_ms);
    /// Takes the station's events: sends the pile commands they call for, gives each
    /// change its log position and publishes them as one batch on station/changes.
    void flush_events();
    contract::OrderUpdate order_update(station::OrderId id) const;
    /// The station/state document: the station, its run and log head.
    nlohmann::json state_document() const;
    /// RequestOp::Reset: the pile's charger is sent a `reset` command (not journaled).
    contract::SchedulerReply reset_pile(const contract::SchedulerRequest& req);
    /// A station command on a pile, as a journal entry.
    contract::JournalEntry pile_command_entry(station::CommandOp op, station::PileIndex p,
                                              bool offline = false,
                                              station::TimeMs duration = 0) const;
    /// Journals a station command (unless replaying), applies it at station time and
    /// flushes its events.
    station::Outcome act(contract::JournalEntry entry);
    void resume(std::int64_t wall_ms);
    /// Restores what the snapshot holds; returns the clock it had (time, speed).
    std::pair<station::TimeMs, double> restore(Snapshot snapshot);
    /// Takes a snapshot when enough journal lines were written since the last one.
    void maybe_snapshot();
    contract::JournalStart start_line(std::int64_t base) const;
    std::vector<std::string> pile_ids() const;
    void resume_session(station::PileIndex p);
    void journal_clock(std::int64_t wall_ms, const std::string& request);
    /// The reply with the run and the log position after it.
    contract::SchedulerReply stamped(contract::SchedulerReply r) const;
    contract::SchedulerReply command_reply(station::CommandOp op, const station::Outcome& o) const;
    contract::SchedulerReply clock_reply(station::TimeMs at, double speed) const;
    /// Whether readers should see an unchanged state again: the clock runs and a pile
    /// charges, so energy and fees grow.
    bool state_moving() const;
    void command(station::PileIndex p, contract::PileCommand cmd);
    void publish_clock(std::int64_t wall_ms);
    void publish_state(std::int64_t wall_ms);
    void log(std::string_view level, std::string_view message) const;

    station::Station station_;
    SchedulerOptions options_;
    station::SimulatedClock clock_;
    LogFn log_;
    JournalKeeper journal_;
    StatePacing state_;
    PileLinks links_;
    Outbox out_;
    DropLog drops_;
    std::int64_t last_wall_ = 0;
    const std::string requests_topic_;
    ChangeLog changes_;
    station::TimeMs start_at_ = 0;  // the station time the run started at
    RequestIntake requests_;
    Stats stats_;
    std::size_t bills_summed_ = 0;  // bills whose fees are in billed_cents_
    std::int64_t billed_cents_ = 0;
};

}  // namespace service
