#include "api/http_server.hpp"

#include <Poco/URI.h>

#include <exception>

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

/// A whole request, on a worker: the API's answer.
front::Answer respond(ApiApp& app, front::Request& in) {
    if (in.head.getMethod() == "OPTIONS") {  // CORS preflight
        return {HttpResponse{204, "text/plain", ""}, kPreflightHeaders};
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
    : front_(std::make_unique<front::Front>(
          options, [&app](front::Request& r) { return respond(app, r); },
          [&app](const Poco::Net::HTTPRequest& r, int status, const std::string& msg,
                 const std::string& error) { return app.refuse(route_of(r), status, msg, error); },
          kAnswerHeaders)) {}

HttpServer::~HttpServer() {
    stop();
}

void HttpServer::start() {
    front_->start();
}

void HttpServer::stop() {
    front_->stop();
}

int HttpServer::port() const {
    return front_->port();
}

}  // namespace api
