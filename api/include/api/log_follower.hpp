#pragma once
/// @file How the API follows the scheduler's change log (contract/changes.hpp): what a
/// batch of changes means against the position applied so far, how its orders and bills
/// become rows, and applying batches to the store in order. No bus: the scheduler link
/// feeds it (and tests drive it with a scheduler in the same process).

#include <optional>
#include <string>

#include "api/store_port.hpp"
#include "contract/changes.hpp"

namespace api {

/// What to do with a batch of changes.
enum class BatchVerdict {
    Apply,  ///< it continues (or overlaps) what was applied: apply it, move to its `to`
    Have,   ///< everything in it was applied already
    Gap,    ///< it starts beyond the position (a change was missed): catch up first
};

/// The verdict on `batch` for a store at `have`. A batch of another run is applied only
/// from that run's start (the scheduler was started afresh, its ids count from 0 again).
BatchVerdict judge(const LogPosition& have, const contract::ChangeBatch& batch);

/// An order of `station`'s log as a row; nullopt if its car is not one of the API's (they
/// have numeric ids). Times become "YYYY-MM-DD HH:MM:SS", "" for a time not reached.
std::optional<OrderRecord> order_record(const std::string& station, const std::string& run,
                                        const contract::OrderUpdate& u);
BillRecord bill_record(const std::string& station, const std::string& run,
                       const contract::BillUpdate& b);

/// The rows of a batch of `station`'s log, for Store::apply_changes.
struct BatchRows {
    std::vector<OrderRecord> orders;
    std::vector<BillRecord> bills;
};
BatchRows rows_of(const std::string& station, const contract::ChangeBatch& batch);

/// What apply_batches did.
struct Applied {
    std::int64_t batches = 0;  ///< applied (in one transaction)
    bool gap = false;          ///< a batch started beyond the position: catch up
};
/// Applies the batches of `station`'s log that continue the store's position for it, in
/// order, in one transaction (one fsync for a burst); skips those it has; stops at the
/// first gap.
Applied apply_batches(StorePort& store, const std::string& station,
                      const std::vector<contract::ChangeBatch>& batches);

}  // namespace api
