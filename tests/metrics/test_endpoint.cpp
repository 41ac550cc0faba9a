// The /metrics endpoint over a real socket: the registry's families in the text format,
// 404 elsewhere, and --metrics values checked.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <catch2/catch.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "metrics/endpoint.hpp"
#include "metrics/families.hpp"

namespace {

struct Got {
    int status = 0;
    std::string type;
    std::string body;
};

Got get(int port, const std::string& path) {
    Poco::Net::HTTPClientSession s("127.0.0.1", static_cast<Poco::UInt16>(port));
    Poco::Net::HTTPRequest req("GET", path, Poco::Net::HTTPMessage::HTTP_1_1);
    s.sendRequest(req);
    Poco::Net::HTTPResponse res;
    auto& in = s.receiveResponse(res);
    std::ostringstream body;
    Poco::StreamCopier::copyStream(in, body);
    return {static_cast<int>(res.getStatus()), res.getContentType(), body.str()};
}

}  // namespace

TEST_CASE("endpoint: GET /metrics serves the registry on a port of its own, nothing else") {
    auto registry = std::make_shared<prometheus::Registry>();
    auto& c = prometheus::BuildCounter()
                  .Name("evcs_test_seen_total")
                  .Help("A counter.")
                  .Register(*registry)
                  .Add({{"kind", "a\"b"}});
    auto& h = metrics::latency(*registry, "evcs_test_seconds", "A histogram.");
    c.Increment(7);
    h.Observe(0.003);
    metrics::Endpoint endpoint(registry, metrics::parse_listen("127.0.0.1:0"));
    REQUIRE(endpoint.port() > 0);
    CHECK(endpoint.url() == "http://127.0.0.1:" + std::to_string(endpoint.port()) + "/metrics");
    auto got = get(endpoint.port(), "/metrics");
    CHECK(got.status == 200);
    CHECK(got.type.rfind("text/plain", 0) == 0);
    CHECK(got.body.find("# TYPE evcs_test_seen_total counter\n") != std::string::npos);
    CHECK(got.body.find("evcs_test_seen_total{kind=\"a\\\"b\"} 7\n") != std::string::npos);
    CHECK(got.body.find("evcs_test_seconds_bucket{le=\"0.0025\"} 0\n") != std::string::npos);
    CHECK(got.body.find("evcs_test_seconds_bucket{le=\"0.005\"} 1\n") != std::string::npos);
    c.Increment();
    CHECK(get(endpoint.port(), "/metrics").body.find("evcs_test_seen_total{kind=\"a\\\"b\"} 8\n") !=
          std::string::npos);
    CHECK(get(endpoint.port(), "/").status == 404);
    CHECK(get(endpoint.port(), "/admin").status == 404);
    // The endpoint keeps the registry: the families stay served without the caller's copy.
    registry.reset();
    CHECK(get(endpoint.port(), "/metrics").body.find("evcs_test_seen_total") != std::string::npos);
    // A second endpoint on a taken port is refused with the reason.
    CHECK_THROWS_AS(
        metrics::Endpoint(std::make_shared<prometheus::Registry>(), {"127.0.0.1", endpoint.port()}),
        std::runtime_error);
}

TEST_CASE("endpoint: --metrics takes HOST:PORT and nothing else") {
    const auto l = metrics::parse_listen("127.0.0.1:9464");
    CHECK(l.host == "127.0.0.1");
    CHECK(l.port == 9464);
    CHECK(metrics::parse_listen("localhost:0").port == 0);
    for (const char* bad :
         {"9464", ":9464", "127.0.0.1:", "127.0.0.1:x", "h:65536", "h:-1", "h:123456", "a,b:1"}) {
        INFO(bad);
        CHECK_THROWS_AS(metrics::parse_listen(bad), std::invalid_argument);
    }
}
