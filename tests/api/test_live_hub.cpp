// Unit tests of the live streams' pieces (api/live_hub.hpp, api/live_tickets.hpp): which
// stream is sent what, the caps, keep-alives, expiry, a consumer dropped mid-fan-out, and the
// single-use tickets. The hub runs without its own thread and both clocks are the test's,
// so every case is deterministic: no sleeps, time is an input.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/live_hub.hpp"
#include "api/live_tickets.hpp"

using namespace api;

namespace {

struct Sent {
    std::uint64_t id;
    std::string bytes;
    bool last;
};

/// A hub driven by hand: `states` is what each subscriber ("a1", "c7") is shown (absent:
/// the grant no longer holds), `version` what the hub compares, `now_s` and `steady` the
/// clocks; everything sent is kept in `sent`.
struct Rig {
    std::map<std::string, std::string> states;
    std::map<std::string, std::int64_t> token_versions;  ///< older grants no longer hold
    std::string version = "v0";
    std::int64_t now_s = 1000;
    std::chrono::steady_clock::time_point steady{};
    std::vector<Sent> sent;
    std::map<std::string, int> renders;
    std::function<void(std::uint64_t)> on_send;  ///< called from Send (the front's side)
    LiveHub hub;

    explicit Rig(LiveOptions options = {})
        : hub(
              with_manual(options),
              [this](const LiveGrant& g) -> std::optional<std::string> {
                  const std::string key =
                      (g.role == Role::Admin ? "a" : "c") + std::to_string(g.subject);
                  ++renders[key];
                  if (g.version < token_versions[key]) {
                      return std::nullopt;
                  }
                  const auto it = states.find(key);
                  return it == states.end() ? std::nullopt : std::optional(it->second);
              },
              [this] { return version; },
              [this](std::uint64_t id, std::string bytes, bool last) {
                  sent.push_back({id, std::move(bytes), last});
                  if (on_send) {
                      on_send(id);
                  }
              },
              [this] { return now_s; }, [this] { return steady; }) {}

    static LiveOptions with_manual(LiveOptions o) {
        o.own_thread = false;
        return o;
    }
    /// What stream `id` was sent since the last take(), in order.
    std::vector<std::string> take(std::uint64_t id) {
        std::vector<std::string> out;
        for (const Sent& s : sent) {
            if (s.id == id) {
                out.push_back(s.bytes + (s.last ? "<close>" : ""));
            }
        }
        std::erase_if(sent, [id](const Sent& s) { return s.id == id; });
        return out;
    }
    void change(const std::string& key, const std::string& state) {
        states[key] = state;
        version += "+";
    }
};

LiveGrant client(std::int64_t subject, std::int64_t expires_s = 100000) {
    return LiveGrant{Role::Client, subject, expires_s, 0, ""};
}
LiveGrant admin(std::int64_t subject, std::int64_t expires_s = 100000) {
    return LiveGrant{Role::Admin, subject, expires_s, 0, ""};
}
std::string orders(const std::string& data) {
    return LiveHub::event("orders", data);
}
std::string station(const std::string& data) {
    return LiveHub::event("station", data);
}

}  // namespace

TEST_CASE("live hub — a stream starts with the retry hint and the state, then only changes",
          "[live]") {
    Rig rig;
    rig.states = {{"c7", "S1"}, {"a1", "A1"}};
    CHECK(rig.hub.open(1, client(7)) == "retry: 3000\n" + orders("S1"));
    CHECK(rig.hub.open(2, admin(1)) == "retry: 3000\n" + station("A1"));
    // Nothing goes out before activate: the first bytes must reach the socket first.
    rig.change("c7", "S2");
    rig.hub.check();
    CHECK(rig.sent.empty());

    rig.hub.activate(1);
    rig.hub.activate(2);
    rig.change("c7", "S3");
    rig.hub.check();
    CHECK(rig.take(1) == std::vector<std::string>{orders("S3")});
    CHECK(rig.take(2).empty());  // the operator's state did not change
    // The version moved but nobody's state did: nothing is sent; no version move: no render.
    rig.version += "+";
    rig.hub.check();
    CHECK(rig.sent.empty());
    const auto renders = rig.renders;
    rig.hub.check();
    CHECK(rig.renders == renders);
    CHECK(rig.sent.empty());
}

TEST_CASE("live hub — fan-out: every stream of a subscriber gets the change, rendered once",
          "[live]") {
    Rig rig;
    rig.states = {{"c7", "S1"}, {"c8", "T1"}, {"a1", "A1"}, {"a7", "A7"}};
    for (std::uint64_t id : {1U, 2U, 3U}) {
        REQUIRE(rig.hub.open(id, client(7)));
        rig.hub.activate(id);
    }
    REQUIRE(rig.hub.open(4, client(8)));
    rig.hub.activate(4);
    REQUIRE(rig.hub.open(5, admin(1)));
    rig.hub.activate(5);
    REQUIRE(rig.hub.open(6, admin(7)));  // admin 7 is not user 7
    rig.hub.activate(6);

    rig.renders.clear();
    rig.change("c7", "S2");
    rig.states["a1"] = "A2";
    rig.states["a7"] = "A8";
    rig.hub.check();
    for (std::uint64_t id : {1U, 2U, 3U}) {
        CHECK(rig.take(id) == std::vector<std::string>{orders("S2")});
    }
    CHECK(rig.take(4).empty());
    CHECK(rig.take(5) == std::vector<std::string>{station("A2")});
    CHECK(rig.take(6) == std::vector<std::string>{station("A8")});
    CHECK(rig.renders == std::map<std::string, int>{{"c7", 1}, {"c8", 1}, {"a1", 1}, {"a7", 1}});
}

TEST_CASE("live hub — changes between checks reach a stream as one event with the latest state",
          "[live]") {
    Rig rig;
    rig.states = {{"c7", "S1"}};
    REQUIRE(rig.hub.open(1, client(7)));
    rig.hub.activate(1);
    for (int i = 2; i <= 50; ++i) {
        rig.change("c7", "S" + std::to_string(i));
    }
    rig.hub.check();
    CHECK(rig.take(1) == std::vector<std::string>{orders("S50")});
    // Back and forth between checks: the stream already shows it, nothing is sent.
    rig.change("c7", "S51");
    rig.change("c7", "S50");
    rig.hub.check();
    CHECK(rig.take(1).empty());
}

TEST_CASE("live hub — caps per account and in total, a closed stream frees its place", "[live]") {
    LiveOptions options;
    options.max_streams = 5;
    options.max_streams_per_user = 2;
    Rig rig(options);
    rig.states = {{"c7", "S"}, {"c8", "T"}, {"a7", "A"}, {"c9", "U"}};
    CHECK(rig.hub.open(1, client(7)));
    CHECK(rig.hub.open(2, client(7)));
    CHECK_FALSE(rig.hub.open(3, client(7)));  // a third tab of user 7
    CHECK(rig.hub.open(4, admin(7)));         // another account, though the same number
    CHECK(rig.hub.open(5, client(8)));
    CHECK(rig.hub.open(6, client(8)));
    CHECK(rig.hub.size() == 5);
    CHECK_FALSE(rig.hub.open(7, client(9)));  // the total
    rig.hub.closed(2);
    CHECK(rig.hub.size() == 4);
    CHECK(rig.hub.open(8, client(7)));  // user 7's place is free again
    CHECK_FALSE(rig.hub.open(9, client(9)));
    rig.hub.closed(8);
    CHECK(rig.hub.open(9, client(9)));
    // Closing an unknown or already closed stream changes nothing.
    rig.hub.closed(8);
    rig.hub.closed(12345);
    CHECK(rig.hub.size() == 5);
}

TEST_CASE("live hub — a quiet stream gets a keep-alive comment each keep_alive, no sooner",
          "[live]") {
    LiveOptions options;
    options.keep_alive = std::chrono::seconds(15);
    Rig rig(options);
    rig.states = {{"c7", "S1"}};
    REQUIRE(rig.hub.open(1, client(7)));
    rig.hub.activate(1);
    rig.steady += std::chrono::milliseconds(14999);
    rig.hub.check();
    CHECK(rig.take(1).empty());
    rig.steady += std::chrono::milliseconds(1);
    rig.hub.check();
    CHECK(rig.take(1) == std::vector<std::string>{": keep-alive\n\n"});
    rig.steady += std::chrono::seconds(10);
    rig.change("c7", "S2");  // an event restarts the quiet time
    rig.hub.check();
    CHECK(rig.take(1) == std::vector<std::string>{orders("S2")});
    rig.steady += std::chrono::seconds(14);
    rig.hub.check();
    CHECK(rig.take(1).empty());
    rig.steady += std::chrono::seconds(1);
    rig.version += "+";  // a version move without a change still counts as quiet
    rig.hub.check();
    CHECK(rig.take(1) == std::vector<std::string>{": keep-alive\n\n"});
}

TEST_CASE("live hub — a stream ends with `expired` when its token expires, and frees its place",
          "[live]") {
    LiveOptions options;
    options.max_streams_per_user = 1;
    Rig rig(options);
    rig.states = {{"c7", "S1"}, {"c8", "T1"}};
    REQUIRE(rig.hub.open(1, client(7, 2000)));
    rig.hub.activate(1);
    REQUIRE(rig.hub.open(2, client(8, 5000)));
    rig.hub.activate(2);
    rig.now_s = 1999;
    rig.hub.check();
    CHECK(rig.sent.empty());
    rig.now_s = 2000;
    rig.change("c7", "S2");  // expiry goes before a change
    rig.hub.check();
    CHECK(rig.take(1) ==
          std::vector<std::string>{
              LiveHub::event("expired", R"({"msg":"登录已过期，请重新登录"})") + "<close>"});
    CHECK(rig.take(2).empty());
    CHECK(rig.hub.size() == 1);
    rig.change("c7", "S3");
    rig.hub.check();
    CHECK(rig.take(1).empty());               // nothing after the end
    CHECK(rig.hub.open(3, client(7, 9000)));  // the place is free
}

TEST_CASE("live hub — a grant that no longer holds (password changed) ends the stream", "[live]") {
    Rig rig;
    rig.states = {{"c7", "S1"}};
    REQUIRE(rig.hub.open(1, client(7)));
    rig.hub.activate(1);
    rig.states.erase("c7");
    rig.version += "+";
    rig.hub.check();
    CHECK(rig.take(1) ==
          std::vector<std::string>{
              LiveHub::event("expired", R"({"msg":"登录已失效，请重新登录"})") + "<close>"});
    CHECK(rig.hub.size() == 0);

    // Already gone when the stream opens: it starts with `expired`, ended by the first check.
    const auto first = rig.hub.open(2, client(7));
    REQUIRE(first);
    CHECK(first->find("event: expired") != std::string::npos);
    rig.hub.activate(2);
    rig.hub.check();
    CHECK(rig.take(2).size() == 1);
    CHECK(rig.hub.size() == 0);
}

TEST_CASE("live hub — after a password change only the new token's streams go on", "[live]") {
    // Two streams of one user: the page that changed the password reopened its stream with
    // the new token (version 1); another device still streams with the old one (version 0).
    Rig rig;
    rig.states = {{"c7", "S1"}};
    REQUIRE(rig.hub.open(1, client(7)));
    rig.hub.activate(1);
    rig.token_versions["c7"] = 1;
    LiveGrant renewed = client(7);
    renewed.version = 1;
    REQUIRE(rig.hub.open(2, renewed));
    rig.hub.activate(2);
    rig.change("c7", "S2");
    rig.hub.check();
    CHECK(rig.take(2) == std::vector<std::string>{orders("S2")});
    CHECK(rig.take(1) ==
          std::vector<std::string>{
              LiveHub::event("expired", R"({"msg":"登录已失效，请重新登录"})") + "<close>"});
    CHECK(rig.hub.size() == 1);
}

TEST_CASE("live hub — a consumer the front drops mid-fan-out gets nothing more, the others do",
          "[live]") {
    // The front closes a stream that stops reading (1 MiB pending) and tells the hub from
    // its own thread, possibly while the hub is sending: here from inside Send itself.
    Rig rig;
    rig.states = {{"c7", "S1"}};
    for (std::uint64_t id : {1U, 2U, 3U}) {
        REQUIRE(rig.hub.open(id, client(7)));
        rig.hub.activate(id);
    }
    rig.on_send = [&](std::uint64_t id) {
        if (id == 2) {
            rig.hub.closed(2);
        }
    };
    rig.change("c7", "S2");
    rig.hub.check();
    CHECK(rig.take(1) == std::vector<std::string>{orders("S2")});
    CHECK(rig.take(2) == std::vector<std::string>{orders("S2")});
    CHECK(rig.take(3) == std::vector<std::string>{orders("S2")});
    CHECK(rig.hub.size() == 2);
    rig.change("c7", "S3");
    rig.hub.check();
    CHECK(rig.take(1) == std::vector<std::string>{orders("S3")});
    CHECK(rig.take(2).empty());
    CHECK(rig.take(3) == std::vector<std::string>{orders("S3")});
    // A stream closed between open and activate is never sent anything.
    REQUIRE(rig.hub.open(4, client(7)));
    rig.hub.closed(4);
    rig.hub.activate(4);
    rig.change("c7", "S4");
    rig.hub.check();
    CHECK(rig.take(4).empty());
}

TEST_CASE("live hub — streams opened and closed from many threads while it checks", "[live]") {
    // For the ThreadSanitizer build: the front's threads open, activate and close streams
    // while the hub renders and sends. The outcome is fixed: every place is freed.
    LiveOptions options;
    options.max_streams = 10000;
    options.max_streams_per_user = 10000;
    LiveHub hub(
        Rig::with_manual(options), [](const LiveGrant&) { return std::optional<std::string>("S"); },
        [] { return std::string("v"); }, [](std::uint64_t, std::string, bool) {},
        [] { return std::int64_t{1000}; });
    std::atomic<int> refused{0};  // Catch2's assertions are not for other threads
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&hub, &refused, t] {
            for (std::uint64_t i = 0; i < 300; ++i) {
                const std::uint64_t id = static_cast<std::uint64_t>(t) * 1000 + i;
                if (!hub.open(id, client(t + 1))) {
                    ++refused;
                }
                hub.activate(id);
                hub.closed(id);
            }
        });
    }
    for (int i = 0; i < 200; ++i) {
        hub.check();
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(refused == 0);
    CHECK(hub.size() == 0);
}

TEST_CASE("live tickets — single use, valid for their lifetime, never past the token", "[live]") {
    LiveTickets tickets(30);
    const TokenClaims claims{7, Role::Client, 5000, 3};
    const std::string t = tickets.issue(claims, 1000);
    CHECK(t.size() == 48);
    CHECK(t.find_first_not_of("0123456789abcdef") == std::string::npos);
    const auto got = tickets.redeem(t, 1010);
    REQUIRE(got);
    CHECK(got->claims.subject == 7);
    CHECK(got->claims.role == Role::Client);
    CHECK(got->claims.expires_s == 5000);
    CHECK(got->claims.version == 3);
    CHECK(got->station.empty());
    const auto at_s2 = tickets.redeem(tickets.issue(claims, 1000, "S2"), 1000);
    REQUIRE(at_s2);
    CHECK(at_s2->station == "S2");
    CHECK_FALSE(tickets.redeem(t, 1010));  // used up

    const std::string edge = tickets.issue(claims, 1000);
    CHECK(tickets.redeem(edge, 1030));  // 30 s: still valid
    const std::string late = tickets.issue(claims, 1000);
    CHECK_FALSE(tickets.redeem(late, 1031));
    CHECK_FALSE(tickets.redeem(late, 1000));  // a refused ticket is gone too

    // A token that expires before the ticket does: the ticket ends with it.
    const std::string short_lived = tickets.issue(TokenClaims{7, Role::Client, 1010, 0}, 1000);
    CHECK_FALSE(tickets.redeem(short_lived, 1010));
    CHECK_FALSE(tickets.redeem("", 1000));
    CHECK_FALSE(tickets.redeem(std::string(48, '0'), 1000));
    CHECK(tickets.issue(claims, 1000) != tickets.issue(claims, 1000));
}

TEST_CASE("live tickets — beyond the cap the expired go first, then the oldest", "[live]") {
    LiveTickets tickets(30, 3);
    const TokenClaims claims{1, Role::Admin, 100000, 0};
    const std::string old1 = tickets.issue(claims, 1000);  // expires 1030
    const std::string a = tickets.issue(claims, 1020);
    const std::string b = tickets.issue(claims, 1021);
    const std::string c = tickets.issue(claims, 1040);  // at the cap: old1 has expired, dropped
    const std::string d = tickets.issue(claims, 1041);  // none expired: the oldest (a) goes
    CHECK_FALSE(tickets.redeem(old1, 1000));
    CHECK_FALSE(tickets.redeem(a, 1041));
    CHECK(tickets.redeem(b, 1041));
    CHECK(tickets.redeem(c, 1041));
    CHECK(tickets.redeem(d, 1041));
}
