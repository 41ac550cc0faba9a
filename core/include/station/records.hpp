#pragma once
/// @file Plain records the station keeps: orders, detailed bills, pile totals.

#include <cstdint>

#include "station/types.hpp"

namespace station {

/// One charging request (订单) from acceptance to FINISHED or CANCELLED.
struct Order {
    OrderId id = kNone;
    std::int32_t car = kNone;  ///< index in the station's car registry
    Mode mode = Mode::Fast;    ///< current mode (a mode change keeps the order)
    OrderState state = OrderState::Waiting;
    Place place = Place::WaitingArea;
    PileIndex pile = kNone;      ///< when place == Pile
    std::uint32_t number = 0;    ///< per-mode, per-day counter of its current number
    std::int64_t issue_seq = 0;  ///< global issue order of its current number (calling order)
    double requested_kwh = 0;
    double delivered_kwh = 0;  ///< over closed sessions
    double charge_fee = 0;     ///< over closed sessions, full precision
    double service_fee = 0;    ///< over closed sessions, full precision
    TimeMs created_at = 0;
    TimeMs place_since = 0;     ///< when it entered its current place
    TimeMs closed_at = -1;      ///< when it became FINISHED or CANCELLED
    TimeMs dispatched_at = -1;  ///< when it first joined a pile's queue, -1 before
    TimeMs started_at = -1;     ///< when it first began charging, -1 before
    BillId first_bill = kNone;
    BillId last_bill = kNone;
    OrderId prev = kNone;  ///< waiting-area neighbours (same mode)
    OrderId next = kNone;

    bool active() const { return state != OrderState::Finished && state != OrderState::Cancelled; }
    double remaining_kwh() const { return requested_kwh - delivered_kwh; }
};

/// A detailed bill (详单): one charging session of one order.
struct Bill {
    BillId id = kNone;
    OrderId order = kNone;
    PileIndex pile = kNone;
    TimeMs start = 0;
    TimeMs stop = 0;  ///< also the time the bill was generated
    double kwh = 0;
    double charge_fee = 0;
    double service_fee = 0;
    StopReason reason = StopReason::Completed;
    BillId next_of_order = kNone;  ///< the order's next session

    double total_fee() const { return charge_fee + service_fee; }
    double hours() const;
};

/// Running totals of a pile, always the sum of its bills.
struct PileTotals {
    std::int64_t charges = 0;
    TimeMs charging_ms = 0;
    double kwh = 0;
    double charge_fee = 0;
    double service_fee = 0;

    double total_fee() const { return charge_fee + service_fee; }
    double hours() const;
    void add(const Bill& bill);
};

}  // namespace station
