// The MQTT contract (common/): topics, and every payload type round-trips and refuses
// malformed input with a reason.
#include <catch2/catch.hpp>

#include "contract/messages.hpp"
#include "contract/topics.hpp"

using namespace contract;

TEST_CASE("contract: topics are built and taken apart in one place", "[contract]") {
    CHECK(pile_topic("F1", PileChannel::Status) == "evcs/v1/piles/F1/status");
    CHECK(all_piles(PileChannel::Events) == "evcs/v1/piles/+/events");
    CHECK(station_state_topic() == "evcs/v1/station/state");
    CHECK(replies_topic("api") == "evcs/v1/replies/api");
    const auto t = parse_pile_topic("evcs/v1/piles/T2/telemetry");
    REQUIRE(t);
    CHECK(t->pile == "T2");
    CHECK(t->channel == PileChannel::Telemetry);
    CHECK_FALSE(parse_pile_topic("evcs/v1/piles/T2/other"));
    CHECK_FALSE(parse_pile_topic("evcs/v2/piles/T2/status"));
    CHECK_FALSE(parse_pile_topic("evcs/v1/piles//status"));
    CHECK(at_centre("S1", station_changes_topic()) == "evcs/v1/stations/S1/station/changes");
    CHECK(at_centre("S1", replies_topic("api")) == "evcs/v1/stations/S1/replies/api");
    CHECK(at_centre("", station_state_topic()) == "evcs/v1/station/state");
    CHECK_THROWS_AS(at_centre("a/b", station_state_topic()), std::invalid_argument);
    CHECK_THROWS_AS(at_centre("S1", "other/v1/x"), std::invalid_argument);
    CHECK_THROWS_AS(at_centre("S1", "evcs/v10/x"), std::invalid_argument);
    CHECK(is_replies_topic("evcs/v1/replies/x"));
    CHECK_FALSE(is_replies_topic("evcs/v1/replies/"));
    CHECK_FALSE(is_replies_topic("evcs/v1/replies/a/b"));
    CHECK_FALSE(is_replies_topic("evcs/v1/piles/T1/commands"));
    CHECK_FALSE(valid_topic_id("a+b"));
    CHECK_FALSE(valid_topic_id(std::string(65, 'x')));
}

TEST_CASE("contract: payloads round-trip through JSON", "[contract]") {
    PileStatus s{"T1", true, station::PileState::Work, station::Mode::Slow, 7, "s1", 123, {"b", 4}};
    PileStatus s2;
    REQUIRE(parse(to_json(s), s2).empty());
    CHECK(s2.state == station::PileState::Work);
    CHECK(s2.mode == station::Mode::Slow);
    CHECK(s2.origin.seq == 4);

    PileEvent e;
    e.pile = "F1";
    e.type = PileEventType::FaultRaised;
    e.fault_minutes = 30;
    e.origin = {"b", 9};
    PileEvent e2;
    REQUIRE(parse(to_json(e), e2).empty());
    CHECK(e2.type == PileEventType::FaultRaised);
    CHECK(e2.fault_minutes == 30);

    PileCommand c;
    c.id = "c1";
    c.type = CommandType::Start;
    c.session = "s";
    c.order = 3;
    c.target_kwh = 12.5;
    PileCommand c2;
    REQUIRE(parse(to_json(c), c2).empty());
    CHECK(c2.target_kwh == 12.5);

    SchedulerRequest r;
    r.id = "r";
    r.reply_to = "evcs/v1/replies/me";
    r.op = RequestOp::Submit;
    r.car = "V1";
    r.mode = station::Mode::Fast;
    r.kwh = 30;
    SchedulerRequest r2;
    REQUIRE(parse(to_json(r), r2).empty());
    CHECK(r2.op == RequestOp::Submit);
    CHECK(r2.kwh == 30);
    CHECK(r2.mode == station::Mode::Fast);

    PileCommand reset;
    reset.id = "c2";
    reset.type = CommandType::Reset;
    reset.reset = ResetKind::Hard;
    CHECK(nlohmann::json::parse(to_json(reset))["reset"] == "hard");
    PileCommand reset2;
    REQUIRE(parse(to_json(reset), reset2).empty());
    CHECK(reset2.type == CommandType::Reset);
    CHECK(reset2.reset == ResetKind::Hard);

    SchedulerRequest rr;
    rr.id = "r2";
    rr.reply_to = "evcs/v1/replies/me";
    rr.op = RequestOp::Reset;
    rr.pile = "F1";
    rr.reset = ResetKind::Soft;
    CHECK(nlohmann::json::parse(to_json(rr))["op"] == "reset");
    SchedulerRequest rr2;
    rr2.reset = ResetKind::Hard;
    REQUIRE(parse(to_json(rr), rr2).empty());
    CHECK(rr2.op == RequestOp::Reset);
    CHECK(rr2.pile == "F1");
    CHECK(rr2.reset == ResetKind::Soft);
    // Deduplicated and deadline-bound like every change, though not journaled.
    CHECK(changes_station(RequestOp::Reset));

    ClockMessage k{1000, 10, 5, true};
    ClockMessage k2;
    REQUIRE(parse(to_json(k), k2).empty());
    CHECK(k2.speed == 10);
}

TEST_CASE("contract: malformed payloads are refused with a reason", "[contract]") {
    struct Case {
        const char* payload;
        const char* reason;
    };
    const Case requests[] = {
        {"", "not JSON"},
        {"[]", "not a JSON object"},
        {R"({"reply_to":"evcs/v1/replies/x","op":"state"})", "\"id\" is missing"},
        {R"({"id":5,"reply_to":"evcs/v1/replies/x","op":"state"})", "\"id\" must be a string"},
        {R"({"id":"a","reply_to":"evcs/v1/piles/T1/commands","op":"state"})", "reply_to"},
        {R"({"id":"a","reply_to":"evcs/v1/replies/x","op":"explode"})", "\"op\""},
        {R"({"id":"a","reply_to":"evcs/v1/replies/x","op":"submit","car":"V","mode":"F"})",
         "\"kwh\" is missing"},
        {R"({"id":"a","reply_to":"evcs/v1/replies/x","op":"submit","car":"V","mode":"F","kwh":0})",
         "above 0"},
        {R"({"id":"a","reply_to":"evcs/v1/replies/x","op":"submit","car":"V","mode":"X","kwh":5})",
         "\"mode\""},
        {R"({"id":"a","reply_to":"evcs/v1/replies/x","op":"submit","car":"V/2","mode":"F","kwh":5})",
         "\"car\""},
        {R"({"id":"a","reply_to":"evcs/v1/replies/x","op":"clock_set","time":"tomorrow"})",
         "\"time\""},
        {R"({"id":"a","reply_to":"evcs/v1/replies/x","op":"clock_advance","advance_seconds":-5})",
         "advance_seconds"},
        {R"({"id":"a","reply_to":"evcs/v1/replies/x","op":"fault","pile":"T1","minutes":1.5})",
         "\"minutes\""},
        {R"({"id":"a","reply_to":"evcs/v1/replies/x","op":"reset","pile":"F1"})",
         "\"reset\" is missing"},
        {R"({"id":"a","reply_to":"evcs/v1/replies/x","op":"reset","pile":"F1","reset":"Soft"})",
         "\"soft\" or \"hard\""},
        {R"({"id":"a","reply_to":"evcs/v1/replies/x","op":"reset","reset":"hard"})",
         "\"pile\" is missing"},
        // A page larger than 5,000 changes could pass the bus's packet limit.
        {R"({"id":"a","reply_to":"evcs/v1/replies/x","op":"changes","run":"r","after":0,"limit":5001})",
         "between 1 and 5000"},
    };
    for (const auto& c : requests) {
        INFO(c.payload);
        SchedulerRequest r;
        CHECK_THAT(parse(c.payload, r), Catch::Contains(c.reason));
    }
    PileStatus s;
    CHECK_THAT(
        parse(
            R"({"pile":"T1","online":true,"state":"BUSY","mode":"T","power_kw":7,"at_ms":0,"boot":"b","seq":1})",
            s),
        Catch::Contains("\"state\""));
    Telemetry t;
    CHECK_THAT(
        parse(
            R"({"pile":"T1","session":"s","order":1,"energy_kwh":-1,"power_kw":7,"at_ms":0,"boot":"b","seq":1})",
            t),
        Catch::Contains("energy_kwh"));
    PileEvent e;
    CHECK_THAT(parse(R"({"pile":"T1","type":"exploded","at_ms":0,"boot":"b","seq":1})", e),
               Catch::Contains("\"type\""));
    PileCommand c;
    CHECK_THAT(parse(R"({"id":"c","type":"start","session":"s","order":1,"target_kwh":0})", c),
               Catch::Contains("target_kwh"));
    CHECK_THAT(parse(R"({"id":"c","type":"reset"})", c), Catch::Contains("\"reset\" is missing"));
    CHECK_THAT(parse(R"({"id":"c","type":"reset","reset":"warm"})", c),
               Catch::Contains("\"soft\" or \"hard\""));
    ClockMessage k;
    CHECK_THAT(parse(R"({"at_ms":0,"speed":-1,"wall_ms":0,"simulated":true})", k),
               Catch::Contains("speed"));
    CHECK_THAT(parse(std::string(70000, ' '), k), Catch::Contains("64 KiB"));
    // A clock reply's data: every field is needed (no reader assumes "not simulated").
    ClockReading reading;
    CHECK_THAT(parse_value(nlohmann::json{{"at_ms", 0}, {"speed", 1}}, reading),
               Catch::Contains("simulated"));
    CHECK_THAT(
        parse_value(nlohmann::json{{"at_ms", 0}, {"speed", 1}, {"simulated", "yes"}}, reading),
        Catch::Contains("simulated"));
    REQUIRE(parse_value(to_json_value(ClockReading{86'400'000, 10, true}), reading).empty());
    CHECK(reading.at_ms == 86'400'000);
    CHECK(reading.speed == 10);
    CHECK(reading.simulated);
    CHECK(to_json_value(reading)["time"] == "1970-01-02 00:00:00");
    // A last will carries only the pile and online: false.
    PileStatus will;
    REQUIRE(parse(R"({"pile":"T1","online":false})", will).empty());
    CHECK_FALSE(will.online);
}
