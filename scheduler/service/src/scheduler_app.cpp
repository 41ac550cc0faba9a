#include "service/scheduler_app.hpp"

#include <algorithm>
#include <cmath>

#include "contract/journal.hpp"
#include "contract/station_state.hpp"
#include "contract/topics.hpp"
#include "station/time.hpp"

namespace service {

using contract::PileChannel;
using nlohmann::json;

namespace {

constexpr std::size_t kCatchUpLimit = 2000;

station::SimulatedClock make_clock(const ClockConfig& c, std::int64_t wall_ms) {
    if (c.simulated) {
        return station::SimulatedClock(c.start, c.speed, wall_ms);
    }
    return station::SimulatedClock(station::station_time_from_utc(wall_ms, c.utc_offset_minutes), 1,
                                   wall_ms);
}

// The first line of a journal: what the station is and when it started.
contract::JournalStart journal_start(const std::vector<std::string>& resume) {
    contract::JournalStart start;
    if (const std::string e = contract::parse(resume.front(), start); !e.empty()) {
        throw std::runtime_error("the journal does not begin with its start line: " + e);
    }
    return start;
}

station::TimeMs start_time(const SchedulerOptions& o, std::int64_t wall_ms) {
    if (o.snapshot) {
        return o.snapshot->station.now;
    }
    if (!o.resume.empty()) {
        return journal_start(o.resume).at;
    }
    return make_clock(o.clock, wall_ms).now(wall_ms);
}

contract::SchedulerReply rejected(station::Rejection why) {
    return refused(std::string(station::code(why)), std::string(station::describe(why)));
}

contract::SchedulerReply from_outcome(const station::Outcome& o) {
    if (o.ok()) {
        contract::SchedulerReply r;
        r.ok = true;
        return r;
    }
    return rejected(o.rejection);
}

}  // namespace

SchedulerApp::SchedulerApp(station::Profile profile, SchedulerOptions options, std::int64_t wall_ms,
                           LogFn log)
    : station_(std::move(profile), start_time(options, wall_ms)),
      options_(std::move(options)),
      clock_(make_clock(options_.clock, wall_ms)),
      log_(std::move(log)),
      journal_(std::move(options_.journal), std::move(options_.save_snapshot),
               options_.snapshot_every),
      state_(options_.state_interval_ms, options_.state_refresh_ms),
      links_(station_.pile_count(), options_.offline_grace_ms),
      out_(options_.boot),
      requests_topic_(contract::scheduler_requests_topic()),
      changes_(options_.run) {
    station_.record_events(true);
    start_at_ = station_.now();
    if (!options_.resume.empty()) {
        resume(wall_ms);
        return;
    }
    if (options_.snapshot) {
        throw std::runtime_error("a snapshot without its journal");
    }
    if (journal_.enabled()) {
        journal_.start(contract::to_json(start_line(0)));
    }
    // A pile takes cars only once it has said it is online (its retained status arrives
    // as soon as we subscribe); until then it counts as faulty.
    for (std::size_t p = 0; p < station_.pile_count(); ++p) {
        act(pile_command_entry(station::CommandOp::Fault, static_cast<station::PileIndex>(p),
                               true));
        links_[p].fault_from_disconnect = true;
    }
}

contract::JournalStart SchedulerApp::start_line(std::int64_t base) const {
    contract::JournalStart s;
    s.at = start_at_;
    s.run = options_.run;
    s.profile = station_.profile().name;
    s.piles = pile_ids();
    s.simulated = options_.clock.simulated;
    s.base = base;
    return s;
}

void SchedulerApp::resume(std::int64_t wall_ms) {
    const contract::JournalStart start = journal_start(options_.resume);
    if (start.profile != station_.profile().name || start.piles != pile_ids()) {
        throw std::runtime_error("the journal is of another station (profile " + start.profile +
                                 ", piles " + json(start.piles).dump() + "), not " +
                                 station_.profile().name + " " + json(pile_ids()).dump());
    }
    options_.run = start.run;
    start_at_ = start.at;
    const std::int64_t base = start.base;
    changes_ = ChangeLog(options_.run);
    const std::int64_t covered = options_.snapshot ? options_.snapshot->journal_lines : 0;
    journal_.begin_replay(base, covered);
    station::TimeMs clock_at = station_.now();
    double clock_speed = options_.clock.speed;
    if (options_.snapshot) {
        if (covered < base) {
            throw std::runtime_error("the snapshot covers " + std::to_string(covered) +
                                     " journal lines, but the journal starts after " +
                                     std::to_string(base) + ": lines are missing");
        }
        std::tie(clock_at, clock_speed) = restore(std::move(*options_.snapshot));
        options_.snapshot.reset();
    }
    std::size_t applied = 0;
    for (std::size_t i = 1; i < options_.resume.size(); ++i) {
        if (!journal_.replay_line()) {
            continue;  // in the snapshot
        }
        contract::JournalEntry e;
        if (std::string error = contract::parse(options_.resume[i], e); !error.empty()) {
            throw std::runtime_error("journal line " + std::to_string(i + 1) + ": " + error);
        }
        if (e.t < station_.now()) {
            throw std::runtime_error("journal line " + std::to_string(i + 1) +
                                     " goes back in time");
        }
        station_.advance_to(e.t);
        flush_events();
        journal_.replayed(e.t);
        switch (e.kind) {
            case contract::JournalEntry::Kind::Clock:
                clock_at = e.t;
                clock_speed = e.speed;
                if (!e.request.empty()) {
                    requests_.remember(e.request, clock_reply(e.t, e.speed));
                }
                break;
            case contract::JournalEntry::Kind::Advance:
                break;
            case contract::JournalEntry::Kind::Command: {
                const station::Outcome o = station::apply(station_, e.command);
                flush_events();
                // Which piles are faulty only because they went away, as the live run knew it.
                const auto op = e.command.op;
                if (op == station::CommandOp::Fault || op == station::CommandOp::Recover) {
                    if (const auto p = station_.find_pile(e.subject)) {
                        links_[static_cast<std::size_t>(*p)].fault_from_disconnect =
                            op == station::CommandOp::Fault && e.offline;
                    }
                }
                if (!e.request.empty()) {
                    requests_.remember(e.request, command_reply(e.command.op, o));
                }
                break;
            }
        }
        ++applied;
    }
    // The piles' sessions are rebuilt; nothing is sent again (readers catch up by position).
    out_.clear();
    stats_ = Stats{};
    journal_.end_replay();
    // A simulated clock goes on from where it stood; wall time is wall time.
    if (options_.clock.simulated) {
        clock_.set(std::max(clock_at, station_.now()), clock_speed, wall_ms);
    }
    station_.advance_to(std::max(station_.now(), clock_.now(wall_ms)));
    flush_events();
    log("info", "resumed run " + options_.run + " from " +
                    (covered > 0 ? "its snapshot (" + std::to_string(covered) + " lines) and "
                                 : std::string()) +
                    "its journal: " + std::to_string(applied) + " commands, " +
                    std::to_string(station_.orders().size()) + " orders, log position " +
                    std::to_string(changes_.head()));
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
    log("warn", "pile " + station_.pile_spec(p).id + " restarted during session " + link.session +
                    ": resumed");
    command(p, cmd);
}

std::vector<std::string> SchedulerApp::pile_ids() const {
    std::vector<std::string> ids;
    for (std::size_t p = 0; p < station_.pile_count(); ++p) {
        ids.push_back(station_.pile_spec(static_cast<station::PileIndex>(p)).id);
    }
    return ids;
}

void SchedulerApp::session_ended_at_pile(station::PileIndex p, const contract::PileEvent& m) {
    PileLink& link = links_[static_cast<std::size_t>(p)];
    const std::string& id = station_.pile_spec(p).id;
    const auto queue = station_.pile_queue(p);
    if (m.session.empty() || m.session != link.session || queue.empty()) {
        log("info",
            "pile " + id + " ended session " + m.session + ", which the station had ended already");
        return;
    }
    // The car is gone from the charger (unplugged, full, stopped there): its order ends as
    // a cancellation does, with a bill for what it charged, and the pile takes the next car.
    contract::JournalEntry e;
    e.command.op = station::CommandOp::Cancel;
    e.subject = std::string(station_.car_name(station_.order(queue.front())));
    const std::string car = e.subject;
    if (!act(std::move(e)).ok()) {
        return;
    }
    log("info", "pile " + id + " ended session " + m.session + " of car " + car + " (" +
                    (m.reason.empty() ? "no reason given" : m.reason) + "): the order ends");
    if (link.ended_bill != station::kNone) {
        reconcile(id, m, link.ended_bill);
    }
}

void SchedulerApp::reconcile(const std::string& pile, const contract::PileEvent& m,
                             station::BillId bill) {
    const double billed = station_.bill(bill).kwh;
    if (std::fabs(billed - m.energy_kwh) > options_.reconcile_tolerance_kwh) {
        log("warn", "pile " + pile + " metered " + std::to_string(m.energy_kwh) +
                        " kWh in session " + m.session + ", the bill says " +
                        std::to_string(billed));
    }
}

contract::JournalEntry SchedulerApp::pile_command_entry(station::CommandOp op, station::PileIndex p,
                                                        bool offline,
                                                        station::TimeMs duration) const {
    contract::JournalEntry e;
    e.command.op = op;
    e.subject = station_.pile_spec(p).id;
    e.command.fault_duration = duration;
    e.offline = offline;
    return e;
}

station::Outcome SchedulerApp::act(contract::JournalEntry entry) {
    entry.kind = contract::JournalEntry::Kind::Command;
    entry.t = station_.now();
    entry.bind();
    journal_.write(entry);  // durable before it takes effect
    const station::Outcome o = station::apply(station_, entry.command);
    flush_events();
    return o;
}

std::pair<station::TimeMs, double> SchedulerApp::restore(Snapshot snapshot) {
    const json app = json::parse(snapshot.app, nullptr, false);
    try {
        if (!app.is_object() || app.at("run").get<std::string>() != options_.run) {
            throw std::runtime_error("of another run");
        }
        station_ = station::Station::from_image(station_.profile(), std::move(snapshot.station));
        station_.record_events(true);
        ChangeLog::Image log{app.at("head").get<std::int64_t>(), std::move(snapshot.order_pos),
                             std::move(snapshot.bill_pos)};
        if (app.contains("order_pos")) {  // a snapshot of format version 1
            log.order_pos = app.at("order_pos").get<std::vector<std::int64_t>>();
            log.bill_pos = app.at("bill_pos").get<std::vector<std::int64_t>>();
        }
        if (log.order_pos.size() > station_.orders().size() ||
            log.bill_pos.size() > station_.bills().size()) {
            throw std::runtime_error("log positions of orders or bills it does not have");
        }
        changes_.restore(std::move(log));
        journal_.replayed(app.at("journaled_t").get<station::TimeMs>());
        state_.restore(app.at("revision").get<std::int64_t>());
        links_.restore(app.at("links"));
        requests_.replies().restore(app.at("replies"));
        return {app.at("clock_at").get<station::TimeMs>(), app.at("clock_speed").get<double>()};
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("the snapshot cannot be used: ") + e.what());
    }
}

void SchedulerApp::maybe_snapshot() {
    if (!journal_.snapshot_due()) {
        return;
    }
    ChangeLog::Image positions = changes_.image();  // its tables grow ahead: cut to size
    positions.order_pos.resize(std::min(positions.order_pos.size(), station_.orders().size()));
    positions.bill_pos.resize(std::min(positions.bill_pos.size(), station_.bills().size()));
    Snapshot snap;
    snap.station = station_.image();
    snap.journal_lines = journal_.lines();
    snap.order_pos = std::move(positions.order_pos);
    snap.bill_pos = std::move(positions.bill_pos);
    snap.app = json{{"run", options_.run},
                    {"head", positions.head},
                    {"journaled_t", journal_.journaled_t()},
                    {"revision", state_.revision()},
                    {"clock_at", station_.now()},
                    {"clock_speed", clock_.speed()},
                    {"links", links_.image()},
                    {"replies", requests_.replies().image()}}
                   .dump();
    try {
        journal_.save_snapshot(snap, contract::to_json(start_line(journal_.lines())));
        log("info", "snapshot at journal line " + std::to_string(journal_.lines()) + ", " +
                        std::to_string(station_.orders().size()) + " orders");
    } catch (const std::exception& e) {
        // The journal is intact: the station goes on, and tries again at the next interval.
        log("error", std::string("snapshot not taken: ") + e.what());
    }
}

void SchedulerApp::journal_clock(std::int64_t wall_ms, const std::string& request) {
    contract::JournalEntry e;
    e.kind = contract::JournalEntry::Kind::Clock;
    e.t = clock_.now(wall_ms);
    e.speed = clock_.speed();
    e.request = request;
    journal_.write(e);
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

SchedulerApp::Figures SchedulerApp::figures() {
    Figures f;
    for (std::size_t p = 0; p < station_.pile_count(); ++p) {
        const auto pile = static_cast<station::PileIndex>(p);
        ++f.piles_by_state[static_cast<std::size_t>(station_.pile_state(pile))];
        f.piles_online += links_[p].online ? 1 : 0;
        f.queued += static_cast<int>(station_.pile_queue(pile).size());
        f.charging += links_[p].session.empty() ? 0 : 1;
    }
    f.waiting = station_.waiting_count();
    f.journal_lines = journal_.lines();
    f.log_position = changes_.head();
    // Bills are only ever added: their fees are summed once each.
    const auto bills = station_.bills();
    for (; bills_summed_ < bills.size(); ++bills_summed_) {
        // Each fee to the cent, as a bill shows it (and as the API sums them).
        billed_cents_ += contract::whole_cents(bills[bills_summed_].charge_fee) +
                         contract::whole_cents(bills[bills_summed_].service_fee);
    }
    f.bills = static_cast<std::int64_t>(bills.size());
    f.billed_cents = billed_cents_;
    return f;
}

void SchedulerApp::drop(std::string_view why, std::string_view topic) {
    ++stats_.dropped;
    const DropLog::Note note = drops_.dropped(last_wall_);
    if (note.unlogged > 0) {
        log("warn", std::to_string(note.unlogged) + " more messages dropped without a log line");
    }
    if (note.log) {
        log("warn", "dropped a message on " + std::string(topic) + ": " + std::string(why));
    }
}

void SchedulerApp::advance(std::int64_t wall_ms) {
    station_.advance_to(clock_.now(wall_ms));
}

void SchedulerApp::on_message(std::string_view topic, std::string_view payload,
                              std::int64_t wall_ms) {
    ++stats_.messages;
    last_wall_ = wall_ms;
    advance(wall_ms);
    flush_events();
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
    maybe_snapshot();
    if (state_.due(wall_ms, [this] { return state_moving(); })) {
        publish_state(wall_ms);
    }
}

bool SchedulerApp::state_moving() const {
    if (clock_.speed() <= 0) {
        return false;
    }
    for (std::size_t p = 0; p < station_.pile_count(); ++p) {
        if (station_.pile_state(static_cast<station::PileIndex>(p)) == station::PileState::Work) {
            return true;
        }
    }
    return false;
}

void SchedulerApp::on_connected(std::int64_t wall_ms) {
    links_.connected(wall_ms);
    advance(wall_ms);
    flush_events();
    publish_clock(wall_ms);
    publish_state(wall_ms);
}

void SchedulerApp::on_connection_lost() {
    links_.connection_lost();
}

void SchedulerApp::check_offline(std::int64_t wall_ms) {
    for (const std::size_t p : links_.take_expired(wall_ms)) {
        const auto pi = static_cast<station::PileIndex>(p);
        if (station_.pile_state(pi) != station::PileState::Fault) {
            const std::string& id = station_.pile_spec(pi).id;
            log("warn", "pile " + id + " has been offline too long: treated as a fault");
            try {
                act(pile_command_entry(station::CommandOp::Fault, pi, true));
            } catch (const std::exception& e) {
                log("error", std::string("fault not applied: ") + e.what());
            }
            links_[p].fault_from_disconnect = true;
        }
    }
}

std::optional<std::int64_t> SchedulerApp::next_due_wall_ms(std::int64_t wall_ms) const {
    std::optional<std::int64_t> due = links_.next_expiry(wall_ms);
    if (const auto at = state_.next_due(wall_ms, [this] { return state_moving(); })) {
        due = due ? std::min(*due, *at) : *at;
    }
    const auto next = station_.next_event_time();
    if (next && clock_.speed() > 0) {
        const double wait = static_cast<double>(*next - clock_.now(wall_ms)) / clock_.speed();
        const auto at =
            wall_ms + std::max<std::int64_t>(0, static_cast<std::int64_t>(std::ceil(wait)));
        due = due ? std::min(*due, at) : at;
    }
    return due;
}

std::vector<contract::Publication> SchedulerApp::take_publications() {
    return out_.take();
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

void SchedulerApp::handle_pile(std::string_view topic, std::string_view pile, int channel,
                               std::string_view payload, std::int64_t wall_ms) {
    const auto p = *station_.find_pile(pile);
    const auto pi = static_cast<std::size_t>(p);
    PileLink& link = links_[pi];
    const std::string& id = station_.pile_spec(p).id;
    switch (static_cast<PileChannel>(channel)) {
        case PileChannel::Status: {
            contract::PileStatus m;
            if (!read(payload, pile, topic, m)) {
                return;
            }
            if (!m.online) {
                if (links_.went_offline(pi, wall_ms)) {
                    log("warn", "pile " + id + " went offline");
                }
                return;
            }
            const bool restarted = links_.came_online(pi, m.origin.boot);
            if (restarted && m.session.empty() && !link.session.empty()) {
                resume_session(p);
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
                    act(pile_command_entry(station::CommandOp::Recover, p));
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
            if (!links_.fresh(pi, PileLinks::kTelemetry, m.origin)) {
                drop("replayed or out-of-order telemetry", topic);
            }
            return;
        }
        case PileChannel::Events: {
            contract::PileEvent m;
            if (!read(payload, pile, topic, m)) {
                return;
            }
            if (!links_.fresh(pi, PileLinks::kEvents, m.origin)) {
                drop("replayed or duplicated event", topic);
                return;
            }
            switch (m.type) {
                case contract::PileEventType::FaultRaised: {
                    const auto r = act(pile_command_entry(station::CommandOp::Fault, p, false,
                                                          m.fault_minutes * station::kMsPerMinute));
                    link.fault_from_disconnect = false;
                    log(r.ok() ? "warn" : "info",
                        "pile " + id + " reports a fault" + (r.ok() ? "" : " (already faulty)"));
                    return;
                }
                case contract::PileEventType::FaultCleared: {
                    const auto r = act(pile_command_entry(station::CommandOp::Recover, p));
                    log("info", "pile " + id + " reports its fault cleared" +
                                    (r.ok() ? "" : " (the station had recovered it already)"));
                    return;
                }
                case contract::PileEventType::SessionFinished:
                    if (station_.pile_spec(p).metered && !m.session.empty() &&
                        m.session == link.session) {
                        // A metered pile's meter ends its session: billed as measured.
                        contract::JournalEntry e;
                        e.command.op = station::CommandOp::EndMetered;
                        e.subject = id;
                        e.command.kwh = m.energy_kwh;
                        const auto r = act(std::move(e));
                        if (!r.ok()) {
                            log("warn", "pile " + id + " ended session " + m.session + " at " +
                                            std::to_string(m.energy_kwh) + " kWh: refused (" +
                                            std::string(station::describe(r.rejection)) + ")");
                        }
                        return;
                    }
                    [[fallthrough]];
                case contract::PileEventType::SessionInterrupted: {
                    // Reconciliation: the pile's meter against the bill the core made for
                    // that session (a zero-length session has none).
                    if (m.session == link.ended_session && link.ended_bill != station::kNone &&
                        !link.ended_resumed) {
                        reconcile(id, m, link.ended_bill);
                    }
                    return;
                }
                case contract::PileEventType::SessionEndedAtPile:
                    session_ended_at_pile(p, m);
                    return;
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
                ++stats_.commands_refused;
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
    using Verdict = RequestIntake::Taken::Verdict;
    RequestIntake::Taken taken = requests_.take(payload, wall_ms);
    if (taken.answer) {
        out_.reply(std::move(*taken.answer));
    }
    const contract::SchedulerRequest& req = taken.request;
    switch (taken.verdict) {
        case Verdict::Malformed:
            ++stats_.requests_malformed;
            drop(taken.error, requests_topic_);
            return;
        case Verdict::Repeated:
            ++stats_.requests_repeated;
            log("info", "request " + req.id + " repeated: answered again, not applied again");
            return;
        case Verdict::Expired:
            ++stats_.requests_expired;
            return;
        case Verdict::Apply:
            break;
    }
    contract::SchedulerReply reply;
    try {
        reply = apply(req, wall_ms);
    } catch (const std::exception& e) {
        // The journal could not keep the command, so it did not take effect.
        log("error", std::string("request not applied: ") + e.what());
        reply = refused("journal_failed", e.what());
    }
    ++(reply.ok ? stats_.requests_done : stats_.requests_refused);
    out_.reply(requests_.reply(req, std::move(reply)));
}

contract::SchedulerReply SchedulerApp::stamped(contract::SchedulerReply r) const {
    r.run = options_.run;
    r.pos = changes_.head();
    return r;
}

contract::SchedulerReply SchedulerApp::command_reply(station::CommandOp op,
                                                     const station::Outcome& o) const {
    auto r = from_outcome(o);
    const bool order_op = op == station::CommandOp::Submit || op == station::CommandOp::Change ||
                          op == station::CommandOp::Cancel;
    if (order_op && o.order != station::kNone) {
        r.order = order_update(o.order);
    }
    return stamped(std::move(r));
}

contract::SchedulerReply SchedulerApp::clock_reply(station::TimeMs at, double speed) const {
    contract::SchedulerReply r;
    r.ok = true;
    r.data = contract::to_json_value(contract::ClockReading{at, speed, options_.clock.simulated});
    return stamped(std::move(r));
}

contract::SchedulerReply SchedulerApp::apply(const contract::SchedulerRequest& req,
                                             std::int64_t wall_ms) {
    using contract::RequestOp;
    using station::CommandOp;
    const bool sim = options_.clock.simulated;
    auto pile_command = [&](const std::string& pile, contract::CommandType type, int minutes = 0) {
        contract::PileCommand cmd;
        cmd.type = type;
        cmd.fault_minutes = minutes;
        command(*station_.find_pile(pile), cmd);
    };
    // The request as a journal entry for the station command it asks for.
    auto entry = [&](CommandOp op, const std::string& subject) {
        contract::JournalEntry e;
        e.command.op = op;
        e.subject = subject;
        e.request = req.id;
        return e;
    };
    auto run = [&](contract::JournalEntry e) {
        return command_reply(e.command.op, act(std::move(e)));
    };
    if (req.order && (req.op == RequestOp::Change || req.op == RequestOp::Cancel)) {
        const auto open = station_.active_order(req.car);
        if (!open || *open != *req.order) {
            return refused("order_not_open", "that order is not the car's open order");
        }
    }
    switch (req.op) {
        case RequestOp::Submit:
        case RequestOp::Change: {
            auto e =
                entry(req.op == RequestOp::Submit ? CommandOp::Submit : CommandOp::Change, req.car);
            e.command.mode = req.mode;
            e.command.kwh = req.kwh;
            return run(std::move(e));
        }
        case RequestOp::Cancel:
            return run(entry(CommandOp::Cancel, req.car));
        case RequestOp::Fault:
        case RequestOp::Recover: {
            if (!sim) {
                return refused("not_simulation", "fault injection needs the simulated clock");
            }
            const bool fault = req.op == RequestOp::Fault;
            auto e = entry(fault ? CommandOp::Fault : CommandOp::Recover, req.pile);
            e.command.fault_duration = fault ? req.minutes * station::kMsPerMinute : 0;
            auto r = run(std::move(e));
            if (r.ok) {
                // The simulated pile is told too, so that what it reports agrees.
                pile_command(
                    req.pile,
                    fault ? contract::CommandType::InjectFault : contract::CommandType::ClearFault,
                    req.minutes);
            }
            return r;
        }
        case RequestOp::SwitchOn:
        case RequestOp::SwitchOff: {
            const bool on = req.op == RequestOp::SwitchOn;
            auto r = run(entry(on ? CommandOp::SwitchOn : CommandOp::SwitchOff, req.pile));
            if (r.ok) {
                pile_command(req.pile, on ? contract::CommandType::SwitchOn
                                          : contract::CommandType::SwitchOff);
            }
            return r;
        }
        case RequestOp::Reset:
            return reset_pile(req);
        case RequestOp::ClockGet:
            break;
        case RequestOp::ClockSet:
        case RequestOp::ClockAdvance: {
            if (!sim) {
                return refused("not_simulation", "the clock is wall time outside simulation");
            }
            const station::TimeMs now = clock_.now(wall_ms);
            if (req.op == RequestOp::ClockSet) {
                const station::TimeMs to = req.time.value_or(now);
                if (to < now) {
                    return refused("clock_backwards", "station time never runs backwards");
                }
                clock_.set(to, req.speed.value_or(clock_.speed()), wall_ms);
            } else {
                clock_.advance(req.advance_seconds * station::kMsPerSecond, wall_ms);
            }
            journal_clock(wall_ms, req.id);
            advance(wall_ms);
            flush_events();
            publish_clock(wall_ms);
            break;
        }
        case RequestOp::State: {
            contract::SchedulerReply r;
            r.ok = true;
            r.data = state_document();
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
                          {"bills", stats_.bills},
                          {"log_position", changes_.head()}};
            return r;
        }
        case RequestOp::Changes: {
            contract::SchedulerReply r;
            r.ok = true;
            const auto limit = req.limit > 0 ? static_cast<std::size_t>(req.limit) : kCatchUpLimit;
            r.changes = changes_.since(station_, req.run, req.after, limit);
            return stamped(std::move(r));
        }
    }
    return clock_reply(clock_.now(wall_ms), clock_.speed());  // the clock operations
}

contract::SchedulerReply SchedulerApp::reset_pile(const contract::SchedulerRequest& req) {
    // Not journaled: the station's model does not change. The charger restarts, its
    // connection drops, and what follows is the pile's own news: a session it ends there
    // (session_ended_at_pile), offline and back within the grace, or a fault after it.
    const auto p = station_.find_pile(req.pile);
    if (!p) {
        return rejected(station::Rejection::UnknownPile);
    }
    if (!links_[static_cast<std::size_t>(*p)].online) {
        return refused("pile_offline", "the pile is offline: its charger cannot be reset");
    }
    contract::PileCommand cmd;
    cmd.type = contract::CommandType::Reset;
    cmd.reset = req.reset;
    log("info", "pile " + req.pile + ": " + std::string(contract::to_string(req.reset)) +
                    " reset of its charger asked (request " + req.id + ")");
    command(*p, cmd);
    contract::SchedulerReply r;
    r.ok = true;
    return r;
}

// ---- out -------------------------------------------------------------------------------

void SchedulerApp::command(station::PileIndex p, contract::PileCommand cmd) {
    ++stats_.commands_sent;
    out_.command(station_.pile_spec(p).id, std::move(cmd));
}

void SchedulerApp::flush_events() {
    std::vector<station::StationEvent> events = station_.take_events();
    if (events.empty()) {
        return;
    }
    const std::int64_t from = changes_.head();
    std::vector<station::OrderId> changed;
    std::vector<station::BillId> bills;
    for (const station::StationEvent& e : events) {
        state_.changed();
        if (const auto* c = std::get_if<station::OrderChanged>(&e)) {
            changes_.order_changed(c->order);
            changed.push_back(c->order);
        } else if (const auto* s = std::get_if<station::SessionStarted>(&e)) {
            contract::PileCommand cmd;
            cmd.type = contract::CommandType::Start;
            cmd.session = "o" + std::to_string(s->order) + "-" + std::to_string(s->at);
            cmd.order = s->order;
            cmd.target_kwh = s->target_kwh;
            links_.session_started(static_cast<std::size_t>(s->pile), cmd.session);
            command(s->pile, cmd);
        } else if (const auto* stop = std::get_if<station::SessionStopped>(&e)) {
            const auto pi = static_cast<std::size_t>(stop->pile);
            if (stop->reason == station::StopReason::Cancelled) {
                contract::PileCommand cmd;
                cmd.type = contract::CommandType::Stop;
                cmd.session = links_[pi].session;
                command(stop->pile, cmd);
            }
            links_.session_stopped(pi, stop->bill);
            if (stop->bill != station::kNone) {
                ++stats_.bills;
                changes_.bill_made(stop->bill);
                bills.push_back(stop->bill);
            }
        }
    }
    if (journal_.replaying() || changes_.head() == from) {
        return;
    }
    // What is published must come back after a crash: changes that time brought (not a
    // journaled command) are journaled as the time the station advanced to.
    journal_.reached(station_.now());
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    out_.changes(changes_.batch(station_, from, changed, bills));
}

contract::OrderUpdate SchedulerApp::order_update(station::OrderId id) const {
    return contract::order_update(station_, id, changes_.order_pos(id));
}

nlohmann::json SchedulerApp::state_document() const {
    contract::StationState state = contract::station_state(station_, state_.revision());
    state.run = options_.run;  // order and bill ids count from 0 in each run
    state.head = changes_.head();
    return contract::to_json_value(state);
}

void SchedulerApp::publish_clock(std::int64_t wall_ms) {
    contract::ClockMessage m;
    m.at_ms = clock_.now(wall_ms);
    m.speed = clock_.speed();
    m.wall_ms = wall_ms;
    m.simulated = options_.clock.simulated;
    out_.clock(m);
}

void SchedulerApp::publish_state(std::int64_t wall_ms) {
    out_.state(state_document());
    state_.published(wall_ms);
}

}  // namespace service
