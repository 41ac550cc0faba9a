#include "gateway/vendor_bridge.hpp"

#include <algorithm>

#include "contract/topics.hpp"
#include "gateway/dialect_goe.hpp"
#include "gateway/dialect_openevse.hpp"

namespace gateway {

using contract::CommandType;
using contract::PileChannel;
using contract::PileEventType;

namespace {

constexpr std::size_t kMaxQueued = 16;
/// Half a watt-hour: a session has reached its target within the meter's resolution.
constexpr double kTargetSlackKwh = 0.0005;

std::optional<std::string> key_of(const VendorDevice& d, std::string_view topic) {
    return d.dialect == Dialect::GoE ? goe::key_of(d, topic) : openevse::key_of(d, topic);
}

Decoded decode(const VendorDevice& d, std::string_view key, std::string_view payload) {
    return d.dialect == Dialect::GoE ? goe::decode(key, payload) : openevse::decode(key, payload);
}

contract::Publication enable_publication(const VendorDevice& d, bool on) {
    return d.dialect == Dialect::GoE ? goe::enable(d, on) : openevse::enable(d, on);
}

// OpenEVSE acknowledges nothing; its EVSE state shows whether the claim took effect.
bool state_matches(ChargerActivity a, bool on) {
    return on ? (a == ChargerActivity::NoCar || a == ChargerActivity::Waiting ||
                 a == ChargerActivity::Charging)
              : a == ChargerActivity::Disabled;
}

std::string kwh(double v) {
    return std::to_string(v);
}

}  // namespace

VendorBridge::VendorBridge(VendorDevices devices, BridgeOptions options)
    : devices_(std::move(devices)), options_(std::move(options)) {
    state_.reserve(devices_.devices.size());
    for (std::size_t i = 0; i < devices_.devices.size(); ++i) {
        Device d;
        d.spec = &devices_.devices[i];
        piles_[d.spec->pile.id] = i;
        state_.push_back(std::move(d));
    }
}

std::vector<std::string> VendorBridge::pile_ids() const {
    std::vector<std::string> ids;
    for (const auto& d : devices_.devices) {
        ids.push_back(d.pile.id);
    }
    return ids;
}

std::vector<std::string> VendorBridge::vendor_subscriptions() const {
    std::vector<std::string> out;
    for (const auto& d : devices_.devices) {
        for (auto& s :
             d.dialect == Dialect::GoE ? goe::subscriptions(d) : openevse::subscriptions(d)) {
            out.push_back(std::move(s));
        }
    }
    return out;
}

contract::Publication VendorBridge::offline_status(std::string_view pile) const {
    return gateway::offline_status(pile);
}

BridgeOutput VendorBridge::take_output() {
    out_.acked = acks_.take_acked();
    BridgeOutput o;
    std::swap(o, out_);
    return o;
}

BridgeStats VendorBridge::stats() const {
    BridgeStats s;
    for (const auto& d : state_) {
        s.devices_online += d.online ? 1U : 0U;
        s.piles.add(d.online, pile_state(d));
        s.piles.sessions_active += d.session && d.session->started ? 1U : 0U;
    }
    return s;
}

void VendorBridge::log(std::string level, std::string text) {
    out_.log.push_back({std::move(level), std::move(text)});
}

std::string VendorBridge::name(const Device& d) const {
    return std::string(to_string(d.spec->dialect)) + " " + d.spec->device + " (pile " +
           d.spec->pile.id + ")";
}

std::optional<VendorPileView> VendorBridge::view(std::string_view pile) const {
    const auto it = piles_.find(pile);
    if (it == piles_.end()) {
        return std::nullopt;
    }
    const Device& d = state_[it->second];
    VendorPileView v;
    v.online = d.online;
    v.state = pile_state(d);
    v.faulted = d.faulted;
    v.fault = d.fault;
    v.power_kw = power_of(d);
    v.total_kwh = d.total_kwh;
    if (d.session) {
        v.session = d.session->id;
        v.session_started = d.session->started;
        v.energy_kwh = d.session->meter.energy_kwh();
    }
    return v;
}

// ---- the station bus -------------------------------------------------------------------

station::PileState VendorBridge::pile_state(const Device& d) const {
    if (d.faulted) {
        return station::PileState::Fault;
    }
    if (!d.operative) {
        return station::PileState::Off;
    }
    return d.session ? station::PileState::Work : station::PileState::Rest;
}

double VendorBridge::power_of(const Device& d) const {
    if (d.power_kw) {
        return *d.power_kw;
    }
    if (d.current_a && d.voltage_v) {
        return *d.current_a * *d.voltage_v / 1000.0;
    }
    return d.spec->pile.power;
}

void VendorBridge::publish_status(Device& d, Now now, bool force) {
    if (!d.online) {
        const auto p = offline_status(d.spec->pile.id);
        if (force || d.published != p.payload) {
            d.published = p.payload;
            out_.station.push_back(p);
        }
        return;
    }
    contract::PileStatus s;
    s.pile = d.spec->pile.id;
    s.online = true;
    s.state = pile_state(d);
    s.mode = d.spec->pile.mode;
    s.power_kw = d.spec->pile.power;
    s.session = d.session ? d.session->id : "";
    // Compared without time and sequence: published again only when it changed.
    const std::string key = contract::to_json(s);
    if (!force && key == d.published) {
        return;
    }
    d.published = key;
    s.at_ms = now.station_ms;
    s.origin = contract::Origin{options_.boot, ++d.seq};
    out_.station.push_back(
        {contract::pile_topic(s.pile, PileChannel::Status), contract::to_json(s), 1, true});
}

void VendorBridge::on_bus_connected(std::string_view pile, Now now) {
    const auto it = piles_.find(pile);
    if (it != piles_.end()) {
        publish_status(state_[it->second], now, true);
    }
}

void VendorBridge::event(Device& d, contract::PileEvent e, Now now) {
    e.pile = d.spec->pile.id;
    e.at_ms = now.station_ms;
    e.origin = contract::Origin{options_.boot, ++d.seq};
    out_.station.push_back(
        {contract::pile_topic(e.pile, PileChannel::Events), contract::to_json(e), 1, false});
}

void VendorBridge::ack(const std::string& pile, const std::string& command_id, bool ok,
                       std::string reason) {
    acks_.ack(pile, command_id, ok, std::move(reason), out_.station);
}

void VendorBridge::end_session(Device& d, const std::string& reason, Now now, bool at_pile) {
    if (!d.session) {
        return;
    }
    Session s = std::move(*d.session);
    d.session.reset();
    if (s.started && d.session_counter_kwh) {
        s.meter.update(*d.session_counter_kwh);
    }
    contract::PileEvent e;
    e.session = s.id;
    e.order = s.order;
    e.energy_kwh = s.meter.energy_kwh();
    if (s.started && e.energy_kwh >= s.target_kwh - kTargetSlackKwh) {
        e.type = PileEventType::SessionFinished;
    } else {
        e.type = at_pile ? PileEventType::SessionEndedAtPile : PileEventType::SessionInterrupted;
        e.reason = !s.stop_reason.empty() ? s.stop_reason
                   : reason.empty()       ? std::string("stopped at the charger")
                                          : reason;
    }
    log("info",
        name(d) + ": session " + s.id + " " +
            (e.type == PileEventType::SessionFinished ? "finished" : "ended (" + e.reason + ")") +
            " at " + kwh(e.energy_kwh) + " kWh of " + kwh(s.target_kwh) +
            (d.total_kwh ? ", charger total " + kwh(*d.total_kwh) + " kWh" : ""));
    event(d, std::move(e), now);
    publish_status(d, now);
}

// ---- the vendor broker -----------------------------------------------------------------

void VendorBridge::on_vendor_message(std::string_view topic, std::string_view payload, Now now) {
    for (auto& d : state_) {
        const auto key = key_of(*d.spec, topic);
        if (!key) {
            continue;
        }
        const Decoded r = decode(*d.spec, *key, payload);
        if (!r.error.empty()) {
            log("warn", name(d) + ": dropped " + r.error);
        } else if (r.update) {
            apply(d, *r.update, now);
        }
        return;
    }
}

void VendorBridge::set_online(Device& d, bool online, Now now) {
    if (online == d.online) {
        return;
    }
    d.online = online;
    log(online ? "info" : "warn", name(d) + (online ? " is online" : " is offline"));
    if (online) {
        // A charger that was away never saw what was sent meanwhile: no answer is owed.
        d.late_results = 0;
        if (!d.session) {
            // The station decides who charges: an idle charger is held off until a start.
            Call hold;
            hold.purpose = Purpose::HoldOff;
            enqueue(d, std::move(hold), now);
        }
    }
    publish_status(d, now);
}

void VendorBridge::apply(Device& d, const ChargerUpdate& u, Now now) {
    if (u.result) {
        if (d.late_results > 0) {
            --d.late_results;
            log("warn", name(d) + ": a late answer (" + u.result->text + ") ignored");
        } else if (d.outstanding) {
            answer(d, u.result->ok,
                   u.result->ok ? "" : "the charger answered \"" + u.result->text + "\"", now);
        } else {
            log("info", name(d) + ": an answer (" + u.result->text + ") to no command: ignored");
        }
    }
    if (d.spec->dialect == Dialect::OpenEvse && d.outstanding &&
        ((u.enabled_echo && *u.enabled_echo == d.outstanding->on) ||
         (u.activity && state_matches(*u.activity, d.outstanding->on)))) {
        answer(d, true, "", now);
    }
    if (u.online) {
        set_online(d, *u.online, now);
    }
    if (u.activity) {
        d.activity = *u.activity;
        d.activity_fault = u.fault;
    }
    if (u.error_code) {
        d.error_code = *u.error_code;
    }
    if (u.power_kw) {
        d.power_kw = u.power_kw;
    }
    if (u.current_a) {
        d.current_a = u.current_a;
    }
    if (u.voltage_v) {
        d.voltage_v = u.voltage_v;
    }
    if (u.total_kwh) {
        d.total_kwh = u.total_kwh;
    }
    if (u.session_kwh) {
        d.session_counter_kwh = u.session_kwh;
    }
    refresh_fault(d, now);
    if (u.activity == ChargerActivity::NoCar && d.session && d.session->started) {
        end_session(d, "car unplugged", now, true);
        Call off;
        enqueue(d, std::move(off), now);
    }
    if (u.session_kwh) {
        meter(d, now);
    }
    publish_status(d, now);
}

void VendorBridge::refresh_fault(Device& d, Now now) {
    const bool activity_fault = d.activity == ChargerActivity::Fault;
    const bool faulted = activity_fault || d.error_code != 0;
    if (faulted && !d.faulted) {
        d.faulted = true;
        d.fault = activity_fault ? d.activity_fault : "";
        if (d.error_code != 0) {
            d.fault +=
                (d.fault.empty() ? "" : ", ") + std::string("err ") + std::to_string(d.error_code);
        }
        log("warn", name(d) + " faulted: " + d.fault);
        if (d.session) {
            end_session(d, "fault: " + d.fault, now);
            Call off;
            enqueue(d, std::move(off), now);
        }
        contract::PileEvent e;
        e.type = PileEventType::FaultRaised;
        e.reason = d.fault;
        event(d, std::move(e), now);
        publish_status(d, now);
    } else if (!faulted && d.faulted) {
        d.faulted = false;
        d.fault.clear();
        log("info", name(d) + " recovered");
        contract::PileEvent e;
        e.type = PileEventType::FaultCleared;
        event(d, std::move(e), now);
        publish_status(d, now);
    }
}

void VendorBridge::meter(Device& d, Now now) {
    if (!d.session || !d.session->started || !d.session_counter_kwh) {
        return;
    }
    Session& s = *d.session;
    const double energy = s.meter.update(*d.session_counter_kwh);
    contract::Telemetry t;
    t.pile = d.spec->pile.id;
    t.session = s.id;
    t.order = s.order;
    t.energy_kwh = energy;
    t.power_kw = power_of(d);
    t.at_ms = now.station_ms;
    t.origin = contract::Origin{options_.boot, ++d.seq};
    out_.station.push_back(
        {contract::pile_topic(t.pile, PileChannel::Telemetry), contract::to_json(t), 0, false});
    if (!s.stop_sent && energy >= s.target_kwh - kTargetSlackKwh) {
        s.stop_sent = true;
        log("info", name(d) + ": session " + s.id + " reached " + kwh(s.target_kwh) +
                        " kWh: stopping the charger");
        Call off;
        off.purpose = Purpose::StopForTarget;
        off.session = s.id;
        enqueue(d, std::move(off), now);
    }
}

// ---- commands to a charger -------------------------------------------------------------

void VendorBridge::enqueue(Device& d, Call call, Now now) {
    if (d.queue.size() >= kMaxQueued) {
        call_finished(d, call, false, "too many commands waiting for the charger", now);
        return;
    }
    d.queue.push_back(std::move(call));
    send_next(d, now);
}

void VendorBridge::enqueue_command(Device& d, Purpose purpose, const contract::PileCommand& cmd,
                                   Now now) {
    acks_.start(cmd.id);
    Call call;
    call.purpose = purpose;
    call.command_id = cmd.id;
    call.session = cmd.session;
    enqueue(d, std::move(call), now);
}

void VendorBridge::send_next(Device& d, Now now) {
    if (d.outstanding || d.queue.empty()) {
        return;
    }
    Call call = std::move(d.queue.front());
    d.queue.pop_front();
    call.deadline = now.wall_ms + options_.command_timeout_ms;
    out_.vendor.push_back(call.purpose == Purpose::Reboot ? goe::reboot(*d.spec)
                                                          : enable_publication(*d.spec, call.on));
    d.outstanding = std::move(call);
}

void VendorBridge::answer(Device& d, bool ok, const std::string& reason, Now now) {
    if (!d.outstanding) {
        return;
    }
    Call call = std::move(*d.outstanding);
    d.outstanding.reset();
    call_finished(d, call, ok, reason, now);
    send_next(d, now);
}

void VendorBridge::call_finished(Device& d, const Call& call, bool ok, const std::string& reason,
                                 Now now) {
    const std::string what = call.purpose == Purpose::Reboot ? "reboot"
                             : call.on                       ? "enable"
                                                             : "disable";
    if (!ok) {
        log("warn", name(d) + ": " + what + " failed: " + reason);
    }
    const std::string& pile = d.spec->pile.id;
    const bool same = d.session && d.session->id == call.session;
    switch (call.purpose) {
        case Purpose::None:
        case Purpose::HoldOff:
            break;
        case Purpose::Reboot:
            if (ok) {
                log("info", name(d) + ": rebooting");
            }
            ack(pile, call.command_id, ok, reason);
            break;
        case Purpose::Start:
            if (!same || d.session->started) {
                ack(pile, call.command_id, false,
                    "the session ended before the charger started it");
            } else if (ok) {
                d.session->started = true;
                log("info", name(d) + ": charging session " + call.session);
                contract::PileEvent e;
                e.type = PileEventType::SessionStarted;
                e.session = d.session->id;
                e.order = d.session->order;
                event(d, std::move(e), now);
                publish_status(d, now);
                ack(pile, call.command_id, true, "");
                meter(d, now);
            } else {
                d.session.reset();
                publish_status(d, now);
                ack(pile, call.command_id, false, reason);
                // Unanswered is not refused: the charger may have enabled all the same.
                Call off;
                enqueue(d, std::move(off), now);
            }
            break;
        case Purpose::Stop:
            if (ok) {
                if (same) {
                    end_session(d, "stopped", now);
                }
                ack(pile, call.command_id, true, "");
            } else {
                if (same) {
                    d.session->stop_sent = false;
                }
                ack(pile, call.command_id, false, reason);
            }
            break;
        case Purpose::StopForTarget:
            if (ok && same) {
                end_session(d, "", now);
            } else if (!ok && same) {
                d.session->stop_sent = false;  // asked again at the next reading
            }
            break;
        case Purpose::SwitchOff:
            if (ok) {
                d.operative = false;
                end_session(d, "switched off", now);
                publish_status(d, now);
                ack(pile, call.command_id, true, "");
            } else {
                if (d.session) {
                    d.session->stop_sent = false;
                    d.session->stop_reason.clear();
                }
                ack(pile, call.command_id, false, reason);
            }
            break;
    }
}

void VendorBridge::tick(Now now) {
    for (auto& d : state_) {
        if (d.outstanding && now.wall_ms >= d.outstanding->deadline) {
            if (d.spec->dialect == Dialect::GoE) {
                ++d.late_results;
            }
            answer(d, false,
                   "no answer within " + std::to_string(options_.command_timeout_ms) + " ms", now);
        }
    }
}

std::optional<std::int64_t> VendorBridge::next_due() const {
    std::optional<std::int64_t> due;
    for (const auto& d : state_) {
        if (d.outstanding) {
            due = due ? std::min(*due, d.outstanding->deadline) : d.outstanding->deadline;
        }
    }
    return due;
}

// ---- commands from the scheduler -------------------------------------------------------

void VendorBridge::start_session(Device& d, const contract::PileCommand& cmd, Now now) {
    d.session = Session{
        cmd.session, cmd.order, cmd.target_kwh, MeteredSession(d.session_counter_kwh), false,
        false,       ""};
    acks_.start(cmd.id);
    publish_status(d, now);
    Call on;
    on.on = true;
    on.purpose = Purpose::Start;
    on.command_id = cmd.id;
    on.session = cmd.session;
    enqueue(d, std::move(on), now);
}

void VendorBridge::on_command(std::string_view pile, const contract::PileCommand& cmd, Now now) {
    const auto it = piles_.find(pile);
    if (it == piles_.end()) {
        return;
    }
    Device& d = state_[it->second];
    const std::string& id = d.spec->pile.id;
    if (acks_.answer_again(id, cmd.id, out_.station)) {
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
    if (cmd.type == CommandType::Stop && !(d.session && d.session->id == cmd.session)) {
        // Done, online or not: a charger that ended the session itself may be restarting
        // when the station's stop for it arrives.
        ack(id, cmd.id, true, "no such session on the pile");
        return;
    }
    if (!d.online) {
        ack(id, cmd.id, false, name(d) + " is offline");
        return;
    }
    switch (cmd.type) {
        case CommandType::Start:
            if (d.session && d.session->id == cmd.session) {
                ack(id, cmd.id, true, "");  // already running (a repeated or resumed start)
            } else if (d.faulted || !d.operative) {
                ack(id, cmd.id, false, d.faulted ? "pile is faulty" : "pile is switched off");
            } else {
                if (d.session) {
                    // The station moved on (its model finished the session a little before
                    // the charger's meter did): the charger stays enabled for the next one.
                    end_session(d, "superseded by session " + cmd.session, now);
                }
                start_session(d, cmd, now);
            }
            return;
        case CommandType::Stop:
            if (!d.session->started) {
                d.session.reset();
                publish_status(d, now);
                ack(id, cmd.id, true, "");
                Call off;
                enqueue(d, std::move(off), now);
            } else {
                d.session->stop_sent = true;
                d.session->stop_reason = "stopped";
                enqueue_command(d, Purpose::Stop, cmd, now);
            }
            return;
        case CommandType::SwitchOn:
            // Nothing to send: the charger stays disabled until a start enables it.
            d.operative = true;
            publish_status(d, now);
            ack(id, cmd.id, true, "");
            return;
        case CommandType::SwitchOff: {
            if (d.session) {
                d.session->stop_sent = true;
                d.session->stop_reason = "switched off";
            }
            enqueue_command(d, Purpose::SwitchOff, cmd, now);
            return;
        }
        case CommandType::Reset: {
            // As an OCPP Soft reset stops the charger's transactions first: what it charges
            // ends at the pile, and it is held off (a restarted charger would otherwise
            // charge on with its last setting), then restarted.
            end_session(d, std::string(contract::reset_stop_reason(cmd.reset)), now, true);
            Call hold;
            hold.purpose = Purpose::HoldOff;
            enqueue(d, std::move(hold), now);
            if (d.spec->dialect == Dialect::OpenEvse) {
                out_.vendor.push_back(
                    openevse::restart(*d.spec, cmd.reset == contract::ResetKind::Hard));
                log("info", name(d) + ": restart sent");
                ack(id, cmd.id, true, "");  // OpenEVSE answers nothing to a restart
                return;
            }
            enqueue_command(d, Purpose::Reboot, cmd, now);
            return;
        }
        case CommandType::InjectFault:
        case CommandType::ClearFault:
            return;
    }
}

}  // namespace gateway
