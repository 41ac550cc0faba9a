#pragma once
/// @file One open order per car across stations (issue #12). Each station's scheduler
/// holds a car to one order of its own, not the network's; so before a station is asked
/// for a new order, the request claims the car for its station in the database every
/// station's API shares (Store::claim_car). Requests at the claim's own station go on (its
/// scheduler arbitrates between them); another station may take the claim over only once
/// no request of the holder can still be carried out and the holder's scheduler shows the
/// car in no open order. These are the rules that decide. Pure: no I/O, time is an argument.
#include <cstdint>
#include <optional>
#include <string>

#include "contract/station_state.hpp"

namespace api {

/// A car claimed for a station until `expires_ms`.
struct CarClaim {
    std::int64_t car_id = 0;
    std::string station;  ///< the station whose scheduler is asked ("" for the one)
    /// The wall time (UTC ms) after which the scheduler carries out none of the requests
    /// made under the claim: the latest of their deadlines.
    std::int64_t expires_ms = 0;
};

/// How long after a claim's deadline it still counts as in flight: covers the scheduler's
/// clock running behind the API's (kept by NTP to well under this) and the moment between
/// claiming and sending.
constexpr std::int64_t kClaimClockMarginMs = 2000;

enum class ClaimStanding {
    Ours,      ///< held for the same station: go on
    InFlight,  ///< held for another station whose request may still be carried out: not now
    Settle,    ///< held for another station, past its deadline: its state decides (claim_fate)
};

/// Where `mine` stands against `held`, the claim the database holds for the car.
ClaimStanding claim_standing(const CarClaim& held, const CarClaim& mine, std::int64_t now_ms);

enum class ClaimFate {
    Free,     ///< the holder's station shows the car in no open order: it may be taken over
    Busy,     ///< the car is in an open order there
    Unknown,  ///< the holder's station was not asked or did not answer
};

/// The fate of a claim past its deadline, from its station's state asked for after the
/// deadline (nullopt: no answer).
ClaimFate claim_fate(const std::optional<contract::StationState>& there, std::int64_t car_id);

}  // namespace api
