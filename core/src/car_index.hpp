#pragma once
// Internal: the station's car registry. Looking a car up is the hottest step of a busy
// station (every request, change and cancel), and a node-based std::unordered_map costs
// about three cache misses per lookup at 50,000 cars. This flat open-addressing table keeps
// a hash tag beside each slot and the car's name and open order together in one record,
// so a lookup touches two cache lines.

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "station/types.hpp"

namespace station::detail {

class CarIndex {
  public:
    struct Car {
        std::string name;
        OrderId active = kNone;  ///< the car's open order
    };

    CarIndex() : slots_(kInitialSlots, 0) {}

    /// The car's index, or kNone if it was never seen.
    std::int32_t find(std::string_view name) const {
        const std::uint64_t h = hash(name);
        for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
            const std::uint64_t e = slots_[i];
            if (e == 0) {
                return kNone;
            }
            const auto index = static_cast<std::int32_t>((e & 0xffffffffU) - 1);
            if ((e >> 32) == (h >> 32) && cars_[static_cast<std::size_t>(index)].name == name) {
                return index;
            }
        }
    }
    /// Starts loading the slot where `name` would be found (a hint; changes nothing).
    void prefetch(std::string_view name) const { __builtin_prefetch(&slots_[hash(name) & mask()]); }
    /// Starts loading a car's record (a hint; changes nothing).
    void prefetch(std::int32_t index) const {
        __builtin_prefetch(&cars_[static_cast<std::size_t>(index)]);
    }
    /// Adds a car that find() does not know and returns its index.
    std::int32_t add(std::string_view name) {
        if ((cars_.size() + 1) * 2 > slots_.size()) {
            grow();
        }
        const auto index = static_cast<std::int32_t>(cars_.size());
        cars_.push_back(Car{std::string(name), kNone});
        place(hash(name), index);
        return index;
    }
    /// Adds a car that find() does not know, taking over its name, and returns its index.
    std::int32_t add_owned(std::string name) {
        if ((cars_.size() + 1) * 2 > slots_.size()) {
            grow();
        }
        const auto index = static_cast<std::int32_t>(cars_.size());
        const std::uint64_t h = hash(name);
        cars_.push_back(Car{std::move(name), kNone});
        place(h, index);
        return index;
    }
    /// Adds `names` in their order, taking them over, as add_owned one by one would (same
    /// indexes, same slots), but faster for many: the table is sized once and each name's
    /// slot is fetched from memory while earlier names are placed. Returns the position in
    /// `names` of the first name that is already known (nothing from it on is added), or
    /// `names.size()` if all were new.
    std::size_t add_all_owned(std::vector<std::string>& names) {
        reserve(cars_.size() + names.size());
        constexpr std::size_t kAhead = 16;  // names hashed and prefetched ahead (power of 2)
        std::array<std::uint64_t, kAhead> ahead{};
        const auto look_ahead = [&](std::size_t k) {
            if (k < names.size()) {
                ahead[k % kAhead] = hash(names[k]);
                __builtin_prefetch(&slots_[ahead[k % kAhead] & mask()]);
            }
        };
        for (std::size_t k = 0; k < kAhead; ++k) {
            look_ahead(k);
        }
        for (std::size_t k = 0; k < names.size(); ++k) {
            const std::uint64_t h = ahead[k % kAhead];
            look_ahead(k + kAhead);
            std::size_t i = h & mask();
            for (; slots_[i] != 0; i = (i + 1) & mask()) {
                const std::uint64_t e = slots_[i];
                if ((e >> 32) == (h >> 32) && cars_[(e & 0xffffffffU) - 1].name == names[k]) {
                    return k;
                }
            }
            const auto index = static_cast<std::int32_t>(cars_.size());
            cars_.push_back(Car{std::move(names[k]), kNone});
            slots_[i] = (h & 0xffffffff00000000ULL) | (static_cast<std::uint64_t>(index) + 1);
        }
        return names.size();
    }
    /// Makes room for `cars` cars in all. The table ends as the same adds one by one would
    /// leave it (same size, same slots), only without the intermediate growths.
    void reserve(std::size_t cars) {
        cars_.reserve(cars);
        std::size_t slots = slots_.size();
        while (cars * 2 > slots) {
            slots *= 2;
        }
        if (slots != slots_.size()) {
            slots_.assign(slots / 2, 0);  // grow() doubles it and places the cars again
            grow();
        }
    }
    std::size_t size() const { return cars_.size(); }
    Car& operator[](std::int32_t i) { return cars_[static_cast<std::size_t>(i)]; }
    const Car& operator[](std::int32_t i) const { return cars_[static_cast<std::size_t>(i)]; }

  private:
    static constexpr std::size_t kInitialSlots = 1024;
    static std::uint64_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
    std::size_t mask() const { return slots_.size() - 1; }

    void place(std::uint64_t h, std::int32_t index) {
        std::size_t i = h & mask();
        while (slots_[i] != 0) {
            i = (i + 1) & mask();
        }
        slots_[i] = (h & 0xffffffff00000000ULL) | (static_cast<std::uint64_t>(index) + 1);
    }
    void grow() {
        slots_.assign(slots_.size() * 2, 0);
        for (std::size_t i = 0; i < cars_.size(); ++i) {
            place(hash(cars_[i].name), static_cast<std::int32_t>(i));
        }
    }

    std::vector<std::uint64_t> slots_;  // hash tag (high 32 bits) | index + 1; 0 = empty
    std::vector<Car> cars_;
};

}  // namespace station::detail
