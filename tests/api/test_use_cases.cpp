// The API's use cases in process (issue #12): ApiApp behind its ports, with an in-memory
// store (memory_store.hpp), a station whose scheduler is the real one (service::SchedulerApp)
// reached through a SchedulerPort that hands over its answers, state and change log at once,
// and a wall clock the test moves. No file, socket or broker; every step is deterministic.
// The same use cases over HTTP against the running system are in test_api_http.cpp.
#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../unit/support.hpp"
#include "api/api_app.hpp"
#include "api/log_follower.hpp"
#include "api/money.hpp"
#include "app_calls.hpp"
#include "contract/topics.hpp"
#include "memory_store.hpp"
#include "service/scheduler_app.hpp"

using apicall::ask;
using nlohmann::json;

namespace {

constexpr std::int64_t kStartWall = 1'800'000'000'000;           // 2027-01-15, UTC ms
const station::TimeMs kStationStart = test::at(6, 0, 0, 20000);  // a day well past 1970

// The station's scheduler as a port: a request is handed to the scheduler's logic at the
// test's wall time, and whatever that publishes reaches the API at once, as the bus would
// bring it: the reply is returned, the station state and clock go to the read model, and the
// change log is applied to the store. `reachable` false: nothing arrives (the link is cut).
class InProcessStation final : public api::SchedulerPort {
  public:
    InProcessStation(api::StorePort& store, api::StationView& view, const std::int64_t& wall)
        : store_(store), view_(view), wall_(wall) {
        service::SchedulerOptions o;
        o.clock.simulated = true;
        o.clock.start = kStationStart;
        o.clock.speed = 0;  // station time moves only when the admin advances it
        o.run = "run-1";
        o.state_interval_ms = 0;
        app_ = std::make_unique<service::SchedulerApp>(test::profile(1, 2, 30, 10, 5, 2), o, wall_,
                                                       nullptr);
        app_->on_connected(wall_);
        for (const char* pile : {"F1", "T1", "T2"}) {
            const contract::PileStatus s{pile,
                                         true,
                                         station::PileState::Rest,
                                         pile[0] == 'F' ? station::Mode::Fast : station::Mode::Slow,
                                         pile[0] == 'F' ? 30.0 : 10.0,
                                         "",
                                         0,
                                         {"boot", 1}};
            app_->on_message(contract::pile_topic(pile, contract::PileChannel::Status),
                             contract::to_json(s), wall_);
        }
        deliver();
    }

    std::optional<contract::SchedulerReply> call(contract::SchedulerRequest request,
                                                 std::chrono::milliseconds) override {
        if (!reachable) {
            return std::nullopt;
        }
        request.reply_to = contract::replies_topic("api");
        if (request.id.empty()) {
            request.id = next_request_id();
        }
        app_->on_message(contract::scheduler_requests_topic(), contract::to_json(request), wall_);
        return deliver(request.reply_to);
    }
    bool wait_applied(const std::string& run, std::int64_t pos,
                      std::chrono::milliseconds) override {
        const api::LogPosition at = store_.log_position(station());
        return at.run == run && at.pos >= pos;
    }
    std::string next_request_id() override { return "r" + std::to_string(++requests_); }
    const std::string& station() const override { return station_; }

    /// The scheduler's logic, to compare with what the API shows.
    const station::Station& core() const { return app_->station(); }

    bool reachable = true;

  private:
    /// Hands over what the scheduler published; returns the reply on `reply_to`, if any.
    std::optional<contract::SchedulerReply> deliver(const std::string& reply_to = "") {
        std::optional<contract::SchedulerReply> reply;
        std::vector<contract::ChangeBatch> batches;
        for (const contract::Publication& p : app_->take_publications()) {
            if (!reply_to.empty() && p.topic == reply_to) {
                reply.emplace();
                REQUIRE(contract::parse(p.payload, *reply).empty());
            } else if (p.topic == contract::station_changes_topic()) {
                REQUIRE(contract::parse(p.payload, batches.emplace_back()).empty());
            } else if (p.topic == contract::station_state_topic()) {
                view_.offer(json::parse(p.payload));
            } else if (p.topic == contract::station_clock_topic()) {
                contract::ClockMessage clock;
                REQUIRE(contract::parse(p.payload, clock).empty());
                view_.set_clock(clock);
            }
        }
        REQUIRE_FALSE(api::apply_batches(store_, station_, batches).gap);
        return reply;
    }

    api::StorePort& store_;
    api::StationView& view_;
    const std::int64_t& wall_;
    const std::string station_;
    std::unique_ptr<service::SchedulerApp> app_;
    int requests_ = 0;
};

api::ApiOptions options(const std::int64_t& wall) {
    api::ApiOptions o;
    o.password_iterations = 1000;
    o.password_threads = 1;
    o.outcome_retries = 0;
    o.applied_timeout = std::chrono::milliseconds(0);
    o.wall_clock_ms = [&wall] { return wall; };
    return o;
}

// One station and its API, all in this process.
struct StationRig {
    std::int64_t wall = kStartWall;
    apitest::MemoryStore store;
    api::StationView view;
    InProcessStation scheduler{store, view, wall};
    api::ApiApp app{store,         view,   scheduler, api::TokenService(std::string(32, 'k'), 3600),
                    options(wall), nullptr};
    std::string admin;

    StationRig() {
        app.ensure_admin("admin@station.test", "admin-pw");
        admin =
            data(call("POST", "/admin/login", "",
                      json{{"account", "admin@station.test"}, {"password", "admin-pw"}}))["token"];
    }
    json call(const std::string& method, const std::string& path, const std::string& token,
              const json& body = nullptr, const std::map<std::string, std::string>& query = {},
              const std::string& key = "") {
        return ask(app, method, path, token, query, body, key);
    }
    /// The answer's data, after checking it is a success.
    static json data(const json& answer) {
        INFO(answer.dump());
        REQUIRE(answer["http"] == 200);
        REQUIRE((answer["code"] == 0 || answer["code"] == 200 || answer["code"] == "0"));
        return answer["data"];
    }
    std::string login(const std::string& account) {
        return data(call("POST", "/client/login", "",
                         json{{"account", account}, {"password", "pw-1234"}}))["token"];
    }
    /// Registers `account`; returns its token.
    std::string user(const std::string& account) {
        return data(
            call("POST", "/client/register", "",
                 json{{"account", account}, {"password", "pw-1234"}, {"name", "N"}}))["token"];
    }
    std::string car(const std::string& token, double capacity, double current) {
        return data(call("POST", "/client/index/car", token,
                         json{{"name", "car"},
                              {"power_capacity", capacity},
                              {"power_current", current}}))["car_id"];
    }
    json order(const std::string& token, const std::string& car, const std::string& mode,
               double kwh, const std::string& key = "") {
        return call("POST", "/client/index/order", token,
                    json{{"car_id", car}, {"mode", mode}, {"apply_kwh", kwh}}, {}, key);
    }
    json orders(const std::string& token, const std::string& which) {
        return data(call("GET", "/client/index/order", token, nullptr, {{"mode", which}}));
    }
    json information(const std::string& token) {
        return data(call("GET", "/client/index/information", token));
    }
    /// Advances station time by `seconds` through the admin's clock control.
    void advance(std::int64_t seconds) {
        data(call("POST", "/admin/sim/clock", admin, json{{"advance_seconds", seconds}}));
    }
};

std::int64_t cents_of(const json& yuan) {
    return api::to_cents(yuan.get<double>());
}

}  // namespace

TEST_CASE("use case: an account registers, logs in, and a new password ends its other sessions",
          "[use-case]") {
    StationRig s;
    const std::string first = s.user("a@b.cn");
    CHECK(s.information(first)["account"] == "a@b.cn");
    // A taken account is a business error.
    const json again = s.call("POST", "/client/register", "",
                              json{{"account", "a@b.cn"}, {"password", "x"}, {"name", "n"}});
    CHECK(again["http"] == 200);
    CHECK(again["code"] == 1);
    const std::string second =
        StationRig::data(s.call("POST", "/client/login", "",
                                json{{"account", "a@b.cn"}, {"password", "pw-1234"}}))["token"];
    const json changed =
        StationRig::data(s.call("POST", "/client/index/information", second,
                                json{{"old_password", "pw-1234"}, {"new_password", "new-pw"}}));
    CHECK(s.call("GET", "/client/index/information", first)["http"] == 401);
    CHECK(s.information(changed["token"])["account"] == "a@b.cn");
}

TEST_CASE("use case: a token ends when its hour is over, by the API's clock", "[use-case]") {
    StationRig s;
    const std::string token = s.user("t@b.cn");
    s.wall += 3599 * 1000;
    CHECK(s.call("GET", "/client/index/car", token)["http"] == 200);
    s.wall += 2 * 1000;
    CHECK(s.call("GET", "/client/index/car", token)["http"] == 401);
}

TEST_CASE("use case: a car is ordered, dispatched, charged, billed and settled to the cent",
          "[use-case]") {
    StationRig s;
    const std::string u = s.user("c@b.cn");
    StationRig::data(s.call("POST", "/client/index/recharge", u, nullptr, {{"amount", "100"}}));
    const std::string car = s.car(u, 60, 10);
    const json placed = StationRig::data(s.order(u, car, "F", 15));
    CHECK(placed["state"] == "CHARGING");  // the fast pile was free
    CHECK(placed["charge_id"] == "F1");
    // A car is in one open order at a time.
    const json twice = s.order(u, car, "T", 5);
    CHECK(twice["error"] == "car_already_active");
    CHECK(s.scheduler.core().orders().size() == 1);

    s.advance(3600);  // 15 kWh at 30 kW: done after half an hour
    CHECK(s.orders(u, "CURRENT").empty());
    const json done = s.orders(u, "HISTORY");
    REQUIRE(done.size() == 1);
    const json order = done[0];
    CHECK(order["state"] == "FINISHED");
    CHECK(order["charge_kwh"] == Approx(15));
    const std::int64_t fee = cents_of(order["fee"]);
    CHECK(fee > 0);
    CHECK(cents_of(order["charge_fee"]) + cents_of(order["service_fee"]) == fee);
    // The bills add up to the order, the balance paid it, the car holds the energy.
    const json bills = StationRig::data(s.call("GET", "/client/index/bill", u, nullptr,
                                               {{"order_id", order["id"].get<std::string>()}}));
    REQUIRE(bills.size() == 1);
    CHECK(cents_of(bills[0]["fee"]) == fee);
    CHECK(cents_of(s.information(u)["balance"]) == 100 * 100 - fee);
    const json cars = StationRig::data(s.call("GET", "/client/index/car", u));
    CHECK(cars[0]["power_current"] == Approx(25));
    // The pile's report counts the charge.
    const json report = StationRig::data(
        s.call("GET", "/admin/index/report", s.admin, nullptr, {{"charge_id", "F1"}}));
    CHECK(report["total_charge_times"] == 1);
    CHECK(report["total_charge"] == Approx(15));
    CHECK(cents_of(report["total_fee"]) == fee);
    // The car may charge again.
    CHECK(StationRig::data(s.order(u, car, "T", 5))["state"] == "CHARGING");
}

TEST_CASE("use case: a waiting order is changed, then cancelled, and costs nothing", "[use-case]") {
    StationRig s;
    const std::string u = s.user("w@b.cn");
    // The fast pile charges one car and queues one more (a queue of 2): the third waits.
    for (int i = 0; i < 2; ++i) {
        StationRig::data(s.order(u, s.car(u, 60, 0), "F", 20));
    }
    const json waiting = StationRig::data(s.order(u, s.car(u, 60, 0), "F", 20));
    const std::string id = waiting["id"];
    CHECK(waiting["state"] == "WAITING");
    const json changed = StationRig::data(
        s.call("PATCH", "/client/index/order", u, json{{"id", id}, {"apply_kwh", 12}}));
    CHECK(changed["apply_kwh"] == Approx(12));
    const json cancelled = s.call("DELETE", "/client/index/order", u, json{{"id", id}});
    CHECK(cancelled["http"] == 200);
    CHECK(cancelled["code"] == "0");
    const json history = s.orders(u, "HISTORY");
    REQUIRE(history.size() == 1);
    CHECK(history[0]["id"] == id);
    CHECK(history[0]["state"] == "CANCELLED");
    CHECK(cents_of(history[0]["fee"]) == 0);
    CHECK(s.orders(u, "CURRENT").size() == 2);
    CHECK(cents_of(s.information(u)["balance"]) == 0);
}

TEST_CASE("use case: without the scheduler's answer a new order is 504, and nothing is kept",
          "[use-case]") {
    StationRig s;
    const std::string u = s.user("x@b.cn");
    const std::string car = s.car(u, 60, 0);
    s.scheduler.reachable = false;
    const json unknown = s.order(u, car, "F", 10);
    CHECK(unknown["http"] == 504);
    CHECK(unknown["error"] == "outcome_unknown");
    CHECK(s.store.open_order_of_car(std::stoll(car)) == std::nullopt);
    CHECK(s.scheduler.core().orders().empty());
    s.scheduler.reachable = true;
    CHECK(StationRig::data(s.order(u, car, "F", 10))["state"] == "CHARGING");
}

TEST_CASE("use case: a retry under an Idempotency-Key is the first request's answer",
          "[use-case]") {
    StationRig s;
    const std::string u = s.user("k@b.cn");
    const std::string car = s.car(u, 60, 0);
    const json first = StationRig::data(s.order(u, car, "T", 5, "key-1"));
    const json retry = StationRig::data(s.order(u, car, "T", 5, "key-1"));
    CHECK(retry["id"] == first["id"]);
    CHECK(s.scheduler.core().orders().size() == 1);
    // The key names that request: another body under it is refused.
    CHECK(s.order(u, car, "T", 6, "key-1")["http"] == 422);
    // After a day the key is forgotten; the car's open order still refuses a second one.
    s.wall += 25LL * 3600 * 1000;
    // The scheduler remembers the first request's id for longer: another request under the
    // key is not answered with the first one's order.
    const json later = s.order(s.login("k@b.cn"), car, "T", 6, "key-1");
    INFO(later.dump());
    CHECK(later["error"] == "car_already_active");
}
