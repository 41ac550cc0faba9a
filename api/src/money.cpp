#include "api/money.hpp"

#include <cmath>

#include "contract/station_state.hpp"

namespace api {

Cents to_cents(double yuan) {
    return std::llround(contract::cents(yuan) * 100.0);
}

double yuan(Cents cents) {
    return static_cast<double>(cents) / 100.0;
}

}  // namespace api
