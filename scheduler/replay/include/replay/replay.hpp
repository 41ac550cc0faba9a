#pragma once
/// @file Replaying a scenario through the station core and printing what
/// scenario-format.md prescribes: JSON Lines, or the sheet's table notation.

#include <iosfwd>
#include <vector>

#include "replay/scenario.hpp"
#include "station/profile.hpp"

namespace replay {

enum class OutputFormat { JsonLines, Table };

struct ReplayOptions {
    OutputFormat format = OutputFormat::JsonLines;
    bool final_only = false;  ///< print only the final line
};

/// Plays `events` (sorted by time) on a fresh station of `profile`, writes the
/// snapshots and the final line to `out` and warnings (orders that can never finish)
/// to `warn`. Returns the number of such unfinished orders.
int run_replay(const station::Profile& profile, const std::vector<ScenarioEvent>& events,
               const ReplayOptions& options, std::ostream& out, std::ostream& warn);

}  // namespace replay
