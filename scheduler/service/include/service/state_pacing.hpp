#pragma once
/// @file When the scheduler publishes its retained station/state: every station event makes
/// a new revision of the state, published at most every `interval_ms` of wall time; while
/// nothing changes but readers should see the state move (the clock runs and a pile
/// charges, so energy and fees grow), it is published again every `refresh_ms`.

#include <cstdint>
#include <functional>
#include <optional>

namespace service {

class StatePacing {
  public:
    /// Whether readers should see an unchanged state again (asked only when it matters).
    using RefreshFn = std::function<bool()>;

    /// `refresh_ms` 0: the state is published only on changes.
    StatePacing(std::int64_t interval_ms, std::int64_t refresh_ms)
        : interval_ms_(interval_ms), refresh_ms_(refresh_ms) {}

    /// The station changed: the state has a new revision.
    void changed() { ++revision_; }
    /// The state's revision: how many station events it has seen.
    std::int64_t revision() const { return revision_; }
    /// Goes on from a snapshot's revision.
    void restore(std::int64_t revision) { revision_ = revision; }

    /// Whether the state is to be published at `wall_ms`.
    bool due(std::int64_t wall_ms, const RefreshFn& refreshing) const;
    /// The wall time at which it next is (not before `wall_ms`); nullopt if it waits for a
    /// change.
    std::optional<std::int64_t> next_due(std::int64_t wall_ms, const RefreshFn& refreshing) const;
    /// The current revision was published at `wall_ms`.
    void published(std::int64_t wall_ms);

  private:
    std::int64_t interval_ms_;
    std::int64_t refresh_ms_;
    std::int64_t revision_ = 0;
    std::int64_t published_revision_ = -1;
    std::int64_t last_wall_ = 0;  // of the last publication
};

}  // namespace service
