#include "api/http_server.hpp"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>

#include <algorithm>
#include <array>
#include <istream>

namespace api {

namespace {

constexpr std::size_t kDrainBytes = 1 << 20;

void send(Poco::Net::HTTPServerResponse& out, const HttpResponse& r) {
    out.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(r.status));
    out.setContentType(r.content_type);
    out.set("Access-Control-Allow-Origin", "*");
    out.setContentLength(static_cast<std::streamsize>(r.body.size()));
    out.send().write(r.body.data(), static_cast<std::streamsize>(r.body.size()));
}

class Handler final : public Poco::Net::HTTPRequestHandler {
  public:
    Handler(ApiApp& app, std::size_t max_body) : app_(app), max_body_(max_body) {}

    void handleRequest(Poco::Net::HTTPServerRequest& in,
                       Poco::Net::HTTPServerResponse& out) override {
        try {
            send(out, respond(in, out));
        } catch (...) {
            // The client went away mid-answer, or the socket failed: nothing more to say.
        }
    }

  private:
    HttpResponse respond(Poco::Net::HTTPServerRequest& in, Poco::Net::HTTPServerResponse& out) {
        if (in.getMethod() == "OPTIONS") {  // CORS preflight
            out.set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS");
            out.set("Access-Control-Allow-Headers",
                    "Content-Type, token, Authorization, Idempotency-Key");
            out.set("Access-Control-Max-Age", "86400");
            return HttpResponse{204, "text/plain", ""};
        }
        HttpRequest req;
        req.method = in.getMethod();
        try {
            const Poco::URI uri(in.getURI());
            req.path = uri.getPath();
            for (const auto& [k, v] : uri.getQueryParameters()) {
                req.query.emplace(k, v);
            }
        } catch (const std::exception&) {
            return app_.refuse(req, 400, "请求地址无效", "bad_request");
        }
        req.token = in.get("token", "");
        req.authorization = in.get("Authorization", "");
        req.idempotency_key = in.get("Idempotency-Key", "");
        const auto length = in.getContentLength64();
        if (length != Poco::Net::HTTPMessage::UNKNOWN_CONTENT_LENGTH &&
            length > static_cast<Poco::Int64>(max_body_)) {
            drain(in, out, length <= static_cast<Poco::Int64>(kDrainBytes));
            return too_large(req);
        }
        if (length == Poco::Net::HTTPMessage::UNKNOWN_CONTENT_LENGTH &&
            !in.getChunkedTransferEncoding()) {
            // RFC 9112 §6.3: a request with neither has no body. (POCO would read one until
            // the client closes the connection.)
            return app_.handle(req);
        }
        std::istream& body = in.stream();
        std::string text(max_body_ + 1, '\0');
        body.read(text.data(), static_cast<std::streamsize>(text.size()));
        text.resize(static_cast<std::size_t>(body.gcount()));
        if (text.size() > max_body_) {
            drain(in, out, true);
            return too_large(req);
        }
        req.body = std::move(text);
        return app_.handle(req);
    }

    // A refused body is read and dropped (up to kDrainBytes) before the answer: a socket
    // closed with unread data is reset, and the reset can destroy the answer before the
    // client reads it. A larger body is not read; the connection closes after the answer
    // (its rest would be taken for the next request).
    static void drain(Poco::Net::HTTPServerRequest& in, Poco::Net::HTTPServerResponse& out,
                      bool small_enough) {
        if (small_enough) {
            std::istream& body = in.stream();
            std::array<char, 16384> buf{};
            std::size_t left = kDrainBytes;
            while (left > 0 &&
                   body.read(buf.data(), static_cast<std::streamsize>(std::min(left, buf.size())))
                           .gcount() > 0) {
                left -= static_cast<std::size_t>(body.gcount());
            }
            if (body.eof() || body.peek() == std::char_traits<char>::eof()) {
                return;  // all read: the connection can go on
            }
        }
        out.setKeepAlive(false);
    }

    HttpResponse too_large(const HttpRequest& req) {
        return app_.refuse(req, 413, "请求体过大（上限 " + std::to_string(max_body_) + " 字节）",
                           "payload_too_large");
    }

    ApiApp& app_;
    std::size_t max_body_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    Factory(ApiApp& app, std::size_t max_body) : app_(app), max_body_(max_body) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
        return new Handler(app_, max_body_);
    }

  private:
    ApiApp& app_;
    std::size_t max_body_;
};

}  // namespace

HttpServer::HttpServer(ApiApp& app, HttpServerOptions options) {
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(options.threads);
    params->setMaxQueued(options.max_queued);
    params->setTimeout(Poco::Timespan(options.io_timeout.count(), 0));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(options.keep_alive.count(), 0));
    params->setMaxKeepAliveRequests(options.max_keep_alive_requests);
    params->setServerName("station-api");
    Poco::Net::ServerSocket socket(
        Poco::Net::SocketAddress(options.host, static_cast<Poco::UInt16>(options.port)), 256);
    port_ = socket.address().port();
    // POCO's default pool has 16 threads; a pool of our own, sized for the connections.
    pool_ = std::make_unique<Poco::ThreadPool>(2, options.threads, 60);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(app, options.max_body_bytes),
                                                      *pool_, socket, params);
}

HttpServer::~HttpServer() {
    stop();
}

void HttpServer::start() {
    server_->start();
}

void HttpServer::stop() {
    if (server_) {
        server_->stopAll(true);
        server_.reset();
    }
}

int HttpServer::port() const {
    return port_;
}

}  // namespace api
