#include "dispatch_index.hpp"

#include <algorithm>

namespace station::detail {

DispatchIndex::DispatchIndex(const std::vector<PileSpec>& piles) : entries_(piles.size()) {
    for (std::size_t i = 0; i < piles.size(); ++i) {
        const PileSpec& s = piles[i];
        auto& of_mode = groups_of_mode_[mode_index(s.mode)];
        int found = -1;
        for (int g : of_mode) {
            if (groups_[static_cast<std::size_t>(g)].power == s.power) {
                found = g;
            }
        }
        if (found < 0) {
            found = static_cast<int>(groups_.size());
            groups_.push_back(Group{s.power, {}, {}});
            of_mode.push_back(found);
        }
        entries_[i].group = found;
    }
}

double DispatchIndex::slowest(Mode mode) const {
    double power = 0;
    for (const int g : groups_of_mode_[mode_index(mode)]) {
        const double p = groups_[static_cast<std::size_t>(g)].power;
        power = power == 0 ? p : std::min(power, p);
    }
    return power;
}

void DispatchIndex::update(PileIndex p, bool candidate, bool idle, TimeMs finish_at) {
    Entry& e = entries_[static_cast<std::size_t>(p)];
    Group& g = groups_[static_cast<std::size_t>(e.group)];
    if (e.present) {
        if (candidate && e.idle == idle && (idle || e.finish_at == finish_at)) {
            return;
        }
        if (e.idle) {
            g.idle.erase(p);
        } else {
            g.busy.erase({e.finish_at, p});
        }
    }
    e.present = candidate;
    e.idle = idle;
    e.finish_at = finish_at;
    if (candidate) {
        if (idle) {
            g.idle.insert(p);
        } else {
            g.busy.insert({finish_at, p});
        }
    }
}

std::optional<PileIndex> DispatchIndex::best(Mode mode, double kwh, TimeMs now) const {
    std::optional<PileIndex> best;
    TimeMs best_key = 0;
    for (int gi : groups_of_mode_[mode_index(mode)]) {
        const Group& g = groups_[static_cast<std::size_t>(gi)];
        PileIndex p;
        TimeMs start;
        const bool has_idle = !g.idle.empty();
        const bool has_busy = !g.busy.empty();
        if (!has_idle && !has_busy) {
            continue;
        }
        // An idle pile completes at now + own time; a busy one later unless its queue is
        // already due (it never is: completions run before calls), so idle wins in a group.
        if (has_idle && (!has_busy || g.busy.begin()->first > now ||
                         *g.idle.begin() < g.busy.begin()->second)) {
            p = *g.idle.begin();
            start = now;
        } else {
            p = g.busy.begin()->second;
            start = g.busy.begin()->first < now ? now : g.busy.begin()->first;
        }
        const TimeMs key = start + hours_to_ms(kwh / g.power);
        if (!best || key < best_key || (key == best_key && p < *best)) {
            best = p;
            best_key = key;
        }
    }
    return best;
}

}  // namespace station::detail
