// Fuzz target: the scheduler's journal (`station-scheduler --journal`), read back at a
// restart: its start line (contract::JournalStart), its entries (contract::JournalEntry)
// and the resume that replays them into a station (SchedulerApp with `resume`). The input
// is the journal's text, one line per line. Properties: a line's parser never throws or
// crashes, and a line it accepts is written back as a line that parses to the same text;
// a resume either refuses the journal (std::runtime_error, as station-scheduler reports
// it) or gives a scheduler that runs on and publishes only messages the contract accepts.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "contract/journal.hpp"
#include "fuzz_support.hpp"
#include "service/scheduler_app.hpp"
#include "station/profile.hpp"
#include "station/time.hpp"
#include "station_checks.hpp"

namespace {

constexpr std::int64_t kWall = 1'800'000'000'000;
constexpr std::size_t kMaxLines = 256;

template <typename Line>
void round_trip(const std::string& line, const char* kind) {
    Line parsed;
    if (!contract::parse(line, parsed).empty()) {
        return;
    }
    const std::string once = contract::to_json(parsed);
    Line again;
    const std::string error = contract::parse(once, again);
    fuzz::check(error.empty(), kind, "written back, it does not parse: " + error + "\n" + once);
    fuzz::check(contract::to_json(again) == once, kind, "written back twice, it changes: " + once);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> lines;
    std::string_view rest = fuzz::text(data, size);
    while (!rest.empty() && lines.size() < kMaxLines) {
        lines.emplace_back(fuzz::take_until(rest, '\n'));
    }
    for (const auto& line : lines) {
        round_trip<contract::JournalStart>(line, "journal start line");
        round_trip<contract::JournalEntry>(line, "journal entry");
    }
    if (lines.empty()) {
        return 0;
    }
    service::SchedulerOptions o;
    o.clock.simulated = (size & 1) == 0;
    o.clock.start = *station::parse_datetime("2026-11-25 06:00:00");
    o.clock.speed = 0;
    o.resume = lines;
    std::vector<std::string> journal;
    o.journal = [&journal](const std::string& line) { journal.push_back(line); };
    const auto profile = station::builtin_profile("bupt-2023");
    try {
        service::SchedulerApp app(*profile, o, kWall, [](std::string_view, std::string_view) {});
        app.on_connected(kWall);
        app.tick(kWall + 1000);
        fuzz::check_publications(app.take_publications());
    } catch (const std::runtime_error&) {
        // A journal that is not this station's, or not a journal: refused with the reason.
    }
    return 0;
}
