// The vendor MQTT dialects (go-e, OpenEVSE): decoding with units normalised, the dialects
// file, the session meter, and the bridge driven deterministically: vendor messages in,
// station publications and vendor commands out, time passed in (no broker, no sleeps).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "contract/topics.hpp"
#include "gateway/dialect_goe.hpp"
#include "gateway/dialect_openevse.hpp"
#include "gateway/metered_session.hpp"
#include "gateway/vendor_bridge.hpp"
#include "gateway/vendor_devices.hpp"

using namespace gateway;
using nlohmann::json;

namespace {

const char* kDevices = R"({"devices": [
    {"dialect": "go-e", "serial": "000042", "pile": "F1", "mode": "F", "power_kw": 22},
    {"dialect": "openevse", "id": "55ad", "pile": "T1", "mode": "T", "power_kw": 7.2}]})";

constexpr std::int64_t kWall0 = 1'800'000'000'000;
const std::string kGoe = "go-eCharger/000042/";
const std::string kEvse = "openevse-55ad/";

VendorDevice goe_device() {
    return parse_vendor_devices(kDevices).devices->devices[0];
}

VendorDevice evse_device() {
    return parse_vendor_devices(kDevices).devices->devices[1];
}

struct Rig {
    VendorBridge bridge;
    std::int64_t wall = kWall0;
    BridgeOutput out;

    explicit Rig(BridgeOptions o = {}) : bridge(*parse_vendor_devices(kDevices).devices, o) {}

    Now now() const { return Now{wall + 8 * 3'600'000, wall}; }
    void collect() {
        BridgeOutput o = bridge.take_output();
        out.station.insert(out.station.end(), o.station.begin(), o.station.end());
        out.vendor.insert(out.vendor.end(), o.vendor.begin(), o.vendor.end());
        out.log.insert(out.log.end(), o.log.begin(), o.log.end());
        out.acked.insert(out.acked.end(), o.acked.begin(), o.acked.end());
    }
    void clear() {
        collect();
        out = BridgeOutput{};
    }
    void vendor(const std::string& topic, const std::string& payload) {
        bridge.on_vendor_message(topic, payload, now());
        collect();
    }
    void command(const std::string& pile, contract::CommandType type, const std::string& id,
                 const std::string& session = "", double target = 0,
                 contract::ResetKind reset = contract::ResetKind::Soft) {
        contract::PileCommand c;
        c.id = id;
        c.type = type;
        c.session = session;
        c.order = 7;
        c.target_kwh = target;
        c.reset = reset;
        bridge.on_command(pile, c, now());
        collect();
    }
    void tick(std::int64_t advance_ms) {
        wall += advance_ms;
        bridge.tick(now());
        collect();
    }
    std::vector<json> station(const std::string& pile, contract::PileChannel ch) const {
        std::vector<json> v;
        for (const auto& p : out.station) {
            if (p.topic == contract::pile_topic(pile, ch)) {
                v.push_back(json::parse(p.payload));
            }
        }
        return v;
    }
    std::vector<std::string> sent(const std::string& topic) const {
        std::vector<std::string> v;
        for (const auto& p : out.vendor) {
            if (p.topic == topic) {
                v.push_back(p.payload);
            }
        }
        return v;
    }
    bool logged(const std::string& text) const {
        for (const auto& l : out.log) {
            if (l.text.find(text) != std::string::npos) {
                return true;
            }
        }
        return false;
    }
    // go-e online and held off, answered: ready for commands.
    void goe_online() {
        vendor(kGoe + "wh", "0");
        vendor(kGoe + "mcc", "true");
        vendor(kGoe + "frc/result", "success");
    }
    // go-e online, charging session s1 (1 kWh) with `wh` metered so far; output cleared.
    void goe_charging(const std::string& wh) {
        goe_online();
        command("F1", contract::CommandType::Start, "c1", "s1", 1);
        vendor(kGoe + "frc/result", "success");
        vendor(kGoe + "wh", wh);
        clear();
    }
};

}  // namespace

TEST_CASE("go-e: api keys decode into the pile model with units normalised") {
    auto d = goe::decode("mcc", "true");
    REQUIRE(d.update);
    CHECK(d.update->online == true);
    CHECK(goe::decode("mcc", "false").update->online == false);
    CHECK(goe::decode("car", "1").update->activity == ChargerActivity::NoCar);
    CHECK(goe::decode("car", "2").update->activity == ChargerActivity::Charging);
    CHECK(goe::decode("car", "3").update->activity == ChargerActivity::Waiting);
    CHECK(goe::decode("car", "4").update->activity == ChargerActivity::Complete);
    d = goe::decode("car", "5");
    CHECK(d.update->activity == ChargerActivity::Fault);
    CHECK(d.update->fault == "car state 5 (error)");
    CHECK(goe::decode("car", "null").update->activity == ChargerActivity::Fault);
    CHECK(goe::decode("err", "0").update->error_code == 0);
    CHECK(goe::decode("err", "13").update->error_code == 13);
    d = goe::decode("nrg", "[230,231,229,0,16,16,16,3680,3696,3664,0,11040,100,100,100,0]");
    CHECK(d.update->power_kw == Approx(11.04));
    CHECK(goe::decode("wh", "1234.5").update->session_kwh == Approx(1.2345));
    CHECK(goe::decode("eto", "987654").update->total_kwh == Approx(987.654));
    CHECK(goe::decode("frc", "2").update->enabled_echo == true);
    CHECK(goe::decode("frc", "1").update->enabled_echo == false);
    CHECK_FALSE(goe::decode("frc", "0").update->enabled_echo.has_value());
    d = goe::decode("frc/result", "success");
    REQUIRE(d.update->result);
    CHECK(d.update->result->ok);
    d = goe::decode("frc/result", "value must be 0..2");
    CHECK_FALSE(d.update->result->ok);
    CHECK(d.update->result->text == "value must be 0..2");
    // Keys the station does not use, and our own writes, are neither taken nor refused.
    for (const char* key : {"amp", "alw", "fwv", "frc/set", "amp/result"}) {
        d = goe::decode(key, "1");
        CHECK_FALSE(d.update);
        CHECK(d.error.empty());
    }
}

TEST_CASE("go-e: malformed values are refused with a reason, never thrown") {
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"mcc", "1"},
        {"mcc", "yes"},
        {"car", "\"2\""},
        {"car", "9"},
        {"car", "-1"},
        {"car", "2.5"},
        {"err", "null"},
        {"err", "\"x\""},
        {"nrg", "[1,2,3]"},
        {"nrg", "{}"},
        {"nrg", "[0,0,0,0,0,0,0,0,0,0,0,-5]"},
        {"wh", "-1"},
        {"wh", "\"12\""},
        {"wh", "1e999"},
        {"eto", "[]"},
        {"frc", "3"},
        {"wh", ""},
        {"car", "{"},
        {"wh", "\x01\xff"},
        {"wh", std::string(20000, '1')}};
    for (const auto& [key, payload] : bad) {
        INFO(key << " " << payload.substr(0, 40));
        const auto d = goe::decode(key, payload);
        CHECK_FALSE(d.update);
        CHECK_FALSE(d.error.empty());
    }
}

TEST_CASE("go-e: topics of the device, and the force state written to it") {
    const auto dev = goe_device();
    CHECK(goe::subscriptions(dev) == std::vector<std::string>{"go-eCharger/000042/#"});
    CHECK(goe::key_of(dev, "go-eCharger/000042/car") == "car");
    CHECK(goe::key_of(dev, "go-eCharger/000042/frc/result") == "frc/result");
    CHECK_FALSE(goe::key_of(dev, "go-eCharger/000043/car"));
    CHECK_FALSE(goe::key_of(dev, "go-eCharger/000042/"));
    auto p = goe::enable(dev, true);
    CHECK(p.topic == "go-eCharger/000042/frc/set");
    CHECK(p.payload == "2");
    CHECK_FALSE(p.retain);
    CHECK(goe::enable(dev, false).payload == "1");
    p = goe::reboot(dev);
    CHECK(p.topic == "go-eCharger/000042/rst/set");
    CHECK_FALSE(p.retain);
    CHECK(goe::decode("rst/result", "success").update->result->ok);
}

TEST_CASE("OpenEVSE: values decode into the pile model with units normalised") {
    CHECK(openevse::decode("announce", R"({"state":"connected","id":"c44f330dxxad"})")
              .update->online == true);
    CHECK(openevse::decode("announce", R"({"state":"disconnected"})").update->online == false);
    CHECK(openevse::decode("state", "1").update->activity == ChargerActivity::NoCar);
    CHECK(openevse::decode("state", "2").update->activity == ChargerActivity::Waiting);
    CHECK(openevse::decode("state", "3").update->activity == ChargerActivity::Charging);
    auto d = openevse::decode("state", "6");
    CHECK(d.update->activity == ChargerActivity::Fault);
    CHECK(d.update->fault == "state 6 (GFCI fault)");
    CHECK(openevse::decode("state", "11").update->fault == "state 11 (over current)");
    CHECK(openevse::decode("state", "254").update->activity == ChargerActivity::Disabled);
    CHECK(openevse::decode("state", "255").update->activity == ChargerActivity::Disabled);
    CHECK_FALSE(openevse::decode("state", "0").update);
    CHECK(openevse::decode("amp", "32000").update->current_a == Approx(32));
    CHECK(openevse::decode("voltage", "240").update->voltage_v == Approx(240));
    CHECK(openevse::decode("power", "7680").update->power_kw == Approx(7.68));
    CHECK(openevse::decode("session_energy", "1500").update->session_kwh == Approx(1.5));
    CHECK(openevse::decode("total_energy", "1234.5").update->total_kwh == Approx(1234.5));
    CHECK(openevse::decode("claim", R"({"state":"active"})").update->enabled_echo == true);
    CHECK(openevse::decode("claim/", R"({"state":"disabled"})").update->enabled_echo == false);
    CHECK_FALSE(openevse::decode("claim", R"({"state":"null"})").update->enabled_echo);
    for (const char* key : {"temp", "pilot", "claim/set", "vehicle", "override"}) {
        d = openevse::decode(key, "1");
        CHECK_FALSE(d.update);
        CHECK(d.error.empty());
    }
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"announce", "{}"},      {"announce", R"({"state":"maybe"})"},
        {"state", "12"},         {"state", "\"3\""},
        {"amp", "-1"},           {"voltage", "null"},
        {"session_energy", "x"}, {"total_energy", "-0.5"},
        {"claim", "[]"},         {"claim", "{\"state\":1}"}};
    for (const auto& [key, payload] : bad) {
        INFO(key << " " << payload);
        d = openevse::decode(key, payload);
        CHECK_FALSE(d.update);
        CHECK_FALSE(d.error.empty());
    }
}

TEST_CASE("OpenEVSE: topics of the device, and the claim written to it") {
    const auto dev = evse_device();
    CHECK(dev.topic_base == "openevse-55ad");
    CHECK(openevse::subscriptions(dev) ==
          std::vector<std::string>{"openevse/announce/55ad", "openevse-55ad/#"});
    CHECK(openevse::key_of(dev, "openevse/announce/55ad") == "announce");
    CHECK(openevse::key_of(dev, "openevse-55ad/session_energy") == "session_energy");
    CHECK_FALSE(openevse::key_of(dev, "openevse/announce/55ae"));
    CHECK_FALSE(openevse::key_of(dev, "openevse-55ae/state"));
    auto p = openevse::enable(dev, true);
    CHECK(p.topic == "openevse-55ad/claim/set");
    CHECK(json::parse(p.payload) == json{{"state", "active"}});
    CHECK(json::parse(openevse::enable(dev, false).payload) == json{{"state", "disabled"}});
    p = openevse::restart(dev, false);
    CHECK(p.topic == "openevse-55ad/restart");
    CHECK(json::parse(p.payload) == json{{"device", "gateway"}});
    CHECK(json::parse(openevse::restart(dev, true).payload) == json{{"device", "evse"}});
}

TEST_CASE("metered session: energy since the start, across a counter reset") {
    MeteredSession m(0.5);
    CHECK(m.update(0.5) == 0);
    CHECK(m.update(0.75) == Approx(0.25));
    CHECK(m.update(0.7498) == Approx(0.25));  // rounding, not a reset
    CHECK(m.update(0.1) == Approx(0.35));     // plugged in anew: counts from 0 again
    CHECK(m.update(0.2) == Approx(0.45));
    MeteredSession unknown(std::nullopt);
    CHECK(unknown.update(3.0) == 0);
    CHECK(unknown.update(3.01) == Approx(0.01));
}

TEST_CASE("dialects file: devices read and checked, the first problem named") {
    const auto ok = parse_vendor_devices(R"({"devices": [
        {"dialect": "go-e", "serial": "1", "pile": "F1", "mode": "F", "power_kw": 11,
         "topic_prefix": "home/goe/", "name": "garage"},
        {"dialect": "openevse", "id": "ab12", "pile": "T1", "mode": "T", "power_kw": 7,
         "base_topic": "emon/openevse-ab12"}]})");
    REQUIRE(ok.devices);
    CHECK(ok.devices->devices[0].topic_base == "home/goe/");
    CHECK(ok.devices->devices[0].pile.name == "garage");
    CHECK(ok.devices->devices[1].topic_base == "emon/openevse-ab12");
    CHECK(ok.devices->devices[1].pile.mode == station::Mode::Slow);
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"[]", "not a JSON object"},
        {R"({"devices": []})", "non-empty array"},
        {R"({"devices": [{"dialect": "tesla", "serial": "1", "pile": "F1", "mode": "F",
             "power_kw": 1}]})",
         "devices[0]: \"dialect\""},
        {R"({"devices": [{"dialect": "go-e", "pile": "F1", "mode": "F", "power_kw": 1}]})",
         "\"serial\""},
        {R"({"devices": [{"dialect": "openevse", "id": "a/b", "pile": "F1", "mode": "F",
             "power_kw": 1}]})",
         "\"id\""},
        {R"({"devices": [{"dialect": "go-e", "serial": "1", "pile": "F 1", "mode": "F",
             "power_kw": 1}]})",
         "\"pile\""},
        {R"({"devices": [{"dialect": "go-e", "serial": "1", "pile": "F1", "mode": "X",
             "power_kw": 1}]})",
         "\"mode\""},
        {R"({"devices": [{"dialect": "go-e", "serial": "1", "pile": "F1", "mode": "F",
             "power_kw": 22000}]})",
         "\"power_kw\""},
        {R"({"devices": [{"dialect": "go-e", "serial": "1", "pile": "F1", "mode": "F",
             "power_kw": 1, "topic_prefix": "go-e/#/"}]})",
         "\"topic_prefix\""},
        {R"({"devices": [{"dialect": "openevse", "id": "1", "pile": "F1", "mode": "F",
             "power_kw": 1, "base_topic": "openevse-1/"}]})",
         "\"base_topic\""},
        {R"({"devices": [{"dialect": "go-e", "serial": "1", "pile": "F1", "mode": "F",
             "power_kw": 1}, {"dialect": "go-e", "serial": "2", "pile": "F1", "mode": "F",
             "power_kw": 1}]})",
         "devices[1] (go-e 2): pile \"F1\" is used twice"},
        {R"({"devices": [{"dialect": "go-e", "serial": "1", "pile": "F1", "mode": "F",
             "power_kw": 1}, {"dialect": "go-e", "serial": "1", "pile": "F2", "mode": "F",
             "power_kw": 1}]})",
         "devices[1] (go-e 1): the device is listed twice"}};
    for (const auto& [text, error] : bad) {
        const auto r = parse_vendor_devices(text);
        INFO(text << " -> " << r.error);
        CHECK_FALSE(r.devices);
        CHECK(r.error.find(error) != std::string::npos);
    }
}

TEST_CASE("bridge, go-e: online, held off, a session charged to its target and finished") {
    Rig r;
    CHECK(r.bridge.vendor_subscriptions() == std::vector<std::string>{"go-eCharger/000042/#",
                                                                      "openevse/announce/55ad",
                                                                      "openevse-55ad/#"});
    r.vendor(kGoe + "wh", "0");
    CHECK_FALSE(r.bridge.view("F1")->online);
    CHECK(r.station("F1", contract::PileChannel::Status).back()["online"] == false);
    r.clear();
    r.vendor(kGoe + "mcc", "true");
    auto status = r.station("F1", contract::PileChannel::Status);
    REQUIRE(status.size() == 1);
    CHECK(status[0]["online"] == true);
    CHECK(status[0]["state"] == "REST");
    // An idle charger is held off: the station decides who charges.
    CHECK(r.sent(kGoe + "frc/set") == std::vector<std::string>{"1"});
    r.vendor(kGoe + "frc/result", "success");
    r.clear();

    r.command("F1", contract::CommandType::Start, "c1", "s1", 0.1);
    CHECK(r.sent(kGoe + "frc/set") == std::vector<std::string>{"2"});
    CHECK(r.station("F1", contract::PileChannel::Acks).empty());  // waits for the result
    CHECK(r.bridge.view("F1")->state == station::PileState::Work);
    r.vendor(kGoe + "frc/result", "success");
    auto acks = r.station("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0]["ok"] == true);
    auto events = r.station("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "session_started");
    CHECK(events[0]["session"] == "s1");
    r.clear();

    r.vendor(kGoe + "car", "2");
    r.vendor(kGoe + "nrg", "[230,230,230,0,32,32,32,7360,7360,7360,0,22080,1,1,1,0]");
    r.vendor(kGoe + "wh", "60.5");
    auto tel = r.station("F1", contract::PileChannel::Telemetry);
    REQUIRE(tel.size() == 1);
    CHECK(tel[0]["energy_kwh"].get<double>() == Approx(0.0605));
    CHECK(tel[0]["power_kw"].get<double>() == Approx(22.08));
    CHECK(tel[0]["session"] == "s1");
    CHECK(r.sent(kGoe + "frc/set").empty());
    r.vendor(kGoe + "wh", "100.2");
    CHECK(r.sent(kGoe + "frc/set") == std::vector<std::string>{"1"});
    CHECK(r.logged("reached 0.100000 kWh: stopping the charger"));
    r.vendor(kGoe + "wh", "101.0");  // delivered while the stop was on its way
    CHECK(r.station("F1", contract::PileChannel::Events).empty());
    r.vendor(kGoe + "frc/result", "success");
    events = r.station("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "session_finished");
    CHECK(events[0]["energy_kwh"].get<double>() == Approx(0.101));
    CHECK(events[0]["order"] == 7);
    status = r.station("F1", contract::PileChannel::Status);
    REQUIRE_FALSE(status.empty());
    CHECK(status.back()["state"] == "REST");
    CHECK(status.back()["session"] == "");
}

TEST_CASE("bridge, go-e: the session counts from the start, not from plug-in") {
    Rig r;
    r.goe_online();
    r.vendor(kGoe + "wh", "500");  // energy of an earlier session on the same plug-in
    r.command("F1", contract::CommandType::Start, "c1", "s1", 0.2);
    r.vendor(kGoe + "frc/result", "success");
    r.clear();
    r.vendor(kGoe + "wh", "650");
    auto tel = r.station("F1", contract::PileChannel::Telemetry);
    REQUIRE(tel.size() == 1);
    CHECK(tel[0]["energy_kwh"].get<double>() == Approx(0.15));
}

TEST_CASE("bridge, go-e: a start unanswered fails after the timeout - a late answer is ignored") {
    BridgeOptions o;
    o.command_timeout_ms = 5000;
    Rig r(o);
    r.goe_online();
    r.clear();
    r.command("F1", contract::CommandType::Start, "c1", "s1", 1);
    CHECK(r.bridge.next_due() == kWall0 + 5000);
    r.tick(4999);
    CHECK(r.station("F1", contract::PileChannel::Acks).empty());
    r.tick(1);
    auto acks = r.station("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0]["ok"] == false);
    CHECK(acks[0]["reason"] == "no answer within 5000 ms");
    CHECK(r.bridge.view("F1")->session.empty());
    CHECK(r.station("F1", contract::PileChannel::Events).empty());
    // It may have enabled all the same: it is told to stop.
    CHECK(r.sent(kGoe + "frc/set") == std::vector<std::string>{"2", "1"});
    r.vendor(kGoe + "frc/result", "success");  // the late answer to the start
    CHECK(r.logged("a late answer (success) ignored"));
    r.vendor(kGoe + "frc/result", "success");  // the answer to the stop
    CHECK_FALSE(r.bridge.next_due());
    // The same command id again: acknowledged again, not tried twice.
    r.clear();
    r.command("F1", contract::CommandType::Start, "c1", "s1", 1);
    CHECK(r.station("F1", contract::PileChannel::Acks).size() == 1);
    CHECK(r.out.vendor.empty());
}

TEST_CASE("bridge, go-e: a refused write fails the command with the charger's words") {
    Rig r;
    r.goe_online();
    r.clear();
    r.command("F1", contract::CommandType::Start, "c1", "s1", 1);
    r.vendor(kGoe + "frc/result", "mqtt writes are disabled");
    auto acks = r.station("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0]["ok"] == false);
    CHECK(acks[0]["reason"] == "the charger answered \"mqtt writes are disabled\"");
}

TEST_CASE("bridge, go-e: the last will takes the pile offline - commands are refused") {
    Rig r;
    r.goe_online();
    r.command("F1", contract::CommandType::Start, "c1", "s1", 1);
    r.vendor(kGoe + "frc/result", "success");
    r.clear();
    r.vendor(kGoe + "mcc", "false");
    auto status = r.station("F1", contract::PileChannel::Status);
    REQUIRE(status.size() == 1);
    CHECK(status[0]["online"] == false);
    CHECK(r.bridge.view("F1")->session == "s1");  // kept for the scheduler's grace
    r.command("F1", contract::CommandType::Stop, "c2", "s1");
    auto acks = r.station("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0]["ok"] == false);
    CHECK(acks[0]["reason"] == "go-e 000042 (pile F1) is offline");
    // A stop of a session the pile does not run is done, offline or not.
    r.command("F1", contract::CommandType::Stop, "c3", "s0");
    acks = r.station("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 2);
    CHECK(acks[1]["ok"] == true);
    // Back within the grace: the same session, still charging.
    r.clear();
    r.vendor(kGoe + "mcc", "true");
    status = r.station("F1", contract::PileChannel::Status);
    REQUIRE(status.size() == 1);
    CHECK(status[0]["session"] == "s1");
    CHECK(r.out.vendor.empty());  // not held off: it has a session
}

TEST_CASE("bridge, go-e: an error ends the session and faults the pile until it clears") {
    Rig r;
    r.goe_charging("300");
    r.vendor(kGoe + "err", "13");
    auto events = r.station("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 2);
    CHECK(events[0]["type"] == "session_interrupted");
    CHECK(events[0]["reason"] == "fault: err 13");
    CHECK(events[0]["energy_kwh"].get<double>() == Approx(0.3));
    CHECK(events[1]["type"] == "fault_raised");
    CHECK(events[1]["reason"] == "err 13");
    CHECK(r.station("F1", contract::PileChannel::Status).back()["state"] == "FAULT");
    CHECK(r.sent(kGoe + "frc/set") == std::vector<std::string>{"1"});
    r.vendor(kGoe + "frc/result", "success");
    r.command("F1", contract::CommandType::Start, "c2", "s2", 1);
    CHECK(r.station("F1", contract::PileChannel::Acks).back()["reason"] == "pile is faulty");
    r.clear();
    r.vendor(kGoe + "err", "0");
    events = r.station("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "fault_cleared");
    CHECK(r.station("F1", contract::PileChannel::Status).back()["state"] == "REST");
}

TEST_CASE("bridge, go-e: stop, switch off and on, and unplugging the car") {
    Rig r;
    r.goe_online();
    r.command("F1", contract::CommandType::Start, "c1", "s1", 1);
    r.vendor(kGoe + "frc/result", "success");
    r.vendor(kGoe + "wh", "200");
    r.clear();
    r.command("F1", contract::CommandType::Stop, "c2", "s1");
    CHECK(r.sent(kGoe + "frc/set") == std::vector<std::string>{"1"});
    r.vendor(kGoe + "frc/result", "success");
    auto events = r.station("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "session_interrupted");
    CHECK(events[0]["reason"] == "stopped");
    CHECK(events[0]["energy_kwh"].get<double>() == Approx(0.2));
    CHECK(r.station("F1", contract::PileChannel::Acks).back()["ok"] == true);

    r.clear();
    r.command("F1", contract::CommandType::SwitchOff, "c3");
    r.vendor(kGoe + "frc/result", "success");
    CHECK(r.station("F1", contract::PileChannel::Status).back()["state"] == "OFF");
    r.command("F1", contract::CommandType::Start, "c4", "s2", 1);
    CHECK(r.station("F1", contract::PileChannel::Acks).back()["reason"] == "pile is switched off");
    r.command("F1", contract::CommandType::SwitchOn, "c5");
    CHECK(r.station("F1", contract::PileChannel::Status).back()["state"] == "REST");
    r.command("F1", contract::CommandType::InjectFault, "c6");
    CHECK(r.station("F1", contract::PileChannel::Acks).back()["ok"] == false);

    r.command("F1", contract::CommandType::Start, "c7", "s3", 1);
    r.vendor(kGoe + "frc/result", "success");
    r.clear();
    r.vendor(kGoe + "car", "1");
    events = r.station("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "session_ended_at_pile");
    CHECK(events[0]["reason"] == "car unplugged");
    CHECK(r.sent(kGoe + "frc/set") == std::vector<std::string>{"1"});
}

TEST_CASE("bridge: malformed vendor messages are logged and dropped") {
    Rig r;
    r.goe_online();
    r.clear();
    r.vendor(kGoe + "car", "\"charging\"");
    r.vendor(kGoe + "wh", "{]");
    r.vendor(kEvse + "state", "300");
    r.vendor("openevse/announce/55ad", "null");
    r.vendor("elsewhere/topic", "1");
    CHECK(r.out.station.empty());
    CHECK(r.out.vendor.empty());
    CHECK(r.logged("go-e 000042 (pile F1): dropped car is not a car state 0..5: \"charging\""));
    CHECK(r.logged("openevse 55ad (pile T1): dropped state is not a known EVSE state: 300"));
    CHECK(r.out.log.size() == 4);
}

TEST_CASE("bridge, OpenEVSE: claim echo and state acknowledge, power is amps times volts") {
    Rig r;
    r.vendor(kEvse + "session_energy", "0");
    r.vendor("openevse/announce/55ad",
             R"({"state":"connected","id":"c44f330d55ad","name":"openevse-55ad"})");
    CHECK(r.station("T1", contract::PileChannel::Status).back()["online"] == true);
    REQUIRE(r.sent(kEvse + "claim/set").size() == 1);
    CHECK(json::parse(r.sent(kEvse + "claim/set")[0])["state"] == "disabled");
    r.vendor(kEvse + "state", "255");  // the state shows the claim took
    CHECK_FALSE(r.bridge.next_due());
    r.clear();

    r.command("T1", contract::CommandType::Start, "c1", "s1", 0.05);
    REQUIRE(r.sent(kEvse + "claim/set").size() == 1);
    CHECK(json::parse(r.sent(kEvse + "claim/set")[0])["state"] == "active");
    r.vendor(kEvse + "claim", R"({"state":"disabled"})");  // the old echo: not an answer
    CHECK(r.station("T1", contract::PileChannel::Acks).empty());
    r.vendor(kEvse + "claim", R"({"state":"active","charge_current":32})");
    CHECK(r.station("T1", contract::PileChannel::Acks).back()["ok"] == true);
    r.clear();
    r.vendor(kEvse + "state", "3");
    r.vendor(kEvse + "amp", "30000");
    r.vendor(kEvse + "voltage", "240");
    r.vendor(kEvse + "total_energy", "1234.5");
    r.vendor(kEvse + "session_energy", "30");
    auto tel = r.station("T1", contract::PileChannel::Telemetry);
    REQUIRE(tel.size() == 1);
    CHECK(tel[0]["energy_kwh"].get<double>() == Approx(0.03));
    CHECK(tel[0]["power_kw"].get<double>() == Approx(7.2));
    CHECK(r.bridge.view("T1")->total_kwh == Approx(1234.5));
    r.vendor(kEvse + "session_energy", "50");
    REQUIRE(r.sent(kEvse + "claim/set").size() == 1);
    CHECK(json::parse(r.sent(kEvse + "claim/set")[0])["state"] == "disabled");
    r.vendor(kEvse + "claim", R"({"state":"disabled"})");
    auto events = r.station("T1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "session_finished");
    CHECK(events[0]["energy_kwh"].get<double>() == Approx(0.05));
    CHECK(r.logged("charger total 1234.5"));
}

TEST_CASE("bridge, OpenEVSE: a fault state faults the pile - the last will takes it offline") {
    Rig r;
    r.vendor("openevse/announce/55ad", R"({"state":"connected"})");
    r.vendor(kEvse + "claim", R"({"state":"disabled"})");
    r.clear();
    r.vendor(kEvse + "state", "7");
    auto events = r.station("T1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "fault_raised");
    CHECK(events[0]["reason"] == "state 7 (no earth ground)");
    r.vendor(kEvse + "state", "255");
    CHECK(r.station("T1", contract::PileChannel::Events).back()["type"] == "fault_cleared");
    r.clear();
    r.vendor("openevse/announce/55ad", R"({"state":"disconnected"})");
    CHECK(r.station("T1", contract::PileChannel::Status).back()["online"] == false);
    CHECK_FALSE(r.bridge.view("T1")->online);
}

TEST_CASE("bridge, go-e: a reset ends the session at the pile, holds it off, then rst reboots it") {
    Rig r;
    r.goe_charging("300");
    r.command("F1", contract::CommandType::Reset, "c2", "", 0, contract::ResetKind::Hard);
    auto events = r.station("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "session_ended_at_pile");
    CHECK(events[0]["reason"] == "HardReset");
    CHECK(events[0]["energy_kwh"].get<double>() == Approx(0.3));
    CHECK(r.sent(kGoe + "frc/set") == std::vector<std::string>{"1"});
    CHECK(r.sent(kGoe + "rst/set").empty());  // after the hold-off is answered
    r.vendor(kGoe + "frc/result", "success");
    CHECK(r.sent(kGoe + "rst/set") == std::vector<std::string>{"true"});
    CHECK(r.station("F1", contract::PileChannel::Acks).empty());
    r.vendor(kGoe + "rst/result", "success");
    auto acks = r.station("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0] == json({{"id", "c2"}, {"ok", true}, {"pile", "F1"}}));
    // Unanswered: refused after the timeout, as any other command.
    r.clear();
    r.command("F1", contract::CommandType::Reset, "c3");
    r.vendor(kGoe + "frc/result", "success");
    r.tick(BridgeOptions{}.command_timeout_ms);
    acks = r.station("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0]["ok"] == false);
    CHECK(acks[0]["reason"].get<std::string>().find("no answer") != std::string::npos);
}

TEST_CASE("bridge, OpenEVSE: a reset is a restart of the gateway (Soft) or the EVSE (Hard)") {
    Rig r;
    r.vendor("openevse/announce/55ad", R"({"state":"connected"})");
    r.vendor(kEvse + "claim", R"({"state":"disabled"})");
    r.clear();
    r.command("T1", contract::CommandType::Reset, "c1");
    CHECK(r.sent(kEvse + "restart") == std::vector<std::string>{R"({"device":"gateway"})"});
    CHECK(json::parse(r.sent(kEvse + "claim/set").at(0))["state"] == "disabled");
    // OpenEVSE answers nothing to a restart: acknowledged when sent.
    CHECK(r.station("T1", contract::PileChannel::Acks).back()["ok"] == true);
    r.command("T1", contract::CommandType::Reset, "c2", "", 0, contract::ResetKind::Hard);
    CHECK(r.sent(kEvse + "restart").back() == R"({"device":"evse"})");
}

TEST_CASE("bridge stats: devices online, piles by state, started sessions, commands acknowledged") {
    Rig r;
    BridgeStats s = r.bridge.stats();
    CHECK(s.devices_online == 0);
    CHECK(s.piles.offline == 2);
    r.goe_online();
    s = r.bridge.stats();
    CHECK(s.devices_online == 1);
    CHECK(s.piles.offline == 1);
    CHECK(s.piles.online[static_cast<std::size_t>(station::PileState::Rest)] == 1);
    r.command("F1", contract::CommandType::Start, "c1", "s1", 1);
    s = r.bridge.stats();
    CHECK(s.piles.online[static_cast<std::size_t>(station::PileState::Work)] == 1);
    CHECK(s.piles.sessions_active == 0);  // not confirmed yet
    CHECK(r.out.acked.empty());
    r.vendor(kGoe + "frc/result", "success");
    s = r.bridge.stats();
    CHECK(s.piles.sessions_active == 1);
    r.command("T1", contract::CommandType::Start, "c2", "s2", 1);  // offline: refused
    r.command("T1", contract::CommandType::Start, "c2", "s2", 1);  // repeated: not counted
    REQUIRE(r.out.acked.size() == 2);
    CHECK((r.out.acked[0].type == contract::CommandType::Start && r.out.acked[0].ok));
    CHECK((r.out.acked[1].type == contract::CommandType::Start && !r.out.acked[1].ok));
}
