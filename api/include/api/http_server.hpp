#pragma once
/// @file The REST API's HTTP server: an event-driven front (api/src/http_front.hpp) around
/// ApiApp. One thread waits on every connection at once (epoll): it accepts, reads each
/// request into the connection's buffer within its deadlines, parses the head with POCO's
/// HTTP message classes and decodes the body (Content-Length or chunked), then hands the
/// whole request to a bounded pool of workers that run the API logic; the answer goes back
/// through the same thread, written without blocking, and the connection stays open for the
/// next one. A connection that is idle, slow, or still sending holds no worker, so slow
/// or idle clients (slowloris) cannot starve the others: they are only bounded by the
/// deadlines and the connection caps below.
///
/// Every answer carries a Content-Length (none on 204, which has no body), keep-alive as the
/// client asked, `Server: station-api`, CORS (`Access-Control-Allow-Origin: *`; OPTIONS is
/// the preflight, 204 with the Allow-* headers) and the security headers; the list of those
/// headers is in one place, kAnswerHeaders in api/src/http_server.cpp. Requests the front
/// refuses itself (malformed, too large, too slow, too many connections) get the API's JSON
/// envelope through ApiApp::refuse.
///
/// Streaming (server-sent events, GET /admin/index/live and GET /client/index/live): the
/// front writes whatever is posted to a connection by its id, from any thread, and reads
/// nothing else on it while an answer is under way. A live request is answered on a worker
/// with the stream's head (no Content-Length; the body ends with the connection) and the
/// first event, and its connection id is registered with the LiveHub (api/live_hub.hpp);
/// the hub's thread posts each later event through the same completion queue the workers
/// use, and the front writes it without blocking (with the write deadline only while
/// bytes are pending). No worker is held per stream; see Front::post in
/// api/src/http_front.hpp.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "api/api_app.hpp"
#include "api/api_metrics.hpp"
#include "api/live_hub.hpp"

namespace Poco::Net {
class HTTPRequest;
}

namespace api {

/// The API's answer to one whole request as the front read it: method, path and query from
/// the request line, the `token`, `Authorization` and `Idempotency-Key` fields, the body and
/// the client's address (OPTIONS, the CORS preflight, is answered by the server itself).
/// A request line whose address cannot be parsed is 400 `bad_request`.
HttpResponse answer_request(ApiApp& app, const Poco::Net::HTTPRequest& head, std::string body,
                            std::string peer);

namespace front {
class Front;
}

struct HttpServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;  ///< 0 = any free port
    /// Workers that run the API logic: how many requests are answered at once (a handler can
    /// wait seconds for the scheduler). Connections do not hold workers.
    int threads = 128;
    /// Whole requests waiting for a worker; beyond it a request gets 503 `server_busy`.
    int max_queued = 1024;
    std::size_t max_body_bytes = 64 * 1024;
    /// The head (request line and header fields) must arrive whole within this, counted from
    /// its first byte (for a new connection: from the connection).
    std::chrono::milliseconds header_timeout{10000};
    /// The body must arrive within body_timeout + its length / min_body_rate (bytes/s), counted
    /// from the end of the head; with the defaults at most 10 s + 8 s for a 64 KiB body.
    std::chrono::milliseconds body_timeout{10000};
    std::size_t min_body_rate = 8 * 1024;
    /// An answer must be written whole within this (the client must read it).
    std::chrono::milliseconds io_timeout{10000};
    /// How long a kept-alive connection may wait, idle, for its next request.
    std::chrono::milliseconds keep_alive{10000};
    int max_keep_alive_requests = 100000;
    /// Open connections at once, in total and per client address (an IPv6 client per /64).
    /// At the total, the connection idle longest is closed for a new one; if none is idle, or
    /// at an address's cap, the new connection gets 503 `too_many_connections` and is closed.
    /// A browser opens at most 6 connections to a host, so 256 lets dozens of users share one
    /// NAT or proxy, while one address can take at most 1/16 of the total. 4096 connections
    /// cost ~4096 descriptors (the server raises its soft descriptor limit to fit if it can)
    /// and a few KiB each.
    int max_connections = 4096;
    int max_connections_per_address = 256;
    /// Limits of a request's head: the request line (414), the whole head (431), the number of
    /// header fields (431).
    std::size_t max_request_line = 8 * 1024;
    std::size_t max_header_bytes = 16 * 1024;
    int max_header_fields = 100;
    /// The live streams: their caps, keep-alive and how often changes are looked for.
    LiveOptions live;
    /// Where answers, connections and streams are counted (api/api_metrics.hpp); nullptr:
    /// not counted. Must outlive the server.
    ApiMetrics* metrics = nullptr;
};

class HttpServer {
  public:
    /// Binds the listening socket (port() is known from here on); start() starts serving.
    HttpServer(ApiApp& app, HttpServerOptions options);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    void start();
    /// Stops accepting, closes every connection and waits for the workers' answers in hand.
    void stop();
    /// The port it listens on (useful with port 0).
    int port() const;
    /// Open live streams.
    int live_streams() const;

  private:
    // Declared first, destroyed last: the front calls it until it has stopped.
    std::unique_ptr<LiveHub> live_;
    std::unique_ptr<front::Front> front_;
};

}  // namespace api
