#include "metrics/families.hpp"

namespace metrics {

std::vector<double> latency_buckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

prometheus::Counter& counter(prometheus::Registry& registry, const std::string& name,
                             const std::string& help) {
    return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Gauge& gauge(prometheus::Registry& registry, const std::string& name,
                         const std::string& help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Histogram& latency(prometheus::Family<prometheus::Histogram>& family,
                               const prometheus::Labels& labels) {
    return family.Add(labels, prometheus::Histogram::BucketBoundaries(latency_buckets()));
}

prometheus::Histogram& latency(prometheus::Registry& registry, const std::string& name,
                               const std::string& help) {
    return latency(prometheus::BuildHistogram().Name(name).Help(help).Register(registry));
}

}  // namespace metrics
