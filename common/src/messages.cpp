#include "contract/messages.hpp"

#include <cmath>
#include <limits>
#include <vector>

#include "contract/topics.hpp"
#include "flat_fields.hpp"
#include "json_reader.hpp"
#include "station/time.hpp"

namespace contract {

using nlohmann::json;

namespace {

using detail::Fields;
using detail::kMaxReplyPayload;

template <typename Enum, std::size_t N>
bool enum_from(const std::string& s, const std::pair<Enum, std::string_view> (&table)[N],
               Enum& out) {
    for (const auto& [value, name] : table) {
        if (s == name) {
            out = value;
            return true;
        }
    }
    return false;
}
template <typename Enum, std::size_t N>
std::string_view enum_name(Enum e, const std::pair<Enum, std::string_view> (&table)[N]) {
    for (const auto& [value, name] : table) {
        if (value == e) {
            return name;
        }
    }
    return "";
}

const std::pair<PileEventType, std::string_view> kEventTypes[] = {
    {PileEventType::SessionStarted, "session_started"},
    {PileEventType::SessionFinished, "session_finished"},
    {PileEventType::SessionInterrupted, "session_interrupted"},
    {PileEventType::SessionEndedAtPile, "session_ended_at_pile"},
    {PileEventType::FaultRaised, "fault_raised"},
    {PileEventType::FaultCleared, "fault_cleared"},
};
const std::pair<CommandType, std::string_view> kCommandTypes[] = {
    {CommandType::Start, "start"},
    {CommandType::Stop, "stop"},
    {CommandType::SwitchOn, "switch_on"},
    {CommandType::SwitchOff, "switch_off"},
    {CommandType::InjectFault, "inject_fault"},
    {CommandType::ClearFault, "clear_fault"},
    {CommandType::Reset, "reset"},
};
const std::pair<ResetKind, std::string_view> kResetKinds[] = {
    {ResetKind::Soft, "soft"},
    {ResetKind::Hard, "hard"},
};
const std::pair<RequestOp, std::string_view> kOps[] = {
    {RequestOp::Submit, "submit"},        {RequestOp::Change, "change"},
    {RequestOp::Cancel, "cancel"},        {RequestOp::Fault, "fault"},
    {RequestOp::Recover, "recover"},      {RequestOp::SwitchOn, "switch_on"},
    {RequestOp::SwitchOff, "switch_off"}, {RequestOp::ClockGet, "clock_get"},
    {RequestOp::ClockSet, "clock_set"},   {RequestOp::ClockAdvance, "clock_advance"},
    {RequestOp::State, "state"},          {RequestOp::Bills, "bills"},
    {RequestOp::Stats, "stats"},          {RequestOp::Changes, "changes"},
    {RequestOp::Reset, "reset"},
};
const std::pair<station::PileState, std::string_view> kPileStates[] = {
    {station::PileState::Off, "OFF"},
    {station::PileState::Work, "WORK"},
    {station::PileState::Rest, "REST"},
    {station::PileState::Fault, "FAULT"},
};

void put_origin(json& j, const Origin& o) {
    j["boot"] = o.boot;
    j["seq"] = o.seq;
}
void read_origin(Fields& f, Origin& o) {
    f.id("boot", o.boot);
    f.integer("seq", o.seq);
    f.check(o.seq >= 0, "seq", "0 or more");
}
void put_time(json& j, TimeMs at) {
    j["at_ms"] = at;
    j["time"] = station::format_datetime(at);
}
void read_mode(Fields& f, const char* key, std::optional<station::Mode>& out, bool required) {
    std::string s;
    f.text(key, s, required);
    if (f.ok() && (required || !s.empty())) {
        out = station::parse_mode(s);
        f.check(out.has_value(), key, "\"F\" or \"T\"");
    }
}

void read_reset(Fields& f, ResetKind& out) {
    std::string kind;
    f.text("reset", kind);
    f.check(enum_from(kind, kResetKinds, out), "reset", "\"soft\" or \"hard\"");
}

}  // namespace

std::string_view to_string(PileEventType t) {
    return enum_name(t, kEventTypes);
}
std::string_view to_string(CommandType t) {
    return enum_name(t, kCommandTypes);
}
std::string_view to_string(RequestOp op) {
    return enum_name(op, kOps);
}
std::string_view to_string(ResetKind k) {
    return enum_name(k, kResetKinds);
}
std::string_view reset_stop_reason(ResetKind k) {
    return k == ResetKind::Hard ? "HardReset" : "SoftReset";
}

bool changes_station(RequestOp op) {
    switch (op) {
        case RequestOp::ClockGet:
        case RequestOp::State:
        case RequestOp::Bills:
        case RequestOp::Stats:
        case RequestOp::Changes:
            return false;
        default:
            return true;
    }
}

// ---- pile status ---------------------------------------------------------------------

std::string to_json(const PileStatus& m) {
    json j;
    j["pile"] = m.pile;
    j["online"] = m.online;
    if (m.online) {
        j["state"] = station::to_string(m.state);
        j["mode"] = std::string(1, station::mode_letter(m.mode));
        j["power_kw"] = m.power_kw;
        j["session"] = m.session;
        put_time(j, m.at_ms);
        put_origin(j, m.origin);
    }
    return j.dump();
}

std::string parse(std::string_view payload, PileStatus& m) {
    Fields f(payload);
    f.id("pile", m.pile);
    f.flag("online", m.online);
    if (f.ok() && m.online) {
        std::string state;
        f.text("state", state);
        f.check(enum_from(state, kPileStates, m.state), "state", "OFF, WORK, REST or FAULT");
        std::optional<station::Mode> mode;
        read_mode(f, "mode", mode, true);
        m.mode = mode.value_or(station::Mode::Fast);
        f.number("power_kw", m.power_kw);
        f.check(m.power_kw > 0, "power_kw", "above 0");
        f.id("session", m.session, false);  // echoed in commands: a topic-safe id
        f.integer("at_ms", m.at_ms);
        read_origin(f, m.origin);
    }
    return f.error();
}

// ---- telemetry ---------------------------------------------------------------------

std::string to_json(const Telemetry& m) {
    json j;
    j["pile"] = m.pile;
    j["session"] = m.session;
    j["order"] = m.order;
    j["energy_kwh"] = m.energy_kwh;
    j["power_kw"] = m.power_kw;
    put_time(j, m.at_ms);
    put_origin(j, m.origin);
    return j.dump();
}

std::string parse(std::string_view payload, Telemetry& m) {
    Fields f(payload);
    f.id("pile", m.pile);
    f.id("session", m.session);
    f.integer("order", m.order);
    f.number("energy_kwh", m.energy_kwh);
    f.check(m.energy_kwh >= 0, "energy_kwh", "0 or more");
    f.number("power_kw", m.power_kw);
    f.check(m.power_kw >= 0, "power_kw", "0 or more");
    f.integer("at_ms", m.at_ms);
    read_origin(f, m.origin);
    return f.error();
}

// ---- pile events -------------------------------------------------------------------

std::string to_json(const PileEvent& m) {
    json j;
    j["pile"] = m.pile;
    j["type"] = to_string(m.type);
    if (!m.session.empty()) {
        j["session"] = m.session;
        j["order"] = m.order;
        j["energy_kwh"] = m.energy_kwh;
    }
    if (m.type == PileEventType::FaultRaised) {
        j["fault_minutes"] = m.fault_minutes;
    }
    if (!m.reason.empty()) {
        j["reason"] = m.reason;
    }
    put_time(j, m.at_ms);
    put_origin(j, m.origin);
    return j.dump();
}

std::string parse(std::string_view payload, PileEvent& m) {
    Fields f(payload);
    f.id("pile", m.pile);
    std::string type;
    f.text("type", type);
    f.check(enum_from(type, kEventTypes, m.type), "type",
            "session_started, session_finished, session_interrupted, session_ended_at_pile, "
            "fault_raised or fault_cleared");
    const bool session_event =
        m.type != PileEventType::FaultRaised && m.type != PileEventType::FaultCleared;
    if (session_event) {
        f.id("session", m.session);
        f.integer("order", m.order);
        f.number("energy_kwh", m.energy_kwh);
        f.check(m.energy_kwh >= 0, "energy_kwh", "0 or more");
    }
    if (m.type == PileEventType::FaultRaised) {
        f.minutes("fault_minutes", m.fault_minutes);
    }
    f.text("reason", m.reason, false);
    f.integer("at_ms", m.at_ms);
    read_origin(f, m.origin);
    return f.error();
}

// ---- commands and acknowledgements ---------------------------------------------------

std::string to_json(const PileCommand& m) {
    json j;
    j["id"] = m.id;
    j["type"] = to_string(m.type);
    if (m.type == CommandType::Start || m.type == CommandType::Stop) {
        j["session"] = m.session;
    }
    if (m.type == CommandType::Start) {
        j["order"] = m.order;
        j["target_kwh"] = m.target_kwh;
    }
    if (m.type == CommandType::InjectFault) {
        j["fault_minutes"] = m.fault_minutes;
    }
    if (m.type == CommandType::Reset) {
        j["reset"] = to_string(m.reset);
    }
    return j.dump();
}

std::string parse(std::string_view payload, PileCommand& m) {
    Fields f(payload);
    f.id("id", m.id);
    std::string type;
    f.text("type", type);
    f.check(enum_from(type, kCommandTypes, m.type), "type",
            "start, stop, switch_on, switch_off, inject_fault, clear_fault or reset");
    if (m.type == CommandType::Start || m.type == CommandType::Stop) {
        f.id("session", m.session);
    }
    if (m.type == CommandType::Start) {
        f.integer("order", m.order);
        f.number("target_kwh", m.target_kwh);
        f.check(m.target_kwh > 0, "target_kwh", "above 0");
    }
    if (m.type == CommandType::InjectFault) {
        f.minutes("fault_minutes", m.fault_minutes);
    }
    if (m.type == CommandType::Reset) {
        read_reset(f, m.reset);
    }
    return f.error();
}

std::string to_json(const CommandAck& m) {
    json j;
    j["id"] = m.id;
    j["pile"] = m.pile;
    j["ok"] = m.ok;
    if (!m.reason.empty()) {
        j["reason"] = m.reason;
    }
    return j.dump();
}

std::string parse(std::string_view payload, CommandAck& m) {
    Fields f(payload);
    f.id("id", m.id);
    f.id("pile", m.pile);
    f.flag("ok", m.ok);
    f.text("reason", m.reason, false);
    return f.error();
}

// ---- clock -------------------------------------------------------------------------

std::string to_json(const ClockMessage& m) {
    json j;
    put_time(j, m.at_ms);
    j["speed"] = m.speed;
    j["wall_ms"] = m.wall_ms;
    j["simulated"] = m.simulated;
    return j.dump();
}

std::string parse(std::string_view payload, ClockMessage& m) {
    Fields f(payload);
    f.integer("at_ms", m.at_ms);
    f.number("speed", m.speed);
    f.check(m.speed >= 0 && m.speed <= 1e6, "speed", "between 0 and 1000000");
    f.integer("wall_ms", m.wall_ms);
    f.flag("simulated", m.simulated);
    return f.error();
}

json to_json_value(const ClockReading& m) {
    return json{{"at_ms", m.at_ms},
                {"time", station::format_datetime(m.at_ms)},
                {"speed", m.speed},
                {"simulated", m.simulated}};
}

std::string parse_value(const json& j, ClockReading& m) {
    detail::JsonReader r(j, "clock reading");
    r.integer("at_ms", m.at_ms, 0, detail::kMaxTime);
    r.number("speed", m.speed, 0, 1e6);
    r.flag("simulated", m.simulated);
    return r.error();
}

// ---- scheduler requests and replies ---------------------------------------------------

std::string to_json(const SchedulerRequest& m) {
    json j;
    j["id"] = m.id;
    j["reply_to"] = m.reply_to;
    j["op"] = to_string(m.op);
    if (!m.car.empty()) {
        j["car"] = m.car;
    }
    if (m.order) {
        j["order"] = *m.order;
    }
    if (m.mode) {
        j["mode"] = std::string(1, station::mode_letter(*m.mode));
    }
    if (m.kwh) {
        j["kwh"] = *m.kwh;
    }
    if (!m.pile.empty()) {
        j["pile"] = m.pile;
    }
    if (m.op == RequestOp::Fault) {
        j["minutes"] = m.minutes;
    }
    if (m.op == RequestOp::Reset) {
        j["reset"] = to_string(m.reset);
    }
    if (m.time) {
        j["time"] = station::format_datetime(*m.time);
    }
    if (m.speed) {
        j["speed"] = *m.speed;
    }
    if (m.op == RequestOp::ClockAdvance) {
        j["advance_seconds"] = m.advance_seconds;
    }
    if (m.expires_ms) {
        j["expires_ms"] = *m.expires_ms;
    }
    if (m.op == RequestOp::Changes) {
        if (!m.run.empty()) {
            j["run"] = m.run;
        }
        j["after"] = m.after;
        if (m.limit > 0) {
            j["limit"] = m.limit;
        }
    }
    return j.dump();
}

std::string parse(std::string_view payload, SchedulerRequest& m) {
    Fields f(payload);
    f.id("id", m.id);
    f.text("reply_to", m.reply_to);
    f.check(is_replies_topic(m.reply_to), "reply_to", "a replies/{client} topic");
    std::string op;
    f.text("op", op);
    f.check(enum_from(op, kOps, m.op), "op", "a known operation");
    if (!f.ok()) {
        return f.error();
    }
    switch (m.op) {
        case RequestOp::Submit:
        case RequestOp::Change:
        case RequestOp::Cancel: {
            f.id("car", m.car);
            if (m.op != RequestOp::Submit && f.has("order")) {
                std::int64_t order = 0;
                f.integer("order", order);
                f.check(order >= 0, "order", "0 or above");
                m.order = order;
            }
            read_mode(f, "mode", m.mode, m.op == RequestOp::Submit);
            if (m.op != RequestOp::Cancel && (m.op == RequestOp::Submit || f.has("kwh"))) {
                double kwh = 0;
                f.number("kwh", kwh);
                // At most what the change log carries (changes.hpp): an order beyond it
                // would make a batch every reader of the log refuses.
                f.check(kwh > 0 && kwh <= kMaxKwh, "kwh", "above 0 and at most 100000");
                m.kwh = kwh;
            }
            break;
        }
        case RequestOp::Fault:
        case RequestOp::Recover:
        case RequestOp::SwitchOn:
        case RequestOp::SwitchOff:
        case RequestOp::Reset: {
            f.id("pile", m.pile);
            if (m.op == RequestOp::Fault) {
                f.minutes("minutes", m.minutes);
            }
            if (m.op == RequestOp::Reset) {
                read_reset(f, m.reset);
            }
            break;
        }
        case RequestOp::ClockSet: {
            std::string time;
            f.text("time", time, false);
            if (f.ok() && !time.empty()) {
                m.time = station::parse_datetime(time);
                f.check(m.time.has_value(), "time", "\"YYYY-MM-DD HH:MM:SS\"");
            }
            if (f.has("speed")) {
                double speed = 0;
                f.number("speed", speed);
                f.check(speed >= 0 && speed <= 1e6, "speed", "between 0 and 1000000");
                m.speed = speed;
            }
            f.check(m.time || m.speed, "time", "given (or speed)");
            break;
        }
        case RequestOp::ClockAdvance:
            f.integer("advance_seconds", m.advance_seconds);
            f.check(m.advance_seconds > 0 && m.advance_seconds <= 366LL * 86400, "advance_seconds",
                    "between 1 and 31622400");
            break;
        case RequestOp::Changes:
            f.id("run", m.run, false);
            f.integer("after", m.after);
            f.check(m.after >= 0, "after", "0 or above");
            if (f.has("limit")) {
                f.integer("limit", m.limit);
                // A page of 5,000 changes is about 1.3 MB (3 MB with the longest car ids),
                // well inside the bus's packet limit.
                f.check(m.limit >= 1 && m.limit <= kMaxChangesLimit, "limit", "between 1 and 5000");
            }
            break;
        case RequestOp::ClockGet:
        case RequestOp::State:
        case RequestOp::Bills:
        case RequestOp::Stats:
            break;
    }
    if (f.has("expires_ms")) {
        std::int64_t expires = 0;
        f.integer("expires_ms", expires);
        f.check(expires >= 0, "expires_ms", "0 or above");
        m.expires_ms = expires;
    }
    return f.error();
}

std::string to_json(const SchedulerReply& m) {
    json j;
    j["id"] = m.id;
    j["ok"] = m.ok;
    if (!m.ok) {
        j["error"] = m.error;
        j["reason"] = m.reason;
    }
    j["data"] = m.data;
    if (!m.run.empty()) {
        j["run"] = m.run;
        j["pos"] = m.pos;
    }
    if (m.order) {
        j["order"] = to_json_value(*m.order);
    }
    if (m.changes) {
        j["changes"] = to_json_value(*m.changes);
    }
    if (m.expires_ms) {
        j["expires_ms"] = *m.expires_ms;
    }
    return j.dump();
}

std::string parse(std::string_view payload, SchedulerReply& m) {
    Fields f(payload, kMaxReplyPayload);  // a catch-up answer can be large
    f.text("id", m.id);
    f.flag("ok", m.ok);
    f.text("error", m.error, false);
    f.text("reason", m.reason, false);
    f.id("run", m.run, false);
    if (!m.run.empty()) {
        f.integer("pos", m.pos);
        f.check(m.pos >= 0, "pos", "0 or above");
    }
    if (f.has("expires_ms")) {
        std::int64_t expires = 0;
        f.integer("expires_ms", expires);
        m.expires_ms = expires;
    }
    if (!f.ok() || !(f.has("data") || f.has("order") || f.has("changes"))) {
        return f.error();
    }
    // The nested fields; replies are read by clients, not on the scheduler's hot path,
    // so a DOM is fine here.
    const json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
        return "not a JSON object";
    }
    if (f.has("data")) {
        if (!j["data"].is_object()) {
            return "field \"data\" must be an object";
        }
        m.data = j["data"];
    }
    if (f.has("order")) {
        OrderUpdate order;
        if (std::string e = parse_value(j["order"], order); !e.empty()) {
            return e;
        }
        m.order = std::move(order);
    }
    if (f.has("changes")) {
        ChangeBatch changes;
        if (std::string e = parse_value(j["changes"], changes); !e.empty()) {
            return e;
        }
        m.changes = std::move(changes);
    }
    return "";
}

}  // namespace contract
