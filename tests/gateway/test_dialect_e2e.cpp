// End to end (issue #10, vendor dialects): a real mosquitto, the real station-scheduler,
// station-gateway with --dialects and station-pile-sim --dialect speaking go-e API v2 or
// OpenEVSE on the vendor's topics. A car asked for through the scheduler is dispatched to
// the vendor charger, charges, is stopped at its target by the gateway and billed; a
// charger that vanishes (its MQTT last will) takes its pile offline.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "contract/topics.hpp"
#include "harness.hpp"

using harness::Message;
using harness::Probe;
using harness::Process;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char* kProfile = R"({"name": "dialect-e2e", "waiting_area": 3, "queue_length": 2,
 "piles": [{"id": "F1", "mode": "F", "power": 60}, {"id": "T1", "mode": "T", "power": 10}]})";

void write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

struct Dialect {
    std::string name;         // --dialect
    std::string field;        // the device's identity field in the dialects file
    std::string vendor_root;  // the vendor topics to watch
    std::string enable_topic;
};

const Dialect kGoe{"go-e", "serial", "go-eCharger/#", "go-eCharger/000001/frc/set"};
const Dialect kOpenEvse{"openevse", "id", "openevse-ab01/#", "openevse-ab01/claim/set"};

struct Stack {
    harness::Broker broker;
    std::string dir = harness::temp_dir();
    std::unique_ptr<Process> scheduler;
    std::unique_ptr<Process> gateway;
    std::unique_ptr<Process> sim;
    std::unique_ptr<Probe> probe;
    std::unique_ptr<Probe> vendor;

    explicit Stack(const Dialect& d) {
        const std::string f1 = d.name == "go-e" ? "000001" : "ab01";
        const std::string t1 = d.name == "go-e" ? "000002" : "ab02";
        write(dir + "/profile.json", kProfile);
        write(dir + "/dialects.json", json{{"devices",
                                            {{{"dialect", d.name},
                                              {d.field, f1},
                                              {"pile", "F1"},
                                              {"mode", "F"},
                                              {"power_kw", 60}},
                                             {{"dialect", d.name},
                                              {d.field, t1},
                                              {"pile", "T1"},
                                              {"mode", "T"},
                                              {"power_kw", 10}}}}}
                                          .dump());
        probe = std::make_unique<Probe>(broker.uri(), "dialect-e2e-probe");
        vendor = std::make_unique<Probe>(broker.uri(), "dialect-e2e-vendor", d.vendor_root);
        scheduler = std::make_unique<Process>(
            std::vector<std::string>{harness::scheduler_binary(), "--broker", broker.uri(),
                                     "--profile", dir + "/profile.json"},
            dir + "/scheduler.log");
        gateway = std::make_unique<Process>(
            std::vector<std::string>{STATION_GATEWAY_BIN, "--broker", broker.uri(), "--dialects",
                                     dir + "/dialects.json", "--vendor-timeout-ms", "5000"},
            dir + "/gateway.log");
        REQUIRE(Probe::eventually(
            [&] { return gateway->log().find("vendor bridge: 2 devices") != std::string::npos; },
            10s));
        REQUIRE(Probe::eventually(
            [&] {
                contract::SchedulerRequest r;
                r.op = contract::RequestOp::State;
                return probe->request(r, 1s).ok;
            },
            15s));
        sim = std::make_unique<Process>(
            std::vector<std::string>{harness::pile_sim_binary(), "--broker", broker.uri(),
                                     "--profile", dir + "/profile.json", "--dialect", d.name,
                                     "--device", "F1=" + f1, "--device", "T1=" + t1,
                                     "--telemetry-hz", "5"},
            dir + "/sim.log");
    }

    std::optional<json> status(const std::string& pile, bool online, std::size_t from,
                               std::chrono::milliseconds t) {
        const auto m = probe->wait_for(
            [&](const Message& msg) {
                if (msg.topic != contract::pile_topic(pile, contract::PileChannel::Status)) {
                    return false;
                }
                const json j = json::parse(msg.payload, nullptr, false);
                return j.is_object() && j.value("online", !online) == online;
            },
            from, t);
        return m ? std::optional<json>(json::parse(m->payload)) : std::nullopt;
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

    // What the gateway wrote to the charger's enable topic, in order.
    std::vector<std::string> enables(const Dialect& d) {
        std::vector<std::string> out;
        for (const auto& m : vendor->messages()) {
            if (m.topic == d.enable_topic) {
                out.push_back(m.payload);
            }
        }
        return out;
    }
};

void charge_to_target_and_bill(const Dialect& d, const std::string& on, const std::string& off) {
    Stack s(d);
    REQUIRE(s.status("F1", true, 0, 15s));
    REQUIRE(s.status("T1", true, 0, 15s));
    // Held off while idle: the station decides who charges.
    REQUIRE(Probe::eventually([&] { return !s.enables(d).empty(); }, 5s));
    CHECK(s.enables(d).front() == off);

    contract::SchedulerRequest r;
    r.op = contract::RequestOp::Submit;
    r.car = "CAR-1";
    r.mode = station::Mode::Fast;
    r.kwh = 0.1;
    REQUIRE(s.probe->request(r, 5s).ok);
    const auto end = s.session_end("F1", 30s);
    INFO(s.gateway->log());
    REQUIRE(end);
    CHECK((*end)["type"] == "session_finished");
    // The charger's meter at the disable: the target, within its resolution (0.5 Wh).
    CHECK((*end)["energy_kwh"].get<double>() >= 0.0995);
    CHECK((*end)["energy_kwh"].get<double>() < 0.13);
    const auto bill = s.bill_of("CAR-1", 20s);
    REQUIRE(bill);
    CHECK((*bill)["pile"] == "F1");
    CHECK((*bill)["kwh"].get<double>() == Approx(0.1));
    CHECK((*bill)["reason"] == "completed");
    // Enabled for the session, then disabled at the target.
    const auto writes = s.enables(d);
    REQUIRE(writes.size() >= 3);
    CHECK(writes[writes.size() - 2] == on);
    CHECK(writes.back() == off);
    CHECK(s.gateway->log().find("reached 0.100000 kWh: stopping the charger") != std::string::npos);
    CHECK(s.gateway->log().find("failed") == std::string::npos);
    CHECK(s.gateway->log().find("dropped") == std::string::npos);

    // The charger vanishes: the broker publishes its last will, the pile goes offline.
    const auto from = s.probe->mark();
    s.sim->kill_hard();
    const auto gone = s.status("F1", false, from, 15s);
    REQUIRE(gone);
    CHECK(s.gateway->running());
    CHECK(s.gateway->log().find(d.name + " " + (d.name == "go-e" ? "000001" : "ab01") +
                                " (pile F1) is offline") != std::string::npos);
}

}  // namespace

TEST_CASE(
    "go-e: a car is charged on a go-e charger to its target and billed - its last will "
    "takes the pile offline") {
    charge_to_target_and_bill(kGoe, "2", "1");
}

TEST_CASE(
    "OpenEVSE: a car is charged on an OpenEVSE charger to its target and billed - its "
    "last will takes the pile offline") {
    charge_to_target_and_bill(kOpenEvse, R"({"state":"active"})", R"({"state":"disabled"})");
}
