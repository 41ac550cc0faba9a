// station-api's Prometheus metrics (issue #12) against the running system: `--metrics` logs
// its address once, and a scrape shows the requests (by route template, never a raw path),
// the front's own refusals, the scheduler link, the orders and bills the projection stored
// and the replication position; the text passes `promtool check metrics` where installed.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "api_stack.hpp"

using apitest::is_envelope;
using apitest::json;
using apitest::Stack;
using apitest::StackOptions;

namespace {

/// The metrics port from the API's log line "station-api info: metrics on http://H:P/metrics";
/// 0 if the line is not there. `lines` is how often it was logged.
int metrics_port(const std::string& log, int& lines) {
    const std::string prefix = "station-api info: metrics on http://127.0.0.1:";
    int port = 0;
    lines = 0;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(prefix, 0) == 0 && line.size() > prefix.size() + 8 &&
            line.compare(line.size() - 8, 8, "/metrics") == 0) {
            ++lines;
            port = std::stoi(line.substr(prefix.size()));
        }
    }
    return port;
}

std::string scrape(int port) {
    Poco::Net::HTTPClientSession s("127.0.0.1", static_cast<Poco::UInt16>(port));
    s.setTimeout(Poco::Timespan(5, 0));
    Poco::Net::HTTPRequest req("GET", "/metrics", Poco::Net::HTTPMessage::HTTP_1_1);
    s.sendRequest(req);
    Poco::Net::HTTPResponse res;
    std::istream& in = s.receiveResponse(res);
    std::ostringstream body;
    body << in.rdbuf();
    REQUIRE(res.getStatus() == Poco::Net::HTTPResponse::HTTP_OK);
    return body.str();
}

/// Every sample of a scrape: `name{labels}` as written → value.
std::map<std::string, double> samples(const std::string& text) {
    std::map<std::string, double> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        const auto space = line.rfind(' ');
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

double value(const std::map<std::string, double>& m, const std::string& series) {
    const auto it = m.find(series);
    return it == m.end() ? 0 : it->second;
}

std::string requests(const std::string& method, const std::string& route, int code) {
    return "evcs_api_http_requests_total{code=\"" + std::to_string(code) + "\",method=\"" + method +
           "\",route=\"" + route + "\"}";
}

/// The stored position of the change log, read from the API's database.
std::int64_t stored_position(const std::string& db) {
    return harness::sql_value(db, "SELECT pos FROM log_position WHERE station = ''");
}

/// `promtool check metrics` on `text`: its exit status, and what it printed in `output`;
/// -1 if promtool is not installed.
int promtool_check(const std::string& text, const std::string& dir, std::string& output) {
    if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
        return -1;
    }
    const std::string file = dir + "/scrape.txt";
    std::ofstream(file) << text;
    FILE* p = ::popen(("promtool check metrics < " + file + " 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, p)) > 0;) {
        output.append(buffer, n);
    }
    const int status = ::pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace

TEST_CASE("api: /metrics counts requests, orders, bills and the replication position",
          "[api][metrics]") {
    StackOptions options;
    options.api_args = {"--metrics", "127.0.0.1:0"};
    Stack s(options);
    auto& h = s.http();
    INFO("logs in " << s.dir());
    int lines = 0;
    const int port = metrics_port(harness::read_text(s.dir() + "/api-1.log"), lines);
    REQUIRE(port > 0);
    CHECK(lines == 1);
    REQUIRE(s.piles_are("REST"));
    const std::string admin = s.admin_token();
    const std::string u = s.user("m@bupt.cn");
    const std::string car = s.car(u, "V1", 60, 10);

    const auto before = samples(scrape(port));
    // Requests: three reads, a refusal (no token), an unknown path, a body too large (the
    // front's own 413), a method outside the counted ones.
    for (int i = 0; i < 3; ++i) {
        REQUIRE(is_envelope(h.call("GET", "/client/index/information", std::nullopt, u), 200, 0));
    }
    REQUIRE(h.call("GET", "/client/index/car").status == 401);
    REQUIRE(h.call("GET", "/no/such/path/12345").status == 404);
    REQUIRE(h.raw("POST", "/client/login", std::string(70 * 1024, 'x'),
                  {{"Content-Type", "application/json"}})
                .status == 413);
    REQUIRE(h.raw("PROPFIND", "/client/index/car", "", {}).status == 405);
    // An order, charged to the end: 20 kWh at 10 kW from 06:00 is 27 yuan (one bill).
    REQUIRE(is_envelope(h.call("POST", "/client/index/order",
                               json{{"car_id", car}, {"mode", "T"}, {"apply_kwh", 20}}, u),
                        200, 200));
    REQUIRE(is_envelope(
        h.call("POST", "/admin/sim/clock", json{{"advance_seconds", 3 * 3600}}, admin), 200, 0));
    REQUIRE(harness::Probe::eventually([&] {
        const auto r = h.call("GET", "/client/index/order?mode=HISTORY", std::nullopt, u);
        return r.body.is_object() && r.body["data"].size() == 1;
    }));
    // Caught up: what the API knows of the log it has applied, and it is what is stored.
    std::map<std::string, double> after;
    REQUIRE(harness::Probe::eventually([&] {
        after = samples(scrape(port));
        return value(after, R"(evcs_api_log_applied_position{station=""})") ==
                   value(after, R"(evcs_api_log_known_position{station=""})") &&
               value(after, "evcs_api_bills_total") == 1 &&
               value(after, R"(evcs_api_log_apply_lag_seconds{station=""})") == 0;
    }));
    const std::string text = scrape(port);
    after = samples(text);

    auto grew = [&](const std::string& series) {
        return value(after, series) - value(before, series);
    };
    CHECK(grew(requests("GET", "/client/index/information", 200)) == 3);
    CHECK(grew(requests("GET", "/client/index/car", 401)) == 1);
    CHECK(grew(requests("GET", "other", 404)) == 1);
    CHECK(grew(requests("POST", "/client/login", 413)) == 1);
    CHECK(grew(requests("other", "/client/index/car", 405)) == 1);
    CHECK(grew(requests("POST", "/client/index/order", 200)) == 1);
    CHECK(
        grew("evcs_api_http_request_duration_seconds_count{route=\"/client/index/information\"}") ==
        3);
    CHECK(text.find("/no/such/path") == std::string::npos);  // never a raw path
    CHECK(text.find("PROPFIND") == std::string::npos);
    CHECK(value(after, "evcs_api_http_connections") >= 1);
    CHECK(value(after, "evcs_api_live_streams") == 0);

    CHECK(grew("evcs_api_orders_created_total") == 1);
    CHECK(grew("evcs_api_bills_total") == 1);
    CHECK(grew("evcs_api_billed_cents_total") == 2700);
    CHECK(grew("evcs_api_scheduler_requests_total{outcome=\"answered\"}") >= 2);  // order, clock
    CHECK(grew("evcs_api_scheduler_request_duration_seconds_count") >= 2);
    // The order's creation, start, finish and its bill are at least four positions.
    CHECK(grew(R"(evcs_api_log_entries_applied_total{station=""})") >= 4);
    const double applied = value(after, R"(evcs_api_log_applied_position{station=""})");
    CHECK(applied > value(before, R"(evcs_api_log_applied_position{station=""})"));
    CHECK(applied == static_cast<double>(stored_position(s.db())));

    std::string output;
    const int status = promtool_check(text, s.dir(), output);
    if (status < 0) {
        WARN("promtool is not installed: the text format is not linted");
    } else {
        INFO("promtool check metrics: " << output);
        CHECK(status == 0);
        CHECK(output.empty());
    }
}
