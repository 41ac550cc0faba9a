#include "api/http_server.hpp"

#include <Poco/URI.h>

#include <exception>
#include <variant>

#include "cli/cli.hpp"
#include "http_front.hpp"

namespace api {

namespace {

/// The headers on every answer, the front's own refusals included: the server's name, CORS
/// for browser frontends, and the security headers the web pages rely on. Keep them here.
const front::Headers kAnswerHeaders = {
    {"Server", "station-api"},
    {"Access-Control-Allow-Origin", "*"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"Content-Security-Policy",
     "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
     "base-uri 'none'"},
};

/// The answer to a CORS preflight (any OPTIONS request), with kAnswerHeaders.
const front::Headers kPreflightHeaders = {
    {"Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS"},
    {"Access-Control-Allow-Headers", "Content-Type, token, Authorization, Idempotency-Key"},
    {"Access-Control-Max-Age", "86400"},
};

/// What ApiApp::refuse needs of a request: its method and path (to answer in the route's
/// own code style).
HttpRequest route_of(const Poco::Net::HTTPRequest& in) {
    HttpRequest req;
    req.method = in.getMethod();
    try {
        req.path = Poco::URI(in.getURI()).getPath();
    } catch (const std::exception&) {
        req.path.clear();
    }
    return req;
}

/// The head fields of a live stream: never cached, never buffered by a proxy.
const front::Headers kStreamHeaders = {
    {"Cache-Control", "no-cache, no-store"},
    {"X-Accel-Buffering", "no"},
};

/// A live stream's request (its path is one of ApiApp::is_live_path): the stream's head and
/// first event, its connection registered with `hub` once the head is on its way; or the
/// refusal (bad ticket, over a cap) as an ordinary answer.
front::Answer open_stream(ApiApp& app, LiveHub& hub, front::Request& in) {
    HttpRequest req;
    req.method = in.head.getMethod();
    try {
        const Poco::URI uri(in.head.getURI());
        req.path = uri.getPath();
        for (const auto& [k, v] : uri.getQueryParameters()) {
            req.query.emplace(k, v);
        }
    } catch (const std::exception&) {
        return {app.refuse(req, 400, "请求地址无效", "bad_request"), {}};
    }
    auto opened = app.open_live(req);
    if (auto* refused = std::get_if<HttpResponse>(&opened)) {
        return {std::move(*refused), {}};
    }
    const std::uint64_t id = in.connection;
    auto first = hub.open(id, std::get<LiveGrant>(opened));
    if (!first) {
        return {app.too_many_streams(), {}};
    }
    front::Answer a{HttpResponse{200, "text/event-stream; charset=utf-8", std::move(*first)},
                    kStreamHeaders};
    a.stream = true;
    a.after_head = [&hub, id] { hub.activate(id); };
    return a;
}

/// A whole request, on a worker: the API's answer.
front::Answer respond(ApiApp& app, LiveHub& hub, front::Request& in) {
    if (in.head.getMethod() == "OPTIONS") {  // CORS preflight
        return {HttpResponse{204, "text/plain", ""}, kPreflightHeaders};
    }
    if (in.head.getMethod() == "GET") {
        std::string path;
        try {
            path = Poco::URI(in.head.getURI()).getPath();
        } catch (const std::exception&) {
            path.clear();
        }
        if (ApiApp::is_live_path(path)) {
            return open_stream(app, hub, in);
        }
    }
    return {answer_request(app, in.head, std::move(in.body), std::move(in.peer)), {}};
}

}  // namespace

HttpResponse answer_request(ApiApp& app, const Poco::Net::HTTPRequest& head, std::string body,
                            std::string peer) {
    HttpRequest req;
    req.method = head.getMethod();
    try {
        const Poco::URI uri(head.getURI());
        req.path = uri.getPath();
        for (const auto& [k, v] : uri.getQueryParameters()) {
            req.query.emplace(k, v);
        }
    } catch (const std::exception&) {
        return app.refuse(req, 400, "请求地址无效", "bad_request");
    }
    req.token = head.get("token", "");
    req.authorization = head.get("Authorization", "");
    req.idempotency_key = head.get("Idempotency-Key", "");
    req.body = std::move(body);
    req.peer = std::move(peer);
    return app.handle(req);
}

HttpServer::HttpServer(ApiApp& app, HttpServerOptions options)
    : live_(std::make_unique<LiveHub>(
          options.live, [&app](const LiveGrant& g) { return app.live_state(g); },
          [&app] { return app.live_version(); },
          [this](std::uint64_t id, std::string bytes, bool last) {
              front_->post(id, std::move(bytes), last, last);
          },
          [] { return cli::wall_ms() / 1000; })),
      front_(std::make_unique<front::Front>(
          options, [&app, this](front::Request& r) { return respond(app, *live_, r); },
          [&app](const Poco::Net::HTTPRequest& r, int status, const std::string& msg,
                 const std::string& error) { return app.refuse(route_of(r), status, msg, error); },
          kAnswerHeaders)) {
    front_->on_closed([this](std::uint64_t id) { live_->closed(id); });
    if (ApiMetrics* metrics = options.metrics) {
        live_->on_count([metrics](int open) { metrics->live_streams(open); });
    }
}

HttpServer::~HttpServer() {
    stop();
}

void HttpServer::start() {
    front_->start();
}

void HttpServer::stop() {
    live_->stop();  // no more events; the front then closes every connection
    front_->stop();
}

int HttpServer::live_streams() const {
    return live_->size();
}

int HttpServer::port() const {
    return front_->port();
}

}  // namespace api
