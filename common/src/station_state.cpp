#include "contract/station_state.hpp"

#include <algorithm>
#include <cmath>

#include "json_reader.hpp"
#include "station/time.hpp"

namespace contract {

using detail::JsonReader;
using detail::kMaxId;
using detail::kMaxPos;
using detail::kMaxTime;
using nlohmann::json;

namespace {

// Hours a car can plausibly spend at a station (about eleven years).
constexpr double kMaxHours = 100000;

// v in cents, rounded half up; the bias absorbs binary representation error (1.005 stored
// as 1.00499999...).
double rounded_cents(double v) {
    const double scaled = v * 100.0;
    return std::floor(scaled + 0.5 + 1e-7 * std::max(1.0, std::fabs(scaled)));
}

}  // namespace

double cents(double v) {
    return rounded_cents(v) / 100.0;
}

std::int64_t whole_cents(double v) {
    return static_cast<std::int64_t>(rounded_cents(v));
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

StateCar state_car(const station::Station& st, station::OrderId id) {
    const station::Order& o = st.order(id);
    const Charged fees = charged(st, id);
    const double kwh = st.progress(id).kwh;
    StateCar c;
    c.order = id;
    c.car = std::string(st.car_name(o));
    c.number = st.number_text(o);
    c.mode = o.mode;
    c.status = *parse_order_status(place_state(o));
    c.requested_kwh = o.requested_kwh;
    c.charged_kwh = cents(kwh);
    c.remaining_kwh = cents(std::max(0.0, o.requested_kwh - kwh));
    c.charge_fee = fees.charge_fee;
    c.service_fee = fees.service_fee;
    c.queued_hours = cents(station::ms_to_hours(st.now() - o.place_since));
    c.waited_hours = waited_hours(st, o);
    c.front_cars = st.front_cars(id);
    return c;
}

json car_json(const StateCar& c) {
    return json{{"order", c.order},
                {"car", c.car},
                {"number", c.number},
                {"mode", std::string(1, station::mode_letter(c.mode))},
                {"state", to_string(c.status)},
                {"requested_kwh", c.requested_kwh},
                {"charged_kwh", c.charged_kwh},
                {"remaining_kwh", c.remaining_kwh},
                {"charge_fee", c.charge_fee},
                {"service_fee", c.service_fee},
                {"fee", c.fee()},
                {"queued_hours", c.queued_hours},
                {"waited_hours", c.waited_hours},
                {"front_cars", c.front_cars}};
}

std::string read_car(const json& j, StateCar& c) {
    JsonReader r(j, "car");
    r.integer("order", c.order, 0, kMaxId);
    r.id("car", c.car);
    r.mode("mode", c.mode);
    r.queue_number("number", c.number, c.mode);
    std::string state;
    r.text("state", state, 16);
    const auto status = parse_order_status(state);
    r.check(status.has_value() && !is_closed(*status), "state", "an open order's state");
    c.status = status.value_or(OrderStatus::Waiting);
    r.number("requested_kwh", c.requested_kwh, 0, kMaxKwh);
    r.check(c.requested_kwh > 0, "requested_kwh", "above 0");
    r.number("charged_kwh", c.charged_kwh, 0, kMaxKwh);
    r.check(c.charged_kwh <= c.requested_kwh + station::metered_overshoot(c.requested_kwh) + 0.01,
            "charged_kwh", "at most the requested amount and a metered pile's overshoot");
    r.number("remaining_kwh", c.remaining_kwh, 0, kMaxKwh);
    r.check(c.remaining_kwh <= c.requested_kwh + 0.01, "remaining_kwh",
            "at most the requested amount");
    r.number("charge_fee", c.charge_fee, 0, kMaxYuan);
    r.number("service_fee", c.service_fee, 0, kMaxYuan);
    r.number("queued_hours", c.queued_hours, 0, kMaxHours);
    r.number("waited_hours", c.waited_hours, 0, kMaxHours);
    r.integer("front_cars", c.front_cars, 0, kMaxId);
    return r.error();
}

// Reads the array at `key` of `r`'s object with `read_one` per item; "" or the first problem.
template <typename T, typename ReadOne>
std::string read_list(JsonReader& r, const char* key, std::vector<T>& out, ReadOne read_one) {
    const json* list = r.field(key);
    if (list == nullptr) {
        return r.error();
    }
    if (!list->is_array()) {
        r.fail(key, "an array");
        return r.error();
    }
    out.clear();
    out.reserve(list->size());
    for (const json& item : *list) {
        T t;
        if (std::string e = read_one(item, t); !e.empty()) {
            return std::string(key) + ": " + e;
        }
        out.push_back(std::move(t));
    }
    return "";
}

std::optional<station::PileState> parse_pile_state(std::string_view s) {
    for (auto p : {station::PileState::Off, station::PileState::Work, station::PileState::Rest,
                   station::PileState::Fault}) {
        if (station::to_string(p) == s) {
            return p;
        }
    }
    return std::nullopt;
}

std::string read_pile(const json& j, StatePile& p) {
    JsonReader r(j, "pile");
    r.id("id", p.id);
    r.text("name", p.name, 64);
    r.mode("mode", p.mode);
    r.number("power_kw", p.power_kw, 0, kMaxKwh);
    r.check(p.power_kw > 0, "power_kw", "above 0");
    std::string state;
    r.text("state", state, 8);
    const auto parsed = parse_pile_state(state);
    r.check(parsed.has_value(), "state", "OFF, WORK, REST or FAULT");
    p.state = parsed.value_or(station::PileState::Rest);
    if (const json* t = r.field("totals")) {
        JsonReader tr(*t, "totals");
        tr.integer("charges", p.totals.charges, 0, kMaxId);
        tr.number("hours", p.totals.hours, 0, kMaxHours);
        tr.number("kwh", p.totals.kwh, 0, kMaxKwh * kMaxId);
        tr.number("charge_fee", p.totals.charge_fee, 0, kMaxYuan);
        tr.number("service_fee", p.totals.service_fee, 0, kMaxYuan);
        if (!tr.ok()) {
            return tr.error();
        }
    }
    if (!r.ok()) {
        return r.error();
    }
    return read_list(r, "queue", p.queue, read_car);
}

}  // namespace

double StateCar::fee() const {
    return cents(charge_fee + service_fee);
}

StationState station_state(const station::Station& st, std::int64_t revision) {
    StationState s;
    s.revision = revision;
    s.at_ms = st.now();
    s.profile = st.profile().name;
    for (std::size_t p = 0; p < st.pile_count(); ++p) {
        const auto pi = static_cast<station::PileIndex>(p);
        const auto& spec = st.pile_spec(pi);
        StatePile pile;
        pile.id = spec.id;
        pile.name = spec.name;
        pile.mode = spec.mode;
        pile.power_kw = spec.power;
        pile.state = st.pile_state(pi);
        for (station::OrderId id : st.pile_queue(pi)) {
            pile.queue.push_back(state_car(st, id));
        }
        const station::PileTotals& t = st.pile_totals(pi);
        pile.totals = StatePileTotals{t.charges, cents(t.hours()), cents(t.kwh),
                                      cents(t.charge_fee), cents(t.service_fee)};
        s.piles.push_back(std::move(pile));
    }
    for (station::OrderId id : st.waiting_area()) {
        s.waiting.push_back(state_car(st, id));
    }
    for (station::Mode m : {station::Mode::Fast, station::Mode::Slow}) {
        for (station::OrderId id : st.redispatch_group(m)) {
            s.redispatch.push_back(state_car(st, id));
        }
    }
    return s;
}

json to_json_value(const StationState& s) {
    json piles = json::array();
    for (const StatePile& p : s.piles) {
        json queue = json::array();
        for (const StateCar& c : p.queue) {
            queue.push_back(car_json(c));
        }
        const StatePileTotals& t = p.totals;
        piles.push_back(json{{"id", p.id},
                             {"name", p.name},
                             {"mode", std::string(1, station::mode_letter(p.mode))},
                             {"power_kw", p.power_kw},
                             {"state", station::to_string(p.state)},
                             {"queue", std::move(queue)},
                             {"totals", json{{"charges", t.charges},
                                             {"hours", t.hours},
                                             {"kwh", t.kwh},
                                             {"charge_fee", t.charge_fee},
                                             {"service_fee", t.service_fee},
                                             {"total_fee", cents(t.charge_fee + t.service_fee)}}}});
    }
    auto cars = [](const std::vector<StateCar>& list) {
        json a = json::array();
        for (const StateCar& c : list) {
            a.push_back(car_json(c));
        }
        return a;
    };
    json j = time_fields(s.at_ms);
    j["run"] = s.run;
    j["head"] = s.head;
    j["revision"] = s.revision;
    j["profile"] = s.profile;
    j["piles"] = std::move(piles);
    j["waiting"] = cars(s.waiting);
    j["redispatch"] = cars(s.redispatch);
    return j;
}

std::string parse_value(const json& j, StationState& s) {
    JsonReader r(j, "station state");
    r.text("run", s.run, 64);
    r.integer("head", s.head, 0, kMaxPos);
    r.integer("revision", s.revision, 0, kMaxPos);
    r.integer("at_ms", s.at_ms, 0, kMaxTime);
    r.text("profile", s.profile, 64);
    if (!r.ok()) {
        return r.error();
    }
    for (auto [key, list] : {std::pair{"waiting", &s.waiting}, {"redispatch", &s.redispatch}}) {
        if (std::string e = read_list(r, key, *list, read_car); !e.empty()) {
            return e;
        }
    }
    return read_list(r, "piles", s.piles, read_pile);
}

std::string parse(std::string_view text, StationState& s) {
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) {
        return "station state: not JSON";
    }
    return parse_value(j, s);
}

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
