#include "memory_store.hpp"

#include <algorithm>
#include <iterator>
#include <stdexcept>

namespace apitest {

using api::AdminRecord;
using api::BillRecord;
using api::CarClaim;
using api::CarRecord;
using api::LogPosition;
using api::OrderRecord;
using api::StoredAnswer;
using api::Totals;
using api::UserRecord;

namespace {

constexpr std::int64_t kAnswerKeptMs = 24LL * 3600 * 1000;

// As the databases' lower(): ASCII letters only.
std::string lower(std::string text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return text;
}

bool same_account(const std::string& a, const std::string& b) {
    return lower(a) == lower(b);
}

// The row of `rows` under `key`, if there is one.
template <typename Map, typename Key>
std::optional<typename Map::mapped_type> row(const Map& rows, const Key& key) {
    const auto at = rows.find(key);
    return at == rows.end() ? std::nullopt : std::optional(at->second);
}

// The oldest account row (a user or an admin) named `account`, as the databases' lower()
// compares names.
template <typename Map>
std::optional<typename Map::mapped_type> row_by_account(const Map& rows,
                                                        const std::string& account) {
    for (const auto& [id, r] : rows) {  // by id: the oldest first
        if (same_account(r.account, account)) {
            return r;
        }
    }
    return std::nullopt;
}

// The next id of a table: one past the largest (1 for an empty one).
template <typename Map>
std::int64_t next_id(const Map& rows) {
    return rows.empty() ? 1 : rows.rbegin()->first + 1;
}

// Whether a map keyed by (station, ...) has a row of `station`.
template <typename Map>
bool has_rows_of(const Map& rows, const std::string& station) {
    const auto at = rows.lower_bound({station, {}});
    return at != rows.end() && at->first.first == station;
}

// Files the rows of a map keyed by (station, ...) under station `to`.
template <typename Map>
void move_station(Map& rows, const std::string& from, const std::string& to) {
    auto at = rows.lower_bound({from, {}});
    while (at != rows.end() && at->first.first == from) {
        auto node = rows.extract(at++);
        node.key().first = to;
        rows.insert(std::move(node));
    }
}

void check_car(double capacity, double current) {
    if (!(capacity > 0) || !(current >= 0)) {
        throw std::invalid_argument("a car needs a capacity above 0 and a charge of at least 0");
    }
}

}  // namespace

// ---- settings ------------------------------------------------------------------------

std::string MemoryStore::setting_or_insert(const std::string& key, const std::string& value) {
    std::lock_guard lock(mutex_);
    return settings_.try_emplace(key, value).first->second;
}

// ---- accounts ------------------------------------------------------------------------

std::optional<std::int64_t> MemoryStore::create_user(const std::string& account,
                                                     const std::string& name,
                                                     const std::string& password_hash) {
    std::lock_guard lock(mutex_);
    if (user_by_account_locked(account)) {
        return std::nullopt;
    }
    const std::int64_t id = next_id(users_);
    users_[id] = UserRecord{id, account, name, password_hash, 0, 0};
    return id;
}

std::optional<UserRecord> MemoryStore::user(std::int64_t id) {
    std::lock_guard lock(mutex_);
    return row(users_, id);
}

std::optional<UserRecord> MemoryStore::user_by_account(const std::string& account) {
    std::lock_guard lock(mutex_);
    return user_by_account_locked(account);
}

std::optional<UserRecord> MemoryStore::user_by_account_locked(const std::string& account) const {
    return row_by_account(users_, account);
}

void MemoryStore::update_user(std::int64_t id, const std::optional<std::string>& name,
                              const std::optional<std::string>& password_hash) {
    std::lock_guard lock(mutex_);
    const auto at = users_.find(id);
    if (at == users_.end()) {
        return;
    }
    if (name) {
        at->second.name = *name;
    }
    if (password_hash) {
        at->second.password_hash = *password_hash;
        ++at->second.token_version;
    }
}

std::int64_t MemoryStore::add_balance(std::int64_t user_id, std::int64_t cents) {
    std::lock_guard lock(mutex_);
    const auto at = users_.find(user_id);
    if (at == users_.end()) {
        throw std::invalid_argument("no user " + std::to_string(user_id));
    }
    return at->second.balance_cents += cents;
}

bool MemoryStore::ensure_admin(const std::string& account, const std::string& password_hash) {
    std::lock_guard lock(mutex_);
    if (row_by_account(admins_, account)) {
        return false;
    }
    const std::int64_t id = next_id(admins_);
    admins_[id] = AdminRecord{id, account, password_hash};
    return true;
}

std::optional<AdminRecord> MemoryStore::admin(std::int64_t id) {
    std::lock_guard lock(mutex_);
    return row(admins_, id);
}

std::optional<AdminRecord> MemoryStore::admin_by_account(const std::string& account) {
    std::lock_guard lock(mutex_);
    return row_by_account(admins_, account);
}

// ---- cars ----------------------------------------------------------------------------

std::int64_t MemoryStore::add_car(std::int64_t user_id, const std::string& name, double capacity,
                                  double current) {
    std::lock_guard lock(mutex_);
    if (users_.count(user_id) == 0) {
        throw std::invalid_argument("no user " + std::to_string(user_id));
    }
    check_car(capacity, current);
    const std::int64_t id = next_id(cars_);
    cars_[id] = Car{CarRecord{id, user_id, name, capacity, current}, false};
    ++cars_version_;
    return id;
}

std::optional<CarRecord> MemoryStore::car(std::int64_t id) {
    std::lock_guard lock(mutex_);
    const auto at = cars_.find(id);
    if (at == cars_.end() || at->second.deleted) {
        return std::nullopt;
    }
    return at->second.record;
}

std::vector<CarRecord> MemoryStore::cars_of(std::int64_t user_id) {
    std::lock_guard lock(mutex_);
    std::vector<CarRecord> out;
    for (const auto& [id, c] : cars_) {
        if (c.record.user_id == user_id && !c.deleted) {
            out.push_back(c.record);
        }
    }
    return out;
}

void MemoryStore::update_car(const CarRecord& car) {
    std::lock_guard lock(mutex_);
    if (const auto at = cars_.find(car.id); at != cars_.end()) {  // a deleted one too
        check_car(car.capacity_kwh, car.current_kwh);
        at->second.record.name = car.name;
        at->second.record.capacity_kwh = car.capacity_kwh;
        at->second.record.current_kwh = car.current_kwh;
    }
    ++cars_version_;
}

void MemoryStore::delete_car(std::int64_t id) {
    std::lock_guard lock(mutex_);
    if (const auto at = cars_.find(id); at != cars_.end()) {
        at->second.deleted = true;
    }
    ++cars_version_;
}

std::int64_t MemoryStore::cars_version() const {
    std::lock_guard lock(mutex_);
    return cars_version_;
}

// ---- orders and bills ------------------------------------------------------------------

void MemoryStore::check_orders(const std::vector<OrderRecord>& orders) const {
    // Whether each order is open and its position, as the orders before it leave them.
    std::map<StationKey, std::pair<bool, std::int64_t>> now;
    for (const OrderRecord& o : orders) {
        const StationKey key{o.station, o.station_key};
        auto at = now.find(key);
        if (at == now.end()) {
            if (const auto id = order_ids_.find(key); id != order_ids_.end()) {
                const OrderRecord& stored = orders_.at(id->second);
                at = now.emplace(key, std::pair(!stored.closed(), stored.log_pos)).first;
            } else if (cars_.count(o.car_id) == 0) {
                continue;  // not written: its car is unknown
            }
        }
        if (at != now.end() && (!at->second.first || o.log_pos < at->second.second)) {
            continue;  // not written: closed is final, an older state changes nothing
        }
        if (o.mode != "F" && o.mode != "T") {
            throw std::invalid_argument("order " + o.station_key + " has mode '" + o.mode + "'");
        }
        now[key] = {!o.closed(), o.log_pos};
    }
}

std::optional<std::int64_t> MemoryStore::write_order(const OrderRecord& o) {
    const StationKey key{o.station, o.station_key};
    std::int64_t id = 0;
    if (const auto known = order_ids_.find(key); known == order_ids_.end()) {
        const auto car = cars_.find(o.car_id);  // a deleted car too
        if (car == cars_.end()) {
            return std::nullopt;
        }
        id = next_id(orders_);
        OrderRecord& stored = orders_[id] = o;
        stored.id = id;
        stored.user_id = car->second.record.user_id;  // the car's owner
        order_ids_[key] = id;
    } else {
        id = known->second;
        OrderRecord& stored = orders_.at(id);
        if (stored.closed() || o.log_pos < stored.log_pos) {
            return id;
        }
        // Its ids, owner, car and create time stay.
        OrderRecord updated = o;
        updated.id = id;
        updated.user_id = stored.user_id;
        updated.car_id = stored.car_id;
        updated.create_time = stored.create_time;
        stored = updated;
    }
    if (o.closed()) {
        const OrderRecord& stored = orders_.at(id);
        const Settlement settlement{stored.user_id, o.charge_fee_cents + o.service_fee_cents,
                                    o.charge_kwh};
        if (settlements_.try_emplace(key, settlement).second) {
            users_.at(stored.user_id).balance_cents -= settlement.fee_cents;
            if (const auto car = cars_.find(o.car_id); car != cars_.end()) {
                CarRecord& c = car->second.record;
                c.current_kwh = std::min(c.current_kwh + o.charge_kwh, c.capacity_kwh);
            }
        }
    }
    return id;
}

std::optional<std::int64_t> MemoryStore::record_order(const OrderRecord& order) {
    std::lock_guard lock(mutex_);
    check_orders({order});
    const auto id = write_order(order);
    if (id && order.closed()) {
        ++cars_version_;  // the car's charge grew
    }
    return id;
}

std::optional<OrderRecord> MemoryStore::order(std::int64_t id) {
    std::lock_guard lock(mutex_);
    return row(orders_, id);
}

std::optional<std::int64_t> MemoryStore::order_id_by_key(const std::string& station,
                                                         const std::string& station_key) {
    std::lock_guard lock(mutex_);
    return row(order_ids_, StationKey{station, station_key});
}

std::vector<OrderRecord> MemoryStore::orders_of(std::int64_t user_id, bool open) {
    std::lock_guard lock(mutex_);
    std::vector<OrderRecord> out;
    for (auto at = orders_.rbegin(); at != orders_.rend(); ++at) {  // the newest first
        if (at->second.user_id == user_id && at->second.closed() != open) {
            out.push_back(at->second);
        }
    }
    return out;
}

std::optional<OrderRecord> MemoryStore::open_order_of_car(std::int64_t car_id) {
    std::lock_guard lock(mutex_);
    for (auto at = orders_.rbegin(); at != orders_.rend(); ++at) {
        if (at->second.car_id == car_id && !at->second.closed()) {
            return at->second;
        }
    }
    return std::nullopt;
}

bool MemoryStore::apply_changes(const std::string& station, const LogPosition& expected,
                                const LogPosition& next, const std::vector<OrderRecord>& orders,
                                const std::vector<BillRecord>& bills) {
    const auto other = [&](const auto& row) { return row.station != station; };
    if (std::any_of(orders.begin(), orders.end(), other) ||
        std::any_of(bills.begin(), bills.end(), other)) {
        throw std::invalid_argument("a row of another station in the log of '" + station + "'");
    }
    std::lock_guard lock(mutex_);
    const LogPosition now = row(positions_, station).value_or(LogPosition{});
    if (now.run != expected.run || now.pos != expected.pos) {
        return false;
    }
    check_orders(orders);
    for (const BillRecord& b : bills) {  // bills first, as Store writes them
        write_bill(b);
    }
    bool closed = false;
    for (const OrderRecord& o : orders) {
        closed = (write_order(o).has_value() && o.closed()) || closed;
    }
    positions_[station] = next;
    if (closed) {
        ++cars_version_;
    }
    if (!bills.empty()) {
        ++bills_version_;
    }
    return true;
}

LogPosition MemoryStore::log_position(const std::string& station) const {
    std::lock_guard lock(mutex_);
    return row(positions_, station).value_or(LogPosition{});
}

bool MemoryStore::has_station(const std::string& station) {
    std::lock_guard lock(mutex_);
    return positions_.count(station) > 0 || has_rows_of(order_ids_, station) ||
           has_rows_of(bill_ids_, station);
}

void MemoryStore::adopt_station(const std::string& from, const std::string& to) {
    if (from == to) {
        throw std::invalid_argument("a station cannot adopt its own rows");
    }
    std::lock_guard lock(mutex_);
    if (positions_.count(to) > 0 || has_rows_of(order_ids_, to) || has_rows_of(bill_ids_, to) ||
        has_rows_of(pile_totals_, to) || has_rows_of(settlements_, to)) {
        throw std::invalid_argument("station '" + to + "' already has rows");
    }
    if (const auto at = positions_.find(from); at != positions_.end()) {
        positions_[to] = at->second;
        positions_.erase(at);
    }
    for (auto& [id, o] : orders_) {
        o.station = o.station == from ? to : o.station;
    }
    for (auto& [id, b] : bills_) {
        b.station = b.station == from ? to : b.station;
    }
    move_station(order_ids_, from, to);
    move_station(bill_ids_, from, to);
    move_station(pile_totals_, from, to);
    move_station(settlements_, from, to);
    ++cars_version_;  // as Store, which forgets every view it cached
    ++bills_version_;
}

// ---- idempotency keys ------------------------------------------------------------------

StoredAnswer MemoryStore::reserve_answer(std::int64_t user_id, const std::string& key,
                                         const std::string& request, std::int64_t now_ms) {
    std::lock_guard lock(mutex_);
    if (users_.count(user_id) == 0) {
        throw std::invalid_argument("no user " + std::to_string(user_id));
    }
    // Answers are kept for a day; older ones go as new ones come.
    for (auto at = answers_.begin(); at != answers_.end();) {
        at = at->second.created_ms < now_ms - kAnswerKeptMs ? answers_.erase(at) : std::next(at);
    }
    return answers_.try_emplace({user_id, key}, Answer{StoredAnswer{request, 0, ""}, now_ms})
        .first->second.answer;
}

void MemoryStore::keep_answer(std::int64_t user_id, const std::string& key,
                              const StoredAnswer& answer, std::int64_t now_ms) {
    std::lock_guard lock(mutex_);
    if (users_.count(user_id) == 0) {
        throw std::invalid_argument("no user " + std::to_string(user_id));
    }
    const auto [at, added] = answers_.try_emplace({user_id, key}, Answer{answer, now_ms});
    StoredAnswer& kept = at->second.answer;
    if (!added && kept.status == 0 && kept.request == answer.request) {
        // The first final answer stays; it replaces the key's pending one of this request.
        kept.status = answer.status;
        kept.body = answer.body;
    }
}

// ---- car claims ------------------------------------------------------------------------

CarClaim MemoryStore::claim_car(const CarClaim& claim) {
    std::lock_guard lock(mutex_);
    if (cars_.count(claim.car_id) == 0) {
        throw std::invalid_argument("no car " + std::to_string(claim.car_id));
    }
    const auto [at, added] = claims_.try_emplace(claim.car_id, claim);
    CarClaim& held = at->second;
    if (!added && held.station == claim.station && held.expires_ms < claim.expires_ms) {
        held.expires_ms = claim.expires_ms;  // renewed to the later deadline
    }
    return held;
}

bool MemoryStore::take_over_claim(const CarClaim& held, const CarClaim& mine) {
    std::lock_guard lock(mutex_);
    const auto at = claims_.find(held.car_id);
    if (at == claims_.end() || at->second.station != held.station ||
        at->second.expires_ms != held.expires_ms) {
        return false;
    }
    at->second.station = mine.station;
    at->second.expires_ms = mine.expires_ms;
    return true;
}

// ---- bills -----------------------------------------------------------------------------

bool MemoryStore::write_bill(const BillRecord& b) {
    const std::int64_t id = next_id(bills_);
    if (!bill_ids_.try_emplace({b.station, b.station_key}, id).second) {
        return false;
    }
    bills_[id] = b;
    bills_[id].id = id;
    Totals& t = pile_totals_[{b.station, b.pile}];
    ++t.charges;
    t.hours += b.hours;
    t.kwh += b.kwh;
    t.charge_fee_cents += b.charge_fee_cents;
    t.service_fee_cents += b.service_fee_cents;
    return true;
}

bool MemoryStore::record_bill(const BillRecord& bill) {
    std::lock_guard lock(mutex_);
    const bool added = write_bill(bill);
    if (added) {
        ++bills_version_;
    }
    return added;
}

std::vector<BillRecord> MemoryStore::bills_of_order(const std::string& station,
                                                    const std::string& order_key) {
    std::lock_guard lock(mutex_);
    std::vector<BillRecord> out;
    for (const auto& [id, b] : bills_) {
        if (b.station == station && b.order_key == order_key) {
            out.push_back(b);
        }
    }
    std::stable_sort(out.begin(), out.end(), [](const BillRecord& a, const BillRecord& b) {
        return a.start_ms < b.start_ms;  // then by id, as they came
    });
    return out;
}

std::vector<std::pair<std::string, Totals>> MemoryStore::pile_totals(const std::string& station) {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, Totals>> out;
    for (auto at = pile_totals_.lower_bound({station, {}});
         at != pile_totals_.end() && at->first.first == station; ++at) {
        out.emplace_back(at->first.second, at->second);
    }
    return out;
}

std::int64_t MemoryStore::bills_version() const {
    std::lock_guard lock(mutex_);
    return bills_version_;
}

Totals MemoryStore::report(const std::string& station, const std::string& pile,
                           std::int64_t from_ms, std::int64_t to_ms) {
    std::lock_guard lock(mutex_);
    Totals t;
    for (const auto& [id, b] : bills_) {
        if (b.station == station && b.pile == pile && b.stop_ms >= from_ms && b.stop_ms < to_ms) {
            ++t.charges;
            t.hours += b.hours;
            t.kwh += b.kwh;
            t.charge_fee_cents += b.charge_fee_cents;
            t.service_fee_cents += b.service_fee_cents;
        }
    }
    return t;
}

}  // namespace apitest
