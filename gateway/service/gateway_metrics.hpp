#pragma once
/// @file station-gateway's Prometheus metrics (issue #12; docs/metrics.md): what the
/// two cores report (their outputs' counts, their stats) copied into the registry's
/// families. The cores know nothing of Prometheus; the main thread calls this after each
/// step, and the /metrics endpoint reads the families (atomics) on its own threads.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "gateway/gateway.hpp"
#include "gateway/vendor_bridge.hpp"

namespace gateway {

/// The `action` label of a call to a charger: one of the calls the gateway makes, or "other".
std::string_view call_action_label(std::string_view action);
/// The `action` label of a charger's CALL: one of OCPP 1.6's, or "other".
std::string_view received_action_label(std::string_view action);

class GatewayMetrics {
  public:
    /// Registers the families in `registry`, every label value known beforehand at 0.
    explicit GatewayMetrics(prometheus::Registry& registry);

    /// What the OCPP core did (take_output's result, before the shell carries it out).
    void count(const Output& out);
    /// What the vendor bridge did.
    void count(const BridgeOutput& out);
    /// The gauges, from both cores' state now.
    void update(const GatewayStats& ocpp, const BridgeStats& vendor);

  private:
    void count(const std::vector<AckedCommand>& acked);

    prometheus::Gauge& chargers_connected_;
    prometheus::Gauge& chargers_booted_;
    prometheus::Gauge& vendor_devices_online_;
    prometheus::Gauge& sessions_active_;
    prometheus::Gauge& calls_outstanding_;
    prometheus::Gauge& calls_waiting_;
    prometheus::Counter& frames_refused_;
    std::map<std::string, prometheus::Gauge*, std::less<>> piles_;  ///< by state
    std::map<std::pair<std::string, std::string>, prometheus::Counter*, std::less<>>
        calls_;  ///< by action, outcome
    std::map<std::string, prometheus::Histogram*, std::less<>> call_seconds_;  ///< by action
    std::map<std::string, prometheus::Counter*, std::less<>> received_;        ///< by action
    std::map<std::pair<std::string, bool>, prometheus::Counter*> commands_;    ///< by type, ok
};

}  // namespace gateway
