// kite-freebusy's kite.freebusy.v1.FreeBusy service (proto/kite/freebusy/v1/freebusy.proto):
// availability of users and resources, "find a time", and the external free/busy URL.
//
// For each target: the address is resolved to an enabled account (its own address or an
// alias; sub-address tags ignored) and lib/directory's FreeBusyVisible rules decide whether
// the viewer may see it (unknown, disabled, a list, or refused: visible = false, no
// periods) — evaluated for all targets of a call in one statement (store.h VisibleTargets;
// tests/freebusy checks it agrees with FreeBusyVisible case by case).
// The busy time is computed from the account's regular, non-transparent calendars
// (lib/calendar: recurrences with overrides and EXDATE expanded, TRANSP:TRANSPARENT and
// STATUS:CANCELLED instances left out, TENTATIVE as BUSY-TENTATIVE, VFREEBUSY objects
// included), plus BUSY-UNAVAILABLE outside the account's working hours where configured, then
// merged; the answer per (account, start, end) is cached in Redis (freebusy/cache.h).
//
// SECURITY: what leaves this service is periods and FBTYPEs, nothing else of an event — the
// response messages have no field that could carry a summary, location, attendee or
// description. Ranges are bounded (freebusy.max_range), targets per call
// (freebusy.max_targets), objects read per target (freebusy.max_objects) and instances per
// object (lib/calendar's kMaxInstances). Tokens of the external URL are compared through
// their SHA-256 (store.h). The caller (kite-caldav) is trusted for the viewer's account id.
// STANDARDS: RFC 5545 3.6.4 (VFREEBUSY) and 3.2.9 (FBTYPE), RFC 4791 7.10 (which instances
// are busy), RFC 6638 (the scheduling outbox asks the same question).
#ifndef KITE_SERVICES_FREEBUSY_FREEBUSY_SERVICE_H_
#define KITE_SERVICES_FREEBUSY_FREEBUSY_SERVICE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "freebusy/cache.h"
#include "freebusy/store.h"
#include "kite/freebusy/v1/freebusy.grpc.pb.h"
#include "lib/calendar/calendar.h"
#include "lib/store/pool.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace kite::freebusy {

struct ServiceOptions {
  int64_t max_range_seconds = 366 * 86400;  // freebusy.max_range
  size_t max_targets = 100;                 // freebusy.max_targets
  size_t max_objects = 10000;               // freebusy.max_objects (per target and call)
  int64_t external_days = 60;               // freebusy.external_days (default range of the URL)
};

// A slot search over already merged busy periods: the first `max` slots of `duration`
// starting on multiples of `granularity` (UTC) within [start, end) that overlap no period.
// Consecutive slots do not overlap (the next candidate starts at the previous slot's end).
struct FreeSlot {
  int64_t start = 0;
  int64_t end = 0;
};
std::vector<FreeSlot> FindFreeSlots(std::vector<std::pair<int64_t, int64_t>> busy, int64_t start, int64_t end,
                                    int64_t duration, int64_t granularity, size_t max);

class FreeBusyService final : public kite::freebusy::v1::FreeBusy::Service {
 public:
  // `cache` may be null (no Redis: every answer computed). `pool` must outlive the service.
  FreeBusyService(PoolSource& pool, Cache* cache, prometheus::Registry& registry, ServiceOptions options);
  // Tests: a pool that is already open.
  FreeBusyService(store::Pool& pool, Cache* cache, prometheus::Registry& registry, ServiceOptions options);

  grpc::Status Availability(grpc::ServerContext* context, const kite::freebusy::v1::AvailabilityRequest* request,
                            kite::freebusy::v1::AvailabilityResponse* response) override;
  grpc::Status Invalidate(grpc::ServerContext* context, const kite::freebusy::v1::InvalidateRequest* request,
                          kite::freebusy::v1::InvalidateResponse* response) override;
  grpc::Status FindTime(grpc::ServerContext* context, const kite::freebusy::v1::FindTimeRequest* request,
                        kite::freebusy::v1::FindTimeResponse* response) override;
  grpc::Status ExternalFreeBusy(grpc::ServerContext* context,
                                const kite::freebusy::v1::ExternalFreeBusyRequest* request,
                                kite::freebusy::v1::ExternalFreeBusyResponse* response) override;

  // The target behind `address` when the viewer may see it; nullopt otherwise (one address
  // of VisibleTargets).
  absl::StatusOr<std::optional<Target>> VisibleTarget(int64_t viewer_account_id, std::string_view address);
  // The merged busy periods of a target over [start, end): cached, or computed and cached.
  absl::StatusOr<std::vector<calendar::BusyPeriod>> Busy(const Target& target, int64_t start, int64_t end);
  // Busy for several targets: one cache round trip for all of them (Cache::GetMany).
  std::vector<absl::StatusOr<std::vector<calendar::BusyPeriod>>> BusyMany(const std::vector<const Target*>& targets,
                                                                         int64_t start, int64_t end);
  // The same without the cache.
  absl::StatusOr<std::vector<calendar::BusyPeriod>> Compute(const Target& target, int64_t start, int64_t end);

 private:
  std::unique_ptr<PoolSource> own_source_;
  PoolSource& source_;
  Cache* cache_;
  const ServiceOptions options_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& cache_family_;
  prometheus::Counter& cache_hit_;
  prometheus::Counter& cache_miss_;
  prometheus::Counter& cache_unavailable_;
  prometheus::Counter& unparsable_;
  prometheus::Counter& truncated_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Histogram& compute_latency_;
};

}  // namespace kite::freebusy

#endif  // KITE_SERVICES_FREEBUSY_FREEBUSY_SERVICE_H_
