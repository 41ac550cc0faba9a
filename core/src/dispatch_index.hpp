#pragma once
// Internal: finds the pile that minimises a called car's completion time (§3) without
// scanning every pile. Piles are grouped by (mode, power); within a group the best pile
// is the first idle one (completion = now + own time) or else the one whose queue
// finishes first, so a query costs O(groups · log piles).

#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "station/profile.hpp"
#include "station/time.hpp"

namespace station::detail {

class DispatchIndex {
  public:
    explicit DispatchIndex(const std::vector<PileSpec>& piles);

    /// Records a pile's current standing: whether it is a candidate at all, and if so
    /// whether it is idle or else when its queue finishes.
    void update(PileIndex p, bool candidate, bool idle, TimeMs finish_at);
    /// The candidate pile of `mode` giving the earliest completion for a car needing
    /// `kwh`, ties to the lower pile index.
    std::optional<PileIndex> best(Mode mode, double kwh, TimeMs now) const;
    /// Whether the station has any pile of `mode` at all.
    bool has_mode(Mode mode) const { return !groups_of_mode_[mode_index(mode)].empty(); }
    /// The lowest power of the piles of `mode` (which must have one).
    double slowest(Mode mode) const;

  private:
    struct Group {
        double power;
        std::set<PileIndex> idle;
        std::set<std::pair<TimeMs, PileIndex>> busy;
    };
    struct Entry {
        int group = -1;
        bool present = false;
        bool idle = false;
        TimeMs finish_at = 0;
    };
    std::vector<Group> groups_;
    std::vector<int> groups_of_mode_[kModeCount];
    std::vector<Entry> entries_;
};

}  // namespace station::detail
