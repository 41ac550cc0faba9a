#pragma once
/// @file The API's Prometheus metrics (issue #12; the list is in docs/metrics.md): the
/// HTTP front's requests and connections, the live streams, the link to the scheduler, the
/// replicated change log and what its projection stores (orders, bills). The pieces that
/// count hold an `ApiMetrics*` (nullptr: metrics are off) and call its plain methods; only
/// api/src/api_metrics.cpp knows prometheus-cpp. Every method is thread-safe and cheap
/// (atomics; the per-route series are made once, then found under a short lock).

#include <cstdint>
#include <memory>
#include <string_view>

namespace prometheus {
class Registry;
}

namespace api {

class ApiMetrics {
  public:
    /// Registers the API's families (prefix `evcs_api_`) in `registry`, which must outlive
    /// this object.
    explicit ApiMetrics(prometheus::Registry& registry);
    ~ApiMetrics();
    ApiMetrics(const ApiMetrics&) = delete;
    ApiMetrics& operator=(const ApiMetrics&) = delete;

    /// The `method` label: GET, POST, PATCH, DELETE, OPTIONS, HEAD, else "other".
    static std::string_view method_label(std::string_view method);

    // ---- HTTP -------------------------------------------------------------------------
    /// One answer: `route` is a route template or "other" (ApiApp::route_label), never a raw
    /// path; `seconds` from the whole head read to the answer ready to be written.
    void http_request(std::string_view method, std::string_view route, int code, double seconds);
    /// Open connections, open live streams.
    void connections(int open);
    void live_streams(int open);

    // ---- the scheduler link -----------------------------------------------------------
    enum class Outcome {
        Answered,  ///< a reply that did what was asked
        Refused,   ///< a reply that refused (including `expired`)
        Timeout,   ///< no reply in time: the outcome is not known
    };
    void scheduler_request(Outcome outcome, double seconds);

    // ---- the change log and its projection (counted once, after the commit) ------------
    // Each by `station` (its id, "" for the one station on its own topics): the series'
    // `station` label. An API serves a bounded set of stations, its --station options.
    /// The station's stored position moved to `position`, `entries` positions further (0:
    /// the position as loaded at start, or as another instance moved it).
    void log_applied(std::string_view station, std::int64_t position, std::int64_t entries);
    /// The newest position the API knows the station's scheduler has.
    void log_known(std::string_view station, std::int64_t position);
    /// How long the station's oldest known but unapplied position has waited (0: caught up).
    void log_lag(std::string_view station, double seconds);
    /// Rows the store wrote for the first time: orders, bills and the bills' fees in cents.
    void recorded(std::int64_t orders, std::int64_t bills, std::int64_t billed_cents);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace api
