#pragma once
/// @file The vendor bridge's functional core: chargers that speak their vendor's MQTT
/// dialect (go-e, OpenEVSE) presented as piles of the station on its MQTT contract
/// (status, telemetry, events, command acks). The scheduler's start/stop/switch commands
/// become the dialect's enable and disable, acknowledged by the charger's result or by its
/// state echo, or failed after a timeout; a session ends when the charger's meter reaches
/// the order's amount. No I/O: the shell hands in vendor messages, pile commands and the
/// time, and carries out what `take_output` returns. docs/gateway.md describes the rules.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "contract/messages.hpp"
#include "contract/publication.hpp"
#include "gateway/command_acks.hpp"
#include "gateway/core_io.hpp"
#include "gateway/metered_session.hpp"
#include "gateway/vendor_devices.hpp"
#include "gateway/vendor_update.hpp"

namespace gateway {

struct BridgeOptions {
    /// The bus identity of this run (`boot` of what it publishes): new per start.
    std::string boot = "v0";
    /// How long an enable or disable may go unacknowledged.
    std::int64_t command_timeout_ms = 10'000;
};

/// What the shell must do, in order; and what happened, for its metrics.
struct BridgeOutput {
    std::vector<contract::Publication> station;  ///< to the station broker, by pile
    std::vector<contract::Publication> vendor;   ///< to the vendor broker
    std::vector<LogLine> log;
    std::vector<AckedCommand> acked;
};

/// The bridge's state in numbers (for the shell's metrics).
struct BridgeStats {
    std::size_t devices_online = 0;
    PileCounts piles;
};

/// A pile as the bridge sees it (for tests and logs).
struct VendorPileView {
    bool online = false;
    station::PileState state = station::PileState::Rest;
    std::string session;
    bool session_started = false;
    double energy_kwh = 0;
    double power_kw = 0;
    std::optional<double> total_kwh;
    bool faulted = false;
    std::string fault;
};

class VendorBridge {
  public:
    VendorBridge(VendorDevices devices, BridgeOptions options);

    const VendorDevices& devices() const { return devices_; }
    std::vector<std::string> pile_ids() const;
    /// The topic filters to subscribe to on the vendor broker.
    std::vector<std::string> vendor_subscriptions() const;
    /// {pile, online: false}, retained: the pile's last will, and what is published while
    /// its charger is offline.
    contract::Publication offline_status(std::string_view pile) const;

    /// A message from the vendor broker (untrusted: what cannot be read is logged and
    /// dropped).
    void on_vendor_message(std::string_view topic, std::string_view payload, Now now);
    /// A command from the scheduler for `pile`.
    void on_command(std::string_view pile, const contract::PileCommand& cmd, Now now);
    /// The pile's station link (re)connected: its status is published again.
    void on_bus_connected(std::string_view pile, Now now);
    /// Timeouts of commands sent to chargers.
    void tick(Now now);
    /// Wall time of the next timeout, if any.
    std::optional<std::int64_t> next_due() const;

    BridgeOutput take_output();
    std::optional<VendorPileView> view(std::string_view pile) const;
    BridgeStats stats() const;

  private:
    enum class Purpose { None, Start, Stop, StopForTarget, SwitchOff, HoldOff, Reboot };
    struct Session {
        std::string id;
        std::int64_t order = 0;
        double target_kwh = 0;
        MeteredSession meter;
        bool started = false;  ///< the charger acknowledged the enable
        bool stop_sent = false;
        std::string stop_reason;
    };
    struct Call {
        bool on = false;
        Purpose purpose = Purpose::None;
        std::string command_id;  ///< the pile command to acknowledge, "" if none
        std::string session;     ///< Start: the session it starts
        std::int64_t deadline = 0;
    };
    struct Device {
        const VendorDevice* spec = nullptr;
        bool online = false;
        bool held_off = false;  ///< disabled once when first seen idle
        std::optional<ChargerActivity> activity;
        std::string activity_fault;
        int error_code = 0;
        bool faulted = false;  ///< as published
        std::string fault;
        bool operative = true;
        std::optional<double> current_a;
        std::optional<double> voltage_v;
        std::optional<double> power_kw;
        std::optional<double> session_counter_kwh;
        std::optional<double> total_kwh;
        std::optional<Session> session;
        std::optional<Call> outstanding;
        std::deque<Call> queue;
        /// Results still owed for commands given up on: a go-e result names no
        /// command, so the next ones answer those first.
        int late_results = 0;
        std::int64_t seq = 0;
        std::string published;
    };

    void apply(Device& d, const ChargerUpdate& u, Now now);
    void refresh_fault(Device& d, Now now);
    void meter(Device& d, Now now);
    void answer(Device& d, bool ok, const std::string& reason, Now now);
    void set_online(Device& d, bool online, Now now);

    void enqueue(Device& d, Call call, Now now);
    /// The call carrying the scheduler's `cmd` (acknowledged when it is answered).
    void enqueue_command(Device& d, Purpose purpose, const contract::PileCommand& cmd, Now now);
    void send_next(Device& d, Now now);
    void call_finished(Device& d, const Call& call, bool ok, const std::string& reason, Now now);
    void start_session(Device& d, const contract::PileCommand& cmd, Now now);
    /// Ends the session: finished if it reached its target, else interrupted with `reason`
    /// (or, `at_pile`, ended by the charger on its own).
    void end_session(Device& d, const std::string& reason, Now now, bool at_pile = false);

    void ack(const std::string& pile, const std::string& command_id, bool ok, std::string reason);
    void publish_status(Device& d, Now now, bool force = false);
    void event(Device& d, contract::PileEvent e, Now now);
    station::PileState pile_state(const Device& d) const;
    double power_of(const Device& d) const;
    void log(std::string level, std::string text);
    std::string name(const Device& d) const;

    VendorDevices devices_;
    BridgeOptions options_;
    std::vector<Device> state_;
    std::map<std::string, std::size_t, std::less<>> piles_;
    CommandAcks acks_;
    BridgeOutput out_;
};

}  // namespace gateway
