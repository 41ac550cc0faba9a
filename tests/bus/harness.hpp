#pragma once
// Test harness for the bus tests: the broker the CTest fixture started, child processes
// (the real scheduler and pile simulator), and a probe client that records every message
// under the topic root and sends requests. Paho's callbacks only record; assertions run
// on the test thread (Catch2 is not thread-safe).

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bus/mqtt_client.hpp"
#include "contract/messages.hpp"
#include "databases.hpp"

namespace harness {

using namespace std::chrono_literals;

/// A broker of our own (broker/start-dev.sh), stopped on destruction.
class Broker {
  public:
    /// Starts a broker in a fresh folder on a free port (or `port`).
    explicit Broker(int port = 0);
    ~Broker();
    Broker(const Broker&) = delete;
    Broker& operator=(const Broker&) = delete;
    int port() const { return port_; }
    std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
    /// Stops it cleanly (it saves its persistence) and starts it again on the same port.
    void restart();
    void stop();
    /// Kills it (SIGKILL): what it had not saved is lost.
    void kill_hard();
    /// Starts it again on its port, after stop() or kill_hard().
    void start();

  private:
    std::string dir_;
    int port_;
    pid_t pid_ = -1;
};

/// A child process with its output in a log file; stopped (SIGTERM) on destruction.
class Process {
  public:
    Process(std::vector<std::string> argv, std::string log_path);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    /// SIGTERM, then SIGKILL after `grace`; returns the exit status (-1 if killed).
    int stop(std::chrono::milliseconds grace = 3000ms);
    /// SIGKILL: the process dies without a clean disconnect (its last will fires).
    void kill_hard();
    bool running();
    pid_t pid() const { return pid_; }
    std::string log() const;

  private:
    pid_t pid_ = -1;
    std::string log_path_;
};

struct Message {
    std::string topic;
    std::string payload;
    std::chrono::steady_clock::time_point at;  ///< when the probe received it
};

/// Subscribes to everything under the root, records it, sends requests.
class Probe {
  public:
    /// Subscribes to `filter` (default: everything under the root) and its own replies.
    Probe(const std::string& uri, const std::string& client_id, const std::string& filter = "");
    /// Publishes a request with a fresh id and waits for its reply.
    contract::SchedulerReply request(contract::SchedulerRequest req,
                                     std::chrono::milliseconds timeout = 5s);
    void publish(const std::string& topic, const std::string& payload, int qos = 1,
                 bool retain = false);
    /// Index of the next message to arrive (to search only what comes after).
    std::size_t mark();
    /// The first message at or after `from` for which `match` holds, waiting up to `timeout`.
    std::optional<Message> wait_for(std::function<bool(const Message&)> match, std::size_t from,
                                    std::chrono::milliseconds timeout = 5s);
    /// Waits until `check` (called on the test thread, e.g. with requests) holds.
    static bool eventually(const std::function<bool()>& check,
                           std::chrono::milliseconds timeout = 5s);
    std::vector<Message> messages();

  private:
    std::string client_id_;
    int next_id_ = 0;
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<Message> messages_;
    std::unique_ptr<bus::MqttClient> client_;
};

/// Paths of the binaries under test (set by CMake).
std::string scheduler_binary();
std::string pile_sim_binary();
std::string api_binary();
/// A fresh temporary folder.
std::string temp_dir();
/// A whole file's text ("" if it cannot be read).
std::string read_text(const std::string& path);

}  // namespace harness
