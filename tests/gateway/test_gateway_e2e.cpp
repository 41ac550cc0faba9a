// End to end (issue #10): a real mosquitto, the real station-scheduler, station-gateway
// and an OCPP 1.6J charge point simulated with ocpp-rpc in strict mode (cp-sim/), which
// validates every message both ways against the OCPP 1.6 JSON schemas.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "contract/topics.hpp"
#include "harness.hpp"

using harness::Message;
using harness::Probe;
using harness::Process;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char* kProfile = R"({"name": "gateway-e2e", "waiting_area": 3, "queue_length": 2,
 "piles": [{"id": "F1", "mode": "F", "power": 60}, {"id": "T1", "mode": "T", "power": 10}]})";
const char* kChargers = R"({"chargers": [{"identity": "CP1", "password": "secret-cp1-pass",
  "connectors": [{"connector": 1, "pile": "F1", "mode": "F", "power_kw": 60},
                 {"connector": 2, "pile": "T1", "mode": "T", "power_kw": 10}]}]})";

void write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

// The JSON lines of a log that are objects with "event".
std::vector<json> sim_events(const std::string& log) {
    std::vector<json> out;
    std::istringstream in(log);
    std::string line;
    while (std::getline(in, line)) {
        const json j = json::parse(line, nullptr, false);
        if (j.is_object() && j.contains("event")) {
            out.push_back(j);
        }
    }
    return out;
}

std::size_t count_events(const std::string& log, const std::string& event) {
    std::size_t n = 0;
    for (const auto& e : sim_events(log)) {
        n += e["event"] == event ? 1U : 0U;
    }
    return n;
}

struct Stack {
    harness::Broker broker;
    std::string dir = harness::temp_dir();
    std::unique_ptr<Process> scheduler;
    std::unique_ptr<Process> gateway;
    std::unique_ptr<Probe> probe;
    int port = 0;

    Stack() {
        write(dir + "/profile.json", kProfile);
        write(dir + "/chargers.json", kChargers);
        probe = std::make_unique<Probe>(broker.uri(), "gw-e2e-probe");
        scheduler = std::make_unique<Process>(
            std::vector<std::string>{harness::scheduler_binary(), "--broker", broker.uri(),
                                     "--profile", dir + "/profile.json"},
            dir + "/scheduler.log");
        gateway = std::make_unique<Process>(
            std::vector<std::string>{STATION_GATEWAY_BIN, "--broker", broker.uri(), "--chargers",
                                     dir + "/chargers.json", "--port", "0", "--meter-interval-s",
                                     "1", "--call-timeout-ms", "5000"},
            dir + "/gateway.log");
        REQUIRE(Probe::eventually(
            [&] { return gateway->log().find("listening on port ") != std::string::npos; }, 10s));
        const std::string log = gateway->log();
        port = std::stoi(log.substr(log.find("listening on port ") + 18));
        // The scheduler answers requests once it is up.
        REQUIRE(Probe::eventually(
            [&] {
                contract::SchedulerRequest r;
                r.op = contract::RequestOp::State;
                return probe->request(r, 1s).ok;
            },
            15s));
    }

    std::unique_ptr<Process> charger(const std::string& password,
                                     std::vector<std::string> extra = {},
                                     const std::string& identity = "CP1") {
        std::vector<std::string> argv{
            GATEWAY_NODE_BIN, std::string(GATEWAY_CP_SIM_DIR) + "/cp-sim.js",
            "--url",          "ws://127.0.0.1:" + std::to_string(port) + "/ocpp",
            "--identity",     identity,
            "--password",     password,
            "--connectors",   "1,2",
            "--power-kw",     "60"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return std::make_unique<Process>(argv, dir + "/cp-sim-" + identity + ".log");
    }

    bool pile_online(const std::string& pile, std::size_t from, std::chrono::milliseconds t) {
        return probe
            ->wait_for(
                [&](const Message& m) {
                    if (m.topic != contract::pile_topic(pile, contract::PileChannel::Status)) {
                        return false;
                    }
                    const json j = json::parse(m.payload, nullptr, false);
                    return j.is_object() && j.value("online", false);
                },
                from, t)
            .has_value();
    }

    contract::SchedulerReply submit(const std::string& car, double kwh) {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::Submit;
        r.car = car;
        r.mode = station::Mode::Fast;
        r.kwh = kwh;
        return probe->request(r, 5s);
    }

    // The car's order FINISHED and its bill, from the scheduler's change log.
    std::optional<json> bill_of(const std::string& car, std::chrono::milliseconds t) {
        std::optional<json> bill;
        bool finished = false;
        probe->wait_for(
            [&](const Message& m) {
                if (m.topic != contract::station_changes_topic()) {
                    return false;
                }
                const json j = json::parse(m.payload, nullptr, false);
                if (!j.is_object()) {
                    return false;
                }
                for (const auto& b : j.value("bills", json::array())) {
                    if (b.value("car", "") == car) {
                        bill = b;
                    }
                }
                for (const auto& o : j.value("orders", json::array())) {
                    if (o.value("car", "") == car && o.value("state", "") == "FINISHED") {
                        finished = true;
                    }
                }
                return finished && bill.has_value();
            },
            0, t);
        return finished ? bill : std::nullopt;
    }

    std::optional<json> session_end(const std::string& pile, std::chrono::milliseconds t) {
        const auto m = probe->wait_for(
            [&](const Message& msg) {
                return msg.topic == contract::pile_topic(pile, contract::PileChannel::Events) &&
                       (msg.payload.find("session_finished") != std::string::npos ||
                        msg.payload.find("session_interrupted") != std::string::npos);
            },
            0, t);
        return m ? std::optional<json>(json::parse(m->payload)) : std::nullopt;
    }
};

}  // namespace

TEST_CASE("a charger boots, its connector is a pile, a car is charged to its target and billed") {
    Stack s;
    const auto from = s.probe->mark();
    auto cp = s.charger("secret-cp1-pass");
    REQUIRE(s.pile_online("F1", from, 10s));
    REQUIRE(s.pile_online("T1", from, 10s));
    const auto reply = s.submit("CAR-1", 0.1);
    REQUIRE(reply.ok);
    // RemoteStartTransaction -> StartTransaction -> MeterValues -> the gateway's
    // RemoteStopTransaction at 0.1 kWh -> StopTransaction.
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "transaction_stopped") == 1; },
                              30s));
    const auto events = sim_events(cp->log());
    CHECK(count_events(cp->log(), "remote_start") == 1);
    CHECK(count_events(cp->log(), "remote_stop") == 1);
    CHECK(count_events(cp->log(), "change_configuration") == 1);
    CHECK(count_events(cp->log(), "error") == 0);
    CHECK(count_events(cp->log(), "bad_message") == 0);
    const auto end = s.session_end("F1", 5s);
    REQUIRE(end);
    CHECK((*end)["type"] == "session_finished");
    CHECK((*end)["energy_kwh"].get<double>() >= 0.1);
    CHECK((*end)["energy_kwh"].get<double>() < 0.13);
    const auto bill = s.bill_of("CAR-1", 20s);
    REQUIRE(bill);
    CHECK((*bill)["pile"] == "F1");
    CHECK((*bill)["kwh"].get<double>() == Approx(0.1));
    CHECK((*bill)["reason"] == "completed");
    INFO(s.gateway->log());
    CHECK(s.gateway->log().find("reached 0.100000 kWh: stopping transaction") != std::string::npos);
}

TEST_CASE("a charger with a wrong password or an unknown identity is refused before the upgrade") {
    Stack s;
    auto wrong = s.charger("not-the-password");
    REQUIRE(Probe::eventually([&] { return !wrong->running(); }, 15s));
    auto refused = sim_events(wrong->log());
    REQUIRE_FALSE(refused.empty());
    CHECK(refused.back()["event"] == "refused");
    CHECK(refused.back()["status"] == 401);
    auto unknown = s.charger("secret-cp1-pass", {}, "CP9");
    REQUIRE(Probe::eventually([&] { return !unknown->running(); }, 15s));
    refused = sim_events(unknown->log());
    REQUIRE_FALSE(refused.empty());
    CHECK(refused.back()["status"] == 401);
    const std::string log = s.gateway->log();
    CHECK(log.find("refused charger CP1 from 127.0.0.1: bad credentials") != std::string::npos);
    CHECK(log.find("refused charger CP9 from 127.0.0.1: unknown identity") != std::string::npos);
    CHECK(log.find("charger CP1 connected") == std::string::npos);
    CHECK_FALSE(s.pile_online("F1", 0, 500ms));
}

TEST_CASE("a charger that loses its connection mid-transaction reconnects and keeps charging") {
    Stack s;
    const auto from = s.probe->mark();
    auto cp = s.charger("secret-cp1-pass", {"--drop-after-meter", "3", "--offline-ms", "1500"});
    REQUIRE(s.pile_online("F1", from, 10s));
    REQUIRE(s.submit("CAR-2", 0.15).ok);
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "reconnected") == 1; }, 20s));
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "transaction_stopped") == 1; },
                              30s));
    // One transaction from start to end: not restarted, not booted again.
    CHECK(count_events(cp->log(), "remote_start") == 1);
    CHECK(count_events(cp->log(), "transaction_started") == 1);
    CHECK(count_events(cp->log(), "boot") == 1);
    CHECK(count_events(cp->log(), "error") == 0);
    const auto end = s.session_end("F1", 5s);
    REQUIRE(end);
    CHECK((*end)["type"] == "session_finished");
    CHECK((*end)["energy_kwh"].get<double>() >= 0.15);
    // The pile was offline while the charger was, and came back with its session.
    bool offline = false;
    bool back = false;
    for (const auto& m : s.probe->messages()) {
        if (m.topic == contract::pile_topic("F1", contract::PileChannel::Status)) {
            const json j = json::parse(m.payload);
            offline = offline || (j["online"] == false && !back);
            back = back || (offline && j["online"] == true && !j.value("session", "").empty());
        }
    }
    CHECK(offline);
    CHECK(back);
    const auto bill = s.bill_of("CAR-2", 20s);
    REQUIRE(bill);
    CHECK((*bill)["kwh"].get<double>() == Approx(0.15));
    CHECK((*bill)["reason"] == "completed");
    CHECK(s.scheduler->log().find("faulty") == std::string::npos);
}
