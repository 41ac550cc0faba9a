// station-scheduler: runs the station core on the MQTT bus (issue #3). This file only
// wires the pieces: options, the Paho client, the inbox, and SchedulerApp's loop.

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "bus/inbox.hpp"
#include "bus/mqtt_client.hpp"
#include "cli/cli.hpp"
#include "metrics/endpoint.hpp"
#include "scheduler_metrics.hpp"
#include "service/file_journal.hpp"
#include "service/scheduler_app.hpp"
#include "station/time.hpp"

namespace {

constexpr const char* kUsage =
    "usage: station-scheduler [--broker URI] [--profile NAME|FILE] [--client-id ID]\n"
    "                         [--sim-start \"YYYY-MM-DD HH:MM:SS\"] [--sim-speed X]\n"
    "                         [--utc-offset-minutes N] [--state-interval-ms N]\n"
    "                         [--state-refresh-ms N] [--offline-grace-ms N] [--mqtt-user NAME]\n"
    "                         [--journal FILE] [--snapshot FILE] [--snapshot-every N]\n"
    "                         [--metered-piles all|ID,ID...] [--metrics HOST:PORT]\n"
    "\n"
    "Without --sim-start the station clock is wall time (UTC + offset, default +480).\n"
    "With it, the clock starts there and runs at --sim-speed (default 1; 0 = stepped by\n"
    "clock requests). With --mqtt-user the broker password is read from\n"
    "STATION_MQTT_PASSWORD, or from the file STATION_MQTT_PASSWORD_FILE names.\n"
    "A broker URI ssl://HOST:PORT is MQTT over TLS: its certificate must chain to the\n"
    "authorities in the PEM file STATION_MQTT_CA_FILE names (else the system's) and name HOST.\n"
    "With --journal every command is kept in FILE before it takes effect, and a restart\n"
    "with the same FILE resumes the station where it was. Every --snapshot-every\n"
    "journal lines (default 100000, 0 = never) the station is saved to\n"
    "the snapshot file (default: the journal's name + .snap) and the journal restarts\n"
    "after it, so that a restart reads the snapshot and replays only what followed.\n"
    "--metered-piles marks piles of the profile metered (real chargers, station-gateway):\n"
    "their sessions end when their meter says so, billed as measured (docs/gateway.md).\n"
    "--metrics serves Prometheus metrics at http://HOST:PORT/metrics (docs/operations.md).\n";

}  // namespace

constexpr std::size_t kBurst = 32;

int main(int argc, char** argv) {
    const auto started = std::chrono::steady_clock::now();  // "station ready in" counts from here
    if (const auto bad = cli::secrets_from_files({"STATION_MQTT_PASSWORD"}); !bad.empty()) {
        std::cerr << "station-scheduler: " << bad << "\n";
        return 1;
    }
    std::string broker_ca;
    if (const auto bad = cli::broker_ca_file(broker_ca); !bad.empty()) {
        std::cerr << "station-scheduler: " << bad << "\n";
        return 1;
    }
    std::string broker = "tcp://127.0.0.1:1883";
    std::string profile_arg(station::kDefaultProfile);
    std::string client_id = "station-scheduler";
    std::string mqtt_user;
    std::string journal_path;
    std::string snapshot_path;
    std::string metered_piles;
    std::optional<metrics::Listen> metrics_at;
    service::SchedulerOptions options;
    const auto done = cli::parse_options(
        argc, argv, "station-scheduler", kUsage,
        [&](const std::string& arg, const std::string& value) {
            if (arg == "--broker") {
                broker = value;
            } else if (arg == "--profile") {
                profile_arg = value;
            } else if (arg == "--client-id") {
                client_id = value;
            } else if (arg == "--sim-start") {
                const auto t = station::parse_datetime(value);
                if (!t) {
                    throw std::invalid_argument("expected \"YYYY-MM-DD HH:MM:SS\"");
                }
                options.clock.simulated = true;
                options.clock.start = *t;
            } else if (arg == "--sim-speed") {
                options.clock.speed = std::stod(value);
            } else if (arg == "--utc-offset-minutes") {
                options.clock.utc_offset_minutes = std::stoi(value);
            } else if (arg == "--state-interval-ms") {
                options.state_interval_ms = std::stoll(value);
            } else if (arg == "--state-refresh-ms") {
                options.state_refresh_ms = std::stoll(value);
            } else if (arg == "--mqtt-user") {
                mqtt_user = value;
            } else if (arg == "--journal") {
                journal_path = value;
            } else if (arg == "--snapshot") {
                snapshot_path = value;
            } else if (arg == "--snapshot-every") {
                options.snapshot_every = std::stoll(value);
            } else if (arg == "--metered-piles") {
                metered_piles = value;
            } else if (arg == "--metrics") {
                metrics_at = metrics::parse_listen(value);
            } else if (arg == "--offline-grace-ms") {
                options.offline_grace_ms = std::stoll(value);
            } else {
                return false;
            }
            return true;
        });
    if (done) {
        return *done;
    }
    auto loaded = cli::load_profile(profile_arg);
    if (!loaded.profile) {
        std::cerr << "station-scheduler: " << loaded.error << "\n";
        return loaded.malformed ? 1 : 2;
    }
    if (const std::string bad = cli::mark_metered(*loaded.profile, metered_piles); !bad.empty()) {
        return cli::usage_error("station-scheduler", kUsage, "--metered-piles: " + bad);
    }
    options.boot = client_id + "-" + std::to_string(cli::wall_ms());
    options.run = options.boot;
    std::unique_ptr<service::FileJournal> journal;
    if (!journal_path.empty()) {
        try {
            journal = std::make_unique<service::FileJournal>(journal_path);
        } catch (const std::exception& e) {
            std::cerr << "station-scheduler: " << e.what() << "\n";
            return 1;
        }
        options.resume = journal->lines();
        if (snapshot_path.empty()) {
            snapshot_path = journal_path + ".snap";
        }
        try {
            options.snapshot = service::read_snapshot_file(snapshot_path);
        } catch (const std::exception& e) {
            std::cerr << "station-scheduler: " << e.what() << "\n";
            return 1;
        }
        options.save_snapshot = [&journal, snapshot_path](const service::Snapshot& snap,
                                                          const std::string& start_line) {
            journal->sync();  // the snapshot covers every line written so far
            service::write_snapshot_file(snapshot_path, snap);
            journal->compact(start_line);
        };
        // Group commit: lines are written as commands come and synced once per burst,
        // before anything the burst did is published (see the loop below).
        options.journal = [&journal](const std::string& line) { journal->write(line); };
    }

    auto log = [](std::string_view level, std::string_view message) {
        cli::log_line("station-scheduler", level, message);
    };
    const bool simulated = options.clock.simulated;
    std::unique_ptr<service::SchedulerApp> app_ptr;
    try {
        // Moved, not copied: the options hold the whole snapshot and journal.
        app_ptr = std::make_unique<service::SchedulerApp>(std::move(*loaded.profile),
                                                          std::move(options), cli::wall_ms(), log);
        log("info", "station ready in " +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - started)
                                           .count()) +
                        " ms");
    } catch (const std::exception& e) {
        std::cerr << "station-scheduler: cannot start: " << e.what() << "\n";
        return 1;
    }
    service::SchedulerApp& app = *app_ptr;
    std::unique_ptr<service::SchedulerMetrics> monitor;
    std::unique_ptr<metrics::Endpoint> endpoint;
    if (metrics_at) {
        auto registry = std::make_shared<prometheus::Registry>();
        monitor = std::make_unique<service::SchedulerMetrics>(registry);
        try {
            endpoint = std::make_unique<metrics::Endpoint>(registry, *metrics_at);
        } catch (const std::exception& e) {
            std::cerr << "station-scheduler: " << e.what() << "\n";
            return 1;
        }
        log("info", "metrics on " + endpoint->url());
    }

    bus::Inbox inbox;
    bus::ClientOptions copts;
    copts.uri = broker;
    copts.client_id = client_id;
    copts.username = mqtt_user;
    copts.password = cli::env("STATION_MQTT_PASSWORD");
    copts.ca_file = broker_ca;
    copts.subscriptions = service::SchedulerApp::subscriptions();
    bus::MqttClient client(
        copts,
        [&inbox](bus::Received m) {
            inbox.push({bus::InboxItem::Kind::Message, std::move(m), 0});
        },
        [&inbox] {
            inbox.push({bus::InboxItem::Kind::Connected, {}, 0});
        },
        [&inbox] {
            inbox.push({bus::InboxItem::Kind::Lost, {}, 0});
        });
    cli::install_stop_handlers();
    client.start();
    log("info", "profile " + app.station().profile().name + ", broker " + broker +
                    (simulated ? ", simulated clock" : ", wall clock"));

    auto publish = [&](std::vector<contract::Publication> out) {
        if (out.empty()) {
            return;
        }
        if (journal) {
            journal->sync();
        }
        for (const auto& p : out) {
            client.publish(p);
        }
    };
    int status = 0;
    try {
        while (!cli::stop_requested()) {
            std::int64_t wall = cli::wall_ms();
            // Sleep until the next thing is due, a message arrives, or 200 ms pass (to notice
            // a stop signal).
            std::int64_t wait = 200;
            if (const auto due = app.next_due_wall_ms(wall)) {
                wait = std::clamp<std::int64_t>(*due - wall, 0, 200);
            }
            auto batch = inbox.pop_all_until(std::chrono::steady_clock::now() +
                                             std::chrono::milliseconds(wait));
            wall = cli::wall_ms();
            const auto pass = std::chrono::steady_clock::now();
            for (const auto& item : batch) {
                switch (item.kind) {
                    case bus::InboxItem::Kind::Message:
                        app.on_message(item.message.topic, item.message.payload, wall);
                        break;
                    case bus::InboxItem::Kind::Connected:
                        log("info", "connected to the broker");
                        app.on_connected(wall);
                        // Ready once the station is resumed and on the bus (Type=notify).
                        cli::notify_ready("connected to " + broker + ", log position " +
                                          std::to_string(app.log_position()));
                        if (monitor) {
                            monitor->broker_connected(true);
                        }
                        break;
                    case bus::InboxItem::Kind::Lost:
                        log("warn", "lost the broker; buffering until it is back");
                        app.on_connection_lost();
                        cli::notify_status("lost the broker " + broker + "; buffering");
                        if (monitor) {
                            monitor->broker_connected(false);
                        }
                        break;
                }
            }
            // What the messages produced (pile commands, replies) goes out before tick() may
            // build the periodic station state, which takes milliseconds at a thousand piles:
            // once the journal holds it (one fsync for the burst), never before.
            publish(app.take_publications());
            app.tick(wall);
            publish(app.take_publications());
            if (monitor) {
                const auto end = std::chrono::steady_clock::now();
                monitor->inbox(batch.size());
                monitor->loop_pass(std::chrono::duration<double>(end - pass).count(), batch.size());
                monitor->update(app, end);
            }
            // Under a burst, let the next batch gather instead of waking for every message: on
            // a small machine the wake-ups cost the CPU the broker needs. A single message (the
            // usual case, and every fault report) is handled at once.
            if (batch.size() >= kBurst) {
                std::this_thread::sleep_for(std::chrono::microseconds(500));
            }
        }
    } catch (const std::exception& e) {
        // The journal refused a line or a sync: what the station did since the last sync
        // may not be published (it would not come back after a restart), so the scheduler
        // stops without it (its supervisor restarts it from the journal).
        log("error", std::string("cannot go on: ") + e.what());
        status = 1;
    }
    log("info", "stopping");
    client.begin_stop(std::nullopt);
    client.finish_stop(std::chrono::milliseconds(1000));
    return status;
}
