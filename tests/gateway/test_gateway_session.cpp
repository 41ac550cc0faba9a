// The gateway's per-charger state machine, driven deterministically: frames in, frames
// and bus publications out, time passed in (no sockets, no broker, no sleeps).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "contract/topics.hpp"
#include "gateway/gateway.hpp"
#include "gateway/ocpp_time.hpp"

using namespace gateway;
using nlohmann::json;

namespace {

const char* kChargers = R"({"chargers": [
    {"identity": "CP1", "password": "secret-pass-1",
     "connectors": [{"connector": 1, "pile": "F1", "mode": "F", "power_kw": 30},
                    {"connector": 2, "pile": "T1", "mode": "T", "power_kw": 7}]}]})";

constexpr std::int64_t kWall0 = 1'800'000'000'000;

struct Rig {
    Gateway gw;
    std::int64_t wall = kWall0;
    ConnectionId conn = 1;
    int next_id = 0;
    Output out;

    explicit Rig(GatewayOptions o = {}) : gw(*parse_registry(kChargers).registry, std::move(o)) {}

    Now now() const { return Now{wall + 8 * 3'600'000, wall}; }
    void collect() {
        Output o = gw.take_output();
        out.frames.insert(out.frames.end(), o.frames.begin(), o.frames.end());
        out.closes.insert(out.closes.end(), o.closes.begin(), o.closes.end());
        out.publications.insert(out.publications.end(), o.publications.begin(),
                                o.publications.end());
        out.log.insert(out.log.end(), o.log.begin(), o.log.end());
        out.calls_received.insert(out.calls_received.end(), o.calls_received.begin(),
                                  o.calls_received.end());
        out.frames_refused += o.frames_refused;
        out.calls_finished.insert(out.calls_finished.end(), o.calls_finished.begin(),
                                  o.calls_finished.end());
        out.acked.insert(out.acked.end(), o.acked.begin(), o.acked.end());
    }
    void clear() {
        collect();
        out = Output{};
    }
    void connect() {
        gw.on_connected(conn, "CP1", now());
        collect();
    }
    // Sends a CALL from the charger and returns the gateway's answer (parsed).
    json call(const std::string& action, const json& payload, std::string id = "") {
        if (id.empty()) {
            id = "cp-" + std::to_string(++next_id);
        }
        return raw(json::array({2, id, action, payload}).dump());
    }
    json raw(const std::string& text) {
        const std::size_t before = out.frames.size();
        gw.on_text(conn, text, now());
        collect();
        for (std::size_t i = before; i < out.frames.size(); ++i) {
            const json f = json::parse(out.frames[i].second);
            if (f[0] != 2) {
                return f;
            }
        }
        return json();
    }
    // The CALLs the gateway sent, oldest first, since the last clear.
    std::vector<json> calls() const {
        std::vector<json> v;
        for (const auto& [c, text] : out.frames) {
            const json f = json::parse(text);
            if (f[0] == 2) {
                v.push_back(f);
            }
        }
        return v;
    }
    void answer(const json& call_frame, const json& payload) {
        gw.on_text(conn, json::array({3, call_frame[1], payload}).dump(), now());
        collect();
    }
    std::vector<json> published(std::string_view pile, contract::PileChannel ch) const {
        std::vector<json> v;
        for (const auto& p : out.publications) {
            if (p.topic == contract::pile_topic(pile, ch)) {
                v.push_back(json::parse(p.payload));
            }
        }
        return v;
    }
    void boot() {
        connect();
        const json r =
            call("BootNotification", {{"chargePointVendor", "V"}, {"chargePointModel", "M"}});
        REQUIRE(r[0] == 3);
        REQUIRE(r[2]["status"] == "Accepted");
        for (int k : {1, 2}) {
            call("StatusNotification",
                 {{"connectorId", k}, {"errorCode", "NoError"}, {"status", "Available"}});
        }
        // The configuration is read on connect, then the sample interval set; the charger
        // accepts.
        answer_configuration("60");
        const auto cs = calls();
        REQUIRE_FALSE(cs.empty());
        REQUIRE(cs.back()[2] == "ChangeConfiguration");
        answer(cs.back(), {{"status", "Accepted"}});
        clear();
    }
    // Answers the GetConfiguration sent last with this MeterValueSampleInterval.
    void answer_configuration(const std::string& interval, bool readonly = false) {
        const auto cs = calls();
        REQUIRE_FALSE(cs.empty());
        REQUIRE(cs.back()[2] == "GetConfiguration");
        answer(
            cs.back(),
            {{"configurationKey",
              json::array({{{"key", "MeterValueSampleInterval"},
                            {"readonly", readonly},
                            {"value", interval}},
                           {{"key", "HeartbeatInterval"}, {"readonly", false}, {"value", "300"}}})},
             {"unknownKey", json::array({"NumberOfConnectors"})}});
    }
    contract::PileCommand command(contract::CommandType type, std::string id,
                                  std::string session = "s1", double kwh = 0.1) {
        contract::PileCommand c;
        c.id = std::move(id);
        c.type = type;
        c.session = std::move(session);
        c.order = 4;
        c.target_kwh = kwh;
        return c;
    }
    // Starts session s1 on F1 and returns the transaction id.
    std::int64_t start_session(double kwh = 0.1, std::int64_t meter_start = 1000) {
        gw.on_command("F1", command(contract::CommandType::Start, "c1", "s1", kwh), now());
        collect();
        const auto cs = calls();
        REQUIRE(cs.size() == 1);
        REQUIRE(cs[0][2] == "RemoteStartTransaction");
        answer(cs[0], {{"status", "Accepted"}});
        const json r = call("StartTransaction", {{"connectorId", 1},
                                                 {"idTag", cs[0][3]["idTag"]},
                                                 {"meterStart", meter_start},
                                                 {"timestamp", format_ocpp_time(wall)}});
        REQUIRE(r[2]["idTagInfo"]["status"] == "Accepted");
        return r[2]["transactionId"].get<std::int64_t>();
    }
    json meter(std::int64_t tx, const std::string& value, const std::string& unit = "Wh") {
        return call("MeterValues", {{"connectorId", 1},
                                    {"transactionId", tx},
                                    {"meterValue",
                                     {{{"timestamp", format_ocpp_time(wall)},
                                       {"sampledValue",
                                        {{{"value", value},
                                          {"measurand", "Energy.Active.Import.Register"},
                                          {"unit", unit}}}}}}}});
    }
};

}  // namespace

TEST_CASE("session: calls before the boot is accepted are refused with SecurityError") {
    Rig r;
    r.connect();
    const json refused =
        r.call("StatusNotification",
               {{"connectorId", 1}, {"errorCode", "NoError"}, {"status", "Available"}});
    CHECK(refused[0] == 4);
    CHECK(refused[2] == "SecurityError");
    CHECK(r.published("F1", contract::PileChannel::Status).empty());
    const json boot =
        r.call("BootNotification", {{"chargePointVendor", "V"}, {"chargePointModel", "M"}});
    CHECK(boot[2]["status"] == "Accepted");
    CHECK(boot[2]["interval"] == 300);
    CHECK(parse_ocpp_time(boot[2]["currentTime"].get<std::string>()) == r.wall);
    const auto status = r.published("F1", contract::PileChannel::Status);
    REQUIRE(status.size() == 1);
    CHECK(status[0]["online"] == true);
    CHECK(status[0]["state"] == "REST");
    CHECK(status[0]["power_kw"] == 30.0);
    CHECK(r.published("T1", contract::PileChannel::Status).size() == 1);
    // The configuration is read first (GetConfiguration), then the sample interval set.
    auto cs = r.calls();
    REQUIRE(cs.size() == 1);
    CHECK(cs[0][2] == "GetConfiguration");
    CHECK(cs[0][3] == json({{"key", json::array({"MeterValueSampleInterval", "HeartbeatInterval",
                                                 "NumberOfConnectors"})}}));
    r.answer_configuration("60");
    cs = r.calls();
    REQUIRE(cs.size() == 2);
    CHECK(cs[1][2] == "ChangeConfiguration");
    CHECK(cs[1][3] == json({{"key", "MeterValueSampleInterval"}, {"value", "10"}}));
    bool logged = false;
    for (const auto& l : r.out.log) {
        logged = logged || l.text ==
                               "charger CP1 configuration: MeterValueSampleInterval=60, "
                               "HeartbeatInterval=300, NumberOfConnectors unknown";
    }
    CHECK(logged);
}

TEST_CASE("session: the configuration read on connect decides whether the interval is set") {
    auto booted = [](Rig& r) {
        r.connect();
        r.call("BootNotification", {{"chargePointVendor", "V"}, {"chargePointModel", "M"}});
    };
    {
        INFO("already 10: nothing to change");
        Rig r;
        booted(r);
        r.answer_configuration("10");
        CHECK(r.calls().back()[2] == "GetConfiguration");
    }
    {
        INFO("read-only: not changed, and said");
        Rig r;
        booted(r);
        r.answer_configuration("900", true);
        CHECK(r.calls().back()[2] == "GetConfiguration");
        bool warned = false;
        for (const auto& l : r.out.log) {
            warned = warned || l.text.find("MeterValueSampleInterval is read-only at 900") !=
                                   std::string::npos;
        }
        CHECK(warned);
    }
    {
        INFO("GetConfiguration not implemented: the interval is set all the same");
        Rig r;
        booted(r);
        const json get = r.calls().back();
        r.gw.on_text(r.conn, json::array({4, get[1], "NotImplemented", "", json::object()}).dump(),
                     r.now());
        r.collect();
        CHECK(r.calls().back()[2] == "ChangeConfiguration");
    }
    {
        INFO("an answer off the schema: refused, the interval set all the same");
        Rig r;
        booted(r);
        const json get = r.calls().back();
        r.answer(get, {{"configurationKey",
                        json::array({{{"key", "MeterValueSampleInterval"}, {"value", "10"}}})}});
        CHECK(r.calls().back()[2] == "ChangeConfiguration");
    }
    {
        INFO("no answer within the call timeout: the interval is set all the same");
        Rig r;
        booted(r);
        r.wall += 31'000;
        r.gw.tick(r.now());
        r.collect();
        CHECK(r.calls().back()[2] == "ChangeConfiguration");
    }
}

TEST_CASE("session: a charger that does not boot by itself is asked to (TriggerMessage)") {
    Rig r;
    r.connect();
    r.gw.tick(r.now());
    r.collect();
    CHECK(r.calls().empty());
    REQUIRE(r.gw.next_due() == r.wall + 5'000);
    r.wall += 5'000;
    r.gw.tick(r.now());
    r.collect();
    const auto cs = r.calls();
    REQUIRE(cs.size() == 1);
    CHECK(cs[0][2] == "TriggerMessage");
    CHECK(cs[0][3]["requestedMessage"] == "BootNotification");
}

TEST_CASE("session: unknown actions, invalid payloads and junk are answered or dropped") {
    Rig r;
    r.boot();
    CHECK(r.call("MakeCoffee", json::object()) ==
          json::array({4, "cp-4", "NotImplemented", "unknown action MakeCoffee", json::object()}));
    const json bad = r.call("StatusNotification", {{"connectorId", 1}, {"status", "Available"}});
    CHECK(bad[2] == "OccurenceConstraintViolation");
    CHECK(r.raw(R"([2,"x1","Heartbeat",[]])")[2] == "FormationViolation");
    CHECK(r.raw(R"([2,"x2",{},{}])")[2] == "ProtocolError");
    CHECK(r.raw("not json").is_null());  // no id to answer
    CHECK(r.raw(R"([7,"x3"])").is_null());
    CHECK(r.call("DataTransfer", {{"vendorId", "acme"}})[2] == json({{"status", "Rejected"}}));
    CHECK(r.call("Heartbeat", json::object())[0] == 3);
    // Nothing from outside crashes the core.
    for (const std::string junk :
         {"[]", "[2]", "[2,\"a\"]", "[3,\"nope\",{}]", "[4,\"nope\",\"X\",\"y\",{}]",
          "[2,\"a\",\"MeterValues\",{\"connectorId\":1,\"meterValue\":[{\"timestamp\":5}]}]",
          "[2,\"b\",\"StopTransaction\",{\"transactionId\":99,\"meterStop\":1,\"timestamp\":"
          "\"2026-01-01T00:00:00Z\"}]",
          "\"\\ud800\"", "[2,\"c\",\"BootNotification\",{\"chargePointVendor\":null}]"}) {
        r.raw(junk);
    }
    CHECK(r.gw.view("F1")->online);
    // A message over the cap closes the connection.
    r.clear();
    r.gw.on_text(r.conn, std::string(kMaxFrameBytes + 1, ' '), r.now());
    r.collect();
    CHECK(r.out.closes == std::vector<ConnectionId>{r.conn});
    CHECK_FALSE(r.gw.view("F1")->online);
}

TEST_CASE("session: a repeated message id is answered again and not applied twice") {
    Rig r;
    r.boot();
    r.gw.on_command("F1", r.command(contract::CommandType::Start, "c1"), r.now());
    r.collect();
    r.answer(r.calls()[0], {{"status", "Accepted"}});
    const json start = {{"connectorId", 1},
                        {"idTag", r.calls()[0][3]["idTag"]},
                        {"meterStart", 0},
                        {"timestamp", format_ocpp_time(r.wall)}};
    const json first = r.call("StartTransaction", start, "dup");
    const json again = r.call("StartTransaction", start, "dup");
    CHECK(first == again);
    CHECK(r.published("F1", contract::PileChannel::Events).size() == 1);
}

TEST_CASE("session: remote start, meter values, stop at the target, session finished") {
    Rig r;
    r.boot();
    r.gw.on_command("F1", r.command(contract::CommandType::Start, "c1", "s1", 0.1), r.now());
    r.collect();
    // Acknowledged only once the charger answered.
    CHECK(r.published("F1", contract::PileChannel::Acks).empty());
    auto cs = r.calls();
    REQUIRE(cs.size() == 1);
    CHECK(cs[0][3] == json({{"connectorId", 1}, {"idTag", "EVCS4"}}));
    r.answer(cs[0], {{"status", "Accepted"}});
    const auto acks = r.published("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0] == json({{"id", "c1"}, {"ok", true}, {"pile", "F1"}}));
    CHECK(r.gw.view("F1")->state == station::PileState::Work);

    const json started = r.call("StartTransaction", {{"connectorId", 1},
                                                     {"idTag", "EVCS4"},
                                                     {"meterStart", 5000},
                                                     {"timestamp", format_ocpp_time(r.wall)}});
    REQUIRE(started[2].contains("transactionId"));
    CHECK(started[2]["idTagInfo"] == json({{"status", "Accepted"}}));
    const std::int64_t tx = started[2]["transactionId"];
    auto events = r.published("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "session_started");
    CHECK(events[0]["session"] == "s1");
    CHECK(events[0]["order"] == 4);

    r.clear();
    r.meter(tx, "5060");  // 60 Wh
    auto tel = r.published("F1", contract::PileChannel::Telemetry);
    REQUIRE(tel.size() == 1);
    CHECK(tel[0]["energy_kwh"] == Approx(0.06));
    CHECK(r.calls().empty());
    r.meter(tx, "5.1004", "kWh");  // 100.4 Wh: at the target
    cs = r.calls();
    REQUIRE(cs.size() == 1);
    CHECK(cs[0][2] == "RemoteStopTransaction");
    CHECK(cs[0][3] == json({{"transactionId", tx}}));
    r.meter(tx, "5101");  // no second stop
    CHECK(r.calls().size() == 1);
    r.answer(cs[0], {{"status", "Accepted"}});
    const json stopped = r.call("StopTransaction", {{"transactionId", tx},
                                                    {"meterStop", 5102},
                                                    {"timestamp", format_ocpp_time(r.wall)},
                                                    {"reason", "Remote"}});
    CHECK(stopped[0] == 3);
    events = r.published("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "session_finished");
    CHECK(events[0]["energy_kwh"] == Approx(0.102));
    CHECK(r.gw.view("F1")->state == station::PileState::Rest);
    CHECK(r.gw.view("F1")->session.empty());
}

TEST_CASE("session: one outstanding call per charger - the next goes when it is answered") {
    Rig r;
    r.boot();
    r.gw.on_command("F1", r.command(contract::CommandType::Start, "c1", "s1"), r.now());
    r.gw.on_command("T1", r.command(contract::CommandType::SwitchOff, "c2"), r.now());
    r.collect();
    REQUIRE(r.calls().size() == 1);
    r.answer(r.calls()[0], {{"status", "Accepted"}});
    const auto cs = r.calls();
    REQUIRE(cs.size() == 2);
    CHECK(cs[1][2] == "ChangeAvailability");
    CHECK(cs[1][3] == json({{"connectorId", 2}, {"type", "Inoperative"}}));
    r.answer(cs[1], {{"status", "Accepted"}});
    CHECK(r.gw.view("T1")->state == station::PileState::Off);
    CHECK(r.published("T1", contract::PileChannel::Acks).back()["ok"] == true);
    CHECK(r.published("T1", contract::PileChannel::Status).back()["state"] == "OFF");
}

TEST_CASE("session: an unanswered call times out, the command fails, a late answer is ignored") {
    GatewayOptions o;
    o.call_timeout_ms = 30'000;
    Rig r(o);
    r.boot();
    r.gw.on_command("F1", r.command(contract::CommandType::Start, "c1"), r.now());
    r.collect();
    const json call = r.calls().at(0);
    CHECK(r.gw.next_due() == r.wall + 30'000);
    r.wall += 29'999;
    r.gw.tick(r.now());
    r.collect();
    CHECK(r.published("F1", contract::PileChannel::Acks).empty());
    r.wall += 1;
    r.gw.tick(r.now());
    r.collect();
    const auto acks = r.published("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0]["ok"] == false);
    CHECK(acks[0]["reason"].get<std::string>().find("no answer") != std::string::npos);
    CHECK(r.gw.view("F1")->session.empty());
    r.answer(call, {{"status", "Accepted"}});
    CHECK(r.out.log.back().text.find("late") != std::string::npos);
    CHECK(r.published("F1", contract::PileChannel::Acks).size() == 1);
    // The same command again is acknowledged again, not sent again.
    r.gw.on_command("F1", r.command(contract::CommandType::Start, "c1"), r.now());
    r.collect();
    CHECK(r.published("F1", contract::PileChannel::Acks).size() == 2);
    CHECK(r.calls().size() == 1);  // only the first RemoteStartTransaction
}

TEST_CASE("session: a rejected remote start fails the command - commands while offline fail") {
    Rig r;
    r.boot();
    r.gw.on_command("F1", r.command(contract::CommandType::Start, "c1"), r.now());
    r.collect();
    r.answer(r.calls().at(0), {{"status", "Rejected"}});
    auto acks = r.published("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0]["ok"] == false);
    CHECK(r.gw.view("F1")->session.empty());
    r.gw.on_closed(r.conn, r.now());
    r.collect();
    r.gw.on_command("F1", r.command(contract::CommandType::Start, "c2"), r.now());
    r.collect();
    acks = r.published("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 2);
    CHECK(acks[1]["ok"] == false);
    CHECK(acks[1]["reason"] == "charger CP1 is offline");
    r.gw.on_command("F1", r.command(contract::CommandType::InjectFault, "c3"), r.now());
    r.collect();
    CHECK(r.published("F1", contract::PileChannel::Acks).back()["ok"] == false);
}

TEST_CASE("session: Faulted raises a fault, recovery clears it, stale notifications dropped") {
    Rig r;
    r.boot();
    const auto at = [&](std::int64_t ms) { return format_ocpp_time(kWall0 + ms); };
    r.call("StatusNotification", {{"connectorId", 1},
                                  {"errorCode", "GroundFailure"},
                                  {"status", "Faulted"},
                                  {"timestamp", at(2000)}});
    auto events = r.published("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "fault_raised");
    CHECK(r.published("F1", contract::PileChannel::Status).back()["state"] == "FAULT");
    // Sent before the fault, delivered after it: dropped.
    r.call("StatusNotification", {{"connectorId", 1},
                                  {"errorCode", "NoError"},
                                  {"status", "Available"},
                                  {"timestamp", at(1000)}});
    CHECK(r.gw.view("F1")->state == station::PileState::Fault);
    CHECK(r.published("F1", contract::PileChannel::Events).size() == 1);
    r.call("StatusNotification", {{"connectorId", 1},
                                  {"errorCode", "NoError"},
                                  {"status", "Available"},
                                  {"timestamp", at(3000)}});
    events = r.published("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 2);
    CHECK(events[1]["type"] == "fault_cleared");
    CHECK(r.gw.view("F1")->state == station::PileState::Rest);
}

TEST_CASE("session: a charger that reconnects mid-transaction goes on with it, without a boot") {
    Rig r;
    r.boot();
    const std::int64_t tx = r.start_session(0.1, 0);
    r.meter(tx, "40");
    r.clear();
    r.gw.on_closed(r.conn, r.now());
    r.collect();
    auto status = r.published("F1", contract::PileChannel::Status);
    REQUIRE(status.size() == 1);
    CHECK(status[0] == json({{"online", false}, {"pile", "F1"}}));
    CHECK(r.gw.view("F1")->session == "s1");
    r.conn = 2;
    r.wall += 3000;
    r.clear();
    r.connect();
    status = r.published("F1", contract::PileChannel::Status);
    REQUIRE(status.size() == 1);
    CHECK(status[0]["online"] == true);
    CHECK(status[0]["session"] == "s1");
    CHECK(status[0]["state"] == "WORK");
    CHECK(r.meter(tx, "80")[0] == 3);  // taken at once: its boot was accepted before
    CHECK(r.published("F1", contract::PileChannel::Telemetry).back()["energy_kwh"] == Approx(0.08));
    r.meter(tx, "100");
    REQUIRE(r.calls().size() == 1);
    CHECK(r.calls()[0][2] == "RemoteStopTransaction");
}

TEST_CASE("session: a start nobody asked for is refused, yet answered with a transaction id") {
    Rig r;
    r.boot();
    const json started = r.call("StartTransaction", {{"connectorId", 1},
                                                     {"idTag", "RFID-1"},
                                                     {"meterStart", 0},
                                                     {"timestamp", format_ocpp_time(r.wall)}});
    CHECK(started[2]["idTagInfo"]["status"] == "Invalid");
    CHECK(started[2]["transactionId"].is_number_integer());
    CHECK(r.call("Authorize", {{"idTag", "RFID-1"}})[2]["idTagInfo"]["status"] == "Invalid");
    CHECK(r.published("F1", contract::PileChannel::Events).empty());
}

TEST_CASE("session: the scheduler's stop sends RemoteStop - the session is interrupted") {
    Rig r;
    r.boot();
    const std::int64_t tx = r.start_session(1.0, 0);
    r.clear();
    r.gw.on_command("F1", r.command(contract::CommandType::Stop, "c9", "s1"), r.now());
    r.collect();
    REQUIRE(r.calls().size() == 1);
    CHECK(r.calls()[0][3]["transactionId"] == tx);
    r.answer(r.calls()[0], {{"status", "Accepted"}});
    CHECK(r.published("F1", contract::PileChannel::Acks).back()["ok"] == true);
    r.call("StopTransaction",
           {{"transactionId", tx}, {"meterStop", 250}, {"timestamp", format_ocpp_time(r.wall)}});
    const auto events = r.published("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "session_interrupted");
    CHECK(events[0]["reason"] == "stopped");
    CHECK(events[0]["energy_kwh"] == Approx(0.25));
}

TEST_CASE("session: boot Pending while the station's link is down, accepted when it is back") {
    GatewayOptions o;
    o.pending_retry_s = 7;
    Rig r(o);
    r.gw.on_bus_lost("T1", r.now());
    r.connect();
    const json boot =
        r.call("BootNotification", {{"chargePointVendor", "V"}, {"chargePointModel", "M"}});
    REQUIRE(boot[0] == 3);
    CHECK(boot[2]["status"] == "Pending");
    CHECK(boot[2]["interval"] == 7);
    CHECK_FALSE(r.gw.booted("CP1"));
    // While Pending the charger sends nothing else; what it sends anyway is refused.
    const json hb = r.call("Heartbeat", json::object());
    CHECK(hb[0] == 4);
    CHECK(hb[2] == "SecurityError");
    // The central system sends only what Pending allows: no settings yet, commands refused.
    CHECK(r.calls().empty());
    r.gw.on_command("F1", r.command(contract::CommandType::Start, "c1"), r.now());
    r.collect();
    CHECK(r.published("F1", contract::PileChannel::Acks).back()["ok"] == false);
    CHECK(r.calls().empty());
    // The link comes back: the charger is asked to boot (TriggerMessage) and is accepted.
    r.clear();
    r.gw.on_bus_connected("T1", r.now());
    r.collect();
    REQUIRE(r.calls().size() == 1);
    CHECK(r.calls()[0][2] == "TriggerMessage");
    CHECK(r.calls()[0][3]["requestedMessage"] == "BootNotification");
    r.answer(r.calls()[0], {{"status", "Accepted"}});
    const json again =
        r.call("BootNotification", {{"chargePointVendor", "V"}, {"chargePointModel", "M"}});
    CHECK(again[2]["status"] == "Accepted");
    CHECK(r.gw.booted("CP1"));
    CHECK(r.calls().back()[2] == "GetConfiguration");
}

TEST_CASE("session: a transaction the charger ends itself ends the order (ended at the pile)") {
    Rig r;
    r.boot();
    const std::int64_t tx = r.start_session(1.0, 0);
    r.clear();
    // Stamped 30 s ago: queued while the charger was offline, delivered now.
    r.call("StopTransaction", {{"transactionId", tx},
                               {"meterStop", 300},
                               {"timestamp", format_ocpp_time(r.wall - 30'000)},
                               {"reason", "EVDisconnected"}});
    const auto events = r.published("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "session_ended_at_pile");
    CHECK(events[0]["reason"] == "EVDisconnected");
    CHECK(events[0]["energy_kwh"] == Approx(0.3));
    bool logged = false;
    for (const auto& l : r.out.log) {
        logged = logged || l.text.find("30 s before it was delivered") != std::string::npos;
    }
    CHECK(logged);
}

TEST_CASE("session: a transaction ended by a fault is interrupted, not ended at the pile") {
    Rig r;
    r.boot();
    const std::int64_t tx = r.start_session(1.0, 0);
    r.clear();
    r.call("StatusNotification",
           {{"connectorId", 1}, {"errorCode", "GroundFailure"}, {"status", "Faulted"}});
    r.call("StopTransaction", {{"transactionId", tx},
                               {"meterStop", 100},
                               {"timestamp", format_ocpp_time(r.wall)},
                               {"reason", "Other"}});
    const auto events = r.published("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 2);
    CHECK(events[0]["type"] == "fault_raised");
    CHECK(events[1]["type"] == "session_interrupted");
}

TEST_CASE("session: Reset goes to the charger, its answer is the ack, a second reset waits none") {
    Rig r;
    r.boot();
    const std::int64_t tx = r.start_session(1.0, 0);
    r.clear();
    auto reset = r.command(contract::CommandType::Reset, "c9");
    reset.reset = contract::ResetKind::Soft;
    r.gw.on_command("F1", reset, r.now());
    // Charger-wide: a reset asked through its other pile meanwhile is refused.
    auto other = r.command(contract::CommandType::Reset, "c10");
    r.gw.on_command("T1", other, r.now());
    r.collect();
    auto cs = r.calls();
    REQUIRE(cs.size() == 1);
    CHECK(cs[0][2] == "Reset");
    CHECK(cs[0][3] == json({{"type", "Soft"}}));
    const auto refused = r.published("T1", contract::PileChannel::Acks);
    REQUIRE(refused.size() == 1);
    CHECK(refused[0]["ok"] == false);
    CHECK(refused[0]["reason"] == "a reset of charger CP1 is already under way");
    CHECK(r.published("F1", contract::PileChannel::Acks).empty());  // until it answers
    r.answer(cs[0], {{"status", "Accepted"}});
    auto acks = r.published("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0] == json({{"id", "c9"}, {"ok", true}, {"pile", "F1"}}));
    // The charger stops its transaction (SoftReset): the session ended at the pile.
    r.call("StopTransaction", {{"transactionId", tx},
                               {"meterStop", 250},
                               {"timestamp", format_ocpp_time(r.wall)},
                               {"reason", "SoftReset"}});
    const auto events = r.published("F1", contract::PileChannel::Events);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "session_ended_at_pile");
    CHECK(events[0]["reason"] == "SoftReset");
    CHECK(events[0]["energy_kwh"] == Approx(0.25));
    // It reboots: disconnected, back, booted again.
    r.gw.on_closed(r.conn, r.now());
    r.collect();
    CHECK(r.published("F1", contract::PileChannel::Status).back()["online"] == false);
    // The station's stop for the ended session comes while the charger restarts: done,
    // not refused for the charger being offline.
    r.gw.on_command("F1", r.command(contract::CommandType::Stop, "c14"), r.now());
    r.collect();
    acks = r.published("F1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 2);
    CHECK(acks[1]["id"] == "c14");
    CHECK(acks[1]["ok"] == true);
    r.conn = 2;
    r.clear();
    r.boot();
    CHECK(r.gw.view("F1")->online);
    CHECK(r.gw.view("F1")->state == station::PileState::Rest);

    // Rejected, an answer off the schema, an error: the ack says so.
    reset.id = "c11";
    reset.reset = contract::ResetKind::Hard;
    r.gw.on_command("T1", reset, r.now());
    r.collect();
    cs = r.calls();
    REQUIRE(cs.size() == 1);
    CHECK(cs[0][3] == json({{"type", "Hard"}}));
    r.answer(cs[0], {{"status", "Rejected"}});
    acks = r.published("T1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0]["ok"] == false);
    CHECK(acks[0]["reason"] == "the charger answered Reset Rejected");
    reset.id = "c12";
    r.gw.on_command("T1", reset, r.now());
    r.collect();
    r.answer(r.calls().back(), {{"status", "Scheduled"}});
    acks = r.published("T1", contract::PileChannel::Acks);
    REQUIRE(acks.size() == 2);
    CHECK(acks[1]["ok"] == false);
    CHECK(acks[1]["reason"].get<std::string>().find("answer to Reset is invalid") !=
          std::string::npos);
    // Offline: refused at once.
    r.gw.on_closed(r.conn, r.now());
    reset.id = "c13";
    r.gw.on_command("T1", reset, r.now());
    r.collect();
    CHECK(r.published("T1", contract::PileChannel::Acks).back()["reason"] ==
          "charger CP1 is offline");
}

// ---- what the core reports for the shell's metrics -------------------------------------

namespace {

// "Action outcome duration" of each finished call ("-" for no duration).
std::vector<std::string> finished(const Output& out) {
    std::vector<std::string> v;
    for (const auto& f : out.calls_finished) {
        v.push_back(f.action + " " + std::string(to_string(f.outcome)) + " " +
                    (f.duration_ms ? std::to_string(*f.duration_ms) : "-"));
    }
    return v;
}

}  // namespace

TEST_CASE("stats: chargers connected and booted, piles by state, sessions, calls waiting") {
    Rig r;
    GatewayStats s = r.gw.stats();
    CHECK(s.chargers_connected == 0);
    CHECK(s.chargers_booted == 0);
    CHECK(s.piles.offline == 2);
    CHECK(s.piles.online == std::array<std::size_t, 4>{0, 0, 0, 0});
    r.connect();
    s = r.gw.stats();
    CHECK(s.chargers_connected == 1);
    CHECK(s.chargers_booted == 0);
    CHECK(s.piles.offline == 2);
    r.boot();
    s = r.gw.stats();
    CHECK(s.chargers_booted == 1);
    CHECK(s.piles.offline == 0);
    CHECK(s.piles.online[static_cast<std::size_t>(station::PileState::Rest)] == 2);
    CHECK(s.calls_outstanding == 0);
    CHECK(s.calls_waiting == 0);
    // A start: F1 works (no transaction yet, so no active session); a switch-off of T1
    // waits behind the RemoteStartTransaction.
    r.gw.on_command("F1", r.command(contract::CommandType::Start, "c1", "s1"), r.now());
    r.gw.on_command("T1", r.command(contract::CommandType::SwitchOff, "c2"), r.now());
    r.collect();
    s = r.gw.stats();
    CHECK(s.calls_outstanding == 1);
    CHECK(s.calls_waiting == 1);
    CHECK(s.piles.online[static_cast<std::size_t>(station::PileState::Work)] == 1);
    CHECK(s.piles.sessions_active == 0);
    const auto cs = r.calls();
    r.answer(cs.at(0), {{"status", "Accepted"}});
    r.answer(r.calls().at(1), {{"status", "Accepted"}});
    r.call("StartTransaction", {{"connectorId", 1},
                                {"idTag", cs[0][3]["idTag"]},
                                {"meterStart", 0},
                                {"timestamp", format_ocpp_time(r.wall)}});
    s = r.gw.stats();
    CHECK(s.piles.sessions_active == 1);
    CHECK(s.piles.online == std::array<std::size_t, 4>{1, 1, 0, 0});  // T1 off, F1 working
    CHECK(s.calls_waiting == 0);
    // Gone: both piles offline, the transaction still the charger's.
    r.gw.on_closed(r.conn, r.now());
    r.collect();
    s = r.gw.stats();
    CHECK(s.chargers_connected == 0);
    CHECK(s.chargers_booted == 0);
    CHECK(s.piles.offline == 2);
    CHECK(s.piles.online == std::array<std::size_t, 4>{0, 0, 0, 0});
    CHECK(s.piles.sessions_active == 1);
}

TEST_CASE("stats: finished calls with their outcome and time, calls received, frames refused") {
    GatewayOptions o;
    o.call_timeout_ms = 30'000;
    Rig r(o);
    r.connect();
    r.call("BootNotification", {{"chargePointVendor", "V"}, {"chargePointModel", "M"}});
    r.wall += 40;
    r.answer_configuration("10");  // already what we want: nothing set
    CHECK(finished(r.out) == std::vector<std::string>{"GetConfiguration accepted 40"});
    CHECK(r.out.calls_received == std::vector<std::string>{"BootNotification"});
    r.clear();

    // Rejected, answered with a CALLERROR, timed out; a refused command acknowledged.
    r.gw.on_command("F1", r.command(contract::CommandType::Start, "c1", "s1"), r.now());
    r.collect();
    r.wall += 250;
    r.answer(r.calls().at(0), {{"status", "Rejected"}});
    r.gw.on_command("T1", r.command(contract::CommandType::SwitchOff, "c2"), r.now());
    r.collect();
    r.wall += 5;
    r.gw.on_text(r.conn,
                 json::array({4, r.calls().at(1)[1], "InternalError", "", json::object()}).dump(),
                 r.now());
    r.collect();
    r.gw.on_command("T1", r.command(contract::CommandType::Reset, "c3"), r.now());
    r.collect();
    r.wall += 30'000;
    r.gw.tick(r.now());
    r.collect();
    r.gw.on_command("T1", r.command(contract::CommandType::InjectFault, "c4"), r.now());
    r.collect();
    CHECK(finished(r.out) == std::vector<std::string>{"RemoteStartTransaction rejected 250",
                                                      "ChangeAvailability error 5",
                                                      "Reset timeout 30000"});
    REQUIRE(r.out.acked.size() == 4);
    CHECK(r.out.acked[0].type == contract::CommandType::Start);
    CHECK_FALSE(r.out.acked[0].ok);
    CHECK(r.out.acked[1].type == contract::CommandType::SwitchOff);
    CHECK(r.out.acked[2].type == contract::CommandType::Reset);
    CHECK(r.out.acked[3].type == contract::CommandType::InjectFault);
    // The same command again is answered again: not a second acknowledgement counted.
    r.gw.on_command("T1", r.command(contract::CommandType::InjectFault, "c4"), r.now());
    r.collect();
    CHECK(r.out.acked.size() == 4);
    r.clear();

    // An accepted stop, and a call lost with the connection.
    r.gw.on_command("F1", r.command(contract::CommandType::Start, "c5", "s5"), r.now());
    r.collect();
    const json start = r.calls().at(0);
    r.answer(start, {{"status", "Accepted"}});
    r.call("StartTransaction", {{"connectorId", 1},
                                {"idTag", start[3]["idTag"]},
                                {"meterStart", 0},
                                {"timestamp", format_ocpp_time(r.wall)}});
    r.gw.on_command("F1", r.command(contract::CommandType::Stop, "c6", "s5"), r.now());
    r.gw.on_command("T1", r.command(contract::CommandType::SwitchOn, "c7"), r.now());
    r.collect();
    REQUIRE(r.calls().size() == 2);  // the switch-on waits
    r.wall += 7;
    r.answer(r.calls().at(1), {{"status", "Accepted"}});
    REQUIRE(r.calls().size() == 3);
    r.gw.on_closed(r.conn, r.now());
    r.collect();
    CHECK(finished(r.out) == std::vector<std::string>{"RemoteStartTransaction accepted 0",
                                                      "RemoteStopTransaction accepted 7",
                                                      "ChangeAvailability disconnected -"});
    REQUIRE(r.out.acked.size() == 3);
    CHECK((r.out.acked[0].type == contract::CommandType::Start && r.out.acked[0].ok));
    CHECK((r.out.acked[1].type == contract::CommandType::Stop && r.out.acked[1].ok));
    CHECK((r.out.acked[2].type == contract::CommandType::SwitchOn && !r.out.acked[2].ok));
    CHECK(r.out.frames_refused == 0);
}

TEST_CASE("stats: every CALL of a charger counted by action, refused frames counted") {
    Rig r;
    r.connect();
    r.call("Heartbeat", json::object());  // before its boot
    r.call("BootNotification", {{"chargePointVendor", "V"}, {"chargePointModel", "M"}});
    r.call("MakeCoffee", json::object());                                         // unknown
    r.call("StatusNotification", {{"connectorId", 1}, {"status", "Available"}});  // invalid
    r.raw("not json");                                                            // malformed
    r.call("Heartbeat", json::object(), "cp-h");
    r.call("Heartbeat", json::object(), "cp-h");  // a repeat: received again, answered again
    CHECK(r.out.calls_received == std::vector<std::string>{"Heartbeat", "BootNotification",
                                                           "MakeCoffee", "StatusNotification",
                                                           "Heartbeat", "Heartbeat"});
    CHECK(r.out.frames_refused == 4);
    r.gw.on_text(r.conn, std::string(kMaxFrameBytes + 1, ' '), r.now());  // too large
    r.collect();
    CHECK(r.out.frames_refused == 5);
}
