#pragma once
/// @file The positions of a scheduler run's change log (contract/changes.hpp): every order
/// change and every bill the station reports gets the next position, in the order the
/// station reports them. The station core is deterministic, so replaying the journal
/// gives every change the same position again: positions never change and never repeat.
/// The log keeps only the position of each order's last change and of each bill; the
/// station itself holds their content, so a catch-up answer is built from the station
/// as it stands (each order once, as it is now) and memory grows with the station, not
/// with its history.

#include <cstdint>
#include <string>
#include <vector>

#include "contract/changes.hpp"
#include "station/station.hpp"

namespace service {

class ChangeLog {
  public:
    explicit ChangeLog(std::string run) : run_(std::move(run)) {}

    const std::string& run() const { return run_; }
    /// The position of the last change (0 before any).
    std::int64_t head() const { return head_; }

    /// The next position goes to this order's change; returns it.
    std::int64_t order_changed(station::OrderId id);
    /// The next position goes to this bill; returns it.
    std::int64_t bill_made(station::BillId id);

    std::int64_t order_pos(station::OrderId id) const;
    std::int64_t bill_pos(station::BillId id) const;

    /// The batch (from, head] of the given orders (each once, as it stands now) and bills.
    contract::ChangeBatch batch(const station::Station& st, std::int64_t from,
                                const std::vector<station::OrderId>& orders,
                                const std::vector<station::BillId>& bills) const;
    /// What follows `after` in this run, at most `limit` items, oldest first: orders whose
    /// last change and bills made after it. `more` is set when the answer was cut short.
    /// A caller following another run (`caller_run` not empty and not this run) gets the
    /// run from its start.
    contract::ChangeBatch since(const station::Station& st, const std::string& caller_run,
                                std::int64_t after, std::size_t limit) const;

    /// The positions for a snapshot, and back.
    struct Image {
        std::int64_t head = 0;
        std::vector<std::int64_t> order_pos;
        std::vector<std::int64_t> bill_pos;
    };
    Image image() const { return Image{head_, order_pos_, bill_pos_}; }
    /// Throws std::runtime_error if a position lies outside [0, head].
    void restore(Image image);

  private:
    std::string run_;
    std::int64_t head_ = 0;
    std::vector<std::int64_t> order_pos_;  // by order id
    std::vector<std::int64_t> bill_pos_;   // by bill id
};

}  // namespace service
