// station-gateway: chargers on the market as piles of the station (issue #10): OCPP 1.6J
// chargers (--chargers) and chargers on their vendor's MQTT dialect (--dialects). Wires
// the WebSocket server (ws_server), one MQTT client per pile (each with its pile's last
// will, as a pile of our own would have) and one client on the vendor broker to the two
// cores (gateway/gateway.hpp, gateway/vendor_bridge.hpp), which run on this thread only.
// It follows the station clock the scheduler publishes; before the first clock message it
// runs on wall time.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "bus/mqtt_client.hpp"
#include "cli/cli.hpp"
#include "cli/pile_passwords.hpp"
#include "contract/topics.hpp"
#include "gateway/charger_registry.hpp"
#include "gateway/connect_window.hpp"
#include "gateway/gateway.hpp"
#include "gateway/vendor_bridge.hpp"
#include "gateway/vendor_devices.hpp"
#include "gateway_metrics.hpp"
#include "metrics/endpoint.hpp"
#include "station/clock.hpp"
#include "ws_server.hpp"

namespace {

constexpr const char* kUsage =
    "usage: station-gateway [--chargers FILE] [--dialects FILE] [--broker URI] [--host ADDR]\n"
    "                       [--port N] [--heartbeat-s N] [--meter-interval-s N]\n"
    "                       [--call-timeout-ms N] [--max-connections N] [--boot-retry-s N]\n"
    "                       [--vendor-broker URI] [--vendor-user NAME]\n"
    "                       [--vendor-timeout-ms N] [--utc-offset-minutes N]\n"
    "                       [--tls-cert FILE --tls-key FILE] [--ws-ping-s N]\n"
    "                       [--connect-window N] [--metrics HOST:PORT]\n"
    "\n"
    "With --chargers: an OCPP 1.6J central system on ws://ADDR:N/ocpp/{identity} (default\n"
    "127.0.0.1:8180; --port 0 takes a free port, printed as \"listening on port N\"); each\n"
    "connector of the chargers registered in FILE is a pile on the bus at URI. With\n"
    "--dialects: each go-e or OpenEVSE charger listed in FILE, read on the vendor broker\n"
    "(default: the bus), is a pile as well (docs/gateway.md). At least one of the two. Each\n"
    "pile logs in to the broker as its pile id: with its own password from the file\n"
    "STATION_PILE_PASSWORDS_FILE names (\"PILE PASSWORD\" lines), or with the one\n"
    "STATION_MQTT_PASSWORD; the vendor broker's password is STATION_VENDOR_MQTT_PASSWORD\n"
    "(either password may be given as NAME_FILE, a file that holds it).\n"
    "A station broker URI ssl://HOST:PORT is MQTT over TLS: its certificate must chain to the\n"
    "authorities in the PEM file STATION_MQTT_CA_FILE names (else the system's) and name HOST.\n"
    "\n"
    "With --tls-cert and --tls-key (PEM: the server's certificate chain and its key) the\n"
    "port speaks TLS only: wss://ADDR:N/ocpp/{identity}, HTTP Basic over TLS (OCPP security\n"
    "profile 2). A connection silent for --ws-ping-s seconds (default 60) is pinged, and\n"
    "closed if it stays silent for 30 s more.\n"
    "\n"
    "The piles' MQTT clients connect at most --connect-window at a time (default 50; 0 = all\n"
    "at once): the MQTT library serialises its clients on one lock, and a thousand connecting\n"
    "together kept the gateway from answering chargers (docs/benchmarks.md).\n"
    "\n"
    "With --metrics: Prometheus metrics on http://HOST:PORT/metrics (PORT 0 takes a free\n"
    "port, printed as \"metrics on URL\"; docs/metrics.md). Default: none.\n";

struct WsConnected {
    gateway::ConnectionId conn;
    std::string identity;
};
struct WsText {
    gateway::ConnectionId conn;
    std::string text;
};
struct WsClosed {
    gateway::ConnectionId conn;
};
struct BusMessage {
    std::size_t pile;
    bus::Received message;
};
struct BusConnected {
    std::size_t pile;
};
struct BusLost {
    std::size_t pile;
};
struct VendorMessage {
    bus::Received message;
};
using Item =
    std::variant<WsConnected, WsText, WsClosed, BusMessage, BusConnected, BusLost, VendorMessage>;

// The hand-over point between the server's and Paho's threads and the main thread.
class Queue {
  public:
    void push(Item item) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            items_.push_back(std::move(item));
        }
        ready_.notify_one();
    }
    std::deque<Item> pop_all_until(std::chrono::steady_clock::time_point deadline) {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait_until(lock, deadline, [this] { return !items_.empty(); });
        std::deque<Item> all;
        all.swap(items_);
        return all;
    }

  private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<Item> items_;
};

}  // namespace

int main(int argc, char** argv) {
    if (const auto bad =
            cli::secrets_from_files({"STATION_MQTT_PASSWORD", "STATION_VENDOR_MQTT_PASSWORD"});
        !bad.empty()) {
        std::cerr << "station-gateway: " << bad << "\n";
        return 1;
    }
    std::string broker_ca;
    if (const auto bad = cli::broker_ca_file(broker_ca); !bad.empty()) {
        std::cerr << "station-gateway: " << bad << "\n";
        return 1;
    }
    std::string broker = "tcp://127.0.0.1:1883";
    std::string chargers_path;
    std::string dialects_path;
    std::string vendor_broker;
    std::string vendor_user;
    gateway::BridgeOptions bridge_options;
    gateway::ServerOptions server_options;
    gateway::GatewayOptions options;
    int utc_offset = 480;
    long long connect_window = 50;
    std::optional<metrics::Listen> metrics_listen;
    const auto done =
        cli::parse_options(argc, argv, "station-gateway", kUsage,
                           [&](const std::string& arg, const std::string& value) {
                               if (arg == "--broker") {
                                   broker = value;
                               } else if (arg == "--chargers") {
                                   chargers_path = value;
                               } else if (arg == "--dialects") {
                                   dialects_path = value;
                               } else if (arg == "--vendor-broker") {
                                   vendor_broker = value;
                               } else if (arg == "--vendor-user") {
                                   vendor_user = value;
                               } else if (arg == "--vendor-timeout-ms") {
                                   bridge_options.command_timeout_ms = std::stoll(value);
                               } else if (arg == "--host") {
                                   server_options.host = value;
                               } else if (arg == "--port") {
                                   server_options.port = std::stoi(value);
                               } else if (arg == "--heartbeat-s") {
                                   options.heartbeat_interval_s = std::stoll(value);
                               } else if (arg == "--meter-interval-s") {
                                   options.meter_value_sample_interval_s = std::stoll(value);
                               } else if (arg == "--call-timeout-ms") {
                                   options.call_timeout_ms = std::stoll(value);
                               } else if (arg == "--boot-retry-s") {
                                   options.pending_retry_s = std::stoll(value);
                               } else if (arg == "--max-connections") {
                                   server_options.max_connections = std::stoi(value);
                               } else if (arg == "--tls-cert") {
                                   server_options.tls_cert = value;
                               } else if (arg == "--tls-key") {
                                   server_options.tls_key = value;
                               } else if (arg == "--ws-ping-s") {
                                   server_options.idle_ping_ms = std::stoll(value) * 1000;
                               } else if (arg == "--connect-window") {
                                   connect_window = std::stoll(value);
                               } else if (arg == "--metrics") {
                                   metrics_listen = metrics::parse_listen(value);
                               } else if (arg == "--utc-offset-minutes") {
                                   utc_offset = std::stoi(value);
                               } else {
                                   return false;
                               }
                               return true;
                           });
    if (done) {
        return *done;
    }
    if (chargers_path.empty() && dialects_path.empty()) {
        return cli::usage_error("station-gateway", kUsage,
                                "--chargers FILE or --dialects FILE is required");
    }
    if (server_options.port < 0 || server_options.port > 65535 || options.call_timeout_ms < 100 ||
        options.heartbeat_interval_s < 1 || options.pending_retry_s < 1 ||
        options.meter_value_sample_interval_s < 0 || server_options.max_connections < 1 ||
        bridge_options.command_timeout_ms < 100 || server_options.idle_ping_ms < 1000 ||
        connect_window < 0) {
        return cli::usage_error("station-gateway", kUsage, "an option is out of range");
    }
    if (server_options.tls_cert.empty() != server_options.tls_key.empty()) {
        return cli::usage_error("station-gateway", kUsage, "--tls-cert and --tls-key go together");
    }
    if (vendor_broker.empty()) {
        vendor_broker = broker;
    }
    gateway::RegistryLoad loaded{gateway::Registry{}, ""};
    if (!chargers_path.empty()) {
        std::string text;
        if (!cli::read_file(chargers_path, text)) {
            std::cerr << "station-gateway: cannot read " << chargers_path << "\n";
            return 2;
        }
        loaded = gateway::parse_registry(text);
        if (!loaded.registry) {
            std::cerr << "station-gateway: " << chargers_path << ": " << loaded.error << "\n";
            return 1;
        }
    }
    gateway::VendorDevicesLoad dialects{gateway::VendorDevices{}, ""};
    if (!dialects_path.empty()) {
        std::string text;
        if (!cli::read_file(dialects_path, text)) {
            std::cerr << "station-gateway: cannot read " << dialects_path << "\n";
            return 2;
        }
        dialects = gateway::parse_vendor_devices(text);
        if (!dialects.devices) {
            std::cerr << "station-gateway: " << dialects_path << ": " << dialects.error << "\n";
            return 1;
        }
    }
    auto log = [](const std::string& level, const std::string& message) {
        cli::log_line("station-gateway", level, message);
    };

    const std::int64_t started = cli::wall_ms();
    options.boot = "g" + std::to_string(started);
    options.first_transaction_id = (started / 1000) % 1'000'000'000;
    bridge_options.boot = "v" + std::to_string(started);
    const bool ocpp = !chargers_path.empty();
    gateway::Gateway gw(std::move(*loaded.registry), options);
    gateway::VendorBridge bridge(std::move(*dialects.devices), bridge_options);
    // The OCPP piles first, then the vendor piles: `vendor_from` is the first vendor index.
    std::vector<std::string> piles = gw.pile_ids();
    const std::size_t vendor_from = piles.size();
    for (const auto& id : bridge.pile_ids()) {
        if (std::find(piles.begin(), piles.end(), id) != piles.end()) {
            std::cerr << "station-gateway: pile \"" << id
                      << "\" is both in the chargers file and in the dialects file\n";
            return 1;
        }
        piles.push_back(id);
    }
    // The metrics endpoint before anything connects: a bad address stops the start.
    std::shared_ptr<prometheus::Registry> registry;
    std::unique_ptr<gateway::GatewayMetrics> stats;
    std::unique_ptr<metrics::Endpoint> metrics_endpoint;
    if (metrics_listen) {
        registry = std::make_shared<prometheus::Registry>();
        stats = std::make_unique<gateway::GatewayMetrics>(*registry);
        stats->update(gw.stats(), bridge.stats());
        try {
            metrics_endpoint = std::make_unique<metrics::Endpoint>(registry, *metrics_listen);
        } catch (const std::exception& e) {
            log("error", e.what());  // "cannot serve metrics on HOST:PORT: ..."
            return 1;
        }
        log("info", "metrics on " + metrics_endpoint->url());
    }
    auto offline_status = [&](std::size_t i) {
        return i < vendor_from ? gw.offline_status(piles[i]) : bridge.offline_status(piles[i]);
    };

    Queue queue;
    std::mutex log_mutex;
    gateway::ServerEvents events;
    events.connected = [&queue](gateway::ConnectionId c, std::string identity) {
        queue.push(WsConnected{c, std::move(identity)});
    };
    events.text = [&queue](gateway::ConnectionId c, std::string t) {
        queue.push(WsText{c, std::move(t)});
    };
    events.closed = [&queue](gateway::ConnectionId c) { queue.push(WsClosed{c}); };
    events.log = [&log, &log_mutex](std::string level, std::string message) {
        std::lock_guard<std::mutex> lock(log_mutex);
        log(level, message);
    };

    // One MQTT client per pile, each with its last will {online: false}, logged in as the
    // pile with its own password.
    cli::PilePasswords passwords;
    if (const std::string bad = cli::load_pile_passwords(piles, passwords); !bad.empty()) {
        log("error", bad);
        return 1;
    }
    const std::string clock_topic = contract::station_clock_topic();
    std::vector<std::unique_ptr<bus::MqttClient>> clients;
    std::map<std::string, std::size_t> pile_index;
    for (std::size_t i = 0; i < piles.size(); ++i) {
        pile_index[piles[i]] = i;
        bus::ClientOptions copts;
        copts.uri = broker;
        copts.ca_file = broker_ca;
        copts.client_id = "pile-" + piles[i];
        if (std::string password = passwords.of(piles[i]); !password.empty()) {
            copts.username = piles[i];
            copts.password = std::move(password);
        }
        copts.will = offline_status(i);
        copts.subscriptions = {
            {contract::pile_topic(piles[i], contract::PileChannel::Commands), 1}};
        if (i == 0) {
            copts.subscriptions.push_back({clock_topic, 1});
        }
        clients.push_back(std::make_unique<bus::MqttClient>(
            copts,
            [&queue, i](bus::Received m) {
                queue.push(BusMessage{i, std::move(m)});
            },
            [&queue, i] { queue.push(BusConnected{i}); }, [&queue, i] { queue.push(BusLost{i}); }));
    }
    // One client on the vendor broker for every vendor device: it is the bridge, not a
    // charger, so it has no last will; retained values arrive again on every reconnect.
    std::unique_ptr<bus::MqttClient> vendor;
    if (!bridge.devices().devices.empty()) {
        bus::ClientOptions vopts;
        vopts.uri = vendor_broker;
        vopts.client_id = "station-gateway-vendor-" + std::to_string(started);
        vopts.persistent_session = false;
        vopts.username = vendor_user;
        vopts.password = vendor_user.empty() ? "" : cli::env("STATION_VENDOR_MQTT_PASSWORD");
        for (const auto& topic : bridge.vendor_subscriptions()) {
            vopts.subscriptions.push_back({topic, 1});
        }
        vendor = std::make_unique<bus::MqttClient>(
            vopts, [&queue](bus::Received m) { queue.push(VendorMessage{std::move(m)}); });
    }
    cli::install_stop_handlers();
    // Until its MQTT link is up the station cannot hear a pile: its charger's boot is
    // answered Pending (docs/ocpp.md).
    for (std::size_t i = 0; i < vendor_from; ++i) {
        gw.on_bus_lost(piles[i], gateway::Now{cli::wall_ms(), cli::wall_ms()});
    }
    // The piles' clients connect a window at a time (gateway/connect_window.hpp).
    gateway::ConnectWindow connecting(clients.size(), static_cast<std::size_t>(connect_window),
                                      5000);
    auto start_clients = [&] {
        for (const std::size_t i : connecting.due(cli::wall_ms())) {
            clients[i]->start();
        }
    };
    start_clients();
    if (vendor) {
        vendor->start();
        log("info", "vendor bridge: " + std::to_string(bridge.devices().devices.size()) +
                        " devices on " + vendor_broker + ", piles on bus " + broker);
    }

    std::unique_ptr<gateway::OcppServer> server;
    if (ocpp) {
        server = std::make_unique<gateway::OcppServer>(gw.registry(), server_options, events);
        try {
            server->start();
        } catch (const std::exception& e) {
            log("error", std::string("cannot listen on ") + server_options.host + ":" +
                             std::to_string(server_options.port) + ": " + e.what());
            return 1;
        }
        log("info", "listening on port " + std::to_string(server->port()) + " (" +
                        (server->tls() ? "wss://" : "ws://") + server_options.host + ":" +
                        std::to_string(server->port()) + "/ocpp/{identity}), " +
                        std::to_string(gw.registry().chargers.size()) + " chargers, " +
                        std::to_string(vendor_from) + " piles, bus " + broker);
    }
    cli::notify_ready(server ? "listening on port " + std::to_string(server->port())
                             : "bridging vendor chargers");

    station::SimulatedClock clock(station::station_time_from_utc(cli::wall_ms(), utc_offset), 1,
                                  cli::wall_ms());
    auto now = [&clock] {
        const std::int64_t wall = cli::wall_ms();
        return gateway::Now{clock.now(wall), wall};
    };
    auto apply = [&] {
        gateway::Output out = gw.take_output();
        gateway::BridgeOutput bout = bridge.take_output();
        if (stats) {
            stats->count(out);
            stats->count(bout);
        }
        if (server) {
            for (auto& [conn, frame] : out.frames) {
                server->send(conn, std::move(frame));
            }
            for (const auto conn : out.closes) {
                server->close(conn);
            }
        }
        auto to_pile = [&](const contract::Publication& p) {
            const auto topic = contract::parse_pile_topic(p.topic);
            const auto it = topic ? pile_index.find(topic->pile) : pile_index.end();
            if (it != pile_index.end()) {
                clients[it->second]->publish(p);
            }
        };
        for (const auto& p : out.publications) {
            to_pile(p);
        }
        for (const auto& p : bout.station) {
            to_pile(p);
        }
        for (const auto& p : bout.vendor) {
            if (vendor) {
                vendor->publish(p);
            }
        }
        std::lock_guard<std::mutex> lock(log_mutex);
        for (const auto& l : out.log) {
            log(l.level, l.text);
        }
        for (const auto& l : bout.log) {
            log(l.level, l.text);
        }
    };

    while (!cli::stop_requested()) {
        auto items =
            queue.pop_all_until(std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
        for (auto& item : items) {
            const gateway::Now t = now();
            if (auto* c = std::get_if<WsConnected>(&item)) {
                gw.on_connected(c->conn, c->identity, t);
            } else if (auto* x = std::get_if<WsText>(&item)) {
                gw.on_text(x->conn, x->text, t);
            } else if (auto* d = std::get_if<WsClosed>(&item)) {
                gw.on_closed(d->conn, t);
            } else if (auto* b = std::get_if<BusConnected>(&item)) {
                connecting.connected(b->pile);
                if (b->pile < vendor_from) {
                    gw.on_bus_connected(piles[b->pile], t);
                } else {
                    bridge.on_bus_connected(piles[b->pile], t);
                }
            } else if (auto* l = std::get_if<BusLost>(&item)) {
                if (l->pile < vendor_from) {
                    gw.on_bus_lost(piles[l->pile], t);
                }
            } else if (auto* v = std::get_if<VendorMessage>(&item)) {
                bridge.on_vendor_message(v->message.topic, v->message.payload, t);
            } else if (auto* m = std::get_if<BusMessage>(&item)) {
                if (m->message.topic == clock_topic) {
                    contract::ClockMessage cm;
                    if (std::string e = contract::parse(m->message.payload, cm); e.empty()) {
                        clock = station::SimulatedClock(cm.at_ms, cm.speed, cm.wall_ms);
                    } else {
                        log("warn", "dropped a clock message: " + e);
                    }
                } else {
                    contract::PileCommand cmd;
                    if (std::string e = contract::parse(m->message.payload, cmd); !e.empty()) {
                        log("warn", "pile " + piles[m->pile] + " dropped a command: " + e);
                    } else if (m->pile < vendor_from) {
                        gw.on_command(piles[m->pile], cmd, t);
                    } else {
                        bridge.on_command(piles[m->pile], cmd, t);
                    }
                }
            }
            apply();
        }
        if (!connecting.all_started()) {
            start_clients();
        }
        gw.tick(now());
        bridge.tick(now());
        apply();
        if (stats) {
            stats->update(gw.stats(), bridge.stats());
        }
    }
    log("info", "stopping: each pile says it is offline, then disconnects");
    if (server) {
        server->stop();
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
        clients[i]->begin_stop(offline_status(i));
    }
    if (vendor) {
        vendor->begin_stop(std::nullopt);
    }
    for (auto& c : clients) {
        c->finish_stop(std::chrono::milliseconds(2000));
    }
    if (vendor) {
        vendor->finish_stop(std::chrono::milliseconds(2000));
    }
    return 0;
}
