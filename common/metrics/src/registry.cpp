#include "metrics/registry.hpp"

#include <algorithm>
#include <stdexcept>
#include <type_traits>

#include "metrics/exposition.hpp"

namespace metrics {

void Counter::inc(double by) {
    if (by < 0) {
        return;  // a counter never goes down
    }
    value_.fetch_add(by, std::memory_order_relaxed);
}

void Gauge::add(double by) {
    value_.fetch_add(by, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::observe(double v) {
    // Stored per bucket, summed on a scrape: one increment per observation.
    const auto at = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
    buckets_[static_cast<std::size_t>(at)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot s;
    s.bounds = bounds_;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        total += buckets_[i].load(std::memory_order_relaxed);
        s.cumulative.push_back(total);
    }
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
}

std::vector<double> latency_buckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

template <typename Metric>
Family<Metric>::Family(std::string name, std::string help, std::vector<std::string> labels,
                       std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      labels_(std::move(labels)),
      bounds_(std::move(bounds)) {}

template <typename Metric>
Metric& Family<Metric>::with(const LabelValues& values) {
    if (values.size() != labels_.size()) {
        throw std::invalid_argument(name_ + ": " + std::to_string(labels_.size()) +
                                    " label values expected");
    }
    const std::lock_guard lock(mutex_);
    auto& child = children_[values];
    if (!child) {
        if constexpr (std::is_same_v<Metric, Histogram>) {
            child = std::make_unique<Histogram>(bounds_);
        } else {
            child = std::make_unique<Metric>();
        }
    }
    return *child;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

void Registry::check_name(const std::string& name, const std::vector<std::string>& labels) {
    if (!valid_name(name)) {
        throw std::invalid_argument("not a metric name: " + name);
    }
    for (const auto& l : labels) {
        if (!valid_name(l, true) || l == "le") {
            throw std::invalid_argument(name + ": not a label name: " + l);
        }
    }
    const auto taken = [&name](const auto& families) {
        return std::any_of(families.begin(), families.end(),
                           [&name](const auto& f) { return f->name_ == name; });
    };
    if (taken(counters_) || taken(gauges_) || taken(histograms_)) {
        throw std::invalid_argument("metric registered twice: " + name);
    }
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> labels) {
    const std::lock_guard lock(mutex_);
    check_name(name, labels);
    if (name.size() < 6 || name.compare(name.size() - 6, 6, "_total") != 0) {
        throw std::invalid_argument("a counter's name ends in _total: " + name);
    }
    counters_.emplace_back(new Family<Counter>(name, help, std::move(labels)));
    order_.emplace_back(Kind::Counter, counters_.size() - 1);
    return *counters_.back();
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> labels) {
    const std::lock_guard lock(mutex_);
    check_name(name, labels);
    gauges_.emplace_back(new Family<Gauge>(name, help, std::move(labels)));
    order_.emplace_back(Kind::Gauge, gauges_.size() - 1);
    return *gauges_.back();
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       std::vector<double> bounds,
                                       std::vector<std::string> labels) {
    const std::lock_guard lock(mutex_);
    check_name(name, labels);
    if (bounds.empty() || !std::is_sorted(bounds.begin(), bounds.end()) ||
        std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end()) {
        throw std::invalid_argument(name + ": bucket bounds must increase strictly");
    }
    histograms_.emplace_back(
        new Family<Histogram>(name, help, std::move(labels), std::move(bounds)));
    order_.emplace_back(Kind::Histogram, histograms_.size() - 1);
    return *histograms_.back();
}

namespace {

/// `{a="x",b="y"}` with an extra label last (a histogram's le), or "" without labels.
std::string label_text(const std::vector<std::string>& names, const LabelValues& values,
                       const std::string& extra_name = "", const std::string& extra_value = "") {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        out += (out.empty() ? "{" : ",") + names[i] + "=\"" + escape_label_value(values[i]) + "\"";
    }
    if (!extra_name.empty()) {
        out += (out.empty() ? "{" : ",") + extra_name + "=\"" + extra_value + "\"";
    }
    return out.empty() ? out : out + "}";
}

void head(std::string& out, const std::string& name, const std::string& help, const char* type) {
    out += "# HELP " + name + " " + escape_help(help) + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string Registry::render() const {
    const std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& [kind, index] : order_) {
        switch (kind) {
            case Kind::Counter: {
                const auto& f = *counters_[index];
                head(out, f.name_, f.help_, "counter");
                const std::lock_guard children(f.mutex_);
                for (const auto& [values, c] : f.children_) {
                    out += f.name_ + label_text(f.labels_, values) + " " +
                           format_value(c->value()) + "\n";
                }
                break;
            }
            case Kind::Gauge: {
                const auto& f = *gauges_[index];
                head(out, f.name_, f.help_, "gauge");
                const std::lock_guard children(f.mutex_);
                for (const auto& [values, g] : f.children_) {
                    out += f.name_ + label_text(f.labels_, values) + " " +
                           format_value(g->value()) + "\n";
                }
                break;
            }
            case Kind::Histogram: {
                const auto& f = *histograms_[index];
                head(out, f.name_, f.help_, "histogram");
                const std::lock_guard children(f.mutex_);
                for (const auto& [values, h] : f.children_) {
                    const auto s = h->snapshot();
                    for (std::size_t i = 0; i < s.bounds.size(); ++i) {
                        out += f.name_ + "_bucket" +
                               label_text(f.labels_, values, "le", format_value(s.bounds[i])) +
                               " " + std::to_string(s.cumulative[i]) + "\n";
                    }
                    out += f.name_ + "_bucket" + label_text(f.labels_, values, "le", "+Inf") + " " +
                           std::to_string(s.cumulative.back()) + "\n";
                    out += f.name_ + "_sum" + label_text(f.labels_, values) + " " +
                           format_value(s.sum) + "\n";
                    out += f.name_ + "_count" + label_text(f.labels_, values) + " " +
                           std::to_string(s.cumulative.back()) + "\n";
                }
                break;
            }
        }
    }
    return out;
}

}  // namespace metrics
