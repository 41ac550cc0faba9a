// The REST API over real HTTP against the running system (broker, scheduler, pile
// simulator, station-api on a free port): every endpoint, success and failure.

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <vector>

#include "api_stack.hpp"
#include "contract/messages.hpp"

using apitest::is_envelope;
using apitest::json;
using apitest::Reply;
using apitest::Stack;
using namespace std::chrono_literals;

namespace {

json data_of(const Reply& r) {
    return r.body.is_object() ? r.body["data"] : json();
}

}  // namespace

TEST_CASE("api: register and log in follow the document's rules", "[api]") {
    Stack s;
    auto& h = s.http();
    INFO("logs in " << s.dir());
    const auto reg = h.call("POST", "/client/register",
                            json{{"account", "li@bupt.cn"}, {"password", "p1"}, {"name", "李"}});
    REQUIRE(is_envelope(reg, 200, 0));
    const std::string token = data_of(reg)["token"];
    CHECK(is_envelope(h.call("GET", "/client/index/information", std::nullopt, token), 200, 0));

    SECTION("a taken account is a business error") {
        const auto again =
            h.call("POST", "/client/register",
                   json{{"account", "li@bupt.cn"}, {"password", "x"}, {"name", "n"}});
        CHECK(is_envelope(again, 200, 1));
        CHECK(again.body["error"] == "account_taken");
    }
    SECTION("malformed registrations are 400 and store nothing") {
        for (const json& bad :
             {json{{"account", "not-an-email"}, {"password", "p"}, {"name", "n"}},
              json{{"account", "a@b.cn"}, {"password", std::string(33, 'x')}, {"name", "n"}},
              json{{"account", "a@b.cn"}, {"password", ""}, {"name", "n"}},
              json{{"account", "a@b.cn"}, {"password", "p"}},
              json{{"account", 5}, {"password", "p"}, {"name", "n"}}, json::array()}) {
            CHECK(is_envelope(h.call("POST", "/client/register", bad), 400, 400));
        }
        CHECK(is_envelope(h.raw("POST", "/client/register", "{not json", {}), 400, 400));
        CHECK(is_envelope(
            h.call("POST", "/client/login", json{{"account", "a@b.cn"}, {"password", "p"}}), 200,
            1));
    }
    SECTION("login: right password gives a token, wrong ones a business error") {
        const auto ok =
            h.call("POST", "/client/login", json{{"account", "li@bupt.cn"}, {"password", "p1"}});
        REQUIRE(is_envelope(ok, 200, 0));
        CHECK(is_envelope(h.call("GET", "/client/index/car", std::nullopt, data_of(ok)["token"]),
                          200, 0));
        const auto wrong =
            h.call("POST", "/client/login", json{{"account", "li@bupt.cn"}, {"password", "p2"}});
        CHECK(is_envelope(wrong, 200, 1));
        CHECK(wrong.body["msg"] == "账号或密码错误");
        CHECK(is_envelope(h.call("POST", "/client/login",
                                 json{{"account", "nobody@bupt.cn"}, {"password", "p1"}}),
                          200, 1));
        CHECK(is_envelope(
            h.call("POST", "/admin/login", json{{"account", "li@bupt.cn"}, {"password", "p1"}}),
            200, 1));
    }
    SECTION("after five failed logins the account waits, even with the right password") {
        for (int i = 0; i < 5; ++i) {
            CHECK(h.call("POST", "/client/login",
                         json{{"account", "li@bupt.cn"}, {"password", "guess"}})
                      .body["error"] == "wrong_credentials");
        }
        CHECK(
            h.call("POST", "/client/login", json{{"account", "li@bupt.cn"}, {"password", "guess"}})
                .body["error"] == "wrong_credentials");
        const auto locked =
            h.call("POST", "/client/login", json{{"account", "li@bupt.cn"}, {"password", "p1"}});
        CHECK(is_envelope(locked, 200, 1));
        CHECK(locked.body["error"] == "too_many_attempts");
        // The session that is logged in goes on.
        CHECK(is_envelope(h.call("GET", "/client/index/car", std::nullopt, token), 200, 0));
    }
    SECTION("tokens: header or Bearer; missing or bad is 401; wrong role is 403") {
        CHECK(is_envelope(
            h.raw("GET", "/client/index/car", "", {{"Authorization", "Bearer " + token}}), 200, 0));
        CHECK(is_envelope(h.call("GET", "/client/index/car"), 401, 401));
        CHECK(is_envelope(h.call("GET", "/client/index/car", std::nullopt, "junk"), 401, 401));
        CHECK(is_envelope(h.call("GET", "/client/index/car", std::nullopt, token + "x"), 401, 401));
        CHECK(is_envelope(h.call("GET", "/admin/index/manage", std::nullopt, token), 403, 403));
        CHECK(is_envelope(h.call("POST", "/admin/sim/fault", json{{"charge_id", "T1"}}, token), 403,
                          403));
        const std::string admin = s.admin_token();
        CHECK(is_envelope(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, admin),
                          403, 403));
        // POST /client/index/order keeps its -1 failure code; DELETE its string code.
        CHECK(is_envelope(h.call("POST", "/client/index/order", json::object()), 401, -1));
        CHECK(is_envelope(h.call("DELETE", "/client/index/order", json::object()), 401, "401"));
    }
    SECTION("the two home pages are public HTML") {
        for (const char* page : {"/admin/index", "/client/index"}) {
            const auto r = h.call("GET", page);
            CHECK(r.status == 200);
            CHECK(r.content_type.rfind("text/html", 0) == 0);
            CHECK(r.raw.find("<html") != std::string::npos);
        }
        CHECK(h.call("GET", "/web/app.js").status == 200);
        CHECK(h.call("GET", "/web/../CMakeLists.txt").status == 404);
    }
}

TEST_CASE("api: user information and password change", "[api]") {
    Stack s;
    auto& h = s.http();
    const std::string token = s.user("wang@bupt.cn", "王");
    s.car(token, "小车", 60, 12.5);
    auto info = h.call("GET", "/client/index/information", std::nullopt, token);
    REQUIRE(is_envelope(info, 200, 0));
    CHECK(data_of(info)["account"] == "wang@bupt.cn");
    CHECK(data_of(info)["name"] == "王");
    CHECK(data_of(info)["balance"] == 0);
    CHECK(data_of(info)["car_array"][0]["power_current"] == 12.5);

    CHECK(is_envelope(h.call("POST", "/client/index/information", json{{"name", "王二"}}, token),
                      200, 0));
    CHECK(data_of(h.call("GET", "/client/index/information", std::nullopt, token))["name"] ==
          "王二");
    // null means "not changed"; nothing to change is a 400.
    CHECK(is_envelope(h.call("POST", "/client/index/information", json{{"name", nullptr}}, token),
                      400, 400));
    CHECK(is_envelope(h.call("POST", "/client/index/information", json{{"name", ""}}, token), 400,
                      400));
    const auto wrong_old = h.call("POST", "/client/index/information",
                                  json{{"old_password", "bad"}, {"new_password", "new-pw"}}, token);
    CHECK(is_envelope(wrong_old, 200, 1));
    CHECK(is_envelope(h.call("POST", "/client/login",
                             json{{"account", "wang@bupt.cn"}, {"password", "pw-wang@bup"}}),
                      200, 0));
    const auto changed =
        h.call("POST", "/client/index/information",
               json{{"old_password", "pw-wang@bup"}, {"new_password", "new-pw"}}, token);
    REQUIRE(is_envelope(changed, 200, 0));
    // The other sessions end; this one goes on with the token in the answer.
    CHECK(is_envelope(h.call("GET", "/client/index/car", std::nullopt, token), 401, 401));
    const std::string renewed = data_of(changed)["token"];
    CHECK(is_envelope(h.call("GET", "/client/index/car", std::nullopt, renewed), 200, 0));
    CHECK(is_envelope(
        h.call("POST", "/client/login", json{{"account", "wang@bupt.cn"}, {"password", "new-pw"}}),
        200, 0));
    CHECK(is_envelope(h.call("POST", "/client/login",
                             json{{"account", "wang@bupt.cn"}, {"password", "pw-wang@bup"}}),
                      200, 1));

    SECTION("recharge adds to the balance, in yuan with two decimals") {
        auto r = h.call("POST", "/client/index/recharge?amount=100.25", std::nullopt, renewed);
        REQUIRE(is_envelope(r, 200, 0));
        CHECK(data_of(r)["balance"] == 100.25);
        CHECK(is_envelope(
            h.call("POST", "/client/index/recharge?amount=0.5", std::nullopt, renewed), 200, 0));
        for (const char* bad : {"0", "-5", "1.234", "abc", "", "1e3", "99999999999"}) {
            CHECK(is_envelope(h.call("POST", std::string("/client/index/recharge?amount=") + bad,
                                     std::nullopt, renewed),
                              400, 400));
        }
        CHECK(data_of(h.call("GET", "/client/index/information", std::nullopt,
                             renewed))["balance"] == 100.75);
    }
}

TEST_CASE("api: cars — add and list and change and delete only one's own", "[api]") {
    Stack s;
    auto& h = s.http();
    const std::string a = s.user("a@bupt.cn");
    const std::string b = s.user("b@bupt.cn");
    const std::string car = s.car(a, "A的车", 60, 10);
    const std::string other = s.car(b, "B的车", 60, 10);

    auto list = h.call("GET", "/client/index/car", std::nullopt, a);
    REQUIRE(is_envelope(list, 200, 0));
    REQUIRE(data_of(list).size() == 1);
    CHECK(data_of(list)[0]["car_id"] == car);
    CHECK(data_of(list)[0]["name"] == "A的车");

    CHECK(is_envelope(h.call("PATCH", "/client/index/car",
                             json{{"car_id", car}, {"name", "新名"}, {"power_capacity", 80}}, a),
                      200, 0));
    list = h.call("GET", "/client/index/car", std::nullopt, a);
    CHECK(data_of(list)[0]["name"] == "新名");
    CHECK(data_of(list)[0]["power_capacity"] == 80);

    // Bad values: 400, nothing changes.
    for (const json& bad : {json{{"name", "x"}, {"power_capacity", 0}, {"power_current", 0}},
                            json{{"name", "x"}, {"power_capacity", 50}, {"power_current", 51}},
                            json{{"name", "x"}, {"power_capacity", -1}, {"power_current", 0}},
                            json{{"name", "x"}, {"power_capacity", "50"}, {"power_current", 0}},
                            json{{"power_capacity", 50}, {"power_current", 0}}}) {
        CHECK(is_envelope(h.call("POST", "/client/index/car", bad, a), 400, 400));
    }
    CHECK(is_envelope(
        h.call("PATCH", "/client/index/car", json{{"car_id", car}, {"power_current", 81}}, a), 400,
        400));
    CHECK(data_of(h.call("GET", "/client/index/car", std::nullopt, a)).size() == 1);

    // Another user's car looks like no car at all.
    CHECK(h.call("PATCH", "/client/index/car", json{{"car_id", other}, {"name", "偷"}}, a)
              .body["error"] == "car_not_found");
    CHECK(h.call("DELETE", "/client/index/car", json{{"car_id", other}}, a).body["error"] ==
          "car_not_found");
    CHECK(h.call("DELETE", "/client/index/car", json{{"car_id", "999"}}, a).body["error"] ==
          "car_not_found");
    CHECK(data_of(h.call("GET", "/client/index/car", std::nullopt, b))[0]["name"] == "B的车");

    // A car with an open order cannot be deleted or have its charge changed.
    REQUIRE(s.piles_are("REST"));
    REQUIRE(is_envelope(h.call("POST", "/client/index/order",
                               json{{"car_id", car}, {"mode", "T"}, {"apply_kwh", 5}}, a),
                        200, 200));
    CHECK(h.call("DELETE", "/client/index/car", json{{"car_id", car}}, a).body["error"] ==
          "car_busy");
    CHECK(h.call("PATCH", "/client/index/car", json{{"car_id", car}, {"power_current", 1}}, a)
              .body["error"] == "car_busy");
    CHECK(is_envelope(
        h.call("PATCH", "/client/index/car", json{{"car_id", car}, {"name", "改名可以"}}, a), 200,
        0));

    CHECK(is_envelope(h.call("DELETE", "/client/index/car", json{{"car_id", other}}, b), 200, 0));
    CHECK(data_of(h.call("GET", "/client/index/car", std::nullopt, b)).empty());
}

TEST_CASE("api: orders — create and read and change and cancel with bills and settlement",
          "[api]") {
    Stack s;
    auto& h = s.http();
    INFO("logs in " << s.dir());
    REQUIRE(s.piles_are("REST"));
    const std::string admin = s.admin_token();
    const std::string a = s.user("a@bupt.cn");
    const std::string b = s.user("b@bupt.cn");
    const std::string car = s.car(a, "V1", 60, 10);
    const std::string car2 = s.car(a, "V2", 60, 0);
    const std::string bcar = s.car(b, "VB", 60, 0);

    const auto created = h.call("POST", "/client/index/order",
                                json{{"car_id", car}, {"mode", "T"}, {"apply_kwh", 20}}, a);
    REQUIRE(is_envelope(created, 200, 200));
    const json order = data_of(created);
    CHECK(order["car_id"] == car);
    CHECK(order["mode"] == "T");
    CHECK(order["number"] == 1);
    CHECK(order["state"] == "CHARGING");
    CHECK(order["charge_id"] == "T1");
    CHECK(order["create_time"] == "2026-11-25 06:00:00");
    const std::string id = order["id"];

    SECTION("refusals: second order, bad mode or amount, beyond the battery, others' cars") {
        const auto twice = h.call("POST", "/client/index/order",
                                  json{{"car_id", car}, {"mode", "F"}, {"apply_kwh", 5}}, a);
        CHECK(is_envelope(twice, 200, -1));
        CHECK(twice.body["error"] == "car_already_active");
        CHECK(is_envelope(h.call("POST", "/client/index/order",
                                 json{{"car_id", car2}, {"mode", "X"}, {"apply_kwh", 5}}, a),
                          400, -1));
        CHECK(is_envelope(h.call("POST", "/client/index/order",
                                 json{{"car_id", car2}, {"mode", "F"}, {"apply_kwh", 0}}, a),
                          400, -1));
        CHECK(is_envelope(h.call("POST", "/client/index/order",
                                 json{{"car_id", car2}, {"mode", "F"}, {"apply_kwh", "5"}}, a),
                          400, -1));
        const auto big = h.call("POST", "/client/index/order",
                                json{{"car_id", car2}, {"mode", "F"}, {"apply_kwh", 61}}, a);
        CHECK(is_envelope(big, 200, -1));
        CHECK(big.body["error"] == "amount_exceeds_capacity");
        CHECK(h.call("POST", "/client/index/order",
                     json{{"car_id", bcar}, {"mode", "F"}, {"apply_kwh", 5}}, a)
                  .body["error"] == "car_not_found");
        // Nothing of that was stored.
        CHECK(data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, a)).size() ==
              1);
        CHECK(data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, b)).empty());
        CHECK(is_envelope(h.call("GET", "/client/index/order", std::nullopt, a), 400, 400));
        CHECK(
            is_envelope(h.call("GET", "/client/index/order?mode=ALL", std::nullopt, a), 400, 400));
        // Another user's order looks like no order.
        CHECK(h.call("DELETE", "/client/index/order", json{{"id", id}}, b).body["error"] ==
              "order_not_found");
        CHECK(h.call("PATCH", "/client/index/order", json{{"id", id}, {"apply_kwh", 1}}, b)
                  .body["error"] == "order_not_found");
        CHECK(h.call("GET", "/client/index/bill?order_id=" + id, std::nullopt, b).body["error"] ==
              "order_not_found");
    }
    SECTION("a waiting order changes amount and mode; a charging one cannot") {
        // Fill T1..T3 (3 places each; a's first car is on T1): 8 cars of user b, then a's
        // second car waits.
        std::vector<std::string> cars;
        for (int i = 0; i < 8; ++i) {
            cars.push_back(s.car(b, "B" + std::to_string(i), 60, 0));
            REQUIRE(is_envelope(
                h.call("POST", "/client/index/order",
                       json{{"car_id", cars.back()}, {"mode", "T"}, {"apply_kwh", 10}}, b),
                200, 200));
        }
        const auto waiting = h.call("POST", "/client/index/order",
                                    json{{"car_id", car2}, {"mode", "T"}, {"apply_kwh", 10}}, a);
        REQUIRE(is_envelope(waiting, 200, 200));
        CHECK(data_of(waiting)["state"] == "WAITING");
        const std::string wid = data_of(waiting)["id"];
        auto current = data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, a));
        REQUIRE(current.size() == 2);
        CHECK(current[0]["id"] == wid);  // newest first
        CHECK(current[0]["front_cars"] == 0);
        CHECK(current[0]["number"] == 10);

        const auto amount =
            h.call("PATCH", "/client/index/order", json{{"id", wid}, {"apply_kwh", 12}}, a);
        REQUIRE(is_envelope(amount, 200, 0));
        CHECK(data_of(amount)["apply_kwh"] == 12);
        CHECK(data_of(amount)["number"] == 10);
        const auto mode = h.call("PATCH", "/client/index/order",
                                 json{{"id", wid}, {"mode", "F"}, {"apply_kwh", nullptr}}, a);
        REQUIRE(is_envelope(mode, 200, 0));
        CHECK(data_of(mode)["id"] == wid);
        CHECK(data_of(mode)["mode"] == "F");
        CHECK(data_of(mode)["number"] == 1);  // a new number of the new mode
        const auto charging =
            h.call("PATCH", "/client/index/order", json{{"id", id}, {"apply_kwh", 5}}, a);
        CHECK(is_envelope(charging, 200, 1));
        CHECK(charging.body["error"] == "not_in_waiting_area");
        CHECK(is_envelope(h.call("PATCH", "/client/index/order", json{{"id", id}}, a), 400, 400));
        CHECK(h.call("PATCH", "/client/index/order", json{{"id", wid}, {"apply_kwh", 100}}, a)
                  .body["error"] == "amount_exceeds_capacity");
    }
    SECTION("cancel: code \"0\", then history; cancelling again is refused") {
        const auto cancelled = h.call("DELETE", "/client/index/order", json{{"id", id}}, a);
        REQUIRE(is_envelope(cancelled, 200, "0"));
        CHECK(data_of(cancelled)["state"] == "CANCELLED");
        CHECK(is_envelope(h.call("DELETE", "/client/index/order", json{{"id", id}}, a), 200, "1"));
        CHECK(data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, a)).empty());
        const auto history =
            data_of(h.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, a));
        REQUIRE(history.size() == 1);
        CHECK(history[0]["state"] == "CANCELLED");
        CHECK(history[0]["finish_time"] == "2026-11-25 06:00:00");
        CHECK(data_of(h.call("GET", "/client/index/bill?order_id=" + id, std::nullopt, a))
                  .empty());  // zero length
    }
    SECTION("completion: bill, fee from the balance, energy into the battery") {
        // 20 kWh at 10 kW from 06:00: 1 h valley + 1 h flat = 10*(0.4+0.8) + 10*(0.7+0.8) = 27.
        REQUIRE(is_envelope(
            h.call("POST", "/admin/sim/clock", json{{"advance_seconds", 3 * 3600}}, admin), 200,
            0));
        REQUIRE(harness::Probe::eventually([&] {
            return data_of(h.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, a))
                       .size() == 1;
        }));
        const auto done =
            data_of(h.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, a))[0];
        CHECK(done["state"] == "FINISHED");
        CHECK(done["charge_kwh"] == 20);
        CHECK(done["fee"] == 27);
        CHECK(done["charge_price"] == 0.55);
        CHECK(done["service_price"] == 0.8);
        CHECK(done["start_time"] == "2026-11-25 06:00:00");
        CHECK(done["finish_time"] == "2026-11-25 08:00:00");
        const auto bills =
            data_of(h.call("GET", "/client/index/bill?order_id=" + id, std::nullopt, a));
        REQUIRE(bills.size() == 1);
        CHECK(bills[0]["charge_id"] == "T1");
        CHECK(bills[0]["charge_kwh"] == 20);
        CHECK(bills[0]["charge_duration"] == 2);
        CHECK(bills[0]["charge_fee"] == 11);
        CHECK(bills[0]["service_fee"] == 16);
        CHECK(bills[0]["fee"] == 27);
        CHECK(bills[0]["start_time"] == "2026-11-25 06:00:00");
        CHECK(bills[0]["stop_time"] == "2026-11-25 08:00:00");
        REQUIRE(harness::Probe::eventually([&] {
            return data_of(h.call("GET", "/client/index/information", std::nullopt,
                                  a))["balance"] == -27;
        }));
        CHECK(data_of(h.call("GET", "/client/index/car", std::nullopt, a))[0]["power_current"] ==
              30);
        CHECK(is_envelope(h.call("GET", "/client/index/bill", std::nullopt, a), 400, 400));
    }
}

TEST_CASE("api: the waiting area's limit is the scheduler's", "[api]") {
    apitest::StackOptions options;
    options.profile = "bupt-2023";
    Stack s(options);
    auto& h = s.http();
    REQUIRE(s.piles_are("REST"));
    const std::string u = s.user("many@bupt.cn");
    // bupt-2023: 2 fast piles of 2 places and 6 waiting places: the 11th fast car is refused.
    for (int i = 0; i < 10; ++i) {
        const std::string car = s.car(u, "F" + std::to_string(i));
        REQUIRE(is_envelope(h.call("POST", "/client/index/order",
                                   json{{"car_id", car}, {"mode", "F"}, {"apply_kwh", 30}}, u),
                            200, 200));
    }
    const std::string last = s.car(u, "last");
    const auto full = h.call("POST", "/client/index/order",
                             json{{"car_id", last}, {"mode", "F"}, {"apply_kwh", 30}}, u);
    CHECK(is_envelope(full, 200, -1));
    CHECK(full.body["error"] == "waiting_area_full");
    CHECK(full.body["msg"] == "等候区已满，暂时不能提交充电请求");
    const auto current =
        data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, u));
    CHECK(current.size() == 10);
    CHECK(current[0]["front_cars"] == 5);  // the newest waits behind five
}

TEST_CASE("api: admin — station and piles and switching and reports and simulation control",
          "[api]") {
    Stack s;
    auto& h = s.http();
    INFO("logs in " << s.dir());
    REQUIRE(s.piles_are("REST"));
    const std::string admin = s.admin_token();
    const std::string u = s.user("c@bupt.cn");
    const std::string car = s.car(u, "C1", 100, 0);
    REQUIRE(is_envelope(h.call("POST", "/client/index/order",
                               json{{"car_id", car}, {"mode", "F"}, {"apply_kwh", 30}}, u),
                        200, 200));

    auto manage = data_of(h.call("GET", "/admin/index/manage", std::nullopt, admin));
    REQUIRE(manage["charge_array"].size() == 5);
    const json f1 = manage["charge_array"][0];
    CHECK(f1["id"] == "F1");
    CHECK(f1["state"] == "WORK");
    REQUIRE(f1["car_blocks"].size() == 1);
    CHECK(f1["car_blocks"][0]["number"] == "F1");
    CHECK(f1["car_blocks"][0]["car_id"] == car);
    CHECK(f1["car_blocks"][0]["name"] == "C1");
    CHECK(f1["car_blocks"][0]["state"] == "CHARGING");
    CHECK(f1["car_blocks"][0]["apply_kwh"] == 30);
    CHECK(manage["wait_array"].empty());
    CHECK(manage["redispatch_array"].empty());

    const auto charge =
        data_of(h.call("GET", "/admin/index/charge?charge_id=F1", std::nullopt, admin));
    CHECK(charge["car_blocks"][0]["car_id"] == car);
    CHECK(is_envelope(h.call("GET", "/admin/index/charge", std::nullopt, admin), 400, 400));
    CHECK(h.call("GET", "/admin/index/charge?charge_id=Z9", std::nullopt, admin).body["error"] ==
          "unknown_pile");

    // Half an hour: 15 kWh charged, the car block shows it.
    REQUIRE(is_envelope(h.call("POST", "/admin/sim/clock", json{{"advance_seconds", 1800}}, admin),
                        200, 0));
    manage = data_of(h.call("GET", "/admin/index/manage", std::nullopt, admin));
    CHECK(manage["charge_array"][0]["car_blocks"][0]["charged_kwh"] == 15);
    CHECK(manage["charge_array"][0]["car_blocks"][0]["power_current"] == 15);

    SECTION("fault and recovery through the simulation endpoints") {
        REQUIRE(is_envelope(
            h.call("POST", "/admin/sim/fault", json{{"charge_id", "F1"}, {"minutes", 0}}, admin),
            200, 0));
        manage = data_of(h.call("GET", "/admin/index/manage", std::nullopt, admin));
        CHECK(manage["charge_array"][0]["state"] == "FAULT");
        // The car moved to F2 at once (the group is served before the waiting area).
        CHECK(manage["charge_array"][1]["car_blocks"][0]["car_id"] == car);
        CHECK(h.call("POST", "/admin/sim/fault", json{{"charge_id", "F1"}}, admin).body["error"] ==
              "pile_already_faulty");
        CHECK(h.call("POST", "/admin/sim/fault", json{{"charge_id", "Z9"}}, admin).body["error"] ==
              "unknown_pile");
        CHECK(is_envelope(
            h.call("POST", "/admin/sim/fault", json{{"charge_id", "F2"}, {"minutes", -1}}, admin),
            400, 400));
        REQUIRE(is_envelope(h.call("POST", "/admin/sim/recover", json{{"charge_id", "F1"}}, admin),
                            200, 0));
        CHECK(
            h.call("POST", "/admin/sim/recover", json{{"charge_id", "F1"}}, admin).body["error"] ==
            "pile_not_faulty");
        // The interrupted session has its own bill.
        const auto orders =
            data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, u));
        REQUIRE(harness::Probe::eventually([&] {
            return data_of(
                       h.call("GET",
                              "/client/index/bill?order_id=" + orders[0]["id"].get<std::string>(),
                              std::nullopt, u))
                       .size() == 1;
        }));
    }
    SECTION("resetting a pile's charger ends the car's session there and its order") {
        const std::string reset = "/admin/index/charge/reset";
        CHECK(is_envelope(h.call("POST", reset, json{{"charge_id", "F1"}, {"type", "Warm"}}, admin),
                          400, 400));
        CHECK(is_envelope(h.call("POST", reset, json{{"charge_id", "F1"}}, admin), 400, 400));
        CHECK(is_envelope(h.call("POST", reset, json{{"type", "Soft"}}, admin), 400, 400));
        CHECK(h.call("POST", reset, json{{"charge_id", "Z9"}, {"type", "Soft"}}, admin)
                  .body["error"] == "unknown_pile");
        CHECK(is_envelope(h.call("POST", reset, json{{"charge_id", "F1"}, {"type", "Soft"}}, u),
                          403, 403));
        const auto sent = h.call("POST", reset, json{{"charge_id", "F1"}, {"type", "Soft"}}, admin);
        REQUIRE(is_envelope(sent, 200, 0));
        CHECK(data_of(sent) == json{{"charge_id", "F1"}, {"type", "Soft"}});
        // The simulated pile restarts at once: the session ends at the pile (SoftReset), the
        // order ends with a bill for the 15 kWh charged, and the pile is free.
        REQUIRE(harness::Probe::eventually([&] {
            return data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, u))
                .empty();
        }));
        const auto history =
            data_of(h.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, u));
        REQUIRE(history.size() == 1);
        CHECK(history[0]["state"] == "CANCELLED");
        CHECK(history[0]["charge_kwh"] == 15);
        CHECK(data_of(h.call("GET", "/admin/index/manage", std::nullopt,
                             admin))["charge_array"][0]["state"] == "REST");
    }
    SECTION("switching piles off and on") {
        const auto off = h.call("POST", "/admin/index/manage",
                                json{{"mode", "SWITCHOFF"}, {"switch_array", {"T1", "T2"}}}, admin);
        REQUIRE(is_envelope(off, 200, 0));
        CHECK(data_of(off)["results"].size() == 2);
        manage = data_of(h.call("GET", "/admin/index/manage", std::nullopt, admin));
        CHECK(manage["charge_array"][2]["state"] == "OFF");
        CHECK(manage["charge_array"][3]["state"] == "OFF");
        const auto again = h.call("POST", "/admin/index/manage",
                                  json{{"mode", "SWITCHOFF"}, {"switch_array", {"T1"}}}, admin);
        CHECK(is_envelope(again, 200, 1));
        CHECK(data_of(again)["results"][0]["ok"] == false);
        CHECK(h.call("POST", "/admin/index/manage",
                     json{{"mode", "SWITCHON"}, {"switch_array", {"T1", "Z9"}}}, admin)
                  .body["error"] == "unknown_pile");
        CHECK(data_of(h.call("GET", "/admin/index/manage", std::nullopt,
                             admin))["charge_array"][2]["state"] == "OFF");
        CHECK(is_envelope(h.call("POST", "/admin/index/manage",
                                 json{{"mode", "ON"}, {"switch_array", {"T1"}}}, admin),
                          400, 400));
        CHECK(is_envelope(h.call("POST", "/admin/index/manage",
                                 json{{"mode", "SWITCHON"}, {"switch_array", "T1"}}, admin),
                          400, 400));
        REQUIRE(
            is_envelope(h.call("POST", "/admin/index/manage",
                               json{{"mode", "SWITCHON"}, {"switch_array", {"T1", "T2"}}}, admin),
                        200, 0));
        CHECK(data_of(h.call("GET", "/admin/index/manage", std::nullopt,
                             admin))["charge_array"][2]["state"] == "REST");
    }
    SECTION("reports per period and since the start") {
        // Finish the order (30 kWh at 30 kW, 06:00-07:00: valley): 30 * 1.2 = 36.
        REQUIRE(is_envelope(
            h.call("POST", "/admin/sim/clock", json{{"time", "2026-11-25 08:00:00"}}, admin), 200,
            0));
        REQUIRE(harness::Probe::eventually([&] {
            return data_of(h.call("GET", "/admin/index/report?charge_id=F1", std::nullopt,
                                  admin))["total_charge_times"] == 1;
        }));
        const auto all =
            data_of(h.call("GET", "/admin/index/report?charge_id=F1", std::nullopt, admin));
        CHECK(all["total_charge"] == 30);
        CHECK(all["total_fee"] == 36);
        CHECK(all["total_charge_duration"] == 1);
        CHECK(all["time"] == "2026-11-25 08:00:00");
        const auto day =
            data_of(h.call("GET", "/admin/index/report?charge_id=F1&period=day&date=2026-11-25",
                           std::nullopt, admin));
        CHECK(day["total_charge_times"] == 1);
        CHECK(day["from"] == "2026-11-25 00:00:00");
        CHECK(data_of(h.call("GET", "/admin/index/report?charge_id=F1&period=day&date=2026-11-24",
                             std::nullopt, admin))["total_charge_times"] == 0);
        CHECK(data_of(h.call("GET", "/admin/index/report?charge_id=F1&period=week&date=2026-11-29",
                             std::nullopt, admin))["total_charge_times"] == 1);
        CHECK(data_of(h.call("GET", "/admin/index/report?charge_id=F1&period=month", std::nullopt,
                             admin))["total_fee"] == 36);
        CHECK(data_of(h.call("GET", "/admin/index/report?charge_id=F2&period=month", std::nullopt,
                             admin))["total_fee"] == 0);
        CHECK(is_envelope(
            h.call("GET", "/admin/index/report?charge_id=F1&period=year", std::nullopt, admin), 400,
            400));
        CHECK(is_envelope(h.call("GET", "/admin/index/report?charge_id=F1&period=day&date=25/11",
                                 std::nullopt, admin),
                          400, 400));
        CHECK(is_envelope(h.call("GET", "/admin/index/report", std::nullopt, admin), 400, 400));
        CHECK(
            h.call("GET", "/admin/index/report?charge_id=Z9", std::nullopt, admin).body["error"] ==
            "unknown_pile");
        // The pile totals on the station view agree.
        CHECK(data_of(h.call("GET", "/admin/index/manage", std::nullopt,
                             admin))["charge_array"][0]["total_fee"] == 36);
    }
    SECTION("the simulated clock: read, set, refuse to go back") {
        const auto clock = data_of(h.call("GET", "/admin/sim/clock", std::nullopt, admin));
        CHECK(clock["time"] == "2026-11-25 06:30:00");
        CHECK(clock["speed"] == 0);
        CHECK(h.call("POST", "/admin/sim/clock", json{{"time", "2026-11-25 06:00:00"}}, admin)
                  .body["error"] == "clock_backwards");
        CHECK(is_envelope(h.call("POST", "/admin/sim/clock", json{{"time", "tomorrow"}}, admin),
                          400, 400));
        CHECK(is_envelope(h.call("POST", "/admin/sim/clock", json{{"advance_seconds", 0}}, admin),
                          400, 400));
        CHECK(is_envelope(h.call("POST", "/admin/sim/clock", json::object(), admin), 400, 400));
        CHECK(is_envelope(h.call("POST", "/admin/sim/clock", json{{"speed", 10}}, admin), 200, 0));
        CHECK(data_of(h.call("GET", "/admin/sim/clock", std::nullopt, admin))["speed"] == 10);
    }
}

TEST_CASE("api: simulation control is refused on a wall-clock station", "[api]") {
    apitest::StackOptions options;
    options.simulated = false;
    options.pile_sim = false;
    Stack s(options);
    auto& h = s.http();
    const std::string admin = s.admin_token();
    REQUIRE(harness::Probe::eventually([&] {
        return h.call("GET", "/admin/sim/clock", std::nullopt, admin).body.value("error", "") ==
               "not_simulation";
    }));
    CHECK(h.call("POST", "/admin/sim/clock", json{{"advance_seconds", 60}}, admin).body["error"] ==
          "not_simulation");
    CHECK(h.call("POST", "/admin/sim/fault", json{{"charge_id", "T1"}}, admin).body["error"] ==
          "not_simulation");
    CHECK(h.call("POST", "/admin/sim/recover", json{{"charge_id", "T1"}}, admin).body["error"] ==
          "not_simulation");
}

TEST_CASE("api: malformed requests get a clear error and change nothing", "[api]") {
    Stack s;
    auto& h = s.http();
    REQUIRE(s.piles_are("REST"));
    const std::string u = s.user("m@bupt.cn");
    const std::string car = s.car(u, "M1", 60, 0);
    const std::string admin = s.admin_token();
    const auto before_info = h.call("GET", "/client/index/information", std::nullopt, u).raw;
    const auto before_station = h.call("GET", "/admin/index/manage", std::nullopt, admin).raw;

    const std::vector<std::pair<std::string, std::string>> writes = {
        {"POST", "/client/index/order"},      {"PATCH", "/client/index/order"},
        {"DELETE", "/client/index/order"},    {"POST", "/client/index/car"},
        {"PATCH", "/client/index/car"},       {"DELETE", "/client/index/car"},
        {"POST", "/client/index/information"}};
    const std::vector<std::string> junk = {
        "",
        "{",
        "[]",
        "null",
        "42",
        "\"text\"",
        "{\"car_id\":{}}",
        "{\"id\":[1],\"car_id\":true,\"mode\":1,\"apply_kwh\":\"x\",\"name\":5}",
        std::string("{\"name\":\"\xff\xfe\"}"),
        "{\"apply_kwh\":1e999}"};
    for (const auto& [method, path] : writes) {
        for (const std::string& body : junk) {
            const auto r = h.raw(method, path, body, {{"token", u}});
            INFO(method << " " << path << " " << body << " -> " << r.raw);
            CHECK(r.status == 400);
            CHECK(r.body.is_object());
            CHECK(r.body["msg"].is_string());
        }
    }
    for (const auto& path :
         {"/admin/index/manage", "/admin/sim/clock", "/admin/sim/fault", "/admin/sim/recover"}) {
        for (const std::string& body : junk) {
            CHECK(h.raw("POST", path, body, {{"token", admin}}).status == 400);
        }
    }
    // Too large, unknown path, wrong method.
    const auto large = h.raw("POST", "/client/register", std::string(100 * 1024, 'x'), {});
    CHECK(is_envelope(large, 413, 413));
    // The two order endpoints keep their own code style even here.
    CHECK(is_envelope(
        h.raw("POST", "/client/index/order", std::string(100 * 1024, 'x'), {{"token", u}}), 413,
        -1));
    CHECK(is_envelope(
        h.raw("DELETE", "/client/index/order", std::string(100 * 1024, 'x'), {{"token", u}}), 413,
        "413"));
    CHECK(is_envelope(h.call("GET", "/no/such/path"), 404, 404));
    CHECK(is_envelope(h.call("PUT", "/client/index/car", json::object(), u), 405, 405));
    CHECK(is_envelope(h.call("GET", "/client/register"), 405, 405));

    CHECK(h.call("GET", "/client/index/information", std::nullopt, u).raw == before_info);
    CHECK(h.call("GET", "/admin/index/manage", std::nullopt, admin).raw == before_station);
    CHECK(data_of(h.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, u)).empty());
}

TEST_CASE("api: a restart keeps users and cars and orders and bills and tokens", "[api]") {
    Stack s;
    auto& h = s.http();
    REQUIRE(s.piles_are("REST"));
    const std::string u = s.user("r@bupt.cn");
    const std::string car = s.car(u, "R1", 60, 0);
    const std::string admin = s.admin_token();
    const auto created = h.call("POST", "/client/index/order",
                                json{{"car_id", car}, {"mode", "F"}, {"apply_kwh", 15}}, u);
    REQUIRE(is_envelope(created, 200, 200));
    const std::string id = data_of(created)["id"];

    // While the API is down the order finishes (the clock is stepped on the bus): its
    // updates and bill wait at the broker for the API's session.
    s.stop_api();
    {
        harness::Probe probe(s.broker_uri(), "restart-test");
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::ClockAdvance;
        r.advance_seconds = 3600;
        REQUIRE(probe.request(r, 5s).ok);
    }
    s.start_api();
    auto& h2 = s.http();
    REQUIRE(harness::Probe::eventually(
        [&] {
            return data_of(h2.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, u))
                       .size() == 1;
        },
        10s));
    CHECK(data_of(h2.call("GET", "/client/index/car", std::nullopt, u))[0]["name"] == "R1");
    CHECK(data_of(h2.call("GET", "/client/index/bill?order_id=" + id, std::nullopt, u)).size() ==
          1);
    CHECK(is_envelope(h2.call("POST", "/client/login",
                              json{{"account", "r@bupt.cn"}, {"password", "pw-r@bupt.c"}}),
                      200, 0));
}

TEST_CASE("api: without an answer a change is 504 outcome unknown, and it never takes effect later",
          "[api][log]") {
    // Reproduction 2 of issue #8: the API answered 503 "nothing stored", and the request,
    // delivered once the scheduler (or the broker) was back, created the order anyway.
    apitest::StackOptions options;
    options.scheduler_timeout_ms = 500;
    options.journal = true;
    Stack s(options);
    auto& h = s.http();
    INFO("logs in " << s.dir());
    REQUIRE(s.piles_are("REST"));
    const std::string admin = s.admin_token();
    const std::string u = s.user("d@bupt.cn");
    const std::string car = s.car(u, "D1", 60, 0);
    s.stop_scheduler();
    auto r = h.call("POST", "/client/index/order",
                    json{{"car_id", car}, {"mode", "F"}, {"apply_kwh", 15}}, u);
    CHECK(r.status == 504);
    CHECK(r.body["code"] == -1);
    CHECK(r.body["error"] == "outcome_unknown");
    // The scheduler comes back and receives the request its session kept: past its
    // deadline, it is not carried out.
    s.restart_scheduler();
    REQUIRE(s.piles_are("REST"));
    std::this_thread::sleep_for(1s);
    CHECK(data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, u)).empty());
    const json station = data_of(h.call("GET", "/admin/index/manage", std::nullopt, admin));
    CHECK(station["wait_array"].empty());
    for (const auto& pile : station["charge_array"]) {
        CHECK(pile["car_blocks"].empty());
    }
    // The same with the broker gone: the request waits in the API's client, is sent when
    // the broker is back, and is refused there as expired.
    s.broker().kill_hard();
    r = h.call("POST", "/client/index/order",
               json{{"car_id", car}, {"mode", "F"}, {"apply_kwh", 15}}, u);
    CHECK(r.status == 504);
    CHECK(r.body["error"] == "outcome_unknown");
    s.broker().start();
    REQUIRE(s.piles_are("REST"));
    std::this_thread::sleep_for(2s);
    CHECK(data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, u)).empty());
    // And a request now goes through. Under load the 500 ms deadline may pass: a 503 is
    // known not carried out and is made again; after a 504 the order list tells whether it
    // was, and only if it was not is the request made again.
    const auto current_orders = [&] {
        return data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, u)).size();
    };
    REQUIRE(harness::Probe::eventually(
        [&] {
            r = h.call("POST", "/client/index/order",
                       json{{"car_id", car}, {"mode", "F"}, {"apply_kwh", 15}}, u);
            if (r.status == 504) {
                return harness::Probe::eventually([&] { return current_orders() == 1; }, 3s);
            }
            return r.status != 503;
        },
        30s));
    INFO(r.raw);
    CHECK((r.status == 504 || is_envelope(r, 200, 200)));
    CHECK(current_orders() == 1);
}

TEST_CASE("api: a scheduler crash and restart with its journal keeps every order and queue place",
          "[api][journal]") {
    apitest::StackOptions options;
    options.journal = true;
    Stack s(options);
    auto& h = s.http();
    INFO("logs in " << s.dir());
    REQUIRE(s.piles_are("REST"));
    const std::string admin = s.admin_token();
    const std::string u = s.user("j@bupt.cn");
    std::vector<std::string> orders;
    for (int i = 0; i < 12; ++i) {  // 9 at the slow piles, 3 waiting
        const std::string car = s.car(u, "J" + std::to_string(i), 100, 0);
        const auto r = h.call("POST", "/client/index/order",
                              json{{"car_id", car}, {"mode", "T"}, {"apply_kwh", 10 + i}}, u);
        REQUIRE(is_envelope(r, 200, 200));
        orders.push_back(data_of(r)["id"]);
    }
    REQUIRE(is_envelope(h.call("POST", "/admin/sim/clock", json{{"advance_seconds", 1800}}, admin),
                        200, 0));
    const json before = data_of(h.call("GET", "/admin/index/manage", std::nullopt, admin));
    const json current =
        data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, u));

    s.crash_and_restart_scheduler();
    REQUIRE(harness::Probe::eventually(
        [&] { return is_envelope(h.call("GET", "/admin/sim/clock", std::nullopt, admin), 200, 0); },
        20s));
    // The same station at the same time: piles, queues, waiting area, numbers, energy so far.
    REQUIRE(harness::Probe::eventually(
        [&] {
            json now = data_of(h.call("GET", "/admin/index/manage", std::nullopt, admin));
            return now["charge_array"] == before["charge_array"] &&
                   now["wait_array"] == before["wait_array"];
        },
        10s));
    CHECK(data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, u)) == current);

    // It runs on: every order finishes once, with its bill.
    REQUIRE(is_envelope(
        h.call("POST", "/admin/sim/clock", json{{"advance_seconds", 12 * 3600}}, admin), 200, 0));
    REQUIRE(harness::Probe::eventually(
        [&] {
            return data_of(h.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, u))
                       .size() == orders.size();
        },
        10s));
    for (const std::string& id : orders) {
        const auto bills =
            data_of(h.call("GET", "/client/index/bill?order_id=" + id, std::nullopt, u));
        CHECK(bills.size() == 1);
    }
    for (const auto& o :
         data_of(h.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, u))) {
        CHECK(o["state"] == "FINISHED");
    }
}

TEST_CASE("api: a change made while the API is down reaches it even if the broker loses it",
          "[api][log]") {
    // Reproduction 3 of issue #8: with the API down, an order finished and the broker was
    // killed before saving the queued update: the order and its bill never reached the API.
    apitest::StackOptions options;
    options.journal = true;
    Stack s(options);
    auto& h = s.http();
    INFO("logs in " << s.dir());
    REQUIRE(s.piles_are("REST"));
    const std::string u = s.user("lost@bupt.cn");
    const std::string car = s.car(u, "L1", 60, 0);
    const auto created = h.call("POST", "/client/index/order",
                                json{{"car_id", car}, {"mode", "F"}, {"apply_kwh", 20}}, u);
    REQUIRE(is_envelope(created, 200, 200));
    s.stop_api();
    {
        harness::Probe admin(s.broker_uri(), "test-admin");
        contract::SchedulerRequest r;
        r.op = contract::RequestOp::ClockAdvance;
        r.advance_seconds = 7200;  // the order finishes with its bill
        REQUIRE(admin.request(r).ok);
    }
    s.broker().kill_hard();  // within its autosave: the API's queued messages are gone
    s.broker().start();
    s.start_api();
    auto& h2 = s.http();
    REQUIRE(harness::Probe::eventually(
        [&] {
            const auto history =
                data_of(h2.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, u));
            return history.size() == 1 && history[0]["state"] == "FINISHED";
        },
        15s));
    const json order =
        data_of(h2.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, u))[0];
    CHECK(order["charge_id"] == "F1");  // the pile it charged at, also once it is closed
    const json bills = data_of(h2.call(
        "GET", "/client/index/bill?order_id=" + order["id"].get<std::string>(), std::nullopt, u));
    REQUIRE(bills.size() == 1);
    CHECK(bills[0]["charge_kwh"] == 20.0);
    const json info = data_of(h2.call("GET", "/client/index/information", std::nullopt, u));
    CHECK(info["balance"].get<double>() == Approx(-order["fee"].get<double>()));
    CHECK(info["car_array"][0]["power_current"] == 20.0);
}

TEST_CASE("api: one car, one order: the client's and the admin's views agree", "[api][log]") {
    Stack s;
    auto& h = s.http();
    INFO("logs in " << s.dir());
    REQUIRE(s.piles_are("REST"));
    const std::string admin = s.admin_token();
    const std::string u = s.user("v@bupt.cn");
    const std::string car = s.car(u, "V1", 60, 10);
    REQUIRE(is_envelope(h.call("POST", "/client/index/order",
                               json{{"car_id", car}, {"mode", "F"}, {"apply_kwh", 20}}, u),
                        200, 200));
    REQUIRE(is_envelope(h.call("POST", "/admin/sim/clock", json{{"advance_seconds", 1200}}, admin),
                        200, 0));  // 10 kWh of 20 at 30 kW
    const json station = data_of(h.call("GET", "/admin/index/manage", std::nullopt, admin));
    const json block = station["charge_array"][0]["car_blocks"][0];
    CHECK(block["power_current"] == 20.0);
    const json cars = data_of(h.call("GET", "/client/index/car", std::nullopt, u));
    CHECK(cars[0]["power_current"] == block["power_current"]);
    const json info = data_of(h.call("GET", "/client/index/information", std::nullopt, u));
    CHECK(info["car_array"][0]["power_current"] == block["power_current"]);
    const json current =
        data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, u));
    CHECK(current[0]["charge_kwh"] == 10.0);
    CHECK(current[0]["charge_id"] == "F1");
    REQUIRE(is_envelope(h.call("DELETE", "/client/index/order", json{{"id", current[0]["id"]}}, u),
                        200, "0"));
    const json history =
        data_of(h.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, u));
    CHECK(history[0]["charge_id"] == "F1");
    CHECK(history[0]["charge_kwh"] == 10.0);
    CHECK(data_of(h.call("GET", "/client/index/car", std::nullopt, u))[0]["power_current"] == 20.0);
}

TEST_CASE("api: an Idempotency-Key makes a retried change act once", "[api][log]") {
    Stack s;
    auto& h = s.http();
    INFO("logs in " << s.dir());
    REQUIRE(s.piles_are("REST"));
    const std::string u = s.user("k@bupt.cn");
    const std::string car = s.car(u, "K1", 60, 0);
    const std::string body = json{{"car_id", car}, {"mode", "T"}, {"apply_kwh", 5}}.dump();
    const std::vector<std::pair<std::string, std::string>> headers = {
        {"token", u}, {"Content-Type", "application/json"}, {"Idempotency-Key", "try-1"}};
    const auto first = h.raw("POST", "/client/index/order", body, headers);
    REQUIRE(is_envelope(first, 200, 200));
    const auto again = h.raw("POST", "/client/index/order", body, headers);
    CHECK(again.raw == first.raw);  // the first answer, not car_already_active
    CHECK(data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, u)).size() == 1);
    // The same key for another request is refused.
    const std::string other = json{{"car_id", car}, {"mode", "F"}, {"apply_kwh", 5}}.dump();
    const auto reused = h.raw("POST", "/client/index/order", other, headers);
    CHECK(reused.status == 422);
    CHECK(reused.body["error"] == "idempotency_key_reused");
    auto bad = headers;
    bad.back().second = "has spaces";
    CHECK(h.raw("POST", "/client/index/order", body, bad).status == 400);
}

TEST_CASE("api: a keyed retry the scheduler cannot answer is 504, never a refusal of its own",
          "[api][log]") {
    // Found by the crash trial (seed 8): the API died after the scheduler took a keyed
    // submit and before the answer was kept; the client's retry asked the scheduler for the
    // first attempt's outcome, got no answer in time, ran the API's own checks and answered
    // car_already_active (the first attempt's order) for a request that had been carried out.
    apitest::StackOptions options;
    options.scheduler_timeout_ms = 1000;
    options.journal = true;
    Stack s(options);
    auto& h = s.http();
    INFO("logs in " << s.dir());
    REQUIRE(s.piles_are("REST"));
    const std::string u = s.user("r@bupt.cn");
    const std::string car = s.car(u, "R1", 60, 0);
    const std::string body = json{{"car_id", car}, {"mode", "T"}, {"apply_kwh", 5}}.dump();
    const std::vector<std::pair<std::string, std::string>> headers = {
        {"token", u}, {"Content-Type", "application/json"}, {"Idempotency-Key", "lost-1"}};
    const auto first = h.raw("POST", "/client/index/order", body, headers);
    REQUIRE(is_envelope(first, 200, 200));
    // As if the API had died before keeping the answer.
    harness::sql_value(s.db(), "DELETE FROM idempotency");
    s.stop_scheduler();
    const auto unknown = h.raw("POST", "/client/index/order", body, headers);
    INFO(unknown.raw);
    CHECK(unknown.status == 504);
    CHECK(unknown.body["error"] == "outcome_unknown");
    // With the scheduler back (its journal remembers the reply), the retry gets the first
    // outcome: the same order, not a second one and not a refusal.
    s.restart_scheduler();
    Reply again;
    REQUIRE(harness::Probe::eventually(
        [&] {
            again = h.raw("POST", "/client/index/order", body, headers);
            return again.status != 504 && again.status != 503;
        },
        20s));
    INFO(again.raw);
    REQUIRE(is_envelope(again, 200, 200));
    CHECK(again.body["data"]["id"] == first.body["data"]["id"]);
    CHECK(data_of(h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, u)).size() == 1);
}

TEST_CASE("api: hostile inputs are refused: duplicate keys, absurd amounts, empty changes",
          "[api][security]") {
    Stack s;
    auto& h = s.http();
    INFO("logs in " << s.dir());
    const std::string token = s.user("dup@bupt.cn");
    auto balance = [&] {
        return data_of(h.call("GET", "/client/index/information", std::nullopt, token))["balance"]
            .get<double>();
    };
    const double before = balance();
    // The last "amount" used to win: a recharge of 1 added 999,999.
    const auto dup = h.raw("POST", "/client/index/recharge", R"({"amount":"1","amount":"999999"})",
                           {{"token", token}, {"Content-Type", "application/json"}});
    INFO(dup.status << " " << dup.body.dump());
    CHECK(is_envelope(dup, 400, 400));
    CHECK(balance() == before);
    CHECK(is_envelope(h.raw("POST", "/client/register",
                            R"({"account":"x@bupt.cn","password":"p","name":"a","name":"b"})",
                            {{"Content-Type", "application/json"}}),
                      400, 400));
    // A folder under the web root is not a file: 404, not an empty 200.
    for (const char* folder : {"/web/admin", "/web/client", "/web/admin/"}) {
        INFO(folder);
        CHECK(h.call("GET", folder).status == 404);
    }
    CHECK(h.call("GET", "/web/app.js").status == 200);
    const std::string car = s.car(token, "c1", 60, 10);
    for (const json& bad : {json{{"car_id", car}},  // nothing to change
                            json{{"car_id", car}, {"power_capacity", 5e-324}},
                            json{{"car_id", car}, {"power_current", 5e-324}}}) {
        INFO(bad.dump());
        CHECK(is_envelope(h.call("PATCH", "/client/index/car", bad, token), 400, 400));
    }
    CHECK(is_envelope(
        h.call("POST", "/client/index/car",
               json{{"name", "tiny"}, {"power_capacity", 5e-324}, {"power_current", 0}}, token),
        400, 400));
    CHECK(is_envelope(h.call("POST", "/client/index/order",
                             json{{"car_id", car}, {"mode", "F"}, {"apply_kwh", 1e-9}}, token),
                      400, -1));
}

TEST_CASE("api: accounts are matched without regard to case", "[api][security]") {
    Stack s;
    auto& h = s.http();
    REQUIRE(is_envelope(
        h.call("POST", "/client/register",
               json{{"account", "Alice@Example.com"}, {"password", "p1"}, {"name", "A"}}),
        200, 0));
    const auto again =
        h.call("POST", "/client/register",
               json{{"account", "alice@example.com"}, {"password", "p2"}, {"name", "B"}});
    CHECK(is_envelope(again, 200, 1));
    CHECK(again.body["error"] == "account_taken");
    const auto login =
        h.call("POST", "/client/login", json{{"account", "ALICE@example.com"}, {"password", "p1"}});
    REQUIRE(is_envelope(login, 200, 0));
    const auto info =
        h.call("GET", "/client/index/information", std::nullopt, data_of(login)["token"]);
    CHECK(data_of(info)["account"] == "alice@example.com");
    CHECK(is_envelope(
        h.call("POST", "/admin/login",
               json{{"account", "ADMIN@station.test"}, {"password", apitest::kAdminPassword}}),
        200, 0));
}

TEST_CASE("api: a login for an unknown account takes the work of a wrong password",
          "[api][security]") {
    apitest::StackOptions o;
    o.password_iterations = 200000;  // about 0.1 s of hashing per check
    o.pile_sim = false;
    Stack s(o);
    auto& h = s.http();
    REQUIRE(is_envelope(
        h.call("POST", "/client/register",
               json{{"account", "known@bupt.cn"}, {"password", "right"}, {"name", "k"}}),
        200, 0));
    // Interleaved, so that both see the same load from whatever else runs on the machine,
    // and the fastest of each: noise only ever adds time, the work is what remains.
    auto login_ms = [&](const std::string& account) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto r =
            h.call("POST", "/client/login", json{{"account", account}, {"password", "wrong"}});
        CHECK(is_envelope(r, 200, 1));
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
            .count();
    };
    double wrong_password = 1e9;
    double unknown_account = 1e9;
    for (int i = 0; i < 5; ++i) {  // five failures are free (the sixth would be locked)
        wrong_password = std::min(wrong_password, login_ms("known@bupt.cn"));
        unknown_account = std::min(unknown_account, login_ms("nobody@bupt.cn"));
    }
    INFO("fastest: wrong password " << wrong_password << " ms, unknown account " << unknown_account
                                    << " ms");
    CHECK(wrong_password > 20);
    CHECK(unknown_account > 0.6 * wrong_password);
    CHECK(unknown_account < 1.6 * wrong_password);
}
