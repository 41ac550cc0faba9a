#pragma once
/// @file What the station reports to its adapters after each step: the facts a
/// scheduler service turns into pile commands, bills to store and state to publish.

#include <variant>

#include "station/types.hpp"

namespace station {

/// A car began charging at a pile: the pile must start delivering `target_kwh`.
struct SessionStarted {
    OrderId order;
    PileIndex pile;
    TimeMs at;
    double target_kwh;
};
/// A car stopped charging; `bill` is kNone for a zero-length session.
struct SessionStopped {
    OrderId order;
    PileIndex pile;
    TimeMs at;
    StopReason reason;
    BillId bill;
};
/// An order's state, place, number or amount changed (including creation and closing).
struct OrderChanged {
    OrderId order;
    TimeMs at;
};
/// A pile's state or queue changed.
struct PileChanged {
    PileIndex pile;
    TimeMs at;
};

using StationEvent = std::variant<SessionStarted, SessionStopped, OrderChanged, PileChanged>;

}  // namespace station
