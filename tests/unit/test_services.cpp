// The scheduler service's logic and the simulated pile, without a broker: messages in,
// publications out, the wall clock passed in.
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "contract/station_state.hpp"
#include "contract/topics.hpp"
#include "pilesim/sim_pile.hpp"
#include "service/file_journal.hpp"
#include "service/scheduler_app.hpp"
#include "station/time.hpp"
#include "support.hpp"

using contract::PileChannel;
using nlohmann::json;

namespace {

constexpr std::int64_t kWall = 1'000'000;
const station::TimeMs kStart = test::at(6, 0, 0, 20000);

struct App {
    explicit App(service::SchedulerOptions o = options(),
                 station::Profile profile = test::profile(1, 2, 30, 10, 5, 2))
        : app(std::move(profile), std::move(o), kWall,
              [this](std::string_view, std::string_view m) { logs += std::string(m) + "\n"; }) {
        app.on_connected(kWall);
        for (const char* pile : {"F1", "T1", "T2"}) {
            online(pile);
        }
        app.take_publications();
    }
    static service::SchedulerOptions options() {
        service::SchedulerOptions o;
        o.clock.simulated = true;
        o.clock.start = kStart;
        o.clock.speed = 0;
        o.offline_grace_ms = 1000;
        return o;
    }
    void online(const std::string& pile, const std::string& boot = "b1") {
        contract::PileStatus s{
            pile, true, station::PileState::Rest, station::Mode::Fast, 10, "", 0, {boot, 1}};
        app.on_message(contract::pile_topic(pile, PileChannel::Status), contract::to_json(s), wall);
    }
    json request(contract::SchedulerRequest r) {
        r.id = "r" + std::to_string(++n);
        r.reply_to = contract::replies_topic("t");
        app.on_message(contract::scheduler_requests_topic(), contract::to_json(r), wall);
        json reply;
        for (const auto& p : app.take_publications()) {
            if (p.topic == r.reply_to) {
                reply = json::parse(p.payload);
            } else {
                sent.push_back(p);
            }
        }
        return reply;
    }
    json submit(const std::string& car, station::Mode m, double kwh) {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::Submit;
        r.car = car;
        r.mode = m;
        r.kwh = kwh;
        return request(r);
    }
    std::vector<contract::Publication> on(const std::string& topic) {
        std::vector<contract::Publication> out;
        for (const auto& p : sent) {
            if (p.topic == topic) {
                out.push_back(p);
            }
        }
        return out;
    }

    std::string logs;
    service::SchedulerApp app;
    std::int64_t wall = kWall;
    int n = 0;
    std::vector<contract::Publication> sent;
};

// A start of session s1 (order 7, 5 kWh) for a simulated pile.
contract::PileCommand sim_start() {
    contract::PileCommand start;
    start.id = "c1";
    start.type = contract::CommandType::Start;
    start.session = "s1";
    start.order = 7;
    start.target_kwh = 5;
    return start;
}

}  // namespace

TEST_CASE("scheduler app: a request dispatches and commands the pile", "[service]") {
    App a;
    const json reply = a.submit("A", station::Mode::Slow, 10);
    CHECK(reply["ok"] == true);
    CHECK(reply["order"]["pile"] == "T1");
    const auto cmds = a.on(contract::pile_topic("T1", PileChannel::Commands));
    REQUIRE(cmds.size() == 1);
    contract::PileCommand cmd;
    REQUIRE(contract::parse(cmds[0].payload, cmd).empty());
    CHECK(cmd.type == contract::CommandType::Start);
    CHECK(cmd.target_kwh == 10);
    // A refused request answers why.
    const json again = a.submit("A", station::Mode::Slow, 10);
    CHECK(again["ok"] == false);
    CHECK(again["error"] == "car_already_active");
}

TEST_CASE("scheduler app: piles count only once online, and a lost pile after a grace",
          "[service]") {
    App a;
    contract::PileStatus will{"T1", false, {}, {}, 0, "", 0, {}};
    a.app.on_message(contract::pile_topic("T1", PileChannel::Status), contract::to_json(will),
                     a.wall);
    CHECK(a.app.station().pile_state(1) == station::PileState::Rest);  // grace running
    a.app.tick(a.wall + 999);
    CHECK(a.app.station().pile_state(1) == station::PileState::Rest);
    a.app.tick(a.wall + 1000);
    CHECK(a.app.station().pile_state(1) == station::PileState::Fault);
    a.online("T1", "b2");  // back, with a new boot
    CHECK(a.app.station().pile_state(1) == station::PileState::Rest);
    // While the scheduler itself has lost the broker, no grace runs out.
    a.app.on_message(contract::pile_topic("T2", PileChannel::Status),
                     contract::to_json(contract::PileStatus{"T2", false, {}, {}, 0, "", 0, {}}),
                     a.wall);
    a.app.on_connection_lost();
    a.app.tick(a.wall + 60'000);
    CHECK(a.app.station().pile_state(2) == station::PileState::Rest);
}

TEST_CASE(
    "scheduler app: a reset goes to the pile unjournaled, refused for unknown or offline piles",
    "[service]") {
    std::vector<std::string> journal;
    service::SchedulerOptions o = App::options();
    o.journal = [&journal](const std::string& line) { journal.push_back(line); };
    App a(o);
    a.submit("A", station::Mode::Slow, 10);  // charging on T1
    const std::size_t journaled = journal.size();
    a.sent.clear();
    contract::SchedulerRequest r;
    r.op = contract::RequestOp::Reset;
    r.pile = "T1";
    r.reset = contract::ResetKind::Hard;
    const json reply = a.request(r);
    CHECK(reply["ok"] == true);
    const auto cmds = a.on(contract::pile_topic("T1", PileChannel::Commands));
    REQUIRE(cmds.size() == 1);
    contract::PileCommand cmd;
    REQUIRE(contract::parse(cmds[0].payload, cmd).empty());
    CHECK(cmd.type == contract::CommandType::Reset);
    CHECK(cmd.reset == contract::ResetKind::Hard);
    CHECK(journal.size() == journaled);  // the model did not change
    // The car still charges there: what happens next is the pile's own news.
    CHECK(a.app.station().pile_state(1) == station::PileState::Work);
    // The same request again is answered again, not sent again.
    r.id = "r" + std::to_string(a.n);
    r.reply_to = contract::replies_topic("t");
    a.sent.clear();
    a.app.on_message(contract::scheduler_requests_topic(), contract::to_json(r), a.wall);
    for (const auto& p : a.app.take_publications()) {
        CHECK(p.topic == r.reply_to);
    }
    r.pile = "X9";
    CHECK(a.request(r)["error"] == "unknown_pile");
    a.app.on_message(contract::pile_topic("T2", PileChannel::Status),
                     contract::to_json(contract::PileStatus{"T2", false, {}, {}, 0, "", 0, {}}),
                     a.wall);
    r.pile = "T2";
    CHECK(a.request(r)["error"] == "pile_offline");
    CHECK(a.on(contract::pile_topic("T2", PileChannel::Commands)).empty());
}

TEST_CASE("scheduler app: clock requests step the station, real time refuses them", "[service]") {
    App a;
    a.submit("A", station::Mode::Slow, 10);
    contract::SchedulerRequest adv;
    adv.op = contract::RequestOp::ClockAdvance;
    adv.advance_seconds = 3600;
    const json r = a.request(adv);
    CHECK(r["ok"] == true);
    CHECK(r["data"]["time"] == station::format_datetime(kStart + station::kMsPerHour));
    const auto changes = a.on(contract::station_changes_topic());
    REQUIRE(changes.size() == 2);  // the submit's, then the hour's with its bill
    CHECK(json::parse(changes[1].payload)["bills"].size() == 1);
    CHECK(a.on(contract::station_clock_topic()).size() == 1);
    contract::SchedulerRequest back;
    back.op = contract::RequestOp::ClockSet;
    back.time = kStart;
    CHECK(a.request(back)["error"] == "clock_backwards");

    service::SchedulerApp real(test::profile(1, 0, 30, 10, 5, 2), {}, kWall, {});
    contract::SchedulerRequest req;
    req.id = "x";
    req.reply_to = contract::replies_topic("t");
    req.op = contract::RequestOp::ClockAdvance;
    req.advance_seconds = 60;
    real.on_message(contract::scheduler_requests_topic(), contract::to_json(req), kWall);
    const auto out = real.take_publications();
    REQUIRE_FALSE(out.empty());
    CHECK(json::parse(out.back().payload)["error"] == "not_simulation");
    // Wall time at UTC+8.
    CHECK(real.station_time(kWall) == kWall + 8 * station::kMsPerHour);
}

TEST_CASE("scheduler app: a pile that ends its session on its own ends the car's order",
          "[service]") {
    App a;
    a.submit("A", station::Mode::Slow, 10);
    a.submit("B", station::Mode::Slow, 20);
    a.submit("C", station::Mode::Slow, 10);  // queued behind A at T1 (T2 finishes later)
    const auto starts = a.on(contract::pile_topic("T1", PileChannel::Commands));
    REQUIRE(starts.size() == 1);
    contract::PileCommand start;
    REQUIRE(contract::parse(starts[0].payload, start).empty());
    contract::SchedulerRequest adv;
    adv.op = contract::RequestOp::ClockAdvance;
    adv.advance_seconds = 1800;  // 5 kWh at 10 kW
    REQUIRE(a.request(adv)["ok"] == true);
    a.sent.clear();

    contract::PileEvent ended;
    ended.pile = "T1";
    ended.type = contract::PileEventType::SessionEndedAtPile;
    ended.session = start.session;
    ended.order = start.order;
    ended.energy_kwh = 4.2;  // the charger's meter: the model said 5
    ended.reason = "EVDisconnected";
    ended.origin = {"pile-boot", 1};
    a.app.on_message(contract::pile_topic("T1", PileChannel::Events), contract::to_json(ended),
                     a.wall);
    const auto& st = a.app.station();
    REQUIRE_FALSE(st.active_order("A"));
    const station::Order& order_a = st.order(static_cast<station::OrderId>(start.order));
    CHECK(order_a.state == station::OrderState::Cancelled);
    REQUIRE(st.bills().size() == 1);
    CHECK(st.bills()[0].kwh == Approx(5));
    CHECK_THAT(a.logs, Catch::Contains("ended session " + start.session + " of car A"));
    CHECK_THAT(a.logs, Catch::Contains("metered 4.2"));  // reconciled with the meter
    // The pile takes its next car at once.
    for (auto& p : a.app.take_publications()) {
        a.sent.push_back(std::move(p));
    }
    bool next_started = false;
    for (const auto& p : a.on(contract::pile_topic("T1", PileChannel::Commands))) {
        contract::PileCommand c;
        next_started |= contract::parse(p.payload, c).empty() &&
                        c.type == contract::CommandType::Start && c.session != start.session;
    }
    CHECK(next_started);

    // The same event again, or one for a session the station no longer runs: nothing.
    ended.origin = {"pile-boot", 2};
    a.app.on_message(contract::pile_topic("T1", PileChannel::Events), contract::to_json(ended),
                     a.wall);
    CHECK(st.bills().size() == 1);
    CHECK(st.active_order("C"));
    CHECK_THAT(a.logs, Catch::Contains("which the station had ended already"));
}

TEST_CASE("scheduler app: a metered pile's session ends when its meter says, billed as measured",
          "[service]") {
    station::Profile profile = test::profile(1, 2, 30, 10, 5, 2);
    profile.piles[1].metered = true;  // T1
    App a(App::options(), profile);
    a.submit("A", station::Mode::Slow, 10);
    contract::PileCommand start;
    REQUIRE(
        contract::parse(a.on(contract::pile_topic("T1", PileChannel::Commands))[0].payload, start)
            .empty());
    contract::SchedulerRequest adv;
    adv.op = contract::RequestOp::ClockAdvance;
    adv.advance_seconds = 7200;  // an hour past the model's estimate
    REQUIRE(a.request(adv)["ok"] == true);
    const auto& st = a.app.station();
    REQUIRE(st.active_order("A"));  // still charging: only the meter ends it

    contract::PileEvent finished;
    finished.pile = "T1";
    finished.type = contract::PileEventType::SessionFinished;
    finished.session = start.session;
    finished.order = start.order;
    finished.energy_kwh = 10.02;
    finished.origin = {"pile-boot", 1};
    a.app.on_message(contract::pile_topic("T1", PileChannel::Events), contract::to_json(finished),
                     a.wall);
    CHECK_FALSE(st.active_order("A"));
    REQUIRE(st.bills().size() == 1);
    CHECK(st.bills()[0].kwh == Approx(10.02));
    CHECK(st.bills()[0].stop - st.bills()[0].start == 2 * station::kMsPerHour);
    // The bill is in the change log the API copies.
    bool billed = false;
    for (const auto& p : a.app.take_publications()) {
        billed |= p.topic == contract::station_changes_topic() &&
                  json::parse(p.payload)["bills"].size() == 1;
    }
    CHECK(billed);
    // A repeated end (the same session, a later message) changes nothing.
    finished.origin = {"pile-boot", 2};
    a.app.on_message(contract::pile_topic("T1", PileChannel::Events), contract::to_json(finished),
                     a.wall);
    CHECK(st.bills().size() == 1);
}

TEST_CASE("scheduler app: unknown piles, foreign topics and junk change nothing", "[service]") {
    App a;
    a.submit("A", station::Mode::Slow, 10);
    const auto before = contract::station_state(a.app.station(), 0);
    const auto dropped = a.app.stats().dropped;
    a.app.on_message("evcs/v1/piles/X9/events",
                     R"({"pile":"X9","type":"fault_raised","at_ms":0,"boot":"b","seq":1})", a.wall);
    a.app.on_message("evcs/v1/piles/T1/events", "{\"pile\":\"T1\"", a.wall);
    a.app.on_message("evcs/v1/piles/T1/events",
                     R"({"pile":"T2","type":"fault_raised","at_ms":0,"boot":"b","seq":1})", a.wall);
    a.app.on_message("evcs/v1/piles/T1/commands", R"({"id":"c","type":"stop","session":"s"})",
                     a.wall);
    a.app.on_message("somewhere/else", "{}", a.wall);
    CHECK(a.app.stats().dropped == dropped + 5);
    CHECK(contract::station_state(a.app.station(), 0) == before);
}

TEST_CASE("sim pile: a reset ends its session there with the reset's reason", "[pilesim]") {
    pilesim::SimPile pile({"T1", "T1", station::Mode::Slow, 10}, "boot");
    contract::PileCommand start = sim_start();
    pile.on_command(start, kStart);
    pile.take_publications();
    contract::PileCommand reset;
    reset.id = "c2";
    reset.type = contract::CommandType::Reset;
    reset.reset = contract::ResetKind::Soft;
    pile.on_command(reset, kStart + 6 * station::kMsPerMinute);
    CHECK_FALSE(pile.charging());
    std::vector<contract::PileEvent> events;
    bool acked = false;
    for (const auto& p : pile.take_publications()) {
        if (p.topic == contract::pile_topic("T1", PileChannel::Events)) {
            REQUIRE(contract::parse(p.payload, events.emplace_back()).empty());
        }
        if (p.topic == contract::pile_topic("T1", PileChannel::Acks)) {
            acked = json::parse(p.payload)["ok"] == true;
        }
    }
    CHECK(acked);
    REQUIRE(events.size() == 1);
    CHECK(events[0].type == contract::PileEventType::SessionEndedAtPile);
    CHECK(events[0].reason == "SoftReset");
    CHECK(events[0].energy_kwh == Approx(1.0));
}

TEST_CASE("sim pile: charges on the clock, finishes at its target, obeys commands", "[pilesim]") {
    pilesim::SimPile pile({"T1", "T1", station::Mode::Slow, 10}, "boot");
    contract::PileCommand start = sim_start();
    pile.on_command(start, kStart);
    CHECK(pile.charging());
    pile.on_command(start, kStart);  // repeated: acknowledged, not started twice
    auto out = pile.take_publications();
    int acks = 0;
    for (const auto& p : out) {
        acks += p.topic == contract::pile_topic("T1", PileChannel::Acks);
    }
    CHECK(acks == 2);
    CHECK(pile.session_energy(kStart + 15 * station::kMsPerMinute) == Approx(2.5));
    CHECK(pile.next_due() == kStart + 30 * station::kMsPerMinute);
    pile.advance(kStart + station::kMsPerHour);  // well past the target
    CHECK_FALSE(pile.charging());
    out = pile.take_publications();
    bool finished = false;
    for (const auto& p : out) {
        if (p.topic == contract::pile_topic("T1", PileChannel::Events)) {
            contract::PileEvent e;
            REQUIRE(contract::parse(p.payload, e).empty());
            if (e.type == contract::PileEventType::SessionFinished) {
                finished = true;
                CHECK(e.energy_kwh == 5);
                CHECK(e.at_ms == kStart + 30 * station::kMsPerMinute);  // when it happened
            }
        }
    }
    CHECK(finished);
    // A timed fault ends by itself; a faulty pile refuses to start.
    pile.inject_fault(10, kStart + station::kMsPerHour);
    start.id = "c2";
    start.session = "s2";
    pile.on_command(start, kStart + station::kMsPerHour);
    CHECK_FALSE(pile.charging());
    pile.advance(kStart + station::kMsPerHour + 10 * station::kMsPerMinute);
    CHECK_FALSE(pile.faulty());
    const auto will = pile.last_will();
    CHECK(will.retain);
    CHECK(will.payload == R"({"online":false,"pile":"T1"})");
}

TEST_CASE("scheduler app: an event overtaken by later telemetry is still taken, a replay is not",
          "[service]") {
    App a;
    contract::Telemetry t{"T1", "s", 0, 1, 10, 0, {"pile-boot", 11}};
    a.app.on_message(contract::pile_topic("T1", PileChannel::Telemetry), contract::to_json(t),
                     a.wall);
    contract::PileEvent fault;
    fault.pile = "T1";
    fault.type = contract::PileEventType::FaultRaised;
    fault.origin = {"pile-boot", 10};  // sent before the telemetry, delivered after it
    a.app.on_message(contract::pile_topic("T1", PileChannel::Events), contract::to_json(fault),
                     a.wall);
    CHECK(a.app.station().pile_state(1) == station::PileState::Fault);
    contract::PileEvent cleared = fault;
    cleared.type = contract::PileEventType::FaultCleared;
    cleared.origin = {"pile-boot", 12};
    a.app.on_message(contract::pile_topic("T1", PileChannel::Events), contract::to_json(cleared),
                     a.wall);
    CHECK(a.app.station().pile_state(1) == station::PileState::Rest);
    const auto dropped = a.app.stats().dropped;
    a.app.on_message(contract::pile_topic("T1", PileChannel::Events), contract::to_json(fault),
                     a.wall);
    CHECK(a.app.stats().dropped == dropped + 1);  // the replayed fault changes nothing
    CHECK(a.app.station().pile_state(1) == station::PileState::Rest);
}

TEST_CASE("scheduler app: a restart from its journal resumes the same station",
          "[service][journal]") {
    std::vector<std::string> journal;
    auto o = App::options();
    o.run = "run-1";
    o.journal = [&journal](const std::string& line) { journal.push_back(line); };
    App a(o);
    a.submit("A", station::Mode::Slow, 10);
    a.submit("B", station::Mode::Slow, 20);
    a.submit("C", station::Mode::Fast, 30);
    a.submit("D", station::Mode::Slow, 5);
    contract::SchedulerRequest step;
    step.op = contract::RequestOp::ClockAdvance;
    step.advance_seconds = 1800;
    REQUIRE(a.request(step)["ok"] == true);
    contract::PileEvent fault{"T1",     contract::PileEventType::FaultRaised, "", 0, 0, 0, "", 0,
                              {"b1", 2}};
    a.app.on_message(contract::pile_topic("T1", PileChannel::Events), contract::to_json(fault),
                     a.wall);
    contract::SchedulerRequest cancel;
    cancel.op = contract::RequestOp::Cancel;
    cancel.car = "D";
    a.request(cancel);
    contract::SchedulerRequest change;
    change.op = contract::RequestOp::Change;
    change.car = "C";
    change.kwh = 40;
    a.request(change);
    step.advance_seconds = 600;
    REQUIRE(a.request(step)["ok"] == true);
    const auto before = contract::station_state(a.app.station(), 0);
    const json bills_before = contract::bills_view(a.app.station());
    // The session the pile runs, as the first run told it.
    std::string f1_session;
    for (const auto& p : a.on(contract::pile_topic("F1", PileChannel::Commands))) {
        contract::PileCommand cmd;
        if (contract::parse(p.payload, cmd).empty() && cmd.type == contract::CommandType::Start) {
            f1_session = cmd.session;
        }
    }
    REQUIRE_FALSE(f1_session.empty());

    // A new process, an hour of wall time later, with the journal.
    std::vector<std::string> journal2;
    auto o2 = App::options();
    o2.run = "run-2";
    o2.resume = journal;
    o2.journal = [&journal2](const std::string& line) { journal2.push_back(line); };
    std::string logs;
    service::SchedulerApp b(
        test::profile(1, 2, 30, 10, 5, 2), o2, kWall + 3'600'000,
        [&logs](std::string_view, std::string_view m) { logs += std::string(m) + "\n"; });
    INFO(logs);
    CHECK(contract::station_state(b.station(), 0) == before);
    CHECK(contract::bills_view(b.station()) == bills_before);
    CHECK(b.station_time(kWall + 3'600'000) ==
          a.app.station_time(a.wall));                // a stepped clock stays put
    CHECK(b.log_position() == a.app.log_position());  // every change keeps its position
    CHECK(b.take_publications().empty());             // nothing of the past is sent again
    CHECK(journal2.empty());                          // nor journaled again

    // The run goes on: replies name the first run, and the pile's session is known.
    b.on_connected(kWall + 3'600'000);
    b.take_publications();
    contract::PileStatus running{
        "F1", true, station::PileState::Work, station::Mode::Fast, 30, f1_session, 0, {"b1", 5}};
    b.on_message(contract::pile_topic("F1", PileChannel::Status), contract::to_json(running),
                 kWall + 3'600'000);
    for (const auto& p : b.take_publications()) {
        CHECK(p.topic != contract::pile_topic("F1", PileChannel::Commands));  // no "stop"
    }
    contract::SchedulerRequest more;
    more.id = "after";
    more.reply_to = contract::replies_topic("t");
    more.op = contract::RequestOp::Submit;
    more.car = "E";
    more.mode = station::Mode::Fast;
    more.kwh = 10;
    b.on_message(contract::scheduler_requests_topic(), contract::to_json(more), kWall + 3'600'000);
    bool answered = false;
    for (const auto& p : b.take_publications()) {
        if (p.topic == more.reply_to) {
            const json reply = json::parse(p.payload);
            CHECK(reply["ok"] == true);
            CHECK(reply["run"] == "run-1");
            CHECK(reply["order"]["order"] == 4);  // ids go on from the first run's
            answered = true;
        }
    }
    CHECK(answered);
    CHECK(journal2.size() == 1);  // the new command is journaled
}

TEST_CASE("scheduler app: a journal of another profile or a broken one is refused",
          "[service][journal]") {
    std::vector<std::string> journal;
    auto o = App::options();
    o.journal = [&journal](const std::string& line) { journal.push_back(line); };
    App a(o);
    a.submit("A", station::Mode::Slow, 10);
    auto other = App::options();
    other.resume = journal;
    auto log = [](std::string_view, std::string_view) {};
    CHECK_THROWS_AS(service::SchedulerApp(test::profile(2, 2, 30, 10, 5, 2), other, kWall, log),
                    std::runtime_error);
    other.resume = {"not json"};
    CHECK_THROWS_AS(service::SchedulerApp(test::profile(1, 2, 30, 10, 5, 2), other, kWall, log),
                    std::runtime_error);
    other.resume = journal;
    other.resume.push_back("{\"op\":\"submit\"}");  // no time
    CHECK_THROWS_AS(service::SchedulerApp(test::profile(1, 2, 30, 10, 5, 2), other, kWall, log),
                    std::runtime_error);
    // A start line read back strictly: each spoiled field is refused, not defaulted.
    contract::JournalStart start;
    REQUIRE(contract::parse(journal.front(), start).empty());
    CHECK(contract::to_json(start) == journal.front());
    for (const auto& [key, value] : {std::pair<const char*, json>{"run", 5},
                                     {"at", -1},
                                     {"piles", "F1"},
                                     {"piles", json::array({"a/b"})},
                                     {"simulated", "yes"},
                                     {"op", "stop"},
                                     {"base", -2},
                                     {"profile", nullptr}}) {
        json spoiled = json::parse(journal.front());
        spoiled[key] = value;
        other.resume = journal;
        other.resume.front() = spoiled.dump();
        CAPTURE(key, value);
        CHECK_FALSE(contract::parse(other.resume.front(), start).empty());
        CHECK_THROWS_AS(service::SchedulerApp(test::profile(1, 2, 30, 10, 5, 2), other, kWall, log),
                        std::runtime_error);
    }
}

TEST_CASE("file journal: lines survive reopening and a torn last line is dropped",
          "[service][journal]") {
    char tmpl[] = "/tmp/evcs-journal-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string path = std::string(tmpl) + "/journal.jsonl";
    {
        service::FileJournal j(path);
        CHECK(j.lines().empty());
        j.append("{\"op\":\"start\"}");
        j.append("{\"op\":\"submit\",\"t\":1}");
    }
    {
        // A crash in the middle of the third write.
        std::FILE* f = std::fopen(path.c_str(), "a");
        std::fputs("{\"op\":\"canc", f);
        std::fclose(f);
    }
    service::FileJournal j(path);
    REQUIRE(j.lines().size() == 2);
    CHECK(j.lines()[1] == "{\"op\":\"submit\",\"t\":1}");
    j.append("{\"op\":\"cancel\",\"t\":2}");
    service::FileJournal again(path);
    REQUIRE(again.lines().size() == 3);
    CHECK(again.lines()[2] == "{\"op\":\"cancel\",\"t\":2}");
    CHECK_THROWS_AS(service::FileJournal(std::string(tmpl) + "/no/such/dir/j"), std::runtime_error);
}

TEST_CASE("scheduler app: a pile that restarts mid-session is told to go on with what is left",
          "[service]") {
    App a;
    a.submit("A", station::Mode::Fast, 30);
    std::string session;
    for (const auto& p : a.on(contract::pile_topic("F1", PileChannel::Commands))) {
        contract::PileCommand cmd;
        REQUIRE(contract::parse(p.payload, cmd).empty());
        session = cmd.session;
    }
    REQUIRE_FALSE(session.empty());
    contract::SchedulerRequest step;
    step.op = contract::RequestOp::ClockAdvance;
    step.advance_seconds = 600;  // 5 kWh at 30 kW
    REQUIRE(a.request(step)["ok"] == true);
    a.sent.clear();
    // The same boot reporting no session (e.g. before its start) is not a restart.
    a.online("F1", "b1");
    CHECK(a.app.take_publications().empty());
    // A new boot without the session: it restarted.
    a.online("F1", "b2");
    std::vector<contract::PileCommand> cmds;
    for (const auto& p : a.app.take_publications()) {
        contract::PileCommand cmd;
        if (p.topic == contract::pile_topic("F1", PileChannel::Commands) &&
            contract::parse(p.payload, cmd).empty()) {
            cmds.push_back(cmd);
        }
    }
    REQUIRE(cmds.size() == 1);
    CHECK(cmds[0].type == contract::CommandType::Start);
    CHECK(cmds[0].session == session);
    CHECK(cmds[0].target_kwh == Approx(25));
}

TEST_CASE("scheduler app: a restart from a snapshot and the journal after it equals a full replay",
          "[service][journal]") {
    std::vector<std::string> full;     // every line ever written
    std::vector<std::string> journal;  // the file: compacted at each snapshot
    std::optional<std::string> snapshot;
    int snapshots = 0;
    auto o = App::options();
    o.run = "run-s";
    o.journal = [&](const std::string& line) {
        full.push_back(line);
        journal.push_back(line);
    };
    o.snapshot_every = 5;
    o.save_snapshot = [&](const service::Snapshot& s, const std::string& start_line) {
        snapshot = service::encode_snapshot(s);
        journal = {start_line};
        ++snapshots;
    };
    App a(o);
    const char* cars[] = {"A", "B", "C", "D", "E", "F"};
    for (int i = 0; i < 30; ++i) {
        const std::string car = cars[i % 6];
        if (i % 5 == 4) {
            contract::SchedulerRequest cancel;
            cancel.op = contract::RequestOp::Cancel;
            cancel.car = car;
            a.request(cancel);
        } else {
            a.submit(car, i % 2 ? station::Mode::Fast : station::Mode::Slow, 5 + i);
        }
        contract::SchedulerRequest step;
        step.op = contract::RequestOp::ClockAdvance;
        step.advance_seconds = 300;
        a.request(step);
        a.app.tick(a.wall);
    }
    REQUIRE(snapshots > 3);
    REQUIRE(snapshot);
    REQUIRE(journal.size() < full.size());
    auto resumed = [&](std::vector<std::string> lines, std::optional<std::string> snap) {
        auto r = App::options();
        r.resume = std::move(lines);
        if (snap) {
            r.snapshot = service::decode_snapshot(*snap);
        }
        return std::make_unique<service::SchedulerApp>(test::profile(1, 2, 30, 10, 5, 2), r,
                                                       kWall + 5000, nullptr);
    };
    const auto replayed = resumed(full, std::nullopt);
    const auto restored = resumed(journal, snapshot);
    CHECK(contract::station_state(restored->station(), 0) ==
          contract::station_state(replayed->station(), 0));
    CHECK(contract::bills_view(restored->station()) == contract::bills_view(replayed->station()));
    CHECK(contract::station_state(restored->station(), 0) ==
          contract::station_state(a.app.station(), 0));
    CHECK(restored->log_position() == a.app.log_position());
    CHECK(replayed->log_position() == a.app.log_position());
    CHECK(restored->run() == "run-s");
    // Every order and bill keeps its log position: a catch-up from the start answers the
    // same from the restored station as from the full replay.
    auto catch_up = [](service::SchedulerApp& app) {
        contract::SchedulerRequest r;
        r.id = "catch-up";
        r.reply_to = contract::replies_topic("t");
        r.op = contract::RequestOp::Changes;
        r.run = "run-s";
        r.limit = contract::kMaxChangesLimit;
        app.on_message(contract::scheduler_requests_topic(), contract::to_json(r), kWall + 5000);
        for (const auto& p : app.take_publications()) {
            if (p.topic == r.reply_to) {
                return json::parse(p.payload);
            }
        }
        return json();
    };
    const json caught_up = catch_up(*replayed);
    REQUIRE(caught_up.at("ok") == true);
    REQUIRE(caught_up.dump().find("\"pos\"") != std::string::npos);
    CHECK(catch_up(*restored) == caught_up);
    // A snapshot written before the positions had their own sections (format version 1)
    // kept them in the scheduler's JSON: it restores the same positions.
    service::Snapshot old_format = service::decode_snapshot(*snapshot);
    json app = json::parse(old_format.app);
    app["order_pos"] = old_format.order_pos;
    app["bill_pos"] = old_format.bill_pos;
    old_format.app = app.dump();
    old_format.order_pos.clear();
    old_format.bill_pos.clear();
    CHECK(catch_up(*resumed(journal, service::encode_snapshot(old_format))) == caught_up);
    // A repeated request is answered from the snapshot's memory of replies, not applied.
    contract::SchedulerRequest again;
    again.id = "r1";  // the first submit
    again.reply_to = contract::replies_topic("t");
    again.op = contract::RequestOp::Submit;
    again.car = "A";
    again.mode = station::Mode::Slow;
    again.kwh = 5;
    const auto orders = restored->station().orders().size();
    restored->on_message(contract::scheduler_requests_topic(), contract::to_json(again),
                         kWall + 5000);
    CHECK(restored->station().orders().size() == orders);
    // A snapshot that does not cover the journal's start is refused.
    auto bad = App::options();
    bad.resume = full;
    bad.snapshot = service::decode_snapshot(*snapshot);
    bad.snapshot->journal_lines = 0;
    json start = json::parse(full.front());
    start["base"] = 3;
    bad.resume.front() = start.dump();
    CHECK_THROWS(service::SchedulerApp(test::profile(1, 2, 30, 10, 5, 2), bad, kWall, nullptr));
}

TEST_CASE("scheduler app: its figures and counters for monitoring follow the station",
          "[service]") {
    App a;  // F1, T1, T2 online, resting
    auto f = a.app.figures();
    CHECK(f.piles_by_state[static_cast<std::size_t>(station::PileState::Rest)] == 3);
    CHECK(f.piles_online == 3);
    CHECK(f.charging == 0);
    CHECK(f.bills == 0);
    a.submit("A", station::Mode::Slow, 5);
    a.submit("B", station::Mode::Slow, 5);
    a.submit("C", station::Mode::Slow, 5);  // queued behind A at T1
    a.submit("D", station::Mode::Fast, 5);
    a.submit("E", station::Mode::Fast, 5);  // queued behind D at F1
    a.submit("G", station::Mode::Slow, 5);  // queued behind B at T2
    a.submit("H", station::Mode::Slow, 5);  // in the waiting area: the slow queues are full
    CHECK(a.submit("A", station::Mode::Slow, 5)["ok"] == false);  // refused: still active
    f = a.app.figures();
    CHECK(f.piles_by_state[static_cast<std::size_t>(station::PileState::Work)] == 3);
    CHECK(f.charging == 3);
    CHECK(f.queued == 6);
    CHECK(f.waiting == 1);
    CHECK(a.app.stats().requests_done == 7);
    CHECK(a.app.stats().requests_refused == 1);
    // 5 kWh at 10 kW (T1, T2) and 30 kW (F1): half an hour finishes A, B, D and then E.
    contract::SchedulerRequest adv;
    adv.op = contract::RequestOp::ClockAdvance;
    adv.advance_seconds = 1800;
    REQUIRE(a.request(adv)["ok"] == true);
    f = a.app.figures();
    REQUIRE(f.bills == static_cast<std::int64_t>(a.app.station().bills().size()));
    CHECK(f.bills >= 4);
    std::int64_t cents = 0;
    for (const auto& b : a.app.station().bills()) {
        cents += contract::whole_cents(b.charge_fee) + contract::whole_cents(b.service_fee);
    }
    CHECK(f.billed_cents == cents);
    CHECK(f.billed_cents > 0);
    CHECK(f.log_position > 0);
    CHECK(a.app.figures().billed_cents == cents);  // summed once per bill
    // A pile's refusal of a command is counted; a repeated request too.
    contract::CommandAck nack{"c-x", "T1", false, "offline"};
    a.app.on_message(contract::pile_topic("T1", PileChannel::Acks), contract::to_json(nack),
                     a.wall);
    CHECK(a.app.stats().commands_refused == 1);
}

TEST_CASE("contract: whole cents are the cents a bill shows, half up", "[services]") {
    // Counted as shown: 0.145 and 1.005 are stored just below their half cent, where a
    // plain llround(v * 100) would round down.
    CHECK(contract::whole_cents(0.145) == 15);
    CHECK(contract::whole_cents(1.005) == 101);
    CHECK(contract::whole_cents(2.675) == 268);
    CHECK(contract::whole_cents(0.004999) == 0);
    CHECK(contract::whole_cents(0) == 0);
    CHECK(contract::whole_cents(93.75) == 9375);
    CHECK(static_cast<double>(contract::whole_cents(0.8333)) / 100 == contract::cents(0.8333));
}
