// The gateway starts its pile MQTT clients a window at a time (gateway/connect_window).
#include <catch2/catch.hpp>

#include "gateway/connect_window.hpp"

using gateway::ConnectWindow;
using Indexes = std::vector<std::size_t>;

TEST_CASE("connect window — at most a window of clients connect at once, in order", "[gateway]") {
    ConnectWindow w(7, 3, 5000);
    CHECK(w.due(0) == Indexes{0, 1, 2});
    CHECK(w.due(10).empty());  // all three still connecting
    w.connected(1);
    CHECK(w.due(20) == Indexes{3});
    w.connected(0);
    w.connected(2);
    w.connected(2);  // a reconnect changes nothing
    CHECK(w.due(30) == Indexes{4, 5});
    w.connected(3);
    w.connected(4);
    w.connected(5);
    CHECK(w.due(40) == Indexes{6});
    CHECK(w.all_started());
    CHECK(w.due(50).empty());
}

TEST_CASE("connect window — a client that does not connect gives its place up after its patience",
          "[gateway]") {
    ConnectWindow w(4, 2, 5000);
    CHECK(w.due(0) == Indexes{0, 1});
    w.connected(0);
    CHECK(w.due(100) == Indexes{2});
    CHECK(w.due(4999).empty());        // client 1 still holds its place
    CHECK(w.due(5000) == Indexes{3});  // client 1 gave its place up; 2 still connecting
    CHECK(w.all_started());
    CHECK(ConnectWindow(0, 2, 1).all_started());
    ConnectWindow unlimited(3, 0, 5000);
    CHECK(unlimited.due(0) == Indexes{0, 1, 2});
}
