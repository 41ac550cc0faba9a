#include "gateway/metered_session.hpp"

#include <algorithm>
#include <cmath>

namespace gateway {

namespace {
/// Readings a little below the last one are rounding, not a reset (0.5 Wh).
constexpr double kResetSlackKwh = 0.0005;
}  // namespace

MeteredSession::MeteredSession(std::optional<double> counter_kwh) : base_(counter_kwh) {
    last_ = counter_kwh.value_or(0);
}

double MeteredSession::update(double counter_kwh) {
    if (!base_) {
        base_ = counter_kwh;
        last_ = counter_kwh;
    } else if (counter_kwh < last_ - kResetSlackKwh) {
        carried_ += last_ - *base_;
        base_ = 0;
        last_ = counter_kwh;
    } else {
        last_ = std::max(last_, counter_kwh);
    }
    return energy_kwh();
}

double MeteredSession::energy_kwh() const {
    const double e = carried_ + (base_ ? last_ - *base_ : 0);
    return std::max(0.0, std::round(e * 1e4) / 1e4);
}

}  // namespace gateway
