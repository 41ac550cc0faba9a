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
#include "contract/station_state.hpp"

namespace api {

/// Where an open order is and what it has received so far, as of the snapshot.
struct LiveOrder {
    contract::StateCar car;
    std::string pile;  ///< "" unless at a pile
};

struct StationSnapshot {
    bool known = false;            ///< a state has arrived
    contract::StationState state;  ///< the scheduler's last station state
    const std::string& run() const { return state.run; }
    std::unordered_map<std::int64_t, LiveOrder> orders;  ///< by the scheduler's order id
};

class StationView {
  public:
    /// Takes `state` if it is a station state no older than the one held (station time,
    /// then revision) or one of another scheduler run (a restart); returns whether it was
    /// taken.
    bool offer(contract::StationState state);
    /// The same for an untrusted document: one that is not a valid station state is refused.
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
