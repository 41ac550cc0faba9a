#pragma once
// The WebSocket side of station-gateway: one event-loop thread (epoll, non-blocking
// sockets) owns every charger connection on /ocpp/{identity} (subprotocol ocpp1.6). HTTP
// Basic is checked against the registry before the upgrade (OCPP security profile 1; over
// TLS with --tls-cert/--tls-key, profile 2). The protocol itself is ws_protocol.hpp's pure
// functions; this file only moves bytes, keeps deadlines and caps, and hands what it read
// to `ServerEvents` (called on the loop thread). The gateway's logic runs elsewhere and
// hands frames back through send/close, which wake the loop (eventfd).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "gateway/charger_registry.hpp"
#include "gateway/gateway.hpp"

namespace gateway {

/// What the server reports, on its loop thread: keep these short (hand over and return).
struct ServerEvents {
    std::function<void(ConnectionId, std::string identity)> connected;
    std::function<void(ConnectionId, std::string text)> text;
    /// Only for connections reported `connected`.
    std::function<void(ConnectionId)> closed;
    std::function<void(std::string level, std::string text)> log;
};

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8180;  ///< 0 = any free port
    /// Open sockets at most (in the handshake or upgraded); more are refused (503).
    int max_connections = 256;
    /// From accept to the upgrade answered (the TLS handshake included).
    std::int64_t handshake_timeout_ms = 10'000;
    /// No input for this long: the server sends a WebSocket Ping ...
    std::int64_t idle_ping_ms = 60'000;
    /// ... and closes the connection if still nothing arrives for this long.
    std::int64_t pong_timeout_ms = 30'000;
    /// After the server's Close frame (or a refusal): how long the peer has to finish.
    std::int64_t close_timeout_ms = 5'000;
    /// Unsent bytes over this stop reading from the connection (it must read first) ...
    std::size_t pause_output_bytes = 256 * 1024;
    /// ... and over this close it: a peer that does not read is not buffered for.
    std::size_t max_output_bytes = 1024 * 1024;
    /// PEM files: with both set the server speaks TLS only (wss://, security profile 2).
    std::string tls_cert;
    std::string tls_key;
};

class OcppServer {
  public:
    OcppServer(const Registry& registry, ServerOptions options, ServerEvents events);
    ~OcppServer();
    OcppServer(const OcppServer&) = delete;
    OcppServer& operator=(const OcppServer&) = delete;

    /// Listens and starts the loop thread. Throws std::runtime_error if it cannot listen
    /// or the TLS certificate or key cannot be loaded.
    void start();
    /// Closes every connection (a Close frame, best effort) and joins the loop thread.
    void stop();
    int port() const;
    bool tls() const;
    /// Queues a text frame for the connection (dropped if it is gone). Thread-safe.
    void send(ConnectionId conn, std::string text);
    /// Closes the connection (after what was queued before). Thread-safe.
    void close(ConnectionId conn);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace gateway
