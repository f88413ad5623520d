#include "lib/metrics/metrics.h"

#include <chrono>

#include "absl/strings/str_cat.h"

#ifndef KITE_VERSION
#define KITE_VERSION "dev"
#endif

namespace kite::metrics {

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Start(const std::string& daemon,
                                                        const std::string& address) {
  auto m = std::make_unique<Metrics>();
  m->registry_ = std::make_shared<prometheus::Registry>();
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address, ": ", e.what(),
                                               " (is the port in use?)"));
  }
  m->exposer_->RegisterCollectable(m->registry_);
  m->Gauge("kite_build_info", "Build information; the value is always 1")
      .Add({{"daemon", daemon}, {"version", KITE_VERSION}})
      .Set(1);
  m->Gauge("kite_up", "1 while the daemon runs").Add({}).Set(1);
  auto start = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  m->Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds")
      .Add({})
      .Set(static_cast<double>(start));
  return m;
}

prometheus::Family<prometheus::Counter>& Metrics::Counter(const std::string& name,
                                                          const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
}
prometheus::Family<prometheus::Gauge>& Metrics::Gauge(const std::string& name,
                                                      const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
}
prometheus::Family<prometheus::Histogram>& Metrics::Histogram(const std::string& name,
                                                              const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
}

prometheus::Histogram::BucketBoundaries Metrics::LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
}

}  // namespace kite::metrics
