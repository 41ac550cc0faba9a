// End to end through REST (issue #4): broker, scheduler, pile simulator and station-api
// running; one user per car registers and adds the car, the published 42-event case is
// played as REST requests (arrivals, changes, cancels by the users; faults and the clock
// by the admin's simulation endpoints, which the scheduler passes to the simulated
// piles), and GET /admin/index/manage is compared with case42.expected.jsonl at every
// event time; afterwards each user's order history and detailed bills are compared with
// the expected bills.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>

#include "api_stack.hpp"
#include "cli/cli.hpp"
#include "replay/scenario.hpp"
#include "replay_lines.hpp"
#include "station/time.hpp"

using apitest::is_envelope;
using apitest::json;
using apitest::Stack;

namespace {

using harness::when;

station::TimeMs scenario_time(const std::string& text) {
    return *station::parse_datetime(text) - harness::kScenarioDay0;
}

class RestDriver {
  public:
    explicit RestDriver(Stack& s) : s_(s), h_(s.http()), admin_(s.admin_token()) {}

    struct Owner {
        std::string token;
        std::string car;
    };

    Owner& owner(const std::string& car_name) {
        auto it = owners_.find(car_name);
        if (it == owners_.end()) {
            std::string account = car_name + "@case42.test";
            for (char& c : account) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            Owner o;
            o.token = s_.user(account, "车主" + car_name);
            o.car = s_.car(o.token, car_name, 500, 0);
            it = owners_.emplace(car_name, o).first;
        }
        return it->second;
    }

    // The car's open order id, or "".
    std::string open_order(const Owner& o) {
        const auto r = h_.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, o.token);
        return r.body["data"].empty() ? "" : r.body["data"][0]["id"].get<std::string>();
    }

    bool apply(const replay::ScenarioEvent& ev) {
        const std::string subject(ev.subject);
        switch (ev.kind) {
            case replay::EventKind::Arrive: {
                Owner& o = owner(subject);
                const json body{{"car_id", o.car},
                                {"mode", ev.mode == station::Mode::Fast ? "F" : "T"},
                                {"apply_kwh", *ev.kwh}};
                return h_.call("POST", "/client/index/order", body, o.token).body["code"] == 200;
            }
            case replay::EventKind::Cancel: {
                Owner& o = owner(subject);
                const std::string id = open_order(o);
                return !id.empty() &&
                       h_.call("DELETE", "/client/index/order", json{{"id", id}}, o.token)
                               .body["code"] == "0";
            }
            case replay::EventKind::Change: {
                Owner& o = owner(subject);
                const std::string id = open_order(o);
                json body{{"id", id}};
                if (ev.mode) {
                    body["mode"] = *ev.mode == station::Mode::Fast ? "F" : "T";
                }
                if (ev.kwh) {
                    body["apply_kwh"] = *ev.kwh;
                }
                return !id.empty() &&
                       h_.call("PATCH", "/client/index/order", body, o.token).body["code"] == 0;
            }
            case replay::EventKind::Fault:
                return h_.call("POST", "/admin/sim/fault",
                               json{{"charge_id", subject},
                                    {"minutes", ev.fault_duration / station::kMsPerMinute}},
                               admin_)
                           .body["code"] == 0;
            case replay::EventKind::Recover:
                return h_.call("POST", "/admin/sim/recover", json{{"charge_id", subject}}, admin_)
                           .body["code"] == 0;
        }
        return false;
    }

    void advance_to(station::TimeMs t) {
        if (t > now_) {
            const auto r = h_.call("POST", "/admin/sim/clock",
                                   json{{"advance_seconds", (t - now_) / 1000}}, admin_);
            REQUIRE(is_envelope(r, 200, 0));
            now_ = t;
        }
    }
    void start_at(station::TimeMs t) { now_ = t; }
    station::TimeMs now() const { return now_; }

    // GET /admin/index/manage in the replay's snapshot form.
    json snapshot(const json& events) {
        const auto r = h_.call("GET", "/admin/index/manage", std::nullopt, admin_);
        REQUIRE(is_envelope(r, 200, 0));
        const json& d = r.body["data"];
        json line = when(scenario_time(d["time"]));
        line["events"] = events;
        line["piles"] = json::array();
        for (const auto& p : d["charge_array"]) {
            json queue = json::array();
            for (const auto& c : p["car_blocks"]) {
                queue.push_back(
                    json{{"car", c["name"]}, {"kwh", c["charged_kwh"]}, {"fee", c["fee"]}});
            }
            line["piles"].push_back(json{{"id", p["id"]}, {"state", p["state"]}, {"queue", queue}});
        }
        for (const auto& [area, key] :
             {std::pair{"waiting", "wait_array"}, std::pair{"redispatch", "redispatch_array"}}) {
            line[area] = json::array();
            for (const auto& c : d[key]) {
                const std::string number = c["number"];
                line[area].push_back(json{{"car", c["name"]},
                                          {"number", number},
                                          {"mode", number.substr(0, 1)},
                                          {"kwh", c["remaining_kwh"]}});
            }
        }
        return line;
    }

    // Every user's orders with their bills, in order of creation, in the replay's form.
    json final_line(station::TimeMs last_event) {
        std::vector<std::pair<long long, json>> orders;
        for (const auto& [car, o] : owners_) {
            const auto r =
                h_.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, o.token);
            for (const auto& order : r.body["data"]) {
                json bills =
                    h_.call("GET", "/client/index/bill?order_id=" + order["id"].get<std::string>(),
                            std::nullopt, o.token)
                        .body["data"];
                orders.emplace_back(std::stoll(order["id"].get<std::string>()),
                                    json{{"order", order}, {"bills", bills}, {"car", car}});
            }
        }
        std::sort(orders.begin(), orders.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        station::TimeMs end = last_event;
        json out = json::array();
        for (const auto& [id, e] : orders) {
            const json& o = e["order"];
            end = std::max(end, scenario_time(o["finish_time"]));
            json sessions = json::array();
            for (const auto& b : e["bills"]) {
                sessions.push_back(harness::session_line(
                    b["charge_id"], scenario_time(b["start_time"]), scenario_time(b["stop_time"]),
                    b["charge_kwh"], b["charge_duration"], b["charge_fee"], b["service_fee"],
                    b["fee"]));
            }
            out.push_back(
                harness::order_line({e["car"], o["queue_number"], o["state"], o["charge_kwh"],
                                     o["charge_fee"], o["service_fee"], o["fee"], sessions}));
        }
        return json{{"end", when(end)}, {"bills", out}};
    }

    std::size_t open_orders() {
        std::size_t n = 0;
        for (const auto& [car, o] : owners_) {
            n += h_.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, o.token)
                     .body["data"]
                     .size();
        }
        return n;
    }
    std::size_t bills_stored() {
        std::size_t n = 0;
        for (const auto& [car, o] : owners_) {
            const auto history =
                h_.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, o.token);
            for (const auto& order : history.body["data"]) {
                n += h_.call("GET", "/client/index/bill?order_id=" + order["id"].get<std::string>(),
                             std::nullopt, o.token)
                         .body["data"]
                         .size();
            }
        }
        return n;
    }

  private:
    Stack& s_;
    apitest::Http& h_;
    std::string admin_;
    std::map<std::string, Owner> owners_;
    station::TimeMs now_ = 0;
};

}  // namespace

TEST_CASE("api: e2e — the acceptance case through REST matches the expected station and bills",
          "[api][e2e]") {
    std::string scenario;
    REQUIRE(cli::read_file(std::string(STATION_ACCEPTANCE_DIR) + "/case42.txt", scenario));
    Stack s;
    INFO("logs in " << s.dir());
    REQUIRE(s.piles_are("REST"));
    RestDriver driver(s);

    std::ofstream out(s.dir() + "/actual.jsonl");
    const auto last = harness::play_scenario(scenario, driver, out);
    REQUIRE(last);
    for (int hour = 0; hour < 48 && driver.open_orders() > 0; ++hour) {
        driver.advance_to(driver.now() + station::kMsPerHour);
    }
    // The orders' closing reaches storage through the log, after the clock's answer: under
    // load it may not be there yet when the last hour has been advanced.
    REQUIRE(harness::Probe::eventually([&] { return driver.open_orders() == 0; },
                                       std::chrono::seconds(10)));
    // Order updates and bills reach storage asynchronously: wait until they are all in.
    std::size_t bills = 0;
    REQUIRE(harness::Probe::eventually(
        [&] {
            const auto n = driver.bills_stored();
            const bool stable = n == bills && n > 0;
            bills = n;
            return stable;
        },
        std::chrono::seconds(10)));
    out << driver.final_line(*last).dump() << "\n";
    out.close();

    const std::string diff = harness::compare_with_case42(
        STATION_COMPARE_REPLAY, STATION_ACCEPTANCE_DIR, s.dir(), s.dir() + "/actual.jsonl");
    INFO(diff << "\n" << s.logs());
    CHECK(diff == "match\n");
}
