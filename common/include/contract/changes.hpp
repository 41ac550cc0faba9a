#pragma once
/// @file The scheduler's change log on the bus (docs/asyncapi.yaml, `station/changes`).
///
/// Every externally visible change of a scheduler run — an order created, changed,
/// dispatched, started, finished or cancelled, a detailed bill made — has a position in
/// that run: a number that grows by one per change, never changes and never repeats, also
/// across restarts (the scheduler rebuilds it from its journal). A `ChangeBatch` carries
/// the changes in (from, to]: each order as it stands now, stamped with the position of
/// its last change, and each bill made in that range. A reader that keeps its position
/// applies a batch whose `from` is at most its position and `to` beyond it, skips one it
/// has, and asks for what it lacks (`RequestOp::Changes`) when a batch starts beyond it.
///
/// Every `parse` treats its input as untrusted: it never throws and returns "" or the
/// reason the document was refused (a missing or mistyped field, a value out of range, an
/// unknown state): no reader fills in a default.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "station/types.hpp"

namespace contract {

/// Where an order is, as clients see it: its state, with REDISPATCH for a car in a
/// re-dispatch group (station-rules §5).
enum class OrderStatus { Waiting, Dispatched, Redispatch, Charging, Finished, Cancelled };

std::string_view to_string(OrderStatus s);
std::optional<OrderStatus> parse_order_status(std::string_view s);
inline bool is_closed(OrderStatus s) {
    return s == OrderStatus::Finished || s == OrderStatus::Cancelled;
}

/// One order as the scheduler reports it (on the log and in order replies).
struct OrderUpdate {
    std::int64_t order = 0;  ///< the scheduler's order id in its run (0, 1, 2, ...)
    std::string car;         ///< the car's id as the requester named it
    std::string number;      ///< queue number as shown, e.g. "F7"
    station::Mode mode = station::Mode::Fast;
    OrderStatus status = OrderStatus::Waiting;
    double requested_kwh = 0;  ///< > 0
    double charged_kwh = 0;    ///< so far, rounded to cents
    double charge_fee = 0;     ///< so far, yuan rounded to cents
    double service_fee = 0;
    std::int64_t front_cars = 0;  ///< cars of its mode ahead of it in the waiting area
    /// The pile it is at; once closed, the pile it last charged at ("" if none).
    std::string pile;
    station::TimeMs created_ms = 0;
    std::optional<station::TimeMs> dispatched_ms;  ///< first joined a pile's queue
    std::optional<station::TimeMs> started_ms;     ///< first began charging
    std::optional<station::TimeMs> closed_ms;      ///< became FINISHED or CANCELLED
    std::int64_t pos = 0;                          ///< position of its last change
};

/// One detailed bill (详单): a charging session of an order.
struct BillUpdate {
    std::int64_t bill = 0;  ///< the scheduler's bill id in its run
    std::int64_t order = 0;
    std::string car;
    std::string pile;
    station::TimeMs start_ms = 0;
    station::TimeMs stop_ms = 0;  ///< also when the bill was made; >= start_ms
    double kwh = 0;
    double hours = 0;
    double charge_fee = 0;  ///< yuan, full precision
    double service_fee = 0;
    station::StopReason reason = station::StopReason::Completed;
    std::int64_t pos = 0;  ///< position at which the bill was made
};

/// The changes of one run in the positions (from, to], oldest first by `pos`.
struct ChangeBatch {
    std::string run;
    std::int64_t from = 0;
    std::int64_t to = 0;
    std::vector<OrderUpdate> orders;
    std::vector<BillUpdate> bills;
    /// A catch-up answer cut short: more changes follow `to`.
    bool more = false;
};

nlohmann::json to_json_value(const OrderUpdate& m);
nlohmann::json to_json_value(const BillUpdate& m);
nlohmann::json to_json_value(const ChangeBatch& m);
std::string to_json(const ChangeBatch& m);

/// The same from a parsed document (a field of a reply).
std::string parse_value(const nlohmann::json& j, OrderUpdate& out);
std::string parse_value(const nlohmann::json& j, BillUpdate& out);
std::string parse_value(const nlohmann::json& j, ChangeBatch& out);
std::string parse(std::string_view payload, ChangeBatch& out);

/// Upper bounds of what a sane station reports; anything beyond is refused as corrupt.
inline constexpr double kMaxKwh = 100000;
inline constexpr double kMaxYuan = 100000000;
inline constexpr double kMaxHours = 1000000;
inline constexpr std::size_t kMaxBatchItems = 200000;

}  // namespace contract
