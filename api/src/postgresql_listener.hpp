#pragma once
// Notices between the API instances that share one PostgreSQL database (LISTEN/NOTIFY), so
// that the rows each keeps in memory follow the others' writes (docs/decisions.md).

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

namespace api::sql {

/// Listens on `channel` on a connection of its own, in a thread of its own: calls
/// `on_notice` with each notice's payload, and with "*" after every connection but a first
/// one made within the constructor (notices sent while it was not listening are lost: the
/// receiver must then forget everything). The constructor waits up to `first_wait` for that
/// first connection. A lost connection is made again every half second until it holds.
class Listener {
  public:
    using NoticeFn = std::function<void(std::string_view payload)>;
    Listener(const std::string& uri, std::string channel, NoticeFn on_notice,
             std::chrono::milliseconds first_wait = std::chrono::seconds(5));
    ~Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

  private:
    void run();

    std::string conninfo_;
    std::string channel_;
    NoticeFn on_notice_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> listening_{false};
    // Claimed by the first connection if made in the constructor's wait, else by the
    // constructor: every connection that finds it claimed announces "*".
    std::atomic<bool> first_claimed_{false};
    std::thread thread_;
};

}  // namespace api::sql
