#include "station/station.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "car_index.hpp"
#include "dispatch_index.hpp"
#include "image_check.hpp"
#include "station/time.hpp"

namespace station {

Station::Station(Profile profile, TimeMs start)
    : profile_(std::move(profile)),
      now_(start),
      piles_(profile_.piles.size()),
      index_(std::make_unique<detail::DispatchIndex>(profile_.piles)),
      cars_(std::make_unique<detail::CarIndex>()),
      counter_day_(day_of(start)) {
    for (std::size_t i = 0; i < profile_.piles.size(); ++i) {
        pile_ids_.emplace(profile_.piles[i].id, static_cast<PileIndex>(i));
        refresh_pile(static_cast<PileIndex>(i));
    }
}

Station::~Station() = default;
Station::Station(Station&&) noexcept = default;
Station& Station::operator=(Station&&) noexcept = default;

// ---- snapshots ------------------------------------------------------------------------

StationImage Station::image() const {
    StationImage im;
    im.profile_digest = profile_digest(profile_);
    im.now = now_;
    im.record_events = record_events_;
    im.piles.reserve(piles_.size());
    for (std::size_t p = 0; p < piles_.size(); ++p) {
        const PileRuntime& r = piles_[p];
        im.piles.push_back(PileImage{profile_.piles[p].id, r.on, r.faulty, r.queue, r.session_start,
                                     r.head_done_at, r.finish_at, r.fault_until,
                                     r.completion_version, r.fault_version, r.totals});
    }
    // The heap in the order it runs, less the timers a version bump voided.
    auto heap = timers_;
    for (; !heap.empty(); heap.pop()) {
        const Timer& t = heap.top();
        if (timer_live(t)) {
            im.timers.push_back(TimerImage{t.at, t.kind, t.pile, t.version});
        }
    }
    im.orders.assign(orders_.begin(), orders_.end());
    im.bills.assign(bills_.begin(), bills_.end());
    im.cars.reserve(cars_->size());
    for (std::size_t c = 0; c < cars_->size(); ++c) {
        im.cars.push_back((*cars_)[static_cast<std::int32_t>(c)].name);
    }
    for (Mode m : {Mode::Fast, Mode::Slow}) {
        const auto mi = static_cast<std::size_t>(mode_index(m));
        im.waiting[mi] = waiting_of(m);
        im.groups[mi].assign(groups_[mi].begin(), groups_[mi].end());
    }
    im.counter_day = counter_day_;
    im.counters = {counters_[0], counters_[1]};
    im.next_issue_seq = next_issue_seq_;
    return im;
}

Station Station::from_image(Profile profile, const StationImage& image) {
    return from_image(std::move(profile), StationImage(image));
}

Station Station::from_image(Profile profile, StationImage&& image) {
    if (const std::string why = detail::image_problem(profile, image); !why.empty()) {
        throw std::invalid_argument("station image: " + why);
    }
    Station st(std::move(profile), image.now);
    st.record_events_ = image.record_events;
    st.counter_day_ = image.counter_day;
    st.counters_[0] = image.counters[0];
    st.counters_[1] = image.counters[1];
    st.next_issue_seq_ = image.next_issue_seq;
    st.orders_ = std::move(image.orders);
    st.bills_ = std::move(image.bills);

    // The car index, as the same adds in the same order would have built it.
    if (const std::size_t k = st.cars_->add_all_owned(image.cars); k < image.cars.size()) {
        throw std::invalid_argument("station image: car \"" + image.cars[k] + "\" appears twice");
    }
    for (const Order& o : st.orders_) {
        if (o.active()) {
            (*st.cars_)[o.car].active = o.id;
        }
    }

    for (std::size_t p = 0; p < st.piles_.size(); ++p) {
        PileImage& from = image.piles[p];
        PileRuntime& r = st.piles_[p];
        r.on = from.on;
        r.faulty = from.faulty;
        r.queue = std::move(from.queue);
        r.session_start = from.session_start;
        r.head_done_at = from.head_done_at;
        r.finish_at = from.finish_at;
        r.fault_until = from.fault_until;
        r.completion_version = from.completion_version;
        r.fault_version = from.fault_version;
        r.totals = from.totals;
    }
    for (std::size_t m = 0; m < static_cast<std::size_t>(kModeCount); ++m) {
        const auto& waiting = image.waiting[m];
        st.wait_head_[m] = waiting.empty() ? kNone : waiting.front();
        st.wait_tail_[m] = waiting.empty() ? kNone : waiting.back();
        st.waiting_count_ += static_cast<int>(waiting.size());
        st.groups_[m].assign(image.groups[m].begin(), image.groups[m].end());
    }
    // The dispatch index holds what refresh_pile last recorded, which is a function of
    // the pile's state alone.
    for (std::size_t p = 0; p < st.piles_.size(); ++p) {
        st.refresh_pile(static_cast<PileIndex>(p));
    }
    for (const TimerImage& t : image.timers) {
        st.timers_.push(Timer{t.at, t.kind, t.pile, t.version});
    }
    // Every command and instant ends with a calling pass that calls all it can.
    for (Mode m : {Mode::Fast, Mode::Slow}) {
        if (st.next_call(m)) {
            throw std::invalid_argument(
                "station image: a car could be called at once (no station stops there)");
        }
    }
    return st;
}

TimeMs Station::duration_for(double kwh, PileIndex p) const {
    return hours_to_ms(kwh / profile_.piles[idx(p)].power);
}

// ---- time --------------------------------------------------------------------------

void Station::advance_to(TimeMs t) {
    while (!timers_.empty() && timers_.top().at <= t) {
        process_instant(std::max(timers_.top().at, now_));
    }
    now_ = std::max(now_, t);
}

bool Station::timer_live(const Timer& t) const {
    const PileRuntime& r = piles_[idx(t.pile)];
    return t.kind == TimerKind::Completion ? r.completion_version == t.version && !r.queue.empty()
                                           : r.fault_version == t.version && r.faulty;
}

std::optional<TimeMs> Station::next_event_time() const {
    while (!timers_.empty() && !timer_live(timers_.top())) {
        timers_.pop();
    }
    if (timers_.empty()) {
        return std::nullopt;
    }
    return timers_.top().at;
}

TimeMs Station::run_until_idle() {
    while (const auto t = next_event_time()) {
        advance_to(*t);
    }
    return now_;
}

void Station::process_instant(TimeMs t) {
    now_ = t;
    // The heap yields (time, kind, pile) order: completions in pile order, then fault ends.
    while (!timers_.empty() && timers_.top().at <= t) {
        const Timer timer = timers_.top();
        timers_.pop();
        if (!timer_live(timer)) {
            continue;
        }
        PileRuntime& r = piles_[idx(timer.pile)];
        if (timer.kind == TimerKind::Completion) {
            pile_remove(timer.pile, r.queue.front(), StopReason::Completed);
        } else {
            r.faulty = false;
            r.fault_until.reset();
            ++r.fault_version;
            bring_up(timer.pile);
            pile_changed(timer.pile);
        }
    }
    calling_pass();
}

void Station::reserve(std::size_t orders) {
    orders_.reserve(orders);
    bills_.reserve(orders);
}

void Station::prefetch_car(std::string_view car) const {
    cars_->prefetch(car);
}

void Station::prefetch_car(const Order& o) const {
    cars_->prefetch(o.car);
}

// ---- commands ------------------------------------------------------------------------

Outcome Station::submit(std::string_view car, Mode mode, double kwh) {
    if (car.empty()) {
        return Outcome::refuse(Rejection::InvalidCar);
    }
    if (!std::isfinite(kwh) || kwh <= 0) {
        return Outcome::refuse(Rejection::InvalidAmount);
    }
    if (!index_->has_mode(mode)) {
        return Outcome::refuse(Rejection::NoPileForMode);
    }
    // An amount whose charging the station cannot time (beyond ±2^53 ms at the mode's
    // slowest pile, as from_image refuses) would overflow its clock: it is no amount.
    if (!detail::bounded_duration(kwh, index_->slowest(mode))) {
        return Outcome::refuse(Rejection::InvalidAmount);
    }
    // One lookup per request: it is the hottest path of a busy station.
    const std::int32_t known = cars_->find(car);
    if (known != kNone && (*cars_)[known].active != kNone) {
        return Outcome::refuse(Rejection::CarAlreadyActive);
    }
    if (waiting_count_ >= profile_.waiting_area) {
        return Outcome::refuse(Rejection::WaitingAreaFull);
    }
    const std::int32_t car_index = known != kNone ? known : cars_->add(car);
    const auto id = static_cast<OrderId>(orders_.size());
    Order& o = orders_.emplace_back();
    o.id = id;
    o.car = car_index;
    o.mode = mode;
    o.requested_kwh = kwh;
    o.created_at = now_;
    (*cars_)[o.car].active = id;
    issue_number(o);
    waiting_push(id);
    order_changed(id);
    calling_pass();
    return Outcome::accept(id);
}

Outcome Station::change(std::string_view car, std::optional<Mode> mode, std::optional<double> kwh) {
    const auto found = active_of(car);
    if (!found) {
        return Outcome::refuse(Rejection::UnknownCar);
    }
    Order& o = mut(*found);
    if (o.place != Place::WaitingArea) {
        return Outcome::refuse(Rejection::NotInWaitingArea);
    }
    if (kwh && (!std::isfinite(*kwh) || *kwh <= 0)) {
        return Outcome::refuse(Rejection::InvalidAmount);
    }
    const Mode new_mode = mode.value_or(o.mode);
    if (new_mode != o.mode && !index_->has_mode(new_mode)) {
        return Outcome::refuse(Rejection::NoPileForMode);
    }
    if (!detail::bounded_duration(kwh.value_or(o.requested_kwh), index_->slowest(new_mode))) {
        return Outcome::refuse(Rejection::InvalidAmount);  // as in submit
    }
    if (kwh) {
        o.requested_kwh = *kwh;
    }
    if (new_mode != o.mode) {
        waiting_unlink(o.id);
        o.mode = new_mode;
        issue_number(o);
        waiting_push(o.id);
    }
    order_changed(o.id);
    calling_pass();
    return Outcome::accept(o.id);
}

Outcome Station::cancel(std::string_view car) {
    const auto found = active_of(car);
    if (!found) {
        return Outcome::refuse(Rejection::UnknownCar);
    }
    const OrderId id = *found;
    const Order& o = order(id);
    switch (o.place) {
        case Place::WaitingArea:
            waiting_unlink(id);
            close_order(id, OrderState::Cancelled);
            break;
        case Place::Redispatch:
            group_remove(id);
            close_order(id, OrderState::Cancelled);
            break;
        case Place::Pile:
            pile_remove(o.pile, id, StopReason::Cancelled);
            break;
        case Place::None:
            break;
    }
    calling_pass();
    return Outcome::accept(id);
}

Outcome Station::end_metered(std::string_view pile, double kwh) {
    const auto p = find_pile(pile);
    if (!p || !profile_.piles[idx(*p)].metered) {
        return Outcome::refuse(p ? Rejection::PileNotMetered : Rejection::UnknownPile);
    }
    const PileRuntime& r = piles_[idx(*p)];
    if (r.queue.empty() || order(r.queue.front()).state != OrderState::Charging) {
        return Outcome::refuse(Rejection::PileNotCharging);
    }
    const OrderId id = r.queue.front();
    if (!std::isfinite(kwh) || kwh < 0) {
        return Outcome::refuse(Rejection::InvalidAmount);
    }
    // The charger has stopped, whatever it says: a reading beyond a plausible overshoot is
    // billed as that overshoot rather than leaving the car's session open.
    const Order& o = order(id);
    kwh = std::min(kwh, o.remaining_kwh() + metered_overshoot(o.requested_kwh));
    pile_remove(*p, id, StopReason::Completed, kwh);
    calling_pass();
    return Outcome::accept(id);
}

Outcome Station::fault(std::string_view pile, TimeMs duration) {
    const auto p = find_pile(pile);
    if (!p) {
        return Outcome::refuse(Rejection::UnknownPile);
    }
    if (duration < 0) {
        return Outcome::refuse(Rejection::InvalidDuration);
    }
    PileRuntime& r = piles_[idx(*p)];
    if (r.faulty) {
        return Outcome::refuse(Rejection::PileAlreadyFaulty);
    }
    r.faulty = true;
    ++r.fault_version;
    if (duration > 0) {
        r.fault_until = now_ + duration;
        timers_.push(Timer{now_ + duration, TimerKind::FaultEnd, *p, r.fault_version});
    }
    take_down(*p, StopReason::Fault);
    pile_changed(*p);
    calling_pass();
    return Outcome::accept();
}

Outcome Station::recover(std::string_view pile) {
    const auto p = find_pile(pile);
    if (!p) {
        return Outcome::refuse(Rejection::UnknownPile);
    }
    PileRuntime& r = piles_[idx(*p)];
    if (!r.faulty) {
        return Outcome::refuse(Rejection::PileNotFaulty);
    }
    r.faulty = false;
    r.fault_until.reset();
    ++r.fault_version;
    bring_up(*p);
    pile_changed(*p);
    calling_pass();
    return Outcome::accept();
}

Outcome Station::switch_off(std::string_view pile) {
    const auto p = find_pile(pile);
    if (!p) {
        return Outcome::refuse(Rejection::UnknownPile);
    }
    PileRuntime& r = piles_[idx(*p)];
    if (!r.on) {
        return Outcome::refuse(Rejection::PileAlreadyOff);
    }
    r.on = false;
    take_down(*p, StopReason::SwitchedOff);
    pile_changed(*p);
    calling_pass();
    return Outcome::accept();
}

Outcome Station::switch_on(std::string_view pile) {
    const auto p = find_pile(pile);
    if (!p) {
        return Outcome::refuse(Rejection::UnknownPile);
    }
    PileRuntime& r = piles_[idx(*p)];
    if (r.on) {
        return Outcome::refuse(Rejection::PileAlreadyOn);
    }
    r.on = true;
    bring_up(*p);
    pile_changed(*p);
    calling_pass();
    return Outcome::accept();
}

// ---- queries ---------------------------------------------------------------------------

std::optional<OrderId> Station::active_order(std::string_view car) const {
    return active_of(car);
}

std::string Station::number_text(const Order& o) const {
    return std::string(1, mode_letter(o.mode)) + std::to_string(o.number);
}

Progress Station::progress(OrderId id) const {
    const Order& o = order(id);
    Progress pr{o.delivered_kwh, o.charge_fee, o.service_fee};
    if (o.state == OrderState::Charging) {
        const PileRuntime& r = piles_[idx(o.pile)];
        const double kwh = std::min(o.remaining_kwh(), profile_.piles[idx(o.pile)].power *
                                                           ms_to_hours(now_ - r.session_start));
        pr.kwh += kwh;
        pr.charge_fee += profile_.tariff.charging_fee(kwh, r.session_start, now_);
        pr.service_fee += profile_.tariff.service_fee(kwh);
    }
    return pr;
}

int Station::front_cars(OrderId id) const {
    const Order& o = order(id);
    if (o.place != Place::WaitingArea) {
        return 0;
    }
    int ahead = static_cast<int>(redispatch_group(o.mode).size());
    for (OrderId cur = o.prev; cur != kNone; cur = order(cur).prev) {
        ++ahead;
    }
    return ahead;
}

std::optional<PileIndex> Station::find_pile(std::string_view id) const {
    const auto it = pile_ids_.find(id);
    if (it == pile_ids_.end()) {
        return std::nullopt;
    }
    return it->second;
}

PileState Station::pile_state(PileIndex p) const {
    const PileRuntime& r = piles_[idx(p)];
    if (r.faulty) {
        return PileState::Fault;
    }
    if (!r.on) {
        return PileState::Off;
    }
    return r.queue.empty() ? PileState::Rest : PileState::Work;
}

std::optional<TimeMs> Station::pile_fault_until(PileIndex p) const {
    return piles_[idx(p)].fault_until;
}

std::vector<OrderId> Station::waiting_area() const {
    std::vector<OrderId> out;
    out.reserve(static_cast<std::size_t>(waiting_count_));
    OrderId a = wait_head_[0];
    OrderId b = wait_head_[1];
    while (a != kNone || b != kNone) {
        if (b == kNone || (a != kNone && order(a).issue_seq < order(b).issue_seq)) {
            out.push_back(a);
            a = order(a).next;
        } else {
            out.push_back(b);
            b = order(b).next;
        }
    }
    return out;
}

std::vector<OrderId> Station::waiting_of(Mode m) const {
    std::vector<OrderId> out;
    for (OrderId cur = wait_head_[mode_index(m)]; cur != kNone; cur = order(cur).next) {
        out.push_back(cur);
    }
    return out;
}

std::vector<StationEvent> Station::take_events() {
    std::vector<StationEvent> out;
    out.swap(events_);
    return out;
}

// ---- bookkeeping -------------------------------------------------------------------

std::string_view Station::car_name(const Order& o) const {
    return (*cars_)[o.car].name;
}

std::optional<OrderId> Station::active_of(std::string_view car) const {
    const std::int32_t known = cars_->find(car);
    if (known == kNone || (*cars_)[known].active == kNone) {
        return std::nullopt;
    }
    return (*cars_)[known].active;
}

void Station::issue_number(Order& o) {
    const std::int64_t today = day_of(now_);
    if (today != counter_day_) {
        counter_day_ = today;
        counters_[0] = counters_[1] = 0;
    }
    o.number = ++counters_[mode_index(o.mode)];
    o.issue_seq = next_issue_seq_++;
}

void Station::waiting_push(OrderId id) {
    Order& o = mut(id);
    const int m = mode_index(o.mode);
    o.prev = wait_tail_[m];
    o.next = kNone;
    if (wait_tail_[m] != kNone) {
        mut(wait_tail_[m]).next = id;
    } else {
        wait_head_[m] = id;
    }
    wait_tail_[m] = id;
    o.place = Place::WaitingArea;
    o.state = OrderState::Waiting;
    o.pile = kNone;
    o.place_since = now_;
    ++waiting_count_;
}

void Station::waiting_unlink(OrderId id) {
    Order& o = mut(id);
    const int m = mode_index(o.mode);
    if (o.prev != kNone) {
        mut(o.prev).next = o.next;
    } else {
        wait_head_[m] = o.next;
    }
    if (o.next != kNone) {
        mut(o.next).prev = o.prev;
    } else {
        wait_tail_[m] = o.prev;
    }
    o.prev = o.next = kNone;
    o.place = Place::None;
    --waiting_count_;
}

void Station::group_remove(OrderId id) {
    auto& g = groups_[mode_index(order(id).mode)];
    g.erase(std::find(g.begin(), g.end(), id));
    mut(id).place = Place::None;
}

void Station::close_order(OrderId id, OrderState final_state) {
    Order& o = mut(id);
    o.state = final_state;
    o.place = Place::None;
    o.pile = kNone;
    o.closed_at = now_;
    (*cars_)[o.car].active = kNone;
    order_changed(id);
}

// ---- piles ---------------------------------------------------------------------------

void Station::pile_push(PileIndex p, OrderId id) {
    PileRuntime& r = piles_[idx(p)];
    Order& o = mut(id);
    r.queue.push_back(id);
    o.place = Place::Pile;
    o.pile = p;
    o.state = OrderState::Dispatched;
    o.place_since = now_;
    if (o.dispatched_at < 0) {
        o.dispatched_at = now_;
    }
    if (r.queue.size() == 1 && available(r)) {
        start_head(p);
    }
    refresh_pile(p);
    order_changed(id);
    pile_changed(p);
}

void Station::pile_remove(PileIndex p, OrderId id, StopReason reason,
                          std::optional<double> metered_kwh) {
    PileRuntime& r = piles_[idx(p)];
    const auto pos = std::find(r.queue.begin(), r.queue.end(), id);
    const bool was_head = pos == r.queue.begin();
    if (was_head && order(id).state == OrderState::Charging) {
        stop_head(p, reason, metered_kwh);
    }
    r.queue.erase(pos);
    close_order(id, reason == StopReason::Completed ? OrderState::Finished : OrderState::Cancelled);
    if (was_head && !r.queue.empty() && available(r)) {
        start_head(p);
    }
    refresh_pile(p);
    pile_changed(p);
}

void Station::start_head(PileIndex p) {
    PileRuntime& r = piles_[idx(p)];
    Order& o = mut(r.queue.front());
    o.state = OrderState::Charging;
    if (o.started_at < 0) {
        o.started_at = now_;
    }
    r.session_start = now_;
    r.head_done_at = now_ + duration_for(o.remaining_kwh(), p);
    ++r.completion_version;
    if (!profile_.piles[idx(p)].metered) {  // a metered pile's meter ends the session
        timers_.push(Timer{r.head_done_at, TimerKind::Completion, p, r.completion_version});
    }
    emit(SessionStarted{o.id, p, now_, o.remaining_kwh()});
    order_changed(o.id);
}

void Station::stop_head(PileIndex p, StopReason reason, std::optional<double> metered_kwh) {
    PileRuntime& r = piles_[idx(p)];
    Order& o = mut(r.queue.front());
    ++r.completion_version;  // the pending completion timer is void now
    o.state = OrderState::Dispatched;
    BillId bill_id = kNone;
    const TimeMs elapsed = now_ - r.session_start;
    if (elapsed > 0) {
        const double power = profile_.piles[idx(p)].power;
        const double kwh = metered_kwh ? *metered_kwh
                           : reason == StopReason::Completed
                               ? o.remaining_kwh()
                               : std::min(o.remaining_kwh(), power * ms_to_hours(elapsed));
        bill_id = static_cast<BillId>(bills_.size());
        Bill& b = bills_.emplace_back();
        b.id = bill_id;
        b.order = o.id;
        b.pile = p;
        b.start = r.session_start;
        b.stop = now_;
        b.kwh = kwh;
        b.charge_fee = profile_.tariff.charging_fee(kwh, b.start, b.stop);
        b.service_fee = profile_.tariff.service_fee(kwh);
        b.reason = reason;
        o.delivered_kwh += kwh;
        o.charge_fee += b.charge_fee;
        o.service_fee += b.service_fee;
        if (o.last_bill == kNone) {
            o.first_bill = bill_id;
        } else {
            bills_[idx(o.last_bill)].next_of_order = bill_id;
        }
        o.last_bill = bill_id;
        r.totals.add(b);
    }
    if (reason == StopReason::Completed && !metered_kwh) {
        o.delivered_kwh = o.requested_kwh;  // the model's meter is exact at completion
    }
    emit(SessionStopped{o.id, p, now_, reason, bill_id});
}

void Station::refresh_pile(PileIndex p) {
    const PileRuntime& r = piles_[idx(p)];
    if (!available(r)) {
        index_->update(p, false, true, 0);
        return;
    }
    const bool full = r.queue.size() >= static_cast<std::size_t>(profile_.queue_length);
    const bool candidate = profile_.policy.candidates == Candidates::Best || !full;
    if (r.queue.empty()) {
        index_->update(p, candidate, true, now_);
        return;
    }
    TimeMs finish = r.head_done_at;
    for (std::size_t i = 1; i < r.queue.size(); ++i) {
        finish += duration_for(order(r.queue[i]).remaining_kwh(), p);
    }
    index_->update(p, candidate, false, finish);
}

// ---- calling, faults, recovery --------------------------------------------------------

bool Station::waiting_paused(Mode m) const {
    if (profile_.policy.fault_pause == FaultPause::Mode) {
        return !groups_[mode_index(m)].empty();
    }
    return !groups_[0].empty() || !groups_[1].empty();
}

std::optional<std::pair<OrderId, PileIndex>> Station::next_call(Mode m) const {
    const auto& group = groups_[mode_index(m)];
    OrderId id = kNone;
    if (!group.empty()) {
        id = group.front();
    } else if (!waiting_paused(m)) {
        id = wait_head_[mode_index(m)];
    }
    if (id == kNone) {
        return std::nullopt;
    }
    const auto p = index_->best(m, order(id).remaining_kwh(), now_);
    if (!p || piles_[idx(*p)].queue.size() >= static_cast<std::size_t>(profile_.queue_length)) {
        return std::nullopt;
    }
    return std::pair(id, *p);
}

bool Station::call_one(Mode m) {
    const auto call = next_call(m);
    if (!call) {
        return false;
    }
    auto& group = groups_[mode_index(m)];
    if (!group.empty()) {
        group.pop_front();
    } else {
        waiting_unlink(call->first);
    }
    pile_push(call->second, call->first);
    return true;
}

void Station::calling_pass() {
    // A call in one mode can empty a re-dispatch group and so unpause the other mode's
    // waiting area: repeat until neither mode can call.
    bool progress = true;
    while (progress) {
        progress = false;
        for (Mode m : {Mode::Fast, Mode::Slow}) {
            while (call_one(m)) {
                progress = true;
            }
        }
    }
}

void Station::take_down(PileIndex p, StopReason reason) {
    PileRuntime& r = piles_[idx(p)];
    const Mode m = profile_.piles[idx(p)].mode;
    if (!r.queue.empty() && order(r.queue.front()).state == OrderState::Charging) {
        stop_head(p, reason, std::nullopt);
    }
    std::vector<OrderId> displaced;
    displaced.swap(r.queue);
    if (profile_.policy.fault_strategy == FaultStrategy::TimeOrder) {
        auto more = pull_queued_cars(m, p);
        displaced.insert(displaced.end(), more.begin(), more.end());
    }
    auto& group = groups_[mode_index(m)];
    for (OrderId id : displaced) {
        Order& o = mut(id);
        o.place = Place::Redispatch;
        o.pile = kNone;
        o.state = OrderState::Dispatched;
        o.place_since = now_;
        group.push_back(id);
        order_changed(id);
    }
    if (profile_.policy.fault_strategy == FaultStrategy::TimeOrder) {
        sort_group(m);
    }
    refresh_pile(p);
}

void Station::bring_up(PileIndex p) {
    const PileRuntime& r = piles_[idx(p)];
    if (!available(r)) {
        return;
    }
    const Mode m = profile_.piles[idx(p)].mode;
    const auto joiners = pull_queued_cars(m, p);
    auto& group = groups_[mode_index(m)];
    for (OrderId id : joiners) {
        Order& o = mut(id);
        o.place = Place::Redispatch;
        o.pile = kNone;
        o.place_since = now_;
        group.push_back(id);
        order_changed(id);
    }
    if (!joiners.empty()) {
        sort_group(m);
    }
    refresh_pile(p);
}

std::vector<OrderId> Station::pull_queued_cars(Mode m, PileIndex except) {
    std::vector<OrderId> out;
    for (std::size_t i = 0; i < piles_.size(); ++i) {
        PileRuntime& r = piles_[i];
        const auto p = static_cast<PileIndex>(i);
        if (p == except || profile_.piles[i].mode != m || !available(r) || r.queue.size() < 2) {
            continue;
        }
        out.insert(out.end(), r.queue.begin() + 1, r.queue.end());
        r.queue.resize(1);
        refresh_pile(p);
        pile_changed(p);
    }
    return out;
}

void Station::sort_group(Mode m) {
    auto& g = groups_[mode_index(m)];
    std::stable_sort(g.begin(), g.end(), [this](OrderId a, OrderId b) {
        return order(a).issue_seq < order(b).issue_seq;
    });
}

}  // namespace station
