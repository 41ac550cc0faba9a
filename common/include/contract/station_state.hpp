#pragma once
/// @file The station state monitors see on station/state (retained) and the `state` and
/// `bills` replies carry: built from the core, one JSON shape in one place.

#include <nlohmann/json.hpp>

#include "contract/changes.hpp"
#include "station/station.hpp"

namespace contract {

/// Piles with their queues and totals, the waiting area and the re-dispatch groups at the
/// station's current time. Energy and money are rounded to cents for display.
nlohmann::json station_state(const station::Station& st, std::int64_t revision);

/// One order as the scheduler reports it (number, state, energy and fees so far), its
/// last change at log position `pos`.
OrderUpdate order_update(const station::Station& st, station::OrderId id, std::int64_t pos);

/// One detailed bill, made at log position `pos`.
BillUpdate bill_update(const station::Station& st, const station::Bill& bill, std::int64_t pos);

/// Every order with its detailed bills, in acceptance order.
nlohmann::json bills_view(const station::Station& st);

/// One detailed bill.
nlohmann::json bill_view(const station::Station& st, const station::Bill& bill);

/// Rounds half up to cents (values are non-negative).
double cents(double v);

}  // namespace contract
