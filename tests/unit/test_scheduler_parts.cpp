// The pieces the scheduler app is made of, each on its own: no broker, no app, wall time
// passed in.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "service/pile_links.hpp"
#include "service/recent_replies.hpp"

using nlohmann::json;
using service::PileLinks;

TEST_CASE("pile links: a pile offline for the grace period expires once, only while connected",
          "[service][parts]") {
    PileLinks links(3, 1000);
    links.connected(0);
    CHECK_FALSE(links.went_offline(1, 100));  // never said online: no grace period
    CHECK(links.next_expiry(100) == std::nullopt);
    links.came_online(1, "b1");
    CHECK(links[1].online);
    CHECK(links.went_offline(1, 100));
    CHECK_FALSE(links[1].online);
    CHECK(links.next_expiry(100) == 1100);
    CHECK(links.next_expiry(5000) == 5000);  // overdue: now
    CHECK(links.take_expired(1099).empty());
    CHECK(links.take_expired(1100) == std::vector<std::size_t>{1});
    CHECK(links.take_expired(9000).empty());  // once
    CHECK(links.next_expiry(9000) == std::nullopt);
}

TEST_CASE("pile links: a repeated last will keeps the first grace, back online ends it",
          "[service][parts]") {
    PileLinks links(2, 1000);
    links.connected(0);
    links.came_online(0, "b1");
    links.came_online(1, "b1");
    CHECK(links.went_offline(0, 100));
    CHECK_FALSE(links.went_offline(0, 600));  // already offline: the grace runs from 100
    CHECK(links.next_expiry(600) == 1100);
    CHECK(links.went_offline(1, 300));
    CHECK(links.next_expiry(600) == 1100);
    CHECK_FALSE(links.came_online(0, "b1"));  // same boot: not a restart
    CHECK(links.next_expiry(600) == 1300);
    CHECK(links.take_expired(1299).empty());
    CHECK(links.take_expired(1300) == std::vector<std::size_t>{1});
}

TEST_CASE("pile links: cut off from the broker no grace runs out, reconnected it starts again",
          "[service][parts]") {
    PileLinks links(1, 1000);
    links.connected(0);
    links.came_online(0, "b1");
    links.went_offline(0, 100);
    links.connection_lost();
    CHECK(links.take_expired(60'000).empty());
    CHECK(links.next_expiry(60'000) == std::nullopt);
    links.connected(70'000);
    CHECK(links.next_expiry(70'000) == 71'000);
    CHECK(links.take_expired(70'999).empty());
    CHECK(links.take_expired(71'000) == std::vector<std::size_t>{0});
}

TEST_CASE("pile links: replayed and out-of-order messages are not fresh, per channel and boot",
          "[service][parts]") {
    PileLinks links(1, 1000);
    const auto t = PileLinks::kTelemetry;
    const auto e = PileLinks::kEvents;
    CHECK(links.fresh(0, t, {"b1", 5}));
    CHECK_FALSE(links.fresh(0, t, {"b1", 5}));  // replayed
    CHECK_FALSE(links.fresh(0, t, {"b1", 4}));  // overtaken
    CHECK(links.fresh(0, e, {"b1", 3}));        // the events' own order
    CHECK_FALSE(links.fresh(0, e, {"b1", 3}));
    CHECK(links.fresh(0, t, {"b1", 6}));
    // A new boot: the pile restarted, its sequences begin again on every channel.
    CHECK(links.fresh(0, t, {"b2", 1}));
    CHECK(links.fresh(0, e, {"b2", 1}));
    CHECK_FALSE(links.fresh(0, e, {"b2", 0}));
    // An online status from another boot is a restart, and also starts the sequences again.
    CHECK(links.came_online(0, "b3"));
    CHECK(links.fresh(0, t, {"b3", 0}));
    CHECK_FALSE(links.came_online(0, "b3"));
    PileLinks first(1, 1000);
    CHECK_FALSE(first.came_online(0, "b1"));  // the first boot heard of is no restart
}

TEST_CASE(
    "pile links: a stopped session becomes the ended one with its bill, and the image round-trips",
    "[service][parts]") {
    PileLinks links(2, 1000);
    links.session_started(0, "o1-5");
    links[0].session_resumed = true;
    links.session_stopped(0, 7);
    CHECK(links[0].session.empty());
    CHECK_FALSE(links[0].session_resumed);
    CHECK(links[0].ended_session == "o1-5");
    CHECK(links[0].ended_bill == 7);
    CHECK(links[0].ended_resumed);
    links.session_started(1, "o2-9");
    links[1].fault_from_disconnect = true;
    const json image = links.image();
    CHECK(image.dump() ==
          R"([{"offline_fault":false,"session":""},{"offline_fault":true,"session":"o2-9"}])");
    PileLinks back(2, 1000);
    back.restore(image);
    CHECK(back[1].session == "o2-9");
    CHECK(back[1].fault_from_disconnect);
    CHECK(back.image() == image);
    PileLinks other(3, 1000);
    CHECK_THROWS_WITH(other.restore(image), "pile links of another station");
}

TEST_CASE("recent replies: the first reply stays, beyond the bound the oldest is forgotten",
          "[service][parts]") {
    service::RecentReplies replies(3);
    CHECK(replies.find("a") == nullptr);
    replies.remember("a", "A1");
    replies.remember("a", "A2");  // a repeat keeps the reply first given
    REQUIRE(replies.find("a") != nullptr);
    CHECK(*replies.find("a") == "A1");
    replies.remember("b", "B");
    replies.remember("c", "C");
    CHECK(replies.size() == 3);
    replies.remember("d", "D");
    CHECK(replies.size() == 3);
    CHECK(replies.find("a") == nullptr);  // the oldest went first
    CHECK(*replies.find("b") == "B");
    replies.remember("e", "E");
    CHECK(replies.find("b") == nullptr);
    CHECK(replies.image().dump() == R"([["c","C"],["d","D"],["e","E"]])");
}

TEST_CASE("recent replies: restored from an image in the same order, and evicted in it",
          "[service][parts]") {
    service::RecentReplies replies(2);
    replies.restore(json::parse(R"([["x","X"],["y","Y"]])"));
    CHECK(*replies.find("x") == "X");
    replies.remember("z", "Z");
    CHECK(replies.find("x") == nullptr);
    CHECK(replies.image().dump() == R"([["y","Y"],["z","Z"]])");
    CHECK_THROWS(replies.restore(json::parse(R"([["w"]])")));
}
