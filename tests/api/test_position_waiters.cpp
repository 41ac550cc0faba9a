// PositionWaiters: request threads wait for the log position of their change; each
// position reached wakes exactly the waiters it satisfies.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "api/position_waiters.hpp"

namespace {

using namespace std::chrono_literals;

// Spins (yielding) until `n` threads wait; the waits themselves have long timeouts, so
// nothing here depends on how fast the machine is.
void until_waiting(const api::PositionWaiters& w, std::size_t n) {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (w.waiting() != n && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::yield();
    }
    REQUIRE(w.waiting() == n);
}

}  // namespace

TEST_CASE("position waiters: a position already reached answers at once", "[api][waiters]") {
    api::PositionWaiters w;
    const api::LogPosition have{"r1", 7};
    CHECK(w.wait(
        "r1", 7, [&] { return have; }, 0ms));
    CHECK(w.wait(
        "r1", 3, [&] { return have; }, 0ms));
    CHECK_FALSE(w.wait(
        "r1", 8, [&] { return have; }, 0ms));
    CHECK_FALSE(w.wait(
        "r2", 1, [&] { return have; }, 0ms));  // another run
    CHECK(w.waiting() == 0);
}

TEST_CASE("position waiters: a position wakes the waiters it satisfies, and only them",
          "[api][waiters]") {
    api::PositionWaiters w;
    std::atomic<std::int64_t> stored{0};
    const auto current = [&] { return api::LogPosition{"a", stored.load()}; };
    auto wait_for = [&](std::string run, std::int64_t pos) {
        return std::async(std::launch::async,
                          [&w, &current, run, pos] { return w.wait(run, pos, current, 20s); });
    };
    auto five = wait_for("a", 5);
    auto ten = wait_for("a", 10);
    auto other_run = wait_for("b", 1);
    until_waiting(w, 3);

    stored = 7;
    w.reached({"a", 7});
    CHECK(five.get());
    until_waiting(w, 2);  // ten and the other run still wait
    CHECK(ten.wait_for(0ms) == std::future_status::timeout);

    stored = 12;
    w.reached({"a", 12});
    CHECK(ten.get());
    until_waiting(w, 1);
    w.reached({"b", 1});
    CHECK(other_run.get());
    CHECK(w.waiting() == 0);
}

TEST_CASE("position waiters: a wait that is not satisfied ends at its timeout and leaves",
          "[api][waiters]") {
    api::PositionWaiters w;
    const auto current = [] { return api::LogPosition{"a", 1}; };
    CHECK_FALSE(w.wait("a", 2, current, 5ms));
    CHECK(w.waiting() == 0);
    w.reached({"a", 2});  // nobody left to wake: no dangling waiter
    CHECK(w.waiting() == 0);
}
