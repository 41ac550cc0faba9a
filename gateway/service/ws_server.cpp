#include "ws_server.hpp"

#include <Poco/Buffer.h>
#include <Poco/Net/HTTPBasicCredentials.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/WebSocket.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>

#include <deque>

#include "credentials.hpp"
#include "gateway/ocpp_frame.hpp"

namespace gateway {

using Poco::Net::HTTPResponse;
using Poco::Net::WebSocket;

struct Link {
    std::mutex mutex;
    std::deque<std::string> outbox;
    bool close = false;
};

namespace {

constexpr const char* kPrefix = "/ocpp/";

void refuse(Poco::Net::HTTPServerResponse& response, HTTPResponse::HTTPStatus status,
            const std::string& text, bool ask_credentials = false) {
    response.setStatusAndReason(status);
    if (ask_credentials) {
        response.set("WWW-Authenticate", "Basic realm=\"ocpp\"");
    }
    response.setContentType("text/plain");
    response.setContentLength(static_cast<std::streamsize>(text.size()));
    response.setKeepAlive(false);
    response.send() << text;
}

bool offers_ocpp16(const std::string& header) {
    std::size_t pos = 0;
    while (pos <= header.size()) {
        std::size_t comma = header.find(',', pos);
        if (comma == std::string::npos) {
            comma = header.size();
        }
        std::string item = header.substr(pos, comma - pos);
        const auto b = item.find_first_not_of(" \t");
        const auto e = item.find_last_not_of(" \t");
        if (b != std::string::npos && item.substr(b, e - b + 1) == "ocpp1.6") {
            return true;
        }
        pos = comma + 1;
    }
    return false;
}

class OcppHandler : public Poco::Net::HTTPRequestHandler {
  public:
    explicit OcppHandler(OcppServer& server) : server_(server) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
        const auto& ev = server_.events();
        std::string path;
        try {
            path = Poco::URI(request.getURI()).getPath();
        } catch (const std::exception&) {
            refuse(response, HTTPResponse::HTTP_BAD_REQUEST, "bad URI\n");
            return;
        }
        const std::string prefix(kPrefix);
        const std::string identity =
            path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : std::string();
        if (!valid_identity(identity)) {
            refuse(response, HTTPResponse::HTTP_NOT_FOUND, "use /ocpp/{identity}\n");
            return;
        }
        // Security profile 1: Basic credentials on the upgrade; unknown identities and wrong
        // passwords get the same answer.
        const ChargerSpec* charger = server_.registry().find(identity);
        bool authorised = false;
        if (charger != nullptr && request.hasCredentials()) {
            try {
                Poco::Net::HTTPBasicCredentials creds(request);
                authorised = check_credentials(*charger, creds.getUsername(), creds.getPassword());
            } catch (const std::exception&) {
                authorised = false;
            }
        }
        if (!authorised) {
            ev.log("warn", "refused charger " + identity + " from " +
                               request.clientAddress().host().toString() +
                               (charger == nullptr ? ": unknown identity" : ": bad credentials"));
            refuse(response, HTTPResponse::HTTP_UNAUTHORIZED, "unauthorized\n", true);
            return;
        }
        if (!offers_ocpp16(request.get("Sec-WebSocket-Protocol", ""))) {
            refuse(response, HTTPResponse::HTTP_BAD_REQUEST,
                   "the WebSocket subprotocol ocpp1.6 is required\n");
            return;
        }
        response.set("Sec-WebSocket-Protocol", "ocpp1.6");
        std::unique_ptr<WebSocket> ws;
        try {
            ws = std::make_unique<WebSocket>(request, response);
        } catch (const Poco::Net::WebSocketException& e) {
            if (!response.sent()) {
                refuse(response, HTTPResponse::HTTP_BAD_REQUEST, "not a WebSocket upgrade\n");
            }
            return;
        }
        ws->setMaxPayloadSize(static_cast<int>(kMaxFrameBytes));
        ConnectionId id = 0;
        auto link = server_.open_link(id);
        ev.connected(id, identity);
        serve(*ws, *link, id);
        server_.drop_link(id);
        ev.closed(id);
    }

  private:
    void serve(WebSocket& ws, Link& link, ConnectionId id) {
        const auto& ev = server_.events();
        Poco::Buffer<char> message(0);
        try {
            while (true) {
                // Write what the gateway queued, then wait briefly for input.
                std::deque<std::string> out;
                bool close = false;
                {
                    std::lock_guard<std::mutex> lock(link.mutex);
                    out.swap(link.outbox);
                    close = link.close;
                }
                for (const auto& text : out) {
                    ws.sendFrame(text.data(), static_cast<int>(text.size()), WebSocket::FRAME_TEXT);
                }
                if (close) {
                    ws.shutdown(WebSocket::WS_NORMAL_CLOSE, "closed by the central system");
                    return;
                }
                if (!ws.poll(Poco::Timespan(0, 20'000), Poco::Net::Socket::SELECT_READ)) {
                    continue;
                }
                Poco::Buffer<char> frame(0);
                int flags = 0;
                const int n = ws.receiveFrame(frame, flags);
                const int opcode = flags & WebSocket::FRAME_OP_BITMASK;
                if (n == 0 && flags == 0) {
                    return;  // the peer closed the TCP connection
                }
                if (opcode == WebSocket::FRAME_OP_CLOSE) {
                    ws.shutdown();
                    return;
                }
                if (opcode == WebSocket::FRAME_OP_PING) {
                    ws.sendFrame(frame.begin(), n,
                                 static_cast<int>(WebSocket::FRAME_FLAG_FIN) |
                                     static_cast<int>(WebSocket::FRAME_OP_PONG));
                    continue;
                }
                if (opcode == WebSocket::FRAME_OP_PONG) {
                    continue;
                }
                if (opcode == WebSocket::FRAME_OP_BINARY) {
                    ev.log("warn",
                           "connection " + std::to_string(id) + " sent a binary frame: closed");
                    ws.shutdown(WebSocket::WS_PAYLOAD_NOT_ACCEPTABLE, "text frames only");
                    return;
                }
                if (message.size() + static_cast<std::size_t>(n) > kMaxFrameBytes) {
                    ev.log("warn", "connection " + std::to_string(id) + " sent a message over " +
                                       std::to_string(kMaxFrameBytes) + " bytes: closed");
                    ws.shutdown(WebSocket::WS_PAYLOAD_TOO_BIG, "message too big");
                    return;
                }
                message.append(frame.begin(), static_cast<std::size_t>(n));
                if ((flags & WebSocket::FRAME_FLAG_FIN) != 0) {
                    ev.text(id, std::string(message.begin(), message.size()));
                    message.resize(0);
                }
            }
        } catch (const Poco::Net::WebSocketException& e) {
            ev.log("warn", "connection " + std::to_string(id) + ": " + e.displayText());
            try {
                ws.shutdown(e.code() == WebSocket::WS_ERR_PAYLOAD_TOO_BIG
                                ? WebSocket::WS_PAYLOAD_TOO_BIG
                                : WebSocket::WS_PROTOCOL_ERROR,
                            "");
            } catch (const std::exception&) {
            }
        } catch (const std::exception& e) {
            ev.log("info", "connection " + std::to_string(id) + " ended: " + e.what());
        }
    }

    OcppServer& server_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    explicit Factory(OcppServer& server) : server_(server) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
        return new OcppHandler(server_);
    }

  private:
    OcppServer& server_;
};

}  // namespace

OcppServer::OcppServer(const Registry& registry, ServerOptions options, ServerEvents events)
    : registry_(registry), options_(std::move(options)), events_(std::move(events)) {}

OcppServer::~OcppServer() {
    stop();
}

void OcppServer::start() {
    Poco::Net::ServerSocket socket(
        Poco::Net::SocketAddress(options_.host, static_cast<Poco::UInt16>(options_.port)), 64);
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(options_.max_connections);
    params->setMaxQueued(options_.max_connections);
    params->setKeepAlive(false);
    params->setTimeout(Poco::Timespan(10, 0));
    pool_ = std::make_unique<Poco::ThreadPool>(2, options_.max_connections);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), *pool_, socket, params);
    server_->start();
}

void OcppServer::stop() {
    if (server_) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (auto& [id, link] : links_) {
                std::lock_guard<std::mutex> l(link->mutex);
                link->close = true;
            }
        }
        server_->stopAll(true);
        pool_->joinAll();
        server_.reset();
    }
}

int OcppServer::port() const {
    return server_ ? server_->port() : 0;
}

std::shared_ptr<Link> OcppServer::open_link(ConnectionId& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    id = ++next_id_;
    auto link = std::make_shared<Link>();
    links_[id] = link;
    return link;
}

void OcppServer::drop_link(ConnectionId id) {
    std::lock_guard<std::mutex> lock(mutex_);
    links_.erase(id);
}

std::shared_ptr<Link> OcppServer::link_of(ConnectionId conn) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = links_.find(conn);
    return it == links_.end() ? nullptr : it->second;
}

void OcppServer::send(ConnectionId conn, std::string text) {
    if (const auto link = link_of(conn)) {
        std::lock_guard<std::mutex> lock(link->mutex);
        link->outbox.push_back(std::move(text));
    }
}

void OcppServer::close(ConnectionId conn) {
    if (const auto link = link_of(conn)) {
        std::lock_guard<std::mutex> lock(link->mutex);
        link->close = true;
    }
}

}  // namespace gateway
