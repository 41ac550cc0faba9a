#pragma once
/// @file A station's complete state as plain data (`Station::image()`), from which
/// `Station::from_image` builds a station that behaves exactly like the original from then
/// on: same outcomes, events, order and bill ids, numbers, amounts and timers. A scheduler
/// saves it as a snapshot so that a restart replays only the commands after it.
///
/// What is not in it: the profile (the caller passes it to `from_image`; `profile_digest`
/// tells whether it is the one the image was taken under), the pending events of
/// `take_events` (take them before imaging), and what `from_image` rebuilds from the data:
/// the car index (from `cars` and the open orders), the dispatch index (from the piles),
/// the pile-id lookup (from the profile) and the timer heap (from `timers`, without the
/// voided entries the original may still hold: they never fire).
///
/// `from_image` treats an image as untrusted (it is read from disk) and refuses one that
/// no station could be in; the invariants it checks are listed at `from_image`.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "station/profile.hpp"
#include "station/records.hpp"
#include "station/types.hpp"

namespace station {

/// The kinds of the station's internal timers. At one instant completions run before
/// fault ends, and each kind in pile order.
enum class TimerKind : std::uint8_t { Completion = 0, FaultEnd = 1 };

/// A live internal timer: what `advance_to` will run at `at`.
struct TimerImage {
    TimeMs at = 0;
    TimerKind kind = TimerKind::Completion;
    PileIndex pile = kNone;
    std::uint32_t version = 0;  ///< the pile's completion or fault version it belongs to
};

/// The runtime state of one pile.
struct PileImage {
    std::string id;  ///< the profile's pile id at this index (a consistency check)
    bool on = true;  ///< false after SWITCHOFF
    bool faulty = false;
    std::vector<OrderId> queue;         ///< the cars at the pile, head (charging) first
    TimeMs session_start = 0;           ///< start of the head's session (of the last one if idle)
    TimeMs head_done_at = 0;            ///< when the head's session completes
    TimeMs finish_at = 0;               ///< reserved runtime field, kept as is
    std::optional<TimeMs> fault_until;  ///< the end of a timed fault
    std::uint32_t completion_version = 0;
    std::uint32_t fault_version = 0;
    PileTotals totals;
};

/// Everything a `Station` holds, in its own terms (ids are indexes into these tables).
struct StationImage {
    /// `profile_digest` of the profile the image was taken under.
    std::uint64_t profile_digest = 0;
    TimeMs now = 0;
    /// Whether the station records StationEvents (`record_events`).
    bool record_events = false;

    /// One per profile pile, in station order.
    std::vector<PileImage> piles;
    /// The live timers in the order they run: by (at, kind, pile). They follow from the
    /// piles (a completion at `head_done_at` while a queue is not empty, a fault end at
    /// `fault_until`); `from_image` requires exactly these.
    std::vector<TimerImage> timers;

    /// All orders, index = id, as `Station::orders()` shows them (waiting-area links in
    /// `Order::prev`/`next` included).
    std::vector<Order> orders;
    /// All detailed bills, index = id.
    std::vector<Bill> bills;
    /// The car registry: `Order::car` indexes it. Names are unique and not empty.
    std::vector<std::string> cars;

    /// Per mode (`mode_index`), the waiting area in calling order (head first).
    std::array<std::vector<OrderId>, kModeCount> waiting;
    /// Per mode, the re-dispatch group in service order.
    std::array<std::vector<OrderId>, kModeCount> groups;

    /// The day the queue-number counters belong to (`day_of` of station time).
    std::int64_t counter_day = 0;
    /// Per mode, the last queue number issued on `counter_day`.
    std::array<std::uint32_t, kModeCount> counters{};
    /// The issue sequence the next queue number gets.
    std::int64_t next_issue_seq = 0;
};

/// Whether two images are identical, field by field (doubles bit for bit).
bool operator==(const StationImage& a, const StationImage& b);

/// A fingerprint of what in a profile decides the station's behaviour: waiting-area size,
/// queue length, policy, tariff and each pile's id, mode and power (not the profile's
/// name nor the piles' display names). Stable across runs and builds.
std::uint64_t profile_digest(const Profile& profile);

}  // namespace station
