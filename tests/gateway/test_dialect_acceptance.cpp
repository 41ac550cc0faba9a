// End to end (issue #10, vendor dialects): the published 42-event acceptance case with the
// acceptance-42 profile's piles as vendor chargers behind one station-gateway --dialects
// (F1, T2, T3 go-e; F2, T1 OpenEVSE: each dialect has one of the case's two faulted piles),
// on the scheduler's stepped clock, played and compared with case42.expected.jsonl as the
// bus test (tests/bus/test_e2e.cpp) does with station-pile-sim. The piles are unmetered: the
// station's model ends each session at its exact time.
//
// A vendor charger takes no station command, so inject_fault cannot reach it: its faults
// are the simulator's scripted --fault at the case's station times, each lasting until the
// case's recovery (go-e reports car 5, OpenEVSE state 6), and the driver waits for the
// scheduler to show them.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli.hpp"
#include "contract/topics.hpp"
#include "harness.hpp"
#include "replay/scenario.hpp"
#include "replay_lines.hpp"
#include "scenario_driver.hpp"
#include "station/time.hpp"

using harness::Probe;
using harness::Process;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char* kDialects = R"({"devices": [
  {"dialect": "go-e", "serial": "F1", "pile": "F1", "mode": "F", "power_kw": 30},
  {"dialect": "openevse", "id": "F2", "pile": "F2", "mode": "F", "power_kw": 30},
  {"dialect": "openevse", "id": "T1", "pile": "T1", "mode": "T", "power_kw": 10},
  {"dialect": "go-e", "serial": "T2", "pile": "T2", "mode": "T", "power_kw": 10},
  {"dialect": "go-e", "serial": "T3", "pile": "T3", "mode": "T", "power_kw": 10}]})";

// The case's faults (08:25 B T1 .. 09:15 recovered, 08:50 B F1 .. 10:50 recovered).
const char* kFaultT1 = "2026-11-25 08:25:00=T1:50";
const char* kFaultF1 = "2026-11-25 08:50:00=F1:120";

// Before its first station clock message a simulator runs on wall time shifted by its UTC
// offset, and a scripted fault already due then would fire at once: this offset puts that
// guess a day before the case.
std::string offset_before_the_case() {
    const std::int64_t minutes =
        (harness::kScenarioDay0 - station::kMsPerDay - cli::wall_ms()) / station::kMsPerMinute;
    return std::to_string(minutes);
}

class Driver : public harness::ScenarioDriver {
  public:
    using ScenarioDriver::ScenarioDriver;

  protected:
    // The charger faulted or recovered by itself when the clock reached this time (its
    // scripted fault); the gateway reports it and the driver waits until the scheduler
    // shows it.
    bool pile_event(const replay::ScenarioEvent& ev) override { return scheduler_shows(ev); }
};

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

}  // namespace

TEST_CASE(
    "acceptance case 42 with its piles on the go-e and OpenEVSE dialects behind "
    "station-gateway",
    "[acceptance]") {
    const std::string acceptance = STATION_ACCEPTANCE_DIR;
    std::string scenario;
    REQUIRE(cli::read_file(acceptance + "/case42.txt", scenario));

    harness::Broker broker;
    const std::string dir = harness::temp_dir();
    std::ofstream(dir + "/dialects.json") << kDialects;
    Process scheduler({harness::scheduler_binary(), "--broker", broker.uri(), "--profile",
                       "acceptance-42", "--sim-start", "2026-11-25 06:00:00", "--sim-speed", "0"},
                      dir + "/scheduler.log");
    Process gateway({STATION_GATEWAY_BIN, "--broker", broker.uri(), "--dialects",
                     dir + "/dialects.json", "--vendor-timeout-ms", "5000"},
                    dir + "/gateway.log");
    REQUIRE(Probe::eventually(
        [&] { return gateway.log().find("vendor bridge: 5 devices") != std::string::npos; }, 10s));
    const std::string offset = offset_before_the_case();
    Process goe({harness::pile_sim_binary(), "--broker", broker.uri(), "--profile", "acceptance-42",
                 "--piles", "F1,T2,T3", "--dialect", "go-e", "--fault", kFaultF1,
                 "--utc-offset-minutes", offset, "--telemetry-hz", "10"},
                dir + "/sim-go-e.log");
    Process openevse({harness::pile_sim_binary(), "--broker", broker.uri(), "--profile",
                      "acceptance-42", "--piles", "F2,T1", "--dialect", "openevse", "--fault",
                      kFaultT1, "--utc-offset-minutes", offset, "--telemetry-hz", "10"},
                     dir + "/sim-openevse.log");
    Probe probe(broker.uri(), "dialect-acceptance-driver");
    Driver driver(probe);
    INFO("logs in " << dir);
    for (const char* pile : {"F1", "F2", "T1", "T2", "T3"}) {
        REQUIRE(Probe::eventually([&] { return driver.pile_state(pile) == "REST"; }, 20s));
    }

    // Run on until every order is closed (the expected end is 01:35 the next day).
    const std::string diff =
        harness::play_case42(driver, scenario, STATION_COMPARE_REPLAY, acceptance, dir);
    INFO(diff << "\nscheduler log:\n" << scheduler.log() << "\ngateway log:\n" << gateway.log());
    CHECK(diff == "match\n");
    // The faults came from the chargers, once each, in each vendor's terms.
    CHECK(count(goe.log(), "injecting the scripted fault into F1") == 1);
    CHECK(count(openevse.log(), "injecting the scripted fault into T1") == 1);
    CHECK(count(gateway.log(), "(pile F1) faulted: car state 5 (error)") == 1);
    CHECK(count(gateway.log(), "(pile T1) faulted: state 6 (GFCI fault)") == 1);
    // Every session of the case was started at its charger, or refused by it because the
    // station's model had already ended it (the model does not wait for the chargers: on a
    // slow machine a stepped clock can end a session before its start reached the charger,
    // and the charger's refusal says so).
    std::size_t sessions = 0;
    const json all = driver.bills();
    for (const auto& o : all["orders"]) {
        sessions += o["sessions"].size();
    }
    std::size_t started = 0;
    for (const auto& m : probe.messages()) {
        for (const char* pile : {"F1", "F2", "T1", "T2", "T3"}) {
            if (m.topic == contract::pile_topic(pile, contract::PileChannel::Events) &&
                m.payload.find("\"session_started\"") != std::string::npos) {
                ++started;
            }
        }
    }
    const std::size_t ended_first =
        count(scheduler.log(), "the session ended before the charger started it");
    INFO("sessions billed " << sessions << ", started at the chargers " << started
                            << ", ended by the model before their charger started them "
                            << ended_first);
    CHECK(started + ended_first >= sessions);
    // Every start and stop the station asked for was acknowledged by its charger.
    CHECK(count(gateway.log(), " failed: ") == 0);
}
