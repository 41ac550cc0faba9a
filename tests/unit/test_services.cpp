// The scheduler service's logic and the simulated pile, without a broker: messages in,
// publications out, the wall clock passed in.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "contract/topics.hpp"
#include "pilesim/sim_pile.hpp"
#include "service/scheduler_app.hpp"
#include "station/time.hpp"
#include "contract/station_state.hpp"
#include "support.hpp"

using contract::PileChannel;
using nlohmann::json;

namespace {

constexpr std::int64_t kWall = 1'000'000;
const station::TimeMs kStart = test::at(6, 0, 0, 20000);

struct App {
    App() : app(test::profile(1, 2, 30, 10, 5, 2), options(), kWall, [this](std::string_view, std::string_view m) {
              logs += std::string(m) + "\n";
          }) {
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
        contract::PileStatus s{pile, true, station::PileState::Rest, station::Mode::Fast, 10, "", 0, {boot, 1}};
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

}  // namespace

TEST_CASE("scheduler app: a request dispatches and commands the pile", "[service]") {
    App a;
    const json reply = a.submit("A", station::Mode::Slow, 10);
    CHECK(reply["ok"] == true);
    CHECK(reply["data"]["pile"] == "T1");
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

TEST_CASE("scheduler app: piles count only once online, and a lost pile after a grace", "[service]") {
    App a;
    contract::PileStatus will{"T1", false, {}, {}, 0, "", 0, {}};
    a.app.on_message(contract::pile_topic("T1", PileChannel::Status), contract::to_json(will), a.wall);
    CHECK(a.app.station().pile_state(1) == station::PileState::Rest);  // grace running
    a.app.tick(a.wall + 999);
    CHECK(a.app.station().pile_state(1) == station::PileState::Rest);
    a.app.tick(a.wall + 1000);
    CHECK(a.app.station().pile_state(1) == station::PileState::Fault);
    a.online("T1", "b2");  // back, with a new boot
    CHECK(a.app.station().pile_state(1) == station::PileState::Rest);
    // While the scheduler itself has lost the broker, no grace runs out.
    a.app.on_message(contract::pile_topic("T2", PileChannel::Status), contract::to_json(contract::PileStatus{"T2", false, {}, {}, 0, "", 0, {}}), a.wall);
    a.app.on_connection_lost();
    a.app.tick(a.wall + 60'000);
    CHECK(a.app.station().pile_state(2) == station::PileState::Rest);
}

TEST_CASE("scheduler app: clock requests step the station; real time refuses them", "[service]") {
    App a;
    a.submit("A", station::Mode::Slow, 10);
    contract::SchedulerRequest adv;
    adv.op = contract::RequestOp::ClockAdvance;
    adv.advance_seconds = 3600;
    const json r = a.request(adv);
    CHECK(r["ok"] == true);
    CHECK(r["data"]["time"] == station::format_datetime(kStart + station::kMsPerHour));
    CHECK(a.on(contract::station_bills_topic()).size() == 1);
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

TEST_CASE("scheduler app: unknown piles, foreign topics and junk change nothing", "[service]") {
    App a;
    a.submit("A", station::Mode::Slow, 10);
    const json before = contract::station_state(a.app.station(), 0);
    const auto dropped = a.app.stats().dropped;
    a.app.on_message("evcs/v1/piles/X9/events", R"({"pile":"X9","type":"fault_raised","at_ms":0,"boot":"b","seq":1})", a.wall);
    a.app.on_message("evcs/v1/piles/T1/events", "{\"pile\":\"T1\"", a.wall);
    a.app.on_message("evcs/v1/piles/T1/events", R"({"pile":"T2","type":"fault_raised","at_ms":0,"boot":"b","seq":1})", a.wall);
    a.app.on_message("evcs/v1/piles/T1/commands", R"({"id":"c","type":"stop","session":"s"})", a.wall);
    a.app.on_message("somewhere/else", "{}", a.wall);
    CHECK(a.app.stats().dropped == dropped + 5);
    CHECK(contract::station_state(a.app.station(), 0) == before);
}

TEST_CASE("sim pile: charges on the clock, finishes at its target, obeys commands", "[pilesim]") {
    pilesim::SimPile pile({"T1", "T1", station::Mode::Slow, 10}, "boot");
    contract::PileCommand start;
    start.id = "c1";
    start.type = contract::CommandType::Start;
    start.session = "s1";
    start.order = 7;
    start.target_kwh = 5;
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

TEST_CASE("scheduler app: an event overtaken by later telemetry is still taken; a replay is not",
          "[service]") {
    App a;
    contract::Telemetry t{"T1", "s", 0, 1, 10, 0, {"pile-boot", 11}};
    a.app.on_message(contract::pile_topic("T1", PileChannel::Telemetry), contract::to_json(t), a.wall);
    contract::PileEvent fault;
    fault.pile = "T1";
    fault.type = contract::PileEventType::FaultRaised;
    fault.origin = {"pile-boot", 10};  // sent before the telemetry, delivered after it
    a.app.on_message(contract::pile_topic("T1", PileChannel::Events), contract::to_json(fault), a.wall);
    CHECK(a.app.station().pile_state(1) == station::PileState::Fault);
    contract::PileEvent cleared = fault;
    cleared.type = contract::PileEventType::FaultCleared;
    cleared.origin = {"pile-boot", 12};
    a.app.on_message(contract::pile_topic("T1", PileChannel::Events), contract::to_json(cleared), a.wall);
    CHECK(a.app.station().pile_state(1) == station::PileState::Rest);
    const auto dropped = a.app.stats().dropped;
    a.app.on_message(contract::pile_topic("T1", PileChannel::Events), contract::to_json(fault), a.wall);
    CHECK(a.app.stats().dropped == dropped + 1);  // the replayed fault changes nothing
    CHECK(a.app.station().pile_state(1) == station::PileState::Rest);
}
