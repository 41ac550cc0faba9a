// The metrics registry and its text: names checked, children made once, the exposition
// format as Prometheus reads it (promtool checks a running service's text: tests/cli).
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "metrics/exposition.hpp"
#include "metrics/registry.hpp"

using namespace metrics;

TEST_CASE("registry: values, label values and names are written as the format says") {
    CHECK(format_value(0) == "0");
    CHECK(format_value(42) == "42");
    CHECK(format_value(-3) == "-3");
    CHECK(format_value(0.25) == "0.25");
    CHECK(format_value(1e300) == "1e+300");
    CHECK(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
    CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
    CHECK(format_value(std::nan("")) == "NaN");
    CHECK(escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
    CHECK(escape_help("x\\y\nz \"q\"") == "x\\\\y\\nz \"q\"");
    CHECK(valid_name("evcs_api_http_requests_total"));
    CHECK(valid_name("a:b"));
    CHECK_FALSE(valid_name("9lives"));
    CHECK_FALSE(valid_name("has-dash"));
    CHECK_FALSE(valid_name(""));
    CHECK(valid_name("route", true));
    CHECK_FALSE(valid_name("a:b", true));
    CHECK_FALSE(valid_name("__reserved", true));
}

TEST_CASE("registry: a registry refuses bad or repeated names, a counter not ending in _total") {
    Registry r;
    r.counter("x_total", "x");
    CHECK_THROWS_AS(r.counter("x_total", "again"), std::invalid_argument);
    CHECK_THROWS_AS(r.gauge("x_total", "as a gauge"), std::invalid_argument);
    CHECK_THROWS_AS(r.counter("x", "no suffix"), std::invalid_argument);
    CHECK_THROWS_AS(r.gauge("bad name", "space"), std::invalid_argument);
    CHECK_THROWS_AS(r.gauge("g", "le is the histogram's", {"le"}), std::invalid_argument);
    CHECK_THROWS_AS(r.histogram("h", "no buckets", {}), std::invalid_argument);
    CHECK_THROWS_AS(r.histogram("h", "not increasing", {1, 1}), std::invalid_argument);
    auto& g = r.gauge("g", "g", {"state"});
    CHECK_THROWS_AS(g.with({}), std::invalid_argument);
    CHECK_THROWS_AS(g.with({"a", "b"}), std::invalid_argument);
}

TEST_CASE("registry: the text has HELP, TYPE and every child, histograms cumulative") {
    Registry r;
    auto& requests = r.counter("req_total", "Requests,\nby code.", {"method", "code"});
    requests.with({"GET", "200"}).inc();
    requests.with({"GET", "200"}).inc(2);
    requests.with({"POST", "4\"0\"4"}).inc();
    requests.with({"GET", "200"}).inc(-5);  // never down
    auto& piles = r.gauge("piles", "Piles by state.", {"state"});
    piles.with({"REST"}).set(3);
    piles.with({"REST"}).add(-1);
    r.gauge("lag_seconds", "Lag.").only().set(0.125);
    auto& h = r.histogram("latency_seconds", "Latency.", {0.0625, 0.5, 1}).only();
    for (const double v : {0.03125, 0.0625, 0.25, 0.75, 8.0}) {
        h.observe(v);
    }
    r.histogram("unused_seconds", "Never observed.", {1});
    const std::string expected =
        "# HELP req_total Requests,\\nby code.\n"
        "# TYPE req_total counter\n"
        "req_total{method=\"GET\",code=\"200\"} 3\n"
        "req_total{method=\"POST\",code=\"4\\\"0\\\"4\"} 1\n"
        "# HELP piles Piles by state.\n"
        "# TYPE piles gauge\n"
        "piles{state=\"REST\"} 2\n"
        "# HELP lag_seconds Lag.\n"
        "# TYPE lag_seconds gauge\n"
        "lag_seconds 0.125\n"
        "# HELP latency_seconds Latency.\n"
        "# TYPE latency_seconds histogram\n"
        "latency_seconds_bucket{le=\"0.0625\"} 2\n"
        "latency_seconds_bucket{le=\"0.5\"} 3\n"
        "latency_seconds_bucket{le=\"1\"} 4\n"
        "latency_seconds_bucket{le=\"+Inf\"} 5\n"
        "latency_seconds_sum 9.09375\n"
        "latency_seconds_count 5\n"
        "# HELP unused_seconds Never observed.\n"
        "# TYPE unused_seconds histogram\n";
    CHECK(r.render() == expected);
}

TEST_CASE("registry: children updated from many threads lose no increment") {
    Registry r;
    auto& c = r.counter("n_total", "n", {"worker"});
    auto& h = r.histogram("d_seconds", "d", latency_buckets());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&c, &h, t] {
            for (int i = 0; i < 10000; ++i) {
                c.with({std::to_string(t % 2)}).inc();
                h.only().observe(0.001);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(c.with({"0"}).value() + c.with({"1"}).value() == 40000);
    CHECK(h.only().snapshot().cumulative.back() == 40000);
}
