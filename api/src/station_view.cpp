#include "api/station_view.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace api {

using nlohmann::json;

bool StationView::offer(contract::StationState state) {
    auto snap = std::make_shared<StationSnapshot>();
    snap->known = true;
    for (const contract::StatePile& p : state.piles) {
        for (const contract::StateCar& c : p.queue) {
            snap->orders[c.order] = LiveOrder{c, p.id};
        }
    }
    for (const auto* area : {&state.waiting, &state.redispatch}) {
        for (const contract::StateCar& c : *area) {
            snap->orders[c.order] = LiveOrder{c, ""};
        }
    }
    snap->state = std::move(state);
    std::lock_guard lock(mutex_);
    // A new scheduler run starts its own clock and revisions: its first state is taken
    // whatever its time (a simulated run may start earlier than the last one ended).
    const contract::StationState& held = current_->state;
    const contract::StationState& offered = snap->state;
    if (current_->known && offered.run == held.run &&
        (offered.at_ms < held.at_ms ||
         (offered.at_ms == held.at_ms && offered.revision < held.revision))) {
        return false;
    }
    current_ = std::move(snap);
    return true;
}

bool StationView::offer(const json& state) {
    contract::StationState typed;
    if (!contract::parse_value(state, typed).empty()) {
        return false;
    }
    return offer(std::move(typed));
}

std::shared_ptr<const StationSnapshot> StationView::snapshot() const {
    std::lock_guard lock(mutex_);
    return current_;
}

void StationView::set_clock(const contract::ClockMessage& clock) {
    std::lock_guard lock(mutex_);
    clock_ = clock;
}

std::optional<std::int64_t> StationView::station_now(std::int64_t wall_ms) const {
    std::lock_guard lock(mutex_);
    if (!clock_) {
        return std::nullopt;
    }
    const double elapsed = static_cast<double>(wall_ms - clock_->wall_ms) * clock_->speed;
    return clock_->at_ms + static_cast<std::int64_t>(std::llround(std::max(0.0, elapsed)));
}

}  // namespace api
