#pragma once
/// @file The API's read model of the station: the latest station state the scheduler
/// published (or sent in a reply), indexed by order, and the station clock. The API never
/// changes it; every change goes through the scheduler. Thread-safe: readers take an
/// immutable snapshot.

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>

#include "contract/messages.hpp"

namespace api {

/// Where an open order is and what it has received so far, as of the snapshot.
struct LiveOrder {
    std::string state;   ///< WAITING, DISPATCHED, CHARGING, or REDISPATCH (a re-dispatch group)
    std::string number;  ///< e.g. "F7"
    std::string mode;
    std::string pile;  ///< "" unless at a pile
    std::int64_t front_cars = 0;
    double requested_kwh = 0;
    double charged_kwh = 0;
    double charge_fee = 0;
    double service_fee = 0;
    double fee = 0;
    double waited_hours = 0;
    /// The pile's remaining need as the station counts it (requested − charged).
    double remaining_kwh = 0;
};

struct StationSnapshot {
    nlohmann::json state;  ///< the scheduler's station/state document
    std::int64_t at_ms = 0;
    std::int64_t revision = -1;
    std::string run;        ///< the scheduler run the order ids belong to
    std::int64_t head = 0;  ///< the run's change-log position the state shows
    std::unordered_map<std::int64_t, LiveOrder> orders;  ///< by the scheduler's order id
};

class StationView {
  public:
    /// Takes `state` if it is a station state no older than the one held (station time,
    /// then revision) or one of another scheduler run (a restart); returns whether it was
    /// taken. Malformed input is refused.
    bool offer(const nlohmann::json& state);
    /// The current snapshot; never null (empty before the first state arrives).
    std::shared_ptr<const StationSnapshot> snapshot() const;

    void set_clock(const contract::ClockMessage& clock);
    /// Station time now by the scheduler's clock; nullopt until the clock is known.
    std::optional<std::int64_t> station_now(std::int64_t wall_ms) const;

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<const StationSnapshot> current_ = std::make_shared<StationSnapshot>();
    std::optional<contract::ClockMessage> clock_;
};

}  // namespace api
