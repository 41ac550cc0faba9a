#include "station/image.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string_view>
#include <tuple>

#include "image_check.hpp"
#include "station/time.hpp"

namespace station {

// A new field in these records must be compared below, checked in image_problem and
// carried by the snapshot codec (scheduler/service/src/snapshot_file.cpp).
static_assert(sizeof(Order) == 120, "Order changed: update operator== and image_problem");
static_assert(sizeof(Bill) == 64, "Bill changed: update operator== and image_problem");
static_assert(sizeof(PileTotals) == 40, "PileTotals changed: update operator==");

namespace {

bool same(double a, double b) {
    return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

bool same(const Order& a, const Order& b) {
    return a.id == b.id && a.car == b.car && a.mode == b.mode && a.state == b.state &&
           a.place == b.place && a.pile == b.pile && a.number == b.number &&
           a.issue_seq == b.issue_seq && same(a.requested_kwh, b.requested_kwh) &&
           same(a.delivered_kwh, b.delivered_kwh) && same(a.charge_fee, b.charge_fee) &&
           same(a.service_fee, b.service_fee) && a.created_at == b.created_at &&
           a.place_since == b.place_since && a.closed_at == b.closed_at &&
           a.dispatched_at == b.dispatched_at && a.started_at == b.started_at &&
           a.first_bill == b.first_bill && a.last_bill == b.last_bill && a.prev == b.prev &&
           a.next == b.next;
}

bool same(const Bill& a, const Bill& b) {
    return a.id == b.id && a.order == b.order && a.pile == b.pile && a.start == b.start &&
           a.stop == b.stop && same(a.kwh, b.kwh) && same(a.charge_fee, b.charge_fee) &&
           same(a.service_fee, b.service_fee) && a.reason == b.reason &&
           a.next_of_order == b.next_of_order;
}

bool same(const PileTotals& a, const PileTotals& b) {
    return a.charges == b.charges && a.charging_ms == b.charging_ms && same(a.kwh, b.kwh) &&
           same(a.charge_fee, b.charge_fee) && same(a.service_fee, b.service_fee);
}

bool same(const PileImage& a, const PileImage& b) {
    return a.id == b.id && a.on == b.on && a.faulty == b.faulty && a.queue == b.queue &&
           a.session_start == b.session_start && a.head_done_at == b.head_done_at &&
           a.finish_at == b.finish_at && a.fault_until == b.fault_until &&
           a.completion_version == b.completion_version && a.fault_version == b.fault_version &&
           same(a.totals, b.totals);
}

bool same(const TimerImage& a, const TimerImage& b) {
    return a.at == b.at && a.kind == b.kind && a.pile == b.pile && a.version == b.version;
}

template <class T>
bool same_all(const std::vector<T>& a, const std::vector<T>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const T& x, const T& y) { return same(x, y); });
}

// FNV-1a, 64 bits, over explicitly little-endian fields.
class Digest {
  public:
    void byte(std::uint8_t b) {
        h_ ^= b;
        h_ *= 0x100000001b3ULL;
    }
    void u64(std::uint64_t v) {
        for (int i = 0; i < 8; ++i) {
            byte(static_cast<std::uint8_t>(v >> (8 * i)));
        }
    }
    void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
    void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
    void str(std::string_view s) {
        u64(s.size());
        for (char c : s) {
            byte(static_cast<std::uint8_t>(c));
        }
    }
    std::uint64_t value() const { return h_; }

  private:
    std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

bool time_ok(TimeMs t) {
    return t >= -detail::kImageTimeLimit && t <= detail::kImageTimeLimit;
}
bool optional_time_ok(TimeMs t) {
    return t == -1 || time_ok(t);
}

std::string at_order(std::size_t i) {
    return "order " + std::to_string(i) + ": ";
}
std::string at_bill(std::size_t i) {
    return "bill " + std::to_string(i) + ": ";
}
std::string at_pile(const Profile& prof, std::size_t p) {
    return "pile " + prof.piles[p].id + ": ";
}

bool in_range(std::int32_t id, std::size_t size) {
    return id >= 0 && static_cast<std::size_t>(id) < size;
}

}  // namespace

bool operator==(const StationImage& a, const StationImage& b) {
    return a.profile_digest == b.profile_digest && a.now == b.now &&
           a.record_events == b.record_events && same_all(a.piles, b.piles) &&
           same_all(a.timers, b.timers) && same_all(a.orders, b.orders) &&
           same_all(a.bills, b.bills) && a.cars == b.cars && a.waiting == b.waiting &&
           a.groups == b.groups && a.counter_day == b.counter_day && a.counters == b.counters &&
           a.next_issue_seq == b.next_issue_seq;
}

std::uint64_t profile_digest(const Profile& profile) {
    Digest d;
    d.str("station-profile/1");
    d.i64(profile.waiting_area);
    d.i64(profile.queue_length);
    d.byte(static_cast<std::uint8_t>(profile.policy.candidates));
    d.byte(static_cast<std::uint8_t>(profile.policy.fault_strategy));
    d.byte(static_cast<std::uint8_t>(profile.policy.fault_pause));
    d.u64(profile.piles.size());
    for (const PileSpec& s : profile.piles) {
        d.str(s.id);
        d.byte(static_cast<std::uint8_t>(s.mode));
        d.f64(s.power);
        if (s.metered) {  // only then, so that the digests of earlier profiles stay as they were
            d.str("metered");
        }
    }
    d.u64(profile.tariff.bands().size());
    for (const TariffBand& b : profile.tariff.bands()) {
        d.i64(b.from);
        d.i64(b.to);
        d.f64(b.price);
    }
    d.f64(profile.tariff.service_rate());
    return d.value();
}

namespace detail {

std::optional<TimeMs> bounded_duration(double kwh, double power) {
    const double ms = kwh / power * static_cast<double>(kMsPerHour);
    if (!std::isfinite(ms) || std::fabs(ms) > static_cast<double>(kImageTimeLimit)) {
        return std::nullopt;
    }
    return hours_to_ms(kwh / power);
}

std::string image_problem(const Profile& prof, const StationImage& im) {
    if (const std::string bad = validate_profile(prof); !bad.empty()) {
        return "the profile is not valid: " + bad;
    }
    const std::size_t pile_count = prof.piles.size();
    if (im.piles.size() != pile_count) {
        return "the image has " + std::to_string(im.piles.size()) + " piles, the profile " +
               std::to_string(pile_count);
    }
    for (std::size_t p = 0; p < pile_count; ++p) {
        if (im.piles[p].id != prof.piles[p].id) {
            return "pile " + std::to_string(p) + " is \"" + im.piles[p].id +
                   "\" in the image but \"" + prof.piles[p].id + "\" in the profile";
        }
    }
    if (im.profile_digest != profile_digest(prof)) {
        return "the image was taken under another profile (its limits, policy, tariff or "
               "pile modes and powers differ)";
    }

    // Scalars.
    if (!time_ok(im.now)) {
        return "the station time is out of range";
    }
    if (im.counter_day > day_of(im.now) || im.counter_day < day_of(-kImageTimeLimit)) {
        return "the number counters' day is not today or before";
    }
    if (im.next_issue_seq < 0 || im.next_issue_seq == std::numeric_limits<std::int64_t>::max()) {
        return "the next issue sequence is out of range";
    }
    const std::size_t max_table =
        static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());
    const std::size_t n = im.orders.size();
    const std::size_t bill_count = im.bills.size();
    if (n >= max_table || bill_count >= max_table || im.cars.size() >= max_table) {
        return "too many orders, bills or cars";
    }
    for (std::size_t c = 0; c < im.cars.size(); ++c) {
        if (im.cars[c].empty()) {
            return "car " + std::to_string(c) + " has no name";
        }
    }

    // What the profile offers per mode.
    bool has_mode[kModeCount] = {false, false};
    double min_power[kModeCount] = {0, 0};
    for (const PileSpec& s : prof.piles) {
        const int m = mode_index(s.mode);
        min_power[m] = has_mode[m] ? std::min(min_power[m], s.power) : s.power;
        has_mode[m] = true;
    }

    // The places that list orders: pile queues, waiting area, re-dispatch groups. Each
    // listed order must be there in the right place, state and mode (the order pass below
    // checks the rest of it, and that every open order is listed once).
    std::vector<std::uint8_t> seen(n, 0);
    for (std::size_t p = 0; p < pile_count; ++p) {
        const PileImage& r = im.piles[p];
        const auto pile = static_cast<PileIndex>(p);
        if (!r.faulty && r.fault_until) {
            return at_pile(prof, p) + "has a fault end but no fault";
        }
        if (r.fault_until && (!time_ok(*r.fault_until) || *r.fault_until < im.now)) {
            return at_pile(prof, p) + "its fault end is out of range or past";
        }
        if (!time_ok(r.session_start) || !time_ok(r.head_done_at) || !time_ok(r.finish_at)) {
            return at_pile(prof, p) + "a time is out of range";
        }
        if (!std::isfinite(r.totals.kwh) || !std::isfinite(r.totals.charge_fee) ||
            !std::isfinite(r.totals.service_fee) || r.totals.charges < 0 ||
            r.totals.charges > (std::int64_t{1} << 60) || r.totals.charging_ms < 0 ||
            r.totals.charging_ms > (std::int64_t{1} << 60)) {
            return at_pile(prof, p) + "its totals are out of range";
        }
        if (r.queue.size() > static_cast<std::size_t>(prof.queue_length)) {
            return at_pile(prof, p) + "its queue is longer than the profile allows";
        }
        if (r.queue.empty()) {
            continue;
        }
        if (!r.on || r.faulty) {
            return at_pile(prof, p) + "holds cars while down";
        }
        TimeMs finish = 0;
        for (std::size_t k = 0; k < r.queue.size(); ++k) {
            const OrderId id = r.queue[k];
            if (!in_range(id, n)) {
                return at_pile(prof, p) + "its queue names order " + std::to_string(id) +
                       ", which does not exist";
            }
            const Order& o = im.orders[static_cast<std::size_t>(id)];
            if (seen[static_cast<std::size_t>(id)]++ != 0) {
                return at_order(static_cast<std::size_t>(id)) + "is in two places";
            }
            const OrderState want = k == 0 ? OrderState::Charging : OrderState::Dispatched;
            if (o.place != Place::Pile || o.pile != pile || o.state != want ||
                o.mode != prof.piles[p].mode) {
                return at_order(static_cast<std::size_t>(id)) + "does not fit its place in " +
                       prof.piles[p].id + "'s queue";
            }
            const auto d = bounded_duration(o.remaining_kwh(), prof.piles[p].power);
            if (!d) {
                return at_order(static_cast<std::size_t>(id)) +
                       "its remaining amount is out of range";
            }
            if (k == 0) {
                // The head's session: it started at session_start for its remaining amount
                // (a metered pile's may run late: its end is the meter's to say).
                if (r.session_start > im.now || r.session_start + *d != r.head_done_at ||
                    (r.head_done_at < im.now && !prof.piles[p].metered)) {
                    return at_pile(prof, p) + "the head's session times do not fit its amount";
                }
                finish = r.head_done_at;
            } else if (__builtin_add_overflow(finish, *d, &finish) || finish > (TimeMs{1} << 62)) {
                return at_pile(prof, p) + "its queue takes too long";
            }
        }
    }
    std::size_t waiting_total = 0;
    for (int m = 0; m < kModeCount; ++m) {
        const auto& list = im.waiting[static_cast<std::size_t>(m)];
        waiting_total += list.size();
        for (std::size_t k = 0; k < list.size(); ++k) {
            const OrderId id = list[k];
            if (!in_range(id, n)) {
                return "the waiting area names order " + std::to_string(id) +
                       ", which does not exist";
            }
            const Order& o = im.orders[static_cast<std::size_t>(id)];
            if (seen[static_cast<std::size_t>(id)]++ != 0) {
                return at_order(static_cast<std::size_t>(id)) + "is in two places";
            }
            const OrderId prev = k == 0 ? kNone : list[k - 1];
            const OrderId next = k + 1 == list.size() ? kNone : list[k + 1];
            if (o.place != Place::WaitingArea || mode_index(o.mode) != m || o.prev != prev ||
                o.next != next) {
                return at_order(static_cast<std::size_t>(id)) +
                       "does not fit its place in the waiting area";
            }
            if (k > 0 && im.orders[static_cast<std::size_t>(prev)].issue_seq >= o.issue_seq) {
                return "the waiting area is not in issue order at order " + std::to_string(id);
            }
        }
        for (const OrderId id : im.groups[static_cast<std::size_t>(m)]) {
            if (!in_range(id, n)) {
                return "a re-dispatch group names order " + std::to_string(id) +
                       ", which does not exist";
            }
            const Order& o = im.orders[static_cast<std::size_t>(id)];
            if (seen[static_cast<std::size_t>(id)]++ != 0) {
                return at_order(static_cast<std::size_t>(id)) + "is in two places";
            }
            if (o.place != Place::Redispatch || mode_index(o.mode) != m ||
                o.state != OrderState::Dispatched) {
                return at_order(static_cast<std::size_t>(id)) +
                       "does not fit its place in a re-dispatch group";
            }
        }
    }
    if (waiting_total > static_cast<std::size_t>(prof.waiting_area)) {
        return "the waiting area holds more cars than the profile allows";
    }

    // Bills, one by one. Reports add their durations up: the sum must stay in range.
    TimeMs charging = 0;
    for (std::size_t i = 0; i < bill_count; ++i) {
        const Bill& b = im.bills[i];
        if (b.id != static_cast<BillId>(i)) {
            return at_bill(i) + "its id is " + std::to_string(b.id);
        }
        if (!in_range(b.order, n) || !in_range(b.pile, pile_count) ||
            static_cast<int>(b.reason) > static_cast<int>(StopReason::SwitchedOff)) {
            return at_bill(i) + "its order, pile or reason is out of range";
        }
        if (!time_ok(b.start) || !time_ok(b.stop) || b.start >= b.stop || b.stop > im.now ||
            !std::isfinite(b.kwh) || b.kwh < 0 || !std::isfinite(b.charge_fee) ||
            !std::isfinite(b.service_fee)) {
            return at_bill(i) + "a time or amount is out of range";
        }
        if (__builtin_add_overflow(charging, b.stop - b.start, &charging) ||
            charging > (TimeMs{1} << 62)) {
            return "the bills' durations add up to more than a station can charge";
        }
    }

    // Orders, one by one, with their bills: each bill in exactly one order's chain, in
    // creation order.
    std::vector<std::uint8_t> car_open(im.cars.size(), 0);
    std::vector<std::uint8_t> chained(bill_count, 0);
    std::size_t chained_count = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const Order& o = im.orders[i];
        if (o.id != static_cast<OrderId>(i)) {
            return at_order(i) + "its id is " + std::to_string(o.id);
        }
        if (!in_range(o.car, im.cars.size())) {
            return at_order(i) + "no such car";
        }
        if (static_cast<int>(o.mode) >= kModeCount ||
            static_cast<int>(o.state) > static_cast<int>(OrderState::Cancelled) ||
            static_cast<int>(o.place) > static_cast<int>(Place::Pile)) {
            return at_order(i) + "mode, state or place out of range";
        }
        if (!has_mode[mode_index(o.mode)]) {
            return at_order(i) + "the station has no pile of its mode";
        }
        if (!std::isfinite(o.requested_kwh) || o.requested_kwh <= 0 ||
            !std::isfinite(o.delivered_kwh) || o.delivered_kwh < 0 ||
            !std::isfinite(o.charge_fee) || !std::isfinite(o.service_fee)) {
            return at_order(i) + "an amount is not a number in range";
        }
        if (!time_ok(o.created_at) || !time_ok(o.place_since) || !optional_time_ok(o.closed_at) ||
            !optional_time_ok(o.dispatched_at) || !optional_time_ok(o.started_at) ||
            o.created_at > im.now) {
            return at_order(i) + "a time is out of range";
        }
        if (o.issue_seq < 0 || o.issue_seq >= im.next_issue_seq) {
            return at_order(i) + "its issue sequence is not below the next one";
        }
        if (o.place != Place::Pile && o.pile != kNone) {
            return at_order(i) + "names a pile while not at one";
        }
        if (o.place != Place::WaitingArea && (o.prev != kNone || o.next != kNone)) {
            return at_order(i) + "has waiting-area links while not waiting";
        }
        if (o.active()) {
            const bool fits = o.state == OrderState::Waiting
                                  ? o.place == Place::WaitingArea
                                  : (o.state == OrderState::Charging
                                         ? o.place == Place::Pile
                                         : o.place == Place::Pile || o.place == Place::Redispatch);
            if (!fits) {
                return at_order(i) + "its state does not fit its place";
            }
            if (car_open[static_cast<std::size_t>(o.car)]++ != 0) {
                return at_order(i) + "its car has another open order";
            }
            // Every call, dispatch and completion estimate of this order must stay in range.
            if (!bounded_duration(o.remaining_kwh(), min_power[mode_index(o.mode)])) {
                return at_order(i) + "its remaining amount is out of range";
            }
        } else if (o.place != Place::None) {
            return at_order(i) + "is closed but has a place";
        }
        if ((o.place != Place::None) != (seen[i] != 0)) {
            return at_order(i) + "its place does not list it";
        }

        if (o.first_bill == kNone || o.last_bill == kNone) {
            if (o.first_bill != o.last_bill) {
                return at_order(i) + "has a first or a last bill but not both";
            }
            continue;
        }
        BillId cur = o.first_bill;
        for (;;) {
            if (!in_range(cur, bill_count)) {
                return at_order(i) + "its bills name bill " + std::to_string(cur) +
                       ", which does not exist";
            }
            const Bill& b = im.bills[static_cast<std::size_t>(cur)];
            if (b.order != o.id || chained[static_cast<std::size_t>(cur)]++ != 0) {
                return at_order(i) + "its bills are not its own";
            }
            ++chained_count;
            if (b.next_of_order == kNone) {
                break;
            }
            if (b.next_of_order <= cur) {
                return at_order(i) + "its bills are not in creation order";
            }
            cur = b.next_of_order;
        }
        if (cur != o.last_bill) {
            return at_order(i) + "its last bill is not the end of its bills";
        }
    }
    if (chained_count != bill_count) {
        const auto orphan = std::find(chained.begin(), chained.end(), 0) - chained.begin();
        return at_bill(static_cast<std::size_t>(orphan)) + "belongs to no order's bills";
    }

    // The live timers are exactly those the piles imply.
    std::vector<TimerImage> want;
    for (std::size_t p = 0; p < pile_count; ++p) {
        const PileImage& r = im.piles[p];
        const auto pile = static_cast<PileIndex>(p);
        if (!r.queue.empty() && !prof.piles[p].metered) {
            want.push_back({r.head_done_at, TimerKind::Completion, pile, r.completion_version});
        }
        if (r.faulty && r.fault_until) {
            want.push_back({*r.fault_until, TimerKind::FaultEnd, pile, r.fault_version});
        }
    }
    const auto key = [](const TimerImage& t) { return std::tuple(t.at, t.kind, t.pile); };
    std::sort(want.begin(), want.end(),
              [&](const TimerImage& a, const TimerImage& b) { return key(a) < key(b); });
    if (!same_all(want, im.timers)) {
        return "the timers are not those the piles' sessions and timed faults imply";
    }
    return "";
}

}  // namespace detail

}  // namespace station
