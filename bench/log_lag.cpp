// log_lag: how far the REST API's SQLite database trails the scheduler.
//
// A client of a running system (broker, station-scheduler, station-api; bench/log_lag.sh
// starts one). It talks to the scheduler directly over MQTT, as the API does, naming the
// API's own car ids (so that the API stores the orders), and reads the API's database
// through a read-only SQLite connection (WAL: it never blocks the API's writer).
//
//   --mode lag    (default) sends submit and cancel requests at a fixed rate (--rate per
//                 second, for --seconds), keeping --window orders open: each tick submits
//                 the next car while fewer are open, else cancels the oldest open order.
//                 It records when each reply arrives, with its `pos` (the scheduler's log
//                 position after the change), while another thread polls the database
//                 every --poll-us and records when each position is first reached. The
//                 lag of a change = when the API's database first shows it − when its
//                 reply arrived here. Two ways to see "shows it" (--method):
//                   pos  SELECT MAX(pos) FROM log_position reaches the reply's pos
//                        (the new API only: it keeps its log position with the rows);
//                   row  the order's row (orders.station_key = RUN/ORDER) is there in the
//                        reply's state or a later one (both versions: the old API stores
//                        station/orders updates, the new one log batches).
//                 auto (default) = pos if the table log_position exists, else row.
//   --mode drive  sends the same requests as fast as --max-inflight outstanding requests
//                 allow (or at --rate if given) until the scheduler's log head (stats
//                 request, `log_position`) has advanced --positions, then prints
//                 "HEAD <pos>". No database. For bench/catch_up.sh.
//   --mode head   prints "HEAD <pos>", the scheduler's log head (stats request).
//   --mode wait   polls the database until log_position.pos >= --target-pos and prints
//                 the time since --start-wall-ms (wall clock, UTC ms; e.g. `date +%s%3N`
//                 just before the API was started) and the positions per second. For
//                 bench/catch_up.sh.
//
// Every loop is bounded by time (--seconds, --timeout) and the request count by the rate.
// Lags can be slightly negative: the API may apply a batch before this client receives
// its own reply (both go out from the scheduler at about the same time).

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/Statement.h>
#include <Poco/Exception.h>
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
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
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
    "usage: log_lag [--mode lag|drive|wait|head] [--broker URI] [--db FILE] [--client-id ID]\n"
    "               [--rate N] [--seconds S] [--first-car ID] [--cars N] [--window N]\n"
    "               [--max-inflight N] [--method auto|pos|row] [--poll-us N] [--kwh X]\n"
    "               [--positions N] [--target-pos P] [--start-wall-ms T] [--timeout S]\n"
    "lag (default): submit/cancel at --rate per second (1000) for --seconds (10) with the\n"
    "  cars --first-car .. --first-car+--cars-1 (API car ids; --cars > --window), and the\n"
    "  lag from each reply to its change in the API's database --db.\n"
    "drive: the same requests, unpaced (or --rate), until the scheduler's log head has\n"
    "  advanced --positions; prints HEAD <pos>.\n"
    "wait: until --db's log_position reaches --target-pos; prints the time since\n"
    "  --start-wall-ms and positions/s.\n"
    "head: prints HEAD <pos>, the scheduler's log head.\n";

struct Options {
    std::string mode = "lag";
    std::string broker = "tcp://127.0.0.1:1883";
    std::string db;
    std::string client_id;
    double rate = -1;  // lag: 1000 unless given; drive: unpaced unless given
    double seconds = 10;
    std::int64_t first_car = 1;
    std::int64_t cars = 200;
    std::int64_t window = 20;
    std::int64_t max_inflight = 2000;
    std::string method = "auto";
    std::int64_t poll_us = 250;
    double kwh = 10;
    std::int64_t positions = 0;
    std::int64_t target_pos = -1;
    std::int64_t start_wall_ms = 0;
    double timeout = 600;
};

// ---------------------------------------------------------------------------------------
// Statistics

std::string fmt(double x, int digits = 3) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, x);
    return buf;
}

// ---------------------------------------------------------------------------------------
// The API's database, read-only

int state_rank(const std::string& s) {
    if (s == "WAITING") {
        return 0;
    }
    if (s == "DISPATCHED" || s == "REDISPATCH") {
        return 1;
    }
    if (s == "CHARGING") {
        return 2;
    }
    if (s == "FINISHED" || s == "CANCELLED") {
        return 3;
    }
    return -1;
}

/// Opens the API's database read-only. The file must exist (SQLite would create it).
Poco::Data::Session open_readonly(const std::string& path) {
    if (!std::filesystem::exists(path)) {
        throw std::runtime_error("no database at " + path);
    }
    Poco::Data::SQLite::Connector::registerConnector();
    Poco::Data::Session s("SQLite",
                          "file:" + std::filesystem::absolute(path).string() + "?mode=ro");
    // A reader of a WAL database waits briefly instead of failing while the writer
    // checkpoints.
    s << "PRAGMA busy_timeout = 100", Poco::Data::Keywords::now;
    s << "PRAGMA query_only = 1", Poco::Data::Keywords::now;
    return s;
}

bool has_table(Poco::Data::Session& s, const std::string& name) {
    int n = 0;
    s << "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        Poco::Data::Keywords::useRef(name), Poco::Data::Keywords::into(n),
        Poco::Data::Keywords::now;
    return n > 0;
}

/// What a poller thread saw, with when it saw it (steady ns, at the start of the query
/// that first showed it).
struct Observed {
    std::mutex mutex;
    // pos method: every increase of log_position.pos
    std::vector<std::pair<std::int64_t, std::int64_t>> positions;  // (t_ns, pos)
    // row method: per station_key, when each state rank was first seen
    std::unordered_map<std::string, std::array<std::int64_t, 4>> rows;
    std::int64_t queries = 0;
    std::int64_t query_ns = 0;
    std::int64_t errors = 0;
    std::string last_error;
};

void poll_positions(Poco::Data::Session& s, Observed& seen, std::chrono::microseconds every,
                    const std::atomic<bool>& stop) {
    std::int64_t last = -1;
    Poco::Int64 pos = -1;
    // Prepared once, executed again and again.
    Poco::Data::Statement st(s);
    st << "SELECT COALESCE(MAX(pos), 0) FROM log_position", Poco::Data::Keywords::into(pos);
    while (!stop.load()) {
        const std::int64_t t = now_ns();
        pos = -1;
        try {
            st.execute();
        } catch (const Poco::Exception& e) {
            std::lock_guard<std::mutex> lock(seen.mutex);
            ++seen.errors;
            seen.last_error = e.displayText();
        }
        const std::int64_t done = now_ns();
        {
            std::lock_guard<std::mutex> lock(seen.mutex);
            ++seen.queries;
            seen.query_ns += done - t;
            if (pos > last) {
                seen.positions.emplace_back(t, pos);
                last = pos;
            }
        }
        std::this_thread::sleep_for(every);
    }
}

void poll_rows(Poco::Data::Session& s, Observed& seen, std::chrono::microseconds every,
               const std::atomic<bool>& stop) {
    using namespace Poco::Data::Keywords;
    using Poco::Data::Statement;
    // Rows above `floor` are read each time; the floor passes the leading closed rows,
    // so the query reads the few open orders and what is new.
    // Orders from before the run (e.g. open ones of the set-up) are not measured: start
    // above them, so that an order that stays open does not hold the floor down.
    Poco::Int64 floor = 0;
    try {
        s << "SELECT COALESCE(MAX(id), 0) FROM orders", into(floor), now;
    } catch (const Poco::Exception& e) {
        std::lock_guard<std::mutex> lock(seen.mutex);
        ++seen.errors;
        seen.last_error = e.displayText();
    }
    std::vector<Poco::Int64> ids;
    std::vector<std::string> keys;
    std::vector<std::string> states;
    Statement st(s);
    st << "SELECT id, station_key, state FROM orders WHERE id > ? ORDER BY id", use(floor),
        into(ids), into(keys), into(states);
    while (!stop.load()) {
        const std::int64_t t = now_ns();
        ids.clear();
        keys.clear();
        states.clear();
        bool ok = true;
        try {
            st.execute();
        } catch (const Poco::Exception& e) {
            ok = false;
            std::lock_guard<std::mutex> lock(seen.mutex);
            ++seen.errors;
            seen.last_error = e.displayText();
        }
        const std::int64_t done = now_ns();
        {
            std::lock_guard<std::mutex> lock(seen.mutex);
            ++seen.queries;
            seen.query_ns += done - t;
            if (ok && ids.size() == keys.size() && ids.size() == states.size()) {
                bool leading_closed = true;
                for (std::size_t i = 0; i < ids.size(); ++i) {
                    const int rank = state_rank(states[i]);
                    auto [it, fresh] = seen.rows.try_emplace(keys[i]);
                    if (fresh) {
                        it->second.fill(-1);
                    }
                    if (rank >= 0 && it->second[static_cast<std::size_t>(rank)] < 0) {
                        it->second[static_cast<std::size_t>(rank)] = t;
                    }
                    if (leading_closed && rank == 3) {
                        floor = ids[i];
                    } else {
                        leading_closed = false;
                    }
                }
            }
        }
        std::this_thread::sleep_for(every);
    }
}

// ---------------------------------------------------------------------------------------
// The scheduler, over MQTT

struct Reply {
    std::int64_t seq = -1;
    std::int64_t t_ns = 0;
    bool ok = false;
    std::string error;
    std::string run;
    std::int64_t pos = -1;
    std::int64_t order = -1;
    std::string state;
};

struct SentRequest {
    std::int64_t t_ns = 0;
    bool submit = true;
};

class Driver {
  public:
    explicit Driver(const Options& o)
        : o_(o),
          prefix_("q" + std::to_string(::getpid()) + "-"),
          stats_prefix_("s" + std::to_string(::getpid()) + "-"),
          reply_topic_(contract::replies_topic(o.client_id)),
          requests_topic_(contract::scheduler_requests_topic()) {
        bus::ClientOptions copts;
        copts.uri = o.broker;
        copts.client_id = o.client_id;
        copts.persistent_session = false;
        copts.subscriptions = {{reply_topic_, 1}};
        client_ =
            std::make_unique<bus::MqttClient>(copts, [this](bus::Received m) { on_message(m); });
    }
    ~Driver() {
        client_->begin_stop(std::nullopt);
        client_->finish_stop(2000ms);
    }

    bool connect() {
        client_->start();
        return client_->wait_connected(10s);
    }

    /// The scheduler's log head (stats request); nullopt if it does not answer in time.
    std::optional<std::int64_t> head(std::chrono::milliseconds timeout = 5000ms) {
        const std::int64_t n = stats_sent_.fetch_add(1) + 1;
        publish("{\"id\":\"" + stats_prefix_ + std::to_string(n) + "\",\"reply_to\":\"" +
                reply_topic_ + "\",\"op\":\"stats\"}");
        std::unique_lock<std::mutex> lock(mutex_);
        if (!changed_.wait_for(lock, timeout, [&] { return stats_answered_ >= n; })) {
            return std::nullopt;
        }
        return stats_head_;
    }
    /// Sends a stats request without waiting; latest_head() reads the answer later.
    void ask_head() {
        const std::int64_t n = stats_sent_.fetch_add(1) + 1;
        publish("{\"id\":\"" + stats_prefix_ + std::to_string(n) + "\",\"reply_to\":\"" +
                reply_topic_ + "\",\"op\":\"stats\"}");
    }
    std::int64_t latest_head() {
        std::lock_guard<std::mutex> lock(mutex_);
        return stats_head_;
    }

    /// Sends the next request of the submit/cancel pattern. Waits (until `deadline`) while
    /// --max-inflight requests are unanswered; false if it could not send.
    bool send_next(Clock::time_point deadline) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            if (!changed_.wait_until(lock, deadline, [&] {
                    return static_cast<std::int64_t>(sent_.size()) - answered_ < o_.max_inflight;
                })) {
                return false;
            }
        }
        std::string body;
        bool submit = static_cast<std::int64_t>(open_.size()) < o_.window;
        std::int64_t car = 0;
        if (submit) {
            car = o_.first_car + next_car_;
            next_car_ = (next_car_ + 1) % o_.cars;
            open_.push_back(car);
        } else {
            car = open_.front();
            open_.pop_front();
        }
        std::int64_t seq = 0;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            seq = static_cast<std::int64_t>(sent_.size());
            sent_.push_back({now_ns(), submit});
        }
        body = "{\"id\":\"" + prefix_ + std::to_string(seq) + "\",\"reply_to\":\"" + reply_topic_ +
               "\",\"op\":\"" + (submit ? "submit" : "cancel") + "\",\"car\":\"" +
               std::to_string(car) + "\"";
        if (submit) {
            body += ",\"mode\":\"F\",\"kwh\":" + fmt(o_.kwh, 2);
        }
        body += "}";
        publish(body);
        return true;
    }

    /// Waits until every request is answered, or the deadline.
    bool drain(Clock::time_point deadline) {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_until(
            lock, deadline, [&] { return answered_ >= static_cast<std::int64_t>(sent_.size()); });
    }

    std::int64_t sent_count() {
        std::lock_guard<std::mutex> lock(mutex_);
        return static_cast<std::int64_t>(sent_.size());
    }
    std::vector<Reply> replies() {
        std::lock_guard<std::mutex> lock(mutex_);
        return replies_;
    }
    std::vector<SentRequest> sent() {
        std::lock_guard<std::mutex> lock(mutex_);
        return sent_;
    }
    std::int64_t bad_replies() const { return bad_.load(); }
    std::int64_t publish_failures() const { return client_->publish_failures(); }

  private:
    void publish(const std::string& body) { client_->publish({requests_topic_, body, 1, false}); }

    void on_message(const bus::Received& m) {
        const std::int64_t t = now_ns();
        const json j = json::parse(m.payload, nullptr, /*allow_exceptions=*/false);
        if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) {
            ++bad_;
            return;
        }
        const std::string id = j["id"].get<std::string>();
        try {
            if (id.rfind(stats_prefix_, 0) == 0) {
                const std::int64_t n = std::stoll(id.substr(stats_prefix_.size()));
                const auto& data = j.at("data");
                std::lock_guard<std::mutex> lock(mutex_);
                stats_head_ = data.value("log_position", static_cast<std::int64_t>(-1));
                stats_answered_ = std::max(stats_answered_, n);
                changed_.notify_all();
                return;
            }
            if (id.rfind(prefix_, 0) != 0) {
                ++bad_;
                return;
            }
            Reply r;
            r.seq = std::stoll(id.substr(prefix_.size()));
            r.t_ns = t;
            r.ok = j.value("ok", false);
            if (const auto e = j.find("error"); e != j.end() && e->is_string()) {
                r.error = e->get<std::string>();
            }
            const json* data = nullptr;
            if (const auto d = j.find("data"); d != j.end() && d->is_object()) {
                data = &*d;
            }
            // The new scheduler: run and pos beside `order`; the old one: the order
            // update (with its run) as `data`.
            if (const auto run = j.find("run"); run != j.end() && run->is_string()) {
                r.run = run->get<std::string>();
            } else if (data != nullptr && data->contains("run") && (*data)["run"].is_string()) {
                r.run = (*data)["run"].get<std::string>();
            }
            if (const auto pos = j.find("pos"); pos != j.end() && pos->is_number_integer()) {
                r.pos = pos->get<std::int64_t>();
            }
            const json* order = nullptr;
            if (const auto o = j.find("order"); o != j.end() && o->is_object()) {
                order = &*o;
            } else if (data != nullptr && data->contains("order")) {
                order = data;
            }
            if (order != nullptr) {
                r.order = order->value("order", static_cast<std::int64_t>(-1));
                r.state = order->value("state", std::string());
            }
            std::lock_guard<std::mutex> lock(mutex_);
            replies_.push_back(std::move(r));
            ++answered_;
            changed_.notify_all();
        } catch (const std::exception&) {
            ++bad_;
        }
    }

    const Options& o_;
    const std::string prefix_;
    const std::string stats_prefix_;
    const std::string reply_topic_;
    const std::string requests_topic_;
    std::unique_ptr<bus::MqttClient> client_;

    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<SentRequest> sent_;
    std::vector<Reply> replies_;
    std::int64_t answered_ = 0;
    std::int64_t stats_head_ = -1;
    std::int64_t stats_answered_ = 0;
    std::atomic<std::int64_t> stats_sent_{0};
    std::atomic<std::int64_t> bad_{0};

    // Only the sending thread touches these.
    std::deque<std::int64_t> open_;
    std::int64_t next_car_ = 0;
};

/// Paces requests: at `rate` per second (rate <= 0: as fast as the in-flight bound
/// lets), until `until()` says so or `end`. A pacer that falls over 100 ms behind starts
/// its schedule again from now instead of sending a burst (counted in `rebased`).
struct PaceResult {
    std::int64_t sent = 0;
    std::int64_t rebased = 0;
    double seconds = 0;
};
template <typename Until>
PaceResult pace(Driver& d, double rate, Clock::time_point end, Until until) {
    PaceResult r;
    const auto start = Clock::now();
    auto origin = start;
    std::int64_t k = 0;
    while (Clock::now() < end && !cli::stop_requested() && !until()) {
        if (rate > 0) {
            const auto due =
                origin + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(static_cast<double>(k) / rate));
            const auto now = Clock::now();
            if (due > now) {
                std::this_thread::sleep_until(due);
            } else if (now - due > 100ms) {
                origin = now;
                k = 0;
                ++r.rebased;
            }
        }
        if (!d.send_next(std::min(end, Clock::now() + 1s))) {
            continue;  // in-flight bound: waits again (bounded by `end`)
        }
        ++r.sent;
        ++k;
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return r;
}

void print_refusals(const std::vector<Reply>& replies) {
    std::unordered_map<std::string, std::int64_t> errors;
    for (const Reply& r : replies) {
        if (!r.ok) {
            ++errors[r.error.empty() ? "?" : r.error];
        }
    }
    for (const auto& [e, n] : errors) {
        std::cout << "  refused " << e << ": " << n << "\n";
    }
}

// ---------------------------------------------------------------------------------------
// Modes

int run_lag(Options& o) {
    if (o.rate <= 0) {
        o.rate = 1000;
    }
    if (o.db.empty()) {
        std::cerr << "log_lag: --db is required\n";
        return 2;
    }
    Poco::Data::Session session = open_readonly(o.db);
    std::string method = o.method;
    const bool has_log = has_table(session, "log_position");
    if (method == "auto") {
        method = has_log ? "pos" : "row";
    }
    if (method == "pos" && !has_log) {
        std::cerr << "log_lag: --method pos needs the table log_position (the new API)\n";
        return 2;
    }
    if (method != "pos" && method != "row") {
        std::cerr << "log_lag: --method must be auto, pos or row\n";
        return 2;
    }

    Driver d(o);
    if (!d.connect()) {
        std::cerr << "log_lag: cannot connect to " << o.broker << "\n";
        return 1;
    }
    const auto head0 = d.head();

    Observed seen;
    std::atomic<bool> stop_poll{false};
    std::thread poller([&] {
        if (method == "pos") {
            poll_positions(session, seen, std::chrono::microseconds(o.poll_us), stop_poll);
        } else {
            poll_rows(session, seen, std::chrono::microseconds(o.poll_us), stop_poll);
        }
    });
    std::this_thread::sleep_for(50ms);  // the poller's first sample before the first change

    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.seconds));
    const PaceResult paced = pace(d, o.rate, end, [] { return false; });
    // Interrupted: the system is probably going down with us, so do not wait long.
    const auto grace =
        cli::stop_requested() ? std::chrono::milliseconds(500) : std::chrono::milliseconds(10000);
    const bool drained = d.drain(Clock::now() + grace);
    const auto replies = d.replies();

    // Keep polling until the last change is in the database (at most 10 s more).
    std::int64_t max_pos = -1;
    const Reply* last_ok = nullptr;
    for (const Reply& r : replies) {
        if (r.ok) {
            max_pos = std::max(max_pos, r.pos);
            if (last_ok == nullptr || r.seq > last_ok->seq) {
                last_ok = &r;
            }
        }
    }
    const auto poll_end = Clock::now() + grace;
    while (Clock::now() < poll_end) {
        bool done = false;
        {
            std::lock_guard<std::mutex> lock(seen.mutex);
            if (method == "pos") {
                done = !seen.positions.empty() && seen.positions.back().second >= max_pos;
            } else if (last_ok != nullptr) {
                const auto it = seen.rows.find(last_ok->run + "/" + std::to_string(last_ok->order));
                const int rank = state_rank(last_ok->state);
                done = it != seen.rows.end() && rank >= 0 &&
                       std::any_of(it->second.begin() + rank, it->second.end(),
                                   [](std::int64_t t) { return t >= 0; });
            } else {
                done = true;
            }
        }
        if (done) {
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    std::this_thread::sleep_for(20ms);
    stop_poll = true;
    poller.join();
    const auto head1 = d.head(grace / 2);

    // Lags.
    std::vector<double> lags_ms;
    std::vector<double> rtt_ms;
    std::int64_t ok = 0;
    std::int64_t missing = 0;
    std::int64_t negative = 0;
    const auto sent = d.sent();
    {
        std::lock_guard<std::mutex> lock(seen.mutex);
        for (const Reply& r : replies) {
            if (r.seq >= 0 && r.seq < static_cast<std::int64_t>(sent.size())) {
                rtt_ms.push_back(
                    static_cast<double>(r.t_ns - sent[static_cast<std::size_t>(r.seq)].t_ns) / 1e6);
            }
            if (!r.ok) {
                continue;
            }
            ++ok;
            std::int64_t t_applied = -1;
            if (method == "pos") {
                const auto it =
                    std::lower_bound(seen.positions.begin(), seen.positions.end(), r.pos,
                                     [](const std::pair<std::int64_t, std::int64_t>& s,
                                        std::int64_t p) { return s.second < p; });
                if (r.pos >= 0 && it != seen.positions.end()) {
                    t_applied = it->first;
                }
            } else {
                const auto it = seen.rows.find(r.run + "/" + std::to_string(r.order));
                const int rank = state_rank(r.state);
                if (it != seen.rows.end() && rank >= 0) {
                    for (std::size_t k = static_cast<std::size_t>(rank); k < 4; ++k) {
                        if (it->second[k] >= 0 && (t_applied < 0 || it->second[k] < t_applied)) {
                            t_applied = it->second[k];
                        }
                    }
                }
            }
            if (t_applied < 0) {
                ++missing;
                continue;
            }
            const double lag = static_cast<double>(t_applied - r.t_ns) / 1e6;
            negative += lag < 0 ? 1 : 0;
            lags_ms.push_back(lag);
        }
    }

    // What the scheduler got through: replies over the span from the first request to
    // the last reply (below the sending rate when requests queue up).
    double answered_rate = 0;
    if (!sent.empty() && !replies.empty()) {
        std::int64_t last_reply = 0;
        for (const Reply& r : replies) {
            last_reply = std::max(last_reply, r.t_ns);
        }
        const double span = static_cast<double>(last_reply - sent.front().t_ns) / 1e9;
        answered_rate = span > 0 ? static_cast<double>(replies.size()) / span : 0;
    }
    const double mean_query_us = seen.queries > 0 ? static_cast<double>(seen.query_ns) /
                                                        static_cast<double>(seen.queries) / 1e3
                                                  : 0;
    std::cout << "log_lag: method " << method
              << (method == "pos"
                      ? " (SELECT pos FROM log_position)"
                      : " (orders row by station_key RUN/ORDER in the reply's state or later)")
              << ", poll every " << o.poll_us << " us: " << seen.queries << " queries, mean "
              << fmt(mean_query_us, 1) << " us, " << seen.errors << " errors"
              << (seen.errors > 0 ? " (last: " + seen.last_error + ")" : "") << "\n";
    std::cout << "requests: " << paced.sent << " sent in " << fmt(paced.seconds, 2)
              << " s = " << fmt(static_cast<double>(paced.sent) / paced.seconds, 1)
              << " req/s (target " << fmt(o.rate, 0) << "); replies " << replies.size() << " (ok "
              << ok << ", refused " << static_cast<std::int64_t>(replies.size()) - ok << ")"
              << (drained ? "" : ", NOT ALL ANSWERED") << "; answered " << fmt(answered_rate, 1)
              << " req/s; schedule restarts " << paced.rebased << "; bad replies "
              << d.bad_replies() << "; publish failures " << d.publish_failures() << "\n";
    print_refusals(replies);
    if (head0 && head1 && *head0 >= 0) {
        std::cout << "log head: " << *head0 << " -> " << *head1 << " (" << *head1 - *head0
                  << " positions, " << fmt(static_cast<double>(*head1 - *head0) / paced.seconds, 1)
                  << " positions/s)\n";
    }
    std::cout << "reply round trip (sent -> reply here), ms: p50 " << fmt(percentile(rtt_ms, 50))
              << "  p99 " << fmt(percentile(rtt_ms, 99)) << "  max " << fmt(percentile(rtt_ms, 100))
              << "\n";
    const double p50 = percentile(lags_ms, 50);
    const double p90 = percentile(lags_ms, 90);
    const double p99 = percentile(lags_ms, 99);
    const double mx = percentile(lags_ms, 100);
    std::cout << "lag (in the API's database - reply here), ms over " << lags_ms.size()
              << " changes: p50 " << fmt(p50) << "  p90 " << fmt(p90) << "  p99 " << fmt(p99)
              << "  max " << fmt(mx) << "  (min " << fmt(percentile(lags_ms, 0)) << "; " << negative
              << " negative; " << missing << " never seen in the database)\n";
    std::cout << "RESULT method=" << method
              << " achieved_req_s=" << fmt(static_cast<double>(paced.sent) / paced.seconds, 1)
              << " answered_req_s=" << fmt(answered_rate, 1) << " n=" << lags_ms.size()
              << " missing=" << missing << " p50_ms=" << fmt(p50) << " p90_ms=" << fmt(p90)
              << " p99_ms=" << fmt(p99) << " max_ms=" << fmt(mx) << "\n";
    return missing == 0 && drained ? 0 : 1;
}

int run_drive(Options& o) {
    if (o.positions <= 0) {
        std::cerr << "log_lag: --mode drive needs --positions N\n";
        return 2;
    }
    Driver d(o);
    if (!d.connect()) {
        std::cerr << "log_lag: cannot connect to " << o.broker << "\n";
        return 1;
    }
    const auto head0 = d.head();
    if (!head0 || *head0 < 0) {
        std::cerr << "log_lag: the scheduler does not answer stats with log_position (an old "
                     "scheduler?)\n";
        return 1;
    }
    const std::int64_t target = *head0 + o.positions;
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.timeout));
    auto next_ask = Clock::now();
    auto next_print = Clock::now() + 5s;
    const PaceResult paced = pace(d, o.rate, end, [&] {
        const auto now = Clock::now();
        if (now >= next_ask) {
            d.ask_head();
            next_ask = now + 100ms;
        }
        const std::int64_t h = d.latest_head();
        if (now >= next_print) {
            std::cerr << "log_lag: head " << h << " of " << target << "\n";
            next_print = now + 5s;
        }
        return h >= target;
    });
    const bool drained = d.drain(Clock::now() + 30s);
    std::this_thread::sleep_for(1s);  // the piles' answers to the last commands
    const auto head1 = d.head();
    const auto replies = d.replies();
    const auto ok =
        std::count_if(replies.begin(), replies.end(), [](const Reply& r) { return r.ok; });
    std::cout << "drive: " << paced.sent << " requests in " << fmt(paced.seconds, 2) << " s ("
              << fmt(static_cast<double>(paced.sent) / paced.seconds, 1) << " req/s), ok " << ok
              << ", refused " << static_cast<std::int64_t>(replies.size()) - ok
              << (drained ? "" : ", NOT ALL ANSWERED") << "\n";
    print_refusals(replies);
    if (!head1) {
        std::cerr << "log_lag: no stats answer at the end\n";
        return 1;
    }
    std::cout << "drive: log head " << *head0 << " -> " << *head1 << " (" << *head1 - *head0
              << " positions, " << fmt(static_cast<double>(*head1 - *head0) / paced.seconds, 1)
              << " positions/s)\n";
    std::cout << "HEAD " << *head1 << "\n";
    return *head1 >= target && drained ? 0 : 1;
}

int run_head(Options& o) {
    Driver d(o);
    if (!d.connect()) {
        std::cerr << "log_lag: cannot connect to " << o.broker << "\n";
        return 1;
    }
    const auto h = d.head();
    if (!h || *h < 0) {
        std::cerr << "log_lag: no stats answer with log_position\n";
        return 1;
    }
    std::cout << "HEAD " << *h << "\n";
    return 0;
}

int run_wait(Options& o) {
    if (o.db.empty() || o.target_pos < 0) {
        std::cerr << "log_lag: --mode wait needs --db and --target-pos\n";
        return 2;
    }
    const std::int64_t start_ms = o.start_wall_ms > 0 ? o.start_wall_ms : cli::wall_ms();
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.timeout));
    std::optional<Poco::Data::Session> session;
    std::int64_t first_pos = -1;
    std::int64_t first_move_ms = -1;
    std::int64_t pos = -1;
    std::int64_t next_print = cli::wall_ms() + 1000;
    std::int64_t errors = 0;
    while (Clock::now() < end && !cli::stop_requested()) {
        try {
            if (!session) {
                session.emplace(open_readonly(o.db));
            }
            Poco::Int64 p = -1;
            *session << "SELECT COALESCE(MAX(pos), 0) FROM log_position",
                Poco::Data::Keywords::into(p), Poco::Data::Keywords::now;
            pos = p < 0 ? 0 : p;  // the table without its row: nothing applied yet
        } catch (const std::exception&) {
            ++errors;  // not there yet, or busy: try again
        }
        const std::int64_t now = cli::wall_ms();
        if (first_pos < 0 && pos >= 0) {
            first_pos = pos;
        }
        if (first_move_ms < 0 && first_pos >= 0 && pos > first_pos) {
            first_move_ms = now;
        }
        if (pos >= o.target_pos) {
            const double s = static_cast<double>(now - start_ms) / 1e3;
            const std::int64_t moved = pos - std::max<std::int64_t>(first_pos, 0);
            std::cout << "wait: log position " << first_pos << " -> " << pos << " (target "
                      << o.target_pos << ") " << fmt(s, 3) << " s after the start";
            if (first_move_ms >= 0) {
                std::cout << " (first advance after "
                          << fmt(static_cast<double>(first_move_ms - start_ms) / 1e3, 3) << " s)";
            }
            std::cout << "\nRESULT positions=" << moved << " seconds=" << fmt(s, 3)
                      << " positions_per_s=" << fmt(s > 0 ? static_cast<double>(moved) / s : 0, 1)
                      << "\n";
            return 0;
        }
        if (now >= next_print) {
            std::cerr << "wait: position " << pos << " of " << o.target_pos << " after "
                      << fmt(static_cast<double>(now - start_ms) / 1e3, 1) << " s\n";
            next_print = now + 1000;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(o.poll_us > 1000 ? o.poll_us : 1000));
    }
    std::cout << "wait: TIMED OUT at position " << pos << " of " << o.target_pos << " (" << errors
              << " failed reads)\n";
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    o.client_id = "log-lag-" + std::to_string(::getpid());
    if (auto exit = cli::parse_options(argc, argv, "log_lag", kUsage,
                                       [&](const std::string& a, const std::string& v) {
                                           if (a == "--mode") {
                                               o.mode = v;
                                           } else if (a == "--broker") {
                                               o.broker = v;
                                           } else if (a == "--db") {
                                               o.db = v;
                                           } else if (a == "--client-id") {
                                               o.client_id = v;
                                           } else if (a == "--rate") {
                                               o.rate = std::stod(v);
                                           } else if (a == "--seconds") {
                                               o.seconds = std::stod(v);
                                           } else if (a == "--first-car") {
                                               o.first_car = std::stoll(v);
                                           } else if (a == "--cars") {
                                               o.cars = std::stoll(v);
                                           } else if (a == "--window") {
                                               o.window = std::stoll(v);
                                           } else if (a == "--max-inflight") {
                                               o.max_inflight = std::stoll(v);
                                           } else if (a == "--method") {
                                               o.method = v;
                                           } else if (a == "--poll-us") {
                                               o.poll_us = std::stoll(v);
                                           } else if (a == "--kwh") {
                                               o.kwh = std::stod(v);
                                           } else if (a == "--positions") {
                                               o.positions = std::stoll(v);
                                           } else if (a == "--target-pos") {
                                               o.target_pos = std::stoll(v);
                                           } else if (a == "--start-wall-ms") {
                                               o.start_wall_ms = std::stoll(v);
                                           } else if (a == "--timeout") {
                                               o.timeout = std::stod(v);
                                           } else {
                                               return false;
                                           }
                                           return true;
                                       })) {
        return *exit;
    }
    if (o.cars <= o.window || o.window < 1 || o.max_inflight < 1 || o.poll_us < 0 ||
        o.seconds <= 0 || o.timeout <= 0 || !contract::valid_topic_id(o.client_id)) {
        return cli::usage_error(
            "log_lag", kUsage,
            "--cars must exceed --window (>= 1); --max-inflight >= 1; --poll-us >= 0; "
            "--seconds, --timeout > 0; --client-id a topic id");
    }
    cli::install_stop_handlers();
    try {
        if (o.mode == "lag") {
            return run_lag(o);
        }
        if (o.mode == "drive") {
            return run_drive(o);
        }
        if (o.mode == "wait") {
            return run_wait(o);
        }
        if (o.mode == "head") {
            return run_head(o);
        }
    } catch (const std::exception& e) {
        std::cerr << "log_lag: " << e.what() << "\n";
        return 1;
    }
    return cli::usage_error("log_lag", kUsage, "--mode must be lag, drive, wait or head");
}
