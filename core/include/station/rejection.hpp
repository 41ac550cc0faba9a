#pragma once
/// @file Why the station refuses a command. A refused command changes nothing.

#include <cstdint>
#include <string_view>

#include "station/types.hpp"

namespace station {

enum class Rejection : std::uint8_t {
    None,
    WaitingAreaFull,
    CarAlreadyActive,
    UnknownCar,
    NotInWaitingArea,
    UnknownPile,
    PileAlreadyFaulty,
    PileNotFaulty,
    PileAlreadyOff,
    PileAlreadyOn,
    InvalidAmount,
    InvalidCar,
    NoPileForMode,
    InvalidDuration,
    PileNotMetered,
    PileNotCharging,
};

/// A short English reason, for logs and the replay's `reason`.
std::string_view describe(Rejection r);
/// A stable machine-readable code, e.g. "waiting_area_full".
std::string_view code(Rejection r);

/// Result of a station command: `ok()` or the reason it was refused, plus the
/// order it concerned (when there is one).
struct Outcome {
    Rejection rejection = Rejection::None;
    OrderId order = kNone;

    bool ok() const { return rejection == Rejection::None; }
    static Outcome refuse(Rejection r) { return Outcome{r, kNone}; }
    static Outcome accept(OrderId id = kNone) { return Outcome{Rejection::None, id}; }
};

}  // namespace station
