// The /metrics endpoint over a real socket: the registry's text with the exposition
// content type, 404 elsewhere, 405 for another method, and --metrics values checked.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <catch2/catch.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "metrics_server/metrics_server.hpp"

namespace {

struct Got {
    int status = 0;
    std::string type;
    std::string body;
};

Got get(int port, const std::string& method, const std::string& path) {
    Poco::Net::HTTPClientSession s("127.0.0.1", static_cast<Poco::UInt16>(port));
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    s.sendRequest(req);
    Poco::Net::HTTPResponse res;
    auto& in = s.receiveResponse(res);
    std::ostringstream body;
    Poco::StreamCopier::copyStream(in, body);
    return {static_cast<int>(res.getStatus()), res.getContentType(), body.str()};
}

}  // namespace

TEST_CASE("endpoint: GET /metrics is the registry's text, nothing else is served") {
    metrics::Registry r;
    auto& c = r.counter("scrapes_seen_total", "A counter.");
    c.only().inc(7);
    metrics_server::MetricsServer server(r, metrics_server::parse_listen("127.0.0.1:0"));
    REQUIRE(server.port() > 0);
    auto got = get(server.port(), "GET", "/metrics");
    CHECK(got.status == 200);
    CHECK(got.type == metrics::kContentType);
    CHECK(got.body == r.render());
    CHECK(got.body.find("scrapes_seen_total 7\n") != std::string::npos);
    c.only().inc();
    CHECK(get(server.port(), "GET", "/metrics?x=1").body.find("scrapes_seen_total 8\n") !=
          std::string::npos);
    CHECK(get(server.port(), "GET", "/").status == 404);
    CHECK(get(server.port(), "GET", "/metrics/../admin").status == 404);
    CHECK(get(server.port(), "POST", "/metrics").status == 405);
}

TEST_CASE("endpoint: --metrics takes HOST:PORT and nothing else") {
    const auto l = metrics_server::parse_listen("127.0.0.1:9464");
    CHECK(l.host == "127.0.0.1");
    CHECK(l.port == 9464);
    CHECK(metrics_server::parse_listen("localhost:0").port == 0);
    for (const char* bad :
         {"9464", ":9464", "127.0.0.1:", "127.0.0.1:x", "h:65536", "h:-1", "h:123456"}) {
        INFO(bad);
        CHECK_THROWS_AS(metrics_server::parse_listen(bad), std::invalid_argument);
    }
}
