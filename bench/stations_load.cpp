// stations_load: many stations at work on one centre, and how far the centre's databases
// trail them (issue #12; bench/stations_bench.py runs it).
//
// A client of a running system: K stations at the edge (each its own broker, scheduler and
// simulated piles), bridged to a centre broker where station-api instances copy every
// station's change log into their databases. It
//
//   * drives every station the way a driver would, over its own broker, with submit and
//     cancel requests straight to its scheduler (as bench/log_lag.cpp does for one):
//     --rate requests a second per station for --seconds, keeping at most --window orders
//     open per station (a tick submits the next car of the station's own --cars-per-station
//     while fewer are open, else cancels the oldest open one); orders that finish charging
//     free their car (seen on the station's change log). Cars are API car ids, so the APIs
//     store the orders: station i (0-based, in --stations order) uses cars
//     --first-car + i * --cars-per-station onwards;
//   * counts the messages arriving at the centre (a subscriber on --centre, topic filter
//     evcs/v1/stations/#, QoS 0), first over --idle-seconds with no requests, then over the
//     load, by kind: from the stations (state, clock, changes, replies) and from the
//     centre's APIs to the stations (scheduler/requests); and how long each change batch
//     took from the station's broker to this subscriber (the bridge and the centre);
//   * polls the databases' log positions (SELECT station, pos FROM log_position) every
//     --poll-us: a PostgreSQL database (--pg, a libpq connection string or URI) and/or a
//     SQLite file (--sqlite, read-only), and records when each station's position first
//     reached each value;
//   * then prints, per database, the replication lag station -> database:
//       reply   from the reply to a change reaching this tool at the station's broker to
//               the database's position for that station reaching the reply's `pos`;
//       batch   from each change batch the station's scheduler publishes (station/changes,
//               read at the station's broker: also the changes no request made, a car
//               dispatched, starting, finishing, a bill) to its `to` being reached.
//
//   --stations FILE   one station a line: ID URI (the station's broker)
//
// --mode up (for the start-up time): only the centre. Sends a stats request to every
// station's scheduler through the centre (evcs/v1/stations/ID/scheduler/requests), again
// every second to those that have not answered, until each has answered through its
// bridge; prints "UP <seconds>". An idle station publishes nothing, so waiting for its
// state to arrive would not do.
//
// Every wait is bounded (--seconds, --timeout). Lags can be slightly negative: an API may
// store a batch before this client receives the reply (both leave the scheduler together).

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench_stats.hpp"
#include "bus/mqtt_client.hpp"
#include "cli/cli.hpp"
#include "contract/topics.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using bench::now_ns;
using bench::percentile;
using nlohmann::json;

namespace {

const char* const kUsage =
    "usage: stations_load [--mode load|up] --stations FILE [--first-car ID]\n"
    "                     [--cars-per-station N]\n"
    "                     [--rate N] [--window N] [--seconds S] [--idle-seconds S]\n"
    "                     [--centre URI[,URI...]] [--centre-user NAME] [--pg CONNINFO]\n"
    "                     [--sqlite FILE] [--poll-us N] [--timeout S]\n"
    "--stations: one station a line, ID URI (its broker). Drives every station with\n"
    "  submit/cancel requests at --rate per second each (2) for --seconds (30), at most\n"
    "  --window (5) open orders per station, station i on cars --first-car +\n"
    "  i*--cars-per-station (10) onwards; counts what arrives at the centre (--centre,\n"
    "  password in STATION_MQTT_PASSWORD with --centre-user) and the lag from each\n"
    "  change at a station to its position in --pg and/or --sqlite (log_position).\n"
    "--mode up: asks every station's scheduler for its stats through the centre, again\n"
    "  every second, until each has answered (or --timeout); prints UP <seconds>.\n";

struct Options {
    std::string mode = "load";
    std::string stations_file;
    std::int64_t first_car = 1;
    std::int64_t cars_per_station = 10;
    double rate = 2;
    std::int64_t window = 5;
    double seconds = 30;
    double idle_seconds = 5;
    std::string centre;
    std::string centre_user;
    std::string pg;
    std::string sqlite;
    std::int64_t poll_us = 1000;
    double timeout = 30;
    std::int64_t max_inflight = 50;
};

std::string fmt(double x, int digits = 1) {
    if (std::isnan(x)) {
        return "nan";
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, x);
    return buf;
}

// ---------------------------------------------------------------------------------------
// One station: its broker, its scheduler's replies and change log.

struct Reply {
    std::int64_t t_ns = 0;
    std::int64_t seq = -1;
    bool ok = false;
    bool submit = false;
    std::string error;
    std::int64_t pos = -1;
};

class Station {
  public:
    Station(int index, std::string id, const std::string& uri, const Options& o)
        : id_(std::move(id)),
          o_(o),
          first_car_(o.first_car + index * o.cars_per_station),
          client_id_("sl-" + std::to_string(::getpid()) + "-" + id_),
          prefix_("q" + std::to_string(::getpid()) + "-"),
          reply_topic_(contract::replies_topic(client_id_)),
          requests_topic_(contract::scheduler_requests_topic()),
          changes_topic_(contract::station_changes_topic()) {
        bus::ClientOptions copts;
        copts.uri = uri;
        copts.client_id = client_id_;
        copts.persistent_session = false;
        copts.subscriptions = {{reply_topic_, 1}, {changes_topic_, 1}};
        client_ =
            std::make_unique<bus::MqttClient>(copts, [this](bus::Received m) { on_message(m); });
    }
    ~Station() {
        client_->begin_stop(std::nullopt);
        client_->finish_stop(2000ms);
    }
    Station(const Station&) = delete;
    Station& operator=(const Station&) = delete;

    const std::string& id() const { return id_; }
    void start() { client_->start(); }
    bool wait_connected(std::chrono::milliseconds t) { return client_->wait_connected(t); }
    void record(bool on) { recording_ = on; }

    /// The next request of this station's pattern; false (nothing sent) while
    /// --max-inflight requests are unanswered.
    bool send_next() {
        std::int64_t seq = 0;
        bool submit = false;
        std::int64_t car = 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (static_cast<std::int64_t>(sent_.size()) - answered_ >= o_.max_inflight) {
                return false;
            }
            submit = static_cast<std::int64_t>(open_.size()) < o_.window;
            if (submit) {
                // The next car of the pool that has no open order.
                for (std::int64_t tries = 0; tries < o_.cars_per_station; ++tries) {
                    car = first_car_ + next_car_;
                    next_car_ = (next_car_ + 1) % o_.cars_per_station;
                    if (std::find(open_.begin(), open_.end(), car) == open_.end()) {
                        break;
                    }
                }
                open_.push_back(car);
            } else {
                car = open_.front();
                open_.pop_front();
            }
            seq = static_cast<std::int64_t>(sent_.size());
            sent_.push_back({now_ns(), submit, car});
        }
        // Amounts and modes vary, so that some orders charge to the end while the station
        // runs and others are cancelled while charging or waiting.
        static const double kKwh[] = {2, 5, 8, 12, 20, 30};
        std::string body = "{\"id\":\"" + prefix_ + std::to_string(seq) + "\",\"reply_to\":\"" +
                           reply_topic_ + "\",\"op\":\"" + (submit ? "submit" : "cancel") +
                           "\",\"car\":\"" + std::to_string(car) + "\"";
        if (submit) {
            body += std::string(",\"mode\":\"") + (seq % 3 == 2 ? "T" : "F") +
                    "\",\"kwh\":" + fmt(kKwh[(seq / 2) % 6], 1);
        }
        body += "}";
        client_->publish({requests_topic_, body, 1, false});
        return true;
    }

    bool drained() {
        std::lock_guard<std::mutex> lock(mutex_);
        return answered_ >= static_cast<std::int64_t>(sent_.size());
    }

    struct Result {
        std::vector<Reply> replies;
        std::vector<std::pair<std::int64_t, std::int64_t>> batches;  // (t_ns, to)
        std::int64_t sent = 0, submits = 0;
        std::int64_t finished = 0, cancelled = 0, bills = 0, bad = 0;
        std::vector<std::int64_t> sent_t;
    };
    Result result() {
        std::lock_guard<std::mutex> lock(mutex_);
        Result r;
        r.replies = replies_;
        r.batches = batches_;
        r.sent = static_cast<std::int64_t>(sent_.size());
        for (const auto& s : sent_) {
            r.submits += s.submit ? 1 : 0;
            r.sent_t.push_back(s.t_ns);
        }
        r.finished = finished_;
        r.cancelled = cancelled_;
        r.bills = bills_;
        r.bad = bad_;
        return r;
    }

  private:
    bool own_car(const std::string& car, std::int64_t& n) const {
        try {
            std::size_t used = 0;
            n = std::stoll(car, &used);
            return used == car.size() && n >= first_car_ && n < first_car_ + o_.cars_per_station;
        } catch (const std::exception&) {
            return false;
        }
    }

    void on_message(const bus::Received& m) {
        const std::int64_t t = now_ns();
        const json j = json::parse(m.payload, nullptr, /*allow_exceptions=*/false);
        std::lock_guard<std::mutex> lock(mutex_);
        if (!j.is_object()) {
            ++bad_;
            return;
        }
        try {
            if (m.topic == changes_topic_) {
                if (recording_) {
                    batches_.emplace_back(t, j.at("to").get<std::int64_t>());
                }
                if (const auto orders = j.find("orders"); orders != j.end() && orders->is_array()) {
                    for (const json& order : *orders) {
                        const std::string state = order.value("state", std::string());
                        std::int64_t car = 0;
                        if ((state != "FINISHED" && state != "CANCELLED") ||
                            !own_car(order.value("car", std::string()), car)) {
                            continue;
                        }
                        if (recording_) {
                            ++(state == "FINISHED" ? finished_ : cancelled_);
                        }
                        // Charged to the end (or cancelled by us): the car is free again.
                        if (const auto it = std::find(open_.begin(), open_.end(), car);
                            it != open_.end() && state == "FINISHED") {
                            open_.erase(it);
                        }
                    }
                }
                if (const auto bills = j.find("bills");
                    bills != j.end() && bills->is_array() && recording_) {
                    bills_ += static_cast<std::int64_t>(bills->size());
                }
                return;
            }
            const std::string id = j.at("id").get<std::string>();
            if (id.rfind(prefix_, 0) != 0) {
                ++bad_;
                return;
            }
            Reply r;
            r.t_ns = t;
            r.seq = std::stoll(id.substr(prefix_.size()));
            r.ok = j.value("ok", false);
            if (const auto e = j.find("error"); e != j.end() && e->is_string()) {
                r.error = e->get<std::string>();
            }
            if (const auto p = j.find("pos"); p != j.end() && p->is_number_integer()) {
                r.pos = p->get<std::int64_t>();
            }
            if (r.seq >= 0 && r.seq < static_cast<std::int64_t>(sent_.size())) {
                r.submit = sent_[static_cast<std::size_t>(r.seq)].submit;
            }
            // A refused submit leaves no open order: its car is free again.
            if (!r.ok && r.submit) {
                const std::int64_t car = sent_[static_cast<std::size_t>(r.seq)].car;
                if (const auto it = std::find(open_.begin(), open_.end(), car); it != open_.end()) {
                    open_.erase(it);
                }
            }
            replies_.push_back(std::move(r));
            ++answered_;
        } catch (const std::exception&) {
            ++bad_;
        }
    }

    const std::string id_;
    const Options& o_;
    const std::int64_t first_car_;
    const std::string client_id_;
    const std::string prefix_;
    const std::string reply_topic_;
    const std::string requests_topic_;
    const std::string changes_topic_;
    std::unique_ptr<bus::MqttClient> client_;
    std::atomic<bool> recording_{false};

    std::mutex mutex_;
    struct Sent {
        std::int64_t t_ns;
        bool submit;
        std::int64_t car;
    };
    std::vector<Sent> sent_;
    std::vector<Reply> replies_;
    std::vector<std::pair<std::int64_t, std::int64_t>> batches_;
    std::int64_t answered_ = 0;
    std::deque<std::int64_t> open_;
    std::int64_t next_car_ = 0;
    std::int64_t finished_ = 0, cancelled_ = 0, bills_ = 0, bad_ = 0;
};

// ---------------------------------------------------------------------------------------
// The centre: what arrives there from every station.

class CentreCounter {
  public:
    static constexpr int kKinds = 6;
    static constexpr const char* kNames[kKinds] = {"state",   "clock",    "changes",
                                                   "replies", "requests", "other"};

    CentreCounter(const std::string& uris, const std::string& user, const std::string& password,
                  const std::unordered_map<std::string, std::size_t>& ids)
        : ids_(ids), arrivals_(ids.size()) {
        bus::ClientOptions copts;
        copts.uri = uris;
        copts.client_id = "sl-centre-" + std::to_string(::getpid());
        copts.persistent_session = false;
        copts.username = user;
        copts.password = password;
        copts.subscriptions = {{"evcs/v1/stations/#", 0}};
        client_ =
            std::make_unique<bus::MqttClient>(copts, [this](bus::Received m) { on_message(m); });
    }
    ~CentreCounter() {
        client_->begin_stop(std::nullopt);
        client_->finish_stop(2000ms);
    }
    bool connect() {
        client_->start();
        return client_->wait_connected(15s);
    }

    struct Counts {
        std::array<std::int64_t, kKinds> messages{};
        std::int64_t bytes = 0;
        std::int64_t total() const {
            std::int64_t n = 0;
            for (auto m : messages) {
                n += m;
            }
            return n;
        }
        /// What came from the stations (all but the APIs' requests to them).
        std::int64_t from_stations() const { return total() - messages[4]; }
        Counts operator-(const Counts& o) const {
            Counts c;
            for (int k = 0; k < kKinds; ++k) {
                c.messages[static_cast<std::size_t>(k)] =
                    messages[static_cast<std::size_t>(k)] - o.messages[static_cast<std::size_t>(k)];
            }
            c.bytes = bytes - o.bytes;
            return c;
        }
    };
    Counts now() const {
        Counts c;
        for (int k = 0; k < kKinds; ++k) {
            c.messages[static_cast<std::size_t>(k)] = counts_[static_cast<std::size_t>(k)].load();
        }
        c.bytes = bytes_.load();
        return c;
    }

  private:
    void on_message(const bus::Received& m) {
        // evcs/v1/stations/ID/station/state, .../station/clock, .../station/changes,
        // .../replies/CLIENT from the stations; .../scheduler/requests from the centre's
        // APIs to the stations.
        const std::string_view t = m.topic;
        int kind = 5;
        if (t.ends_with("/station/state")) {
            kind = 0;
        } else if (t.ends_with("/station/clock")) {
            kind = 1;
        } else if (t.ends_with("/station/changes")) {
            kind = 2;
            if (recording_) {
                record_batch(t, m.payload);
            }
        } else if (t.find("/replies/") != std::string_view::npos) {
            kind = 3;
        } else if (t.ends_with("/scheduler/requests")) {
            kind = 4;
        }
        if (kind == 5) {
            std::lock_guard<std::mutex> lock(others_mutex_);
            if (others_.size() < 8) {
                others_.emplace(t);
            }
        }
        counts_[static_cast<std::size_t>(kind)].fetch_add(1);
        bytes_.fetch_add(static_cast<std::int64_t>(m.payload.size()));
    }

    /// A change batch arriving here while recording: when, per station and `to`.
    void record_batch(std::string_view topic, std::string_view payload) {
        const std::int64_t t = now_ns();
        const std::string_view rest = topic.substr(std::string_view("evcs/v1/stations/").size());
        const auto it = ids_.find(std::string(rest.substr(0, rest.find('/'))));
        const json j = json::parse(payload, nullptr, /*allow_exceptions=*/false);
        if (it == ids_.end() || !j.is_object() || !j.contains("to") ||
            !j["to"].is_number_integer()) {
            return;
        }
        std::lock_guard<std::mutex> lock(arrivals_mutex_);
        arrivals_[it->second].emplace_back(t, j["to"].get<std::int64_t>());
    }

  public:
    void record(bool on) { recording_ = on; }
    /// Per station, (t_ns, to) of each change batch that arrived while recording.
    std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> arrivals() {
        std::lock_guard<std::mutex> lock(arrivals_mutex_);
        return arrivals_;
    }

    /// Some of the topics counted as "other".
    std::string others() {
        std::lock_guard<std::mutex> lock(others_mutex_);
        std::string out;
        for (const auto& t : others_) {
            out += (out.empty() ? "" : ", ") + t;
        }
        return out;
    }

  private:
    const std::unordered_map<std::string, std::size_t>& ids_;
    std::atomic<bool> recording_{false};
    std::mutex arrivals_mutex_;
    std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> arrivals_;
    std::unique_ptr<bus::MqttClient> client_;
    std::mutex others_mutex_;
    std::set<std::string> others_;
    std::array<std::atomic<std::int64_t>, kKinds> counts_{};
    std::atomic<std::int64_t> bytes_{0};
};

// ---------------------------------------------------------------------------------------
// The databases: when each station's log position reached each value.

struct Positions {
    std::string name;
    std::mutex mutex;
    std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> seen;  // per station
    std::int64_t queries = 0, query_ns = 0, errors = 0;
    std::string last_error;

    void record(std::size_t station, std::int64_t t, std::int64_t pos) {
        auto& v = seen[station];
        if (v.empty() || pos > v.back().second) {
            v.emplace_back(t, pos);
        }
    }
    std::int64_t latest(std::size_t station) {
        std::lock_guard<std::mutex> lock(mutex);
        return seen[station].empty() ? -1 : seen[station].back().second;
    }
};

class Poller {
  public:
    virtual ~Poller() = default;
    /// One read of every station's position: (station id, pos) pairs; throws on failure.
    virtual std::vector<std::pair<std::string, std::int64_t>> read() = 0;
};

class PgPoller : public Poller {
  public:
    explicit PgPoller(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
        if (PQstatus(conn_) != CONNECTION_OK) {
            const std::string e = PQerrorMessage(conn_);
            PQfinish(conn_);
            throw std::runtime_error("PostgreSQL: " + e);
        }
    }
    ~PgPoller() override { PQfinish(conn_); }
    std::vector<std::pair<std::string, std::int64_t>> read() override {
        PGresult* r = PQexec(conn_, "SELECT station, pos FROM log_position");
        std::vector<std::pair<std::string, std::int64_t>> out;
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            const std::string e = PQerrorMessage(conn_);
            PQclear(r);
            if (PQstatus(conn_) != CONNECTION_OK) {
                PQreset(conn_);
            }
            throw std::runtime_error(e);
        }
        for (int i = 0; i < PQntuples(r); ++i) {
            out.emplace_back(PQgetvalue(r, i, 0), std::stoll(PQgetvalue(r, i, 1)));
        }
        PQclear(r);
        return out;
    }

  private:
    PGconn* conn_;
};

class SqlitePoller : public Poller {
  public:
    explicit SqlitePoller(const std::string& path) {
        if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
            const std::string e = db_ != nullptr ? sqlite3_errmsg(db_) : "cannot open";
            sqlite3_close(db_);
            throw std::runtime_error("SQLite " + path + ": " + e);
        }
        sqlite3_busy_timeout(db_, 100);
    }
    ~SqlitePoller() override {
        sqlite3_finalize(st_);
        sqlite3_close(db_);
    }
    std::vector<std::pair<std::string, std::int64_t>> read() override {
        if (st_ == nullptr && sqlite3_prepare_v2(db_, "SELECT station, pos FROM log_position", -1,
                                                 &st_, nullptr) != SQLITE_OK) {
            st_ = nullptr;
            throw std::runtime_error(sqlite3_errmsg(db_));  // no table yet: tried again
        }
        std::vector<std::pair<std::string, std::int64_t>> out;
        int rc = 0;
        while ((rc = sqlite3_step(st_)) == SQLITE_ROW) {
            out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st_, 0)),
                             sqlite3_column_int64(st_, 1));
        }
        sqlite3_reset(st_);
        if (rc != SQLITE_DONE) {
            throw std::runtime_error(sqlite3_errmsg(db_));
        }
        return out;
    }

  private:
    sqlite3* db_ = nullptr;
    sqlite3_stmt* st_ = nullptr;
};

void poll_loop(Poller& p, Positions& seen, const std::unordered_map<std::string, std::size_t>& ids,
               std::chrono::microseconds every, const std::atomic<bool>& stop) {
    while (!stop.load()) {
        const std::int64_t t = now_ns();
        try {
            const auto rows = p.read();
            const std::int64_t done = now_ns();
            std::lock_guard<std::mutex> lock(seen.mutex);
            ++seen.queries;
            seen.query_ns += done - t;
            for (const auto& [station, pos] : rows) {
                if (const auto it = ids.find(station); it != ids.end()) {
                    seen.record(it->second, t, pos);
                }
            }
        } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(seen.mutex);
            ++seen.errors;
            seen.last_error = e.what();
        }
        std::this_thread::sleep_for(every);
    }
}

struct Lags {
    std::vector<double> ms;
    std::int64_t missing = 0, negative = 0;
};

/// For each (t, pos) event of each station: when the database first showed that station at
/// pos or beyond, minus t.
Lags lags(Positions& seen,
          const std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>>& events) {
    Lags out;
    std::lock_guard<std::mutex> lock(seen.mutex);
    for (std::size_t s = 0; s < events.size(); ++s) {
        const auto& v = seen.seen[s];
        for (const auto& [t, pos] : events[s]) {
            const auto it = std::lower_bound(v.begin(), v.end(), pos,
                                             [](const std::pair<std::int64_t, std::int64_t>& a,
                                                std::int64_t p) { return a.second < p; });
            if (it == v.end()) {
                ++out.missing;
                continue;
            }
            const double lag = static_cast<double>(it->first - t) / 1e6;
            out.negative += lag < 0 ? 1 : 0;
            out.ms.push_back(lag);
        }
    }
    return out;
}

std::string lag_line(const Lags& l) {
    return "p50 " + fmt(percentile(l.ms, 50)) + "  p90 " + fmt(percentile(l.ms, 90)) + "  p99 " +
           fmt(percentile(l.ms, 99)) + "  max " + fmt(percentile(l.ms, 100)) + " ms over " +
           std::to_string(l.ms.size()) + " (" + std::to_string(l.negative) + " negative, " +
           std::to_string(l.missing) + " never seen)";
}

std::string lag_result(const std::string& key, const Lags& l) {
    return " " + key + "_n=" + std::to_string(l.ms.size()) + " " + key +
           "_missing=" + std::to_string(l.missing) + " " + key +
           "_p50_ms=" + fmt(percentile(l.ms, 50)) + " " + key +
           "_p99_ms=" + fmt(percentile(l.ms, 99)) + " " + key +
           "_max_ms=" + fmt(percentile(l.ms, 100));
}

std::string counts_line(const CentreCounter::Counts& c, double seconds) {
    std::string s = fmt(static_cast<double>(c.from_stations()) / seconds) +
                    " msg/s from the stations (" + std::to_string(c.total()) + " in all in " +
                    fmt(seconds) + " s, " + fmt(static_cast<double>(c.bytes) / seconds / 1024.0) +
                    " KiB/s):";
    for (int k = 0; k < CentreCounter::kKinds; ++k) {
        s += std::string(" ") + CentreCounter::kNames[k] + " " +
             fmt(static_cast<double>(c.messages[static_cast<std::size_t>(k)]) / seconds);
    }
    return s;
}

int run_up(const Options& o, const std::vector<std::string>& ids) {
    if (o.centre.empty()) {
        std::cerr << "stations_load: --mode up needs --centre\n";
        return 2;
    }
    const std::string client = "sl-up-" + std::to_string(::getpid());
    std::mutex mutex;
    std::unordered_map<std::string, std::int64_t> answered;  // station -> ns since start
    const std::int64_t t0 = now_ns();
    bus::ClientOptions copts;
    copts.uri = o.centre;
    copts.client_id = client;
    copts.persistent_session = false;
    copts.username = o.centre_user;
    copts.password = cli::env("STATION_MQTT_PASSWORD");
    copts.subscriptions = {{"evcs/v1/stations/+/replies/" + client, 1}};
    bus::MqttClient mqtt(copts, [&](bus::Received m) {
        // evcs/v1/stations/ID/replies/CLIENT
        const std::string_view t = m.topic.substr(std::string_view("evcs/v1/stations/").size());
        const std::string station(t.substr(0, t.find('/')));
        std::lock_guard<std::mutex> lock(mutex);
        answered.emplace(station, now_ns() - t0);
    });
    mqtt.start();
    if (!mqtt.wait_connected(30s)) {
        std::cerr << "stations_load: cannot connect to the centre " << o.centre << "\n";
        return 1;
    }
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.timeout));
    std::int64_t n = 0;
    while (Clock::now() < end && !cli::stop_requested()) {
        std::vector<std::string> pending;
        {
            std::lock_guard<std::mutex> lock(mutex);
            for (const auto& id : ids) {
                if (answered.count(id) == 0) {
                    pending.push_back(id);
                }
            }
        }
        if (pending.empty()) {
            break;
        }
        for (const auto& id : pending) {
            mqtt.publish({contract::at_centre(id, contract::scheduler_requests_topic()),
                          "{\"id\":\"up-" + std::to_string(++n) + "\",\"reply_to\":\"" +
                              contract::replies_topic(client) + "\",\"op\":\"stats\"}",
                          1, false});
        }
        std::this_thread::sleep_for(1s);
    }
    mqtt.begin_stop(std::nullopt);
    mqtt.finish_stop(2000ms);
    std::lock_guard<std::mutex> lock(mutex);
    std::int64_t last = 0;
    for (const auto& [id, t] : answered) {
        last = std::max(last, t);
    }
    std::cout << "up: " << answered.size() << " of " << ids.size()
              << " stations answered through the centre, the last after "
              << fmt(static_cast<double>(last) / 1e9, 2) << " s\n";
    if (answered.size() < ids.size()) {
        return 1;
    }
    std::cout << "UP " << fmt(static_cast<double>(last) / 1e9, 2) << "\n";
    return 0;
}

int run(const Options& o) {
    std::vector<std::unique_ptr<Station>> stations;
    std::unordered_map<std::string, std::size_t> ids;
    {
        std::ifstream in(o.stations_file);
        if (!in) {
            std::cerr << "stations_load: cannot read " << o.stations_file << "\n";
            return 2;
        }
        std::string id;
        std::string uri;
        std::vector<std::string> order;
        while (in >> id >> uri) {
            if (!contract::valid_topic_id(id) || ids.count(id) != 0) {
                std::cerr << "stations_load: bad or repeated station id " << id << "\n";
                return 2;
            }
            ids[id] = order.size();
            order.push_back(id);
            if (o.mode == "load") {
                stations.push_back(
                    std::make_unique<Station>(static_cast<int>(stations.size()), id, uri, o));
            }
        }
        if (o.mode == "up") {
            return order.empty() ? 2 : run_up(o, order);
        }
    }
    if (stations.empty()) {
        std::cerr << "stations_load: no station in " << o.stations_file << "\n";
        return 2;
    }
    const std::size_t k = stations.size();
    for (auto& s : stations) {
        s->start();
    }
    for (auto& s : stations) {
        if (!s->wait_connected(20s)) {
            std::cerr << "stations_load: cannot connect to station " << s->id() << "\n";
            return 1;
        }
    }

    std::unique_ptr<CentreCounter> centre;
    if (!o.centre.empty()) {
        centre = std::make_unique<CentreCounter>(o.centre, o.centre_user,
                                                 cli::env("STATION_MQTT_PASSWORD"), ids);
        if (!centre->connect()) {
            std::cerr << "stations_load: cannot connect to the centre " << o.centre << "\n";
            return 1;
        }
    }

    // The databases' pollers, started before any request of the run.
    struct Db {
        std::string key;
        std::unique_ptr<Poller> poller;
        std::unique_ptr<Positions> seen;
        std::thread thread;
    };
    std::vector<Db> dbs;
    std::atomic<bool> stop_poll{false};
    try {
        if (!o.pg.empty()) {
            dbs.push_back(
                {"pg", std::make_unique<PgPoller>(o.pg), std::make_unique<Positions>(), {}});
        }
        if (!o.sqlite.empty()) {
            dbs.push_back({"sqlite",
                           std::make_unique<SqlitePoller>(o.sqlite),
                           std::make_unique<Positions>(),
                           {}});
        }
    } catch (const std::exception& e) {
        std::cerr << "stations_load: " << e.what() << "\n";
        return 1;
    }
    for (auto& db : dbs) {
        db.seen->name = db.key;
        db.seen->seen.resize(k);
        db.thread = std::thread([&db, &ids, &o, &stop_poll] {
            poll_loop(*db.poller, *db.seen, ids, std::chrono::microseconds(o.poll_us), stop_poll);
        });
    }

    // Idle: the stations at rest, piles online, nothing asked of them.
    CentreCounter::Counts idle{};
    double idle_s = 0;
    if (centre && o.idle_seconds > 0) {
        std::this_thread::sleep_for(500ms);
        const auto c0 = centre->now();
        const auto t0 = Clock::now();
        std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_seconds));
        idle = centre->now() - c0;
        idle_s = std::chrono::duration<double>(Clock::now() - t0).count();
    }

    // Load: round robin over the stations, each at --rate.
    for (auto& s : stations) {
        s->record(true);
    }
    if (centre) {
        centre->record(true);
    }
    const auto c0 = centre ? centre->now() : CentreCounter::Counts{};
    std::cout << "LOAD START" << std::endl;  // a caller may sample the processes' CPU here
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(o.seconds));
    const double per_s = o.rate * static_cast<double>(k);
    std::int64_t tick = 0;
    std::int64_t skipped = 0;
    std::int64_t late = 0;
    while (Clock::now() < end && !cli::stop_requested()) {
        const auto due =
            start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(static_cast<double>(tick) / per_s));
        const auto now = Clock::now();
        if (due > now) {
            std::this_thread::sleep_until(due);
        } else if (now - due > 100ms) {
            ++late;
        }
        if (!stations[static_cast<std::size_t>(tick) % k]->send_next()) {
            ++skipped;
        }
        ++tick;
    }
    const double load_s = std::chrono::duration<double>(Clock::now() - start).count();
    const auto load = centre ? centre->now() - c0 : CentreCounter::Counts{};
    std::cout << "LOAD END" << std::endl;
    for (auto& s : stations) {
        s->record(false);
    }

    // Every reply, then every database at every station's last position (bounded).
    const auto grace = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(o.timeout));
    while (Clock::now() < grace && !cli::stop_requested() &&
           !std::all_of(stations.begin(), stations.end(), [](auto& s) { return s->drained(); })) {
        std::this_thread::sleep_for(10ms);
    }
    std::vector<Station::Result> results;
    for (auto& s : stations) {
        results.push_back(s->result());
    }
    if (centre) {
        centre->record(false);  // the batches of the load have arrived by now
    }
    std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> reply_events(k);
    std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> batch_events(k);
    std::vector<std::int64_t> target(k, -1);
    std::int64_t sent = 0, submits = 0, replies = 0, ok = 0, finished = 0, cancelled = 0, bills = 0,
                 bad = 0;
    std::map<std::string, std::int64_t> refusals;
    std::vector<double> rtt_ms;
    for (std::size_t s = 0; s < k; ++s) {
        const auto& r = results[s];
        sent += r.sent;
        submits += r.submits;
        finished += r.finished;
        cancelled += r.cancelled;
        bills += r.bills;
        bad += r.bad;
        replies += static_cast<std::int64_t>(r.replies.size());
        for (const Reply& rep : r.replies) {
            if (rep.seq >= 0 && rep.seq < static_cast<std::int64_t>(r.sent_t.size())) {
                rtt_ms.push_back(
                    static_cast<double>(rep.t_ns - r.sent_t[static_cast<std::size_t>(rep.seq)]) /
                    1e6);
            }
            if (!rep.ok) {
                ++refusals[rep.error.empty() ? "?" : rep.error];
                continue;
            }
            ++ok;
            if (rep.pos >= 0) {
                reply_events[s].emplace_back(rep.t_ns, rep.pos);
                target[s] = std::max(target[s], rep.pos);
            }
        }
        // A batch seen twice (the bridge's QoS 1 may repeat): its first arrival counts.
        std::map<std::int64_t, std::int64_t> first;
        for (const auto& [t, to] : r.batches) {
            const auto [it, fresh] = first.emplace(to, t);
            if (!fresh) {
                it->second = std::min(it->second, t);
            }
        }
        for (const auto& [to, t] : first) {
            batch_events[s].emplace_back(t, to);
            target[s] = std::max(target[s], to);
        }
    }
    for (auto& db : dbs) {
        while (Clock::now() < grace && !cli::stop_requested()) {
            bool all = true;
            for (std::size_t s = 0; s < k && all; ++s) {
                all = db.seen->latest(s) >= target[s];
            }
            if (all) {
                break;
            }
            std::this_thread::sleep_for(10ms);
        }
    }
    std::this_thread::sleep_for(20ms);
    stop_poll = true;
    for (auto& db : dbs) {
        db.thread.join();
    }

    // A change batch from the station's broker to the centre's subscriber (the bridge and
    // the centre broker; RabbitMQ: across the cluster).
    std::vector<double> to_centre_ms;
    std::int64_t not_at_centre = 0;
    if (centre) {
        const auto arrivals = centre->arrivals();
        for (std::size_t s = 0; s < k; ++s) {
            std::map<std::int64_t, std::int64_t> first;
            for (const auto& [t, to] : arrivals[s]) {
                const auto [it, fresh] = first.emplace(to, t);
                if (!fresh) {
                    it->second = std::min(it->second, t);
                }
            }
            for (const auto& [t, to] : batch_events[s]) {
                const auto it = first.find(to);
                if (it == first.end()) {
                    ++not_at_centre;
                    continue;
                }
                to_centre_ms.push_back(static_cast<double>(it->second - t) / 1e6);
            }
        }
    }
    std::cout << "stations_load: " << k << " stations, " << fmt(o.rate) << " requests/s each for "
              << fmt(load_s, 2) << " s: sent " << sent << " (" << submits << " submits, "
              << sent - submits << " cancels; " << skipped
              << " ticks skipped at the in-flight bound, " << late << " late), replies " << replies
              << " (ok " << ok << ", refused " << replies - ok << ")"
              << (replies < sent ? ", NOT ALL ANSWERED" : "") << "\n";
    for (const auto& [e, n] : refusals) {
        std::cout << "  refused " << e << ": " << n << "\n";
    }
    std::cout << "  reply round trip at the station, ms: p50 " << fmt(percentile(rtt_ms, 50), 2)
              << "  p99 " << fmt(percentile(rtt_ms, 99), 2) << "  max "
              << fmt(percentile(rtt_ms, 100), 2) << "\n";
    std::cout << "  the load's orders closed while it ran: " << finished << " charged to the end, "
              << cancelled << " cancelled; " << bills << " bills made; " << bad
              << " messages not understood\n";
    if (centre) {
        std::cout << "centre, idle: " << counts_line(idle, idle_s > 0 ? idle_s : 1) << "\n";
        std::cout << "centre, load: " << counts_line(load, load_s) << "\n";
        std::cout << "  change batch, station's broker -> the centre's subscriber, ms: p50 "
                  << fmt(percentile(to_centre_ms, 50)) << "  p99 "
                  << fmt(percentile(to_centre_ms, 99)) << "  max "
                  << fmt(percentile(to_centre_ms, 100)) << " over " << to_centre_ms.size() << " ("
                  << not_at_centre << " not seen there)\n";
        if (const std::string others = centre->others(); !others.empty()) {
            std::cout << "  other topics: " << others << "\n";
        }
    }
    std::string result =
        "RESULT stations=" + std::to_string(k) + " sent=" + std::to_string(sent) +
        " ok=" + std::to_string(ok) + " refused=" + std::to_string(replies - ok) +
        " unanswered=" + std::to_string(sent - replies) + " finished=" + std::to_string(finished) +
        " cancelled=" + std::to_string(cancelled) + " bills=" + std::to_string(bills) +
        " rtt_p99_ms=" + fmt(percentile(rtt_ms, 99), 2);
    if (centre) {
        const double idle_span = idle_s > 0 ? idle_s : 1;
        result +=
            " centre_idle_msg_s=" + fmt(static_cast<double>(idle.from_stations()) / idle_span) +
            " centre_load_msg_s=" + fmt(static_cast<double>(load.from_stations()) / load_s) +
            " centre_load_state_s=" + fmt(static_cast<double>(load.messages[0]) / load_s) +
            " centre_load_changes_s=" + fmt(static_cast<double>(load.messages[2]) / load_s) +
            " centre_load_replies_s=" + fmt(static_cast<double>(load.messages[3]) / load_s) +
            " centre_load_requests_s=" + fmt(static_cast<double>(load.messages[4]) / load_s) +
            " centre_load_kib_s=" + fmt(static_cast<double>(load.bytes) / load_s / 1024.0) +
            " to_centre_n=" + std::to_string(to_centre_ms.size()) +
            " to_centre_missing=" + std::to_string(not_at_centre) +
            " to_centre_p50_ms=" + fmt(percentile(to_centre_ms, 50)) +
            " to_centre_p99_ms=" + fmt(percentile(to_centre_ms, 99)) +
            " to_centre_max_ms=" + fmt(percentile(to_centre_ms, 100));
    }
    for (auto& db : dbs) {
        const Lags by_reply = lags(*db.seen, reply_events);
        const Lags by_batch = lags(*db.seen, batch_events);
        {
            std::lock_guard<std::mutex> lock(db.seen->mutex);
            std::cout << db.key << ": polled every " << o.poll_us << " us, " << db.seen->queries
                      << " queries, mean "
                      << fmt(db.seen->queries > 0 ? static_cast<double>(db.seen->query_ns) /
                                                        static_cast<double>(db.seen->queries) / 1e3
                                                  : 0)
                      << " us, " << db.seen->errors << " errors"
                      << (db.seen->errors > 0 ? " (last: " + db.seen->last_error + ")" : "")
                      << "\n";
        }
        std::cout << "  lag, reply at the station -> position in " << db.key << ": "
                  << lag_line(by_reply) << "\n";
        std::cout << "  lag, change batch at the station -> position in " << db.key << ": "
                  << lag_line(by_batch) << "\n";
        result += lag_result(db.key + "_reply", by_reply) + lag_result(db.key + "_batch", by_batch);
    }
    std::cout << result << "\n";
    return sent == replies ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (auto exit = cli::parse_options(argc, argv, "stations_load", kUsage,
                                       [&](const std::string& a, const std::string& v) {
                                           if (a == "--mode") {
                                               o.mode = v;
                                           } else if (a == "--stations") {
                                               o.stations_file = v;
                                           } else if (a == "--first-car") {
                                               o.first_car = std::stoll(v);
                                           } else if (a == "--cars-per-station") {
                                               o.cars_per_station = std::stoll(v);
                                           } else if (a == "--rate") {
                                               o.rate = std::stod(v);
                                           } else if (a == "--window") {
                                               o.window = std::stoll(v);
                                           } else if (a == "--seconds") {
                                               o.seconds = std::stod(v);
                                           } else if (a == "--idle-seconds") {
                                               o.idle_seconds = std::stod(v);
                                           } else if (a == "--centre") {
                                               o.centre = v;
                                           } else if (a == "--centre-user") {
                                               o.centre_user = v;
                                           } else if (a == "--pg") {
                                               o.pg = v;
                                           } else if (a == "--sqlite") {
                                               o.sqlite = v;
                                           } else if (a == "--poll-us") {
                                               o.poll_us = std::stoll(v);
                                           } else if (a == "--timeout") {
                                               o.timeout = std::stod(v);
                                           } else {
                                               return false;
                                           }
                                           return true;
                                       })) {
        return *exit;
    }
    if ((o.mode != "load" && o.mode != "up") || o.stations_file.empty() || o.window < 1 ||
        o.cars_per_station <= o.window || o.rate <= 0 || o.seconds <= 0 || o.idle_seconds < 0 ||
        o.poll_us < 0 || o.timeout <= 0) {
        return cli::usage_error(
            "stations_load", kUsage,
            "--mode load|up; --stations is required; --cars-per-station must exceed --window "
            "(>= 1); --rate, --seconds, --timeout > 0");
    }
    cli::install_stop_handlers();
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::cerr << "stations_load: " << e.what() << "\n";
        return 1;
    }
}
