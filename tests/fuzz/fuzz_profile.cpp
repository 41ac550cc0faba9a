// Fuzz target: the station profile file (scenario-format.md "Profile file", with the
// optional tariff of docs/decisions.md) that station-replay, station-scheduler and
// station-pile-sim read with --profile FILE. Properties: parsing never throws or crashes;
// a profile it accepts is valid (validate_profile) and runs: a short scenario that uses
// both modes and faults its first pile replays on it.
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "replay/replay.hpp"
#include "station/profile.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const station::ProfileParse parsed = station::parse_profile_json(fuzz::text(data, size));
    fuzz::check(parsed.profile.has_value() == parsed.error.empty(),
                "a profile and an error, or neither", parsed.error);
    if (!parsed.profile) {
        return 0;
    }
    const station::Profile& profile = *parsed.profile;
    const std::string problem = station::validate_profile(profile);
    fuzz::check(problem.empty(), "an accepted profile is not valid", problem);

    const std::string& pile = profile.piles.front().id;
    const std::string scenario =
        "06:00 (A,V1,F,40) (A,V2,T,12.5) (A,V3,F,7)\n"
        "06:30 (B," +
        pile +
        ",O,0) (C,V2,F,-1)\n"
        "07:10 (B," +
        pile +
        ",O,1) (A,V3,O,0)\n"
        "23:50 (A,V4,T,30)\n"
        "00:20+1 (B," +
        pile + ",O,45)\n";
    replay::ReplayOptions options;
    options.final_only = size % 2 == 0;
    fuzz::NullStream out;
    fuzz::NullStream warn;
    const replay::ReplayResult played = replay::run_replay(profile, scenario, options, out, warn);
    fuzz::check(played.ok(), "the fixed scenario does not replay on an accepted profile",
                played.error);
    return 0;
}
