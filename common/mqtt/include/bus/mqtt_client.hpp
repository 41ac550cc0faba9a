#pragma once
/// @file The Paho MQTT adapter shared by the services: one client, its subscriptions
/// (renewed on every reconnect), a last will, offline buffering, and publication that
/// never throws. Paho calls back on its own threads: the handlers given here must only
/// hand the message over (e.g. to a queue), never run service logic.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "contract/publication.hpp"

namespace mqtt {
class async_client;
}

namespace bus {

struct ClientOptions {
    /// The broker: one URI, or several separated by commas (the nodes of a cluster), tried
    /// in turn on every connection and reconnection.
    std::string uri = "tcp://127.0.0.1:1883";
    std::string client_id;
    std::optional<contract::Publication> will;
    /// Broker credentials (broker/prod.conf requires them); none when empty.
    std::string username;
    std::string password;
    /// For `ssl://` URIs (MQTT over TLS): the PEM file of the certificate authorities the
    /// broker's certificate must chain to, "" for the system's store. The broker's
    /// certificate must name the URI's host (hostname or IP address); no other is accepted.
    std::string ca_file;
    std::vector<std::pair<std::string, int>> subscriptions;
    /// Keep the broker-side session (subscriptions, queued QoS 1 messages) across
    /// reconnects.
    bool persistent_session = true;
    /// Messages buffered while disconnected or in flight. Paho's default of 100 throws on
    /// the 101st outstanding publish (stack-notes).
    int max_buffered = 100000;
    std::chrono::seconds keep_alive{10};
};

/// A received message, handed over without copying: the views stay valid as long as the
/// Received (which keeps Paho's message alive) does.
struct Received {
    std::shared_ptr<const void> owner;
    std::string_view topic;
    std::string_view payload;
};

/// The URIs of a comma-separated list, blanks around each trimmed, empty items dropped.
std::vector<std::string> split_uris(std::string_view list);

class MqttClient {
  public:
    using MessageFn = std::function<void(Received message)>;
    using EventFn = std::function<void()>;

    MqttClient(ClientOptions options, MessageFn on_message, EventFn on_connected = {},
               EventFn on_lost = {});
    ~MqttClient();
    MqttClient(const MqttClient&) = delete;
    MqttClient& operator=(const MqttClient&) = delete;

    /// Starts connecting without waiting; after the first connection, reconnects by itself.
    void start();
    /// Waits until connected (first connection); false on timeout.
    bool wait_connected(std::chrono::milliseconds timeout);
    bool connected() const;
    /// Queues a publication; while disconnected it is buffered. Never throws; returns
    /// false (and counts) when Paho refused it.
    bool publish(const contract::Publication& p);
    /// Publishes `farewell` (if any) and disconnects cleanly without waiting.
    void begin_stop(const std::optional<contract::Publication>& farewell);
    /// Waits for begin_stop's disconnect to finish.
    void finish_stop(std::chrono::milliseconds timeout);

    std::int64_t publish_failures() const { return failures_.load(); }

  private:
    std::shared_ptr<void> connect_once();  // the connect token

    ClientOptions options_;
    std::vector<std::string> uris_;  // options_.uri split at its commas
    std::vector<int> ports_;         // their TCP ports (for TCP_NODELAY)
    MessageFn on_message_;
    EventFn on_connected_;
    EventFn on_lost_;
    std::unique_ptr<mqtt::async_client> client_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> ever_connected_{false};
    std::atomic<std::int64_t> failures_{0};
    std::shared_ptr<void> disconnect_token_;
    std::thread connector_;  // retries the first connection
};

}  // namespace bus
