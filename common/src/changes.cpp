#include "contract/changes.hpp"

#include <algorithm>

#include "json_reader.hpp"

namespace contract {

using detail::JsonReader;
using detail::kMaxId;
using detail::kMaxPos;
using detail::kMaxTime;
using nlohmann::json;

namespace {

const std::pair<OrderStatus, std::string_view> kStatuses[] = {
    {OrderStatus::Waiting, "WAITING"},       {OrderStatus::Dispatched, "DISPATCHED"},
    {OrderStatus::Redispatch, "REDISPATCH"}, {OrderStatus::Charging, "CHARGING"},
    {OrderStatus::Finished, "FINISHED"},     {OrderStatus::Cancelled, "CANCELLED"},
};
constexpr station::StopReason kReasons[] = {
    station::StopReason::Completed, station::StopReason::Cancelled, station::StopReason::Fault,
    station::StopReason::SwitchedOff};

void put_time(json& j, const char* key, const std::optional<station::TimeMs>& t) {
    j[key] = t ? json(*t) : json();
}

void read_time(JsonReader& r, const char* key, std::optional<station::TimeMs>& out) {
    if (!r.has(key)) {
        out.reset();
        return;
    }
    std::int64_t t = 0;
    r.integer(key, t, 0, kMaxTime);
    out = t;
}

}  // namespace

std::string_view to_string(OrderStatus s) {
    for (const auto& [value, name] : kStatuses) {
        if (value == s) {
            return name;
        }
    }
    return "?";
}

std::optional<OrderStatus> parse_order_status(std::string_view s) {
    for (const auto& [value, name] : kStatuses) {
        if (name == s) {
            return value;
        }
    }
    return std::nullopt;
}

json to_json_value(const OrderUpdate& m) {
    json j{{"order", m.order},
           {"car", m.car},
           {"number", m.number},
           {"mode", std::string(1, station::mode_letter(m.mode))},
           {"state", to_string(m.status)},
           {"requested_kwh", m.requested_kwh},
           {"charged_kwh", m.charged_kwh},
           {"charge_fee", m.charge_fee},
           {"service_fee", m.service_fee},
           {"front_cars", m.front_cars},
           {"pile", m.pile},
           {"created_ms", m.created_ms},
           {"pos", m.pos}};
    put_time(j, "dispatched_ms", m.dispatched_ms);
    put_time(j, "started_ms", m.started_ms);
    put_time(j, "closed_ms", m.closed_ms);
    return j;
}

std::string parse_value(const json& j, OrderUpdate& m) {
    JsonReader r(j, "order");
    r.integer("order", m.order, 0, kMaxId);
    r.id("car", m.car);
    r.mode("mode", m.mode);
    r.queue_number("number", m.number, m.mode);
    std::string state;
    r.text("state", state, 16);
    const auto status = parse_order_status(state);
    r.check(status.has_value(), "state", "a known order state");
    m.status = status.value_or(OrderStatus::Waiting);
    r.number("requested_kwh", m.requested_kwh, 0, kMaxKwh);
    r.check(m.requested_kwh > 0, "requested_kwh", "above 0");
    r.number("charged_kwh", m.charged_kwh, 0, kMaxKwh);
    r.check(m.charged_kwh <= m.requested_kwh + station::metered_overshoot(m.requested_kwh) + 0.01,
            "charged_kwh", "at most the requested amount and a metered pile's overshoot");
    r.number("charge_fee", m.charge_fee, 0, kMaxYuan);
    r.number("service_fee", m.service_fee, 0, kMaxYuan);
    r.integer("front_cars", m.front_cars, 0, kMaxId);
    r.id("pile", m.pile, true);
    r.integer("created_ms", m.created_ms, 0, kMaxTime);
    read_time(r, "dispatched_ms", m.dispatched_ms);
    read_time(r, "started_ms", m.started_ms);
    read_time(r, "closed_ms", m.closed_ms);
    r.check(is_closed(m.status) == m.closed_ms.has_value(), "closed_ms",
            "given exactly when the order is closed");
    r.integer("pos", m.pos, 1, kMaxPos);
    return r.error();
}

json to_json_value(const BillUpdate& m) {
    return json{{"bill", m.bill},
                {"order", m.order},
                {"car", m.car},
                {"pile", m.pile},
                {"start_ms", m.start_ms},
                {"stop_ms", m.stop_ms},
                {"kwh", m.kwh},
                {"hours", m.hours},
                {"charge_fee", m.charge_fee},
                {"service_fee", m.service_fee},
                {"reason", station::to_string(m.reason)},
                {"pos", m.pos}};
}

std::string parse_value(const json& j, BillUpdate& m) {
    JsonReader r(j, "bill");
    r.integer("bill", m.bill, 0, kMaxId);
    r.integer("order", m.order, 0, kMaxId);
    r.id("car", m.car);
    r.id("pile", m.pile);
    r.integer("start_ms", m.start_ms, 0, kMaxTime);
    r.integer("stop_ms", m.stop_ms, 0, kMaxTime);
    r.check(m.stop_ms >= m.start_ms, "stop_ms", "no earlier than start_ms");
    r.number("kwh", m.kwh, 0, kMaxKwh);
    r.number("hours", m.hours, 0, kMaxHours);
    r.number("charge_fee", m.charge_fee, 0, kMaxYuan);
    r.number("service_fee", m.service_fee, 0, kMaxYuan);
    std::string reason;
    r.text("reason", reason, 16);
    bool known = false;
    for (const station::StopReason s : kReasons) {
        if (station::to_string(s) == reason) {
            m.reason = s;
            known = true;
        }
    }
    r.check(known, "reason", "completed, cancelled, fault or switched-off");
    r.integer("pos", m.pos, 1, kMaxPos);
    return r.error();
}

json to_json_value(const ChangeBatch& m) {
    json orders = json::array();
    for (const auto& o : m.orders) {
        orders.push_back(to_json_value(o));
    }
    json bills = json::array();
    for (const auto& b : m.bills) {
        bills.push_back(to_json_value(b));
    }
    return json{{"run", m.run},     {"from", m.from}, {"to", m.to},
                {"orders", orders}, {"bills", bills}, {"more", m.more}};
}

std::string to_json(const ChangeBatch& m) {
    return to_json_value(m).dump();
}

std::string parse_value(const json& j, ChangeBatch& m) {
    JsonReader r(j, "changes");
    r.id("run", m.run);
    r.integer("from", m.from, 0, kMaxPos);
    r.integer("to", m.to, 0, kMaxPos);
    r.check(m.to >= m.from, "to", "no less than from");
    r.flag("more", m.more);
    const json* orders = r.field("orders");
    const json* bills = r.field("bills");
    if (!r.ok()) {
        return r.error();
    }
    if (!orders->is_array() || !bills->is_array() ||
        orders->size() + bills->size() > kMaxBatchItems) {
        return "changes: \"orders\" and \"bills\" must be arrays of at most 200000 items";
    }
    // Each change lies in (from, to]; orders appear once each.
    auto in_range = [&](std::int64_t pos) { return pos > m.from && pos <= m.to; };
    m.orders.clear();
    m.orders.reserve(orders->size());
    for (const json& o : *orders) {
        OrderUpdate u;
        if (std::string e = parse_value(o, u); !e.empty()) {
            return e;
        }
        if (!in_range(u.pos)) {
            return "changes: an order's pos lies outside (from, to]";
        }
        m.orders.push_back(std::move(u));
    }
    m.bills.clear();
    m.bills.reserve(bills->size());
    for (const json& b : *bills) {
        BillUpdate u;
        if (std::string e = parse_value(b, u); !e.empty()) {
            return e;
        }
        if (!in_range(u.pos)) {
            return "changes: a bill's pos lies outside (from, to]";
        }
        m.bills.push_back(std::move(u));
    }
    // The last change of the range is in it: a batch cannot claim positions it lacks.
    std::int64_t last = m.from;
    for (const auto& o : m.orders) {
        last = std::max(last, o.pos);
    }
    for (const auto& b : m.bills) {
        last = std::max(last, b.pos);
    }
    if (last != m.to) {
        return "changes: \"to\" must be the position of its last change";
    }
    return "";
}

std::string parse(std::string_view payload, ChangeBatch& m) {
    if (payload.size() > 64 * 1024 * 1024) {
        return "payload larger than 64 MiB";
    }
    const json j = json::parse(payload.begin(), payload.end(), nullptr, false);
    if (j.is_discarded()) {
        return "not JSON";
    }
    return parse_value(j, m);
}

}  // namespace contract
