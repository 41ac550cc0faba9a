#include "metrics_server/metrics_server.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/URI.h>

#include <stdexcept>

namespace metrics_server {

Listen parse_listen(const std::string& value) {
    const auto colon = value.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) {
        throw std::invalid_argument("expected HOST:PORT, e.g. 127.0.0.1:9464");
    }
    Listen l;
    l.host = value.substr(0, colon);
    const std::string port = value.substr(colon + 1);
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
        std::stoi(port) > 65535) {
        throw std::invalid_argument("the port is not a number 0..65535: " + port);
    }
    l.port = std::stoi(port);
    return l;
}

namespace {

class Handler : public Poco::Net::HTTPRequestHandler {
  public:
    explicit Handler(const metrics::Registry& registry) : registry_(registry) {}

    void handleRequest(Poco::Net::HTTPServerRequest& req,
                       Poco::Net::HTTPServerResponse& res) override {
        using Poco::Net::HTTPResponse;
        std::string path;
        try {
            path = Poco::URI(req.getURI()).getPath();
        } catch (const std::exception&) {
            path.clear();
        }
        std::string body;
        if (path != "/metrics") {
            res.setStatus(HTTPResponse::HTTP_NOT_FOUND);
            res.setContentType("text/plain; charset=utf-8");
            body = "only /metrics is served here\n";
        } else if (req.getMethod() != "GET" && req.getMethod() != "HEAD") {
            res.setStatus(HTTPResponse::HTTP_METHOD_NOT_ALLOWED);
            res.set("Allow", "GET, HEAD");
            res.setContentType("text/plain; charset=utf-8");
            body = "GET /metrics\n";
        } else {
            res.setContentType(metrics::kContentType);
            body = registry_.render();
        }
        res.set("Cache-Control", "no-store");
        res.setContentLength(static_cast<std::streamsize>(body.size()));
        auto& out = res.send();
        if (req.getMethod() != "HEAD") {
            out.write(body.data(), static_cast<std::streamsize>(body.size()));
        }
    }

  private:
    const metrics::Registry& registry_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    explicit Factory(const metrics::Registry& registry) : registry_(registry) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
        return new Handler(registry_);
    }

  private:
    const metrics::Registry& registry_;
};

}  // namespace

struct MetricsServer::Impl {
    Poco::Net::ServerSocket socket;
    std::unique_ptr<Poco::Net::HTTPServer> server;
};

MetricsServer::MetricsServer(const metrics::Registry& registry, const Listen& where)
    : impl_(std::make_unique<Impl>()) {
    impl_->socket.bind(Poco::Net::SocketAddress(where.host, static_cast<Poco::UInt16>(where.port)),
                       true);
    impl_->socket.listen(16);
    // A scraper is one client polling every few seconds: two threads, a short keep-alive,
    // few queued connections; a flood of scrapes cannot take the service's own threads.
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(2);
    params->setMaxQueued(16);
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(5, 0));
    params->setTimeout(Poco::Timespan(5, 0));
    impl_->server =
        std::make_unique<Poco::Net::HTTPServer>(new Factory(registry), impl_->socket, params);
    impl_->server->start();
}

MetricsServer::~MetricsServer() {
    impl_->server->stopAll(true);
}

int MetricsServer::port() const {
    return impl_->socket.address().port();
}

}  // namespace metrics_server
