// The pieces the scheduler app is made of, each on its own: no broker, no app, wall time
// passed in.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "contract/journal.hpp"
#include "contract/topics.hpp"
#include "service/drop_log.hpp"
#include "service/journal_keeper.hpp"
#include "service/outbox.hpp"
#include "service/pile_links.hpp"
#include "service/recent_replies.hpp"
#include "service/request_intake.hpp"
#include "service/state_pacing.hpp"

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
    CHECK_THROWS(replies.restore(json::parse(R"({"w":"W"})")));

    // A damaged image (an id twice, more than the bound) leaves a consistent memory.
    service::RecentReplies damaged(2);
    damaged.restore(json::parse(R"([["a","A1"],["a","A2"],["b","B"],["c","C"]])"));
    CHECK(damaged.size() == 2);
    CHECK(damaged.image().dump() == R"([["b","B"],["c","C"]])");
    damaged.remember("d", "D");
    CHECK(damaged.image().dump() == R"([["c","C"],["d","D"]])");
}

TEST_CASE("state pacing: a change is published at most every interval", "[service][parts]") {
    service::StatePacing pacing(200, 0);
    // It moves, but with refresh_ms 0 only changes are published.
    const auto moving = [] { return true; };
    CHECK_FALSE(pacing.due(199, moving));  // revision 0, not published yet
    CHECK(pacing.due(200, moving));
    pacing.published(1000);
    CHECK_FALSE(pacing.due(5000, moving));  // nothing changed
    CHECK(pacing.next_due(5000, moving) == std::nullopt);
    pacing.changed();
    pacing.changed();
    CHECK(pacing.revision() == 2);
    CHECK_FALSE(pacing.due(1199, moving));
    CHECK(pacing.next_due(1100, moving) == 1200);
    CHECK(pacing.due(1200, moving));
    pacing.published(1200);
    CHECK_FALSE(pacing.due(9000, moving));
    pacing.changed();
    CHECK(pacing.next_due(9000, moving) == 9000);  // overdue: now
}

TEST_CASE("state pacing: an unchanged state is refreshed only while readers should see it move",
          "[service][parts]") {
    service::StatePacing pacing(200, 1000);
    bool moving = false;
    int asked = 0;
    const auto refreshing = [&] {
        ++asked;
        return moving;
    };
    pacing.published(0);
    CHECK_FALSE(pacing.due(5000, refreshing));
    CHECK(pacing.next_due(5000, refreshing) == std::nullopt);
    moving = true;
    CHECK(pacing.next_due(500, refreshing) == 1000);
    asked = 0;
    CHECK_FALSE(pacing.due(999, refreshing));
    CHECK(asked == 0);  // too early to ask
    CHECK(pacing.due(1000, refreshing));
    pacing.published(1000);
    pacing.changed();  // a change waits for the interval only
    CHECK(pacing.next_due(1000, refreshing) == 1200);
    pacing.restore(41);
    CHECK(pacing.revision() == 41);
}

TEST_CASE("drop log: a few drops a second are logged, the rest counted in the next second's",
          "[service][parts]") {
    service::DropLog drops(3);
    for (int i = 0; i < 3; ++i) {
        const auto n = drops.dropped(5'000 + i);
        CHECK(n.log);
        CHECK(n.unlogged == 0);
    }
    CHECK_FALSE(drops.dropped(5'100).log);
    CHECK_FALSE(drops.dropped(5'999).log);
    const auto next = drops.dropped(6'000);  // a new second
    CHECK(next.log);
    CHECK(next.unlogged == 2);
    CHECK(drops.dropped(9'000).unlogged == 0);  // reported once
}

namespace {

// A clock entry: it has no command whose subject would point into the entry.
contract::JournalEntry clock_at(station::TimeMs t) {
    contract::JournalEntry e;
    e.kind = contract::JournalEntry::Kind::Clock;
    e.t = t;
    return e;
}

}  // namespace

TEST_CASE("journal keeper: counts lines, journals reached time once, a snapshot every N lines",
          "[service][parts]") {
    std::vector<std::string> lines;
    std::vector<std::string> starts;
    service::JournalKeeper journal([&](const std::string& l) { lines.push_back(l); },
                                   [&](const service::Snapshot& s, const std::string& start) {
                                       CHECK(s.journal_lines == 3);
                                       starts.push_back(start);
                                   },
                                   3);
    journal.start("start");
    CHECK(journal.lines() == 0);
    journal.write(clock_at(100));
    journal.reached(100);  // the journal holds that time already
    CHECK(lines.size() == 2);
    journal.reached(250);
    REQUIRE(lines.size() == 3);
    contract::JournalEntry advance;
    REQUIRE(contract::parse(lines[2], advance).empty());
    CHECK(advance.kind == contract::JournalEntry::Kind::Advance);
    CHECK(advance.t == 250);
    CHECK(journal.journaled_t() == 250);
    CHECK(journal.lines() == 2);
    CHECK_FALSE(journal.snapshot_due());
    journal.write(clock_at(300));
    CHECK(journal.snapshot_due());
    service::Snapshot snap;
    snap.journal_lines = journal.lines();
    journal.save_snapshot(snap, "start at 3");
    CHECK(starts == std::vector<std::string>{"start at 3"});
    CHECK_FALSE(journal.snapshot_due());
    journal.write(clock_at(300));
    journal.write(clock_at(300));
    CHECK_FALSE(journal.snapshot_due());
    journal.write(clock_at(400));
    CHECK(journal.snapshot_due());  // N lines after the last one
}

TEST_CASE("journal keeper: a failed snapshot is tried again only after another N lines",
          "[service][parts]") {
    service::JournalKeeper journal(
        [](const std::string&) {},
        [](const service::Snapshot&, const std::string&) { throw std::runtime_error("disk full"); },
        2);
    journal.write(clock_at(1));
    journal.write(clock_at(2));
    REQUIRE(journal.snapshot_due());
    CHECK_THROWS_WITH(journal.save_snapshot({}, "s"), "disk full");
    CHECK_FALSE(journal.snapshot_due());
    journal.write(clock_at(3));
    CHECK_FALSE(journal.snapshot_due());
    journal.write(clock_at(4));
    CHECK(journal.snapshot_due());
}

TEST_CASE("journal keeper: a replay skips what the snapshot covers and writes nothing",
          "[service][parts]") {
    int written = 0;
    service::JournalKeeper journal([&](const std::string&) { ++written; }, nullptr, 1);
    journal.begin_replay(10, 12);  // the journal starts after line 10; the snapshot has 12
    CHECK(journal.replaying());
    CHECK_FALSE(journal.replay_line());  // 11
    CHECK_FALSE(journal.replay_line());  // 12
    CHECK(journal.replay_line());        // 13
    journal.replayed(500);
    journal.write(clock_at(600));
    journal.reached(700);
    CHECK(written == 0);
    journal.end_replay();
    CHECK(journal.lines() == 13);
    CHECK(journal.journaled_t() == 500);
    CHECK_FALSE(journal.snapshot_due());  // no SnapshotFn: never
    journal.write(clock_at(600));
    CHECK(written == 1);
    CHECK(journal.lines() == 14);
    service::JournalKeeper none(nullptr, nullptr, 1);
    CHECK_FALSE(none.enabled());
    none.write(clock_at(1));
    CHECK(none.lines() == 0);
}

namespace {

using Verdict = service::RequestIntake::Taken::Verdict;

contract::SchedulerRequest request(const std::string& id, contract::RequestOp op) {
    contract::SchedulerRequest r;
    r.id = id;
    r.reply_to = contract::replies_topic("t");
    r.op = op;
    r.car = "A";
    r.mode = station::Mode::Fast;
    r.kwh = 10;
    return r;
}

}  // namespace

TEST_CASE("request intake: a malformed request is answered only when it says where to",
          "[service][parts]") {
    service::RequestIntake intake;
    const auto junk = intake.take("not json", 0);
    CHECK(junk.verdict == Verdict::Malformed);
    CHECK_FALSE(junk.error.empty());
    CHECK_FALSE(junk.answer);
    const std::string to = contract::replies_topic("t");
    const auto told = intake.take(R"({"id":"x1","reply_to":")" + to + R"("})", 0);
    CHECK(told.verdict == Verdict::Malformed);
    REQUIRE(told.answer);
    CHECK(told.answer->topic == to);
    CHECK_FALSE(told.answer->retain);
    const json reply = json::parse(told.answer->payload);
    CHECK(reply["ok"] == false);
    CHECK(reply["error"] == "bad_request");
    CHECK(reply["id"] == "x1");
    // Not to a replies topic: nobody is answered.
    CHECK_FALSE(intake.take(R"({"id":"x2","reply_to":"piles/F1/commands"})", 0).answer);
}

TEST_CASE("request intake: a change is answered once and repeated, a read afresh",
          "[service][parts]") {
    service::RequestIntake intake;
    const auto submit = request("r1", contract::RequestOp::Submit);
    const auto first = intake.take(contract::to_json(submit), 0);
    REQUIRE(first.verdict == Verdict::Apply);
    CHECK_FALSE(first.answer);
    contract::SchedulerReply ok;
    ok.ok = true;
    const contract::Publication published = intake.reply(first.request, ok);
    CHECK(published.topic == submit.reply_to);
    CHECK(json::parse(published.payload)["id"] == "r1");
    const auto again = intake.take(contract::to_json(submit), 0);
    CHECK(again.verdict == Verdict::Repeated);
    REQUIRE(again.answer);
    CHECK(again.answer->payload == published.payload);
    // A read is not kept: asked again, it is carried out again.
    const auto state = request("r2", contract::RequestOp::State);
    intake.reply(intake.take(contract::to_json(state), 0).request, ok);
    CHECK(intake.take(contract::to_json(state), 0).verdict == Verdict::Apply);
    CHECK(intake.replies().size() == 1);
}

TEST_CASE("request intake: a change past its deadline is refused and may be asked again",
          "[service][parts]") {
    service::RequestIntake intake;
    auto submit = request("r1", contract::RequestOp::Submit);
    submit.expires_ms = 1000;
    CHECK(intake.take(contract::to_json(submit), 1000).verdict == Verdict::Apply);
    const auto late = intake.take(contract::to_json(submit), 1001);
    CHECK(late.verdict == Verdict::Expired);
    REQUIRE(late.answer);
    const json reply = json::parse(late.answer->payload);
    CHECK(reply["error"] == "expired");
    CHECK(intake.replies().size() == 0);
    submit.expires_ms = 5000;
    CHECK(intake.take(contract::to_json(submit), 1001).verdict == Verdict::Apply);
    // A read has no deadline.
    auto state = request("r2", contract::RequestOp::State);
    state.expires_ms = 1000;
    CHECK(intake.take(contract::to_json(state), 9000).verdict == Verdict::Apply);
}

TEST_CASE("request intake: a reply too large for the bus is replaced by too_large",
          "[service][parts]") {
    service::RequestIntake intake;
    contract::SchedulerReply big;
    big.ok = true;
    big.data = std::string(contract::kMaxPublishBytes, 'x');
    const auto state = request("r1", contract::RequestOp::State);
    const json reply = json::parse(intake.reply(state, big).payload);
    CHECK(reply["ok"] == false);
    CHECK(reply["error"] == "too_large");
    CHECK(reply["id"] == "r1");
}

TEST_CASE("outbox: commands get ids in order, clock and state are retained, take empties it",
          "[service][parts]") {
    service::Outbox out("s7");
    contract::PileCommand cmd;
    cmd.type = contract::CommandType::Stop;
    cmd.session = "o1-5";
    out.command("F1", cmd);
    out.command("T2", cmd);
    out.clock(contract::ClockMessage{});
    out.state(json{{"revision", 3}});
    out.reply({contract::replies_topic("t"), "{}", 1, false});
    const auto published = out.take();
    REQUIRE(published.size() == 5);
    contract::PileCommand sent;
    REQUIRE(contract::parse(published[1].payload, sent).empty());
    CHECK(sent.id == "s7-2");
    CHECK(published[0].topic == contract::pile_topic("F1", contract::PileChannel::Commands));
    CHECK_FALSE(published[0].retain);
    CHECK(published[2].topic == contract::station_clock_topic());
    CHECK(published[2].retain);
    CHECK(published[3].topic == contract::station_state_topic());
    CHECK(published[3].payload == R"({"revision":3})");
    CHECK(published[3].retain);
    CHECK(out.take().empty());
    out.command("F1", cmd);
    out.clear();  // ids go on counting
    out.command("F1", cmd);
    REQUIRE(contract::parse(out.take().at(0).payload, sent).empty());
    CHECK(sent.id == "s7-4");
}
