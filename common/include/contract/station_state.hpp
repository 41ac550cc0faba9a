#pragma once
/// @file The station state monitors see on station/state (retained) and the `state` and
/// `bills` replies carry: built from the core, one JSON shape in one place.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "contract/changes.hpp"
#include "station/station.hpp"

namespace contract {

/// One car in the station state: at a pile (the first of its queue may be charging), in
/// the waiting area, or in a re-dispatch group. Energy, money and hours rounded to cents.
struct StateCar {
    std::int64_t order = 0;  ///< the scheduler's order id in its run
    std::string car;
    std::string number;  ///< queue number as shown, e.g. "F7"
    station::Mode mode = station::Mode::Fast;
    /// WAITING in the waiting area, REDISPATCH in a group, DISPATCHED or CHARGING at a pile.
    OrderStatus status = OrderStatus::Waiting;
    double requested_kwh = 0;  ///< > 0
    double charged_kwh = 0;    ///< so far, including the session in progress
    double remaining_kwh = 0;  ///< requested − charged, as the station counts it
    double charge_fee = 0;     ///< so far, as its bills will show it
    double service_fee = 0;
    double queued_hours = 0;      ///< since it took its current place
    double waited_hours = 0;      ///< from the request until charging began (or until now)
    std::int64_t front_cars = 0;  ///< cars of its mode ahead of it in the waiting area
    double fee() const;           ///< charge_fee + service_fee, in cents
    bool operator==(const StateCar&) const = default;
};

/// A pile's totals since the station opened (station-rules, reports).
struct StatePileTotals {
    std::int64_t charges = 0;
    double hours = 0;
    double kwh = 0;
    double charge_fee = 0;
    double service_fee = 0;
    bool operator==(const StatePileTotals&) const = default;
};

struct StatePile {
    std::string id;
    std::string name;
    station::Mode mode = station::Mode::Fast;
    double power_kw = 0;  ///< > 0
    station::PileState state = station::PileState::Rest;
    std::vector<StateCar> queue;  ///< DISPATCHED or CHARGING cars, the first one served first
    StatePileTotals totals;
    bool operator==(const StatePile&) const = default;
};

/// The station as monitors see it on station/state (retained) and in `state` replies.
struct StationState {
    std::string run;        ///< the scheduler run its order ids belong to ("" if not said)
    std::int64_t head = 0;  ///< the run's change-log position this state shows
    std::int64_t revision = 0;
    station::TimeMs at_ms = 0;  ///< station time
    std::string profile;
    std::vector<StatePile> piles;
    std::vector<StateCar> waiting;     ///< in waiting-area order
    std::vector<StateCar> redispatch;  ///< fast group, then slow group
    bool operator==(const StationState&) const = default;
};

/// Piles with their queues and totals, the waiting area and the re-dispatch groups at the
/// station's current time (`run` and `head` are the scheduler's to fill in).
StationState station_state(const station::Station& st, std::int64_t revision);

/// The one JSON mapping of the station state. Derived fields (`time`, `fee`, `total_fee`)
/// are written for people reading the topic and not read back.
nlohmann::json to_json_value(const StationState& s);
/// "" or why `j` is not a station state (untrusted input: never throws).
std::string parse_value(const nlohmann::json& j, StationState& s);
std::string parse(std::string_view text, StationState& s);

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
/// The same amount as a whole number of cents: what a bill or an order shows, counted
/// (the scheduler's and the API's billed cents, the API's stored fees).
std::int64_t whole_cents(double v);

}  // namespace contract
