#include "api/money.hpp"

#include "contract/station_state.hpp"

namespace api {

Cents to_cents(double yuan) {
    return contract::whole_cents(yuan);
}

double yuan(Cents cents) {
    return static_cast<double>(cents) / 100.0;
}

}  // namespace api
