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
#include "scenario_driver.hpp"
#include "station/time.hpp"

using harness::Message;
using harness::Probe;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

class Driver : public harness::ScenarioDriver {
  public:
    using ScenarioDriver::ScenarioDriver;

  protected:
    // A fault or recovery goes to the simulated pile, which reports it to the scheduler;
    // the driver waits until the scheduler shows it.
    bool pile_event(const replay::ScenarioEvent& ev) override {
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
        return scheduler_shows(ev);
    }

  private:
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

    // Run on until every order is closed (the expected end is 01:35 the next day).
    const std::string diff =
        harness::play_case42(driver, scenario, STATION_COMPARE_REPLAY, acceptance, dir);
    INFO(diff << "\nscheduler log:\n" << scheduler.log());
    CHECK(diff == "match\n");
}
