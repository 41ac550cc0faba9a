// Fuzz target: the scenario notation (scenario-format.md) that station-replay reads, and
// the replay of what it accepts through the station core (on a built-in profile, in JSON
// lines or the table, both chosen by the input's size). Properties: nothing throws or
// crashes; the whole-text parser, the streaming reader and validate_scenario agree on the
// events and on the first error; events never go back in time; a scenario that parses
// replays to its end.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "replay/replay.hpp"
#include "replay/scenario.hpp"
#include "station/profile.hpp"

namespace {

// The replay of a long scenario costs far more than its parsing; beyond this many events
// only the parsers run.
constexpr std::size_t kMaxReplayEvents = 200;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(fuzz::text(data, size));
    const replay::ScenarioParse parsed = replay::parse_scenario(text);

    // parse_scenario keeps what the streaming reader gives (replay reads as it plays).
    replay::ScenarioReader reader(text);
    replay::ScenarioEvent event;
    std::vector<replay::ScenarioEvent> streamed;
    while (reader.next(event)) {
        fuzz::check(event.at >= 0 && event.line >= 1, "an event before day 0 or line 1",
                    event.text);
        fuzz::check(streamed.empty() || event.at >= streamed.back().at, "events go back in time",
                    event.text);
        streamed.push_back(event);
    }
    if (parsed.ok()) {
        fuzz::check(!reader.failed() && streamed.size() == parsed.events.size(),
                    "the reader and the parser disagree", reader.error());
        for (std::size_t i = 0; i < streamed.size(); ++i) {
            const replay::ScenarioEvent& a = streamed[i];
            const replay::ScenarioEvent& b = parsed.events[i];
            fuzz::check(a.at == b.at && a.line == b.line && a.text == b.text && a.kind == b.kind &&
                            a.subject == b.subject && a.mode == b.mode && a.kwh == b.kwh &&
                            a.fault_duration == b.fault_duration,
                        "the reader and the parser disagree on an event", a.text);
        }
    } else {
        fuzz::check(parsed.events.empty() && parsed.error_line >= 1,
                    "a failed parse with events, or without a line", parsed.error);
        fuzz::check(reader.failed() && reader.error() == parsed.error &&
                        reader.error_line() == parsed.error_line,
                    "the parser and the reader fail differently", parsed.error);
    }

    const replay::ReplayResult validated = replay::validate_scenario(text);
    fuzz::check(validated.ok() == parsed.ok() && validated.error_line == parsed.error_line,
                "validate_scenario and parse_scenario disagree",
                validated.error + " / " + parsed.error);

    if (!parsed.ok() || parsed.events.size() > kMaxReplayEvents) {
        return 0;
    }
    // Replay on a built-in profile, in either output format, chosen by the input's size.
    const auto names = station::builtin_profile_names();
    const auto profile = station::builtin_profile(names[size % names.size()]);
    replay::ReplayOptions options;
    options.format = size % 2 == 0 ? replay::OutputFormat::JsonLines : replay::OutputFormat::Table;
    fuzz::NullStream out;
    fuzz::NullStream warn;
    const replay::ReplayResult played = replay::run_replay(*profile, text, options, out, warn);
    fuzz::check(played.ok(), "a scenario that parses fails to replay", played.error);
    return 0;
}
