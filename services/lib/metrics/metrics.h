// Prometheus metrics for every daemon: a registry, the /metrics HTTP endpoint
// (prometheus-cpp's Exposer, civetweb inside), and the metrics every daemon exports
// (kite_build_info, kite_up, process start time).
// Untrusted input: HTTP requests to the metrics port, handled by civetweb.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace kite::metrics {

class Metrics {
 public:
  // Serves /metrics on `address` ("127.0.0.1:9101"). Fails with a clear message when the
  // port is taken.
  static absl::StatusOr<std::unique_ptr<Metrics>> Start(const std::string& daemon,
                                                        const std::string& address);
  prometheus::Registry& registry() { return *registry_; }

  // Shorthands; names must follow Prometheus conventions (kite_<daemon>_<what>_total).
  prometheus::Family<prometheus::Counter>& Counter(const std::string& name, const std::string& help);
  prometheus::Family<prometheus::Gauge>& Gauge(const std::string& name, const std::string& help);
  prometheus::Family<prometheus::Histogram>& Histogram(const std::string& name, const std::string& help);

  // Buckets in seconds for latencies from 100 µs to 60 s.
  static prometheus::Histogram::BucketBoundaries LatencyBuckets();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace kite::metrics
