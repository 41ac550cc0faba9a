#include "gateway_metrics.hpp"

#include <algorithm>
#include <array>

#include "metrics/families.hpp"

namespace gateway {

using metrics::counter;
using metrics::gauge;
using metrics::latency;

namespace {

constexpr std::array<std::string_view, 8> kCallActions = {
    "RemoteStartTransaction", "RemoteStopTransaction", "ChangeAvailability", "Reset",
    "GetConfiguration",       "ChangeConfiguration",   "TriggerMessage",     "other"};
constexpr std::array<std::string_view, 11> kReceivedActions = {"BootNotification",
                                                               "Heartbeat",
                                                               "StatusNotification",
                                                               "StartTransaction",
                                                               "StopTransaction",
                                                               "MeterValues",
                                                               "Authorize",
                                                               "DataTransfer",
                                                               "DiagnosticsStatusNotification",
                                                               "FirmwareStatusNotification",
                                                               "other"};
constexpr std::array<CallOutcome, 6> kOutcomes = {CallOutcome::Accepted,     CallOutcome::Rejected,
                                                  CallOutcome::Error,        CallOutcome::Timeout,
                                                  CallOutcome::Disconnected, CallOutcome::Refused};
constexpr std::array<contract::CommandType, 7> kCommandTypes = {
    contract::CommandType::Start,     contract::CommandType::Stop,
    contract::CommandType::SwitchOn,  contract::CommandType::SwitchOff,
    contract::CommandType::Reset,     contract::CommandType::InjectFault,
    contract::CommandType::ClearFault};
/// The pile states as labels: "offline", then the online ones by station::PileState.
constexpr std::string_view kOffline = "offline";
constexpr std::array<std::string_view, 4> kOnlineStates = {"off", "work", "rest", "fault"};

template <std::size_t N>
std::string_view label_of(const std::array<std::string_view, N>& known, std::string_view action) {
    const auto it = std::find(known.begin(), known.end(), action);
    return it == known.end() ? std::string_view("other") : *it;
}

}  // namespace

std::string_view call_action_label(std::string_view action) {
    return label_of(kCallActions, action);
}

std::string_view received_action_label(std::string_view action) {
    return label_of(kReceivedActions, action);
}

GatewayMetrics::GatewayMetrics(prometheus::Registry& registry)
    : chargers_connected_(gauge(registry, "evcs_gateway_chargers_connected",
                                "OCPP chargers with an open WebSocket connection.")),
      chargers_booted_(gauge(registry, "evcs_gateway_chargers_booted",
                             "OCPP chargers connected whose BootNotification was accepted.")),
      vendor_devices_online_(gauge(registry, "evcs_gateway_vendor_devices_online",
                                   "Vendor MQTT chargers (go-e, OpenEVSE) online.")),
      sessions_active_(gauge(registry, "evcs_gateway_sessions_active",
                             "Sessions the charger confirmed: an OCPP transaction running, a "
                             "vendor session started.")),
      calls_outstanding_(gauge(registry, "evcs_gateway_calls_outstanding",
                               "Calls sent to OCPP chargers and not answered yet.")),
      calls_waiting_(gauge(registry, "evcs_gateway_calls_waiting",
                           "Calls to OCPP chargers queued behind the outstanding one, summed "
                           "over chargers.")),
      frames_refused_(counter(registry, "evcs_gateway_ocpp_frames_refused_total",
                              "Frames of OCPP chargers refused: malformed or too large, or a "
                              "CALL answered with a CALLERROR.")) {
    auto& piles = prometheus::BuildGauge()
                      .Name("evcs_gateway_piles")
                      .Help(
                          "Piles of the gateway by the state it publishes: offline, or online "
                          "and off, work, rest or fault.")
                      .Register(registry);
    piles_[std::string(kOffline)] = &piles.Add({{"state", std::string(kOffline)}});
    for (const auto state : kOnlineStates) {
        piles_[std::string(state)] = &piles.Add({{"state", std::string(state)}});
    }
    auto& calls = prometheus::BuildCounter()
                      .Name("evcs_gateway_ocpp_calls_total")
                      .Help(
                          "Calls the gateway made to OCPP chargers, by action and how they "
                          "ended.")
                      .Register(registry);
    auto& seconds = prometheus::BuildHistogram()
                        .Name("evcs_gateway_ocpp_call_duration_seconds")
                        .Help(
                            "Time from sending a call to an OCPP charger to its answer or "
                            "timeout.")
                        .Register(registry);
    for (const auto action : kCallActions) {
        const std::string a(action);
        for (const auto outcome : kOutcomes) {
            const std::string o(to_string(outcome));
            calls_[{a, o}] = &calls.Add({{"action", a}, {"outcome", o}});
        }
        call_seconds_[a] = &latency(seconds, {{"action", a}});
    }
    auto& received = prometheus::BuildCounter()
                         .Name("evcs_gateway_ocpp_messages_received_total")
                         .Help("CALLs OCPP chargers sent to the gateway, by action.")
                         .Register(registry);
    for (const auto action : kReceivedActions) {
        received_[std::string(action)] = &received.Add({{"action", std::string(action)}});
    }
    auto& commands = prometheus::BuildCounter()
                         .Name("evcs_gateway_commands_total")
                         .Help(
                             "Station commands to the gateway's piles acknowledged, by type "
                             "and whether they succeeded.")
                         .Register(registry);
    for (const auto type : kCommandTypes) {
        for (const bool ok : {true, false}) {
            commands_[{std::string(contract::to_string(type)), ok}] = &commands.Add(
                {{"type", std::string(contract::to_string(type))}, {"ok", ok ? "true" : "false"}});
        }
    }
}

void GatewayMetrics::count(const Output& out) {
    for (const auto& action : out.calls_received) {
        received_.find(received_action_label(action))->second->Increment();
    }
    if (out.frames_refused > 0) {
        frames_refused_.Increment(static_cast<double>(out.frames_refused));
    }
    for (const auto& call : out.calls_finished) {
        const std::string a(call_action_label(call.action));
        calls_.find(std::make_pair(a, std::string(to_string(call.outcome))))->second->Increment();
        if (call.duration_ms) {
            call_seconds_.find(a)->second->Observe(static_cast<double>(*call.duration_ms) / 1000.0);
        }
    }
    count(out.acked);
}

void GatewayMetrics::count(const BridgeOutput& out) {
    count(out.acked);
}

void GatewayMetrics::count(const std::vector<AckedCommand>& acked) {
    for (const auto& a : acked) {
        commands_.find({std::string(contract::to_string(a.type)), a.ok})->second->Increment();
    }
}

void GatewayMetrics::update(const GatewayStats& ocpp, const BridgeStats& vendor) {
    chargers_connected_.Set(static_cast<double>(ocpp.chargers_connected));
    chargers_booted_.Set(static_cast<double>(ocpp.chargers_booted));
    vendor_devices_online_.Set(static_cast<double>(vendor.devices_online));
    sessions_active_.Set(
        static_cast<double>(ocpp.piles.sessions_active + vendor.piles.sessions_active));
    calls_outstanding_.Set(static_cast<double>(ocpp.calls_outstanding));
    calls_waiting_.Set(static_cast<double>(ocpp.calls_waiting));
    piles_.find(kOffline)->second->Set(
        static_cast<double>(ocpp.piles.offline + vendor.piles.offline));
    for (std::size_t i = 0; i < kOnlineStates.size(); ++i) {
        piles_.find(kOnlineStates[i])
            ->second->Set(static_cast<double>(ocpp.piles.online[i] + vendor.piles.online[i]));
    }
}

}  // namespace gateway
