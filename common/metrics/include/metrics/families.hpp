#pragma once
/// @file Registering a metric family and taking its child in one call, as every service
/// does for its unlabelled series, and the latency histograms all of them share.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>
#include <vector>

namespace metrics {

/// Latency buckets in seconds, 0.5 ms to 10 s.
std::vector<double> latency_buckets();

/// The child without labels of a new counter family `name`.
prometheus::Counter& counter(prometheus::Registry& registry, const std::string& name,
                             const std::string& help);
/// The child without labels of a new gauge family `name`.
prometheus::Gauge& gauge(prometheus::Registry& registry, const std::string& name,
                         const std::string& help);
/// The child with `labels` of a latency histogram family (buckets: latency_buckets()).
prometheus::Histogram& latency(prometheus::Family<prometheus::Histogram>& family,
                               const prometheus::Labels& labels = {});
/// The child without labels of a new latency histogram family `name`.
prometheus::Histogram& latency(prometheus::Registry& registry, const std::string& name,
                               const std::string& help);

}  // namespace metrics
