#pragma once
/// @file The gateway's functional core: every registered charger's OCPP 1.6J session
/// (boot, one outstanding call each way with timeouts, connectors, transactions, meter
/// values, status notifications) and its connectors presented as piles on the station's
/// MQTT contract (status, telemetry, events, command acks). No I/O: the shell hands in
/// what arrived (WebSocket texts, connections, pile commands) with the time, and carries
/// out what `take_output` returns (frames to send, connections to close, publications).
/// docs/gateway.md describes the rules.

#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "contract/messages.hpp"
#include "contract/publication.hpp"
#include "gateway/charger_registry.hpp"
#include "gateway/command_acks.hpp"
#include "gateway/core_io.hpp"
#include "gateway/ocpp_frame.hpp"
#include "gateway/ocpp_messages.hpp"

namespace gateway {

/// A WebSocket connection, numbered by the shell (never reused).
using ConnectionId = std::int64_t;

struct GatewayOptions {
    /// The bus identity of this run (PileStatus/Telemetry/PileEvent `boot`): new per start.
    std::string boot = "g0";
    std::int64_t heartbeat_interval_s = 300;
    /// Set on each charger after its boot is accepted (ChangeConfiguration) unless its
    /// configuration, read first (GetConfiguration), has it already; 0 = not set.
    std::int64_t meter_value_sample_interval_s = 10;
    /// How long a call to a charger may go unanswered.
    std::int64_t call_timeout_ms = 30'000;
    /// The first transaction id handed out (vary it per run so that ids of an earlier run
    /// still held by a charger are not reused).
    std::int64_t first_transaction_id = 1;
    /// A connected charger that has not booted (in this run) within this time is asked to
    /// (TriggerMessage BootNotification): a charger that did not restart does not boot again.
    std::int64_t boot_wait_ms = 5'000;
    /// Calls waiting per charger behind the outstanding one; more are refused.
    std::size_t max_queued_calls = 64;
    /// The `interval` of a BootNotification answered Pending: when the charger boots again.
    std::int64_t pending_retry_s = 10;
};

/// How a call to a charger ended.
enum class CallOutcome {
    Accepted,      ///< answered Accepted (ChangeAvailability: or Scheduled; a configuration read)
    Rejected,      ///< answered with another status (Rejected, NotSupported, ...)
    Error,         ///< answered with a CALLERROR, or with an answer that is not valid
    Timeout,       ///< not answered within the call timeout
    Disconnected,  ///< its charger's connection closed (or was replaced) first
    Refused        ///< never sent: too many calls were waiting for the charger
};
/// "accepted", "rejected", "error", "timeout", "disconnected", "refused".
std::string_view to_string(CallOutcome o);

/// A call to a charger that ended (for the shell's metrics).
struct FinishedCall {
    std::string action;
    CallOutcome outcome = CallOutcome::Accepted;
    /// From its sending to its answer or timeout; none if it was never sent or its
    /// connection went first.
    std::optional<std::int64_t> duration_ms;
};

/// What the shell must do, in order; and what happened, for its metrics.
struct Output {
    std::vector<std::pair<ConnectionId, std::string>> frames;
    std::vector<ConnectionId> closes;
    std::vector<contract::Publication> publications;
    std::vector<LogLine> log;
    /// The action of each CALL a charger sent (repeats too).
    std::vector<std::string> calls_received;
    /// A charger's frames refused: malformed or too large, or a CALL answered with a
    /// CALLERROR (an unknown action, an invalid payload, a call before its boot).
    std::size_t frames_refused = 0;
    std::vector<FinishedCall> calls_finished;
    std::vector<AckedCommand> acked;
};

/// The gateway's state in numbers (for the shell's metrics).
struct GatewayStats {
    std::size_t chargers_connected = 0;
    std::size_t chargers_booted = 0;  ///< connected, their boot accepted
    std::size_t calls_outstanding = 0;
    std::size_t calls_waiting = 0;  ///< queued behind the outstanding one, all chargers
    PileCounts piles;
};

/// A pile as the gateway sees it (for tests and logs).
struct PileView {
    bool online = false;
    station::PileState state = station::PileState::Rest;
    std::string session;
    std::optional<std::int64_t> transaction;
    double energy_kwh = 0;
    std::string ocpp_status;
};

class Gateway {
  public:
    Gateway(Registry registry, GatewayOptions options);

    const Registry& registry() const { return registry_; }
    /// Every pile of every charger, in registry order.
    std::vector<std::string> pile_ids() const;
    /// {pile, online: false}, retained: the pile's MQTT last will, and what is published
    /// when its charger disconnects.
    contract::Publication offline_status(std::string_view pile) const;

    /// A charger whose credentials the shell checked is connected on `conn`. An earlier
    /// connection of the same charger is closed.
    void on_connected(ConnectionId conn, std::string_view identity, Now now);
    /// A text message on `conn`.
    void on_text(ConnectionId conn, std::string_view text, Now now);
    /// `conn` is gone.
    void on_closed(ConnectionId conn, Now now);
    /// A command from the scheduler for `pile` (already parsed from its topic).
    void on_command(std::string_view pile, const contract::PileCommand& cmd, Now now);
    /// The pile's MQTT link (re)connected: its status is published again, and a charger
    /// whose boot was answered Pending while it was down is asked to boot again
    /// (TriggerMessage BootNotification) once all its piles' links are up.
    void on_bus_connected(std::string_view pile, Now now);
    /// The pile's MQTT link is down (or not up yet): the station cannot hear the pile, so
    /// a BootNotification of its charger is answered Pending until it is up again.
    /// Links are taken as up until this is called.
    void on_bus_lost(std::string_view pile, Now now);
    /// Timeouts: calls unanswered, starts deferred too long.
    void tick(Now now);
    /// Wall time of the next timeout, if any.
    std::optional<std::int64_t> next_due() const;

    Output take_output();
    std::optional<PileView> view(std::string_view pile) const;
    bool booted(std::string_view identity) const;
    GatewayStats stats() const;

  private:
    struct Session {
        std::string id;
        std::int64_t order = 0;
        double target_kwh = 0;
        std::string id_tag;
        std::optional<std::int64_t> transaction;
        double meter_start_kwh = 0;
        double energy_kwh = 0;
        double power_kw = 0;
        bool stop_sent = false;
        std::string stop_reason;  ///< why the gateway asked the charger to stop
    };
    struct Connector {
        ConnectorSpec spec;
        std::string ocpp_status;
        std::optional<std::int64_t> status_time;
        bool operative = true;
        bool faulted = false;
        std::optional<Session> session;
        std::optional<contract::PileCommand> deferred_start;
        std::int64_t deferred_since = 0;
        std::int64_t seq = 0;
        std::string published;  ///< the last status published (online/state/session)
        bool bus_up = true;     ///< the pile's MQTT link
    };
    enum class Purpose { None, Start, Stop, StopForTarget, Availability, Configuration, Reset };
    struct Call {
        std::string id;
        std::string action;
        nlohmann::json payload;
        Purpose purpose = Purpose::None;
        std::size_t connector = 0;  ///< index into the charger's connectors
        std::string command_id;     ///< the pile command to acknowledge, "" if none
        bool operative = true;      ///< Availability: the type asked
        std::int64_t deadline = 0;
        std::optional<std::int64_t> sent_at;  ///< wall time it was sent
    };
    struct Charger {
        const ChargerSpec* spec = nullptr;
        std::optional<ConnectionId> conn;
        bool booted = false;
        bool pending = false;                         ///< its last boot was answered Pending
        std::optional<std::int64_t> boot_wait_until;  ///< when to ask for a boot
        std::optional<Call> outstanding;
        std::deque<Call> queue;
        std::string last_call_id;  ///< the last CALL answered, and its answer
        std::string last_answer;
        std::vector<Connector> connectors;
    };
    struct PileRef {
        std::size_t charger;
        std::size_t connector;
    };

    // charger -> gateway
    void handle_call(Charger& c, const Frame& f, Now now);
    nlohmann::json boot_notification(Charger& c, const nlohmann::json& p, Now now,
                                     std::optional<Frame>& error);
    void status_notification(Charger& c, const StatusNotificationReq& req, Now now);
    nlohmann::json start_transaction(Charger& c, const StartTransactionReq& req, Now now);
    nlohmann::json stop_transaction(Charger& c, const StopTransactionReq& req, Now now);
    void meter_values(Charger& c, const MeterValuesReq& req, Now now);
    void handle_answer(Charger& c, const Frame& f, Now now);
    void call_finished(Charger& c, const Call& call, CallOutcome outcome, const std::string& status,
                       const std::string& reason, Now now);
    /// Counts the call's end (Output::calls_finished).
    void record(const Call& call, CallOutcome outcome, Now now);
    /// The charger's configuration read after its boot (or not: null): logged, and the
    /// sample interval set where it differs.
    void configuration_read(Charger& c, const GetConfigurationConf* conf, Now now);

    // gateway -> charger
    void enqueue(Charger& c, Call call, Now now);
    void send_next(Charger& c, Now now);
    void send(ConnectionId conn, const Frame& f);
    void start_session(Charger& c, std::size_t k, const contract::PileCommand& cmd, Now now);

    // gateway -> bus
    void ack(const std::string& pile, const std::string& command_id, bool ok, std::string reason);
    void publish_status(Charger& c, std::size_t k, Now now, bool force = false);
    void publish_all(Charger& c, Now now, bool force = false);
    void event(Charger& c, std::size_t k, contract::PileEvent e, Now now);
    void end_session(Charger& c, std::size_t k, double energy_kwh,
                     const std::string& charger_reason, Now now);
    station::PileState pile_state(const Charger& c, const Connector& k) const;
    bool station_reachable(const Charger& c) const;

    void log(std::string level, std::string text);
    Charger* by_connection(ConnectionId conn);
    std::optional<std::size_t> connector_index(const Charger& c, std::int64_t connector_id) const;
    std::optional<std::size_t> connector_of_transaction(const Charger& c, std::int64_t tx) const;

    Registry registry_;
    GatewayOptions options_;
    std::vector<Charger> chargers_;
    std::map<std::string, PileRef, std::less<>> piles_;
    std::map<ConnectionId, std::size_t> connections_;
    std::int64_t next_call_id_ = 0;
    std::int64_t next_transaction_id_ = 1;
    /// Calls given up on (timeout): a late answer is recognised and ignored.
    std::set<std::string> timed_out_;
    std::deque<std::string> timed_out_order_;
    CommandAcks acks_;
    Output out_;
};

}  // namespace gateway
