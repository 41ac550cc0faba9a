#pragma once
/// @file A service's Prometheus metrics: families of counters, gauges and histograms,
/// updated from any thread without a lock (atomics) and rendered on a scrape in the text
/// exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
///
/// A family is registered once, by name, with its label names; a child (one set of label
/// values) is made on first use and lives as long as the registry, so a hot path keeps the
/// reference it got.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace metrics {

/// Label values, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

/// A value that only goes up (a count of events); reset only by a restart.
class Counter {
  public:
    void inc(double by = 1.0);
    double value() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<double> value_{0.0};
};

/// A value that goes up and down (a length, a state count, a position).
class Gauge {
  public:
    void set(double v) { value_.store(v, std::memory_order_relaxed); }
    void add(double by);
    double value() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<double> value_{0.0};
};

/// Observations counted in cumulative buckets, with their sum and count (latencies, sizes).
class Histogram {
  public:
    /// `bounds`: the buckets' upper bounds, strictly increasing; +Inf is implied.
    explicit Histogram(std::vector<double> bounds);
    void observe(double v);

    struct Snapshot {
        std::vector<double> bounds;
        std::vector<std::uint64_t> cumulative;  ///< per bound, then +Inf (= count)
        double sum = 0;
    };
    Snapshot snapshot() const;

  private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // per bound, then +Inf
    std::atomic<double> sum_{0.0};
};

/// Latency buckets in seconds, 0.5 ms to 10 s.
std::vector<double> latency_buckets();

enum class Kind { Counter, Gauge, Histogram };

/// One family: a name, its help, its label names and its children.
template <typename Metric>
class Family {
  public:
    /// The child with these label values (as many as the family has label names), made on
    /// first use. The reference stays valid as long as the registry.
    Metric& with(const LabelValues& values);
    /// The child of a family without labels.
    Metric& only() { return with({}); }

  private:
    friend class Registry;
    Family(std::string name, std::string help, std::vector<std::string> labels,
           std::vector<double> bounds = {});

    std::string name_;
    std::string help_;
    std::vector<std::string> labels_;
    std::vector<double> bounds_;  // histograms only
    mutable std::mutex mutex_;
    std::map<LabelValues, std::unique_ptr<Metric>> children_;
};

/// All of a service's families, in the order they were registered.
class Registry {
  public:
    /// Registers a family. Names follow Prometheus' rules ([a-zA-Z_:][a-zA-Z0-9_:]*; a
    /// counter's ends in _total) and are unique; a breach throws std::invalid_argument
    /// (a programming error, found at start-up).
    Family<Counter>& counter(const std::string& name, const std::string& help,
                             std::vector<std::string> labels = {});
    Family<Gauge>& gauge(const std::string& name, const std::string& help,
                         std::vector<std::string> labels = {});
    Family<Histogram>& histogram(const std::string& name, const std::string& help,
                                 std::vector<double> bounds, std::vector<std::string> labels = {});

    /// Every family and child, in the text exposition format 0.0.4.
    std::string render() const;

  private:
    void check_name(const std::string& name, const std::vector<std::string>& labels);

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Family<Counter>>> counters_;
    std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
    std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
    std::vector<std::pair<Kind, std::size_t>> order_;  // (kind, index in its vector)
};

/// The content type of Registry::render's text.
inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace metrics
