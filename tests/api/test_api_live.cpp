// The live streams (issue #11) over real HTTP against the running system: a ticket for the
// token, the first event with the current state, an event within a second of a change on
// the bus, refusals for bad tickets, the caps per user and in total, and the end of a
// stream when its token expires.
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "api_stack.hpp"
#include "sse_client.hpp"

using apitest::is_envelope;
using apitest::json;
using apitest::SseClient;
using apitest::SseEvent;
using apitest::Stack;
using namespace std::chrono_literals;

namespace {

std::string ticket(Stack& s, const std::string& path, const std::string& token) {
    const auto r = s.http().call("POST", path, std::nullopt, token);
    REQUIRE(is_envelope(r, 200, 0));
    REQUIRE(r.body["data"]["expires_in"].get<int>() > 0);
    return r.body["data"]["ticket"];
}

std::unique_ptr<SseClient> client_stream(Stack& s, const std::string& token) {
    return std::make_unique<SseClient>(
        s.port(), "/client/index/live?ticket=" + ticket(s, "/client/index/live/ticket", token));
}

std::unique_ptr<SseClient> admin_stream(Stack& s, const std::string& token) {
    return std::make_unique<SseClient>(
        s.port(), "/admin/index/live?ticket=" + ticket(s, "/admin/index/live/ticket", token));
}

json data_of(const SseEvent& e) {
    const json j = json::parse(e.data, nullptr, false);
    return j.is_object() && j.contains("data") ? j.at("data") : json();
}

/// The next event, within `timeout`, for which `pred` holds (others are skipped).
template <typename Pred>
std::optional<json> event_where(SseClient& c, std::chrono::milliseconds timeout, Pred pred) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            until - std::chrono::steady_clock::now());
        const auto e = c.next(left);
        if (!e) {
            return std::nullopt;
        }
        if (const json d = data_of(*e); pred(*e, d)) {
            return d;
        }
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE("live: a driver's stream shows their order's changes within a second", "[live]") {
    Stack s;
    INFO("logs in " << s.dir());
    REQUIRE(s.piles_are("REST"));
    const std::string token = s.user("live@bupt.cn");
    const std::string car = s.car(token, "小蓝", 60, 10);
    auto stream = client_stream(s, token);
    REQUIRE(stream->status() == 200);
    CHECK(stream->head().find("Content-Type: text/event-stream") != std::string::npos);
    CHECK(stream->head().find("Content-Length") == std::string::npos);

    // The first event: the current state (no order yet, the car, the balance).
    const auto first = stream->next(2s);
    REQUIRE(first);
    CHECK(first->name == "orders");
    const json d0 = data_of(*first);
    CHECK(d0["current"].empty());
    REQUIRE(d0["car_array"].size() == 1);
    CHECK(d0["car_array"][0]["name"] == "小蓝");
    CHECK(d0["balance"] == 0.0);

    // A request: its queue number and state arrive within a second of its answer (the
    // change is made on the bus by then; the answer itself may wait for the change log).
    const auto order =
        s.http().call("POST", "/client/index/order",
                      json{{"car_id", car}, {"mode", "F"}, {"apply_kwh", 30}}, token);
    REQUIRE(is_envelope(order, 200, 200));
    auto t0 = std::chrono::steady_clock::now();
    const auto placed = event_where(*stream, 3s, [](const SseEvent&, const json& d) {
        return d.is_object() && d["current"].size() == 1 && d["current"][0]["state"] == "CHARGING";
    });
    REQUIRE(placed);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
    CHECK((*placed)["current"][0]["queue_number"] == order.body["data"]["queue_number"]);

    // The clock moves on (a change on the bus): the energy and fees so far come live.
    const std::string admin = s.admin_token();
    REQUIRE(is_envelope(
        s.http().call("POST", "/admin/sim/clock", json{{"advance_seconds", 600}}, admin), 200, 0));
    t0 = std::chrono::steady_clock::now();
    const auto charged = event_where(*stream, 3s, [](const SseEvent&, const json& d) {
        return d.is_object() && d["current"].size() == 1 &&
               d["current"][0]["charge_kwh"].get<double>() > 0;
    });
    REQUIRE(charged);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
    CHECK((*charged)["current"][0]["fee"].get<double>() > 0);

    // Finished: the order moves to the history with its bill's fee, the balance goes down.
    REQUIRE(is_envelope(
        s.http().call("POST", "/admin/sim/clock", json{{"advance_seconds", 7200}}, admin), 200, 0));
    const auto done = event_where(*stream, 3s, [](const SseEvent&, const json& d) {
        return d.is_object() && d["current"].empty() && d["history"].size() == 1 &&
               d["balance"].get<double>() < 0;
    });
    REQUIRE(done);
    CHECK((*done)["history"][0]["state"] == "FINISHED");
    CHECK((*done)["balance"].get<double>() == -(*done)["history"][0]["fee"].get<double>());
}

TEST_CASE("live: the operator's stream shows the station and its changes within a second",
          "[live]") {
    Stack s;
    INFO("logs in " << s.dir());
    REQUIRE(s.piles_are("REST"));
    const std::string admin = s.admin_token();
    auto stream = admin_stream(s, admin);
    REQUIRE(stream->status() == 200);
    const auto first = stream->next(2s);
    REQUIRE(first);
    CHECK(first->name == "station");
    const json d0 = data_of(*first);
    REQUIRE(d0["charge_array"].size() == 5);
    CHECK(d0["charge_array"][0]["state"] == "REST");

    const std::string token = s.user("driver@bupt.cn");
    const std::string car = s.car(token, "<img src=x onerror=alert(1)>", 60, 0);
    REQUIRE(
        is_envelope(s.http().call("POST", "/client/index/order",
                                  json{{"car_id", car}, {"mode", "T"}, {"apply_kwh", 10}}, token),
                    200, 200));
    const auto t0 = std::chrono::steady_clock::now();
    const auto seen = event_where(*stream, 3s, [](const SseEvent&, const json& d) {
        for (const auto& p : d["charge_array"]) {
            for (const auto& c : p["car_blocks"]) {
                if (c["name"] == "<img src=x onerror=alert(1)>") {
                    return true;
                }
            }
        }
        return false;
    });
    REQUIRE(seen);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);

    REQUIRE(is_envelope(s.http().call("POST", "/admin/index/manage",
                                      json{{"mode", "SWITCHOFF"}, {"switch_array", {"F1"}}}, admin),
                        200, 0));
    const auto off = event_where(*stream, 2s, [](const SseEvent&, const json& d) {
        return d.is_object() && d["charge_array"][0]["state"] == "OFF";
    });
    CHECK(off);
}

TEST_CASE("live: tickets — missing, unknown, used, of the other role, or a token are refused",
          "[live]") {
    Stack s;
    INFO("logs in " << s.dir());
    const std::string admin = s.admin_token();
    const std::string token = s.user("t@bupt.cn");

    auto status_body = [&](const std::string& path) {
        SseClient c(s.port(), path);
        const int status = c.status();
        return std::make_pair(status, json::parse(c.body(), nullptr, false));
    };
    const std::vector<std::string> refused = {
        "/client/index/live", "/client/index/live?ticket=", "/client/index/live?ticket=nope",
        "/admin/index/live?ticket=" + admin, "/client/index/live?token=" + token};
    for (const std::string& path : refused) {
        const auto [status, body] = status_body(path);
        INFO(path);
        CHECK(status == 401);
        CHECK(body["code"] == 401);
        CHECK(body["error"] == "unauthorized");
    }
    // A ticket is good once.
    const std::string t = ticket(s, "/client/index/live/ticket", token);
    {
        SseClient c(s.port(), "/client/index/live?ticket=" + t);
        CHECK(c.status() == 200);
        CHECK(c.next(2s));
    }
    CHECK(status_body("/client/index/live?ticket=" + t).first == 401);
    // A client's ticket does not open the operator's stream, nor an admin's the driver's.
    CHECK(status_body("/admin/index/live?ticket=" + ticket(s, "/client/index/live/ticket", token))
              .first == 403);
    CHECK(status_body("/client/index/live?ticket=" + ticket(s, "/admin/index/live/ticket", admin))
              .first == 403);
    // Tickets need the token, of the right role.
    CHECK(is_envelope(s.http().call("POST", "/client/index/live/ticket"), 401, 401));
    CHECK(is_envelope(s.http().call("POST", "/client/index/live/ticket", std::nullopt, "bad"), 401,
                      401));
    CHECK(is_envelope(s.http().call("POST", "/admin/index/live/ticket", std::nullopt, token), 403,
                      403));
    // Another method on a stream's path.
    CHECK(is_envelope(s.http().call("POST", "/client/index/live", json::object()), 405, 405));
}

TEST_CASE("live: streams are capped per user and in total, and a closed one frees its place",
          "[live]") {
    apitest::StackOptions o;
    o.api_args = {"--max-streams", "3", "--max-streams-per-user", "2"};
    Stack s(o);
    INFO("logs in " << s.dir());
    const std::string a = s.user("a@bupt.cn");
    const std::string b = s.user("b@bupt.cn");
    std::vector<std::unique_ptr<SseClient>> open;
    for (int i = 0; i < 2; ++i) {
        open.push_back(client_stream(s, a));
        REQUIRE(open.back()->status() == 200);
        REQUIRE(open.back()->next(2s));
    }
    auto over_user = client_stream(s, a);
    CHECK(over_user->status() == 429);
    CHECK(json::parse(over_user->body(), nullptr, false)["error"] == "too_many_streams");

    open.push_back(client_stream(s, b));
    REQUIRE(open.back()->status() == 200);
    auto over_total = client_stream(s, b);
    CHECK(over_total->status() == 429);

    // One of a's streams closes: its place is free again (the server sees the hang-up).
    open.front()->close();
    bool reopened = false;
    for (int i = 0; i < 20 && !reopened; ++i) {
        std::this_thread::sleep_for(50ms);
        auto again = client_stream(s, a);
        reopened = again->status() == 200;
        if (reopened) {
            open.front() = std::move(again);
        }
    }
    CHECK(reopened);
}

TEST_CASE("live: a stream ends with an `expired` event when its token expires", "[live]") {
    apitest::StackOptions o;
    o.api_args = {"--token-hours", "0.001"};  // tokens live 3 s
    Stack s(o);
    INFO("logs in " << s.dir());
    const std::string token = s.user("e@bupt.cn");
    auto stream = client_stream(s, token);
    REQUIRE(stream->status() == 200);
    REQUIRE(stream->next(2s));
    const auto last = event_where(
        *stream, 6s, [](const SseEvent& e, const json&) { return e.name == "expired"; });
    CHECK(last);
    CHECK(!stream->next(2s));
    CHECK(stream->ended());
}
