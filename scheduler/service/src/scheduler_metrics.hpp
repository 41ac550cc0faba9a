#pragma once
// The scheduler's Prometheus families (station-scheduler --metrics), fed from
// SchedulerApp's counters and figures: an adapter of main's, kept out of the bus-free logic.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "service/scheduler_app.hpp"

namespace service {

class SchedulerMetrics {
  public:
    explicit SchedulerMetrics(std::shared_ptr<prometheus::Registry> registry);

    /// One pass of the loop took `seconds` and handled `messages` messages.
    void loop_pass(double seconds, std::size_t messages);
    /// Messages waiting in the inbox when the pass began.
    void inbox(std::size_t length) { inbox_.Set(static_cast<double>(length)); }
    void broker_connected(bool up) { connected_.Set(up ? 1 : 0); }
    /// Brings the families up to `app` (its counters' growth, its figures); at most once per
    /// `every` of wall time, as the figures walk every pile.
    void update(SchedulerApp& app, std::chrono::steady_clock::time_point now,
                std::chrono::milliseconds every = std::chrono::milliseconds(1000));

  private:
    std::shared_ptr<prometheus::Registry> registry_;
    prometheus::Counter& messages_;
    prometheus::Counter& dropped_;
    prometheus::Counter& commands_sent_;
    prometheus::Counter& commands_refused_;
    prometheus::Counter& bills_;
    prometheus::Counter& billed_cents_;
    std::array<prometheus::Counter*, 5> requests_{};  // done, refused, repeated, expired, malformed
    std::array<prometheus::Gauge*, 4> piles_{};       // by station::PileState
    prometheus::Gauge& piles_online_;
    prometheus::Gauge& waiting_;
    prometheus::Gauge& queued_;
    prometheus::Gauge& charging_;
    prometheus::Gauge& journal_lines_;
    prometheus::Gauge& log_position_;
    prometheus::Gauge& inbox_;
    prometheus::Gauge& connected_;
    prometheus::Histogram& pass_seconds_;
    SchedulerApp::Stats seen_;
    std::int64_t bills_seen_ = 0;
    std::int64_t cents_seen_ = 0;
    std::chrono::steady_clock::time_point next_{};
};

}  // namespace service
