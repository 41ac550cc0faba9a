// End to end (issue #3): broker + scheduler + pile simulator running, the published
// 42-event acceptance case played through the bus — arrivals, changes and cancels as
// requests to the scheduler, faults injected into the simulated piles — and the station
// compared with case42.expected.jsonl at every event time and in its final bills.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli.hpp"
#include "contract/topics.hpp"
#include "harness.hpp"
#include "replay/scenario.hpp"
#include "replay_lines.hpp"
#include "station/time.hpp"

using harness::Message;
using harness::Probe;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

class Driver {
  public:
    explicit Driver(Probe& probe) : probe_(probe) {}

    contract::SchedulerReply request(contract::SchedulerRequest r) {
        return probe_.request(r, 10s);
    }

    json state() {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::State;
        const auto reply = request(r);
        REQUIRE(reply.ok);
        return reply.data;
    }

    // The pile's state, or "" if the scheduler did not answer: while the system comes up
    // a request can go out before the scheduler has subscribed, and is then lost.
    std::string pile_state(const std::string& pile) {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::State;
        const auto reply = probe_.request(r, 2s);
        if (!reply.ok) {
            return "";
        }
        for (const auto& p : reply.data["piles"]) {
            if (p["id"] == pile) {
                return p["state"];
            }
        }
        return "";
    }

    void advance_to(station::TimeMs t) {
        if (t > now_) {
            contract::SchedulerRequest r;
            r.op = contract::RequestOp::ClockAdvance;
            r.advance_seconds = (t - now_) / station::kMsPerSecond;
            REQUIRE(request(r).ok);
            now_ = t;
        }
    }
    void start_at(station::TimeMs t) { now_ = t; }
    station::TimeMs now() const { return now_; }

    // A fault or recovery goes to the simulated pile, which reports it to the scheduler;
    // the driver waits until the scheduler shows it.
    bool pile_event(const replay::ScenarioEvent& ev) {
        const bool fault = ev.kind == replay::EventKind::Fault;
        contract::PileCommand cmd;
        cmd.id = "driver-" + std::to_string(++commands_);
        cmd.type = fault ? contract::CommandType::InjectFault : contract::CommandType::ClearFault;
        cmd.fault_minutes = static_cast<int>(ev.fault_duration / station::kMsPerMinute);
        const std::string pile(ev.subject);
        const auto from = probe_.mark();
        probe_.publish(contract::pile_topic(pile, contract::PileChannel::Commands),
                       contract::to_json(cmd));
        const auto ack = probe_.wait_for(
            [&](const Message& m) {
                return m.topic == contract::pile_topic(pile, contract::PileChannel::Acks) &&
                       m.payload.find(cmd.id) != std::string::npos;
            },
            from);
        if (!ack || json::parse(ack->payload)["ok"] != true) {
            return false;
        }
        return Probe::eventually([&] { return (pile_state(pile) == "FAULT") == fault; }, 10s);
    }

    bool apply(const replay::ScenarioEvent& ev) {
        contract::SchedulerRequest r;
        r.car = std::string(ev.subject);
        switch (ev.kind) {
            case replay::EventKind::Arrive:
                r.op = contract::RequestOp::Submit;
                r.mode = ev.mode;
                r.kwh = ev.kwh;
                return request(r).ok;
            case replay::EventKind::Cancel:
                r.op = contract::RequestOp::Cancel;
                return request(r).ok;
            case replay::EventKind::Change:
                r.op = contract::RequestOp::Change;
                r.mode = ev.mode;
                r.kwh = ev.kwh;
                return request(r).ok;
            case replay::EventKind::Fault:
            case replay::EventKind::Recover:
                return pile_event(ev);
        }
        return false;
    }

    // The state in the replay's snapshot form (scenario-format.md).
    json snapshot(const json& events) { return harness::snapshot_line(state(), events); }

    // Every order's bills in the replay's final-line form, and when the last one closed.
    json final_line(station::TimeMs last_event) {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::Bills;
        const auto reply = request(r);
        REQUIRE(reply.ok);
        return harness::final_bills_line(reply.data, last_event);
    }

    bool all_closed() {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::Bills;
        const auto reply = request(r);
        for (const auto& o : reply.data["orders"]) {
            if (!o["closed"].is_object()) {
                return false;
            }
        }
        return true;
    }

  private:
    Probe& probe_;
    station::TimeMs now_ = 0;
    int commands_ = 0;
};

}  // namespace

TEST_CASE("e2e: the acceptance case through broker, scheduler and simulated piles", "[e2e]") {
    const std::string acceptance = STATION_ACCEPTANCE_DIR;
    std::string scenario;
    REQUIRE(cli::read_file(acceptance + "/case42.txt", scenario));

    harness::Broker broker;
    const std::string dir = harness::temp_dir();
    harness::Process scheduler(
        {harness::scheduler_binary(), "--broker", broker.uri(), "--profile", "acceptance-42",
         "--sim-start", "2026-11-25 06:00:00", "--sim-speed", "0"},
        dir + "/scheduler.log");
    harness::Process sim(
        {harness::pile_sim_binary(), "--broker", broker.uri(), "--profile", "acceptance-42"},
        dir + "/pile-sim.log");
    Probe probe(broker.uri(), "e2e-driver");
    Driver driver(probe);
    INFO("logs in " << dir);
    for (const char* pile : {"F1", "F2", "T1", "T2", "T3"}) {
        REQUIRE(Probe::eventually([&] { return driver.pile_state(pile) == "REST"; }, 15s));
    }

    std::ofstream out(dir + "/actual.jsonl");
    const auto last = harness::play_scenario(scenario, driver, out);
    REQUIRE(last);
    // Run on until every order is closed (the expected end is 01:35 the next day).
    for (int hour = 0; hour < 48 && !driver.all_closed(); ++hour) {
        driver.advance_to(driver.now() + station::kMsPerHour);
    }
    out << driver.final_line(*last).dump() << "\n";
    out.close();

    const std::string diff = harness::compare_with_case42(STATION_COMPARE_REPLAY, acceptance, dir,
                                                          dir + "/actual.jsonl");
    INFO(diff << "\nscheduler log:\n" << scheduler.log());
    CHECK(diff == "match\n");
}
