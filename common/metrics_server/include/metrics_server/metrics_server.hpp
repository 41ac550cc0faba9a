#pragma once
/// @file The Prometheus scrape endpoint of a service: `GET /metrics` on its own address
/// (`--metrics HOST:PORT`, loopback by default in deploy/), answered with the registry's
/// text; anything else is 404 (405 for another method). It never touches the service's
/// state: the registry is made of atomics.

#include <memory>
#include <string>

#include "metrics/registry.hpp"

namespace metrics_server {

/// "HOST:PORT" (PORT 0 = any free port; HOST an IPv4 address or a name), or an error.
struct Listen {
    std::string host;
    int port = 0;
};
/// Reads a `--metrics` value; throws std::invalid_argument with the reason.
Listen parse_listen(const std::string& value);

class MetricsServer {
  public:
    /// Listens at once (throws if the address cannot be bound); serves on its own thread.
    MetricsServer(const metrics::Registry& registry, const Listen& where);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    /// The bound port (the one chosen when asked for 0).
    int port() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace metrics_server
