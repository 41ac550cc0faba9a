// End to end (issue #10): the published 42-event acceptance case with every pile of the
// acceptance-42 profile an OCPP 1.6J charge point (cp-sim, ocpp-rpc strict mode) behind
// station-gateway, on the scheduler's stepped clock: arrivals, changes and cancels as
// requests to the scheduler, faults raised and cleared at the chargers themselves
// (StatusNotification Faulted / Available), and the station compared with
// case42.expected.jsonl at every event time and in its final bills, as the bus test
// (tests/bus/test_e2e.cpp) does with station-pile-sim. The piles are unmetered: the
// station's model ends each session at its exact time and the gateway stops the charger.
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.hpp"
#include "contract/topics.hpp"
#include "harness.hpp"
#include "replay/scenario.hpp"
#include "replay_lines.hpp"
#include "scenario_driver.hpp"

using harness::Probe;
using harness::Process;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// acceptance-42: fast piles 30 kW, slow piles 10 kW; one single-connector charger each.
const char* kChargers = R"({"chargers": [
  {"identity": "CP-F1", "password": "acceptance-f1", "connectors": [{"connector": 1, "pile": "F1", "mode": "F", "power_kw": 30}]},
  {"identity": "CP-F2", "password": "acceptance-f2", "connectors": [{"connector": 1, "pile": "F2", "mode": "F", "power_kw": 30}]},
  {"identity": "CP-T1", "password": "acceptance-t1", "connectors": [{"connector": 1, "pile": "T1", "mode": "T", "power_kw": 10}]},
  {"identity": "CP-T2", "password": "acceptance-t2", "connectors": [{"connector": 1, "pile": "T2", "mode": "T", "power_kw": 10}]},
  {"identity": "CP-T3", "password": "acceptance-t3", "connectors": [{"connector": 1, "pile": "T3", "mode": "T", "power_kw": 10}]}]})";
const std::vector<std::string> kPiles = {"F1", "F2", "T1", "T2", "T3"};

std::size_t count_events(const std::string& log, const std::string& event) {
    std::size_t n = 0;
    std::istringstream in(log);
    std::string line;
    while (std::getline(in, line)) {
        const json j = json::parse(line, nullptr, false);
        n += j.is_object() && j.contains("event") && j["event"] == event ? 1U : 0U;
    }
    return n;
}

class Driver : public harness::ScenarioDriver {
  public:
    Driver(Probe& probe, std::map<std::string, std::unique_ptr<Process>>& chargers)
        : ScenarioDriver(probe), chargers_(chargers) {}

    // Waits until the chargers have caught up with the station's model: every pile whose
    // model charges a car has the gateway holding that order's session with its transaction
    // started at the charger (session_started). The model does
    // not wait for the chargers (its view is compared as it is); this makes every session
    // of the case a real OCPP transaction rather than one superseded before it started.
    bool settle() {
        const bool ok = Probe::eventually([&] { return settled(); }, 10s);
        if (!ok) {
            unsettled_.push_back(station::format_hms(now_) + " " + why_);
        }
        return ok;
    }
    /// The steps at which the chargers did not catch up, with why.
    const std::vector<std::string>& unsettled() const { return unsettled_; }

    json snapshot(const json& events) override {
        settle();
        return ScenarioDriver::snapshot(events);
    }

  protected:
    // A fault or recovery happens at the charger (cp-sim: SIGUSR1 faults its connector,
    // SIGUSR2 clears it), which tells the gateway (StatusNotification Faulted / Available),
    // which tells the scheduler (fault_raised / fault_cleared); the driver waits until the
    // scheduler shows it.
    bool pile_event(const replay::ScenarioEvent& ev) override {
        const bool fault = ev.kind == replay::EventKind::Fault;
        const auto it = chargers_.find(std::string(ev.subject));
        if (it == chargers_.end()) {
            return false;
        }
        const std::string said = fault ? "faulted" : "recovered";
        const std::size_t before = count_events(it->second->log(), said);
        ::kill(it->second->pid(), fault ? SIGUSR1 : SIGUSR2);
        if (!Probe::eventually([&] { return count_events(it->second->log(), said) > before; },
                               10s)) {
            return false;
        }
        return scheduler_shows(ev);
    }
    void after_step() override { settle(); }

  private:
    bool settled() {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::State;
        const auto reply = probe_.request(r, 2s);
        if (!reply.ok) {
            return false;
        }
        const auto messages = probe_.messages();
        for (const auto& p : reply.data["piles"]) {
            const std::string pile = p["id"];
            std::string want;  // "o{order}-": the session of the car the model charges
            for (const auto& c : p["queue"]) {
                if (c["state"] == "CHARGING") {
                    want = "o" + std::to_string(c["order"].get<std::int64_t>()) + "-";
                }
            }
            std::string have;
            bool started = false;
            for (const auto& m : messages) {
                if (m.topic == contract::pile_topic(pile, contract::PileChannel::Status)) {
                    const json j = json::parse(m.payload, nullptr, false);
                    if (j.is_object() && j.contains("session") && j["session"].is_string()) {
                        have = j["session"].get<std::string>();
                    } else if (j.is_object()) {
                        have.clear();
                    }
                }
            }
            // A session the model completed and nothing followed is not stopped: the scheduler
            // sends no stop at a model completion on an unmetered pile, and the charger,
            // metering in wall time, reaches no target on this stepped clock (docs/ocpp.md).
            if (!want.empty() && have.rfind(want, 0) != 0) {
                why_ =
                    "pile " + pile + ": the model charges " + want + ", the gateway holds " + have;
                return false;
            }
            for (const auto& m : messages) {
                if (!have.empty() &&
                    m.topic == contract::pile_topic(pile, contract::PileChannel::Events) &&
                    m.payload.find("session_started") != std::string::npos &&
                    m.payload.find("\"" + have + "\"") != std::string::npos) {
                    started = true;
                }
            }
            if (!have.empty() && !started) {
                why_ = "pile " + pile + ": session " + have + " has no transaction";
                return false;
            }
        }
        return true;
    }

    std::vector<std::string> unsettled_;
    std::string why_;
    std::map<std::string, std::unique_ptr<Process>>& chargers_;
};

}  // namespace

TEST_CASE("acceptance case 42 with every pile an OCPP charge point behind station-gateway",
          "[acceptance]") {
    const std::string acceptance = STATION_ACCEPTANCE_DIR;
    std::string scenario;
    REQUIRE(cli::read_file(acceptance + "/case42.txt", scenario));

    harness::Broker broker;
    const std::string dir = harness::temp_dir();
    std::ofstream(dir + "/chargers.json") << kChargers;
    Process scheduler({harness::scheduler_binary(), "--broker", broker.uri(), "--profile",
                       "acceptance-42", "--sim-start", "2026-11-25 06:00:00", "--sim-speed", "0"},
                      dir + "/scheduler.log");
    Process gateway({STATION_GATEWAY_BIN, "--broker", broker.uri(), "--chargers",
                     dir + "/chargers.json", "--port", "0", "--meter-interval-s", "1"},
                    dir + "/gateway.log");
    REQUIRE(Probe::eventually(
        [&] { return gateway.log().find("listening on port ") != std::string::npos; }, 10s));
    const std::string glog = gateway.log();
    const int port = std::stoi(glog.substr(glog.find("listening on port ") + 18));
    std::map<std::string, std::unique_ptr<Process>> chargers;
    for (const auto& pile : kPiles) {
        std::string password = "acceptance-" + pile;
        std::transform(password.begin(), password.end(), password.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        // 1 kW of wall-time metering: no charger reaches a target by itself in the run.
        chargers[pile] = std::make_unique<Process>(
            std::vector<std::string>{
                GATEWAY_NODE_BIN, std::string(GATEWAY_CP_SIM_DIR) + "/cp-sim.js", "--url",
                "ws://127.0.0.1:" + std::to_string(port) + "/ocpp", "--identity", "CP-" + pile,
                "--password", password, "--connectors", "1", "--power-kw", "1"},
            dir + "/cp-sim-" + pile + ".log");
    }
    Probe probe(broker.uri(), "gw-acceptance-driver");
    Driver driver(probe, chargers);
    INFO("logs in " << dir);
    for (const auto& pile : kPiles) {
        REQUIRE(Probe::eventually([&] { return driver.pile_state(pile) == "REST"; }, 20s));
    }

    // Run on until every order is closed (the expected end is 01:35 the next day), the chargers
    // settling after each hour.
    const std::string diff =
        harness::play_case42(driver, scenario, STATION_COMPARE_REPLAY, acceptance, dir);
    INFO(diff << "\nscheduler log:\n" << scheduler.log());
    CHECK(diff == "match\n");
    // What the chargers saw: remote starts and stops for the sessions, the two faults and
    // recoveries, every message valid both ways (strict mode), no transaction refused.
    for (const auto& u : driver.unsettled()) {
        UNSCOPED_INFO("not caught up at " << u);
    }
    CHECK(driver.unsettled().empty());
    std::size_t sessions = 0;
    const json all = driver.bills();
    for (const auto& o : all["orders"]) {
        sessions += o["sessions"].size();
    }
    std::size_t starts = 0;
    for (const auto& [pile, cp] : chargers) {
        INFO(pile << ":\n" << cp->log());
        starts += count_events(cp->log(), "transaction_started");
        CHECK(count_events(cp->log(), "error") == 0);
        CHECK(count_events(cp->log(), "bad_message") == 0);
    }
    // Every session of the case was a transaction at its charger.
    INFO("sessions billed " << sessions << ", transactions " << starts);
    CHECK(starts >= sessions);
    CHECK(count_events(chargers["T1"]->log(), "faulted") == 1);
    CHECK(count_events(chargers["T1"]->log(), "recovered") == 1);
    CHECK(count_events(chargers["F1"]->log(), "faulted") == 1);
    CHECK(count_events(chargers["F1"]->log(), "recovered") == 1);
}
