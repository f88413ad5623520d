// kite-freebusy's reads from PostgreSQL, and the two tables it owns (migration 0013):
// calendar_settings (a person's working hours and time zone) and freebusy_tokens (the secret
// of the external free/busy URL, stored as its SHA-256).
//
// Every query names the account first (design.md: distributable by account) except the two
// lookups by address and by token hash, which go through their unique indexes.
// Input handled: target addresses and tokens from gRPC callers (untrusted text from CalDAV
// clients and the internet), passed to PostgreSQL only as query parameters; stored
// iCalendar is returned as is (the caller parses it with lib/calendar).
#ifndef KITE_SERVICES_FREEBUSY_STORE_H_
#define KITE_SERVICES_FREEBUSY_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <atomic>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "lib/calendar/calendar.h"
#include "lib/store/pool.h"

namespace kite::freebusy {

// The daemon's PostgreSQL pool, opened at start when the server is reachable and otherwise
// on first use (kite-freebusy is stateless: it starts before its database and answers
// UNAVAILABLE until it can connect). A malformed URL is still refused at start.
class PoolSource {
 public:
  explicit PoolSource(store::Pool& existing) : pool_(&existing), ready_(true) {}
  explicit PoolSource(store::PgOptions options) : options_(std::move(options)) {}
  // The pool; opens it when not yet open (an Unavailable failure is tried again next time).
  absl::StatusOr<store::Pool*> Get();

 private:
  store::PgOptions options_;
  absl::Mutex mu_;
  std::unique_ptr<store::Pool> owned_ ABSL_GUARDED_BY(mu_);
  store::Pool* pool_ = nullptr;  // written once before ready_ turns true
  std::atomic<bool> ready_{false};
};

// An account whose free/busy is asked for, with what shapes its busy time.
struct Target {
  int64_t account_id = 0;
  std::string address;  // canonical (the account's own address)
  bool resource = false;
  std::string timezone = "UTC";                  // IANA; all-day events are taken in it
  std::optional<calendar::WorkingHours> hours;  // none: no BUSY-UNAVAILABLE
};

// "Mailto:User+Tag@Example.TEST" -> "user@example.test"; "" when it is not an address.
std::string CanonicalAddress(std::string_view address);

// The enabled account an address names (its own address or an alias of it; a sub-address
// tag is ignored); nullopt when unknown, a list, remote, or disabled.
absl::StatusOr<std::optional<Target>> ResolveTarget(store::Pool& pool, std::string_view address);
// For each address, its target when `viewer_account_id` may see it (lib/directory's
// FreeBusyVisible rules, evaluated for all addresses in one statement), nullopt when not
// visible, unknown, a list, remote, malformed or disabled. In the order given.
absl::StatusOr<std::vector<std::optional<Target>>> VisibleTargets(store::Pool& pool, int64_t viewer_account_id,
                                                                   const std::vector<std::string>& addresses);
absl::StatusOr<std::optional<Target>> TargetById(store::Pool& pool, int64_t account_id);

struct StoredObject {
  std::string ical;
  // IANA name for DATE and floating times: the calendar's CALDAV:calendar-timezone, else the
  // account's time zone (calendar_settings / resources).
  std::string floating_tz;
};
// The objects of the account's regular, non-transparent calendars that can hold busy time
// in [start, end): VEVENT and VFREEBUSY objects whose indexed range overlaps it (a single
// transparent event is left out; a recurring one is kept, since its overrides may be
// opaque). At most `limit` objects (*truncated says whether more exist).
absl::StatusOr<std::vector<StoredObject>> BusyObjects(store::Pool& pool, const Target& target, int64_t start,
                                                      int64_t end, size_t limit, bool* truncated);

// ---- calendar_settings -------------------------------------------------------------------
// Working hours as stored: {"mon": [["09:00","17:00"]], ...}. `hours` nullopt clears them.
// InvalidArgument for an unknown time zone (an IANA name PostgreSQL and libical know).
absl::Status SetCalendarSettings(store::Pool& pool, int64_t account_id,
                                 const std::optional<calendar::WorkingHours>& hours, std::string_view timezone);
// "{\"mon\": [[\"09:00\", \"17:00\"]], ...}" for working hours.
std::string WorkingHoursJson(const calendar::WorkingHours& hours);
// "mon 09:00-17:00, tue 09:00-17:00" for people; "" for none.
std::string DescribeWorkingHours(const std::optional<calendar::WorkingHours>& hours);

// ---- freebusy_tokens ---------------------------------------------------------------------
inline constexpr size_t kMaxTokenLength = 128;
// A new random token (256 bits, base64url, 43 characters) for the account, replacing any
// previous one; only its SHA-256 is stored. Returns the token.
absl::StatusOr<std::string> CreateToken(store::Pool& pool, int64_t account_id);
// false when the account had none.
absl::StatusOr<bool> RevokeToken(store::Pool& pool, int64_t account_id);
// The enabled account a token belongs to; nullopt for an unknown, revoked or malformed one.
// The stored hash is compared in constant time.
absl::StatusOr<std::optional<int64_t>> AccountForToken(store::Pool& pool, std::string_view token);

}  // namespace kite::freebusy

#endif  // KITE_SERVICES_FREEBUSY_STORE_H_
