// Integration tests of the scheduler service and the pile simulator against a real
// mosquitto (issue #3): each test starts its own broker on a free loopback port and the
// real station-scheduler and station-pile-sim processes, and watches the bus.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "bus/mqtt_client.hpp"
#include "contract/topics.hpp"
#include "harness.hpp"
#include "station/time.hpp"

using harness::Broker;
using harness::Message;
using harness::Probe;
using harness::Process;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char* kStart = "2026-11-25 06:00:00";

// A batch of the change log with a bill in it, and that bill.
bool has_bill(const Message& m) {
    if (m.topic != contract::station_changes_topic()) {
        return false;
    }
    const json b = json::parse(m.payload, nullptr, false);
    return b.is_object() && b.contains("bills") && !b["bills"].empty();
}
json first_bill(const Message& m) {
    return json::parse(m.payload)["bills"][0];
}

// A station of one fast (30 kW) and two slow (10 kW) piles, stepped by hand.
struct Station {
    explicit Station(Broker& b, const std::string& piles = "F1,T1,T2")
        : dir(harness::temp_dir()),
          profile(write_profile(dir)),
          scheduler({harness::scheduler_binary(), "--broker", b.uri(), "--profile", profile,
                     "--sim-start", kStart, "--sim-speed", "0", "--state-interval-ms", "50",
                     "--offline-grace-ms", "3000"},
                    dir + "/scheduler.log"),
          sim({harness::pile_sim_binary(), "--broker", b.uri(), "--profile", profile, "--piles",
               piles, "--telemetry-hz", "10"},
              dir + "/pile-sim.log"),
          probe(b.uri(), "probe") {}

    static std::string write_profile(const std::string& dir) {
        const std::string path = dir + "/profile.json";
        std::ofstream(path) << R"({"name": "bus-test", "waiting_area": 5, "queue_length": 2,
            "piles": [{"id": "F1", "mode": "F", "power": 30},
                      {"id": "T1", "mode": "T", "power": 10},
                      {"id": "T2", "mode": "T", "power": 10}]})";
        return path;
    }

    // The station state, or null if the scheduler did not answer (yet).
    json state() {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::State;
        const auto reply = probe.request(r, 2s);
        return reply.ok ? reply.data : json();
    }
    json pile(const std::string& id) {
        const json s = state();
        if (s.is_object()) {
            for (const auto& p : s["piles"]) {
                if (p["id"] == id) {
                    return p;
                }
            }
        }
        return json::object();
    }
    bool pile_is(const std::string& id, const std::string& st) {
        const json p = pile(id);
        return p.contains("state") && p["state"] == st;
    }
    contract::SchedulerReply submit(const std::string& car, station::Mode mode, double kwh) {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::Submit;
        r.car = car;
        r.mode = mode;
        r.kwh = kwh;
        return probe.request(r);
    }
    contract::SchedulerReply advance(std::int64_t seconds) {
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::ClockAdvance;
        r.advance_seconds = seconds;
        return probe.request(r);
    }
    void wait_online(const std::vector<std::string>& piles) {
        for (const auto& p : piles) {
            INFO("pile " << p << " online; scheduler log:\n" << scheduler.log());
            REQUIRE(
                Probe::eventually([&] { return pile_is(p, "REST") || pile_is(p, "WORK"); }, 10s));
        }
    }
    std::string logs() { return "scheduler:\n" + scheduler.log() + "\npile-sim:\n" + sim.log(); }

    std::string dir;
    std::string profile;
    Process scheduler;
    Process sim;
    Probe probe;
};

bool on(const Message& m, contract::PileChannel c, const std::string& pile) {
    return m.topic == contract::pile_topic(pile, c);
}

// The TCP_NODELAY setting of every socket of this process connected to `port`.
std::vector<int> nodelay_of_sockets_to(int port) {
    std::vector<int> settings;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        const int fd = std::atoi(entry.path().filename().c_str());
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        if (fd <= 2 || getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 ||
            peer.sin_family != AF_INET || ntohs(peer.sin_port) != port) {
            continue;
        }
        int on = 0;
        socklen_t size = sizeof on;
        getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &size);
        settings.push_back(on);
    }
    return settings;
}

}  // namespace

TEST_CASE("bus: a client's socket to the broker has TCP_NODELAY (no delayed-ACK stalls)", "[bus]") {
    Broker broker;
    Probe probe(broker.uri(), "probe-nodelay");
    CHECK(Probe::eventually([&] {
        const auto settings = nodelay_of_sockets_to(broker.port());
        return settings.size() == 1 && settings[0] != 0;
    }));
}

TEST_CASE("bus: a broker list is split at its commas", "[bus]") {
    CHECK(bus::split_uris("tcp://a:1") == std::vector<std::string>{"tcp://a:1"});
    CHECK(bus::split_uris(" tcp://a:1, tcp://b:2 ,,tcp://c:3,") ==
          std::vector<std::string>{"tcp://a:1", "tcp://b:2", "tcp://c:3"});
    CHECK(bus::split_uris(" , ").empty());
}

TEST_CASE("bus: a client given several brokers goes on at the next when its broker dies", "[bus]") {
    Broker first;
    Broker second;
    std::mutex mutex;
    std::vector<std::string> got;
    bus::ClientOptions options;
    options.uri = first.uri() + "," + second.uri();
    options.client_id = "failover-probe";
    options.subscriptions = {{"evcs/v1/failover", 1}};
    bus::MqttClient client(options, [&](bus::Received m) {
        std::lock_guard lock(mutex);
        got.emplace_back(m.payload);
    });
    client.start();
    REQUIRE(client.wait_connected(5s));
    const auto received = [&](const std::string& payload) {
        std::lock_guard lock(mutex);
        return std::find(got.begin(), got.end(), payload) != got.end();
    };
    Probe at_first(first.uri(), "failover-first");
    CHECK(Probe::eventually([&] {
        at_first.publish("evcs/v1/failover", "one");
        return received("one");
    }));

    first.kill_hard();
    Probe at_second(second.uri(), "failover-second");
    CHECK(Probe::eventually(
        [&] {
            at_second.publish("evcs/v1/failover", "two");
            return received("two");
        },
        15s));
    client.begin_stop(std::nullopt);
    client.finish_stop(1000ms);
}

TEST_CASE("bus: a pile's last will marks it offline and the scheduler stops using it", "[bus]") {
    Broker broker;
    Station st(broker);
    st.wait_online({"F1", "T1", "T2"});
    const auto from = st.probe.mark();
    st.sim.kill_hard();  // no clean disconnect: the broker publishes each pile's last will
    const auto will = st.probe.wait_for(
        [](const Message& m) {
            return on(m, contract::PileChannel::Status, "T1") &&
                   json::parse(m.payload)["online"] == false;
        },
        from, 10s);
    INFO(st.logs());
    REQUIRE(will);
    REQUIRE(Probe::eventually([&] { return st.pile_is("T1", "FAULT"); }, 10s));
    // A request now waits: no slow pile is online.
    const auto r = st.submit("A", station::Mode::Slow, 10);
    REQUIRE(r.ok);
    REQUIRE(r.order);
    CHECK(r.order->status == contract::OrderStatus::Waiting);
    // The piles come back (a new simulator): the car is dispatched.
    Process sim2({harness::pile_sim_binary(), "--broker", broker.uri(), "--profile", st.profile},
                 st.dir + "/pile-sim2.log");
    // Whichever slow pile says it is online first takes it.
    REQUIRE(Probe::eventually([&] { return st.pile_is("T1", "WORK") || st.pile_is("T2", "WORK"); },
                              10s));
}

TEST_CASE("bus: a session from start to finish with its bill", "[bus]") {
    Broker broker;
    Station st(broker);
    st.wait_online({"F1", "T1", "T2"});
    const auto from = st.probe.mark();
    const auto r = st.submit("A", station::Mode::Slow, 10);
    INFO(st.logs());
    REQUIRE(r.ok);
    REQUIRE(r.order);
    CHECK(r.order->number == "T1");
    CHECK(r.order->pile == "T1");
    // The pile is told to start and says it started.
    const auto start = st.probe.wait_for(
        [](const Message& m) { return on(m, contract::PileChannel::Commands, "T1"); }, from);
    REQUIRE(start);
    contract::PileCommand cmd;
    REQUIRE(contract::parse(start->payload, cmd).empty());
    CHECK(cmd.type == contract::CommandType::Start);
    CHECK(cmd.target_kwh == 10);
    REQUIRE(st.probe.wait_for(
        [](const Message& m) {
            return on(m, contract::PileChannel::Events, "T1") &&
                   m.payload.find("session_started") != std::string::npos;
        },
        from));
    // One hour at 10 kW: the session finishes with its bill (06:00-07:00, valley price).
    REQUIRE(st.advance(3600).ok);
    const auto bill = st.probe.wait_for([](const Message& m) { return has_bill(m); }, from);
    REQUIRE(bill);
    const json b = first_bill(*bill);
    CHECK(b["car"] == "A");
    CHECK(b["pile"] == "T1");
    CHECK(b["kwh"].get<double>() == Approx(10));
    CHECK(b["charge_fee"].get<double>() == Approx(4));
    CHECK(b["service_fee"].get<double>() == Approx(8));
    CHECK(station::format_datetime(b["stop_ms"].get<std::int64_t>()) == "2026-11-25 07:00:00");
    // The pile's meter says the same.
    const auto finished = st.probe.wait_for(
        [](const Message& m) {
            return on(m, contract::PileChannel::Events, "T1") &&
                   m.payload.find("session_finished") != std::string::npos;
        },
        from);
    REQUIRE(finished);
    contract::PileEvent e;
    REQUIRE(contract::parse(finished->payload, e).empty());
    CHECK(e.energy_kwh == Approx(10));
    CHECK(e.at_ms == *station::parse_datetime("2026-11-25 07:00:00"));
    CHECK(st.pile("T1")["totals"]["kwh"].get<double>() == Approx(10));
}

TEST_CASE("bus: a pile fault re-dispatches its cars", "[bus]") {
    Broker broker;
    Station st(broker);
    st.wait_online({"F1", "T1", "T2"});
    REQUIRE(st.submit("A", station::Mode::Slow, 20).ok);  // T1
    REQUIRE(st.advance(1800).ok);                         // 5 kWh delivered
    const auto from = st.probe.mark();
    // The pile is told to fault, as a technician's test button would.
    contract::PileCommand inject;
    inject.id = "test-fault-1";
    inject.type = contract::CommandType::InjectFault;
    st.probe.publish(contract::pile_topic("T1", contract::PileChannel::Commands),
                     contract::to_json(inject));
    INFO(st.logs());
    REQUIRE(st.probe.wait_for(
        [](const Message& m) {
            return on(m, contract::PileChannel::Events, "T1") &&
                   m.payload.find("fault_raised") != std::string::npos;
        },
        from));
    // The scheduler stops the session with a bill and sends the car to T2 at once.
    const auto restart = st.probe.wait_for(
        [](const Message& m) { return on(m, contract::PileChannel::Commands, "T2"); }, from);
    REQUIRE(restart);
    contract::PileCommand cmd;
    REQUIRE(contract::parse(restart->payload, cmd).empty());
    CHECK(cmd.type == contract::CommandType::Start);
    CHECK(cmd.target_kwh == Approx(15));
    const auto bill = st.probe.wait_for([](const Message& m) { return has_bill(m); }, from);
    REQUIRE(bill);
    CHECK(first_bill(*bill)["kwh"].get<double>() == Approx(5));
    CHECK(first_bill(*bill)["reason"] == "fault");
    CHECK(st.pile_is("T1", "FAULT"));
    CHECK(st.pile("T2")["queue"][0]["car"] == "A");
    // The pile recovers: it says so and the scheduler takes it back.
    contract::PileCommand clear;
    clear.id = "test-fault-2";
    clear.type = contract::CommandType::ClearFault;
    st.probe.publish(contract::pile_topic("T1", contract::PileChannel::Commands),
                     contract::to_json(clear));
    REQUIRE(Probe::eventually([&] { return st.pile_is("T1", "REST"); }));
}

TEST_CASE("bus: a broker restart mid-session loses nothing", "[bus]") {
    Broker broker;
    Station st(broker);
    st.wait_online({"F1", "T1", "T2"});
    REQUIRE(st.submit("A", station::Mode::Slow, 20).ok);  // 2 h on T1
    REQUIRE(st.advance(1800).ok);
    broker.restart();  // every client loses the broker; all reconnect by themselves
    INFO(st.logs());
    // The probe reconnects too; requests go through again once the scheduler is back.
    REQUIRE(Probe::eventually(
        [&] {
            contract::SchedulerRequest r;
            r.op = contract::RequestOp::ClockGet;
            return st.probe.request(r, 1s).ok;
        },
        20s));
    const json a = st.pile("T1")["queue"][0];
    CHECK(a["car"] == "A");
    CHECK(a["state"] == "CHARGING");
    CHECK(a["charged_kwh"].get<double>() == Approx(5));
    const auto from = st.probe.mark();
    REQUIRE(st.advance(5400).ok);  // the remaining 1.5 h
    const auto bill = st.probe.wait_for([](const Message& m) { return has_bill(m); }, from, 20s);
    REQUIRE(bill);
    const json b = first_bill(*bill);
    CHECK(b["kwh"].get<double>() == Approx(20));  // one session, uninterrupted
    CHECK(station::format_datetime(b["start_ms"].get<std::int64_t>()) == "2026-11-25 06:00:00");
    CHECK(station::format_datetime(b["stop_ms"].get<std::int64_t>()) == "2026-11-25 08:00:00");
    // The pile kept the session through the outage and finished it by its own meter.
    const auto finished = st.probe.wait_for(
        [](const Message& m) {
            return on(m, contract::PileChannel::Events, "T1") &&
                   m.payload.find("session_finished") != std::string::npos;
        },
        from, 20s);
    REQUIRE(finished);
    CHECK(json::parse(finished->payload)["energy_kwh"].get<double>() == Approx(20));
    // Retained state came back from the broker's persistence.
    Probe late(broker.uri(), "late-monitor");
    REQUIRE(late.wait_for(
        [](const Message& m) { return m.topic == contract::station_state_topic(); }, 0));
}

TEST_CASE("bus: bad payloads on every topic are dropped and change nothing", "[bus]") {
    Broker broker;
    Station st(broker);
    st.wait_online({"F1", "T1", "T2"});
    REQUIRE(st.submit("A", station::Mode::Slow, 20).ok);
    const json before = st.state();
    const std::vector<std::string> junk = {
        "",
        "not json",
        "[1,2,3]",
        "{}",
        "{\"pile\":\"T1\"}",
        "\x01\x02\xff\xfe",
        R"({"pile":"T1","online":"yes"})",
        R"({"pile":"T1","type":"fault_raised","at_ms":"soon","boot":"x","seq":1})",
        R"({"pile":"T2","type":"fault_raised","at_ms":0,"boot":"x","seq":1})",  // pile differs from
                                                                                // topic
        R"({"pile":"T1","session":"s","order":0,"energy_kwh":-5,"power_kw":10,"at_ms":0,"boot":"x","seq":1})",
        R"({"id":"x","reply_to":"evcs/v1/piles/T1/commands","op":"submit","car":"Z","mode":"T","kwh":5})",
        R"({"id":"x","reply_to":"evcs/v1/replies/probe","op":"submit","car":"Z","mode":"X","kwh":5})",
        R"({"id":"x","reply_to":"evcs/v1/replies/probe","op":"submit","car":"Z","mode":"T","kwh":-5})",
        R"({"id":"x","reply_to":"evcs/v1/replies/probe","op":"explode"})",
        std::string(70000, '{'),
    };
    std::vector<std::string> topics;
    for (const char* pile : {"T1", "X9"}) {
        for (auto c : {contract::PileChannel::Status, contract::PileChannel::Telemetry,
                       contract::PileChannel::Events, contract::PileChannel::Acks}) {
            topics.push_back(contract::pile_topic(pile, c));
        }
    }
    topics.push_back(contract::scheduler_requests_topic());
    topics.push_back(std::string(contract::kRoot) + "/piles/T1/nonsense");
    for (const auto& t : topics) {
        for (const auto& j : junk) {
            st.probe.publish(t, j);
        }
    }
    // A junk request that names a valid reply topic gets an answer saying why.
    REQUIRE(st.probe.wait_for(
        [](const Message& m) {
            return m.topic == contract::replies_topic("probe") &&
                   m.payload.find("bad_request") != std::string::npos;
        },
        0));
    INFO(st.logs());
    REQUIRE(st.scheduler.running());
    json after = st.state();
    after["revision"] = before["revision"];
    CHECK(after == before);
    CHECK(st.scheduler.log().find("dropped a message") != std::string::npos);
}

TEST_CASE("bus: replayed messages and repeated requests act once", "[bus]") {
    Broker broker;
    Station st(broker);
    st.wait_online({"F1", "T1", "T2"});
    // A repeated request id is answered again but applied once.
    contract::SchedulerRequest req;
    req.id = "fixed-id";
    req.reply_to = contract::replies_topic("probe");
    req.op = contract::RequestOp::Submit;
    req.car = "A";
    req.mode = station::Mode::Slow;
    req.kwh = 5;
    const auto from = st.probe.mark();
    st.probe.publish(contract::scheduler_requests_topic(), contract::to_json(req));
    st.probe.publish(contract::scheduler_requests_topic(), contract::to_json(req));
    std::size_t replies = 0;
    REQUIRE(Probe::eventually([&] {
        replies = 0;
        for (const auto& m : st.probe.messages()) {
            replies += m.topic == req.reply_to && m.payload.find("fixed-id") != std::string::npos;
        }
        return replies == 2;
    }));
    for (const auto& m : st.probe.messages()) {
        if (m.topic == req.reply_to && m.payload.find("fixed-id") != std::string::npos) {
            CHECK(json::parse(m.payload)["ok"] == true);  // the same reply twice
        }
    }
    (void)from;
    CHECK(st.state()["waiting"].empty());
    CHECK(st.pile("T1")["queue"].size() == 1);
    // A pile event replayed with the same boot and sequence number is dropped: the fault
    // below is taken once, the recovery after it is not undone by the replayed fault.
    contract::PileEvent fault;
    fault.pile = "T2";
    fault.type = contract::PileEventType::FaultRaised;
    fault.origin = {"replay-test", 1};
    contract::PileEvent cleared = fault;
    cleared.type = contract::PileEventType::FaultCleared;
    cleared.origin = {"replay-test", 2};
    const auto t2 = contract::pile_topic("T2", contract::PileChannel::Events);
    st.probe.publish(t2, contract::to_json(fault));
    st.probe.publish(t2, contract::to_json(cleared));
    st.probe.publish(t2, contract::to_json(fault));  // replayed
    REQUIRE(Probe::eventually([&] {
        return st.scheduler.log().find("replayed or duplicated event") != std::string::npos;
    }));
    INFO(st.logs());
    CHECK(st.pile_is("T2", "REST"));
}
