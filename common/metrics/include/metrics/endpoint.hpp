#pragma once
/// @file A service's Prometheus scrape endpoint: `GET /metrics` on its own address
/// (`--metrics HOST:PORT`; loopback in deploy/), answering with the service's registry
/// (prometheus-cpp; the families are atomics, a scrape never waits for the service's loop).
/// Anything else on that address is 404.

#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace metrics {

/// Where the endpoint listens: HOST:PORT (PORT 0 = any free port).
struct Listen {
    std::string host;
    int port = 0;
};
/// Reads a `--metrics` value; throws std::invalid_argument with the reason.
Listen parse_listen(const std::string& value);

class Endpoint {
  public:
    /// Listens at once (throws std::runtime_error if the address cannot be bound) and
    /// serves `registry` on two threads of its own. The endpoint keeps the registry alive
    /// (prometheus-cpp's exposer itself holds only a weak reference to it).
    Endpoint(std::shared_ptr<prometheus::Registry> registry, const Listen& where);
    ~Endpoint();
    Endpoint(const Endpoint&) = delete;
    Endpoint& operator=(const Endpoint&) = delete;

    /// The bound port (the one chosen when asked for 0).
    int port() const { return port_; }
    /// "http://HOST:PORT/metrics", for the service's start-up log line.
    std::string url() const;

  private:
    struct Impl;
    std::shared_ptr<prometheus::Registry> registry_;
    std::unique_ptr<Impl> impl_;
    std::string host_;
    int port_ = 0;
};

}  // namespace metrics
