// station-pile-sim: simulates the piles of a profile on the MQTT bus, each pile its own
// MQTT client with its own last will (issue #3); with --dialect, as vendor chargers on
// their vendor's topics (issue #10, dialect_run.hpp). It follows the station clock
// published by the scheduler; before the first clock message it runs on wall time.

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bus/inbox.hpp"
#include "bus/mqtt_client.hpp"
#include "cli/cli.hpp"
#include "cli/pile_passwords.hpp"
#include "contract/topics.hpp"
#include "dialect_run.hpp"
#include "pilesim/sim_pile.hpp"
#include "station/clock.hpp"
#include "station/time.hpp"

namespace {

constexpr const char* kUsage =
    "usage: station-pile-sim [--broker URI] [--profile NAME|FILE] [--piles ID,ID...]\n"
    "                        [--telemetry-hz X] [--fault \"YYYY-MM-DD HH:MM:SS=PILE[:MIN]\"]...\n"
    "                        [--utc-offset-minutes N] [--dialect go-e|openevse]\n"
    "                        [--device PILE=ID]...\n"
    "\n"
    "Simulates the profile's piles (or those listed). --fault injects a fault into PILE at\n"
    "that station time, for MIN minutes (default: until cleared by a clear_fault command).\n"
    "With STATION_PILE_PASSWORDS_FILE naming a file of \"PILE PASSWORD\" lines, each pile\n"
    "logs in to the broker as its pile id with its own password; with STATION_MQTT_PASSWORD\n"
    "(or STATION_MQTT_PASSWORD_FILE) instead, every pile with that one\n"
    "(broker/prod.conf), as a real charger would.\n"
    "A broker URI ssl://HOST:PORT is MQTT over TLS: its certificate must chain to the\n"
    "authorities in the PEM file STATION_MQTT_CA_FILE names (else the system's) and name HOST.\n"
    "--dialect: each pile is a vendor charger on that vendor's MQTT topics instead (go-e\n"
    "API v2 or OpenEVSE; docs/gateway.md), knowing nothing of orders: enabled with a car\n"
    "plugged in, it delivers at its power on the station clock (read on the same broker).\n"
    "Its serial (go-e) or id (OpenEVSE) is the pile id, or ID with --device PILE=ID.\n";

int usage(const std::string& message) {
    return cli::usage_error("station-pile-sim", kUsage, message);
}

struct ScriptedFault {
    station::TimeMs at;
    std::string pile;
    int minutes;
    bool done = false;
};

}  // namespace

int main(int argc, char** argv) {
    if (const auto bad = cli::secrets_from_files({"STATION_MQTT_PASSWORD"}); !bad.empty()) {
        std::cerr << "station-pile-sim: " << bad << "\n";
        return 1;
    }
    std::string broker_ca;
    if (const auto bad = cli::broker_ca_file(broker_ca); !bad.empty()) {
        std::cerr << "station-pile-sim: " << bad << "\n";
        return 1;
    }
    std::string broker = "tcp://127.0.0.1:1883";
    std::string profile_arg(station::kDefaultProfile);
    std::string only;
    double telemetry_hz = 1;
    int utc_offset = 480;
    std::vector<ScriptedFault> faults;
    std::string dialect;
    std::map<std::string, std::string> devices;
    const auto done = cli::parse_options(
        argc, argv, "station-pile-sim", kUsage,
        [&](const std::string& arg, const std::string& value) {
            if (arg == "--broker") {
                broker = value;
            } else if (arg == "--profile") {
                profile_arg = value;
            } else if (arg == "--piles") {
                only = "," + value + ",";
            } else if (arg == "--telemetry-hz") {
                telemetry_hz = std::stod(value);
            } else if (arg == "--dialect") {
                if (value != "go-e" && value != "openevse") {
                    throw std::invalid_argument("expected go-e or openevse");
                }
                dialect = value;
            } else if (arg == "--device") {
                const auto eq = value.find('=');
                if (eq == std::string::npos || eq == 0 ||
                    !contract::valid_topic_id(value.substr(eq + 1))) {
                    throw std::invalid_argument("expected PILE=ID (ID usable as a topic level)");
                }
                devices[value.substr(0, eq)] = value.substr(eq + 1);
            } else if (arg == "--utc-offset-minutes") {
                utc_offset = std::stoi(value);
            } else if (arg == "--fault") {
                const auto eq = value.find('=');
                const auto at = eq == std::string::npos
                                    ? std::nullopt
                                    : station::parse_datetime(value.substr(0, eq));
                if (!at) {
                    throw std::invalid_argument("expected \"YYYY-MM-DD HH:MM:SS=PILE[:MINUTES]\"");
                }
                std::string pile = value.substr(eq + 1);
                int minutes = 0;
                if (const auto colon = pile.find(':'); colon != std::string::npos) {
                    minutes = std::stoi(pile.substr(colon + 1));
                    pile.resize(colon);
                }
                faults.push_back({*at, pile, minutes});
            } else {
                return false;
            }
            return true;
        });
    if (done) {
        return *done;
    }
    if (!(telemetry_hz > 0 && telemetry_hz <= 100)) {
        return usage("--telemetry-hz must be above 0 and at most 100");
    }
    auto loaded = cli::load_profile(profile_arg);
    if (!loaded.profile) {
        std::cerr << "station-pile-sim: " << loaded.error << "\n";
        return loaded.malformed ? 1 : 2;
    }
    auto log = [](std::string_view level, std::string_view message) {
        cli::log_line("station-pile-sim", level, message);
    };

    const std::string boot = "b" + std::to_string(cli::wall_ms());
    std::vector<std::unique_ptr<pilesim::SimPile>> piles;
    for (const auto& spec : loaded.profile->piles) {
        if (only.empty() || only.find("," + spec.id + ",") != std::string::npos) {
            piles.push_back(std::make_unique<pilesim::SimPile>(spec, boot));
        }
    }
    if (piles.empty()) {
        return usage("--piles names no pile of the profile");
    }
    // Each logs in as its id (a vendor charger: its device id) with its own password.
    std::vector<std::string> logins;
    for (const auto& p : piles) {
        const auto device = devices.find(p->spec().id);
        logins.push_back(dialect.empty() || device == devices.end() ? p->spec().id
                                                                    : device->second);
    }
    cli::PilePasswords passwords;
    if (const std::string bad = cli::load_pile_passwords(logins, passwords); !bad.empty()) {
        std::cerr << "station-pile-sim: " << bad << "\n";
        return 1;
    }
    if (!dialect.empty()) {
        pilesim::DialectRun run;
        run.broker = broker;
        run.dialect = dialect;
        for (const auto& p : piles) {
            run.piles.push_back(p->spec());
        }
        run.devices = devices;
        run.telemetry_hz = telemetry_hz;
        run.utc_offset_minutes = utc_offset;
        for (const auto& f : faults) {
            run.faults.push_back({f.at, f.pile, f.minutes});
        }
        run.passwords = passwords;
        run.ca_file = broker_ca;
        return pilesim::run_dialect(run);
    }

    bus::Inbox inbox;
    std::vector<std::unique_ptr<bus::MqttClient>> clients;
    const std::string clock_topic = contract::station_clock_topic();
    for (std::size_t i = 0; i < piles.size(); ++i) {
        const auto& id = piles[i]->spec().id;
        bus::ClientOptions copts;
        copts.uri = broker;
        copts.client_id = "pile-" + id;
        copts.ca_file = broker_ca;
        if (std::string password = passwords.of(id); !password.empty()) {
            copts.username = id;
            copts.password = std::move(password);
        }
        copts.will = piles[i]->last_will();
        copts.subscriptions = {{contract::pile_topic(id, contract::PileChannel::Commands), 1},
                               {clock_topic, 1}};
        const int source = static_cast<int>(i);
        clients.push_back(std::make_unique<bus::MqttClient>(
            copts,
            [&inbox, source](bus::Received m) {
                inbox.push({bus::InboxItem::Kind::Message, std::move(m), source});
            },
            [&inbox, source] {
                inbox.push({bus::InboxItem::Kind::Connected, {}, source});
            }));
    }
    cli::install_stop_handlers();
    // Start every connection before waiting on any (a Paho client connecting while
    // another waits can stall for seconds: stack-notes).
    for (auto& c : clients) {
        c->start();
    }
    log("info",
        std::to_string(piles.size()) + " piles of " + loaded.profile->name + " on " + broker);

    station::SimulatedClock clock(station::station_time_from_utc(cli::wall_ms(), utc_offset), 1,
                                  cli::wall_ms());
    std::int64_t last_clock_wall = -1;
    const auto telemetry_period = static_cast<std::int64_t>(1000.0 / telemetry_hz);
    std::int64_t next_telemetry = cli::wall_ms() + telemetry_period;
    auto flush = [&](std::size_t i) {
        for (const auto& p : piles[i]->take_publications()) {
            clients[i]->publish(p);
        }
    };

    while (!cli::stop_requested()) {
        std::int64_t wall = cli::wall_ms();
        const auto item = inbox.pop_until(
            std::chrono::steady_clock::now() +
            std::chrono::milliseconds(std::clamp<std::int64_t>(next_telemetry - wall, 0, 100)));
        wall = cli::wall_ms();
        station::TimeMs now = clock.now(wall);
        bool advance_all = false;
        if (item && item->kind == bus::InboxItem::Kind::Connected) {
            piles[static_cast<std::size_t>(item->source)]->report_status(now);
        } else if (item && item->kind == bus::InboxItem::Kind::Message) {
            const auto i = static_cast<std::size_t>(item->source);
            if (item->message.topic == clock_topic) {
                contract::ClockMessage m;
                if (std::string e = contract::parse(item->message.payload, m); !e.empty()) {
                    log("warn", "dropped a clock message: " + e);
                } else if (m.wall_ms > last_clock_wall) {
                    // Every pile's client receives each clock message: the first copy of a
                    // newer publication moves the clock, the other copies are old news.
                    last_clock_wall = m.wall_ms;
                    clock = station::SimulatedClock(m.at_ms, m.speed, m.wall_ms);
                    now = clock.now(wall);
                    advance_all = true;
                }
            } else {
                contract::PileCommand cmd;
                if (std::string e = contract::parse(item->message.payload, cmd); !e.empty()) {
                    log("warn", "pile " + piles[i]->spec().id + " dropped a command: " + e);
                } else {
                    piles[i]->on_command(cmd, now);
                    flush(i);
                }
            }
        }
        for (auto& f : faults) {
            if (!f.done && now >= f.at) {
                f.done = true;
                for (std::size_t i = 0; i < piles.size(); ++i) {
                    if (piles[i]->spec().id == f.pile) {
                        log("info", "injecting the scripted fault into " + f.pile);
                        piles[i]->inject_fault(f.minutes, f.at);
                    }
                }
            }
        }
        const bool telemetry_due = wall >= next_telemetry;
        if (telemetry_due) {
            next_telemetry = wall + telemetry_period;
        }
        if (advance_all || telemetry_due) {
            for (std::size_t i = 0; i < piles.size(); ++i) {
                piles[i]->advance(now);
                if (telemetry_due) {
                    piles[i]->report_telemetry(now);
                }
                flush(i);
            }
        }
    }
    log("info", "stopping: each pile says it is offline, then disconnects");
    for (std::size_t i = 0; i < piles.size(); ++i) {
        clients[i]->begin_stop(piles[i]->last_will());
    }
    for (auto& c : clients) {
        c->finish_stop(std::chrono::milliseconds(2000));
    }
    return 0;
}
