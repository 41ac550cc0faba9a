#pragma once
/// @file Replaying a scenario through the station core and printing what
/// scenario-format.md prescribes: JSON Lines, or the sheet's table notation.

#include <iosfwd>
#include <string>
#include <string_view>

#include "replay/scenario.hpp"
#include "station/profile.hpp"

namespace replay {

enum class OutputFormat { JsonLines, Table };

struct ReplayOptions {
    OutputFormat format = OutputFormat::JsonLines;
    bool final_only = false;  ///< print only the final line
};

struct ReplayResult {
    int unfinished = 0;  ///< orders that can never finish (a warning was written)
    int error_line = 0;  ///< 0 unless the scenario turned out malformed
    std::string error;

    bool ok() const { return error.empty(); }
};

/// Plays a scenario on a fresh station of `profile`, reading it as it plays (a large one
/// needs no memory for its events), and writes the snapshots and the final line to `out`
/// and warnings to `warn`. A malformed scenario stops the replay at its first error,
/// before the final line: callers that print snapshots check it with `validate_scenario`
/// first, so that nothing but the error is printed.
ReplayResult run_replay(const station::Profile& profile, std::string_view scenario,
                        const ReplayOptions& options, std::ostream& out, std::ostream& warn);

/// Reads a whole scenario without playing it; the result's `error` names the first problem.
ReplayResult validate_scenario(std::string_view scenario);

}  // namespace replay
