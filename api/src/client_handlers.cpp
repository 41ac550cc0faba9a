// The client's cars, orders and bills.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "api/api_app.hpp"
#include "api/body_fields.hpp"
#include "api/log_follower.hpp"
#include "api/money.hpp"
#include "api_internal.hpp"
#include "cli/cli.hpp"
#include "station/time.hpp"

namespace api {

using nlohmann::json;
using namespace detail;

namespace {

// Sane bounds (issue #9): no battery below 0.1 kWh, no request below what a bill shows
// (0.01 kWh); a charge level is 0 or at least 0.01 kWh (5e-324 is not a charge level).
constexpr double kMinCapacityKwh = 0.1;
constexpr double kMinApplyKwh = 0.01;
bool sane_kwh(double kwh) {
    return kwh == 0 || kwh >= 0.01;
}

constexpr double kEpsilon = 1e-9;

// `charging`: what the car has received so far in an order still open (a closed order's
// energy is in current_kwh already), so that every view shows the same battery.
json car_json(const CarRecord& car, double charging) {
    return json{{"car_id", std::to_string(car.id)},
                {"user_id", std::to_string(car.user_id)},
                {"name", car.name},
                {"power_capacity", car.capacity_kwh},
                {"power_current", money(std::min(car.capacity_kwh, car.current_kwh + charging))}};
}

// The user's car, or nullopt for an unknown id or another user's car (the two answers are
// the same, so ids of other users' cars are not disclosed).
std::optional<CarRecord> own_car(StorePort& store, std::int64_t user_id, std::int64_t car_id) {
    auto car = store.car(car_id);
    if (!car || car->user_id != user_id) {
        return std::nullopt;
    }
    return car;
}

// The scheduler's id of an order ("RUN/ORDER").
std::int64_t station_order_id(const std::string& key) {
    return std::stoll(key.substr(key.rfind('/') + 1));
}
std::string station_run(const std::string& key) {
    return key.substr(0, key.rfind('/'));
}

// Yuan per kWh to four decimals.
double unit_price(Cents fee, double kwh) {
    return kwh > kEpsilon ? std::round(static_cast<double>(fee) / kwh * 100) / 10000 : 0.0;
}

std::optional<station::Mode> mode_of(const std::string& m) {
    if (m == "F") {
        return station::Mode::Fast;
    }
    if (m == "T") {
        return station::Mode::Slow;
    }
    return std::nullopt;
}

}  // namespace

std::optional<OrderRecord> ApiApp::own_order(Context& c, std::int64_t order_id) {
    auto order = store_.order(order_id);
    if (!order || order->user_id != c.user->id) {
        return std::nullopt;
    }
    Served* at = served(order->station);
    if (at == nullptr) {
        return std::nullopt;  // its station's scheduler is not one this API asks
    }
    c.at = at;
    return order;
}

std::optional<OrderRecord> ApiApp::open_order(std::int64_t car_id) {
    auto o = store_.open_order_of_car(car_id);
    if (!o) {
        return o;
    }
    if (Served* at = served(o->station)) {
        const auto snap = at->view.snapshot();
        if (!snap->run().empty() && station_run(o->station_key) != snap->run()) {
            return std::nullopt;
        }
    }
    return o;
}

json ApiApp::orders_json(std::int64_t user_id, bool open, const Served* only, std::size_t limit) {
    std::map<const Served*, std::shared_ptr<const StationSnapshot>> views;
    json orders = json::array();
    for (const OrderRecord& o : store_.orders_of(user_id, open)) {
        if (orders.size() >= limit) {
            break;
        }
        Served* at = served(o.station);
        if (at == nullptr || (only != nullptr && at != only)) {
            continue;
        }
        auto& snap = views[at];
        if (!snap) {
            snap = current_view(*at);
        }
        orders.push_back(order_json(o, *snap));
    }
    return orders;
}

json ApiApp::order_json(const OrderRecord& stored, const StationSnapshot& snap) const {
    OrderRecord o = stored;
    std::int64_t front_cars = o.closed() ? 0 : o.front_cars;
    if (!o.closed() && station_run(o.station_key) == snap.run() && snap.state.head >= o.log_pos) {
        // An open order is shown as the scheduler last published it, unless the stored
        // row is newer than that (a change the state does not show yet).
        if (const auto it = snap.orders.find(station_order_id(o.station_key));
            it != snap.orders.end()) {
            const contract::StateCar& live = it->second.car;
            o.state = std::string(contract::to_string(live.status));
            o.mode = std::string(1, station::mode_letter(live.mode));
            o.number_text = live.number;
            o.number = std::stoll(live.number.substr(1));
            o.apply_kwh = live.requested_kwh;
            o.charge_kwh = live.charged_kwh;
            o.charge_fee_cents = to_cents(live.charge_fee);
            o.service_fee_cents = to_cents(live.service_fee);
            o.pile = it->second.pile;
            front_cars = live.front_cars;
        }
    }
    // §9: a car in a re-dispatch group is DISPATCHED with no pile.
    if (o.state == "REDISPATCH") {
        o.state = "DISPATCHED";
        o.pile.clear();
    }
    json j{{"id", std::to_string(o.id)},
           {"user_id", std::to_string(o.user_id)},
           {"car_id", std::to_string(o.car_id)},
           {"mode", o.mode},
           {"apply_kwh", o.apply_kwh},
           {"charge_kwh", money(o.charge_kwh)},
           {"state", o.state},
           {"charge_price", unit_price(o.charge_fee_cents, o.charge_kwh)},
           {"service_price", unit_price(o.service_fee_cents, o.charge_kwh)},
           {"charge_fee", yuan(o.charge_fee_cents)},
           {"service_fee", yuan(o.service_fee_cents)},
           {"fee", yuan(o.charge_fee_cents + o.service_fee_cents)},
           {"create_time", o.create_time},
           {"dispatch_time", o.dispatch_time},
           {"charge_id", o.pile},
           {"start_time", o.start_time},
           {"finish_time", o.finish_time},
           {"number", o.number},
           {"queue_number", o.number_text},
           {"front_cars", front_cars}};
    if (!o.station.empty()) {
        j["station"] = o.station;  // an API of several stations: which one it is at
    }
    return j;
}

// ---- cars ----------------------------------------------------------------------------

json ApiApp::cars_json(std::int64_t user_id) {
    json cars = json::array();
    for (const CarRecord& car : store_.cars_of(user_id)) {
        double charging = 0;
        const auto o = open_order(car.id);
        if (Served* at = o ? served(o->station) : nullptr) {
            const auto snap = current_view(*at);
            if (const auto it = snap->orders.find(station_order_id(o->station_key));
                it != snap->orders.end()) {
                charging = it->second.car.charged_kwh;
            }
        }
        cars.push_back(car_json(car, charging));
    }
    return cars;
}

HttpResponse ApiApp::get_cars(Context& c) {
    return success("查询成功", cars_json(c.user->id));
}

HttpResponse ApiApp::post_car(Context& c) {
    BodyFields f(c.body);
    const auto name = f.text("name", Need::Required, 32);
    const auto capacity = f.number("power_capacity", Need::Required);
    const auto current = f.number("power_current", Need::Required);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    if (*capacity < kMinCapacityKwh || *capacity > options_.max_capacity_kwh) {
        return bad_request("总电量 power_capacity 必须在 0.1 与 " +
                           std::to_string(static_cast<int>(options_.max_capacity_kwh)) +
                           " kWh 之间");
    }
    if (!sane_kwh(*current) || *current > *capacity) {
        return bad_request("当前电量 power_current 必须在 0 与总电量之间");
    }
    const auto id = store_.add_car(c.user->id, *name, *capacity, *current);
    return success("添加成功", json{{"car_id", std::to_string(id)}});
}

HttpResponse ApiApp::patch_car(Context& c) {
    BodyFields f(c.body);
    const auto car_id = f.id("car_id", Need::Required);
    const auto name = f.text("name", Need::Optional, 32);
    const auto capacity = f.number("power_capacity", Need::Optional);
    const auto current = f.number("power_current", Need::Optional);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    if (!name && !capacity && !current) {
        return bad_request("没有要修改的内容（name、power_capacity 或 power_current）");
    }
    auto car = own_car(store_, c.user->id, *car_id);
    if (!car) {
        return refusal("车辆不存在", "car_not_found");
    }
    if ((capacity || current) && open_order(car->id)) {
        return refusal("车辆有未完成的充电订单，不能修改电量", "car_busy");
    }
    car->name = name.value_or(car->name);
    car->capacity_kwh = capacity.value_or(car->capacity_kwh);
    car->current_kwh = current.value_or(car->current_kwh);
    if (car->capacity_kwh < kMinCapacityKwh || car->capacity_kwh > options_.max_capacity_kwh) {
        return bad_request("总电量 power_capacity 必须在 0.1 与 " +
                           std::to_string(static_cast<int>(options_.max_capacity_kwh)) +
                           " kWh 之间");
    }
    if (!sane_kwh(car->current_kwh) || car->current_kwh > car->capacity_kwh) {
        return bad_request("当前电量 power_current 必须在 0 与总电量之间");
    }
    store_.update_car(*car);
    return success("修改成功");
}

HttpResponse ApiApp::delete_car(Context& c) {
    BodyFields f(c.body);
    const auto car_id = f.id("car_id", Need::Required);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    const auto car = own_car(store_, c.user->id, *car_id);
    if (!car) {
        return refusal("车辆不存在", "car_not_found");
    }
    if (open_order(car->id)) {
        return refusal("车辆有未完成的充电订单，不能删除", "car_busy");
    }
    store_.delete_car(car->id);
    return success("删除成功");
}

// ---- orders --------------------------------------------------------------------------

HttpResponse ApiApp::get_orders(Context& c) {
    const std::string mode = query_param(c.request, "mode");
    if (mode != "CURRENT" && mode != "HISTORY") {
        return bad_request("参数 mode 必须是 CURRENT 或 HISTORY");
    }
    return success("查询成功", orders_json(c.user->id, mode == "CURRENT", c.named ? c.at : nullptr,
                                           std::numeric_limits<std::size_t>::max()));
}

HttpResponse ApiApp::post_order(Context& c) {
    return once_per_key(c, &ApiApp::create_order);
}
HttpResponse ApiApp::patch_order(Context& c) {
    return once_per_key(c, &ApiApp::change_order);
}
HttpResponse ApiApp::delete_order(Context& c) {
    return once_per_key(c, &ApiApp::cancel_order);
}

HttpResponse ApiApp::create_order(Context& c, const std::string& request_id) {
    BodyFields f(c.body);
    const auto car_id = f.id("car_id", Need::Required);
    const auto mode_text = f.text("mode", Need::Required, 1);
    const auto kwh = f.number("apply_kwh", Need::Required);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    const auto mode = mode_of(*mode_text);
    if (!mode) {
        return bad_request("充电模式 mode 必须是 F（快充）或 T（慢充）");
    }
    if (*kwh < kMinApplyKwh) {
        return bad_request("申请充电量 apply_kwh 必须至少 0.01 kWh");
    }
    const auto car = own_car(store_, c.user->id, *car_id);
    if (!car) {
        return refusal("车辆不存在", "car_not_found");
    }
    contract::SchedulerRequest r;
    r.id = request_id;
    r.op = contract::RequestOp::Submit;
    r.car = std::to_string(car->id);
    r.mode = mode;
    r.kwh = *kwh;
    HttpResponse failure;
    const auto reply = outcome(c, r, failure, [&]() -> std::optional<HttpResponse> {
        const double room = car->capacity_kwh - car->current_kwh;
        if (*kwh > room + kEpsilon) {
            return refusal("申请充电量超过车辆可充电量（" + json(money(room)).dump() + " kWh）",
                           "amount_exceeds_capacity");
        }
        if (open_order(car->id)) {
            return refusal(refusal_message("car_already_active"), "car_already_active");
        }
        return claim_car(*c.at, car->id);
    });
    if (!reply) {
        return failure;
    }
    const auto order = applied_order(*c.at, *reply, c.user->id);
    if (!order) {
        return http_error(500, "订单保存失败", "internal_error");
    }
    return success("充电请求已提交", order_json(*order, *c.at->view.snapshot()));
}

std::optional<HttpResponse> ApiApp::claim_car(Served& at, std::int64_t car_id) {
    if (stations_.size() == 1 && !store_.shared()) {
        // One scheduler takes every order of this database: it alone decides between
        // requests for a car, so a claim would only cost a synchronous commit per order.
        return std::nullopt;
    }
    // Until the request's deadline (change() sets it just after this), plus its answer's
    // retries: their deadline is the same.
    const CarClaim mine{car_id, at.id(), now_ms() + options_.scheduler_timeout.count()};
    const auto not_now = [] {
        return http_error(409, "该车辆在另一充电站的充电请求尚无结果，请稍后重试", "car_claimed");
    };
    // Twice at most: a claim renewed or taken over meanwhile is settled once more.
    for (int round = 0; round < 2; ++round) {
        const CarClaim held = store_.claim_car(mine);
        const ClaimStanding standing = claim_standing(held, mine, now_ms());
        if (standing == ClaimStanding::Ours) {
            return std::nullopt;
        }
        Served* there = served(held.station);
        if (standing == ClaimStanding::InFlight || there == nullptr) {
            return not_now();  // (a station not served here cannot be asked)
        }
        // Its state now, past the deadline of every request made under the claim: a car
        // taken there is in it for as long as its order is open.
        contract::SchedulerRequest question;
        question.op = contract::RequestOp::State;
        std::optional<contract::StationState> state;
        if (const auto reply = ask(*there, question); reply && reply->ok) {
            contract::StationState s;
            if (contract::parse_value(reply->data, s).empty()) {
                state = std::move(s);
            }
        }
        switch (claim_fate(state, car_id)) {
            case ClaimFate::Busy:
                return refusal(refusal_message("car_already_active"), "car_already_active");
            case ClaimFate::Unknown:
                return not_now();
            case ClaimFate::Free:
                if (store_.take_over_claim(held, mine)) {
                    return std::nullopt;
                }
                break;
        }
    }
    return not_now();
}

HttpResponse ApiApp::change_order(Context& c, const std::string& request_id) {
    BodyFields f(c.body);
    const auto order_id = f.id("id", Need::Required);
    const auto mode_text = f.text("mode", Need::Optional, 1);
    const auto kwh = f.number("apply_kwh", Need::Optional);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    if (!mode_text && !kwh) {
        return bad_request("没有要修改的内容（mode 或 apply_kwh）");
    }
    std::optional<station::Mode> mode;
    if (mode_text) {
        mode = mode_of(*mode_text);
        if (!mode) {
            return bad_request("充电模式 mode 必须是 F（快充）或 T（慢充）");
        }
    }
    if (kwh && *kwh < kMinApplyKwh) {
        return bad_request("申请充电量 apply_kwh 必须至少 0.01 kWh");
    }
    const auto order = own_order(c, *order_id);
    if (!order) {
        return refusal("订单不存在", "order_not_found");
    }
    contract::SchedulerRequest r;
    r.id = request_id;
    r.op = contract::RequestOp::Change;
    r.car = std::to_string(order->car_id);
    r.order = station_order_id(order->station_key);
    r.mode = mode;
    r.kwh = kwh;
    HttpResponse failure;
    const auto reply = outcome(c, r, failure, [&]() -> std::optional<HttpResponse> {
        if (order->closed()) {
            return refusal("订单已结束，不能修改", "order_not_open");
        }
        if (kwh) {
            const auto car = store_.car(order->car_id);
            const double room = car ? car->capacity_kwh - car->current_kwh : 0;
            if (*kwh > room + kEpsilon) {
                return refusal("申请充电量超过车辆可充电量（" + json(money(room)).dump() + " kWh）",
                               "amount_exceeds_capacity");
            }
        }
        return std::nullopt;
    });
    if (!reply) {
        return failure;
    }
    return success("修改成功",
                   order_json(answered_order(*c.at, *reply, *order), *c.at->view.snapshot()));
}

OrderRecord ApiApp::answered_order(Served& at, const contract::SchedulerReply& reply,
                                   const OrderRecord& before) {
    return applied_order(at, reply, before.user_id, before.id).value_or(before);
}

HttpResponse ApiApp::cancel_order(Context& c, const std::string& request_id) {
    BodyFields f(c.body);
    const auto order_id = f.id("id", Need::Required);
    if (!f.ok()) {
        return bad_request(f.error());
    }
    const auto order = own_order(c, *order_id);
    if (!order) {
        return refusal("订单不存在", "order_not_found");
    }
    contract::SchedulerRequest r;
    r.id = request_id;
    r.op = contract::RequestOp::Cancel;
    r.car = std::to_string(order->car_id);
    r.order = station_order_id(order->station_key);
    HttpResponse failure;
    const auto reply = outcome(c, r, failure, [&]() -> std::optional<HttpResponse> {
        if (order->closed()) {
            return refusal("订单已结束", "order_not_open");
        }
        return std::nullopt;
    });
    if (!reply) {
        return failure;
    }
    return success("订单已结束",
                   order_json(answered_order(*c.at, *reply, *order), *c.at->view.snapshot()));
}

HttpResponse ApiApp::get_bills(Context& c) {
    const auto order_id = parse_id(query_param(c.request, "order_id"));
    if (!order_id) {
        return bad_request("参数 order_id 必须是订单编号");
    }
    const auto order = own_order(c, *order_id);
    if (!order) {
        return refusal("订单不存在", "order_not_found");
    }
    json bills = json::array();
    for (const BillRecord& b : store_.bills_of_order(order->station, order->station_key)) {
        bills.push_back(json{{"id", std::to_string(b.id)},
                             {"order_id", std::to_string(order->id)},
                             {"charge_id", b.pile},
                             {"charge_kwh", money(b.kwh)},
                             {"charge_duration", money(b.hours)},
                             {"start_time", station::format_datetime(b.start_ms)},
                             {"stop_time", station::format_datetime(b.stop_ms)},
                             {"create_time", station::format_datetime(b.stop_ms)},
                             {"charge_fee", yuan(b.charge_fee_cents)},
                             {"service_fee", yuan(b.service_fee_cents)},
                             {"fee", yuan(b.charge_fee_cents + b.service_fee_cents)},
                             {"reason", b.reason}});
    }
    return success("查询成功", bills);
}

}  // namespace api
