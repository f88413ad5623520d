// kite-freebusy — availability of users and resources over gRPC (kite.freebusy.v1.FreeBusy)
//
// STATUS: implemented: Availability (expanded recurrences, overrides, EXDATE, TRANSPARENT,
// CANCELLED, TENTATIVE, working hours as BUSY-UNAVAILABLE; merged periods only), FindTime,
// Invalidate, ExternalFreeBusy (the token URL kite-caldav serves); answers cached in Redis.
// The whole behaviour is in freebusy_service.h; this file wires configuration into it.
#include <memory>
#include <utility>

#include "freebusy/cache.h"
#include "freebusy/freebusy_service.h"
#include "lib/daemon/backends.h"
#include "lib/daemon/daemon.h"
#include "lib/log/log.h"

namespace {

struct State {
  std::unique_ptr<kite::freebusy::PoolSource> pool;
  std::unique_ptr<kite::freebusy::Cache> cache;
  std::unique_ptr<kite::freebusy::FreeBusyService> service;
};

}  // namespace

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-freebusy",
      .section = "freebusy",
      .summary = "availability of users and resources over gRPC (kite.freebusy.v1.FreeBusy)",
      .details =
          "STATUS: Availability, FindTime, Invalidate and ExternalFreeBusy over gRPC, health and metrics;\n"
          "answers cached in Redis per (account, range) and dropped on every calendar change\n"
          "(Invalidate, or INCR kite:fb:gen:{<account id>} from any daemon). See docs/freebusy.md.\n"
          "SECURITY: only busy periods and their FBTYPE ever leave the daemon, never a summary, location,\n"
          "attendee or description; a target the viewer may not see (lib/directory's FreeBusyVisible\n"
          "rules) is reported as not visible, not as free. Ranges (freebusy.max_range), targets\n"
          "(freebusy.max_targets) and objects per target (freebusy.max_objects) are bounded; stored\n"
          "iCalendar is re-parsed by libical with lib/calendar's limits. External URL tokens are 256-bit\n"
          "secrets stored as SHA-256. Redis down: answers are computed uncached, never refused;\n"
          "PostgreSQL down: UNAVAILABLE until it is back (the daemon starts without it).\n"
          "STANDARDS: RFC 5545 (VFREEBUSY, FBTYPE, RRULE/RDATE/EXDATE, RECURRENCE-ID), RFC 4791 7.10\n"
          "(free/busy rules), RFC 6638 (scheduling outbox free/busy, answered through kite-caldav).",
  };
  static State state;
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime& rt) -> absl::Status {
    rt.OnExit([] { State done = std::move(state); });
    const auto& c = rt.config();
    // Stateless: PostgreSQL may come up after this daemon (calls answer UNAVAILABLE until
    // then); a malformed URL still stops the start.
    state.pool = std::make_unique<kite::freebusy::PoolSource>(
        kite::store::PgOptions{.url = kite::daemon::PostgresUrl(c, rt.spec().section),
                               .pool_size = static_cast<int>(c.Int("global", "postgres_pool_size"))});
    if (auto opened = state.pool->Get(); !opened.ok()) {
      if (!absl::IsUnavailable(opened.status())) return opened.status();
      kite::log::Warn("postgres.unavailable")
          .Kv("detail", "PostgreSQL unreachable at start; connecting on first call")
          .Kv("error", opened.status().ToString());
    }
    kite::freebusy::CacheOptions cache_options;
    cache_options.redis = kite::daemon::RedisOptions(c, rt.spec().section);
    cache_options.redis.timeout = c.Duration("freebusy", "redis_timeout");
    cache_options.ttl = std::chrono::duration_cast<std::chrono::seconds>(c.Duration("freebusy", "cache_ttl"));
    state.cache = std::make_unique<kite::freebusy::Cache>(cache_options);
    kite::freebusy::ServiceOptions options;
    options.max_range_seconds = c.Duration("freebusy", "max_range").count() / 1000;
    options.max_targets = static_cast<size_t>(c.Int("freebusy", "max_targets"));
    options.max_objects = static_cast<size_t>(c.Int("freebusy", "max_objects"));
    options.external_days = c.Int("freebusy", "external_days");
    state.service = std::make_unique<kite::freebusy::FreeBusyService>(*state.pool, state.cache.get(),
                                                                      rt.metrics().registry(), options);
    rt.AddService(state.service.get());
    return absl::OkStatus();
  });
}
