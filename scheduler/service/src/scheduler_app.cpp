#include "service/scheduler_app.hpp"

#include <algorithm>
#include <cmath>

#include "contract/station_state.hpp"
#include "contract/topics.hpp"
#include "station/time.hpp"

namespace service {

using contract::PileChannel;
using nlohmann::json;

namespace {

constexpr std::size_t kRecentReplies = 4096;

station::SimulatedClock make_clock(const ClockConfig& c, std::int64_t wall_ms) {
    if (c.simulated) {
        return station::SimulatedClock(c.start, c.speed, wall_ms);
    }
    return station::SimulatedClock(station::station_time_from_utc(wall_ms, c.utc_offset_minutes), 1,
                                   wall_ms);
}

contract::SchedulerReply refused(std::string error, std::string reason) {
    contract::SchedulerReply r;
    r.ok = false;
    r.error = std::move(error);
    r.reason = std::move(reason);
    return r;
}

// The first line of a journal: what the station is and when it started.
json journal_start(const std::vector<std::string>& resume) {
    if (resume.empty()) {
        return json();
    }
    json start = json::parse(resume.front(), nullptr, false);
    if (!start.is_object() || start.value("op", "") != "start" || !start.contains("at") || !start.contains("run")) {
        throw std::runtime_error("the journal does not begin with its start line");
    }
    return start;
}

station::TimeMs start_time(const SchedulerOptions& o, std::int64_t wall_ms) {
    if (!o.resume.empty()) {
        return journal_start(o.resume).at("at").get<station::TimeMs>();
    }
    return make_clock(o.clock, wall_ms).now(wall_ms);
}

std::string mode_text(station::Mode m) { return std::string(1, station::mode_letter(m)); }

contract::SchedulerReply from_outcome(const station::Outcome& o) {
    if (o.ok()) {
        contract::SchedulerReply r;
        r.ok = true;
        return r;
    }
    return refused(std::string(station::code(o.rejection)), std::string(station::describe(o.rejection)));
}

}  // namespace

SchedulerApp::SchedulerApp(station::Profile profile, SchedulerOptions options, std::int64_t wall_ms,
                           LogFn log)
    : station_(std::move(profile), start_time(options, wall_ms)),
      options_(std::move(options)),
      clock_(make_clock(options_.clock, wall_ms)),
      log_(std::move(log)),
      links_(station_.pile_count()),
      requests_topic_(contract::scheduler_requests_topic()) {
    station_.record_events(true);
    if (!options_.resume.empty()) {
        resume(wall_ms);
        return;
    }
    if (options_.journal) {
        options_.journal(json{{"op", "start"},
                              {"at", station_.now()},
                              {"run", options_.run},
                              {"profile", station_.profile().name},
                              {"piles", pile_ids()},
                              {"simulated", options_.clock.simulated}}
                             .dump());
    }
    // A pile takes cars only once it has said it is online (its retained status arrives
    // as soon as we subscribe); until then it counts as faulty.
    for (std::size_t p = 0; p < station_.pile_count(); ++p) {
        act(json{{"op", "fault"}, {"pile", station_.pile_spec(static_cast<station::PileIndex>(p)).id}, {"offline", true}});
        links_[p].fault_from_disconnect = true;
    }
    station_.take_events();
}

void SchedulerApp::resume(std::int64_t wall_ms) {
    const json start = journal_start(options_.resume);
    if (start.value("profile", "") != station_.profile().name || start.value("piles", json()) != pile_ids()) {
        throw std::runtime_error("the journal is of another station (profile " + start.value("profile", "?") +
                                 ", piles " + start.value("piles", json()).dump() + "), not " +
                                 station_.profile().name + " " + pile_ids().dump());
    }
    options_.run = start.at("run").get<std::string>();
    replaying_ = true;
    station::TimeMs clock_at = station_.now();
    double clock_speed = options_.clock.speed;
    std::size_t applied = 0;
    for (std::size_t i = 1; i < options_.resume.size(); ++i) {
        const json c = json::parse(options_.resume[i], nullptr, false);
        if (!c.is_object() || !c.contains("t") || !c["t"].is_number_integer()) {
            throw std::runtime_error("journal line " + std::to_string(i + 1) + " is not a command");
        }
        station_.advance_to(c["t"].get<station::TimeMs>());
        if (c.value("op", "") == "clock") {
            clock_at = c["t"].get<station::TimeMs>();
            clock_speed = c.value("speed", clock_speed);
        } else {
            apply_command(c);
            // Which piles are faulty only because they went away, as the live run knew it.
            if (const auto p = station_.find_pile(c.value("pile", ""))) {
                const std::string op = c.value("op", "");
                if (op == "fault" || op == "recover") {
                    links_[static_cast<std::size_t>(*p)].fault_from_disconnect = op == "fault" && c.value("offline", false);
                }
            }
        }
        ++applied;
    }
    // Rebuild what the events tell (the piles' sessions), without sending anything again.
    flush_events();
    out_.clear();
    stats_ = Stats{};
    replaying_ = false;
    // A simulated clock goes on from where it stood; wall time is wall time.
    if (options_.clock.simulated) {
        clock_.set(std::max(clock_at, station_.now()), clock_speed, wall_ms);
    }
    station_.advance_to(std::max(station_.now(), clock_.now(wall_ms)));
    log("info", "resumed run " + options_.run + " from its journal: " + std::to_string(applied) +
                    " commands, " + std::to_string(station_.orders().size()) + " orders");
}

void SchedulerApp::resume_session(station::PileIndex p) {
    // The pile restarted and lost the session the station runs on it: it is told again,
    // for what the order still needs. Its meter starts over, so this session's end is not
    // reconciled against the bill.
    const auto queue = station_.pile_queue(p);
    if (queue.empty() || station_.order(queue.front()).state != station::OrderState::Charging) {
        return;
    }
    const station::OrderId id = queue.front();
    PileLink& link = links_[static_cast<std::size_t>(p)];
    contract::PileCommand cmd;
    cmd.type = contract::CommandType::Start;
    cmd.session = link.session;
    cmd.order = id;
    cmd.target_kwh = station_.order(id).requested_kwh - station_.progress(id).kwh;
    if (cmd.target_kwh <= 0) {
        return;
    }
    link.session_resumed = true;
    log("warn", "pile " + station_.pile_spec(p).id + " restarted during session " + link.session + ": resumed");
    command(p, cmd);
}

json SchedulerApp::pile_ids() const {
    json ids = json::array();
    for (std::size_t p = 0; p < station_.pile_count(); ++p) {
        ids.push_back(station_.pile_spec(static_cast<station::PileIndex>(p)).id);
    }
    return ids;
}

station::Outcome SchedulerApp::act(json command) {
    command["t"] = station_.now();
    if (options_.journal && !replaying_) {
        options_.journal(command.dump());  // durable before it takes effect
    }
    return apply_command(command);
}

station::Outcome SchedulerApp::apply_command(const json& c) {
    const std::string op = c.value("op", "");
    const std::string pile = c.value("pile", "");
    const std::string car = c.value("car", "");
    std::optional<station::Mode> mode;
    if (c.contains("mode")) {
        mode = c["mode"] == "F" ? station::Mode::Fast : station::Mode::Slow;
    }
    std::optional<double> kwh;
    if (c.contains("kwh")) {
        kwh = c["kwh"].get<double>();
    }
    if (op == "submit") {
        return station_.submit(car, *mode, *kwh);
    }
    if (op == "change") {
        return station_.change(car, mode, kwh);
    }
    if (op == "cancel") {
        return station_.cancel(car);
    }
    if (op == "fault") {
        return station_.fault(pile, c.value("duration_ms", station::TimeMs{0}));
    }
    if (op == "recover") {
        return station_.recover(pile);
    }
    if (op == "switch_on") {
        return station_.switch_on(pile);
    }
    if (op == "switch_off") {
        return station_.switch_off(pile);
    }
    throw std::runtime_error("unknown journal command " + op);
}

void SchedulerApp::journal_clock(std::int64_t wall_ms) {
    if (options_.journal) {
        options_.journal(json{{"op", "clock"}, {"t", clock_.now(wall_ms)}, {"speed", clock_.speed()}}.dump());
    }
}

std::vector<std::pair<std::string, int>> SchedulerApp::subscriptions() {
    return {{contract::all_piles(PileChannel::Status), 1},
            {contract::all_piles(PileChannel::Telemetry), 0},
            {contract::all_piles(PileChannel::Events), 1},
            {contract::all_piles(PileChannel::Acks), 1},
            {contract::scheduler_requests_topic(), 1}};
}

void SchedulerApp::log(std::string_view level, std::string_view message) const {
    if (log_) {
        log_(level, message);
    }
}

void SchedulerApp::drop(std::string_view why, std::string_view topic) {
    ++stats_.dropped;
    constexpr int kLogsPerSecond = 10;
    const std::int64_t second = last_wall_ / 1000;
    if (second != drop_log_second_) {
        if (drops_not_logged_ > 0) {
            log("warn", std::to_string(drops_not_logged_) + " more messages dropped without a log line");
        }
        drop_log_second_ = second;
        drop_logs_this_second_ = 0;
        drops_not_logged_ = 0;
    }
    if (drop_logs_this_second_++ < kLogsPerSecond) {
        log("warn", "dropped a message on " + std::string(topic) + ": " + std::string(why));
    } else {
        ++drops_not_logged_;
    }
}

void SchedulerApp::advance(std::int64_t wall_ms) { station_.advance_to(clock_.now(wall_ms)); }

void SchedulerApp::on_message(std::string_view topic, std::string_view payload, std::int64_t wall_ms) {
    ++stats_.messages;
    last_wall_ = wall_ms;
    advance(wall_ms);
    if (topic == requests_topic_) {
        handle_request(payload, wall_ms);
    } else if (const auto pt = contract::parse_pile_topic(topic)) {
        if (!station_.find_pile(pt->pile)) {
            drop("unknown pile", topic);
        } else {
            try {
                handle_pile(topic, pt->pile, static_cast<int>(pt->channel), payload, wall_ms);
            } catch (const std::exception& e) {
                log("error", std::string("pile report not applied: ") + e.what());
            }
        }
    } else {
        drop("not a topic the scheduler reads", topic);
    }
    flush_events();
}

void SchedulerApp::tick(std::int64_t wall_ms) {
    advance(wall_ms);
    check_offline(wall_ms);
    flush_events();
    if (state_due(wall_ms)) {
        publish_state(wall_ms);
    }
}

bool SchedulerApp::charging() const {
    for (std::size_t p = 0; p < station_.pile_count(); ++p) {
        if (station_.pile_state(static_cast<station::PileIndex>(p)) == station::PileState::Work) {
            return true;
        }
    }
    return false;
}

bool SchedulerApp::state_due(std::int64_t wall_ms) const {
    const std::int64_t since = wall_ms - last_state_wall_;
    if (revision_ != published_revision_) {
        return since >= options_.state_interval_ms;
    }
    return options_.state_refresh_ms > 0 && clock_.speed() > 0 && since >= options_.state_refresh_ms &&
           charging();
}

void SchedulerApp::on_connected(std::int64_t wall_ms) {
    connected_ = true;
    for (PileLink& link : links_) {
        if (link.offline_since) {
            link.offline_since = wall_ms;
        }
    }
    advance(wall_ms);
    flush_events();
    publish_clock(wall_ms);
    publish_state(wall_ms);
}

void SchedulerApp::on_connection_lost() { connected_ = false; }

void SchedulerApp::check_offline(std::int64_t wall_ms) {
    if (!connected_ || offline_pending_ == 0) {
        return;
    }
    for (std::size_t p = 0; p < links_.size(); ++p) {
        PileLink& link = links_[p];
        if (link.offline_since && wall_ms - *link.offline_since >= options_.offline_grace_ms) {
            link.offline_since.reset();
            --offline_pending_;
            const auto pi = static_cast<station::PileIndex>(p);
            if (station_.pile_state(pi) != station::PileState::Fault) {
                const std::string& id = station_.pile_spec(pi).id;
                log("warn", "pile " + id + " has been offline too long: treated as a fault");
                try {
                    act(json{{"op", "fault"}, {"pile", id}, {"offline", true}});
                } catch (const std::exception& e) {
                    log("error", std::string("fault not applied: ") + e.what());
                }
                link.fault_from_disconnect = true;
            }
        }
    }
}

std::optional<std::int64_t> SchedulerApp::next_due_wall_ms(std::int64_t wall_ms) const {
    std::optional<std::int64_t> due;
    for (std::size_t i = 0; connected_ && offline_pending_ > 0 && i < links_.size(); ++i) {
        const PileLink& link = links_[i];
        if (link.offline_since) {
            const auto at = std::max(wall_ms, *link.offline_since + options_.offline_grace_ms);
            due = due ? std::min(*due, at) : at;
        }
    }
    if (revision_ != published_revision_) {
        const auto at = std::max(wall_ms, last_state_wall_ + options_.state_interval_ms);
        due = due ? std::min(*due, at) : at;
    } else if (options_.state_refresh_ms > 0 && clock_.speed() > 0 && charging()) {
        const auto at = std::max(wall_ms, last_state_wall_ + options_.state_refresh_ms);
        due = due ? std::min(*due, at) : at;
    }
    const auto next = station_.next_event_time();
    if (next && clock_.speed() > 0) {
        const double wait = static_cast<double>(*next - clock_.now(wall_ms)) / clock_.speed();
        const auto at = wall_ms + std::max<std::int64_t>(0, static_cast<std::int64_t>(std::ceil(wait)));
        due = due ? std::min(*due, at) : at;
    }
    return due;
}

std::vector<contract::Publication> SchedulerApp::take_publications() {
    std::vector<contract::Publication> out;
    out.swap(out_);
    return out;
}

// ---- piles ---------------------------------------------------------------------------

template <typename Message>
bool SchedulerApp::read(std::string_view payload, std::string_view pile, std::string_view topic,
                        Message& m) {
    std::string error = contract::parse(payload, m);
    if (error.empty() && m.pile != pile) {
        error = "pile id differs from the topic";
    }
    if (!error.empty()) {
        drop(error, topic);
        return false;
    }
    return true;
}

bool SchedulerApp::fresh(PileLink& link, int channel, const contract::Origin& origin) {
    if (origin.boot != link.boot) {  // the pile (re)started: new sequences begin
        link.boot = origin.boot;
        link.last_seq[0] = link.last_seq[1] = -1;
    }
    std::int64_t& last = link.last_seq[channel];
    if (origin.seq <= last) {
        return false;
    }
    last = origin.seq;
    return true;
}

void SchedulerApp::handle_pile(std::string_view topic, std::string_view pile, int channel,
                               std::string_view payload, std::int64_t wall_ms) {
    const auto p = *station_.find_pile(pile);
    PileLink& link = links_[static_cast<std::size_t>(p)];
    const std::string& id = station_.pile_spec(p).id;
    switch (static_cast<PileChannel>(channel)) {
        case PileChannel::Status: {
            contract::PileStatus m;
            if (!read(payload, pile, topic, m)) {
                return;
            }
            if (!m.online) {
                if (link.online) {
                    log("warn", "pile " + id + " went offline");
                    if (!link.offline_since) {
                        ++offline_pending_;
                    }
                    link.offline_since = wall_ms;
                }
                link.online = false;
                return;
            }
            // Sequence numbers order one pile's messages per channel; status is compared
            // with itself only through the boot id, so a retained status is always taken.
            const bool restarted = !link.boot.empty() && m.origin.boot != link.boot;
            if (m.origin.boot != link.boot) {
                link.boot = m.origin.boot;
                link.last_seq[0] = link.last_seq[1] = -1;
            }
            link.online = true;
            if (restarted && m.session.empty() && !link.session.empty()) {
                resume_session(p);
            }
            if (link.offline_since) {
                --offline_pending_;
                link.offline_since.reset();
            }
            if (!m.session.empty() && m.session != link.session) {
                // The pile runs a session the station has ended (e.g. while it was away).
                contract::PileCommand stop;
                stop.type = contract::CommandType::Stop;
                stop.session = m.session;
                command(p, stop);
            }
            if (link.fault_from_disconnect) {
                link.fault_from_disconnect = false;
                if (m.state != station::PileState::Fault) {
                    log("info", "pile " + id + " is online");
                    act(json{{"op", "recover"}, {"pile", id}});
                }
            }
            return;
        }
        case PileChannel::Telemetry: {
            contract::Telemetry m;
            if (!read(payload, pile, topic, m)) {
                return;
            }
            // Validated and de-duplicated for monitors' sake; the meter is reconciled from
            // the session's end event, which carries the final reading.
            if (!fresh(link, 0, m.origin)) {
                drop("replayed or out-of-order telemetry", topic);
            }
            return;
        }
        case PileChannel::Events: {
            contract::PileEvent m;
            if (!read(payload, pile, topic, m)) {
                return;
            }
            if (!fresh(link, 1, m.origin)) {
                drop("replayed or duplicated event", topic);
                return;
            }
            switch (m.type) {
                case contract::PileEventType::FaultRaised: {
                    const auto r = act(json{{"op", "fault"},
                                            {"pile", id},
                                            {"duration_ms", m.fault_minutes * station::kMsPerMinute}});
                    link.fault_from_disconnect = false;
                    log(r.ok() ? "warn" : "info",
                        "pile " + id + " reports a fault" + (r.ok() ? "" : " (already faulty)"));
                    return;
                }
                case contract::PileEventType::FaultCleared: {
                    const auto r = act(json{{"op", "recover"}, {"pile", id}});
                    log("info", "pile " + id + " reports its fault cleared" +
                                    (r.ok() ? "" : " (the station had recovered it already)"));
                    return;
                }
                case contract::PileEventType::SessionFinished:
                case contract::PileEventType::SessionInterrupted: {
                    // Reconciliation: the pile's meter against the bill the core made for
                    // that session (a zero-length session has none).
                    if (m.session == link.ended_session && link.ended_bill != station::kNone &&
                        !link.ended_resumed) {
                        const double billed = station_.bill(link.ended_bill).kwh;
                        if (std::fabs(billed - m.energy_kwh) > options_.reconcile_tolerance_kwh) {
                            log("warn", "pile " + id + " metered " + std::to_string(m.energy_kwh) +
                                            " kWh in session " + m.session + ", the bill says " +
                                            std::to_string(billed));
                        }
                    }
                    return;
                }
                case contract::PileEventType::SessionStarted:
                    return;
            }
            return;
        }
        case PileChannel::Acks: {
            contract::CommandAck m;
            if (!read(payload, pile, topic, m)) {
                return;
            }
            if (!m.ok) {
                log("warn", "pile " + id + " refused command " + m.id + ": " + m.reason);
            }
            return;
        }
        case PileChannel::Commands:
            drop("commands are the scheduler's own", topic);
            return;
    }
}

// ---- requests ------------------------------------------------------------------------

void SchedulerApp::handle_request(std::string_view payload, std::int64_t wall_ms) {
    const std::string topic = contract::scheduler_requests_topic();
    contract::SchedulerRequest req;
    if (std::string e = contract::parse(payload, req); !e.empty()) {
        // Answer a malformed request when it says where to, so the caller learns why.
        const json j = json::parse(payload, nullptr, false);
        if (j.is_object() && j.contains("id") && j["id"].is_string() && j.contains("reply_to") &&
            j["reply_to"].is_string()) {
            const std::string reply_to = j["reply_to"].get<std::string>();
            if (contract::is_replies_topic(reply_to)) {
                auto reply = refused("bad_request", e);
                reply.id = j["id"].get<std::string>();
                out_.push_back({reply_to, contract::to_json(reply), 1, false});
            }
        }
        drop(e, topic);
        return;
    }
    if (const auto it = recent_replies_.find(req.id); it != recent_replies_.end()) {
        log("info", "request " + req.id + " repeated: answered again, not applied again");
        out_.push_back({req.reply_to, it->second, 1, false});
        return;
    }
    contract::SchedulerReply reply;
    try {
        reply = apply(req, wall_ms);
    } catch (const std::exception& e) {
        // The journal could not keep the command, so it did not take effect.
        log("error", std::string("request not applied: ") + e.what());
        reply = refused("journal_failed", e.what());
    }
    reply.id = req.id;
    std::string text = contract::to_json(reply);
    // Only a request that changes something must not act twice; reads (state, bills,
    // stats, clock) are answered afresh, and their replies can be large.
    const bool changes = req.op != contract::RequestOp::State && req.op != contract::RequestOp::Bills &&
                         req.op != contract::RequestOp::Stats && req.op != contract::RequestOp::ClockGet;
    if (changes) {
        recent_replies_.emplace(req.id, text);
        recent_order_.push_back(req.id);
        if (recent_order_.size() > kRecentReplies) {
            recent_replies_.erase(recent_order_.front());
            recent_order_.pop_front();
        }
    }
    out_.push_back({req.reply_to, std::move(text), 1, false});
}

contract::SchedulerReply SchedulerApp::apply(const contract::SchedulerRequest& req,
                                             std::int64_t wall_ms) {
    using contract::RequestOp;
    const bool sim = options_.clock.simulated;
    auto order_reply = [&](const station::Outcome& o) {
        auto r = from_outcome(o);
        if (o.order != station::kNone) {
            r.data = order_update(o.order);
        }
        return r;
    };
    auto pile_command = [&](const std::string& pile, contract::CommandType type, int minutes = 0) {
        contract::PileCommand cmd;
        cmd.type = type;
        cmd.fault_minutes = minutes;
        command(*station_.find_pile(pile), cmd);
    };
    if (req.order && (req.op == RequestOp::Change || req.op == RequestOp::Cancel)) {
        const auto open = station_.active_order(req.car);
        if (!open || *open != *req.order) {
            return refused("order_not_open", "that order is not the car's open order");
        }
    }
    switch (req.op) {
        case RequestOp::Submit:
            return order_reply(act(json{{"op", "submit"}, {"car", req.car}, {"mode", mode_text(*req.mode)}, {"kwh", *req.kwh}}));
        case RequestOp::Change: {
            json c{{"op", "change"}, {"car", req.car}};
            if (req.mode) {
                c["mode"] = mode_text(*req.mode);
            }
            if (req.kwh) {
                c["kwh"] = *req.kwh;
            }
            return order_reply(act(c));
        }
        case RequestOp::Cancel:
            return order_reply(act(json{{"op", "cancel"}, {"car", req.car}}));
        case RequestOp::Fault:
        case RequestOp::Recover: {
            if (!sim) {
                return refused("not_simulation", "fault injection needs the simulated clock");
            }
            const bool fault = req.op == RequestOp::Fault;
            const auto o = fault ? act(json{{"op", "fault"},
                                            {"pile", req.pile},
                                            {"duration_ms", req.minutes * station::kMsPerMinute}})
                                 : act(json{{"op", "recover"}, {"pile", req.pile}});
            if (o.ok()) {
                // The simulated pile is told too, so that what it reports agrees.
                pile_command(req.pile,
                             fault ? contract::CommandType::InjectFault : contract::CommandType::ClearFault,
                             req.minutes);
            }
            return from_outcome(o);
        }
        case RequestOp::SwitchOn:
        case RequestOp::SwitchOff: {
            const bool on = req.op == RequestOp::SwitchOn;
            const auto o = act(json{{"op", on ? "switch_on" : "switch_off"}, {"pile", req.pile}});
            if (o.ok()) {
                pile_command(req.pile, on ? contract::CommandType::SwitchOn
                                          : contract::CommandType::SwitchOff);
            }
            return from_outcome(o);
        }
        case RequestOp::ClockGet:
            break;
        case RequestOp::ClockSet: {
            if (!sim) {
                return refused("not_simulation", "the clock is wall time outside simulation");
            }
            const station::TimeMs now = clock_.now(wall_ms);
            const station::TimeMs to = req.time.value_or(now);
            if (to < now) {
                return refused("clock_backwards", "station time never runs backwards");
            }
            clock_.set(to, req.speed.value_or(clock_.speed()), wall_ms);
            journal_clock(wall_ms);
            advance(wall_ms);
            publish_clock(wall_ms);
            break;
        }
        case RequestOp::ClockAdvance: {
            if (!sim) {
                return refused("not_simulation", "the clock is wall time outside simulation");
            }
            clock_.advance(req.advance_seconds * station::kMsPerSecond, wall_ms);
            journal_clock(wall_ms);
            advance(wall_ms);
            publish_clock(wall_ms);
            break;
        }
        case RequestOp::State: {
            flush_events();
            contract::SchedulerReply r;
            r.ok = true;
            r.data = contract::station_state(station_, revision_);
            r.data["run"] = options_.run;
            return r;
        }
        case RequestOp::Bills: {
            contract::SchedulerReply r;
            r.ok = true;
            r.data = contract::bills_view(station_);
            return r;
        }
        case RequestOp::Stats: {
            contract::SchedulerReply r;
            r.ok = true;
            r.data = json{{"messages", stats_.messages},
                          {"dropped", stats_.dropped},
                          {"commands_sent", stats_.commands_sent},
                          {"bills", stats_.bills}};
            return r;
        }
    }
    contract::SchedulerReply r;  // the clock operations answer with the clock
    r.ok = true;
    const station::TimeMs now = clock_.now(wall_ms);
    r.data = json{{"at_ms", now},
                  {"time", station::format_datetime(now)},
                  {"speed", clock_.speed()},
                  {"simulated", sim}};
    return r;
}

// ---- out -------------------------------------------------------------------------------

void SchedulerApp::command(station::PileIndex p, contract::PileCommand cmd) {
    cmd.id = options_.boot + "-" + std::to_string(++command_seq_);
    ++stats_.commands_sent;
    out_.push_back({contract::pile_topic(station_.pile_spec(p).id, PileChannel::Commands),
                    contract::to_json(cmd), 1, false});
}

void SchedulerApp::flush_events() {
    std::vector<station::OrderId> changed;
    for (const station::StationEvent& e : station_.take_events()) {
        ++revision_;
        if (const auto* c = std::get_if<station::OrderChanged>(&e)) {
            changed.push_back(c->order);
        } else if (const auto* s = std::get_if<station::SessionStarted>(&e)) {
            PileLink& link = links_[static_cast<std::size_t>(s->pile)];
            contract::PileCommand cmd;
            cmd.type = contract::CommandType::Start;
            cmd.session = "o" + std::to_string(s->order) + "-" + std::to_string(s->at);
            cmd.order = s->order;
            cmd.target_kwh = s->target_kwh;
            link.session = cmd.session;
            command(s->pile, cmd);
        } else if (const auto* stop = std::get_if<station::SessionStopped>(&e)) {
            PileLink& link = links_[static_cast<std::size_t>(stop->pile)];
            if (stop->reason == station::StopReason::Cancelled) {
                contract::PileCommand cmd;
                cmd.type = contract::CommandType::Stop;
                cmd.session = link.session;
                command(stop->pile, cmd);
            }
            link.ended_session = std::move(link.session);
            link.ended_bill = stop->bill;
            link.ended_resumed = link.session_resumed;
            link.session.clear();
            link.session_resumed = false;
            if (stop->bill != station::kNone) {
                ++stats_.bills;
                json bill = contract::bill_view(station_, station_.bill(stop->bill));
                bill["run"] = options_.run;
                out_.push_back({contract::station_bills_topic(), bill.dump(), 1, false});
            }
        }
    }
    // One update per order and step, after its bills: a reader that stores orders sees the
    // bill of a closed session before the order's closing update.
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    for (const station::OrderId id : changed) {
        out_.push_back({contract::station_orders_topic(), order_update(id).dump(), 1, false});
    }
}

json SchedulerApp::order_update(station::OrderId id) const {
    json j = contract::order_view(station_, id);
    j["run"] = options_.run;  // order and bill ids count from 0 in each run
    return j;
}

void SchedulerApp::publish_clock(std::int64_t wall_ms) {
    contract::ClockMessage m;
    m.at_ms = clock_.now(wall_ms);
    m.speed = clock_.speed();
    m.wall_ms = wall_ms;
    m.simulated = options_.clock.simulated;
    out_.push_back({contract::station_clock_topic(), contract::to_json(m), 1, true});
}

void SchedulerApp::publish_state(std::int64_t wall_ms) {
    json state = contract::station_state(station_, revision_);
    state["run"] = options_.run;
    out_.push_back({contract::station_state_topic(), state.dump(), 1, true});
    published_revision_ = revision_;
    last_state_wall_ = wall_ms;
}

}  // namespace service
