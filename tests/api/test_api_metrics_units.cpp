// The API's metrics without a server (issue #12): bounded labels for routes and methods,
// and the store counting orders, bills and log positions once each, after the commit.
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <string>

#include "api/api_app.hpp"
#include "api/api_metrics.hpp"
#include "api/store.hpp"
#include "app_calls.hpp"
#include "harness.hpp"

using namespace api;

namespace {

std::map<std::string, double> samples(prometheus::Registry& registry) {
    std::map<std::string, double> out;
    std::istringstream in(prometheus::TextSerializer().Serialize(registry.Collect()));
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line[0] != '#') {
            const auto space = line.rfind(' ');
            out[line.substr(0, space)] = std::stod(line.substr(space + 1));
        }
    }
    return out;
}

OrderRecord order(const std::string& key, std::int64_t car, const std::string& state,
                  std::int64_t pos) {
    OrderRecord o = apicall::order_row("", key, car, state, pos);
    o.charge_kwh = 10;
    o.charge_fee_cents = 700;
    o.service_fee_cents = 800;
    return o;
}

BillRecord bill(const std::string& key, const std::string& order_key, std::int64_t pos) {
    BillRecord b;
    b.station_key = key;
    b.order_key = order_key;
    b.pile = "T1";
    b.kwh = 10;
    b.hours = 1;
    b.charge_fee_cents = 700;
    b.service_fee_cents = 825;
    b.reason = "completed";
    b.log_pos = pos;
    return b;
}

}  // namespace

TEST_CASE("metrics: routes and methods become bounded labels", "[api][metrics]") {
    CHECK(ApiApp::route_label("/client/index/order") == "/client/index/order");
    CHECK(ApiApp::route_label("/admin/index/live") == "/admin/index/live");
    CHECK(ApiApp::route_label("/web/admin/app.js") == "/web/*");
    CHECK(ApiApp::route_label("/client/index/order/12345") == "other");
    CHECK(ApiApp::route_label("/users/alice@example.com") == "other");
    CHECK(ApiApp::route_label("") == "other");
    CHECK(ApiMetrics::method_label("GET") == "GET");
    CHECK(ApiMetrics::method_label("OPTIONS") == "OPTIONS");
    CHECK(ApiMetrics::method_label("get") == "other");
    CHECK(ApiMetrics::method_label("PROPFIND") == "other");
}

TEST_CASE("metrics: the store counts orders, bills and log positions once, after the commit",
          "[api][metrics]") {
    prometheus::Registry registry;
    ApiMetrics m(registry);
    Store s(harness::test_database(harness::temp_dir(), "store.db"));
    s.set_metrics(&m);
    const auto user = *s.create_user("a@b.cn", "A", "hash");
    const auto car = s.add_car(user, "car", 60, 0);

    // A batch of the log: the order created (1), its bill (2), the order finished (3).
    REQUIRE(s.apply_changes("", {}, {"run-1", 3}, {order("run-1/0", car, "FINISHED", 3)},
                            {bill("run-1/0", "run-1/0", 2)}));
    auto got = samples(registry);
    CHECK(got["evcs_api_orders_created_total"] == 1);
    CHECK(got["evcs_api_bills_total"] == 1);
    CHECK(got["evcs_api_billed_cents_total"] == 1525);
    CHECK(got[R"(evcs_api_log_entries_applied_total{station=""})"] == 3);
    CHECK(got[R"(evcs_api_log_applied_position{station=""})"] == 3);

    // The same changes again (a repeated batch from position 1, a reply's copy of the
    // order, the bill once more): positions move on, nothing is new.
    REQUIRE(s.apply_changes("", {"run-1", 3}, {"run-1", 4}, {order("run-1/0", car, "FINISHED", 3)},
                            {bill("run-1/0", "run-1/0", 2)}));
    s.record_order(order("run-1/0", car, "FINISHED", 3));
    CHECK_FALSE(s.record_bill(bill("run-1/0", "run-1/0", 2)));
    // A position that moved meanwhile: refused, not counted.
    CHECK_FALSE(
        s.apply_changes("", {"run-1", 3}, {"run-1", 9}, {order("run-1/1", car, "WAITING", 9)}, {}));
    got = samples(registry);
    CHECK(got["evcs_api_orders_created_total"] == 1);
    CHECK(got["evcs_api_bills_total"] == 1);
    CHECK(got["evcs_api_billed_cents_total"] == 1525);
    CHECK(got[R"(evcs_api_log_entries_applied_total{station=""})"] == 4);
    CHECK(got[R"(evcs_api_log_applied_position{station=""})"] == 4);

    // A new order from a reply before the log brings it: counted there, once.
    REQUIRE(s.record_order(order("run-1/1", car, "WAITING", 5)));
    REQUIRE(
        s.apply_changes("", {"run-1", 4}, {"run-1", 5}, {order("run-1/1", car, "WAITING", 5)}, {}));
    got = samples(registry);
    CHECK(got["evcs_api_orders_created_total"] == 2);
    CHECK(got[R"(evcs_api_log_entries_applied_total{station=""})"] == 5);

    // A new run of the scheduler counts from its start.
    REQUIRE(s.apply_changes("", {"run-1", 5}, {"run-2", 2}, {}, {}));
    got = samples(registry);
    CHECK(got[R"(evcs_api_log_entries_applied_total{station=""})"] == 7);
    CHECK(got[R"(evcs_api_log_applied_position{station=""})"] == 2);

    // A store opened with metrics shows the stored position at once.
    prometheus::Registry again;
    ApiMetrics m2(again);
    s.set_metrics(&m2);
    CHECK(samples(again)[R"(evcs_api_log_applied_position{station=""})"] == 2);
}
