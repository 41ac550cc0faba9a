#include "scheduler_metrics.hpp"

#include "metrics/families.hpp"
#include "station/types.hpp"

namespace service {

using metrics::counter;
using metrics::gauge;
using metrics::latency;

namespace {

/// Adds what `now` grew by since `seen` (counters of a process only grow).
void grow(prometheus::Counter& c, std::int64_t now, std::int64_t& seen) {
    if (now > seen) {
        c.Increment(static_cast<double>(now - seen));
    }
    seen = now;
}

}  // namespace

SchedulerMetrics::SchedulerMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      messages_(counter(*registry_, "evcs_scheduler_messages_total",
                        "MQTT messages the scheduler took from the bus.")),
      dropped_(counter(*registry_, "evcs_scheduler_messages_dropped_total",
                       "Messages dropped as malformed, unknown, replayed or out of place.")),
      commands_sent_(counter(*registry_, "evcs_scheduler_pile_commands_total",
                             "Commands sent to piles (start, stop, switch, fault, reset).")),
      commands_refused_(counter(*registry_, "evcs_scheduler_pile_commands_refused_total",
                                "Pile commands a pile (or its gateway) acknowledged as failed.")),
      bills_(counter(*registry_, "evcs_scheduler_bills_total",
                     "Bills of the run (a restart resumes the run's count).")),
      billed_cents_(counter(*registry_, "evcs_scheduler_billed_cents_total",
                            "Fees of the run's bills (charge and service), in cents.")),
      piles_online_(gauge(*registry_, "evcs_scheduler_piles_online",
                          "Piles whose latest status said online.")),
      waiting_(gauge(*registry_, "evcs_scheduler_waiting_cars", "Cars in the waiting area.")),
      queued_(gauge(*registry_, "evcs_scheduler_queued_cars",
                    "Cars in the piles' queues, those charging included.")),
      charging_(gauge(*registry_, "evcs_scheduler_sessions_active",
                      "Piles with a charging session under way.")),
      journal_lines_(gauge(*registry_, "evcs_scheduler_journal_lines",
                           "Journal lines of the run (0 without --journal).")),
      log_position_(gauge(*registry_, "evcs_scheduler_log_position",
                          "The change log's head: the position of the last change published.")),
      inbox_(gauge(*registry_, "evcs_scheduler_inbox_messages",
                   "Messages waiting in the inbox when the loop last woke.")),
      connected_(gauge(*registry_, "evcs_scheduler_broker_connected",
                       "1 while the scheduler is connected to its broker.")),
      pass_seconds_(latency(*registry_, "evcs_scheduler_loop_pass_seconds",
                            "Wall time of one pass of the loop that handled messages: "
                            "journal sync and publication included.")) {
    auto& requests = prometheus::BuildCounter()
                         .Name("evcs_scheduler_requests_total")
                         .Help("Requests of the API (and tools) by outcome.")
                         .Register(*registry_);
    const char* outcomes[] = {"done", "refused", "repeated", "expired", "malformed"};
    for (std::size_t i = 0; i < requests_.size(); ++i) {
        requests_[i] = &requests.Add({{"outcome", outcomes[i]}});
    }
    auto& piles = prometheus::BuildGauge()
                      .Name("evcs_scheduler_piles")
                      .Help("Piles by the station's state of them (OFF, WORK, REST, FAULT).")
                      .Register(*registry_);
    for (std::size_t s = 0; s < piles_.size(); ++s) {
        const auto state = station::to_string(static_cast<station::PileState>(s));
        piles_[s] = &piles.Add({{"state", std::string(state)}});
    }
}

void SchedulerMetrics::loop_pass(double seconds, std::size_t messages) {
    if (messages > 0) {
        pass_seconds_.Observe(seconds);
    }
}

void SchedulerMetrics::update(SchedulerApp& app, std::chrono::steady_clock::time_point now,
                              std::chrono::milliseconds every) {
    if (now < next_) {
        return;
    }
    next_ = now + every;
    const auto& s = app.stats();
    grow(messages_, s.messages, seen_.messages);
    grow(dropped_, s.dropped, seen_.dropped);
    grow(commands_sent_, s.commands_sent, seen_.commands_sent);
    grow(commands_refused_, s.commands_refused, seen_.commands_refused);
    grow(*requests_[0], s.requests_done, seen_.requests_done);
    grow(*requests_[1], s.requests_refused, seen_.requests_refused);
    grow(*requests_[2], s.requests_repeated, seen_.requests_repeated);
    grow(*requests_[3], s.requests_expired, seen_.requests_expired);
    grow(*requests_[4], s.requests_malformed, seen_.requests_malformed);
    const auto f = app.figures();
    grow(bills_, f.bills, bills_seen_);
    grow(billed_cents_, f.billed_cents, cents_seen_);
    for (std::size_t i = 0; i < piles_.size(); ++i) {
        piles_[i]->Set(f.piles_by_state[i]);
    }
    piles_online_.Set(f.piles_online);
    waiting_.Set(f.waiting);
    queued_.Set(f.queued);
    charging_.Set(f.charging);
    journal_lines_.Set(static_cast<double>(f.journal_lines));
    log_position_.Set(static_cast<double>(f.log_position));
}

}  // namespace service
