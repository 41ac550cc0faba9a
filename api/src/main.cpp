// station-api: the REST API (issue #4). This file only wires the pieces: options, the
// SQLite store, the link to the scheduler, the API logic and the POCO HTTP server.

#include <prometheus/registry.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/api_app.hpp"
#include "api/api_metrics.hpp"
#include "api/http_server.hpp"
#include "api/passwords.hpp"
#include "api/scheduler_link.hpp"
#include "api/store.hpp"
#include "cli/cli.hpp"
#include "metrics/endpoint.hpp"
#include "sql_connection.hpp"

namespace {

constexpr const char* kUsage =
    "usage: station-api [--broker URI] [--client-id ID] [--db FILE|URI] [--host HOST] [--port N]\n"
    "                   [--port-file FILE] [--threads N] [--web-root DIR] [--token-hours H]\n"
    "                   [--password-iterations N] [--scheduler-timeout-ms N] [--max-body-bytes N]\n"
    "                   [--mqtt-user NAME] [--max-connections N]\n"
    "                   [--max-connections-per-address N] [--max-streams N]\n"
    "                   [--max-streams-per-user N] [--metrics HOST:PORT] [--station ID]\n"
    "                   [--adopt-station ID]\n"
    "\n"
    "--db is the database: a SQLite file (default station.db, created if needed) or a\n"
    "PostgreSQL database, postgresql://USER@HOST:PORT/DB (it must exist; the tables are made\n"
    "in it), whose password libpq reads from PGPASSFILE or PGPASSWORD.\n"
    "\n"
    "--broker is the broker's URI (tcp://127.0.0.1:1883), or several separated by commas:\n"
    "the nodes of a cluster, tried in turn on every reconnect.\n"
    "\n"
    "--station names a station whose scheduler the API follows at a centre that serves\n"
    "several: its topics are under evcs/v1/stations/ID/ there (broker/bridge.conf). Given\n"
    "more than once (or as ID,ID,...), the API serves each, the first by default: a request\n"
    "names another with ?station=ID. Without it, the station's own topics (the API on the\n"
    "station's broker).\n"
    "\n"
    "--adopt-station ID files the orders and bills of a station without an id (an API that\n"
    "followed the station on its own topics) under ID, one of the --station ids: once, when\n"
    "such a station is moved to a centre that names it (docs/operations.md).\n"
    "\n"
    "--metrics serves Prometheus metrics at http://HOST:PORT/metrics (PORT 0: any free\n"
    "port; off by default).\n"
    "\n"
    "Environment: STATION_ADMIN_ACCOUNT and STATION_ADMIN_PASSWORD create the first admin\n"
    "(if that account does not exist); STATION_JWT_SECRET sets the token key (otherwise a\n"
    "random key is made once and kept in the database); with --mqtt-user the broker\n"
    "password is read from STATION_MQTT_PASSWORD. Each secret may instead be given as\n"
    "NAME_FILE, the path of a file that holds it (STATION_JWT_SECRET_FILE, ...).\n"
    "A broker URI ssl://HOST:PORT is MQTT over TLS: its certificate must chain to the\n"
    "authorities in the PEM file STATION_MQTT_CA_FILE names (else the system's) and name HOST.\n";

}  // namespace

int main(int argc, char** argv) {
    if (const auto bad = cli::secrets_from_files(
            {"STATION_MQTT_PASSWORD", "STATION_JWT_SECRET", "STATION_ADMIN_PASSWORD"});
        !bad.empty()) {
        std::cerr << "station-api: " << bad << "\n";
        return 1;
    }
    api::SchedulerLink::Options link_options;
    api::HttpServerOptions http;
    api::ApiOptions options;
    options.web_root = STATION_WEB_ROOT;
    std::string db = "station.db";
    std::string port_file;
    double token_hours = 24;
    std::optional<metrics::Listen> metrics_at;
    std::vector<std::string> stations;
    std::string adopt;
    const auto done = cli::parse_options(
        argc, argv, "station-api", kUsage, [&](const std::string& arg, const std::string& value) {
            if (arg == "--broker") {
                link_options.uri = value;
            } else if (arg == "--client-id") {
                link_options.client_id = value;
            } else if (arg == "--station") {
                std::size_t from = 0;
                while (from <= value.size()) {
                    const std::size_t comma = std::min(value.find(',', from), value.size());
                    stations.push_back(value.substr(from, comma - from));
                    from = comma + 1;
                }
            } else if (arg == "--adopt-station") {
                adopt = value;
            } else if (arg == "--mqtt-user") {
                link_options.username = value;
            } else if (arg == "--db") {
                db = value;
            } else if (arg == "--host") {
                http.host = value;
            } else if (arg == "--port") {
                http.port = std::stoi(value);
            } else if (arg == "--port-file") {
                port_file = value;
            } else if (arg == "--threads") {
                http.threads = std::stoi(value);
            } else if (arg == "--web-root") {
                options.web_root = value;
            } else if (arg == "--token-hours") {
                token_hours = std::stod(value);
            } else if (arg == "--password-iterations") {
                options.password_iterations = std::stoi(value);
            } else if (arg == "--scheduler-timeout-ms") {
                options.scheduler_timeout = std::chrono::milliseconds(std::stoll(value));
            } else if (arg == "--max-body-bytes") {
                http.max_body_bytes = std::stoul(value);
            } else if (arg == "--max-connections") {
                http.max_connections = std::stoi(value);
            } else if (arg == "--max-connections-per-address") {
                http.max_connections_per_address = std::stoi(value);
            } else if (arg == "--max-streams") {
                http.live.max_streams = std::stoi(value);
            } else if (arg == "--max-streams-per-user") {
                http.live.max_streams_per_user = std::stoi(value);
            } else if (arg == "--metrics") {
                metrics_at = metrics::parse_listen(value);
            } else {
                return false;
            }
            return true;
        });
    if (done) {
        return *done;
    }
    if (stations.size() > 1 && std::count(stations.begin(), stations.end(), "") > 0) {
        return cli::usage_error("station-api", kUsage,
                                "--station: an empty id among several stations");
    }
    if (http.threads < 1 || options.password_iterations < 1000 || token_hours <= 0 ||
        http.max_connections < 1 || http.max_connections_per_address < 1 ||
        http.live.max_streams < 0 || http.live.max_streams_per_user < 0) {
        return cli::usage_error(
            "station-api", kUsage,
            "--threads and the connection caps must be at least 1, the stream caps at least 0, "
            "--password-iterations at least 1000, --token-hours above 0");
    }
    auto log = [](std::string_view level, std::string_view message) {
        cli::log_line("station-api", level, message);
    };
    link_options.password = cli::env("STATION_MQTT_PASSWORD");
    if (const auto bad = cli::broker_ca_file(link_options.ca_file); !bad.empty()) {
        std::cerr << "station-api: " << bad << "\n";
        return 1;
    }
    try {
        // Metrics first: an address that cannot be bound stops the start at once.
        std::shared_ptr<prometheus::Registry> registry;
        std::unique_ptr<api::ApiMetrics> counted;
        std::unique_ptr<metrics::Endpoint> endpoint;
        if (metrics_at) {
            registry = std::make_shared<prometheus::Registry>();
            counted = std::make_unique<api::ApiMetrics>(*registry);
            endpoint = std::make_unique<metrics::Endpoint>(registry, *metrics_at);
            log("info", "metrics on " + endpoint->url());
        }
        link_options.metrics = counted.get();
        http.metrics = counted.get();
        api::Store store(db);
        store.set_metrics(counted.get());
        std::string secret = cli::env("STATION_JWT_SECRET");
        if (secret.empty()) {
            secret = store.setting_or_insert("jwt_secret", api::random_hex(32));
        } else if (secret.size() < 32) {
            throw std::invalid_argument("STATION_JWT_SECRET must have at least 32 characters");
        }
        if (stations.empty()) {
            stations.emplace_back();  // the station's own topics
        }
        const auto serves = [&](const std::string& id) {
            return std::find(stations.begin(), stations.end(), id) != stations.end();
        };
        if (!adopt.empty()) {
            if (!serves(adopt)) {
                throw std::invalid_argument("--adopt-station " + adopt +
                                            " must be one of the --station ids");
            }
            if (store.has_station("")) {
                store.adopt_station("", adopt);
                log("info",
                    "the orders and bills of the station without an id are now " + adopt + "'s");
            }
        }
        if (!serves("") && store.has_station("")) {
            // Its log, followed again under an id, would be applied anew: settled twice.
            throw std::runtime_error(
                "the database holds orders of a station without an id (an API on the "
                "station's own topics, or rows from before schema 6) that no --station serves: "
                "stop every API instance on it and start one once with --adopt-station ID to "
                "file them under the station they belong to (docs/operations.md, \"Upgrading "
                "an edge and centre to named stations\")");
        }
        // One read model and one link to its scheduler per station; each link its own
        // client id (its MQTT session and replies topic) when there are several.
        std::vector<std::unique_ptr<api::StationView>> views;
        std::vector<std::unique_ptr<api::SchedulerLink>> links;
        std::vector<api::ServedStation> served;
        for (const std::string& station : stations) {
            api::SchedulerLink::Options one = link_options;
            one.station = station;
            if (stations.size() > 1) {
                one.client_id += "-" + station;
            }
            views.push_back(std::make_unique<api::StationView>());
            links.push_back(std::make_unique<api::SchedulerLink>(one, store, *views.back(), log));
            served.push_back(api::ServedStation{*views.back(), *links.back()});
        }
        api::ApiApp app(store, served,
                        api::TokenService(secret, static_cast<std::int64_t>(token_hours * 3600)),
                        options, log);
        const std::string admin = cli::env("STATION_ADMIN_ACCOUNT");
        if (!admin.empty()) {
            if (app.ensure_admin(admin, cli::env("STATION_ADMIN_PASSWORD"))) {
                log("info", "created the admin account " + admin);
            }
        }
        for (auto& link : links) {
            link->start();
        }
        api::HttpServer server(app, http);
        server.start();
        log("info", "listening on http://" + http.host + ":" + std::to_string(server.port()) +
                        ", database " + api::sql::redacted(db) + ", broker " + link_options.uri);
        if (!port_file.empty()) {
            std::ofstream(port_file + ".tmp") << server.port() << "\n";
            std::rename((port_file + ".tmp").c_str(), port_file.c_str());
        }
        cli::notify_ready("serving http://" + http.host + ":" + std::to_string(server.port()));
        cli::install_stop_handlers();
        while (!cli::stop_requested()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        log("info", "stopping");
        server.stop();
        for (auto& link : links) {
            link->stop();
        }
    } catch (const std::exception& e) {
        std::cerr << "station-api: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
