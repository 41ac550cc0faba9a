// station-gateway's metrics adapter: what the cores report, in the registry's text form
// (the families every label value known beforehand, at 0).
#include <prometheus/text_serializer.h>

#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "gateway_metrics.hpp"

using namespace gateway;

namespace {

std::string text(prometheus::Registry& registry) {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, registry.Collect());
    return out.str();
}

bool has(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("metrics: labels from fixed sets - anything else is \"other\"") {
    CHECK(call_action_label("RemoteStartTransaction") == "RemoteStartTransaction");
    CHECK(call_action_label("TriggerMessage") == "TriggerMessage");
    CHECK(call_action_label("UpdateFirmware") == "other");
    CHECK(received_action_label("MeterValues") == "MeterValues");
    CHECK(received_action_label("MakeCoffee") == "other");
    CHECK(received_action_label("") == "other");
}

TEST_CASE("metrics: the cores' outputs and stats in the families") {
    prometheus::Registry registry;
    GatewayMetrics m(registry);
    std::string t = text(registry);
    CHECK(has(t, "evcs_gateway_chargers_connected 0"));
    CHECK(has(t, "evcs_gateway_piles{state=\"offline\"} 0"));
    CHECK(has(t, "evcs_gateway_ocpp_calls_total{action=\"Reset\",outcome=\"timeout\"} 0"));
    CHECK(has(t, "evcs_gateway_ocpp_messages_received_total{action=\"other\"} 0"));
    CHECK(has(t, "evcs_gateway_commands_total{ok=\"false\",type=\"switch_off\"} 0"));

    Output out;
    out.calls_received = {"BootNotification", "Heartbeat", "Heartbeat", "MakeCoffee"};
    out.frames_refused = 2;
    out.calls_finished = {{"RemoteStartTransaction", CallOutcome::Accepted, 500},
                          {"RemoteStartTransaction", CallOutcome::Rejected, 30'000},
                          {"ChangeAvailability", CallOutcome::Disconnected, std::nullopt},
                          {"UpdateFirmware", CallOutcome::Timeout, 30'000}};
    out.acked = {{contract::CommandType::Start, true}, {contract::CommandType::Start, false}};
    m.count(out);
    BridgeOutput bout;
    bout.acked = {{contract::CommandType::SwitchOff, true}};
    m.count(bout);
    GatewayStats gs;
    gs.chargers_connected = 3;
    gs.chargers_booted = 2;
    gs.calls_outstanding = 2;
    gs.calls_waiting = 5;
    gs.piles.offline = 1;
    gs.piles.online = {0, 1, 3, 0};
    gs.piles.sessions_active = 1;
    BridgeStats bs;
    bs.devices_online = 1;
    bs.piles.offline = 1;
    bs.piles.online = {0, 1, 0, 1};
    bs.piles.sessions_active = 1;
    m.update(gs, bs);

    t = text(registry);
    CHECK(has(t, "evcs_gateway_chargers_connected 3"));
    CHECK(has(t, "evcs_gateway_chargers_booted 2"));
    CHECK(has(t, "evcs_gateway_vendor_devices_online 1"));
    CHECK(has(t, "evcs_gateway_sessions_active 2"));
    CHECK(has(t, "evcs_gateway_calls_outstanding 2"));
    CHECK(has(t, "evcs_gateway_calls_waiting 5"));
    CHECK(has(t, "evcs_gateway_piles{state=\"offline\"} 2"));
    CHECK(has(t, "evcs_gateway_piles{state=\"off\"} 0"));
    CHECK(has(t, "evcs_gateway_piles{state=\"work\"} 2"));
    CHECK(has(t, "evcs_gateway_piles{state=\"rest\"} 3"));
    CHECK(has(t, "evcs_gateway_piles{state=\"fault\"} 1"));
    CHECK(has(t, "evcs_gateway_ocpp_messages_received_total{action=\"BootNotification\"} 1"));
    CHECK(has(t, "evcs_gateway_ocpp_messages_received_total{action=\"Heartbeat\"} 2"));
    CHECK(has(t, "evcs_gateway_ocpp_messages_received_total{action=\"other\"} 1"));
    CHECK(has(t, "evcs_gateway_ocpp_frames_refused_total 2"));
    CHECK(has(t,
              "evcs_gateway_ocpp_calls_total{action=\"RemoteStartTransaction\",outcome="
              "\"accepted\"} 1"));
    CHECK(has(t,
              "evcs_gateway_ocpp_calls_total{action=\"RemoteStartTransaction\",outcome="
              "\"rejected\"} 1"));
    CHECK(has(t,
              "evcs_gateway_ocpp_calls_total{action=\"ChangeAvailability\",outcome="
              "\"disconnected\"} 1"));
    CHECK(has(t, "evcs_gateway_ocpp_calls_total{action=\"other\",outcome=\"timeout\"} 1"));
    // Durations of calls answered or timed out; none for the one lost with its connection.
    CHECK(has(t,
              "evcs_gateway_ocpp_call_duration_seconds_count{action=\"RemoteStartTransaction\"} "
              "2"));
    CHECK(has(t,
              "evcs_gateway_ocpp_call_duration_seconds_sum{action=\"RemoteStartTransaction\"} "
              "30.5"));
    CHECK(has(t, "evcs_gateway_ocpp_call_duration_seconds_count{action=\"ChangeAvailability\"} 0"));
    CHECK(has(t, "evcs_gateway_ocpp_call_duration_seconds_count{action=\"other\"} 1"));
    CHECK(has(t, "evcs_gateway_commands_total{ok=\"true\",type=\"start\"} 1"));
    CHECK(has(t, "evcs_gateway_commands_total{ok=\"false\",type=\"start\"} 1"));
    CHECK(has(t, "evcs_gateway_commands_total{ok=\"true\",type=\"switch_off\"} 1"));
}
