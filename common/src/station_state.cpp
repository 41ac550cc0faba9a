#include "contract/station_state.hpp"

#include <algorithm>
#include <cmath>

#include "station/time.hpp"

namespace contract {

using nlohmann::json;

double cents(double v) {
    const double scaled = v * 100.0;
    return std::floor(scaled + 0.5 + 1e-7 * std::max(1.0, std::fabs(scaled))) / 100.0;
}

namespace {

json time_fields(station::TimeMs t) {
    return json{{"at_ms", t}, {"time", station::format_datetime(t)}};
}

std::string_view place_state(const station::Order& o) {
    if (o.place == station::Place::Redispatch) {
        return "REDISPATCH";
    }
    return station::to_string(o.state);
}

// Hours from the request until charging began (or until now, if it has not).
double waited_hours(const station::Station& st, const station::Order& o) {
    const station::TimeMs until = o.started_at >= 0 ? o.started_at : st.now();
    return cents(station::ms_to_hours(until - o.created_at));
}

// What an order is charged so far, as its bills show it: each bill's charging fee and
// service fee rounded to the cent, plus the session in progress rounded the same way; the
// fee is the sum of the parts. Every view of an order, its bills and the balance add up.
struct Charged {
    double charge_fee = 0;
    double service_fee = 0;
    double fee() const { return charge_fee + service_fee; }
};
Charged charged(const station::Station& st, station::OrderId id) {
    const station::Order& o = st.order(id);
    Charged c;
    for (auto b = o.first_bill; b != station::kNone; b = st.bill(b).next_of_order) {
        c.charge_fee += cents(st.bill(b).charge_fee);
        c.service_fee += cents(st.bill(b).service_fee);
    }
    if (o.active()) {
        const auto pr = st.progress(id);
        c.charge_fee += cents(std::max(0.0, pr.charge_fee - o.charge_fee));
        c.service_fee += cents(std::max(0.0, pr.service_fee - o.service_fee));
    }
    // Sums of whole cents, kept whole.
    c.charge_fee = cents(c.charge_fee);
    c.service_fee = cents(c.service_fee);
    return c;
}

json car_entry(const station::Station& st, station::OrderId id, bool remaining) {
    const station::Order& o = st.order(id);
    const Charged fees = charged(st, id);
    return json{{"order", id},
                {"car", st.car_name(o)},
                {"number", st.number_text(o)},
                {"mode", std::string(1, station::mode_letter(o.mode))},
                {"kwh", cents(remaining ? o.remaining_kwh() : o.requested_kwh)},
                {"requested_kwh", o.requested_kwh},
                {"charged_kwh", cents(o.delivered_kwh)},
                {"charge_fee", fees.charge_fee},
                {"service_fee", fees.service_fee},
                {"fee", cents(fees.fee())},
                {"queued_hours", cents(station::ms_to_hours(st.now() - o.place_since))},
                {"waited_hours", waited_hours(st, o)},
                {"front_cars", st.front_cars(id)}};
}

json totals(const station::PileTotals& t) {
    return json{{"charges", t.charges},
                {"hours", cents(t.hours())},
                {"kwh", cents(t.kwh)},
                {"charge_fee", cents(t.charge_fee)},
                {"service_fee", cents(t.service_fee)},
                {"total_fee", cents(t.total_fee())}};
}

}  // namespace

OrderUpdate order_update(const station::Station& st, station::OrderId id, std::int64_t pos) {
    const station::Order& o = st.order(id);
    const auto pr = st.progress(id);
    OrderUpdate u;
    u.order = id;
    u.car = std::string(st.car_name(o));
    u.number = st.number_text(o);
    u.mode = o.mode;
    u.status = *parse_order_status(place_state(o));
    u.requested_kwh = o.requested_kwh;
    u.charged_kwh = cents(pr.kwh);
    const Charged fees = charged(st, id);
    u.charge_fee = fees.charge_fee;
    u.service_fee = fees.service_fee;
    u.front_cars = st.front_cars(id);
    // A closed order names the pile it last charged at, so that every view agrees.
    if (o.pile != station::kNone) {
        u.pile = st.pile_spec(o.pile).id;
    } else if (o.last_bill != station::kNone) {
        u.pile = st.pile_spec(st.bill(o.last_bill).pile).id;
    }
    u.created_ms = o.created_at;
    auto when = [](station::TimeMs t) {
        return t < 0 ? std::optional<station::TimeMs>() : std::optional<station::TimeMs>(t);
    };
    u.dispatched_ms = when(o.dispatched_at);
    u.started_ms = when(o.started_at);
    u.closed_ms = o.active() ? std::optional<station::TimeMs>() : when(o.closed_at);
    u.pos = pos;
    return u;
}

BillUpdate bill_update(const station::Station& st, const station::Bill& b, std::int64_t pos) {
    BillUpdate u;
    u.bill = b.id;
    u.order = b.order;
    u.car = std::string(st.car_name(st.order(b.order)));
    u.pile = st.pile_spec(b.pile).id;
    u.start_ms = b.start;
    u.stop_ms = b.stop;
    u.kwh = b.kwh;
    u.hours = b.hours();
    u.charge_fee = b.charge_fee;
    u.service_fee = b.service_fee;
    u.reason = b.reason;
    u.pos = pos;
    return u;
}

json station_state(const station::Station& st, std::int64_t revision) {
    json piles = json::array();
    for (std::size_t p = 0; p < st.pile_count(); ++p) {
        const auto pi = static_cast<station::PileIndex>(p);
        const auto& spec = st.pile_spec(pi);
        json queue = json::array();
        for (station::OrderId id : st.pile_queue(pi)) {
            const auto pr = st.progress(id);
            const Charged fees = charged(st, id);
            const station::Order& o = st.order(id);
            queue.push_back(
                json{{"order", id},
                     {"car", st.car_name(o)},
                     {"number", st.number_text(o)},
                     {"state", station::to_string(o.state)},
                     {"requested_kwh", o.requested_kwh},
                     {"kwh", cents(pr.kwh)},
                     {"charge_fee", fees.charge_fee},
                     {"service_fee", fees.service_fee},
                     {"fee", cents(fees.fee())},
                     {"queued_hours", cents(station::ms_to_hours(st.now() - o.place_since))},
                     {"waited_hours", waited_hours(st, o)}});
        }
        piles.push_back(json{{"id", spec.id},
                             {"name", spec.name},
                             {"mode", std::string(1, station::mode_letter(spec.mode))},
                             {"power_kw", spec.power},
                             {"state", station::to_string(st.pile_state(pi))},
                             {"queue", std::move(queue)},
                             {"totals", totals(st.pile_totals(pi))}});
    }
    json waiting = json::array();
    for (station::OrderId id : st.waiting_area()) {
        waiting.push_back(car_entry(st, id, false));
    }
    json redispatch = json::array();
    for (station::Mode m : {station::Mode::Fast, station::Mode::Slow}) {
        for (station::OrderId id : st.redispatch_group(m)) {
            redispatch.push_back(car_entry(st, id, true));
        }
    }
    json j = time_fields(st.now());
    j["revision"] = revision;
    j["profile"] = st.profile().name;
    j["piles"] = std::move(piles);
    j["waiting"] = std::move(waiting);
    j["redispatch"] = std::move(redispatch);
    return j;
}

json bill_view(const station::Station& st, const station::Bill& b) {
    return json{{"bill", b.id},
                {"order", b.order},
                {"car", st.car_name(st.order(b.order))},
                {"pile", st.pile_spec(b.pile).id},
                {"start", time_fields(b.start)},
                {"stop", time_fields(b.stop)},
                {"kwh", b.kwh},
                {"hours", b.hours()},
                {"charge_fee", b.charge_fee},
                {"service_fee", b.service_fee},
                {"total_fee", b.total_fee()},
                {"reason", station::to_string(b.reason)}};
}

json bills_view(const station::Station& st) {
    json orders = json::array();
    for (const station::Order& o : st.orders()) {
        json sessions = json::array();
        for (auto b = o.first_bill; b != station::kNone; b = st.bill(b).next_of_order) {
            sessions.push_back(bill_view(st, st.bill(b)));
        }
        orders.push_back(json{{"order", o.id},
                              {"car", st.car_name(o)},
                              {"number", st.number_text(o)},
                              {"state", o.active() ? place_state(o) : station::to_string(o.state)},
                              {"kwh", o.delivered_kwh},
                              {"charge_fee", o.charge_fee},
                              {"service_fee", o.service_fee},
                              {"total_fee", o.charge_fee + o.service_fee},
                              {"closed", o.active() ? json() : time_fields(o.closed_at)},
                              {"sessions", std::move(sessions)}});
    }
    return json{{"orders", std::move(orders)}};
}

}  // namespace contract
