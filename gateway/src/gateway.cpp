#include "gateway/gateway.hpp"

#include <algorithm>
#include <cmath>

#include "contract/topics.hpp"
#include "json_fields.hpp"

namespace gateway {

using contract::CommandType;
using contract::PileChannel;
using contract::PileEventType;
using nlohmann::json;

namespace {

constexpr std::string_view kSampleInterval = "MeterValueSampleInterval";
constexpr std::size_t kRemembered = 1024;
/// Half a watt-hour: a session has reached its target within the meter's resolution.
constexpr double kTargetSlackKwh = 0.0005;
/// A StopTransaction stamped this long before it arrived was queued while offline.
constexpr std::int64_t kLateStopMs = 2'000;

std::string error_text(ErrorCode code, const std::string& description) {
    return std::string(to_string(code)) + (description.empty() ? "" : ": " + description);
}

}  // namespace

std::string_view to_string(CallOutcome o) {
    switch (o) {
        case CallOutcome::Accepted:
            return "accepted";
        case CallOutcome::Rejected:
            return "rejected";
        case CallOutcome::Error:
            return "error";
        case CallOutcome::Timeout:
            return "timeout";
        case CallOutcome::Disconnected:
            return "disconnected";
        case CallOutcome::Refused:
            return "refused";
    }
    return "error";
}

Gateway::Gateway(Registry registry, GatewayOptions options)
    : registry_(std::move(registry)), options_(std::move(options)) {
    next_transaction_id_ = std::max<std::int64_t>(1, options_.first_transaction_id);
    chargers_.reserve(registry_.chargers.size());
    for (std::size_t i = 0; i < registry_.chargers.size(); ++i) {
        Charger c;
        c.spec = &registry_.chargers[i];
        for (std::size_t k = 0; k < c.spec->connectors.size(); ++k) {
            Connector conn;
            conn.spec = c.spec->connectors[k];
            piles_[conn.spec.pile.id] = PileRef{i, k};
            c.connectors.push_back(std::move(conn));
        }
        chargers_.push_back(std::move(c));
    }
}

std::vector<std::string> Gateway::pile_ids() const {
    std::vector<std::string> ids;
    for (const auto& c : chargers_) {
        for (const auto& k : c.connectors) {
            ids.push_back(k.spec.pile.id);
        }
    }
    return ids;
}

contract::Publication Gateway::offline_status(std::string_view pile) const {
    return gateway::offline_status(pile);
}

Output Gateway::take_output() {
    out_.acked = acks_.take_acked();
    Output o;
    std::swap(o, out_);
    return o;
}

void Gateway::log(std::string level, std::string text) {
    out_.log.push_back({std::move(level), std::move(text)});
}

bool Gateway::booted(std::string_view identity) const {
    for (const auto& c : chargers_) {
        if (c.spec->identity == identity) {
            return c.booted;
        }
    }
    return false;
}

GatewayStats Gateway::stats() const {
    GatewayStats s;
    for (const auto& c : chargers_) {
        const bool online = c.conn.has_value() && c.booted;
        s.chargers_connected += c.conn ? 1U : 0U;
        s.chargers_booted += online ? 1U : 0U;
        s.calls_outstanding += c.outstanding ? 1U : 0U;
        s.calls_waiting += c.queue.size();
        for (const auto& k : c.connectors) {
            s.piles.add(online, pile_state(c, k));
            s.piles.sessions_active += k.session && k.session->transaction ? 1U : 0U;
        }
    }
    return s;
}

std::optional<PileView> Gateway::view(std::string_view pile) const {
    const auto it = piles_.find(pile);
    if (it == piles_.end()) {
        return std::nullopt;
    }
    const Charger& c = chargers_[it->second.charger];
    const Connector& k = c.connectors[it->second.connector];
    PileView v;
    v.online = c.conn.has_value() && c.booted;
    v.state = pile_state(c, k);
    v.ocpp_status = k.ocpp_status;
    if (k.session) {
        v.session = k.session->id;
        v.transaction = k.session->transaction;
        v.energy_kwh = k.session->energy_kwh;
    }
    return v;
}

Gateway::Charger* Gateway::by_connection(ConnectionId conn) {
    const auto it = connections_.find(conn);
    if (it == connections_.end()) {
        return nullptr;
    }
    Charger& c = chargers_[it->second];
    return c.conn == conn ? &c : nullptr;
}

std::optional<std::size_t> Gateway::connector_index(const Charger& c,
                                                    std::int64_t connector_id) const {
    for (std::size_t k = 0; k < c.connectors.size(); ++k) {
        if (c.connectors[k].spec.connector == connector_id) {
            return k;
        }
    }
    return std::nullopt;
}

std::optional<std::size_t> Gateway::connector_of_transaction(const Charger& c,
                                                             std::int64_t tx) const {
    for (std::size_t k = 0; k < c.connectors.size(); ++k) {
        const auto& s = c.connectors[k].session;
        if (s && s->transaction == tx) {
            return k;
        }
    }
    return std::nullopt;
}

// ---- the bus ---------------------------------------------------------------------------

station::PileState Gateway::pile_state(const Charger& c, const Connector& k) const {
    (void)c;
    if (k.faulted) {
        return station::PileState::Fault;
    }
    if (!k.operative || k.ocpp_status == "Unavailable") {
        return station::PileState::Off;
    }
    return k.session ? station::PileState::Work : station::PileState::Rest;
}

void Gateway::publish_status(Charger& c, std::size_t k, Now now, bool force) {
    Connector& conn = c.connectors[k];
    const bool online = c.conn.has_value() && c.booted;
    if (!online) {
        const auto p = offline_status(conn.spec.pile.id);
        if (force || conn.published != p.payload) {
            conn.published = p.payload;
            out_.publications.push_back(p);
        }
        return;
    }
    contract::PileStatus s;
    s.pile = conn.spec.pile.id;
    s.online = true;
    s.state = pile_state(c, conn);
    s.mode = conn.spec.pile.mode;
    s.power_kw = conn.spec.pile.power;
    s.session = conn.session ? conn.session->id : "";
    // Compared without time and sequence: published again only when it changed.
    const std::string key = contract::to_json(s);
    if (!force && key == conn.published) {
        return;
    }
    conn.published = key;
    s.at_ms = now.station_ms;
    s.origin = contract::Origin{options_.boot, ++conn.seq};
    out_.publications.push_back(
        {contract::pile_topic(s.pile, PileChannel::Status), contract::to_json(s), 1, true});
}

void Gateway::publish_all(Charger& c, Now now, bool force) {
    for (std::size_t k = 0; k < c.connectors.size(); ++k) {
        publish_status(c, k, now, force);
    }
}

void Gateway::on_bus_connected(std::string_view pile, Now now) {
    const auto it = piles_.find(pile);
    if (it == piles_.end()) {
        return;
    }
    Charger& c = chargers_[it->second.charger];
    c.connectors[it->second.connector].bus_up = true;
    publish_status(c, it->second.connector, now, true);
    if (c.conn && !c.booted && c.pending && station_reachable(c)) {
        // Answered Pending while the station could not be reached: asked to boot again now
        // rather than at its retry interval (TriggerMessage is allowed while Pending).
        c.pending = false;
        log("info",
            "charger " + c.spec->identity + ": the station is reachable again; asking it to boot");
        Call trigger;
        trigger.action = "TriggerMessage";
        trigger.payload = to_json(TriggerMessageReq{"BootNotification", std::nullopt});
        enqueue(c, std::move(trigger), now);
    }
}

void Gateway::on_bus_lost(std::string_view pile, Now now) {
    (void)now;
    const auto it = piles_.find(pile);
    if (it != piles_.end()) {
        chargers_[it->second.charger].connectors[it->second.connector].bus_up = false;
    }
}

bool Gateway::station_reachable(const Charger& c) const {
    return std::all_of(c.connectors.begin(), c.connectors.end(),
                       [](const Connector& k) { return k.bus_up; });
}

void Gateway::event(Charger& c, std::size_t k, contract::PileEvent e, Now now) {
    Connector& conn = c.connectors[k];
    e.pile = conn.spec.pile.id;
    e.at_ms = now.station_ms;
    e.origin = contract::Origin{options_.boot, ++conn.seq};
    out_.publications.push_back(
        {contract::pile_topic(e.pile, PileChannel::Events), contract::to_json(e), 1, false});
}

void Gateway::ack(const std::string& pile, const std::string& command_id, bool ok,
                  std::string reason) {
    acks_.ack(pile, command_id, ok, std::move(reason), out_.publications);
}

void Gateway::end_session(Charger& c, std::size_t k, double energy_kwh,
                          const std::string& charger_reason, Now now) {
    Connector& conn = c.connectors[k];
    if (!conn.session) {
        return;
    }
    Session s = std::move(*conn.session);
    conn.session.reset();
    contract::PileEvent e;
    e.session = s.id;
    e.order = s.order;
    e.energy_kwh = energy_kwh;
    if (s.transaction && energy_kwh >= s.target_kwh - kTargetSlackKwh) {
        e.type = PileEventType::SessionFinished;
    } else if (s.transaction && s.stop_reason.empty() && !conn.faulted) {
        // The charger ended it on its own (car unplugged, stop pressed at the charger, a
        // stop queued while offline): the car is gone, its order ends (docs/ocpp.md).
        e.type = PileEventType::SessionEndedAtPile;
        e.reason = charger_reason.empty() ? std::string("Local") : charger_reason;
    } else {
        e.type = PileEventType::SessionInterrupted;
        e.reason = !s.stop_reason.empty()   ? s.stop_reason
                   : charger_reason.empty() ? std::string("stopped at the charger")
                                            : charger_reason;
    }
    event(c, k, std::move(e), now);
    publish_status(c, k, now);
    if (conn.deferred_start) {
        const contract::PileCommand next = *conn.deferred_start;
        conn.deferred_start.reset();
        start_session(c, k, next, now);
    }
}

// ---- connections -----------------------------------------------------------------------

void Gateway::on_connected(ConnectionId conn, std::string_view identity, Now now) {
    std::size_t index = chargers_.size();
    for (std::size_t i = 0; i < chargers_.size(); ++i) {
        if (chargers_[i].spec->identity == identity) {
            index = i;
        }
    }
    if (index == chargers_.size()) {
        log("warn", "connection " + std::to_string(conn) + " of unknown charger " +
                        std::string(identity) + " closed");
        out_.closes.push_back(conn);
        return;
    }
    Charger& c = chargers_[index];
    if (c.conn) {
        log("warn", "charger " + c.spec->identity + " connected again: the earlier connection " +
                        std::to_string(*c.conn) + " is closed");
        out_.closes.push_back(*c.conn);
        connections_.erase(*c.conn);
        if (c.outstanding) {
            Call lost = std::move(*c.outstanding);
            c.outstanding.reset();
            call_finished(c, lost, CallOutcome::Disconnected, "",
                          "the charger's connection was replaced", now);
        }
    }
    c.conn = conn;
    c.last_call_id.clear();
    connections_[conn] = index;
    log("info", "charger " + c.spec->identity + " connected" +
                    (c.booted ? " again (its boot was accepted before)" : ""));
    if (c.booted) {
        publish_all(c, now);
    } else {
        c.boot_wait_until = now.wall_ms + options_.boot_wait_ms;
    }
    send_next(c, now);
}

void Gateway::on_closed(ConnectionId conn, Now now) {
    Charger* c = by_connection(conn);
    connections_.erase(conn);
    if (c == nullptr) {
        return;
    }
    c->conn.reset();
    log("warn", "charger " + c->spec->identity + " disconnected");
    // What was sent and not answered is lost with the connection; what waits is refused:
    // the scheduler learns now and can decide again.
    if (c->outstanding) {
        Call lost = std::move(*c->outstanding);
        c->outstanding.reset();
        call_finished(*c, lost, CallOutcome::Disconnected, "", "the charger disconnected", now);
    }
    while (!c->queue.empty()) {
        Call waiting = std::move(c->queue.front());
        c->queue.pop_front();
        call_finished(*c, waiting, CallOutcome::Disconnected, "", "the charger disconnected", now);
    }
    publish_all(*c, now);
}

// ---- frames from a charger -------------------------------------------------------------

void Gateway::send(ConnectionId conn, const Frame& f) {
    out_.frames.emplace_back(conn, to_text(f));
}

void Gateway::on_text(ConnectionId conn, std::string_view text, Now now) {
    Charger* c = by_connection(conn);
    if (c == nullptr) {
        return;
    }
    if (text.size() > kMaxFrameBytes) {
        log("warn", "charger " + c->spec->identity + " sent " + std::to_string(text.size()) +
                        " bytes in one message: connection closed");
        ++out_.frames_refused;
        out_.closes.push_back(conn);
        on_closed(conn, now);
        return;
    }
    FrameParse parsed = parse_frame(text);
    if (!parsed.frame) {
        log("warn", "charger " + c->spec->identity + " sent a malformed message (" +
                        parsed.error.reason + ")");
        ++out_.frames_refused;
        if (parsed.error.call) {
            send(conn, make_error(parsed.error.id, parsed.error.code, parsed.error.reason));
        }
        return;
    }
    const Frame& f = *parsed.frame;
    if (f.type == MessageType::Call) {
        handle_call(*c, f, now);
    } else {
        handle_answer(*c, f, now);
    }
}

void Gateway::handle_call(Charger& c, const Frame& f, Now now) {
    const ConnectionId conn = *c.conn;
    out_.calls_received.push_back(f.action);
    if (f.id == c.last_call_id) {
        // The charger sent the same message again (it did not get our answer): answered
        // again, not applied twice.
        log("info", "charger " + c.spec->identity + " repeated message " + f.id);
        out_.frames.emplace_back(conn, c.last_answer);
        return;
    }
    std::optional<Frame> answer;
    std::optional<Violation> bad;
    const std::string& a = f.action;
    if (a != "BootNotification" && !c.booted &&
        (a == "Heartbeat" || a == "StatusNotification" || a == "Authorize" ||
         a == "StartTransaction" || a == "StopTransaction" || a == "MeterValues" ||
         a == "DataTransfer" || a == "DiagnosticsStatusNotification" ||
         a == "FirmwareStatusNotification")) {
        // OCPP 1.6 §4.2: a charge point sends nothing before its boot is accepted; what it
        // sends anyway is refused (as OCPP 2.0.1 B02.FR.09 specifies: SecurityError).
        answer =
            make_error(f.id, ErrorCode::SecurityError, "BootNotification has not been accepted");
    } else if (a == "BootNotification") {
        std::optional<Frame> error;
        json conf = boot_notification(c, f.payload, now, error);
        answer = error ? *error : make_result(f.id, std::move(conf));
        if (error) {
            answer->id = f.id;
        }
    } else if (a == "Heartbeat") {
        if (!(bad = parse_heartbeat(f.payload))) {
            answer = make_result(f.id, to_json(HeartbeatConf{now.wall_ms}));
        }
    } else if (a == "StatusNotification") {
        StatusNotificationReq req;
        if (!(bad = parse(f.payload, req))) {
            status_notification(c, req, now);
            answer = make_result(f.id, json::object());
        }
    } else if (a == "Authorize") {
        AuthorizeReq req;
        if (!(bad = parse(f.payload, req))) {
            // Only the id tags of sessions the scheduler started here are valid: the
            // station, not a card reader, decides who charges.
            AuthorizeConf conf;
            conf.id_tag_info.status = "Invalid";
            for (const auto& k : c.connectors) {
                if (k.session && k.session->id_tag == req.id_tag) {
                    conf.id_tag_info.status = "Accepted";
                }
            }
            answer = make_result(f.id, to_json(conf));
        }
    } else if (a == "StartTransaction") {
        StartTransactionReq req;
        if (!(bad = parse(f.payload, req))) {
            answer = make_result(f.id, start_transaction(c, req, now));
        }
    } else if (a == "StopTransaction") {
        StopTransactionReq req;
        if (!(bad = parse(f.payload, req))) {
            answer = make_result(f.id, stop_transaction(c, req, now));
        }
    } else if (a == "MeterValues") {
        MeterValuesReq req;
        if (!(bad = parse(f.payload, req))) {
            meter_values(c, req, now);
            answer = make_result(f.id, json::object());
        }
    } else if (a == "DataTransfer") {
        DataTransferReq req;
        if (!(bad = parse(f.payload, req))) {
            answer = make_result(f.id, to_json(DataTransferConf{"Rejected"}));
        }
    } else if (a == "DiagnosticsStatusNotification" || a == "FirmwareStatusNotification") {
        detail::FieldReader r(f.payload);
        if (a == "DiagnosticsStatusNotification") {
            r.enumeration("status", true, {"Idle", "Uploaded", "UploadFailed", "Uploading"});
        } else {
            r.enumeration("status", true,
                          {"Downloaded", "DownloadFailed", "Downloading", "Idle",
                           "InstallationFailed", "Installing", "Installed"});
        }
        if (!(bad = r.violation())) {
            answer = make_result(f.id, json::object());
        }
    } else {
        answer = make_error(f.id, ErrorCode::NotImplemented,
                            "unknown action " + a.substr(0, std::min<std::size_t>(a.size(), 64)));
    }
    if (bad) {
        log("warn", "charger " + c.spec->identity + " sent an invalid " + a + ": " + bad->message);
        answer = make_error(f.id, bad->code, bad->message);
    }
    if (answer->type == MessageType::CallError) {
        ++out_.frames_refused;
    }
    c.last_call_id = f.id;
    c.last_answer = to_text(*answer);
    out_.frames.emplace_back(conn, c.last_answer);
    if (a == "BootNotification" && c.booted) {
        // After the answer: the charger's own notifications follow, and our settings,
        // once its configuration is read (configuration_read).
        publish_all(c, now);
        Call get;
        get.action = "GetConfiguration";
        get.purpose = Purpose::Configuration;
        get.payload = to_json(GetConfigurationReq{
            {std::string(kSampleInterval), "HeartbeatInterval", "NumberOfConnectors"}});
        enqueue(c, std::move(get), now);
        send_next(c, now);
    }
}

void Gateway::configuration_read(Charger& c, const GetConfigurationConf* conf, Now now) {
    const ConfigurationKey* interval = nullptr;
    if (conf != nullptr) {
        std::string text;
        for (const auto& k : conf->configuration_key) {
            text += (text.empty() ? "" : ", ") + k.key + "=" + k.value.value_or("(none)") +
                    (k.readonly ? " (read-only)" : "");
            if (k.key == kSampleInterval) {
                interval = &k;
            }
        }
        for (const auto& k : conf->unknown_key) {
            text += (text.empty() ? "" : ", ") + k + " unknown";
        }
        log("info", "charger " + c.spec->identity + " configuration: " + text);
    }
    if (options_.meter_value_sample_interval_s <= 0) {
        return;
    }
    const std::string want = std::to_string(options_.meter_value_sample_interval_s);
    if (interval != nullptr && interval->value == want) {
        return;  // already what we want: nothing to change
    }
    if (interval != nullptr && interval->readonly) {
        log("warn", "charger " + c.spec->identity + ": " + std::string(kSampleInterval) +
                        " is read-only at " + interval->value.value_or("(none)") + ", not " + want);
        return;
    }
    Call set;
    set.action = "ChangeConfiguration";
    set.payload = to_json(ChangeConfigurationReq{std::string(kSampleInterval), want});
    enqueue(c, std::move(set), now);
}

json Gateway::boot_notification(Charger& c, const json& p, Now now, std::optional<Frame>& error) {
    BootNotificationReq req;
    if (auto bad = parse(p, req)) {
        log("warn",
            "charger " + c.spec->identity + " sent an invalid BootNotification: " + bad->message);
        error = make_error("", bad->code, bad->message);
        return json::object();
    }
    c.boot_wait_until.reset();
    BootNotificationConf conf;
    conf.current_time = now.wall_ms;
    if (!station_reachable(c)) {
        // The station cannot hear this charger's piles (the MQTT link is down): accepting
        // it would let it start sessions nobody schedules or bills. Pending (OCPP 1.6
        // §4.2): it boots again after `interval`, or when asked once the link is back.
        c.booted = false;
        c.pending = true;
        log("warn", "charger " + c.spec->identity + " (" + req.vendor + " " + req.model +
                        ") booted while the station is unreachable; pending");
        conf.status = "Pending";
        conf.interval = options_.pending_retry_s;
        publish_all(c, now);
        return to_json(conf);
    }
    const bool again = c.booted;
    c.booted = true;
    c.pending = false;
    log("info", "charger " + c.spec->identity + " (" + req.vendor + " " + req.model +
                    (req.firmware.empty() ? "" : ", firmware " + req.firmware) + ") booted" +
                    (again ? " again: it restarted" : "") + "; accepted");
    conf.status = "Accepted";
    conf.interval = options_.heartbeat_interval_s;
    return to_json(conf);
}

void Gateway::status_notification(Charger& c, const StatusNotificationReq& req, Now now) {
    const auto k = connector_index(c, req.connector_id);
    if (!k) {
        if (req.connector_id != 0) {
            log("info", "charger " + c.spec->identity + " reports connector " +
                            std::to_string(req.connector_id) +
                            " that is not registered: " + req.status);
        }
        return;
    }
    Connector& conn = c.connectors[*k];
    const std::int64_t at = req.timestamp.value_or(now.wall_ms);
    if (conn.status_time && at < *conn.status_time) {
        log("info", "charger " + c.spec->identity + " connector " +
                        std::to_string(req.connector_id) + ": stale " + req.status +
                        " notification dropped");
        return;
    }
    conn.status_time = at;
    conn.ocpp_status = req.status;
    const bool faulted = req.status == "Faulted";
    if (faulted && !conn.faulted) {
        conn.faulted = true;
        contract::PileEvent e;
        e.type = PileEventType::FaultRaised;
        e.reason = req.error_code + (req.info.empty() ? "" : ": " + req.info);
        log("warn", "pile " + conn.spec.pile.id + " faulted: " + e.reason);
        event(c, *k, std::move(e), now);
    } else if (!faulted && conn.faulted) {
        conn.faulted = false;
        contract::PileEvent e;
        e.type = PileEventType::FaultCleared;
        log("info", "pile " + conn.spec.pile.id + " recovered: " + req.status);
        event(c, *k, std::move(e), now);
    }
    publish_status(c, *k, now);
}

json Gateway::start_transaction(Charger& c, const StartTransactionReq& req, Now now) {
    StartTransactionConf conf;
    conf.transaction_id = next_transaction_id_++;
    const auto k = connector_index(c, req.connector_id);
    Session* s = k ? (c.connectors[*k].session ? &*c.connectors[*k].session : nullptr) : nullptr;
    if (s == nullptr || s->id_tag != req.id_tag || s->transaction) {
        // Not a session the station started (a local card, a start after the scheduler
        // stopped it, a second start): refused, so the charger ends it (§5.11: Invalid).
        conf.id_tag_info.status = s != nullptr && s->transaction ? "ConcurrentTx" : "Invalid";
        log("warn", "charger " + c.spec->identity + " started transaction " +
                        std::to_string(conf.transaction_id) + " on connector " +
                        std::to_string(req.connector_id) + " for " + req.id_tag +
                        ", which no session of the station asked for: " + conf.id_tag_info.status);
        return to_json(conf);
    }
    s->transaction = conf.transaction_id;
    s->meter_start_kwh = static_cast<double>(req.meter_start) / 1000.0;
    s->energy_kwh = 0;
    log("info", "pile " + c.connectors[*k].spec.pile.id + ": transaction " +
                    std::to_string(conf.transaction_id) + " started for session " + s->id);
    contract::PileEvent e;
    e.type = PileEventType::SessionStarted;
    e.session = s->id;
    e.order = s->order;
    event(c, *k, std::move(e), now);
    publish_status(c, *k, now);
    return to_json(conf);
}

json Gateway::stop_transaction(Charger& c, const StopTransactionReq& req, Now now) {
    StopTransactionConf conf;
    const auto k = connector_of_transaction(c, req.transaction_id);
    if (!k) {
        // Unknown (an earlier run's, or refused at its start): taken, nothing to bill.
        log("info", "charger " + c.spec->identity + " stopped transaction " +
                        std::to_string(req.transaction_id) + ", which is not running here");
        return to_json(conf);
    }
    Session& s = *c.connectors[*k].session;
    const double energy = std::max(
        0.0,
        std::round((static_cast<double>(req.meter_stop) / 1000.0 - s.meter_start_kwh) * 1e4) / 1e4);
    log("info", "pile " + c.connectors[*k].spec.pile.id + ": transaction " +
                    std::to_string(req.transaction_id) + " stopped (" +
                    (req.reason.empty() ? "Local" : req.reason) + ") at " + std::to_string(energy) +
                    " kWh of " + std::to_string(s.target_kwh));
    if (req.timestamp > 0 && now.wall_ms - req.timestamp > kLateStopMs) {
        // Queued by the charger while it was offline (OCPP 1.6 §4.8): taken now, as of now.
        log("info", "pile " + c.connectors[*k].spec.pile.id + ": transaction " +
                        std::to_string(req.transaction_id) + " stopped " +
                        std::to_string((now.wall_ms - req.timestamp) / 1000) +
                        " s before it was delivered (queued while offline)");
    }
    if (!req.id_tag.empty()) {
        conf.id_tag_info = IdTagInfo{req.id_tag == s.id_tag ? "Accepted" : "Invalid"};
    }
    end_session(c, *k, energy, req.reason, now);
    return to_json(conf);
}

void Gateway::meter_values(Charger& c, const MeterValuesReq& req, Now now) {
    const auto k = req.transaction_id ? connector_of_transaction(c, *req.transaction_id)
                                      : std::optional<std::size_t>{};
    if (!k || c.connectors[*k].spec.connector != req.connector_id) {
        return;  // not of a session in progress (e.g. clock-aligned values of an idle connector)
    }
    Connector& conn = c.connectors[*k];
    Session& s = *conn.session;
    std::optional<double> reading;
    std::optional<double> power;
    for (const auto& mv : req.meter_values) {
        if (const auto e = energy_import_kwh(mv)) {
            reading = e;
        }
        if (const auto p = power_import_kw(mv)) {
            power = p;
        }
    }
    if (!reading) {
        return;
    }
    // To the tenth of a watt-hour: the difference of two decimal readings.
    s.energy_kwh = std::max(s.energy_kwh, std::round((*reading - s.meter_start_kwh) * 1e4) / 1e4);
    s.power_kw = power.value_or(conn.spec.pile.power);
    contract::Telemetry t;
    t.pile = conn.spec.pile.id;
    t.session = s.id;
    t.order = s.order;
    t.energy_kwh = s.energy_kwh;
    t.power_kw = s.power_kw;
    t.at_ms = now.station_ms;
    t.origin = contract::Origin{options_.boot, ++conn.seq};
    out_.publications.push_back(
        {contract::pile_topic(t.pile, PileChannel::Telemetry), contract::to_json(t), 0, false});
    // Asked again at each meter value until the charger takes it: the target reached, or a
    // stop the charger refused (e.g. a supersede that came before its StartTransaction).
    const bool reached = s.energy_kwh >= s.target_kwh - kTargetSlackKwh;
    if (!s.stop_sent && (reached || !s.stop_reason.empty())) {
        log("info", "pile " + conn.spec.pile.id + ": session " + s.id +
                        (reached ? " reached " + std::to_string(s.target_kwh) + " kWh"
                                 : " is to stop (" + s.stop_reason + ")") +
                        ": stopping transaction " + std::to_string(*s.transaction));
        s.stop_sent = true;
        Call stop;
        stop.action = "RemoteStopTransaction";
        stop.payload = to_json(RemoteStopTransactionReq{*s.transaction});
        stop.purpose = Purpose::StopForTarget;
        stop.connector = *k;
        enqueue(c, std::move(stop), now);
    }
}

// ---- calls to a charger ----------------------------------------------------------------

void Gateway::enqueue(Charger& c, Call call, Now now) {
    if (c.queue.size() >= options_.max_queued_calls) {
        call_finished(c, call, CallOutcome::Refused, "", "too many calls waiting for the charger",
                      now);
        return;
    }
    c.queue.push_back(std::move(call));
    send_next(c, now);
}

void Gateway::send_next(Charger& c, Now now) {
    if (c.outstanding || !c.conn || c.queue.empty()) {
        return;
    }
    Call call = std::move(c.queue.front());
    c.queue.pop_front();
    call.id = "cs-" + std::to_string(++next_call_id_);
    call.deadline = now.wall_ms + options_.call_timeout_ms;
    call.sent_at = now.wall_ms;
    send(*c.conn, make_call(call.id, call.action, call.payload));
    c.outstanding = std::move(call);
}

void Gateway::handle_answer(Charger& c, const Frame& f, Now now) {
    if (!c.outstanding || c.outstanding->id != f.id) {
        const bool late = timed_out_.count(f.id) > 0;
        log("warn",
            "charger " + c.spec->identity + (late ? " answered late" : " answered") + " message " +
                f.id.substr(0, 36) +
                (late ? " (after its timeout): ignored" : ", which is not outstanding: ignored"));
        return;
    }
    Call call = std::move(*c.outstanding);
    c.outstanding.reset();
    if (call.purpose == Purpose::Configuration && f.type == MessageType::CallResult) {
        GetConfigurationConf conf;
        if (auto bad = parse(f.payload, conf)) {
            call_finished(c, call, CallOutcome::Error, "",
                          "the charger's answer to " + call.action + " is invalid: " + bad->message,
                          now);
        } else {
            record(call, CallOutcome::Accepted, now);
            configuration_read(c, &conf, now);
        }
        send_next(c, now);
        return;
    }
    if (f.type == MessageType::CallError) {
        call_finished(c, call, CallOutcome::Error, "",
                      "the charger answered " + call.action + " with " +
                          error_text(f.error_code, f.error_description.substr(
                                                       0, std::min<std::size_t>(
                                                              f.error_description.size(), 200))),
                      now);
    } else {
        std::string status;
        if (auto bad = parse_status_conf(call.action, f.payload, status)) {
            call_finished(c, call, CallOutcome::Error, "",
                          "the charger's answer to " + call.action + " is invalid: " + bad->message,
                          now);
        } else {
            const bool ok = status == "Accepted" ||
                            (call.action == "ChangeAvailability" && status == "Scheduled");
            call_finished(c, call, ok ? CallOutcome::Accepted : CallOutcome::Rejected, status,
                          ok ? "" : "the charger answered " + call.action + " " + status, now);
        }
    }
    send_next(c, now);
}

void Gateway::record(const Call& call, CallOutcome outcome, Now now) {
    FinishedCall f;
    f.action = call.action;
    f.outcome = outcome;
    if (call.sent_at && outcome != CallOutcome::Disconnected) {
        f.duration_ms = now.wall_ms - *call.sent_at;
    }
    out_.calls_finished.push_back(std::move(f));
}

void Gateway::call_finished(Charger& c, const Call& call, CallOutcome outcome,
                            const std::string& status, const std::string& reason, Now now) {
    record(call, outcome, now);
    const bool ok = outcome == CallOutcome::Accepted;
    if (!ok) {
        log("warn", "charger " + c.spec->identity + ": " + call.action + " failed: " + reason);
    }
    if (call.purpose == Purpose::Configuration) {
        configuration_read(c, nullptr, now);  // not read: set what we want all the same
        return;
    }
    Connector* conn = call.purpose == Purpose::None ? nullptr : &c.connectors[call.connector];
    const std::string pile = conn != nullptr ? conn->spec.pile.id : "";
    switch (call.purpose) {
        case Purpose::None:
            break;
        case Purpose::Start:
            if (!ok && conn->session && !conn->session->transaction) {
                conn->session.reset();
                publish_status(c, call.connector, now);
            }
            ack(pile, call.command_id, ok, reason);
            break;
        case Purpose::Stop:
            ack(pile, call.command_id, ok, reason);
            break;
        case Purpose::StopForTarget:
            if (!ok && conn->session) {
                conn->session->stop_sent = false;  // asked again at the next meter value
            }
            break;
        case Purpose::Configuration:
            break;
        case Purpose::Reset:
            if (ok) {
                // It restarts: its connection drops, it boots again, and a Soft reset's
                // StopTransaction (reason SoftReset) ends a running session at the pile.
                log("info", "charger " + c.spec->identity + " accepted a " +
                                call.payload.value("type", std::string()) + " reset");
            }
            ack(pile, call.command_id, ok, reason);
            break;
        case Purpose::Availability:
            if (ok) {
                conn->operative = call.operative;
                if (status == "Scheduled") {
                    log("info", "pile " + pile + ": availability change scheduled");
                }
                publish_status(c, call.connector, now);
            }
            ack(pile, call.command_id, ok, reason);
            break;
    }
}

void Gateway::tick(Now now) {
    for (auto& c : chargers_) {
        if (c.conn && !c.booted && c.boot_wait_until && now.wall_ms >= *c.boot_wait_until) {
            // A charger that did not restart does not boot again (e.g. after the gateway
            // restarted): it is asked to.
            c.boot_wait_until.reset();
            log("info", "charger " + c.spec->identity + " has not booted: asking it to");
            Call trigger;
            trigger.action = "TriggerMessage";
            trigger.payload = to_json(TriggerMessageReq{"BootNotification", std::nullopt});
            enqueue(c, std::move(trigger), now);
        }
        if (c.outstanding && now.wall_ms >= c.outstanding->deadline) {
            Call call = std::move(*c.outstanding);
            c.outstanding.reset();
            if (timed_out_.insert(call.id).second) {
                timed_out_order_.push_back(call.id);
                if (timed_out_order_.size() > kRemembered) {
                    timed_out_.erase(timed_out_order_.front());
                    timed_out_order_.pop_front();
                }
            }
            call_finished(c, call, CallOutcome::Timeout, "",
                          "no answer to " + call.action + " within " +
                              std::to_string(options_.call_timeout_ms) + " ms",
                          now);
            send_next(c, now);
        }
        for (std::size_t k = 0; k < c.connectors.size(); ++k) {
            Connector& conn = c.connectors[k];
            if (conn.deferred_start &&
                now.wall_ms >= conn.deferred_since + options_.call_timeout_ms) {
                const auto cmd = *conn.deferred_start;
                conn.deferred_start.reset();
                ack(conn.spec.pile.id, cmd.id, false,
                    "the previous session did not end within " +
                        std::to_string(options_.call_timeout_ms) + " ms");
            }
        }
    }
}

std::optional<std::int64_t> Gateway::next_due() const {
    std::optional<std::int64_t> due;
    auto consider = [&due](std::int64_t t) { due = due ? std::min(*due, t) : t; };
    for (const auto& c : chargers_) {
        if (c.conn && !c.booted && c.boot_wait_until) {
            consider(*c.boot_wait_until);
        }
        if (c.outstanding) {
            consider(c.outstanding->deadline);
        }
        for (const auto& k : c.connectors) {
            if (k.deferred_start) {
                consider(k.deferred_since + options_.call_timeout_ms);
            }
        }
    }
    return due;
}

// ---- commands from the scheduler -------------------------------------------------------

void Gateway::start_session(Charger& c, std::size_t k, const contract::PileCommand& cmd, Now now) {
    Connector& conn = c.connectors[k];
    if (conn.faulted || !conn.operative || conn.ocpp_status == "Unavailable") {
        ack(conn.spec.pile.id, cmd.id, false,
            conn.faulted ? "pile is faulty" : "pile is switched off");
        return;
    }
    Session s;
    s.id = cmd.session;
    s.order = cmd.order;
    s.target_kwh = cmd.target_kwh;
    s.id_tag = "EVCS" + std::to_string(cmd.order);  // CiString20
    if (s.id_tag.size() > 20) {
        s.id_tag.resize(20);
    }
    conn.session = std::move(s);
    Call call;
    call.action = "RemoteStartTransaction";
    call.payload = to_json(RemoteStartTransactionReq{conn.spec.connector, conn.session->id_tag});
    call.purpose = Purpose::Start;
    call.connector = k;
    call.command_id = cmd.id;
    publish_status(c, k, now);
    enqueue(c, std::move(call), now);
}

void Gateway::on_command(std::string_view pile, const contract::PileCommand& cmd, Now now) {
    const auto it = piles_.find(pile);
    if (it == piles_.end()) {
        return;
    }
    Charger& c = chargers_[it->second.charger];
    const std::size_t k = it->second.connector;
    Connector& conn = c.connectors[k];
    const std::string& id = conn.spec.pile.id;
    if (acks_.answer_again(id, cmd.id, out_.publications)) {
        return;
    }
    if (acks_.in_progress(cmd.id)) {
        return;  // acknowledged when the charger answers
    }
    acks_.received(cmd.id, cmd.type);
    if (cmd.type == CommandType::InjectFault || cmd.type == CommandType::ClearFault) {
        ack(id, cmd.id, false, "a real charger cannot be faulted by command");
        return;
    }
    if (cmd.type == CommandType::Stop && !(conn.session && conn.session->id == cmd.session) &&
        !(conn.deferred_start && conn.deferred_start->session == cmd.session)) {
        // Done, online or not: a charger that ended the session itself (a soft reset) may
        // be restarting when the station's stop for it arrives.
        ack(id, cmd.id, true, "no such session on the pile");
        return;
    }
    if (!c.conn || !c.booted) {
        ack(id, cmd.id, false, "charger " + c.spec->identity + " is offline");
        return;
    }
    acks_.start(cmd.id);
    switch (cmd.type) {
        case CommandType::Start: {
            if (conn.session && conn.session->id == cmd.session) {
                ack(id, cmd.id, true, "");  // already running (a repeated or resumed start)
                return;
            }
            if (conn.session) {
                // The station moved on (its model finished the session a little before the
                // charger's meter did): the running session is stopped, the new one starts
                // when the charger reports the stop.
                if (conn.deferred_start) {
                    ack(id, conn.deferred_start->id, false, "superseded by command " + cmd.id);
                }
                conn.deferred_start = cmd;
                conn.deferred_since = now.wall_ms;
                if (conn.session->transaction && !conn.session->stop_sent) {
                    conn.session->stop_sent = true;
                    conn.session->stop_reason = "superseded by session " + cmd.session;
                    Call stop;
                    stop.action = "RemoteStopTransaction";
                    stop.payload = to_json(RemoteStopTransactionReq{*conn.session->transaction});
                    stop.purpose = Purpose::StopForTarget;
                    stop.connector = k;
                    enqueue(c, std::move(stop), now);
                } else if (!conn.session->transaction) {
                    conn.session.reset();
                    const auto next = *conn.deferred_start;
                    conn.deferred_start.reset();
                    start_session(c, k, next, now);
                }
                return;
            }
            start_session(c, k, cmd, now);
            return;
        }
        case CommandType::Stop: {
            if (conn.deferred_start && conn.deferred_start->session == cmd.session) {
                ack(id, conn.deferred_start->id, false, "stopped before it started");
                conn.deferred_start.reset();
                ack(id, cmd.id, true, "");
                return;
            }
            if (!conn.session->transaction) {
                // Not started yet: forgotten; a StartTransaction for it is refused.
                conn.session.reset();
                publish_status(c, k, now);
                ack(id, cmd.id, true, "");
                return;
            }
            conn.session->stop_sent = true;
            conn.session->stop_reason = "stopped";
            Call stop;
            stop.action = "RemoteStopTransaction";
            stop.payload = to_json(RemoteStopTransactionReq{*conn.session->transaction});
            stop.purpose = Purpose::Stop;
            stop.connector = k;
            stop.command_id = cmd.id;
            enqueue(c, std::move(stop), now);
            return;
        }
        case CommandType::SwitchOn:
        case CommandType::SwitchOff: {
            const bool on = cmd.type == CommandType::SwitchOn;
            if (!on && conn.session && conn.session->transaction && !conn.session->stop_sent) {
                conn.session->stop_sent = true;
                conn.session->stop_reason = "switched off";
                Call stop;
                stop.action = "RemoteStopTransaction";
                stop.payload = to_json(RemoteStopTransactionReq{*conn.session->transaction});
                stop.purpose = Purpose::StopForTarget;
                stop.connector = k;
                enqueue(c, std::move(stop), now);
            }
            Call avail;
            avail.action = "ChangeAvailability";
            avail.payload = to_json(ChangeAvailabilityReq{conn.spec.connector, on});
            avail.purpose = Purpose::Availability;
            avail.connector = k;
            avail.command_id = cmd.id;
            avail.operative = on;
            enqueue(c, std::move(avail), now);
            return;
        }
        case CommandType::Reset: {
            // Charger-wide: one reset at a time, whichever of its piles asked.
            const auto resetting = [](const Call& call) { return call.purpose == Purpose::Reset; };
            if ((c.outstanding && resetting(*c.outstanding)) ||
                std::any_of(c.queue.begin(), c.queue.end(), resetting)) {
                ack(id, cmd.id, false,
                    "a reset of charger " + c.spec->identity + " is already under way");
                return;
            }
            Call reset;
            reset.action = "Reset";
            reset.payload = to_json(ResetReq{cmd.reset == contract::ResetKind::Hard});
            reset.purpose = Purpose::Reset;
            reset.connector = k;
            reset.command_id = cmd.id;
            enqueue(c, std::move(reset), now);
            return;
        }
        case CommandType::InjectFault:
        case CommandType::ClearFault:
            return;
    }
}

}  // namespace gateway
