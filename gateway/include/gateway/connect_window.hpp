#pragma once
/// @file Which of the gateway's pile MQTT clients to start connecting, a window at a time.
///
/// Paho's C library serialises all the clients of a process on one mutex, and its threads
/// hold it for long stretches while many clients connect at once: with 1,000 piles started
/// together, the gateway's core waited on that mutex for tens of seconds to publish, and
/// chargers' boots timed out (docs/benchmarks.md). So at most `window` clients are
/// connecting at any time; a client counts as connecting from its start until its first
/// connection, or for `patience_ms` at most (a pile the broker refuses must not hold a
/// place for ever — it goes on retrying by itself).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace gateway {

class ConnectWindow {
  public:
    /// `window` 0: no limit, every client at once.
    ConnectWindow(std::size_t clients, std::size_t window, std::int64_t patience_ms);

    /// The clients to start now (each index once, in order).
    std::vector<std::size_t> due(std::int64_t now_ms);
    /// Client `i` connected (its first connection; later ones change nothing).
    void connected(std::size_t i);
    /// Every client has been started.
    bool all_started() const { return next_ >= connected_.size(); }

  private:
    struct Started {
        std::size_t client;
        std::int64_t at_ms;
    };
    std::size_t window_;
    std::int64_t patience_ms_;
    std::size_t next_ = 0;
    std::vector<bool> connected_;
    std::deque<Started> connecting_;
};

}  // namespace gateway
