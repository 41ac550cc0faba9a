// station-gateway: OCPP 1.6J chargers as piles of the station (issue #10). Wires the
// WebSocket server (ws_server) and one MQTT client per pile (each with its pile's last
// will, as a pile of our own would have) to the gateway's core (gateway/gateway.hpp), which
// runs on this thread only. It follows the station clock the scheduler publishes; before
// the first clock message it runs on wall time.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "bus/mqtt_client.hpp"
#include "cli/cli.hpp"
#include "contract/topics.hpp"
#include "gateway/charger_registry.hpp"
#include "gateway/gateway.hpp"
#include "station/clock.hpp"
#include "ws_server.hpp"

namespace {

constexpr const char* kUsage =
    "usage: station-gateway --chargers FILE [--broker URI] [--host ADDR] [--port N]\n"
    "                       [--heartbeat-s N] [--meter-interval-s N] [--call-timeout-ms N]\n"
    "                       [--max-connections N] [--utc-offset-minutes N]\n"
    "\n"
    "An OCPP 1.6J central system on ws://ADDR:N/ocpp/{identity} (default 127.0.0.1:8180;\n"
    "--port 0 takes a free port, printed as \"listening on port N\"). Each connector of the\n"
    "chargers registered in FILE (docs/gateway.md) is a pile on the bus at URI. With\n"
    "STATION_MQTT_PASSWORD set, each pile logs in to the broker as its pile id.\n";

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
using Item = std::variant<WsConnected, WsText, WsClosed, BusMessage, BusConnected>;

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
    std::string broker = "tcp://127.0.0.1:1883";
    std::string chargers_path;
    gateway::ServerOptions server_options;
    gateway::GatewayOptions options;
    int utc_offset = 480;
    const auto done = cli::parse_options(argc, argv, "station-gateway", kUsage,
                                         [&](const std::string& arg, const std::string& value) {
                                             if (arg == "--broker") {
                                                 broker = value;
                                             } else if (arg == "--chargers") {
                                                 chargers_path = value;
                                             } else if (arg == "--host") {
                                                 server_options.host = value;
                                             } else if (arg == "--port") {
                                                 server_options.port = std::stoi(value);
                                             } else if (arg == "--heartbeat-s") {
                                                 options.heartbeat_interval_s = std::stoll(value);
                                             } else if (arg == "--meter-interval-s") {
                                                 options.meter_value_sample_interval_s =
                                                     std::stoll(value);
                                             } else if (arg == "--call-timeout-ms") {
                                                 options.call_timeout_ms = std::stoll(value);
                                             } else if (arg == "--max-connections") {
                                                 server_options.max_connections = std::stoi(value);
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
    if (chargers_path.empty()) {
        return cli::usage_error("station-gateway", kUsage, "--chargers FILE is required");
    }
    if (server_options.port < 0 || server_options.port > 65535 || options.call_timeout_ms < 100 ||
        options.heartbeat_interval_s < 1 || options.meter_value_sample_interval_s < 0 ||
        server_options.max_connections < 1) {
        return cli::usage_error("station-gateway", kUsage, "an option is out of range");
    }
    std::string text;
    if (!cli::read_file(chargers_path, text)) {
        std::cerr << "station-gateway: cannot read " << chargers_path << "\n";
        return 2;
    }
    auto loaded = gateway::parse_registry(text);
    if (!loaded.registry) {
        std::cerr << "station-gateway: " << chargers_path << ": " << loaded.error << "\n";
        return 1;
    }
    auto log = [](const std::string& level, const std::string& message) {
        std::cerr << "station-gateway " << level << ": " << message << std::endl;
    };

    const std::int64_t started = cli::wall_ms();
    options.boot = "g" + std::to_string(started);
    options.first_transaction_id = (started / 1000) % 1'000'000'000;
    gateway::Gateway gw(std::move(*loaded.registry), options);
    const std::vector<std::string> piles = gw.pile_ids();

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

    // One MQTT client per pile, each with its last will {online: false}.
    const std::string mqtt_password = cli::env("STATION_MQTT_PASSWORD");
    const std::string clock_topic = contract::station_clock_topic();
    std::vector<std::unique_ptr<bus::MqttClient>> clients;
    std::map<std::string, std::size_t> pile_index;
    for (std::size_t i = 0; i < piles.size(); ++i) {
        pile_index[piles[i]] = i;
        bus::ClientOptions copts;
        copts.uri = broker;
        copts.client_id = "pile-" + piles[i];
        if (!mqtt_password.empty()) {
            copts.username = piles[i];
            copts.password = mqtt_password;
        }
        copts.will = gw.offline_status(piles[i]);
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
            [&queue, i] { queue.push(BusConnected{i}); }));
    }
    cli::install_stop_handlers();
    for (auto& c : clients) {
        c->start();
    }

    gateway::OcppServer server(gw.registry(), server_options, events);
    try {
        server.start();
    } catch (const std::exception& e) {
        log("error", std::string("cannot listen on ") + server_options.host + ":" +
                         std::to_string(server_options.port) + ": " + e.what());
        return 1;
    }
    log("info", "listening on port " + std::to_string(server.port()) + " (ws://" +
                    server_options.host + ":" + std::to_string(server.port()) +
                    "/ocpp/{identity}), " + std::to_string(gw.registry().chargers.size()) +
                    " chargers, " + std::to_string(piles.size()) + " piles, bus " + broker);

    station::SimulatedClock clock(station::station_time_from_utc(cli::wall_ms(), utc_offset), 1,
                                  cli::wall_ms());
    auto now = [&clock] {
        const std::int64_t wall = cli::wall_ms();
        return gateway::Now{clock.now(wall), wall};
    };
    auto apply = [&] {
        gateway::Output out = gw.take_output();
        for (auto& [conn, frame] : out.frames) {
            server.send(conn, std::move(frame));
        }
        for (const auto conn : out.closes) {
            server.close(conn);
        }
        for (const auto& p : out.publications) {
            const auto topic = contract::parse_pile_topic(p.topic);
            const auto it = topic ? pile_index.find(topic->pile) : pile_index.end();
            if (it != pile_index.end()) {
                clients[it->second]->publish(p);
            }
        }
        std::lock_guard<std::mutex> lock(log_mutex);
        for (const auto& l : out.log) {
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
                gw.on_bus_connected(piles[b->pile], t);
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
                    } else {
                        gw.on_command(piles[m->pile], cmd, t);
                    }
                }
            }
            apply();
        }
        gw.tick(now());
        apply();
    }
    log("info", "stopping: each pile says it is offline, then disconnects");
    server.stop();
    for (std::size_t i = 0; i < clients.size(); ++i) {
        clients[i]->begin_stop(gw.offline_status(piles[i]));
    }
    for (auto& c : clients) {
        c->finish_stop(std::chrono::milliseconds(2000));
    }
    return 0;
}
