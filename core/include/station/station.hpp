#pragma once
/// @file The station: waiting area, pile queues, dispatch, changes, faults and
/// billing (station-rules §1–§8) as a deterministic state machine. Time is an input:
/// `advance_to` moves the clock and runs what became due; commands act at `now()`.
/// No I/O, no threads, no clock reads.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "station/events.hpp"
#include "station/image.hpp"
#include "station/profile.hpp"
#include "station/records.hpp"
#include "station/rejection.hpp"
#include "station/types.hpp"

namespace station {

namespace detail {
class CarIndex;
class DispatchIndex;
// Heterogeneous lookup by string_view.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};
}  // namespace detail

/// Charged energy and money of an order so far, including a session in progress.
struct Progress {
    double kwh = 0;
    double charge_fee = 0;
    double service_fee = 0;
    double total_fee() const { return charge_fee + service_fee; }
};

class Station {
  public:
    /// A station in the state of a fresh start at station time `start`.
    Station(Profile profile, TimeMs start);
    ~Station();
    Station(const Station&) = delete;
    Station& operator=(const Station&) = delete;
    Station(Station&&) noexcept;
    Station& operator=(Station&&) noexcept;

    // ---- snapshots (station/image.hpp) ---------------------------------------------
    /// The station's complete state, pending events excepted (take them first).
    StationImage image() const;
    /// A station in the state of `image`, which behaves exactly like the station it was
    /// taken from: same outcomes, events, ids, numbers, amounts and timers. Checks the image
    /// against `profile` and throws std::invalid_argument with the reason if no station
    /// of this profile can be in that state: another profile (pile count, pile ids,
    /// `profile_digest`), ids out of range, an open order in no place or in two, a
    /// closed one in a place, a state that does not fit its place, broken waiting-area
    /// links, a queue longer than M or at a pile that is down, a car with two open orders
    /// or a repeated car name, broken bill chains, session or timer times that do not fit
    /// the amounts, times beyond ±2^53 ms or amounts whose charging would take longer, or a
    /// car that could be called at once. Rebuilds the car index, the dispatch index and
    /// the timers.
    static Station from_image(Profile profile, const StationImage& image);
    /// The same, taking over the image's tables instead of copying them (the image is
    /// consumed either way).
    static Station from_image(Profile profile, StationImage&& image);

    const Profile& profile() const { return profile_; }
    TimeMs now() const { return now_; }

    // ---- time ---------------------------------------------------------------------
    /// Runs every internal event due at or before `t` (per instant: completions in pile
    /// order, then timed-fault ends, then one calling pass), then sets now() = t.
    /// A `t` before now() only runs what is due now.
    void advance_to(TimeMs t);
    /// When the next internal event is due, if any.
    std::optional<TimeMs> next_event_time() const;
    /// Runs internal events until none is left (every order closed or stuck) and
    /// returns the time of the last one processed (now() if none was).
    TimeMs run_until_idle();

    /// Reserves room for `orders` orders and as many bills, for a caller that knows its
    /// volume in advance (a replay): growing by doubling copies and faults in pages.
    void reserve(std::size_t orders);
    /// A performance hint for a caller that knows the next command ahead: starts loading
    /// what a command on `car` will read. Changes nothing.
    void prefetch_car(std::string_view car) const;
    /// A performance hint for a caller about to read `car_name` of this order.
    void prefetch_car(const Order& o) const;

    // ---- commands (act at now(); a refused command changes nothing) ----------------
    /// §2: a car requests `kwh` in `mode`.
    Outcome submit(std::string_view car, Mode mode, double kwh);
    /// §4: change mode and/or amount of a car in the waiting area; nullopt keeps it.
    Outcome change(std::string_view car, std::optional<Mode> mode, std::optional<double> kwh);
    /// §4: the car leaves wherever it is; a charging session stops with a bill.
    Outcome cancel(std::string_view car);
    /// §5: the pile faults; `duration` > 0 makes it recover by itself after that long.
    Outcome fault(std::string_view pile, TimeMs duration = 0);
    /// §5: the pile recovers from a fault (cancels a pending timed recovery).
    Outcome recover(std::string_view pile);
    /// §5: admin SWITCHOFF, behaves like a fault whose state is OFF.
    Outcome switch_off(std::string_view pile);
    /// §5: admin SWITCHON, behaves like a recovery.
    Outcome switch_on(std::string_view pile);
    /// A metered pile (PileSpec::metered) ended the session of the car charging there
    /// because its meter reached the amount: its meter measured `kwh` for the session. The
    /// session is billed for `kwh` from its start to now (no bill if no time passed), the
    /// order is finished with what it received, and the pile takes its next car.
    /// A reading beyond the order's remaining amount plus metered_overshoot is billed as
    /// that much. Refused: an unknown or unmetered pile, a pile charging no car, `kwh` not
    /// a finite number of 0 or more.
    Outcome end_metered(std::string_view pile, double kwh);

    // ---- queries -----------------------------------------------------------------
    std::span<const Order> orders() const { return orders_; }
    const Order& order(OrderId id) const { return orders_[static_cast<std::size_t>(id)]; }
    /// The car's open order, if it has one.
    std::optional<OrderId> active_order(std::string_view car) const;
    std::string_view car_name(const Order& o) const;
    /// The order's queue number as shown, e.g. "F7".
    std::string number_text(const Order& o) const;
    /// Energy and money of the order so far, including a session in progress.
    Progress progress(OrderId id) const;
    /// §2: cars of the same mode ahead of a waiting car (re-dispatch group included);
    /// 0 for a car not in the waiting area.
    int front_cars(OrderId id) const;

    std::size_t pile_count() const { return piles_.size(); }
    const PileSpec& pile_spec(PileIndex p) const { return profile_.piles[idx(p)]; }
    std::optional<PileIndex> find_pile(std::string_view id) const;
    PileState pile_state(PileIndex p) const;
    /// The cars at a pile, head (charging) first.
    std::span<const OrderId> pile_queue(PileIndex p) const { return piles_[idx(p)].queue; }
    const PileTotals& pile_totals(PileIndex p) const { return piles_[idx(p)].totals; }
    /// When the pile recovers by itself, if it is in a timed fault.
    std::optional<TimeMs> pile_fault_until(PileIndex p) const;

    /// The waiting area in the order cars entered it (both modes).
    std::vector<OrderId> waiting_area() const;
    /// Waiting cars of one mode, in calling order.
    std::vector<OrderId> waiting_of(Mode m) const;
    int waiting_count() const { return waiting_count_; }
    /// The mode's re-dispatch group in service order.
    const std::deque<OrderId>& redispatch_group(Mode m) const {
        return groups_[static_cast<std::size_t>(mode_index(m))];
    }

    std::span<const Bill> bills() const { return bills_; }
    const Bill& bill(BillId id) const { return bills_[static_cast<std::size_t>(id)]; }

    // ---- events out --------------------------------------------------------------
    /// Starts or stops recording StationEvents (off by default).
    void record_events(bool on) { record_events_ = on; }
    /// Returns the events recorded since the last call, oldest first.
    std::vector<StationEvent> take_events();

  private:
    struct PileRuntime {
        bool on = true;
        bool faulty = false;
        std::vector<OrderId> queue;  // head first
        TimeMs session_start = 0;
        TimeMs head_done_at = 0;
        TimeMs finish_at = 0;  // when the whole queue would be done
        std::optional<TimeMs> fault_until;
        std::uint32_t completion_version = 0;
        std::uint32_t fault_version = 0;
        PileTotals totals;
    };
    struct Timer {
        TimeMs at;
        TimerKind kind;
        PileIndex pile;
        std::uint32_t version;
        bool operator>(const Timer& o) const {
            if (at != o.at) {
                return at > o.at;
            }
            if (kind != o.kind) {
                return kind > o.kind;
            }
            return pile > o.pile;
        }
    };

    static std::size_t idx(std::int32_t i) { return static_cast<std::size_t>(i); }
    Order& mut(OrderId id) { return orders_[idx(id)]; }
    bool available(const PileRuntime& p) const { return p.on && !p.faulty; }
    TimeMs duration_for(double kwh, PileIndex p) const;

    std::optional<OrderId> active_of(std::string_view car) const;
    void issue_number(Order& o);
    void waiting_push(OrderId id);
    void waiting_unlink(OrderId id);
    void group_remove(OrderId id);

    void pile_push(PileIndex p, OrderId id);
    /// `metered_kwh`: a metered pile's completion, with what its meter measured.
    void pile_remove(PileIndex p, OrderId id, StopReason reason,
                     std::optional<double> metered_kwh = std::nullopt);
    void start_head(PileIndex p);
    void stop_head(PileIndex p, StopReason reason, std::optional<double> metered_kwh);
    void refresh_pile(PileIndex p);
    void close_order(OrderId id, OrderState final_state);

    void process_instant(TimeMs t);
    void calling_pass();
    /// The car a call in mode `m` would take now and the pile it would go to, if any.
    std::optional<std::pair<OrderId, PileIndex>> next_call(Mode m) const;
    bool call_one(Mode m);
    bool waiting_paused(Mode m) const;
    void take_down(PileIndex p, StopReason reason);
    void bring_up(PileIndex p);
    void sort_group(Mode m);
    std::vector<OrderId> pull_queued_cars(Mode m, PileIndex except);

    void emit(StationEvent e) {
        if (record_events_) {
            events_.push_back(e);
        }
    }
    void order_changed(OrderId id) { emit(OrderChanged{id, now_}); }
    void pile_changed(PileIndex p) { emit(PileChanged{p, now_}); }

    Profile profile_;
    TimeMs now_;
    std::vector<PileRuntime> piles_;
    std::unordered_map<std::string, PileIndex, detail::StringHash, std::equal_to<>> pile_ids_;
    std::unique_ptr<detail::DispatchIndex> index_;

    std::vector<Order> orders_;
    std::vector<Bill> bills_;
    std::unique_ptr<detail::CarIndex> cars_;

    // Waiting area: per mode a doubly linked list through Order::prev/next, in issue order.
    OrderId wait_head_[kModeCount] = {kNone, kNone};
    OrderId wait_tail_[kModeCount] = {kNone, kNone};
    int waiting_count_ = 0;
    std::deque<OrderId> groups_[kModeCount];

    std::int64_t counter_day_ = 0;
    std::uint32_t counters_[kModeCount] = {0, 0};
    std::int64_t next_issue_seq_ = 0;

    bool timer_live(const Timer& t) const;
    // Stale timers (voided by a version bump) are dropped lazily; dropping them does not
    // change the station's observable state, hence `mutable`.
    mutable std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
    bool record_events_ = false;
    std::vector<StationEvent> events_;
};

}  // namespace station
