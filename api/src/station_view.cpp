#include "api/station_view.hpp"

#include <algorithm>
#include <cmath>

namespace api {

using nlohmann::json;

namespace {

LiveOrder live(const json& e, std::string state, std::string pile) {
    LiveOrder o;
    o.state = std::move(state);
    o.pile = std::move(pile);
    o.number = e.value("number", "");
    o.mode = o.number.empty() ? "" : o.number.substr(0, 1);
    o.front_cars = e.value("front_cars", 0);
    o.requested_kwh = e.value("requested_kwh", 0.0);
    o.charged_kwh = e.contains("charged_kwh") ? e.value("charged_kwh", 0.0) : e.value("kwh", 0.0);
    o.charge_fee = e.value("charge_fee", 0.0);
    o.service_fee = e.value("service_fee", 0.0);
    o.fee = e.value("fee", 0.0);
    o.waited_hours = e.value("waited_hours", 0.0);
    return o;
}

// Builds the snapshot; throws (caught by offer) on a document of the wrong shape.
std::shared_ptr<StationSnapshot> build(const json& state) {
    auto snap = std::make_shared<StationSnapshot>();
    snap->at_ms = state.at("at_ms").get<std::int64_t>();
    snap->revision = state.at("revision").get<std::int64_t>();
    for (const auto& p : state.at("piles")) {
        const std::string pile = p.at("id").get<std::string>();
        for (const auto& e : p.at("queue")) {
            LiveOrder o = live(e, e.at("state").get<std::string>(), pile);
            o.remaining_kwh =
                std::max(0.0, std::round((o.requested_kwh - o.charged_kwh) * 100) / 100);
            snap->orders[e.at("order").get<std::int64_t>()] = std::move(o);
        }
    }
    for (const auto& e : state.at("waiting")) {
        LiveOrder o = live(e, "WAITING", "");
        o.remaining_kwh = e.value("kwh", 0.0);
        snap->orders[e.at("order").get<std::int64_t>()] = std::move(o);
    }
    for (const auto& e : state.at("redispatch")) {
        LiveOrder o = live(e, "REDISPATCH", "");
        o.remaining_kwh = e.value("kwh", 0.0);
        snap->orders[e.at("order").get<std::int64_t>()] = std::move(o);
    }
    snap->run = state.at("run").get<std::string>();
    snap->head = state.at("head").get<std::int64_t>();
    snap->state = state;
    return snap;
}

}  // namespace

bool StationView::offer(const json& state) {
    std::shared_ptr<StationSnapshot> snap;
    try {
        snap = build(state);
    } catch (const std::exception&) {
        return false;
    }
    std::lock_guard lock(mutex_);
    // A new scheduler run starts its own clock and revisions: its first state is taken
    // whatever its time (a simulated run may start earlier than the last one ended).
    const bool same_run = snap->run == current_->run;
    if (same_run && (snap->at_ms < current_->at_ms ||
                     (snap->at_ms == current_->at_ms && snap->revision < current_->revision))) {
        return false;
    }
    current_ = std::move(snap);
    return true;
}

std::shared_ptr<const StationSnapshot> StationView::snapshot() const {
    std::lock_guard lock(mutex_);
    return current_;
}

void StationView::set_clock(const contract::ClockMessage& clock) {
    std::lock_guard lock(mutex_);
    clock_ = clock;
}

std::optional<std::int64_t> StationView::station_now(std::int64_t wall_ms) const {
    std::lock_guard lock(mutex_);
    if (!clock_) {
        return std::nullopt;
    }
    const double elapsed = static_cast<double>(wall_ms - clock_->wall_ms) * clock_->speed;
    return clock_->at_ms + static_cast<std::int64_t>(std::llround(std::max(0.0, elapsed)));
}

}  // namespace api
