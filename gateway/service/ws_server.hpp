#pragma once
// The WebSocket side of station-gateway: POCO's HTTPServer taking OCPP 1.6J connections on
// /ocpp/{identity} (subprotocol ocpp1.6), HTTP Basic checked against the registry before
// the upgrade (OCPP security profile 1). One pool thread per connection reads its frames
// and writes what the gateway queued for it; the gateway's logic runs elsewhere and only
// sees the events handed to `Events`.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/charger_registry.hpp"
#include "gateway/gateway.hpp"

namespace Poco::Net {
class HTTPServer;
}
namespace Poco {
class ThreadPool;
}

namespace gateway {

struct ServerEvents {
    std::function<void(ConnectionId, std::string identity)> connected;
    std::function<void(ConnectionId, std::string text)> text;
    std::function<void(ConnectionId)> closed;
    std::function<void(std::string level, std::string text)> log;
};

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8180;  ///< 0 = any free port
    int max_connections = 256;
};

struct Link;  // one connection's outbox

class OcppServer {
  public:
    OcppServer(const Registry& registry, ServerOptions options, ServerEvents events);
    ~OcppServer();
    OcppServer(const OcppServer&) = delete;
    OcppServer& operator=(const OcppServer&) = delete;

    void start();
    void stop();
    int port() const;
    /// Queues a text frame for the connection (dropped if it is gone). Thread-safe.
    void send(ConnectionId conn, std::string text);
    /// Closes the connection (after what was queued before). Thread-safe.
    void close(ConnectionId conn);

    // Used by the connection handlers.
    std::shared_ptr<Link> open_link(ConnectionId& id);
    void drop_link(ConnectionId id);
    const Registry& registry() const { return registry_; }
    const ServerEvents& events() const { return events_; }

  private:
    /// The connection's link, or null if it is gone.
    std::shared_ptr<Link> link_of(ConnectionId conn);

    const Registry& registry_;
    ServerOptions options_;
    ServerEvents events_;
    std::unique_ptr<Poco::ThreadPool> pool_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    std::mutex mutex_;
    std::map<ConnectionId, std::shared_ptr<Link>> links_;
    ConnectionId next_id_ = 0;
};

}  // namespace gateway
