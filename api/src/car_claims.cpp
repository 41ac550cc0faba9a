#include "api/car_claims.hpp"

#include <algorithm>
#include <vector>

namespace api {

ClaimStanding claim_standing(const CarClaim& held, const CarClaim& mine, std::int64_t now_ms) {
    if (held.station == mine.station) {
        return ClaimStanding::Ours;
    }
    if (now_ms <= held.expires_ms + kClaimClockMarginMs) {
        return ClaimStanding::InFlight;
    }
    return ClaimStanding::Settle;
}

ClaimFate claim_fate(const std::optional<contract::StationState>& there, std::int64_t car_id) {
    if (!there) {
        return ClaimFate::Unknown;
    }
    const std::string car = std::to_string(car_id);
    const auto has_car = [&](const std::vector<contract::StateCar>& cars) {
        return std::any_of(cars.begin(), cars.end(),
                           [&](const contract::StateCar& c) { return c.car == car; });
    };
    if (has_car(there->waiting) || has_car(there->redispatch) ||
        std::any_of(there->piles.begin(), there->piles.end(),
                    [&](const contract::StatePile& p) { return has_car(p.queue); })) {
        return ClaimFate::Busy;
    }
    return ClaimFate::Free;
}

}  // namespace api
