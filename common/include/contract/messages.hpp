#pragma once
/// @file One payload type per MQTT message, with its JSON form and validation
/// (docs/asyncapi.yaml documents each). Every `parse` treats its input as untrusted: it
/// never throws and returns "" or the reason the payload was refused. Unknown fields are
/// ignored, so a newer sender can add fields.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "contract/changes.hpp"
#include "station/types.hpp"

namespace contract {

using station::TimeMs;

/// Sender identity for de-duplication: `boot` changes each time the sender starts, `seq`
/// grows by one per message of that boot. A (boot, seq) seen before is a replay.
struct Origin {
    std::string boot;
    std::int64_t seq = 0;
};

/// Retained on piles/{pile}/status; the last will publishes {online: false}.
struct PileStatus {
    std::string pile;
    bool online = false;
    station::PileState state = station::PileState::Rest;  ///< meaningful when online
    station::Mode mode = station::Mode::Fast;
    double power_kw = 0;
    std::string session;  ///< the session in progress, "" if none
    TimeMs at_ms = 0;     ///< station time of the report
    Origin origin;
};

/// piles/{pile}/telemetry: the meter of the session in progress.
struct Telemetry {
    std::string pile;
    std::string session;
    std::int64_t order = 0;
    double energy_kwh = 0;  ///< delivered in this session so far
    double power_kw = 0;
    TimeMs at_ms = 0;
    Origin origin;
};

enum class PileEventType {
    SessionStarted,
    /// The session reached its target (the pile stopped it there).
    SessionFinished,
    /// The session stopped before its target because of the station (a stop or switch-off
    /// command) or of a fault the pile reports with fault_raised.
    SessionInterrupted,
    /// The pile ended the session on its own, before its target and without a fault: the
    /// car was unplugged or is full, or someone stopped it at the charger. The station
    /// ends the car's order as if the car had left (a real charger's case; station-gateway).
    SessionEndedAtPile,
    FaultRaised,
    FaultCleared
};

/// piles/{pile}/events: what happened at the pile.
struct PileEvent {
    std::string pile;
    PileEventType type = PileEventType::SessionStarted;
    std::string session;     ///< session events
    std::int64_t order = 0;  ///< session events
    double energy_kwh = 0;   ///< session events: the meter at that moment
    int fault_minutes = 0;   ///< fault_raised: 0 = until cleared
    std::string reason;
    TimeMs at_ms = 0;
    Origin origin;
};

enum class CommandType { Start, Stop, SwitchOn, SwitchOff, InjectFault, ClearFault, Reset };

/// How a charger restarts (OCPP 1.6 ResetType): `Soft` stops its transactions gracefully
/// and restarts its software; `Hard` restarts its hardware and may report the stop of a
/// transaction only after it booted again. JSON "soft" / "hard".
enum class ResetKind { Soft, Hard };

/// piles/{pile}/commands. `InjectFault`/`ClearFault` are for simulated piles only.
/// `Reset` restarts the charger the pile belongs to (every pile of that charger): a
/// session running there ends at the pile (`session_ended_at_pile`, reason `SoftReset` /
/// `HardReset`).
struct PileCommand {
    std::string id;  ///< unique; echoed in the acknowledgement
    CommandType type = CommandType::Start;
    std::string session;                ///< Start, Stop
    std::int64_t order = 0;             ///< Start
    double target_kwh = 0;              ///< Start: energy to deliver, > 0
    int fault_minutes = 0;              ///< InjectFault: 0 = until cleared
    ResetKind reset = ResetKind::Soft;  ///< Reset
};

/// piles/{pile}/acks: the answer to a command.
struct CommandAck {
    std::string id;
    std::string pile;
    bool ok = false;
    std::string reason;
};

/// station/clock (retained): station time `at_ms` when the wall clock read `wall_ms`
/// (UTC ms), running at `speed` (0 = stopped, stepped by hand); followers extrapolate.
struct ClockMessage {
    TimeMs at_ms = 0;
    double speed = 1;
    std::int64_t wall_ms = 0;
    bool simulated = false;
};

enum class RequestOp {
    Submit,
    Change,
    Cancel,
    Fault,
    Recover,
    SwitchOn,
    SwitchOff,
    /// Restart the pile's charger: published to the pile as a `Reset` command, not
    /// journaled (the station's model does not change; docs/decisions.md).
    Reset,
    ClockGet,
    ClockSet,
    ClockAdvance,
    State,
    Bills,
    Stats,
    Changes
};

/// Whether the operation acts on the station (and so is de-duplicated by its id and bound
/// by its deadline; all but `Reset`, which changes nothing in the model, are journaled);
/// the others only read.
bool changes_station(RequestOp op);

/// scheduler/requests: a request to the scheduler, answered on `reply_to`.
/// The most changes one `changes` answer carries.
inline constexpr std::int64_t kMaxChangesLimit = 5000;

struct SchedulerRequest {
    std::string id;
    std::string reply_to;  ///< must be a replies/{client} topic
    RequestOp op = RequestOp::State;
    std::string car;  ///< Submit, Change, Cancel
    /// Change, Cancel (optional): the order the caller means; refused unless it is the
    /// car's open order, so a change aimed at a finished order cannot hit a newer one.
    std::optional<std::int64_t> order;
    std::optional<station::Mode> mode;  ///< Submit (required), Change (optional)
    std::optional<double> kwh;          ///< Submit (required, > 0), Change (optional, > 0)
    std::string pile;                   ///< Fault, Recover, SwitchOn, SwitchOff, Reset
    ResetKind reset = ResetKind::Soft;  ///< Reset (required)
    int minutes = 0;                    ///< Fault: 0 = until recovered
    std::optional<TimeMs> time;         ///< ClockSet: "YYYY-MM-DD HH:MM:SS"
    std::optional<double> speed;        ///< ClockSet: >= 0
    std::int64_t advance_seconds = 0;   ///< ClockAdvance: > 0
    /// A change arriving at the scheduler after this wall time (UTC ms) is not carried
    /// out (answered `expired`), so a caller that gave up waiting can learn for certain
    /// that it never will be: asking again with the same id after the deadline answers
    /// the first outcome, or `expired`.
    std::optional<std::int64_t> expires_ms;
    std::string run;         ///< Changes (optional): the run the caller follows
    std::int64_t after = 0;  ///< Changes: the caller's position; answers what follows it
    std::int64_t limit = 0;  ///< Changes (optional): most items in the answer, 1..kMaxChangesLimit
};

/// replies/{client}: the scheduler's answer.
/// The data of a reply to clock_get, clock_set and clock_advance: the station time, its
/// speed, and whether the clock is simulated (settable) at all.
struct ClockReading {
    TimeMs at_ms = 0;
    double speed = 1;
    bool simulated = false;
};
/// {at_ms, time ("YYYY-MM-DD HH:MM:SS"), speed, simulated}.
nlohmann::json to_json_value(const ClockReading& m);
/// Reads a reply's data as a clock reading ("" or the reason it is not one).
std::string parse_value(const nlohmann::json& j, ClockReading& m);

struct SchedulerReply {
    std::string id;
    bool ok = false;
    std::string error;   ///< machine-readable code when !ok, e.g. "waiting_area_full"
    std::string reason;  ///< human-readable
    nlohmann::json data = nlohmann::json::object();
    /// Replies to changes: the scheduler's run and its log position after the request
    /// (a reader has seen the request's effects once it has applied up to `pos`).
    std::string run;
    std::int64_t pos = 0;
    /// Submit, Change, Cancel: the order as it stands after the request.
    std::optional<OrderUpdate> order;
    /// Changes: what follows the caller's position.
    std::optional<ChangeBatch> changes;
    /// `expired`: the deadline of the copy it answers (one id may be sent again with a
    /// later deadline; an answer to an earlier copy says nothing of the later one).
    std::optional<std::int64_t> expires_ms;
};

std::string to_json(const PileStatus& m);
std::string to_json(const Telemetry& m);
std::string to_json(const PileEvent& m);
std::string to_json(const PileCommand& m);
std::string to_json(const CommandAck& m);
std::string to_json(const ClockMessage& m);
std::string to_json(const SchedulerRequest& m);
std::string to_json(const SchedulerReply& m);

std::string parse(std::string_view payload, PileStatus& out);
std::string parse(std::string_view payload, Telemetry& out);
std::string parse(std::string_view payload, PileEvent& out);
std::string parse(std::string_view payload, PileCommand& out);
std::string parse(std::string_view payload, CommandAck& out);
std::string parse(std::string_view payload, ClockMessage& out);
std::string parse(std::string_view payload, SchedulerRequest& out);
std::string parse(std::string_view payload, SchedulerReply& out);

std::string_view to_string(PileEventType t);
std::string_view to_string(CommandType t);
std::string_view to_string(RequestOp op);
/// "soft" or "hard", as on the bus.
std::string_view to_string(ResetKind k);
/// The reason of the `session_ended_at_pile` a reset makes: "SoftReset" or "HardReset"
/// (OCPP 1.6's StopTransaction reasons, which every kind of pile reports alike).
std::string_view reset_stop_reason(ResetKind k);

}  // namespace contract
