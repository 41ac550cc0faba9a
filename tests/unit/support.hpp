#pragma once
// Helpers shared by the core's unit tests: station times and small profiles.

#include <stdexcept>
#include <string>

#include "station/profile.hpp"
#include "station/station.hpp"
#include "station/time.hpp"

namespace test {

/// Station time of HH:MM:SS on day `day`.
inline station::TimeMs at(int h, int m, int s = 0, int day = 0) {
    return day * station::kMsPerDay + h * station::kMsPerHour + m * station::kMsPerMinute +
           s * station::kMsPerSecond;
}

/// A profile of `fast` piles at `fast_kw` and `slow` piles at `slow_kw`.
inline station::Profile profile(int fast, int slow, double fast_kw, double slow_kw, int waiting,
                                int queue, station::Policy policy = {}) {
    station::Profile p;
    p.name = "test";
    p.waiting_area = waiting;
    p.queue_length = queue;
    p.policy = policy;
    for (int i = 1; i <= fast; ++i) {
        p.piles.push_back({"F" + std::to_string(i), "", station::Mode::Fast, fast_kw});
    }
    for (int i = 1; i <= slow; ++i) {
        p.piles.push_back({"T" + std::to_string(i), "", station::Mode::Slow, slow_kw});
    }
    return p;
}

/// Ids of the cars at pile `pile`, head first, e.g. "A,B".
inline std::string queue_of(const station::Station& st, const std::string& pile) {
    std::string out;
    for (station::OrderId id : st.pile_queue(*st.find_pile(pile))) {
        out += (out.empty() ? "" : ",") + std::string(st.car_name(st.order(id)));
    }
    return out;
}

/// Cars in the waiting area in entry order, e.g. "C,D".
inline std::string waiting_of(const station::Station& st) {
    std::string out;
    for (station::OrderId id : st.waiting_area()) {
        out += (out.empty() ? "" : ",") + std::string(st.car_name(st.order(id)));
    }
    return out;
}

/// Cars of a mode's re-dispatch group in service order.
inline std::string group_of(const station::Station& st, station::Mode m) {
    std::string out;
    for (station::OrderId id : st.redispatch_group(m)) {
        out += (out.empty() ? "" : ",") + std::string(st.car_name(st.order(id)));
    }
    return out;
}

inline const station::Order& order_of(const station::Station& st, const std::string& car) {
    // The car's latest order, active or not.
    const station::Order* found = nullptr;
    for (const station::Order& o : st.orders()) {
        if (st.car_name(o) == car) {
            found = &o;
        }
    }
    if (found == nullptr) {
        throw std::runtime_error("no order for car " + car);
    }
    return *found;
}

}  // namespace test
