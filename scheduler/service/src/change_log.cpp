#include "service/change_log.hpp"

#include <algorithm>
#include <stdexcept>

#include "contract/station_state.hpp"

namespace service {

namespace {

std::int64_t at(const std::vector<std::int64_t>& v, std::int32_t i) {
    return i >= 0 && static_cast<std::size_t>(i) < v.size() ? v[static_cast<std::size_t>(i)] : 0;
}

void put(std::vector<std::int64_t>& v, std::int32_t i, std::int64_t pos) {
    const auto k = static_cast<std::size_t>(i);
    if (k >= v.size()) {
        v.resize(std::max(k + 1, v.size() * 2), 0);
    }
    v[k] = pos;
}

}  // namespace

std::int64_t ChangeLog::order_changed(station::OrderId id) {
    put(order_pos_, id, ++head_);
    return head_;
}

std::int64_t ChangeLog::bill_made(station::BillId id) {
    put(bill_pos_, id, ++head_);
    return head_;
}

std::int64_t ChangeLog::order_pos(station::OrderId id) const {
    return at(order_pos_, id);
}
std::int64_t ChangeLog::bill_pos(station::BillId id) const {
    return at(bill_pos_, id);
}

contract::ChangeBatch ChangeLog::batch(const station::Station& st, std::int64_t from,
                                       const std::vector<station::OrderId>& orders,
                                       const std::vector<station::BillId>& bills) const {
    contract::ChangeBatch b;
    b.run = run_;
    b.from = from;
    b.to = head_;
    for (const station::BillId id : bills) {
        b.bills.push_back(contract::bill_update(st, st.bill(id), bill_pos(id)));
    }
    for (const station::OrderId id : orders) {
        b.orders.push_back(contract::order_update(st, id, order_pos(id)));
    }
    return b;
}

contract::ChangeBatch ChangeLog::since(const station::Station& st, const std::string& caller_run,
                                       std::int64_t after, std::size_t limit) const {
    if (!caller_run.empty() && caller_run != run_) {
        after = 0;
    }
    // (position, order id or -1 - bill id), sorted by position.
    std::vector<std::pair<std::int64_t, std::int32_t>> items;
    for (std::size_t i = 0; i < st.orders().size() && i < order_pos_.size(); ++i) {
        if (order_pos_[i] > after) {
            items.emplace_back(order_pos_[i], static_cast<std::int32_t>(i));
        }
    }
    for (std::size_t i = 0; i < st.bills().size() && i < bill_pos_.size(); ++i) {
        if (bill_pos_[i] > after) {
            items.emplace_back(bill_pos_[i], -1 - static_cast<std::int32_t>(i));
        }
    }
    std::sort(items.begin(), items.end());
    contract::ChangeBatch b;
    b.run = run_;
    b.from = after;
    b.to = std::max(after, head_);
    if (items.size() > limit) {
        items.resize(limit);
        b.more = true;
        b.to = items.back().first;
    }
    for (const auto& [pos, id] : items) {
        if (id >= 0) {
            b.orders.push_back(contract::order_update(st, id, pos));
        } else {
            b.bills.push_back(contract::bill_update(st, st.bill(-1 - id), pos));
        }
    }
    return b;
}

void ChangeLog::restore(Image image) {
    const auto beyond = [&](const std::vector<std::int64_t>& positions) {
        return std::any_of(positions.begin(), positions.end(),
                           [&](std::int64_t pos) { return pos < 0 || pos > image.head; });
    };
    if (image.head < 0 || beyond(image.order_pos) || beyond(image.bill_pos)) {
        throw std::runtime_error("log positions outside the log");
    }
    head_ = image.head;
    order_pos_ = std::move(image.order_pos);
    bill_pos_ = std::move(image.bill_pos);
}

}  // namespace service
