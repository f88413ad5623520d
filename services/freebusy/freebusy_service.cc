#include "freebusy/freebusy_service.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/log/log.h"
#include "lib/metrics/metrics.h"
#include "lib/rpc/rpc.h"

namespace kite::freebusy {

namespace v1 = kite::freebusy::v1;

namespace {

constexpr int64_t kMaxFindTimeResults = 100;
constexpr int64_t kDefaultGranularity = 900;
constexpr int64_t kDefaultFindTimeResults = 5;

v1::BusyType ToProto(calendar::BusyType t) {
  switch (t) {
    case calendar::BusyType::kBusy:
      return v1::BUSY_TYPE_BUSY;
    case calendar::BusyType::kTentative:
      return v1::BUSY_TYPE_BUSY_TENTATIVE;
    case calendar::BusyType::kUnavailable:
      return v1::BUSY_TYPE_BUSY_UNAVAILABLE;
  }
  return v1::BUSY_TYPE_BUSY;
}

void SetTime(google::protobuf::Timestamp* ts, int64_t t) {
  ts->set_seconds(t);
  ts->set_nanos(0);
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }
int64_t CeilTo(int64_t t, int64_t g) { return -FloorDiv(-t, g) * g; }

// A range from the request: start < end, at most max_range long, within years 1970..9999.
absl::Status CheckRange(int64_t start, int64_t end, int64_t max_range) {
  constexpr int64_t kYear9999 = 253402300799;
  if (start < 0 || end > kYear9999) return absl::InvalidArgumentError("the range must lie within years 1970..9999");
  if (end <= start) return absl::InvalidArgumentError("the range must end after it starts");
  if (end - start > max_range) {
    return absl::InvalidArgumentError(absl::StrCat("the range may be at most ", max_range / 86400, " days long"));
  }
  return absl::OkStatus();
}

class Timer {
 public:
  explicit Timer(prometheus::Histogram& h) : h_(h), start_(std::chrono::steady_clock::now()) {}
  ~Timer() { h_.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()); }

 private:
  prometheus::Histogram& h_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

std::vector<FreeSlot> FindFreeSlots(std::vector<std::pair<int64_t, int64_t>> busy, int64_t start, int64_t end,
                                    int64_t duration, int64_t granularity, size_t max) {
  std::vector<FreeSlot> out;
  if (duration <= 0 || granularity <= 0 || max == 0) return out;
  busy.erase(std::remove_if(busy.begin(), busy.end(), [](const auto& p) { return p.second <= p.first; }),
             busy.end());
  std::sort(busy.begin(), busy.end());
  size_t i = 0;
  int64_t t = CeilTo(start, granularity);
  while (out.size() < max && t <= end - duration) {
    while (i < busy.size() && busy[i].second <= t) ++i;
    // Busy periods are sorted by start; any of them from i on that starts before t+duration
    // and ends after t conflicts. The earliest end among the conflicting ones is not enough
    // (a longer one may overlap too), so skip past the furthest end of the overlapping run.
    int64_t blocked_until = t;
    for (size_t j = i; j < busy.size() && busy[j].first < t + duration; ++j) {
      if (busy[j].second > t) blocked_until = std::max(blocked_until, busy[j].second);
    }
    if (blocked_until > t) {
      t = CeilTo(blocked_until, granularity);
      continue;
    }
    out.push_back({t, t + duration});
    t = CeilTo(t + duration, granularity);
  }
  return out;
}

FreeBusyService::FreeBusyService(store::Pool& pool, Cache* cache, prometheus::Registry& registry,
                                 ServiceOptions options)
    : FreeBusyService(*new PoolSource(pool), cache, registry, options) {
  own_source_.reset(&source_);
}

FreeBusyService::FreeBusyService(PoolSource& pool, Cache* cache, prometheus::Registry& registry,
                                 ServiceOptions options)
    : source_(pool),
      cache_(cache),
      options_(options),
      requests_(prometheus::BuildCounter()
                    .Name("kite_freebusy_requests_total")
                    .Help("kite.freebusy.v1 calls by method and outcome (ok, invalid, error, not_found)")
                    .Register(registry)),
      cache_family_(prometheus::BuildCounter()
                        .Name("kite_freebusy_cache_total")
                        .Help("Answers per target looked up in the Redis cache, by result (hit, miss, unavailable)")
                        .Register(registry)),
      cache_hit_(cache_family_.Add({{"result", "hit"}})),
      cache_miss_(cache_family_.Add({{"result", "miss"}})),
      cache_unavailable_(cache_family_.Add({{"result", "unavailable"}})),
      unparsable_(prometheus::BuildCounter()
                      .Name("kite_freebusy_unparsable_objects_total")
                      .Help("Stored calendar objects that no longer parse (left out of free/busy)")
                      .Register(registry)
                      .Add({})),
      truncated_(prometheus::BuildCounter()
                     .Name("kite_freebusy_truncated_total")
                     .Help("Targets with more objects in the range than freebusy.max_objects (the rest left out)")
                     .Register(registry)
                     .Add({})),
      latency_(prometheus::BuildHistogram()
                   .Name("kite_freebusy_request_seconds")
                   .Help("Time to answer a kite.freebusy.v1 call, by method; compute = one target's busy time "
                         "computed from PostgreSQL (a cache miss)")
                   .Register(registry)),
      compute_latency_(latency_.Add({{"method", "compute"}}, metrics::Metrics::LatencyBuckets())) {}

absl::StatusOr<std::optional<Target>> FreeBusyService::VisibleTarget(int64_t viewer_account_id,
                                                                     std::string_view address) {
  auto pool = source_.Get();
  if (!pool.ok()) return pool.status();
  auto targets = VisibleTargets(**pool, viewer_account_id, {std::string(address)});
  if (!targets.ok()) return targets.status();
  return std::move((*targets)[0]);
}

absl::StatusOr<std::vector<calendar::BusyPeriod>> FreeBusyService::Compute(const Target& target, int64_t start,
                                                                           int64_t end) {
  Timer timer(compute_latency_);
  bool truncated = false;
  auto pool = source_.Get();
  if (!pool.ok()) return pool.status();
  auto objects = BusyObjects(**pool, target, start, end, options_.max_objects, &truncated);
  if (!objects.ok()) return objects.status();
  if (truncated) {
    truncated_.Increment();
    log::Warn("freebusy.truncated").Kv("account_id", target.account_id).Kv("objects", objects->size());
  }
  std::vector<calendar::BusyPeriod> periods;
  for (const auto& o : *objects) {
    auto object = calendar::Load(o.ical, o.floating_tz);
    if (!object) {
      unparsable_.Increment();
      continue;
    }
    calendar::AppendBusy(*object, start, end, &periods);
  }
  if (target.hours) {
    auto outside = calendar::OutsideWorkingHours(*target.hours, start, end);
    periods.insert(periods.end(), outside.begin(), outside.end());
  }
  return calendar::MergeBusy(std::move(periods));
}

absl::StatusOr<std::vector<calendar::BusyPeriod>> FreeBusyService::Busy(const Target& target, int64_t start,
                                                                        int64_t end) {
  Cache::Lookup lookup;
  if (cache_ != nullptr) lookup = cache_->Get(target.account_id, start, end);
  if (lookup.periods) {
    cache_hit_.Increment();
    return std::move(*lookup.periods);
  }
  (lookup.available ? cache_miss_ : cache_unavailable_).Increment();
  auto periods = Compute(target, start, end);
  if (periods.ok() && lookup.available) cache_->Put(target.account_id, lookup.generation, start, end, *periods);
  return periods;
}

std::vector<absl::StatusOr<std::vector<calendar::BusyPeriod>>> FreeBusyService::BusyMany(
    const std::vector<const Target*>& targets, int64_t start, int64_t end) {
  std::vector<Cache::Lookup> lookups(targets.size());
  if (cache_ != nullptr) {
    std::vector<int64_t> ids;
    for (const Target* t : targets) ids.push_back(t->account_id);
    lookups = cache_->GetMany(ids, start, end);
  }
  std::vector<absl::StatusOr<std::vector<calendar::BusyPeriod>>> out;
  out.reserve(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    Cache::Lookup& lookup = lookups[i];
    if (lookup.periods) {
      cache_hit_.Increment();
      out.emplace_back(std::move(*lookup.periods));
      continue;
    }
    (lookup.available ? cache_miss_ : cache_unavailable_).Increment();
    auto periods = Compute(*targets[i], start, end);
    if (periods.ok() && lookup.available) cache_->Put(targets[i]->account_id, lookup.generation, start, end, *periods);
    out.push_back(std::move(periods));
  }
  return out;
}

grpc::Status FreeBusyService::Availability(grpc::ServerContext*, const v1::AvailabilityRequest* request,
                                           v1::AvailabilityResponse* response) {
  prometheus::Histogram& h = latency_.Add({{"method", "availability"}}, metrics::Metrics::LatencyBuckets());
  Timer timer(h);
  auto count = [&](const char* outcome) { requests_.Add({{"method", "availability"}, {"outcome", outcome}}).Increment(); };
  const int64_t start = request->start().seconds();
  const int64_t end = request->end().seconds();
  if (absl::Status s = CheckRange(start, end, options_.max_range_seconds); !s.ok()) {
    count("invalid");
    return rpc::ToGrpc(s);
  }
  if (static_cast<size_t>(request->targets_size()) > options_.max_targets) {
    count("invalid");
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("at most ", options_.max_targets, " targets per call"));
  }
  std::vector<std::string> addresses(request->targets().begin(), request->targets().end());
  auto pool = source_.Get();
  absl::StatusOr<std::vector<std::optional<Target>>> targets =
      pool.ok() ? VisibleTargets(**pool, request->viewer_account_id(), addresses) : pool.status();
  if (!targets.ok()) {
    count("error");
    log::Error("freebusy.error").Kv("method", "availability").Kv("error", targets.status().ToString());
    return rpc::ToGrpc(targets.status());
  }
  std::vector<const Target*> visible;
  for (const auto& t : *targets) {
    if (t) visible.push_back(&*t);
  }
  auto busy = BusyMany(visible, start, end);
  size_t next = 0;
  for (size_t i = 0; i < addresses.size(); ++i) {
    v1::TargetAvailability* result = response->add_results();
    result->set_target(addresses[i]);
    if (!(*targets)[i]) {
      result->set_visible(false);
      continue;
    }
    const auto& periods = busy[next++];
    if (!periods.ok()) {
      count("error");
      log::Error("freebusy.error").Kv("method", "availability").Kv("error", periods.status().ToString());
      return rpc::ToGrpc(periods.status());
    }
    result->set_visible(true);
    for (const auto& p : *periods) {
      v1::Period* out = result->add_busy();
      SetTime(out->mutable_start(), p.start);
      SetTime(out->mutable_end(), p.end);
      out->set_type(ToProto(p.type));
    }
  }
  count("ok");
  return grpc::Status::OK;
}

grpc::Status FreeBusyService::Invalidate(grpc::ServerContext*, const v1::InvalidateRequest* request,
                                         v1::InvalidateResponse*) {
  auto count = [&](const char* outcome) { requests_.Add({{"method", "invalidate"}, {"outcome", outcome}}).Increment(); };
  if (request->account_id() <= 0) {
    count("invalid");
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "account_id must be positive");
  }
  if (cache_ == nullptr) {
    count("ok");
    return grpc::Status::OK;
  }
  absl::Status s = cache_->Invalidate(request->account_id());
  if (!s.ok()) {
    // Redis down: nothing can be served from it either; the TTL bounds what is left.
    count("error");
    log::Warn("freebusy.invalidate_failed").Kv("account_id", request->account_id()).Kv("error", s.ToString());
    return rpc::ToGrpc(s);
  }
  count("ok");
  return grpc::Status::OK;
}

grpc::Status FreeBusyService::FindTime(grpc::ServerContext*, const v1::FindTimeRequest* request,
                                       v1::FindTimeResponse* response) {
  prometheus::Histogram& h = latency_.Add({{"method", "find_time"}}, metrics::Metrics::LatencyBuckets());
  Timer timer(h);
  auto count = [&](const char* outcome) { requests_.Add({{"method", "find_time"}, {"outcome", outcome}}).Increment(); };
  auto invalid = [&](std::string message) {
    count("invalid");
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(message));
  };
  const int64_t start = request->window_start().seconds();
  const int64_t end = request->window_end().seconds();
  if (absl::Status s = CheckRange(start, end, options_.max_range_seconds); !s.ok()) {
    count("invalid");
    return rpc::ToGrpc(s);
  }
  if (request->attendees_size() == 0) return invalid("no attendees");
  if (static_cast<size_t>(request->attendees_size()) > options_.max_targets) {
    return invalid(absl::StrCat("at most ", options_.max_targets, " attendees per call"));
  }
  const int64_t duration = request->duration_seconds();
  if (duration <= 0 || duration > end - start) return invalid("duration_seconds must be positive and fit the window");
  const int64_t granularity = request->granularity_seconds() == 0 ? kDefaultGranularity : request->granularity_seconds();
  if (granularity < 60 || granularity > 86400) return invalid("granularity_seconds must be 60..86400");
  const int64_t max = request->max_results() == 0 ? kDefaultFindTimeResults : request->max_results();
  if (max < 0 || max > kMaxFindTimeResults) return invalid(absl::StrCat("max_results must be 0..", kMaxFindTimeResults));

  std::vector<std::string> addresses(request->attendees().begin(), request->attendees().end());
  auto pool = source_.Get();
  absl::StatusOr<std::vector<std::optional<Target>>> targets =
      pool.ok() ? VisibleTargets(**pool, request->viewer_account_id(), addresses) : pool.status();
  if (!targets.ok()) {
    count("error");
    return rpc::ToGrpc(targets.status());
  }
  std::vector<const Target*> visible;
  for (size_t i = 0; i < addresses.size(); ++i) {
    if ((*targets)[i]) {
      visible.push_back(&*(*targets)[i]);
    } else {
      response->add_not_visible(addresses[i]);
    }
  }
  std::vector<std::pair<int64_t, int64_t>> busy;
  for (auto& periods : BusyMany(visible, start, end)) {
    if (!periods.ok()) {
      count("error");
      return rpc::ToGrpc(periods.status());
    }
    for (const auto& p : *periods) {
      if (p.type == calendar::BusyType::kUnavailable && request->ignore_working_hours()) continue;
      if (p.type == calendar::BusyType::kTentative && request->tentative_is_free()) continue;
      busy.emplace_back(p.start, p.end);
    }
  }
  for (const FreeSlot& slot : FindFreeSlots(std::move(busy), start, end, duration, granularity, max)) {
    v1::Slot* out = response->add_slots();
    SetTime(out->mutable_start(), slot.start);
    SetTime(out->mutable_end(), slot.end);
  }
  count("ok");
  return grpc::Status::OK;
}

grpc::Status FreeBusyService::ExternalFreeBusy(grpc::ServerContext*, const v1::ExternalFreeBusyRequest* request,
                                               v1::ExternalFreeBusyResponse* response) {
  prometheus::Histogram& h = latency_.Add({{"method", "external"}}, metrics::Metrics::LatencyBuckets());
  Timer timer(h);
  auto count = [&](const char* outcome) { requests_.Add({{"method", "external"}, {"outcome", outcome}}).Increment(); };
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  const int64_t start = request->has_start() ? request->start().seconds() : FloorDiv(now, 86400) * 86400;
  const int64_t end = request->has_end() ? request->end().seconds() : start + options_.external_days * 86400;
  if (absl::Status s = CheckRange(start, end, options_.max_range_seconds); !s.ok()) {
    count("invalid");
    return rpc::ToGrpc(s);
  }
  auto pool = source_.Get();
  if (!pool.ok()) {
    count("error");
    return rpc::ToGrpc(pool.status());
  }
  auto account = AccountForToken(**pool, request->token());
  if (!account.ok()) {
    count("error");
    return rpc::ToGrpc(account.status());
  }
  std::optional<Target> target;
  if (*account) {
    auto t = TargetById(**pool, **account);
    if (!t.ok()) {
      count("error");
      return rpc::ToGrpc(t.status());
    }
    target = std::move(*t);
  }
  if (!target) {
    count("not_found");
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such free/busy URL");
  }
  auto busy = Busy(*target, start, end);
  if (!busy.ok()) {
    count("error");
    return rpc::ToGrpc(busy.status());
  }
  calendar::FreeBusyReply reply;
  reply.organizer = target->address;
  reply.dtstamp = now;
  response->set_icalendar(calendar::FreeBusyToText(*busy, start, end, reply));
  count("ok");
  return grpc::Status::OK;
}

}  // namespace kite::freebusy
