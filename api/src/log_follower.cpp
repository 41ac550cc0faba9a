#include "api/log_follower.hpp"

#include <iterator>

#include "api/money.hpp"
#include "contract/station_state.hpp"
#include "station/time.hpp"

namespace api {

namespace {

std::string time_text(const std::optional<station::TimeMs>& t) {
    return t ? station::format_datetime(*t) : std::string();
}

std::string key(const std::string& run, std::int64_t id) {
    return run + "/" + std::to_string(id);
}

}  // namespace

BatchVerdict judge(const LogPosition& have, const contract::ChangeBatch& b) {
    if (b.run != have.run) {
        return b.from == 0 ? BatchVerdict::Apply : BatchVerdict::Gap;
    }
    if (b.to <= have.pos) {
        return BatchVerdict::Have;
    }
    return b.from <= have.pos ? BatchVerdict::Apply : BatchVerdict::Gap;
}

std::optional<OrderRecord> order_record(const std::string& station, const std::string& run,
                                        const contract::OrderUpdate& u) {
    if (u.car.empty() || u.car.size() > 18 ||
        u.car.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    OrderRecord o;
    o.station = station;
    o.station_key = key(run, u.order);
    o.car_id = std::stoll(u.car);
    o.mode = std::string(1, station::mode_letter(u.mode));
    o.number_text = u.number;
    o.number = std::stoll(u.number.substr(1));
    o.state = std::string(contract::to_string(u.status));
    o.apply_kwh = u.requested_kwh;
    o.charge_kwh = u.charged_kwh;
    o.charge_fee_cents = to_cents(u.charge_fee);
    o.service_fee_cents = to_cents(u.service_fee);
    o.pile = u.pile;
    o.front_cars = u.front_cars;
    o.create_time = station::format_datetime(u.created_ms);
    o.dispatch_time = time_text(u.dispatched_ms);
    o.start_time = time_text(u.started_ms);
    o.finish_time = time_text(u.closed_ms);
    o.log_pos = u.pos;
    return o;
}

BillRecord bill_record(const std::string& station, const std::string& run,
                       const contract::BillUpdate& b) {
    BillRecord r;
    r.station = station;
    r.station_key = key(run, b.bill);
    r.order_key = key(run, b.order);
    r.pile = b.pile;
    r.start_ms = b.start_ms;
    r.stop_ms = b.stop_ms;
    r.kwh = b.kwh;
    r.hours = b.hours;
    // A bill is charged as it shows: each part to the cent (the order's fees are these
    // sums, and the balance pays them).
    r.charge_fee_cents = to_cents(b.charge_fee);
    r.service_fee_cents = to_cents(b.service_fee);
    r.reason = std::string(station::to_string(b.reason));
    r.log_pos = b.pos;
    return r;
}

BatchRows rows_of(const std::string& station, const contract::ChangeBatch& batch) {
    BatchRows rows;
    for (const auto& b : batch.bills) {
        rows.bills.push_back(bill_record(station, batch.run, b));
    }
    for (const auto& u : batch.orders) {
        if (auto o = order_record(station, batch.run, u)) {
            rows.orders.push_back(std::move(*o));
        }
    }
    return rows;
}

Applied apply_batches(StorePort& store, const std::string& station,
                      const std::vector<contract::ChangeBatch>& batches) {
    Applied result;
    const LogPosition start = store.log_position(station);
    LogPosition at = start;
    BatchRows rows;
    for (const auto& b : batches) {
        const BatchVerdict v = judge(at, b);
        if (v == BatchVerdict::Have) {
            continue;
        }
        if (v == BatchVerdict::Gap) {
            result.gap = true;
            break;
        }
        BatchRows r = rows_of(station, b);
        rows.orders.insert(rows.orders.end(), std::make_move_iterator(r.orders.begin()),
                           std::make_move_iterator(r.orders.end()));
        rows.bills.insert(rows.bills.end(), std::make_move_iterator(r.bills.begin()),
                          std::make_move_iterator(r.bills.end()));
        at = LogPosition{b.run, b.to};
        ++result.batches;
    }
    if (result.batches > 0 && !store.apply_changes(station, start, at, rows.orders, rows.bills)) {
        result.batches = 0;
        result.gap = true;  // the position moved under us: ask again
    }
    return result;
}

}  // namespace api
