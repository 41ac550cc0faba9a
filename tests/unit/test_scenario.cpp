// The scenario notation (scenario-format.md): good input, and every kind of bad input
// rejected with its line and a reason.
#include <catch2/catch.hpp>
#include <random>
#include <sstream>

#include "output.hpp"
#include "replay/replay.hpp"
#include "replay/scenario.hpp"
#include "support.hpp"

using replay::EventKind;
using replay::parse_scenario;

TEST_CASE("scenario: the documented notation parses", "[scenario]") {
    const auto r = parse_scenario(
        "# comment lines start with '#'; blank lines are ignored\n"
        "\n"
        "06:00 (A,V1,T,40)\n"
        "06:05 (A,V2,T,30) (A,V3,F,100)     # several events may share a time\n"
        "08:25:30 (B,T1,O,0)\n"
        "09:15 (B,T1,O,1)\r\n"
        "10:30 (B,T2,O,60)\n"
        "10:40 ( C , V3 , O , 35 ) (C,V2,F,-1) (C,V1,T,0) (A,V9,T,7.5)\n"
        "01:35+1 (A,V9,O,0)                 # \"+1\" = the next day\n");
    REQUIRE(r.ok());
    REQUIRE(r.events.size() == 11);
    CHECK(r.events[0].kind == EventKind::Arrive);
    CHECK(r.events[0].mode == station::Mode::Slow);
    CHECK(r.events[0].kwh == 40);
    CHECK(r.events[0].line == 3);
    CHECK(r.events[0].at == test::at(6, 0));
    CHECK(r.events[2].subject == "V3");
    CHECK(r.events[2].at == test::at(6, 5));
    CHECK(r.events[3].kind == EventKind::Fault);
    CHECK(r.events[3].fault_duration == 0);
    CHECK(r.events[3].at == test::at(8, 25, 30));
    CHECK(r.events[4].kind == EventKind::Recover);
    CHECK(r.events[5].fault_duration == 60 * station::kMsPerMinute);
    CHECK(r.events[6].kind == EventKind::Change);
    CHECK(r.events[6].text == "( C , V3 , O , 35 )");  // as written
    CHECK_FALSE(r.events[6].mode);
    CHECK(r.events[6].kwh == 35);
    CHECK(r.events[7].mode == station::Mode::Fast);
    CHECK_FALSE(r.events[7].kwh);
    CHECK_FALSE(r.events[8].kwh);
    CHECK(r.events[9].kwh == 7.5);
    CHECK(r.events[10].kind == EventKind::Cancel);
    CHECK(r.events[10].at == test::at(1, 35, 0, 1));
}

TEST_CASE("scenario: malformed input names the line and the reason", "[scenario]") {
    struct Case {
        const char* text;
        int line;
        const char* reason;
    };
    const Case cases[] = {
        {"", 1, "no events"},
        {"# only a comment\n\n", 2, "no events"},
        {"06:00 (A,V1,T,40)\n25:00 (A,V2,T,30)\n", 2, "bad time"},
        {"6h00 (A,V1,T,40)\n", 1, "bad time"},
        {"06:60 (A,V1,T,40)\n", 1, "bad time"},
        {"06:00:5 (A,V1,T,40)\n", 1, "bad time"},
        {"06:00+x (A,V1,T,40)\n", 1, "bad time"},
        {"06:00 (A,V1,T,40)\n05:59 (A,V2,T,30)\n", 2, "earlier"},
        {"06:00+1 (A,V1,T,40)\n23:00 (A,V2,T,30)\n", 2, "earlier"},
        {"06:00 (A,V1,T)\n", 1, "4 fields"},
        {"06:00 (A,V1,T,40,5)\n", 1, "4 fields"},
        {"06:00 (A,V1,T,40\n", 1, "unclosed"},
        {"06:00 A,V1,T,40\n", 1, "expected an event"},
        {"06:00\n", 1, "expected an event"},
        {"06:00 (X,V1,T,40)\n", 1, "unknown event type"},
        {"06:00 (A,V1,Q,40)\n", 1, "bad mode"},
        {"06:00 (A,,T,40)\n", 1, "bad car or pile id"},
        {"06:00 (A,V 1,T,40)\n", 1, "bad car or pile id"},
        {"06:00 (A,V1,T,forty)\n", 1, "not a number"},
        {"06:00 (A,V1,T,4O)\n", 1, "not a number"},
        {"06:00 (A,V1,T,nan)\n", 1, "not a number"},
        {"06:00 (A,V1,T,1e999)\n", 1, "not a number"},
        {"06:00 (A,V1,T,0)\n", 1, "above 0"},
        {"06:00 (A,V1,T,-5)\n", 1, "above 0"},
        {"06:00 (A,V1,O,3)\n", 1, "amount 0"},
        {"06:00 (C,V1,O,-2)\n", 1, "keep it"},
        {"06:00 (B,T1,F,0)\n", 1, "mode O"},
        {"06:00 (B,T1,O,2.5)\n", 1, "whole minutes"},
        {"06:00 (B,T1,O,-1)\n", 1, "whole minutes"},
        {"06:00 (A,V1,T,40)\n\x01\x02\x00\xff\xfe junk\n", 2, "UTF-8"},
        {"\xef\xbb\xbf\x80\x81", 1, "UTF-8"},
    };
    for (const Case& c : cases) {
        INFO("input: " << c.text);
        const auto r =
            parse_scenario(std::string_view(c.text, std::char_traits<char>::length(c.text)));
        CHECK_FALSE(r.ok());
        CHECK(r.events.empty());
        CHECK(r.error_line == c.line);
        CHECK_THAT(r.error, Catch::Contains(c.reason));
    }
    // An embedded NUL byte (strlen would stop at it).
    const std::string with_nul = std::string("06:00 (A,V1,T,40)\n06:05 (A,V") + '\0' + ",T,40)\n";
    const auto r = parse_scenario(with_nul);
    CHECK(r.error_line == 2);
}

TEST_CASE("scenario: a leading UTF-8 byte-order mark is ignored", "[scenario]") {
    const auto r = parse_scenario(
        "\xef\xbb\xbf"
        "06:00 (A,V1,T,40)\n");
    REQUIRE(r.ok());
    CHECK(r.events.size() == 1);
}

TEST_CASE("scenario: day 0 is the first event's day", "[scenario]") {
    const auto r = parse_scenario("23:00+2 (A,V1,T,5)\n01:00+3 (A,V2,T,5)\n");
    REQUIRE(r.ok());
    CHECK(r.events[0].at == test::at(23, 0));
    CHECK(r.events[1].at == test::at(1, 0, 0, 1));
}

TEST_CASE("replay output: money is rounded half up to cents", "[scenario]") {
    using replay::detail::to_cents;
    CHECK(to_cents(1.005) == 101);
    CHECK(to_cents(2.675) == 268);
    CHECK(to_cents(0.004999) == 0);
    CHECK(to_cents(14.4999999) == 1450);
    CHECK(to_cents(0) == 0);
    std::ostringstream out;
    {
        replay::detail::Sink s(out);
        s.money(1).ch(' ').money(0.8333).ch(' ').money(93.75).ch(' ').money(2.5).ch(' ');
        s.fixed2(1).ch(' ').str("a\"b\\c\x01");
    }
    CHECK(out.str() == "1 0.83 93.75 2.5 1.00 \"a\\\"b\\\\c\\u0001\"");
}

TEST_CASE("replay output: money beyond whole cents is written as it is, not overflowed",
          "[scenario]") {
    std::ostringstream out;
    {
        replay::detail::Sink s(out);
        s.money(1e300).ch(' ').money(2.5e13);
    }
    const std::string text = out.str();
    CHECK(text.size() > 300);
    CHECK_THAT(text, Catch::StartsWith("100000000000000"));
    CHECK_THAT(text, Catch::EndsWith(".00 25000000000000.00"));
}

TEST_CASE("replay: rejected events are reported — and stuck orders end in their state",
          "[scenario]") {
    const std::string_view scenario =
        "06:00 (A,V1,T,10) (A,V1,T,10) (B,T9,O,0) (C,V7,F,5)\n"
        "06:10 (B,T1,O,0) (B,T2,O,0) (B,T3,O,0) (A,V2,T,5)\n";
    REQUIRE(parse_scenario(scenario).ok());
    std::ostringstream out;
    std::ostringstream warn;
    const auto result =
        replay::run_replay(*station::builtin_profile("bupt-2023"), scenario, {}, out, warn);
    REQUIRE(result.ok());
    CHECK(result.unfinished == 2);
    CHECK_THAT(warn.str(), Catch::Contains("can never finish"));
    const std::string text = out.str();
    CHECK_THAT(text, Catch::Contains(R"x({"event":"(A,V1,T,10)","ok":true})x"));
    CHECK_THAT(
        text,
        Catch::Contains(
            R"x({"event":"(A,V1,T,10)","ok":false,"reason":"car already has an active request"})x"));
    CHECK_THAT(text, Catch::Contains(R"x("ok":false,"reason":"no such pile")x"));
    CHECK_THAT(text, Catch::Contains(R"x("ok":false,"reason":"car has no active request")x"));
    CHECK_THAT(text, Catch::Contains(R"x("state":"REDISPATCH")x"));
    CHECK_THAT(text, Catch::Contains(R"x("state":"WAITING")x"));
    CHECK_THAT(text, Catch::Contains(R"x({"end":{"t":"06:10:00","day":0})x"));
}

TEST_CASE("replay: a malformed line stops the replay before the final line", "[scenario]") {
    const std::string_view scenario = "06:00 (A,V1,T,10)\n06:10 (A,V2,T,x)\n";
    std::ostringstream out;
    std::ostringstream warn;
    replay::ReplayOptions final_only;
    final_only.final_only = true;
    const auto result =
        replay::run_replay(*station::builtin_profile("bupt-2023"), scenario, final_only, out, warn);
    CHECK_FALSE(result.ok());
    CHECK(result.error_line == 2);
    CHECK(out.str().empty());
    CHECK(replay::validate_scenario(scenario).error_line == 2);
    CHECK(replay::validate_scenario("06:00 (A,V1,T,10)\n").ok());
}

TEST_CASE("scenario: random bytes and mangled lines never crash the reader", "[scenario]") {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> len(0, 200);
    const std::string alphabet = "0123456789:+(),ABCOTFV.- #\n\t";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string text;
        const int n = len(rng);
        for (int k = 0; k < n; ++k) {
            // Half the inputs are raw bytes, half are made of the notation's own characters.
            text.push_back(i % 2 ? static_cast<char>(byte(rng)) : alphabet[pick(rng)]);
        }
        const auto r = parse_scenario(text);
        if (r.ok()) {
            ++accepted;
            CHECK_FALSE(r.events.empty());
        } else {
            CHECK(r.error_line >= 1);
            CHECK_FALSE(r.error.empty());
        }
    }
    CHECK(accepted < 20000);
}
