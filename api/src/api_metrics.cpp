#include "api/api_metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <mutex>
#include <string>
#include <unordered_map>

#include "metrics/families.hpp"

namespace api {

using metrics::counter;
using metrics::gauge;
using metrics::latency;

namespace {

constexpr std::array<std::string_view, 6> kMethods = {"GET",    "POST",    "PATCH",
                                                      "DELETE", "OPTIONS", "HEAD"};

prometheus::Family<prometheus::Gauge>& gauges(prometheus::Registry& r, const std::string& name,
                                              const std::string& help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

}  // namespace

struct ApiMetrics::Impl {
    explicit Impl(prometheus::Registry& r)
        : requests(prometheus::BuildCounter()
                       .Name("evcs_api_http_requests_total")
                       .Help("HTTP requests answered, the front's own refusals included, by "
                             "method, route template (\"other\" for an unknown path) and status")
                       .Register(r)),
          durations(prometheus::BuildHistogram()
                        .Name("evcs_api_http_request_duration_seconds")
                        .Help("Seconds from a request's whole head read to its answer ready to "
                              "be written, by route template")
                        .Register(r)),
          connections(gauge(r, "evcs_api_http_connections", "Open HTTP connections")),
          streams(gauge(r, "evcs_api_live_streams", "Open live streams (server-sent events)")),
          scheduler_family(prometheus::BuildCounter()
                               .Name("evcs_api_scheduler_requests_total")
                               .Help("Requests to the scheduler over MQTT by outcome: answered, "
                                     "refused, or timeout (no reply in time)")
                               .Register(r)),
          scheduler_answered(scheduler_family.Add({{"outcome", "answered"}})),
          scheduler_refused(scheduler_family.Add({{"outcome", "refused"}})),
          scheduler_timeout(scheduler_family.Add({{"outcome", "timeout"}})),
          scheduler_seconds(
              latency(r, "evcs_api_scheduler_request_duration_seconds",
                      "Seconds a request to the scheduler waited for its reply (or its timeout)")),
          applied_position(gauges(r, "evcs_api_log_applied_position",
                                  "The position of a station's change log the API has "
                                  "applied (stored), by station")),
          known_position(gauges(r, "evcs_api_log_known_position",
                                "The newest change-log position the API knows a station's "
                                "scheduler has (from its station state or a change batch), "
                                "by station")),
          entries(prometheus::BuildCounter()
                      .Name("evcs_api_log_entries_applied_total")
                      .Help("Change-log positions applied to the store, by station")
                      .Register(r)),
          lag(gauges(r, "evcs_api_log_apply_lag_seconds",
                     "Seconds a station's oldest change-log position the API knows of but "
                     "has not applied has waited since it became known, 0 when caught up "
                     "(log entries carry station time, which may be simulated, not a "
                     "publication time), by station")),
          orders(counter(r, "evcs_api_orders_created_total",
                         "Orders the API stored for the first time (from the change log or a "
                         "reply, once each)")),
          bills(counter(r, "evcs_api_bills_total",
                        "Detailed bills (charging sessions) the API stored, once each")),
          billed_cents(counter(r, "evcs_api_billed_cents_total",
                               "Charge and service fees of the stored bills, in cents")) {}

    prometheus::Family<prometheus::Counter>& requests;
    prometheus::Family<prometheus::Histogram>& durations;
    prometheus::Gauge& connections;
    prometheus::Gauge& streams;
    prometheus::Family<prometheus::Counter>& scheduler_family;
    prometheus::Counter& scheduler_answered;
    prometheus::Counter& scheduler_refused;
    prometheus::Counter& scheduler_timeout;
    prometheus::Histogram& scheduler_seconds;
    prometheus::Family<prometheus::Gauge>& applied_position;
    prometheus::Family<prometheus::Gauge>& known_position;
    prometheus::Family<prometheus::Counter>& entries;
    prometheus::Family<prometheus::Gauge>& lag;
    prometheus::Counter& orders;
    prometheus::Counter& bills;
    prometheus::Counter& billed_cents;

    // The per-route series, made on first use (their label values are bounded: the route
    // table, "other", the methods and the status codes the API answers with).
    std::mutex series_mutex;
    std::unordered_map<std::string, prometheus::Counter*> request_series;
    std::unordered_map<std::string, prometheus::Histogram*> duration_series;

    // A station's log series, made on first use.
    struct LogSeries {
        prometheus::Gauge* applied;
        prometheus::Gauge* known;
        prometheus::Counter* entries;
        prometheus::Gauge* lag;
    };
    std::mutex log_mutex;
    std::unordered_map<std::string, LogSeries> log_series;
    LogSeries& log_of(std::string_view station) {
        std::lock_guard lock(log_mutex);
        const auto [at, added] = log_series.try_emplace(std::string(station));
        if (added) {
            const prometheus::Labels labels{{"station", std::string(station)}};
            at->second = LogSeries{&applied_position.Add(labels), &known_position.Add(labels),
                                   &entries.Add(labels), &lag.Add(labels)};
        }
        return at->second;  // stays where it is: unordered_map nodes do not move
    }
};

ApiMetrics::ApiMetrics(prometheus::Registry& registry) : impl_(std::make_unique<Impl>(registry)) {}

ApiMetrics::~ApiMetrics() = default;

std::string_view ApiMetrics::method_label(std::string_view method) {
    for (const std::string_view m : kMethods) {
        if (method == m) {
            return m;
        }
    }
    return "other";
}

void ApiMetrics::http_request(std::string_view method, std::string_view route, int code,
                              double seconds) {
    const std::string_view m = method_label(method);
    const std::string code_text = std::to_string(code);
    std::string key;
    key.reserve(m.size() + route.size() + code_text.size() + 2);
    key.append(m).append(1, ' ').append(route).append(1, ' ').append(code_text);
    prometheus::Counter* counter = nullptr;
    prometheus::Histogram* histogram = nullptr;
    {
        std::lock_guard lock(impl_->series_mutex);
        auto& c = impl_->request_series[key];
        if (c == nullptr) {
            c = &impl_->requests.Add(
                {{"method", std::string(m)}, {"route", std::string(route)}, {"code", code_text}});
        }
        counter = c;
        auto& h = impl_->duration_series[std::string(route)];
        if (h == nullptr) {
            h = &latency(impl_->durations, {{"route", std::string(route)}});
        }
        histogram = h;
    }
    counter->Increment();
    histogram->Observe(seconds < 0 ? 0 : seconds);
}

void ApiMetrics::connections(int open) {
    impl_->connections.Set(open);
}

void ApiMetrics::live_streams(int open) {
    impl_->streams.Set(open);
}

void ApiMetrics::scheduler_request(Outcome outcome, double seconds) {
    switch (outcome) {
        case Outcome::Answered:
            impl_->scheduler_answered.Increment();
            break;
        case Outcome::Refused:
            impl_->scheduler_refused.Increment();
            break;
        case Outcome::Timeout:
            impl_->scheduler_timeout.Increment();
            break;
    }
    impl_->scheduler_seconds.Observe(seconds < 0 ? 0 : seconds);
}

void ApiMetrics::log_applied(std::string_view station, std::int64_t position,
                             std::int64_t entries) {
    const Impl::LogSeries& series = impl_->log_of(station);
    series.applied->Set(static_cast<double>(position));
    if (entries > 0) {
        series.entries->Increment(static_cast<double>(entries));
    }
}

void ApiMetrics::log_known(std::string_view station, std::int64_t position) {
    impl_->log_of(station).known->Set(static_cast<double>(position));
}

void ApiMetrics::log_lag(std::string_view station, double seconds) {
    impl_->log_of(station).lag->Set(seconds < 0 ? 0 : seconds);
}

void ApiMetrics::recorded(std::int64_t orders, std::int64_t bills, std::int64_t billed_cents) {
    if (orders > 0) {
        impl_->orders.Increment(static_cast<double>(orders));
    }
    if (bills > 0) {
        impl_->bills.Increment(static_cast<double>(bills));
    }
    if (billed_cents > 0) {
        impl_->billed_cents.Increment(static_cast<double>(billed_cents));
    }
}

}  // namespace api
