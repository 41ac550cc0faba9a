#pragma once
/// @file The live streams (server-sent events, docs/openapi.yaml `GET /admin/index/live` and
/// `GET /client/index/live`): who is subscribed, and what each is sent. Free of the HTTP
/// server: a stream is an id (the server's connection id) and bytes go out through `Send`.
///
/// One thread of its own, asleep while there are no streams. Every `check_every` it asks
/// `Version` whether anything a stream shows may have changed (a few counters, no I/O); if
/// so it renders each stream's state and sends it as an event when it differs from the last
/// one sent. It also sends a keep-alive comment to a stream quiet for `keep_alive`, and
/// ends a stream (an `expired` event, then close) when its token expires or its grant no
/// longer holds. The number of streams is capped per subscriber and in total.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "api/tokens.hpp"

namespace api {

/// Who a stream is for, as its ticket said.
struct LiveGrant {
    Role role = Role::Client;
    std::int64_t subject = 0;    ///< user id or admin id, by role
    std::int64_t expires_s = 0;  ///< the token's expiry, UTC seconds
    std::int64_t version = 0;    ///< the account's token version
    std::string station{};       ///< an admin's: the station shown ("" for the first one)
};

struct LiveOptions {
    int max_streams = 512;         ///< open streams in total
    int max_streams_per_user = 4;  ///< open streams of one account (a few tabs)
    std::chrono::milliseconds keep_alive{15000};
    std::chrono::milliseconds check_every{100};
    /// Whether the hub runs its own thread of checks; without it the owner calls check()
    /// (the unit tests, which drive time by hand).
    bool own_thread = true;
};

class LiveHub {
  public:
    /// Writes `bytes` to stream `id`; `last` ends (closes) it.
    using Send = std::function<void(std::uint64_t id, std::string bytes, bool last)>;
    /// The state a grant's stream shows (one line: an event's data); nullopt when the grant
    /// no longer holds (account gone, password changed).
    using Render = std::function<std::optional<std::string>(const LiveGrant&)>;
    /// Changes whenever a rendered state may have changed.
    using Version = std::function<std::string()>;
    /// UTC seconds now.
    using Now = std::function<std::int64_t()>;
    /// Monotonic time now (keep-alive timing); steady_clock's when not given.
    using Steady = std::function<std::chrono::steady_clock::time_point()>;

    LiveHub(LiveOptions options, Render render, Version version, Send send, Now now,
            Steady steady = {});
    ~LiveHub();
    LiveHub(const LiveHub&) = delete;
    LiveHub& operator=(const LiveHub&) = delete;

    /// Opens stream `id` for `grant` if the caps allow: the bytes that start it (the retry
    /// hint and the first event with the current state); nullopt when a cap is reached.
    /// The stream gets nothing more until activate(id) (its first bytes must go first).
    std::optional<std::string> open(std::uint64_t id, const LiveGrant& grant);
    /// From here on stream `id` is sent its changes (a no-op if it closed meanwhile).
    void activate(std::uint64_t id);
    /// Stream `id` is gone (thread-safe, quick; a no-op for an unknown id).
    void closed(std::uint64_t id);
    /// One check in the caller's thread, as the hub's own thread makes every `check_every`:
    /// asks `Version`, renders and sends what changed, keep-alives and expiries. For a hub
    /// without its own thread (LiveOptions::own_thread false); safe beside one anyway.
    void check();
    /// Ends every stream and the thread.
    void stop();
    /// Open streams (for tests and the caps).
    int size() const;
    /// Called with the number of open streams whenever it changes (under the hub's lock:
    /// must be quick and must not call the hub). Set before the first stream opens.
    void on_count(std::function<void(int)> count) { count_ = std::move(count); }

    /// One server-sent event: `event: NAME` and `data: DATA` (DATA has no line breaks).
    static std::string event(const std::string& name, const std::string& data);

  private:
    struct Stream {
        LiveGrant grant;
        std::string key;  ///< the subscriber (role and account)
        bool active = false;
        std::string last;  ///< the data last sent
        std::chrono::steady_clock::time_point wrote;
    };
    void run();
    void tick(bool changed);
    static std::string event_name(const LiveGrant& g);
    static std::string key_of(const LiveGrant& g);
    /// Reports the number of streams to count_ (with mutex_ held).
    void counted() const;

    LiveOptions options_;
    Render render_;
    Version version_;
    Send send_;
    Now now_;
    Steady steady_;
    std::function<void(int)> count_;
    mutable std::mutex mutex_;
    std::mutex check_mutex_;  ///< one check at a time (seen_version_)
    std::condition_variable wake_;
    std::unordered_map<std::uint64_t, Stream> streams_;
    std::map<std::string, int> per_key_;
    bool stopping_ = false;
    std::string seen_version_;
    std::thread thread_;
};

}  // namespace api
