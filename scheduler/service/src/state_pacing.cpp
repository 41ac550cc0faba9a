#include "service/state_pacing.hpp"

#include <algorithm>

namespace service {

bool StatePacing::due(std::int64_t wall_ms, const RefreshFn& refreshing) const {
    const std::int64_t since = wall_ms - last_wall_;
    if (revision_ != published_revision_) {
        return since >= interval_ms_;
    }
    return refresh_ms_ > 0 && since >= refresh_ms_ && refreshing();
}

std::optional<std::int64_t> StatePacing::next_due(std::int64_t wall_ms,
                                                  const RefreshFn& refreshing) const {
    if (revision_ != published_revision_) {
        return std::max(wall_ms, last_wall_ + interval_ms_);
    }
    if (refresh_ms_ > 0 && refreshing()) {
        return std::max(wall_ms, last_wall_ + refresh_ms_);
    }
    return std::nullopt;
}

void StatePacing::published(std::int64_t wall_ms) {
    published_revision_ = revision_;
    last_wall_ = wall_ms;
}

}  // namespace service
