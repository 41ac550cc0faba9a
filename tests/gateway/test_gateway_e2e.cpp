// End to end (issue #10): a real mosquitto, the real station-scheduler, station-gateway
// and an OCPP 1.6J charge point simulated with ocpp-rpc in strict mode (cp-sim/), which
// validates every message both ways against the OCPP 1.6 JSON schemas. The cases are named
// after the OCA OCPP 1.6 central-system test cases they follow (TC_nnn, as SteVe's
// Ocpp16JsonCsmsCertificationIT does); cases of the field that have no such test case are
// named by what they show.
#include <sys/wait.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api_stack.hpp"
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
// Two fast piles, each its own charger: a car re-dispatched after a fault changes charger.
const char* kTwoProfile = R"({"name": "gateway-e2e-2", "waiting_area": 3, "queue_length": 2,
 "piles": [{"id": "F1", "mode": "F", "power": 60}, {"id": "F2", "mode": "F", "power": 60},
           {"id": "T1", "mode": "T", "power": 10}]})";
const char* kTwoChargers = R"({"chargers": [
  {"identity": "CP1", "password": "secret-cp1-pass",
   "connectors": [{"connector": 1, "pile": "F1", "mode": "F", "power_kw": 60}]},
  {"identity": "CP2", "password": "secret-cp2-pass",
   "connectors": [{"connector": 1, "pile": "F2", "mode": "F", "power_kw": 60},
                  {"connector": 2, "pile": "T1", "mode": "T", "power_kw": 10}]}]})";

struct StackOptions {
    std::string profile = kProfile;
    std::string chargers = kChargers;
    std::vector<std::string> scheduler_args;
    std::vector<std::string> gateway_args;
    /// The gateway starts while the broker is down; `station_up()` brings it up.
    bool broker_late = false;
};

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

std::optional<json> first_event(const std::string& log, const std::string& event) {
    for (const auto& e : sim_events(log)) {
        if (e["event"] == event) {
            return e;
        }
    }
    return std::nullopt;
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
    StackOptions options;
    std::unique_ptr<Process> scheduler;
    std::unique_ptr<Process> gateway;
    std::unique_ptr<Probe> probe;
    std::unique_ptr<Process> api;  ///< station-api, once api_up()
    std::unique_ptr<apitest::Http> http;
    std::string admin;  ///< its admin's token
    int port = 0;
    std::string scheme = "ws";  ///< "wss" with --tls-cert

    explicit Stack(StackOptions o = {}) : options(std::move(o)) {
        if (std::find(options.gateway_args.begin(), options.gateway_args.end(), "--tls-cert") !=
            options.gateway_args.end()) {
            scheme = "wss";
        }
        write(dir + "/profile.json", options.profile);
        write(dir + "/chargers.json", options.chargers);
        if (options.broker_late) {
            broker.stop();  // its port stays ours: started again by station_up()
        }
        std::vector<std::string> argv{STATION_GATEWAY_BIN,
                                      "--broker",
                                      broker.uri(),
                                      "--chargers",
                                      dir + "/chargers.json",
                                      "--port",
                                      "0",
                                      "--meter-interval-s",
                                      "1",
                                      "--call-timeout-ms",
                                      "5000"};
        argv.insert(argv.end(), options.gateway_args.begin(), options.gateway_args.end());
        gateway = std::make_unique<Process>(argv, dir + "/gateway.log");
        REQUIRE(Probe::eventually(
            [&] { return gateway->log().find("listening on port ") != std::string::npos; }, 10s));
        const std::string log = gateway->log();
        port = std::stoi(log.substr(log.find("listening on port ") + 18));
        if (!options.broker_late) {
            station_up();
        }
    }

    // The broker (if it was down), the probe and the scheduler, answering requests.
    void station_up() {
        if (options.broker_late) {
            broker.start();
        }
        probe = std::make_unique<Probe>(broker.uri(), "gw-e2e-probe");
        std::vector<std::string> argv{harness::scheduler_binary(), "--broker", broker.uri(),
                                      "--profile", dir + "/profile.json"};
        argv.insert(argv.end(), options.scheduler_args.begin(), options.scheduler_args.end());
        scheduler = std::make_unique<Process>(argv, dir + "/scheduler.log");
        REQUIRE(Probe::eventually(
            [&] {
                contract::SchedulerRequest r;
                r.op = contract::RequestOp::State;
                return probe->request(r, 1s).ok;
            },
            15s));
    }

    // station-api on the station's broker with a fresh database, the admin logged in: the
    // operator's side.
    void api_up() {
        const std::string port_file = dir + "/api.port";
        ::setenv("STATION_ADMIN_ACCOUNT", apitest::kAdminAccount.c_str(), 1);
        ::setenv("STATION_ADMIN_PASSWORD", apitest::kAdminPassword.c_str(), 1);
        api = std::make_unique<Process>(
            std::vector<std::string>{harness::api_binary(), "--broker", broker.uri(), "--db",
                                     dir + "/api.db", "--port", "0", "--port-file", port_file,
                                     "--password-iterations", "1000"},
            dir + "/api.log");
        REQUIRE(Probe::eventually([&] { return !harness::read_text(port_file).empty(); }, 20s));
        http = std::make_unique<apitest::Http>(std::stoi(harness::read_text(port_file)));
        const auto login = http->call(
            "POST", "/admin/login",
            json{{"account", apitest::kAdminAccount}, {"password", apitest::kAdminPassword}});
        REQUIRE(login.status == 200);
        admin = login.body["data"]["token"];
    }

    // The operator resets the pile's charger (POST /admin/index/charge/reset).
    apitest::Reply reset(const std::string& pile, const std::string& type) {
        return http->call("POST", "/admin/index/charge/reset",
                          json{{"charge_id", pile}, {"type", type}}, admin);
    }

    std::unique_ptr<Process> charger(const std::string& password,
                                     std::vector<std::string> extra = {},
                                     const std::string& identity = "CP1",
                                     const std::string& connectors = "1,2") {
        std::vector<std::string> argv{
            GATEWAY_NODE_BIN, std::string(GATEWAY_CP_SIM_DIR) + "/cp-sim.js",
            "--url",          scheme + "://127.0.0.1:" + std::to_string(port) + "/ocpp",
            "--identity",     identity,
            "--password",     password,
            "--connectors",   connectors,
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

    // The car's order closed (`state`) and its bill, from the scheduler's change log.
    std::optional<json> bill_of(const std::string& car, std::chrono::milliseconds t,
                                const std::string& state = "FINISHED") {
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
                    if (o.value("car", "") == car && o.value("state", "") == state) {
                        finished = true;
                    }
                }
                return finished && bill.has_value();
            },
            0, t);
        return finished ? bill : std::nullopt;
    }

    std::optional<json> session_end(const std::string& pile, std::chrono::milliseconds t) {
        return pile_event(pile,
                          {"session_finished", "session_interrupted", "session_ended_at_pile"}, t);
    }

    // The first event of `pile` of one of `types`.
    std::optional<json> pile_event(const std::string& pile, const std::vector<std::string>& types,
                                   std::chrono::milliseconds t) {
        const auto m = probe->wait_for(
            [&](const Message& msg) {
                if (msg.topic != contract::pile_topic(pile, contract::PileChannel::Events)) {
                    return false;
                }
                const json j = json::parse(msg.payload, nullptr, false);
                return j.is_object() &&
                       std::find(types.begin(), types.end(), j.value("type", "")) != types.end();
            },
            0, t);
        return m ? std::optional<json>(json::parse(m->payload)) : std::nullopt;
    }

    // The pile's state in the scheduler's view ("" if it did not answer).
    std::string scheduler_pile_state(const std::string& pile) {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::State;
        const auto reply = probe->request(r, 2s);
        for (const auto& p : reply.data.value("piles", json::array())) {
            if (p["id"] == pile) {
                return p["state"];
            }
        }
        return "";
    }

    // The latest retained status of `pile` the probe saw.
    json pile_status(const std::string& pile) {
        json last;
        for (const auto& m : probe->messages()) {
            if (m.topic == contract::pile_topic(pile, contract::PileChannel::Status)) {
                last = json::parse(m.payload, nullptr, false);
            }
        }
        return last;
    }
};

}  // namespace

TEST_CASE("TC_001 cold boot: the boot is accepted, connectors become piles, heartbeat answered") {
    Stack s;
    const auto from = s.probe->mark();
    auto cp = s.charger("secret-cp1-pass");
    REQUIRE(s.pile_online("F1", from, 10s));
    REQUIRE(s.pile_online("T1", from, 10s));
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "change_configuration") == 1; },
                              10s));
    // The simulator says "boot" once its call returns, which may be after it has already
    // answered the ChangeConfiguration the gateway sends on accepting it: wait for it.
    REQUIRE(Probe::eventually([&] { return first_event(cp->log(), "boot").has_value(); }, 10s));
    const auto boot = first_event(cp->log(), "boot");
    REQUIRE(boot);
    CHECK((*boot)["status"] == "Accepted");
    CHECK((*boot)["interval"] == 300);
    // Statuses and a Heartbeat follow the boot; the Heartbeat is answered with the time.
    CHECK(Probe::eventually(
        [&] {
            for (const auto& e : sim_events(cp->log())) {
                if (e["event"] == "answer" && e["method"] == "Heartbeat" &&
                    e["reply"].contains("currentTime")) {
                    return true;
                }
            }
            return false;
        },
        10s));
    // The sample interval the gateway sets on every accepted boot.
    const auto set = first_event(cp->log(), "change_configuration");
    CHECK((*set)["key"] == "MeterValueSampleInterval");
    CHECK((*set)["value"] == "1");
    CHECK(s.pile_status("F1")["state"] == "REST");
    CHECK(Probe::eventually([&] { return s.scheduler_pile_state("F1") == "REST"; }, 5s));
    CHECK(count_events(cp->log(), "error") == 0);
    CHECK(count_events(cp->log(), "bad_message") == 0);
}

TEST_CASE("TC_002 cold boot pending: Pending while the station's broker is down, then accepted") {
    StackOptions o;
    o.broker_late = true;
    o.gateway_args = {"--boot-retry-s", "60"};
    Stack s(o);
    auto cp = s.charger("secret-cp1-pass", {"--call-while-pending"});
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "pending_call") == 1; }, 10s));
    auto boot = first_event(cp->log(), "boot");
    REQUIRE(boot);
    CHECK((*boot)["status"] == "Pending");
    CHECK((*boot)["interval"] == 60);
    // While Pending the charger may send nothing but its boot: a call anyway is refused.
    const auto refused = first_event(cp->log(), "pending_call");
    CHECK((*refused)["error"] == "SecurityError");
    CHECK(count_events(cp->log(), "change_configuration") == 0);
    // The broker comes up: the gateway asks for the boot at once (TriggerMessage, allowed
    // while Pending) rather than after the 60 s interval, and accepts it.
    s.station_up();
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "boot") == 2; }, 20s));
    CHECK(count_events(cp->log(), "trigger") == 1);
    CHECK(sim_events(cp->log()).size() > 0);
    std::vector<json> boots;
    for (const auto& e : sim_events(cp->log())) {
        if (e["event"] == "boot") {
            boots.push_back(e);
        }
    }
    CHECK(boots.back()["status"] == "Accepted");
    REQUIRE(Probe::eventually([&] { return s.scheduler_pile_state("F1") == "REST"; }, 10s));
    CHECK(Probe::eventually([&] { return count_events(cp->log(), "change_configuration") == 1; },
                            10s));
    const std::string log = s.gateway->log();
    CHECK(log.find("booted while the station is unreachable; pending") != std::string::npos);
    CHECK(log.find("the station is reachable again; asking it to boot") != std::string::npos);
}

TEST_CASE(
    "TC_011_1 + TC_012 regular charging session: remote start, meter values, remote stop, "
    "billed by the meter") {
    StackOptions o;
    o.scheduler_args = {"--metered-piles", "all"};
    Stack s(o);
    const auto from = s.probe->mark();
    auto cp = s.charger("secret-cp1-pass");
    REQUIRE(s.pile_online("F1", from, 10s));
    REQUIRE(s.pile_online("T1", from, 10s));
    REQUIRE(s.submit("CAR-1", 0.1).ok);
    // RemoteStartTransaction -> StartTransaction -> MeterValues -> the gateway's
    // RemoteStopTransaction at 0.1 kWh -> StopTransaction.
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "transaction_stopped") == 1; },
                              30s));
    CHECK(count_events(cp->log(), "remote_start") == 1);
    CHECK(count_events(cp->log(), "transaction_started") == 1);
    CHECK(count_events(cp->log(), "remote_stop") == 1);
    std::size_t meter_values = 0;
    for (const auto& e : sim_events(cp->log())) {
        meter_values += e["event"] == "answer" && e["method"] == "MeterValues" ? 1U : 0U;
    }
    CHECK(meter_values >= 2);
    CHECK((*first_event(cp->log(), "transaction_stopped"))["reason"] == "Remote");
    CHECK(count_events(cp->log(), "error") == 0);
    CHECK(count_events(cp->log(), "bad_message") == 0);
    const auto end = s.session_end("F1", 5s);
    REQUIRE(end);
    CHECK((*end)["type"] == "session_finished");
    const double metered = (*end)["energy_kwh"].get<double>();
    CHECK(metered >= 0.1);
    CHECK(metered < 0.13);
    // A metered pile: the bill is the charger's meter (meterStop - meterStart), not the model.
    const auto bill = s.bill_of("CAR-1", 20s);
    REQUIRE(bill);
    CHECK((*bill)["pile"] == "F1");
    CHECK((*bill)["kwh"].get<double>() == Approx(metered).margin(1e-6));
    CHECK((*bill)["reason"] == "completed");
    CHECK(s.gateway->log().find("reached 0.100000 kWh: stopping transaction") != std::string::npos);
}

TEST_CASE(
    "fault during a transaction: Faulted raises a fault, the car is re-dispatched to "
    "another charger") {
    StackOptions o;
    o.profile = kTwoProfile;
    o.chargers = kTwoChargers;
    Stack s(o);
    const auto from = s.probe->mark();
    auto cp1 = s.charger("secret-cp1-pass", {"--fault-after-meter", "2"}, "CP1", "1");
    auto cp2 = s.charger("secret-cp2-pass", {}, "CP2", "1,2");
    REQUIRE(s.pile_online("F1", from, 10s));
    REQUIRE(s.pile_online("F2", from, 10s));
    REQUIRE(Probe::eventually([&] { return s.scheduler_pile_state("F2") == "REST"; }, 10s));
    REQUIRE(s.submit("CAR-3", 5).ok);
    // The first fast pile takes the car; after two meter values its charger faults
    // (StatusNotification Faulted, GroundFailure) and ends the transaction itself.
    REQUIRE(Probe::eventually([&] { return count_events(cp1->log(), "faulted") == 1; }, 20s));
    const auto fault = s.pile_event("F1", {"fault_raised"}, 5s);
    REQUIRE(fault);
    CHECK((*fault)["reason"] == "GroundFailure");
    REQUIRE(Probe::eventually([&] { return s.scheduler_pile_state("F1") == "FAULT"; }, 5s));
    // The scheduler re-dispatches the car: the other charger gets the RemoteStart.
    REQUIRE(Probe::eventually([&] { return count_events(cp2->log(), "transaction_started") == 1; },
                              15s));
    const auto start = first_event(cp2->log(), "remote_start");
    REQUIRE(start);
    CHECK((*start)["connectorId"] == 1);
    CHECK((*start)["idTag"] == (*first_event(cp1->log(), "remote_start"))["idTag"]);
    CHECK(Probe::eventually([&] { return !s.pile_status("F2").value("session", "").empty(); }, 5s));
    const auto interrupted = s.pile_event("F1", {"session_interrupted"}, 5s);
    REQUIRE(interrupted);
    // The charger's own stop (Other), or the scheduler's stop if it came first.
    CHECK(((*interrupted)["reason"] == "Other" || (*interrupted)["reason"] == "stopped"));
    CHECK(count_events(cp1->log(), "error") == 0);
    CHECK(count_events(cp2->log(), "error") == 0);
}

TEST_CASE(
    "ChangeAvailability on switch off: the scheduler's switch_off makes the connector "
    "Inoperative, switch_on Operative") {
    Stack s;
    const auto from = s.probe->mark();
    auto cp = s.charger("secret-cp1-pass");
    REQUIRE(s.pile_online("F1", from, 10s));
    REQUIRE(Probe::eventually([&] { return s.scheduler_pile_state("F1") == "REST"; }, 10s));
    contract::SchedulerRequest off;
    off.op = contract::RequestOp::SwitchOff;
    off.pile = "F1";
    REQUIRE(s.probe->request(off, 5s).ok);
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "change_availability") == 1; },
                              10s));
    auto change = first_event(cp->log(), "change_availability");
    CHECK((*change)["connectorId"] == 1);
    CHECK((*change)["type"] == "Inoperative");
    CHECK(Probe::eventually([&] { return s.pile_status("F1").value("state", "") == "OFF"; }, 5s));
    contract::SchedulerRequest on = off;
    on.op = contract::RequestOp::SwitchOn;
    REQUIRE(s.probe->request(on, 5s).ok);
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "change_availability") == 2; },
                              10s));
    std::vector<json> changes;
    for (const auto& e : sim_events(cp->log())) {
        if (e["event"] == "change_availability") {
            changes.push_back(e);
        }
    }
    CHECK(changes.back()["type"] == "Operative");
    CHECK(Probe::eventually([&] { return s.pile_status("F1").value("state", "") == "REST"; }, 5s));
    CHECK(count_events(cp->log(), "error") == 0);
}

TEST_CASE(
    "TC_036 connection loss during a transaction: the charger reconnects and keeps "
    "charging") {
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

TEST_CASE(
    "TC_038 offline stop transaction: StopTransaction queued while offline is delivered "
    "after reconnecting and ends the order") {
    Stack s;
    const auto from = s.probe->mark();
    auto cp = s.charger("secret-cp1-pass", {"--drop-after-meter", "2", "--offline-ms", "2000",
                                            "--queue-stop-offline"});
    REQUIRE(s.pile_online("F1", from, 10s));
    REQUIRE(s.submit("CAR-4", 20).ok);
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "stop_delivered") == 1; }, 30s));
    const auto queued = first_event(cp->log(), "stop_queued");
    REQUIRE(queued);
    CHECK((*queued)["reason"] == "EVDisconnected");
    // Delivered after the reconnection, before the connector's status.
    const auto events = sim_events(cp->log());
    std::size_t reconnected = 0;
    std::size_t delivered = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        reconnected = events[i]["event"] == "reconnected" ? i : reconnected;
        delivered = events[i]["event"] == "stop_delivered" ? i : delivered;
    }
    CHECK(reconnected < delivered);
    // The charger ended the session on its own: the car is gone and its order ends, billed
    // as the station's model says up to the moment the stop arrived (docs/ocpp.md).
    const auto end = s.session_end("F1", 5s);
    REQUIRE(end);
    CHECK((*end)["type"] == "session_ended_at_pile");
    CHECK((*end)["reason"] == "EVDisconnected");
    const auto bill = s.bill_of("CAR-4", 20s, "CANCELLED");
    REQUIRE(bill);
    CHECK((*bill)["pile"] == "F1");
    CHECK((*bill)["kwh"].get<double>() > 0);
    CHECK((*bill)["kwh"].get<double>() < 20);
    CHECK(s.gateway->log().find("before it was delivered (queued while offline)") !=
          std::string::npos);
    CHECK(Probe::eventually([&] { return s.scheduler_pile_state("F1") == "REST"; }, 5s));
    CHECK(count_events(cp->log(), "error") == 0);
}

// The index of the first event `event` of the log at or after `from`; -1 if none.
long event_index(const std::vector<json>& events, const std::string& event, std::size_t from = 0) {
    for (std::size_t i = from; i < events.size(); ++i) {
        if (events[i]["event"] == event) {
            return static_cast<long>(i);
        }
    }
    return -1;
}

// The pile's status said offline, then online again, after `from`.
bool went_offline_and_back(Stack& s, const std::string& pile, std::size_t from) {
    bool offline = false;
    bool back = false;
    const auto messages = s.probe->messages();
    for (std::size_t i = from; i < messages.size(); ++i) {
        if (messages[i].topic != contract::pile_topic(pile, contract::PileChannel::Status)) {
            continue;
        }
        const json j = json::parse(messages[i].payload, nullptr, false);
        offline = offline || !j.value("online", true);
        back = back || (offline && j.value("online", false));
    }
    return back;
}

// station-api up (the operator), charger CP1 (restarting in `restart_ms` after a Reset)
// charging `car`: 20 kWh at 60 kW, 20 minutes, far beyond any test.
std::unique_ptr<Process> charging_for_the_operator(Stack& s, const std::string& car,
                                                   const std::string& restart_ms) {
    s.api_up();
    const auto from = s.probe->mark();
    auto cp = s.charger("secret-cp1-pass", {"--restart-ms", restart_ms});
    REQUIRE(s.pile_online("F1", from, 10s));
    REQUIRE(Probe::eventually([&] { return s.scheduler_pile_state("F1") == "REST"; }, 10s));
    REQUIRE(s.submit(car, 20).ok);
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "transaction_started") == 1; },
                              15s));
    return cp;
}

TEST_CASE(
    "TC_016 soft reset with a transaction: the operator's reset stops it (SoftReset), the "
    "charger boots again, the order ends with its bill") {
    Stack s;
    auto cp = charging_for_the_operator(s, "CAR-6", "1000");
    REQUIRE(Probe::eventually(
        [&] {
            std::size_t meter_values = 0;
            for (const auto& e : sim_events(cp->log())) {
                meter_values += e["event"] == "answer" && e["method"] == "MeterValues" ? 1U : 0U;
            }
            return meter_values >= 2;
        },
        15s));
    const auto mark = s.probe->mark();
    // The operator's reset: REST -> the scheduler's reset command -> the gateway's Reset.
    const auto sent = s.reset("F1", "Soft");
    REQUIRE(sent.status == 200);
    CHECK(sent.body["code"] == 0);
    CHECK(sent.body["data"] == json({{"charge_id", "F1"}, {"type", "Soft"}}));
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "boot") == 2; }, 20s));
    const auto reset = first_event(cp->log(), "reset");
    REQUIRE(reset);
    CHECK((*reset)["type"] == "Soft");
    // Accepted; the transaction stopped (SoftReset) before the connection closed; back,
    // booted again.
    const auto events = sim_events(cp->log());
    const long at_reset = event_index(events, "reset");
    const long stopped = event_index(events, "transaction_stopped");
    const long restarting = event_index(events, "restarting");
    const long reconnected = event_index(events, "reconnected");
    const long booted = event_index(events, "boot", static_cast<std::size_t>(restarting + 1));
    CHECK(at_reset < stopped);
    CHECK(stopped < restarting);
    CHECK(restarting < reconnected);
    CHECK(reconnected < booted);
    CHECK(events[static_cast<std::size_t>(stopped)]["reason"] == "SoftReset");
    CHECK(events[static_cast<std::size_t>(booted)]["status"] == "Accepted");
    CHECK(s.gateway->log().find("charger CP1 accepted a Soft reset") != std::string::npos);
    // The charger ended the session at the pile: the car's order ends (docs/decisions.md,
    // "A charger that ends a session on its own ends the car's order"), billed by the
    // model up to the stop; the meter agrees within the start and stop latencies.
    const auto end = s.session_end("F1", 5s);
    REQUIRE(end);
    CHECK((*end)["type"] == "session_ended_at_pile");
    CHECK((*end)["reason"] == "SoftReset");
    const auto bill = s.bill_of("CAR-6", 20s, "CANCELLED");
    REQUIRE(bill);
    CHECK((*bill)["pile"] == "F1");
    CHECK((*bill)["kwh"].get<double>() > 0);
    CHECK((*bill)["kwh"].get<double>() == Approx((*end)["energy_kwh"].get<double>()).margin(0.05));
    // Offline while it restarted, back within the offline grace: not faulted, free again,
    // and the car not dispatched anew.
    CHECK(Probe::eventually([&] { return went_offline_and_back(s, "F1", mark); }, 10s));
    CHECK(Probe::eventually([&] { return s.scheduler_pile_state("F1") == "REST"; }, 10s));
    CHECK(Probe::eventually([&] { return s.pile_status("F1").value("state", "") == "REST"; }, 5s));
    CHECK(count_events(cp->log(), "remote_start") == 1);
    CHECK(s.scheduler->log().find("refused command") == std::string::npos);
    CHECK(count_events(cp->log(), "error") == 0);
    CHECK(count_events(cp->log(), "bad_message") == 0);
}

TEST_CASE(
    "TC_015 + TC_013 hard reset: the stop (HardReset) follows the new boot, without a "
    "transaction the charger only restarts") {
    Stack s;
    auto cp = charging_for_the_operator(s, "CAR-7", "500");
    const auto sent = s.reset("F1", "Hard");
    REQUIRE(sent.status == 200);
    CHECK(sent.body["code"] == 0);
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "stop_delivered") == 1; }, 20s));
    const auto queued = first_event(cp->log(), "stop_queued");
    REQUIRE(queued);
    CHECK((*queued)["reason"] == "HardReset");
    // OCPP 1.6 §5.14: after the restart and the accepted boot.
    const auto events = sim_events(cp->log());
    const long restarting = event_index(events, "restarting");
    const long booted = event_index(events, "boot", static_cast<std::size_t>(restarting + 1));
    CHECK(restarting >= 0);
    CHECK(booted > restarting);
    CHECK(event_index(events, "stop_delivered") > booted);
    const auto end = s.session_end("F1", 5s);
    REQUIRE(end);
    CHECK((*end)["type"] == "session_ended_at_pile");
    CHECK((*end)["reason"] == "HardReset");
    const auto bill = s.bill_of("CAR-7", 20s, "CANCELLED");
    REQUIRE(bill);
    CHECK((*bill)["kwh"].get<double>() > 0);
    CHECK(s.gateway->log().find("booted again: it restarted") != std::string::npos);
    REQUIRE(Probe::eventually([&] { return s.scheduler_pile_state("F1") == "REST"; }, 10s));

    // TC_013: no transaction; the charger restarts and boots, nothing else happens.
    REQUIRE(Probe::eventually([&] { return s.pile_status("F1").value("online", false); }, 5s));
    const auto again = s.reset("F1", "Hard");
    REQUIRE(again.status == 200);
    CHECK(again.body["code"] == 0);
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "boot") == 3; }, 20s));
    CHECK(count_events(cp->log(), "stop_queued") == 1);
    CHECK(count_events(cp->log(), "transaction_stopped") == 1);
    CHECK(Probe::eventually([&] { return s.scheduler_pile_state("F1") == "REST"; }, 10s));
    // An unknown pile is refused by the scheduler, as its other operations are.
    CHECK(s.reset("Z9", "Soft").body["error"] == "unknown_pile");
    CHECK(count_events(cp->log(), "error") == 0);
    CHECK(count_events(cp->log(), "bad_message") == 0);
}

TEST_CASE(
    "late answer: a RemoteStartTransaction answered after the call timeout is ignored, "
    "the start acknowledged failed") {
    StackOptions o;
    o.gateway_args = {"--call-timeout-ms", "1000"};
    Stack s(o);
    const auto from = s.probe->mark();
    auto cp = s.charger("secret-cp1-pass", {"--answer-delay-ms", "2500"});
    REQUIRE(s.pile_online("F1", from, 10s));
    REQUIRE(s.submit("CAR-5", 5).ok);
    // The command fails at the timeout, not when the answer comes.
    const auto ack = s.probe->wait_for(
        [](const Message& m) {
            return m.topic == contract::pile_topic("F1", contract::PileChannel::Acks) &&
                   m.payload.find("RemoteStartTransaction") != std::string::npos;
        },
        from, 10s);
    REQUIRE(ack);
    const json a = json::parse(ack->payload);
    CHECK(a["ok"] == false);
    CHECK(a["reason"] == "no answer to RemoteStartTransaction within 1000 ms");
    CHECK(count_events(cp->log(), "answered_late") == 0);
    // The answer comes 1.5 s later: logged and ignored; the transaction the charger then
    // starts is for a session the gateway gave up on, and refused.
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "transaction_refused") == 1; },
                              15s));
    CHECK((*first_event(cp->log(), "transaction_refused"))["status"] == "Invalid");
    const std::string log = s.gateway->log();
    CHECK(log.find("answered late message") != std::string::npos);
    CHECK(log.find("(after its timeout): ignored") != std::string::npos);
    CHECK(count_events(cp->log(), "error") == 0);
}

TEST_CASE(
    "security profile 1 (HTTP Basic, cf. TC_085): a wrong password or an unknown "
    "identity is refused before the upgrade") {
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

TEST_CASE("schema-invalid messages are answered with CALLERROR (raw WebSocket client)") {
    Stack s;
    const std::string boot =
        R"([2,"m1","BootNotification",{"chargePointVendor":"Raw","chargePointModel":"ws"}])";
    const std::string wrong_type =
        R"([2,"m2","StatusNotification",{"connectorId":"one","errorCode":"NoError","status":"Available"}])";
    const std::string missing =
        R"([2,"m3","StatusNotification",{"connectorId":1,"errorCode":"NoError"}])";
    const std::string bad_enum =
        R"([2,"m4","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Sleeping"}])";
    const std::string not_object = R"([2,"m5","Heartbeat",[]])";
    const std::string unknown = R"([2,"m6","FlyToTheMoon",{}])";
    Process raw({GATEWAY_NODE_BIN, std::string(GATEWAY_CP_SIM_DIR) + "/raw-call.js",
                 "--url",          "ws://127.0.0.1:" + std::to_string(s.port) + "/ocpp",
                 "--identity",     "CP1",
                 "--password",     "secret-cp1-pass",
                 "--send",         boot,
                 "--send",         wrong_type,
                 "--send",         missing,
                 "--send",         bad_enum,
                 "--send",         not_object,
                 "--send",         unknown},
                s.dir + "/raw-call.log");
    REQUIRE(Probe::eventually([&] { return count_events(raw.log(), "done") == 1; }, 20s));
    std::map<std::string, json> answers;
    for (const auto& e : sim_events(raw.log())) {
        if (e["event"] == "frame" && e["frame"][0] != 2) {
            answers[e["frame"][1].get<std::string>()] = e["frame"];
        }
    }
    INFO(raw.log());
    REQUIRE(answers.count("m1") == 1);
    CHECK(answers["m1"][0] == 3);
    CHECK(answers["m1"][2]["status"] == "Accepted");
    auto code = [&](const std::string& id) {
        return answers.count(id) == 1 && answers[id][0] == 4 ? answers[id][2].get<std::string>()
                                                             : std::string("no CALLERROR");
    };
    CHECK(code("m2") == "TypeConstraintViolation");
    CHECK(code("m3") == "OccurenceConstraintViolation");
    CHECK(code("m4") == "PropertyConstraintViolation");
    CHECK(code("m5") == "FormationViolation");
    CHECK(code("m6") == "NotImplemented");
    CHECK(s.gateway->log().find("sent an invalid StatusNotification") != std::string::npos);
}

namespace {

// A self-signed certificate for 127.0.0.1 (its own CA), made with the openssl CLI in `dir`:
// cert.pem and key.pem.
bool make_certificate(const std::string& dir) {
    Process openssl({GATEWAY_OPENSSL_BIN, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                     "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
                     dir + "/key.pem", "-out", dir + "/cert.pem"},
                    dir + "/openssl.log");
    return Probe::eventually([&] { return !openssl.running(); }, 20s) &&
           std::ifstream(dir + "/cert.pem").good() && std::ifstream(dir + "/key.pem").good();
}

}  // namespace

TEST_CASE(
    "security profile 2 (TLS, cf. TC_086): a charger trusting the certificate boots over "
    "wss://, while plain ws:// on the TLS port and a client not trusting it get no connection") {
    const std::string certs = harness::temp_dir();
    REQUIRE(make_certificate(certs));
    StackOptions o;
    o.gateway_args = {"--tls-cert", certs + "/cert.pem", "--tls-key", certs + "/key.pem"};
    Stack s(o);
    CHECK(s.gateway->log().find("(wss://127.0.0.1:") != std::string::npos);
    const auto from = s.probe->mark();
    auto cp = s.charger("secret-cp1-pass", {"--ca", certs + "/cert.pem"});
    REQUIRE(s.pile_online("F1", from, 15s));
    REQUIRE(Probe::eventually([&] { return first_event(cp->log(), "boot").has_value(); }, 10s));
    CHECK((*first_event(cp->log(), "boot"))["status"] == "Accepted");
    const std::string heartbeat = R"([2,"h1","Heartbeat",{}])";
    auto raw = [&](const std::string& scheme, std::vector<std::string> extra,
                   const std::string& name) {
        std::vector<std::string> argv{
            GATEWAY_NODE_BIN, std::string(GATEWAY_CP_SIM_DIR) + "/raw-call.js",
            "--url",          scheme + "://127.0.0.1:" + std::to_string(s.port) + "/ocpp",
            "--identity",     "CP1",
            "--password",     "secret-cp1-pass",
            "--send",         heartbeat};
        argv.insert(argv.end(), extra.begin(), extra.end());
        auto p = std::make_unique<Process>(argv, s.dir + "/" + name + ".log");
        REQUIRE(Probe::eventually([&] { return !p->running(); }, 20s));
        return p;
    };
    const auto plain = raw("ws", {}, "plain");
    INFO(plain->log());
    CHECK(count_events(plain->log(), "connected") == 0);
    CHECK(count_events(plain->log(), "error") == 1);
    const auto untrusting = raw("wss", {}, "untrusting");
    INFO(untrusting->log());
    CHECK(count_events(untrusting->log(), "connected") == 0);
    CHECK(count_events(untrusting->log(), "error") == 1);
    CHECK(s.gateway->log().find("TLS handshake with 127.0.0.1 failed") != std::string::npos);
    // The charger on wss:// was not disturbed: still connected, its heartbeats answered.
    CHECK(cp->running());
    CHECK(count_events(cp->log(), "error") == 0);
}

namespace {

// The value of the sample `series` (name and labels as exposed) in a /metrics text, or -1.
double sample(const std::string& text, const std::string& series) {
    const std::string at = "\n" + series + " ";
    const auto i = text.find(at);
    return i == std::string::npos ? -1 : std::stod(text.substr(i + at.size()));
}

int exit_code(const std::string& command) {
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("metrics: /metrics counts the charger, its calls and piles by state") {
    StackOptions o;
    o.gateway_args = {"--metrics", "127.0.0.1:0"};
    Stack s(o);
    const std::string log = s.gateway->log();
    const std::string line = "station-gateway info: metrics on http://127.0.0.1:";
    REQUIRE(log.find(line) != std::string::npos);
    const int port = std::stoi(log.substr(log.find(line) + line.size()));
    apitest::Http http(port);
    std::string text;
    auto scrape = [&] {
        const auto got = http.call("GET", "/metrics");
        REQUIRE(got.status == 200);
        text = "\n" + got.raw;
        return text;
    };
    scrape();
    CHECK(sample(text, "evcs_gateway_chargers_connected") == 0);
    CHECK(sample(text, "evcs_gateway_piles{state=\"offline\"}") == 2);

    const auto from = s.probe->mark();
    auto cp = s.charger("secret-cp1-pass");
    REQUIRE(s.pile_online("F1", from, 10s));
    REQUIRE(s.pile_online("T1", from, 10s));
    REQUIRE(Probe::eventually([&] { return count_events(cp->log(), "change_configuration") == 1; },
                              10s));
    CHECK(Probe::eventually(
        [&] {
            scrape();
            return sample(text,
                          "evcs_gateway_ocpp_calls_total{action=\"ChangeConfiguration\",outcome="
                          "\"accepted\"}") == 1;
        },
        5s));
    INFO(text);
    CHECK(sample(text, "evcs_gateway_chargers_connected") == 1);
    CHECK(sample(text, "evcs_gateway_chargers_booted") == 1);
    CHECK(sample(text, "evcs_gateway_vendor_devices_online") == 0);
    CHECK(sample(text, "evcs_gateway_ocpp_messages_received_total{action=\"BootNotification\"}") ==
          1);
    CHECK(sample(text,
                 "evcs_gateway_ocpp_messages_received_total{action=\"StatusNotification\"}") >= 2);
    CHECK(sample(text,
                 "evcs_gateway_ocpp_calls_total{action=\"GetConfiguration\",outcome="
                 "\"accepted\"}") == 1);
    CHECK(sample(text,
                 "evcs_gateway_ocpp_call_duration_seconds_count{action=\"GetConfiguration\"}") ==
          1);
    CHECK(sample(text, "evcs_gateway_ocpp_frames_refused_total") == 0);
    CHECK(sample(text, "evcs_gateway_piles{state=\"offline\"}") == 0);
    CHECK(sample(text, "evcs_gateway_piles{state=\"rest\"}") == 2);
    CHECK(sample(text, "evcs_gateway_sessions_active") == 0);

    // A car: the scheduler's start is acknowledged, the transaction runs on F1.
    REQUIRE(Probe::eventually([&] { return s.scheduler_pile_state("F1") == "REST"; }, 10s));
    REQUIRE(s.submit("CAR-1", 5).ok);
    CHECK(Probe::eventually(
        [&] {
            scrape();
            return sample(text, "evcs_gateway_sessions_active") == 1;
        },
        10s));
    CHECK(sample(text, "evcs_gateway_piles{state=\"work\"}") == 1);
    CHECK(sample(text, "evcs_gateway_piles{state=\"rest\"}") == 1);
    CHECK(sample(text, "evcs_gateway_commands_total{ok=\"true\",type=\"start\"}") == 1);
    CHECK(sample(text,
                 "evcs_gateway_ocpp_calls_total{action=\"RemoteStartTransaction\",outcome="
                 "\"accepted\"}") == 1);
    CHECK(sample(text, "evcs_gateway_ocpp_messages_received_total{action=\"StartTransaction\"}") ==
          1);
    CHECK(sample(text, "evcs_gateway_calls_waiting") == 0);

    // Prometheus' own linter finds nothing to say.
    if (exit_code("command -v promtool > /dev/null 2>&1") == 0) {
        write(s.dir + "/metrics.txt", text.substr(1));
        const int rc = exit_code("promtool check metrics < " + s.dir + "/metrics.txt > " + s.dir +
                                 "/promtool.out 2>&1");
        const std::string said = harness::read_text(s.dir + "/promtool.out");
        INFO(said);
        CHECK(rc == 0);
        CHECK(said.empty());
    }

    // A --metrics value that is not HOST:PORT is a usage error; a taken address stops it.
    const std::string bin = std::string(STATION_GATEWAY_BIN) + " --chargers " + s.dir +
                            "/chargers.json --broker " + s.broker.uri() + " --port 0";
    CHECK(exit_code(bin + " --metrics 9464 2> " + s.dir + "/bad.log") == 2);
    CHECK(exit_code(bin + " --metrics 127.0.0.1:" + std::to_string(port) + " 2> " + s.dir +
                    "/taken.log") == 1);
    CHECK(harness::read_text(s.dir + "/taken.log")
              .find("station-gateway error: cannot serve metrics on 127.0.0.1:" +
                    std::to_string(port)) != std::string::npos);
}
