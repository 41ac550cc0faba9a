#include "dialect_run.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>

#include "bus/inbox.hpp"
#include "bus/mqtt_client.hpp"
#include "cli/cli.hpp"
#include "contract/messages.hpp"
#include "contract/topics.hpp"
#include "pilesim/sim_charger.hpp"
#include "pilesim/vendor_dialect.hpp"
#include "station/clock.hpp"

namespace pilesim {

int run_dialect(const DialectRun& run) {
    auto log = [](std::string_view level, std::string_view message) {
        std::cerr << "station-pile-sim " << level << ": " << message << std::endl;
    };
    station::SimulatedClock clock(
        station::station_time_from_utc(cli::wall_ms(), run.utc_offset_minutes), 1, cli::wall_ms());
    std::vector<std::unique_ptr<SimCharger>> chargers;
    std::vector<std::unique_ptr<VendorDialect>> dialects;
    std::vector<std::string> device_ids;
    for (const auto& spec : run.piles) {
        const auto it = run.devices.find(spec.id);
        const std::string device = it == run.devices.end() ? spec.id : it->second;
        device_ids.push_back(device);
        chargers.push_back(std::make_unique<SimCharger>(spec, clock.now(cli::wall_ms())));
        dialects.push_back(run.dialect == "go-e" ? make_goe_dialect(device)
                                                 : make_openevse_dialect(device));
    }

    bus::Inbox inbox;
    std::vector<std::unique_ptr<bus::MqttClient>> clients;
    const std::string clock_topic = contract::station_clock_topic();
    for (std::size_t i = 0; i < chargers.size(); ++i) {
        bus::ClientOptions copts;
        copts.uri = run.broker;
        copts.client_id = run.dialect + "-" + device_ids[i];
        copts.ca_file = run.ca_file;
        if (std::string password = run.passwords.of(device_ids[i]); !password.empty()) {
            copts.username = device_ids[i];
            copts.password = std::move(password);
        }
        copts.will = dialects[i]->last_will();
        copts.subscriptions = dialects[i]->subscriptions();
        copts.subscriptions.push_back({clock_topic, 1});
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
    for (auto& c : clients) {
        c->start();
    }
    log("info", std::to_string(chargers.size()) + " " + run.dialect + " chargers on " + run.broker);

    std::vector<bool> fault_done(run.faults.size(), false);
    std::int64_t last_clock_wall = -1;
    const auto period = static_cast<std::int64_t>(1000.0 / run.telemetry_hz);
    std::int64_t next_report = cli::wall_ms() + period;
    auto publish = [&](std::size_t i, std::vector<contract::Publication> ps) {
        for (const auto& p : ps) {
            clients[i]->publish(p);
        }
    };
    while (!cli::stop_requested()) {
        std::int64_t wall = cli::wall_ms();
        const auto item = inbox.pop_until(
            std::chrono::steady_clock::now() +
            std::chrono::milliseconds(std::clamp<std::int64_t>(next_report - wall, 0, 100)));
        wall = cli::wall_ms();
        station::TimeMs now = clock.now(wall);
        if (item && item->kind == bus::InboxItem::Kind::Connected) {
            const auto i = static_cast<std::size_t>(item->source);
            chargers[i]->advance(now);
            publish(i, dialects[i]->hello(*chargers[i]));
        } else if (item && item->kind == bus::InboxItem::Kind::Message) {
            const auto i = static_cast<std::size_t>(item->source);
            if (item->message.topic == clock_topic) {
                contract::ClockMessage m;
                if (std::string e = contract::parse(item->message.payload, m); !e.empty()) {
                    log("warn", "dropped a clock message: " + e);
                } else if (m.wall_ms > last_clock_wall) {
                    // Energy up to now accrues on the old clock. The first station clock
                    // replaces the wall-time guess: no energy across that jump; later ones
                    // move the station's time, and a charger delivers across them.
                    const bool first = last_clock_wall < 0;
                    for (auto& c : chargers) {
                        c->advance(now);
                    }
                    last_clock_wall = m.wall_ms;
                    clock = station::SimulatedClock(m.at_ms, m.speed, m.wall_ms);
                    now = clock.now(wall);
                    for (auto& c : chargers) {
                        if (first) {
                            c->resync(now);
                        } else {
                            c->advance(now);
                        }
                    }
                }
            } else {
                publish(i, dialects[i]->on_message(item->message.topic, item->message.payload,
                                                   *chargers[i], now));
            }
        }
        for (std::size_t f = 0; f < run.faults.size(); ++f) {
            if (!fault_done[f] && now >= run.faults[f].at) {
                fault_done[f] = true;
                for (auto& c : chargers) {
                    if (c->spec().id == run.faults[f].pile) {
                        log("info", "injecting the scripted fault into " + run.faults[f].pile);
                        c->inject_fault(run.faults[f].minutes, run.faults[f].at);
                    }
                }
            }
        }
        if (wall >= next_report) {
            next_report = wall + period;
            for (std::size_t i = 0; i < chargers.size(); ++i) {
                chargers[i]->advance(now);
                publish(i, dialects[i]->report(*chargers[i]));
            }
        }
    }
    log("info", "stopping: each charger says it is gone, then disconnects");
    for (std::size_t i = 0; i < clients.size(); ++i) {
        clients[i]->begin_stop(dialects[i]->last_will());
    }
    for (auto& c : clients) {
        c->finish_stop(std::chrono::milliseconds(2000));
    }
    return 0;
}

}  // namespace pilesim
