// Contract test: a tour of every endpoint, success and failure, with each response
// checked by contract_check.py against the field tables of the course's API document
// v1.0.0 (api-v1.0.0.md, restated by docs/openapi.yaml). That document lives outside the
// repository: without the CMake setting STATION_SPEC_DIR the tour runs but the comparison
// is skipped, with a warning.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "api_stack.hpp"

using apitest::is_envelope;
using apitest::json;
using apitest::Stack;

TEST_CASE("api: every response matches the document's field tables", "[api][contract]") {
    Stack s;
    auto& h = s.http();
    INFO("logs in " << s.dir());
    REQUIRE(s.piles_are("REST"));
    const std::string record = s.dir() + "/responses.jsonl";
    h.record_to(record);

    const json account{{"account", "tour@bupt.cn"}, {"password", "tour-pw"}, {"name", "游客"}};
    const std::string u = h.call("POST", "/client/register", account).body["data"]["token"];
    h.call("POST", "/client/register", account);  // taken
    h.call("POST", "/client/login", json{{"account", "tour@bupt.cn"}, {"password", "tour-pw"}});
    h.call("POST", "/client/login", json{{"account", "tour@bupt.cn"}, {"password", "wrong"}});
    const std::string admin =
        h.call("POST", "/admin/login",
               json{{"account", apitest::kAdminAccount}, {"password", apitest::kAdminPassword}})
            .body["data"]["token"];
    h.call("POST", "/admin/login",
           json{{"account", apitest::kAdminAccount}, {"password", "wrong"}});

    const std::string car =
        h.call("POST", "/client/index/car",
               json{{"name", "T1车"}, {"power_capacity", 80}, {"power_current", 5}}, u)
            .body["data"]["car_id"];
    const std::string car2 =
        h.call("POST", "/client/index/car",
               json{{"name", "备用"}, {"power_capacity", 50}, {"power_current", 0}}, u)
            .body["data"]["car_id"];
    h.call("GET", "/client/index/car", std::nullopt, u);
    h.call("PATCH", "/client/index/car", json{{"car_id", car2}, {"name", "备用2"}}, u);
    h.call("PATCH", "/client/index/car", json{{"car_id", "999"}, {"name", "x"}}, u);
    h.call("POST", "/client/index/information", json{{"name", "游客二"}}, u);
    h.call("POST", "/client/index/recharge?amount=50", std::nullopt, u);

    const auto order = h.call("POST", "/client/index/order",
                              json{{"car_id", car}, {"mode", "T"}, {"apply_kwh", 30}}, u);
    REQUIRE(is_envelope(order, 200, 200));
    const std::string order_id = order.body["data"]["id"];
    h.call("POST", "/client/index/order", json{{"car_id", car}, {"mode", "T"}, {"apply_kwh", 30}},
           u);  // refused
    const auto second = h.call("POST", "/client/index/order",
                               json{{"car_id", car2}, {"mode", "F"}, {"apply_kwh", 10}}, u);
    h.call("PATCH", "/client/index/order", json{{"id", order_id}, {"apply_kwh", 10}},
           u);  // charging: refused
    h.call("GET", "/client/index/order?mode=CURRENT", std::nullopt, u);
    h.call("GET", "/admin/index/manage", std::nullopt, admin);
    h.call("GET", "/admin/index/charge?charge_id=T1", std::nullopt, admin);
    h.call("GET", "/admin/index/charge?charge_id=Z9", std::nullopt, admin);
    h.call("GET", "/admin/sim/clock", std::nullopt, admin);
    h.call("POST", "/admin/sim/fault", json{{"charge_id", "T1"}}, admin);  // a group forms
    h.call("GET", "/admin/index/manage", std::nullopt, admin);
    h.call("POST", "/admin/sim/recover", json{{"charge_id", "T1"}}, admin);
    h.call("POST", "/admin/index/manage", json{{"mode", "SWITCHOFF"}, {"switch_array", {"T3"}}},
           admin);
    h.call("POST", "/admin/index/manage", json{{"mode", "SWITCHON"}, {"switch_array", {"T3"}}},
           admin);
    h.call("DELETE", "/client/index/order", json{{"id", second.body["data"]["id"]}}, u);
    h.call("DELETE", "/client/index/order", json{{"id", "999"}}, u);
    h.call("POST", "/admin/sim/clock", json{{"advance_seconds", 5 * 3600}}, admin);
    REQUIRE(harness::Probe::eventually([&] {
        return h.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, u)
                   .body["data"]
                   .size() == 2;
    }));
    h.call("GET", "/client/index/bill?order_id=" + order_id, std::nullopt, u);
    h.call("GET", "/client/index/information", std::nullopt, u);
    h.call("GET", "/admin/index/report?charge_id=T1", std::nullopt, admin);
    h.call("GET", "/admin/index/report?charge_id=T1&period=week", std::nullopt, admin);
    h.call("GET", "/admin/index/report?charge_id=Z9", std::nullopt, admin);
    h.call("DELETE", "/client/index/car", json{{"car_id", car2}}, u);
    h.call("GET", "/client/index/car", std::nullopt, admin);          // 403
    h.call("GET", "/admin/index/manage", std::nullopt, "bad-token");  // 401

    const std::string spec_dir = STATION_SPEC_DIR;
    if (spec_dir.empty()) {
        WARN(
            "skipped the comparison with the API document: STATION_SPEC_DIR not set (the "
            "original API document lives outside the repository); the responses are in "
            << record);
        return;
    }
    const std::string cmd = std::string("python3 ") + STATION_CONTRACT_CHECK + " " + spec_dir +
                            "/api-v1.0.0.md " + record + " > " + s.dir() + "/contract.txt 2>&1";
    const int rc = std::system(cmd.c_str());
    std::string report;
    {
        std::FILE* f = std::fopen((s.dir() + "/contract.txt").c_str(), "r");
        char buf[4096];
        while (f && std::fgets(buf, sizeof buf, f)) {
            report += buf;
        }
        if (f) {
            std::fclose(f);
        }
    }
    INFO(report);
    CHECK(rc == 0);
    CHECK(report.find("checked 18 endpoints") != std::string::npos);
}
