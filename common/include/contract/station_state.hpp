#pragma once
/// @file The station state monitors see on station/state (retained) and the `state` and
/// `bills` replies carry: built from the core, one JSON shape in one place.

#include <nlohmann/json.hpp>

#include "station/station.hpp"

namespace contract {

/// Piles with their queues and totals, the waiting area and the re-dispatch groups at the
/// station's current time. Energy and money are rounded to cents for display.
nlohmann::json station_state(const station::Station& st, std::int64_t revision);

/// One order as the scheduler reports it (number, state, energy and fees so far).
nlohmann::json order_view(const station::Station& st, station::OrderId id);

/// Every order with its detailed bills, in acceptance order.
nlohmann::json bills_view(const station::Station& st);

/// One detailed bill.
nlohmann::json bill_view(const station::Station& st, const station::Bill& bill);

/// Rounds half up to cents (values are non-negative).
double cents(double v);

}  // namespace contract
