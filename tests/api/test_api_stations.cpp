// One database, several stations (issue #12): the rows an API instance copies from its
// station's log carry the station, and an instance shows and changes only its own
// station's orders, while a car's open order anywhere keeps it from a second one.
#include <catch2/catch.hpp>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "api/api_app.hpp"
#include "api/store.hpp"
#include "app_calls.hpp"
#include "databases.hpp"
#include "harness.hpp"

using api::ApiApp;
using api::OrderRecord;
using apicall::ask;
using apicall::order_row;
using nlohmann::json;

namespace {

// A scheduler that never answers: what is checked here is decided before asking it.
class SilentScheduler final : public api::SchedulerPort {
  public:
    explicit SilentScheduler(std::string station) : station_(std::move(station)) {}
    std::optional<contract::SchedulerReply> call(contract::SchedulerRequest request,
                                                 std::chrono::milliseconds) override {
        if (request.op != contract::RequestOp::State) {
            asked.push_back(request.op);
        }
        return std::nullopt;
    }
    bool wait_applied(const std::string&, std::int64_t, std::chrono::milliseconds) override {
        return false;
    }
    std::string next_request_id() override { return "r" + std::to_string(++next_); }
    const std::string& station() const override { return station_; }

    std::vector<contract::RequestOp> asked;  ///< but state requests

  private:
    const std::string station_;
    int next_ = 0;
};

// The API instance of one station, on a shared store.
struct Instance {
    Instance(api::Store& store, const std::string& station)
        : scheduler(station),
          app(store, view, scheduler, api::TokenService(std::string(32, 'k'), 3600), options(),
              nullptr) {}
    static api::ApiOptions options() {
        api::ApiOptions o;
        o.password_iterations = 1000;
        o.scheduler_timeout = std::chrono::milliseconds(50);
        o.outcome_retries = 0;
        return o;
    }
    json call(const std::string& method, const std::string& path, const std::string& token,
              const std::map<std::string, std::string>& query = {}, const json& body = nullptr) {
        return ask(app, method, path, token, query, body);
    }

    api::StationView view;
    SilentScheduler scheduler;
    ApiApp app;
};

}  // namespace

TEST_CASE("stations: an instance shows and changes only its own station's orders",
          "[api][stations]") {
    api::Store store(harness::test_database(harness::temp_dir(), "stations.db"));
    const auto user = *store.create_user("d@b.cn", "D", "hash");
    const auto busy = store.add_car(user, "busy", 60, 10);
    const auto done = store.add_car(user, "done", 60, 10);
    // S2's log: one order closed (car `done`), one waiting (car `busy`).
    REQUIRE(store.apply_changes("S2", {}, {"run-a", 2},
                                {order_row("S2", "run-a/0", done, "CANCELLED", 1),
                                 order_row("S2", "run-a/1", busy, "WAITING", 2)},
                                {}));
    const auto waiting = *store.order_id_by_key("S2", "run-a/1");
    const auto closed = *store.order_id_by_key("S2", "run-a/0");

    Instance s1(store, "S1");
    Instance s2(store, "S2");
    const std::string token = api::TokenService(std::string(32, 'k'), 3600)
                                  .issue(user, api::Role::Client, std::time(nullptr));

    for (const char* mode : {"CURRENT", "HISTORY"}) {
        INFO(mode);
        CHECK(s1.call("GET", "/client/index/order", token, {{"mode", mode}})["data"].empty());
        CHECK(s2.call("GET", "/client/index/order", token, {{"mode", mode}})["data"].size() == 1);
    }
    const json shown = s2.call("GET", "/client/index/order", token, {{"mode", "CURRENT"}});
    CHECK(shown["data"][0]["id"] == std::to_string(waiting));

    // S2's orders are not found at S1: its scheduler is not the one that could change them.
    for (const auto& [method, id] : {std::pair{"PATCH", waiting}, std::pair{"DELETE", waiting}}) {
        INFO(method);
        const json r = s1.call(method, "/client/index/order", token, {},
                               json{{"id", std::to_string(id)}, {"mode", "F"}});
        CHECK(r["error"] == "order_not_found");
    }
    CHECK(s1.call("GET", "/client/index/bill", token,
                  {{"order_id", std::to_string(closed)}})["error"] == "order_not_found");
    CHECK(s2.call("GET", "/client/index/bill", token,
                  {{"order_id", std::to_string(closed)}})["code"] == 0);

    // A car charging at S2 cannot be ordered at S1, and is not asked of S1's scheduler.
    const json again =
        s1.call("POST", "/client/index/order", token, {},
                json{{"car_id", std::to_string(busy)}, {"mode", "T"}, {"apply_kwh", 5}});
    CHECK(again["code"] != 0);
    CHECK(s1.scheduler.asked.empty());
}

TEST_CASE("stations: one API serves several; ?station= picks one, an order's station acts on it",
          "[api][stations]") {
    api::Store store(harness::test_database(harness::temp_dir(), "several.db"));
    const auto user = *store.create_user("e@b.cn", "E", "hash");
    const auto free_car = store.add_car(user, "free", 60, 10);
    const auto at_s1 = store.add_car(user, "one", 60, 10);
    const auto at_s2 = store.add_car(user, "two", 60, 10);
    REQUIRE(store.apply_changes("S1", {}, {"run-1", 1},
                                {order_row("S1", "run-1/0", at_s1, "WAITING", 1)}, {}));
    REQUIRE(store.apply_changes("S2", {}, {"run-2", 1},
                                {order_row("S2", "run-2/0", at_s2, "WAITING", 1)}, {}));
    const auto s2_order = *store.order_id_by_key("S2", "run-2/0");

    api::StationView v1;
    api::StationView v2;
    SilentScheduler s1("S1");
    SilentScheduler s2("S2");
    ApiApp app(store, {api::ServedStation{v1, s1}, api::ServedStation{v2, s2}},
               api::TokenService(std::string(32, 'k'), 3600), Instance::options(), nullptr);
    const std::string token = api::TokenService(std::string(32, 'k'), 3600)
                                  .issue(user, api::Role::Client, std::time(nullptr));
    const auto call = [&](const std::string& method, const std::string& path,
                          const std::map<std::string, std::string>& query,
                          const json& body = nullptr) {
        return ask(app, method, path, token, query, body);
    };

    // Without a station: the orders of every station served, each naming its station.
    const json all = call("GET", "/client/index/order", {{"mode", "CURRENT"}});
    REQUIRE(all["data"].size() == 2);
    std::set<std::string> named;
    for (const json& o : all["data"]) {
        named.insert(o["station"].get<std::string>());
    }
    CHECK(named == std::set<std::string>{"S1", "S2"});
    const json only = call("GET", "/client/index/order", {{"mode", "CURRENT"}, {"station", "S2"}});
    REQUIRE(only["data"].size() == 1);
    CHECK(only["data"][0]["id"] == std::to_string(s2_order));
    const json unknown =
        call("GET", "/client/index/order", {{"mode", "CURRENT"}, {"station", "S9"}});
    CHECK(unknown["http"] == 404);
    CHECK(unknown["error"] == "unknown_station");

    // An order is changed at its own station, whichever the request named.
    const json cancel =
        call("DELETE", "/client/index/order", {}, json{{"id", std::to_string(s2_order)}});
    CHECK(cancel["http"] == 504);  // the stand-in never answers
    CHECK(s1.asked.empty());
    CHECK(s2.asked == std::vector{contract::RequestOp::Cancel});

    // A new order goes to the station named, else to the first one.
    const json order = json{{"car_id", std::to_string(free_car)}, {"mode", "T"}, {"apply_kwh", 5}};
    call("POST", "/client/index/order", {{"station", "S2"}}, order);
    CHECK(s2.asked.back() == contract::RequestOp::Submit);
    CHECK(s1.asked.empty());
    // The car asked of S2 (its outcome unknown: the stand-in never answers) is not asked of
    // S1 meanwhile (tests/api/test_car_claims.cpp); another car is, by default.
    CHECK(call("POST", "/client/index/order", {}, order)["error"] == "car_claimed");
    CHECK(s1.asked.empty());
    const auto spare = store.add_car(user, "spare", 60, 10);
    call("POST", "/client/index/order", {},
         json{{"car_id", std::to_string(spare)}, {"mode", "T"}, {"apply_kwh", 5}});
    CHECK(s1.asked == std::vector{contract::RequestOp::Submit});

    // A car with an open order at either station is not sent anywhere again.
    call("POST", "/client/index/order", {{"station", "S2"}},
         json{{"car_id", std::to_string(at_s1)}, {"mode", "T"}, {"apply_kwh", 5}});
    CHECK(s2.asked.size() == 2);

    // The admin's live stream shows the station its ticket was asked for.
    REQUIRE(store.ensure_admin("boss@b.cn", "hash"));
    const std::string boss =
        api::TokenService(std::string(32, 'k'), 3600)
            .issue(store.admin_by_account("boss@b.cn")->id, api::Role::Admin, std::time(nullptr));
    for (const char* station : {"S2", "S1"}) {
        INFO(station);
        const json ticket =
            ask(app, "POST", "/admin/index/live/ticket", boss, {{"station", station}}, nullptr);
        REQUIRE(ticket["code"] == 0);
        api::HttpRequest live;
        live.method = "GET";
        live.path = "/admin/index/live";
        live.query = {{"ticket", ticket["data"]["ticket"].get<std::string>()}};
        const auto grant = app.open_live(live);
        REQUIRE(std::holds_alternative<api::LiveGrant>(grant));
        const auto shown = app.live_state(std::get<api::LiveGrant>(grant));
        REQUIRE(shown);
        json manage = ask(app, "GET", "/admin/index/manage", boss, {{"station", station}}, nullptr);
        manage.erase("http");
        CHECK(json::parse(*shown) == manage);
        CHECK(manage["data"]["id"] == station);
    }

    api::StationView v3;
    SilentScheduler again("S1");
    CHECK_THROWS_AS(
        ApiApp(store, {api::ServedStation{v1, s1}, api::ServedStation{v3, again}},
               api::TokenService(std::string(32, 'k'), 3600), Instance::options(), nullptr),
        std::invalid_argument);
    CHECK_THROWS_AS(
        ApiApp(store, std::vector<api::ServedStation>{},
               api::TokenService(std::string(32, 'k'), 3600), Instance::options(), nullptr),
        std::invalid_argument);
}

TEST_CASE("stations: the rows of a station without an id are adopted once, not applied again",
          "[api][stations]") {
    api::Store store(harness::test_database(harness::temp_dir(), "adopt.db"));
    const auto user = *store.create_user("f@b.cn", "F", "hash");
    const auto car = store.add_car(user, "car", 60, 10);
    OrderRecord closed = order_row("", "run-e/0", car, "FINISHED", 2);
    closed.charge_kwh = 5;
    closed.charge_fee_cents = 400;
    closed.service_fee_cents = 100;
    const api::BillRecord bill{0, "run-e/B0", "run-e/0", "T1",        0, 3600000, 5,
                               1, 400,        100,       "completed", 1, ""};
    // An API that followed the station on its own topics: everything under "".
    REQUIRE(store.apply_changes("", {}, {"run-e", 2}, {closed}, {bill}));
    REQUIRE(store.user(user)->balance_cents == -500);
    CHECK(store.has_station(""));
    CHECK_FALSE(store.has_station("S1"));

    store.adopt_station("", "S1");
    CHECK_FALSE(store.has_station(""));
    CHECK(store.log_position("S1").run == "run-e");
    CHECK(store.log_position("S1").pos == 2);
    CHECK(store.log_position("").run.empty());
    CHECK(store.pile_totals("S1").at(0).second.charges == 1);
    CHECK(store.bills_of_order("S1", "run-e/0").size() == 1);
    // The same log, replayed under the id from its start (a catch-up that did not know),
    // settles nothing twice and adds no bill.
    OrderRecord again = closed;
    again.station = "S1";
    api::BillRecord bill_again = bill;
    bill_again.station = "S1";
    CHECK_FALSE(store.apply_changes("S1", {}, {"run-e", 2}, {again}, {bill_again}));
    REQUIRE(store.apply_changes("S1", {"run-e", 2}, {"run-e", 3}, {again}, {bill_again}));
    CHECK(store.user(user)->balance_cents == -500);
    CHECK(store.pile_totals("S1").at(0).second.charges == 1);
    // Rows already there are not merged into.
    REQUIRE(store.apply_changes("", {}, {"run-f", 1}, {}, {}));
    CHECK_THROWS_AS(store.adopt_station("", "S1"), std::invalid_argument);
    CHECK_THROWS_AS(store.adopt_station("S1", "S1"), std::invalid_argument);
}
