#pragma once
/// @file Basic vocabulary of the station core: modes, identifiers, states.

#include <cstdint>
#include <optional>
#include <string_view>

namespace station {

/// The most an order may receive beyond what it asked for: a metered pile (a real charger)
/// stops at its first meter reading at or past the amount, so it overshoots a little. A
/// reading beyond this is billed as this much (and logged by the scheduler).
inline double metered_overshoot(double requested_kwh) {
    return requested_kwh / 10 > 1 ? requested_kwh / 10 : 1;
}

/// Station time in milliseconds since 1970-01-01 00:00 *station local time*
/// (no time zone, no DST). Day boundaries and tariff periods are computed from
/// it directly; adapters convert wall-clock UTC to it with the station's offset.
using TimeMs = std::int64_t;

/// Index of an order in the station's order table (dense, in acceptance order).
using OrderId = std::int32_t;
/// Index of a pile in the station's pile order.
using PileIndex = std::int32_t;
/// Index of a detailed bill in the station's bill table (dense, in creation order).
using BillId = std::int32_t;

inline constexpr std::int32_t kNone = -1;

/// Charging mode: fast (`F`) or slow/trickle (`T`).
enum class Mode : std::uint8_t { Fast = 0, Slow = 1 };
inline constexpr int kModeCount = 2;

/// The letter used for a mode in queue numbers and documents: 'F' or 'T'.
constexpr char mode_letter(Mode m) {
    return m == Mode::Fast ? 'F' : 'T';
}
/// Parses "F" or "T"; anything else is nullopt.
constexpr std::optional<Mode> parse_mode(std::string_view s) {
    if (s == "F") {
        return Mode::Fast;
    }
    if (s == "T") {
        return Mode::Slow;
    }
    return std::nullopt;
}
constexpr int mode_index(Mode m) {
    return static_cast<int>(m);
}

/// Lifecycle of an order (API document plus the added CANCELLED).
enum class OrderState : std::uint8_t { Waiting, Dispatched, Charging, Finished, Cancelled };

/// Where an active order's car physically is.
enum class Place : std::uint8_t { None, WaitingArea, Redispatch, Pile };

/// Pile state as the API shows it.
enum class PileState : std::uint8_t { Off, Work, Rest, Fault };

/// Why a charging session ended.
enum class StopReason : std::uint8_t { Completed, Cancelled, Fault, SwitchedOff };

std::string_view to_string(OrderState s);
std::string_view to_string(PileState s);
std::string_view to_string(StopReason r);

}  // namespace station
