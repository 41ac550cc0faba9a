#include "api/live_hub.hpp"

#include <utility>
#include <vector>

namespace api {

namespace {

/// How long a browser waits before it reconnects a dropped stream by itself.
constexpr const char* kRetry = "retry: 3000\n";

struct Outgoing {
    std::uint64_t id;
    std::string bytes;
    bool last;
};

}  // namespace

LiveHub::LiveHub(LiveOptions options, Render render, Version version, Send send, Now now,
                 Steady steady)
    : options_(options),
      render_(std::move(render)),
      version_(std::move(version)),
      send_(std::move(send)),
      now_(std::move(now)),
      steady_(steady ? std::move(steady)
                     : Steady([] { return std::chrono::steady_clock::now(); })) {
    if (options_.own_thread) {
        thread_ = std::thread([this] { run(); });
    }
}

LiveHub::~LiveHub() {
    stop();
}

std::string LiveHub::event(const std::string& name, const std::string& data) {
    return "event: " + name + "\ndata: " + data + "\n\n";
}

std::string LiveHub::event_name(const LiveGrant& g) {
    return g.role == Role::Admin ? "station" : "orders";
}

std::string LiveHub::key_of(const LiveGrant& g) {
    return (g.role == Role::Admin ? "a" : "c") + std::to_string(g.subject);
}

std::optional<std::string> LiveHub::open(std::uint64_t id, const LiveGrant& grant) {
    const std::string key = key_of(grant);
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || static_cast<int>(streams_.size()) >= options_.max_streams ||
            per_key_[key] >= options_.max_streams_per_user) {
            return std::nullopt;
        }
        ++per_key_[key];
        streams_[id] = Stream{grant, key, false, "", steady_()};
        counted();
    }
    const auto state = render_(grant);
    std::lock_guard lock(mutex_);
    const auto it = streams_.find(id);
    if (it != streams_.end()) {
        it->second.last = state.value_or("");
        if (!state) {
            it->second.grant.expires_s = 0;  // ended by the first tick after activate
        }
    }
    if (!state) {
        return std::string(kRetry) + event("expired", "{\"msg\":\"登录已失效，请重新登录\"}");
    }
    return std::string(kRetry) + event(event_name(grant), *state);
}

void LiveHub::activate(std::uint64_t id) {
    {
        std::lock_guard lock(mutex_);
        const auto it = streams_.find(id);
        if (it == streams_.end()) {
            return;
        }
        it->second.active = true;
        it->second.wrote = steady_();
    }
    wake_.notify_all();
}

void LiveHub::closed(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    const auto it = streams_.find(id);
    if (it == streams_.end()) {
        return;
    }
    if (--per_key_[it->second.key] <= 0) {
        per_key_.erase(it->second.key);
    }
    streams_.erase(it);
    counted();
}

void LiveHub::counted() const {
    if (count_) {
        count_(static_cast<int>(streams_.size()));
    }
}

int LiveHub::size() const {
    std::lock_guard lock(mutex_);
    return static_cast<int>(streams_.size());
}

void LiveHub::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return;
        }
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void LiveHub::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (streams_.empty()) {
            wake_.wait(lock, [this] { return stopping_ || !streams_.empty(); });
            continue;
        }
        wake_.wait_for(lock, options_.check_every);
        if (stopping_) {
            break;
        }
        lock.unlock();
        check();
        lock.lock();
    }
}

void LiveHub::check() {
    std::lock_guard lock(check_mutex_);
    const std::string version = version_();
    const bool changed = version != seen_version_;
    seen_version_ = version;
    tick(changed);
}

void LiveHub::tick(bool changed) {
    const std::int64_t now_s = now_();
    const auto now = steady_();
    std::vector<std::pair<std::uint64_t, LiveGrant>> to_render;
    std::vector<Outgoing> out;
    {
        std::lock_guard lock(mutex_);
        for (auto& [id, s] : streams_) {
            if (!s.active) {
                continue;
            }
            if (s.grant.expires_s <= now_s) {
                out.push_back({id, event("expired", "{\"msg\":\"登录已过期，请重新登录\"}"), true});
            } else if (changed) {
                to_render.emplace_back(id, s.grant);
            } else if (now - s.wrote >= options_.keep_alive) {
                s.wrote = now;
                out.push_back({id, ": keep-alive\n\n", false});
            }
        }
    }
    // Rendered outside the lock (it reads the store); one rendering per subscriber and
    // token version: a stream of a token that a password change ended must get `expired`,
    // not the state rendered for the account's new token.
    std::map<std::string, std::optional<std::string>> rendered;
    std::vector<std::pair<std::uint64_t, std::optional<std::string>>> states;
    for (const auto& [id, grant] : to_render) {
        const std::string key =
            key_of(grant) + "/" + std::to_string(grant.version) + "@" + grant.station;
        auto it = rendered.find(key);
        if (it == rendered.end()) {
            it = rendered.emplace(key, render_(grant)).first;
        }
        states.emplace_back(id, it->second);
    }
    {
        std::lock_guard lock(mutex_);
        for (auto& [id, state] : states) {
            const auto it = streams_.find(id);
            if (it == streams_.end()) {
                continue;
            }
            Stream& s = it->second;
            if (!state) {
                out.push_back({id, event("expired", "{\"msg\":\"登录已失效，请重新登录\"}"), true});
            } else if (*state != s.last) {
                s.last = std::move(*state);
                s.wrote = now;
                out.push_back({id, event(event_name(s.grant), s.last), false});
            } else if (now - s.wrote >= options_.keep_alive) {
                s.wrote = now;
                out.push_back({id, ": keep-alive\n\n", false});
            }
        }
        for (const Outgoing& o : out) {
            if (o.last) {
                // Ended here: no more events, and its place is free at once.
                const auto it = streams_.find(o.id);
                if (it != streams_.end()) {
                    if (--per_key_[it->second.key] <= 0) {
                        per_key_.erase(it->second.key);
                    }
                    streams_.erase(it);
                    counted();
                }
            }
        }
    }
    for (Outgoing& o : out) {
        send_(o.id, std::move(o.bytes), o.last);
    }
}

}  // namespace api
