// kite-freebusy's answer cache in Redis: the merged busy periods of one account over one
// range, per (account, start, end), under a per-account generation counter.
//
// Keys (the account id in a hash tag, so one account's keys live on one Redis Cluster shard):
//   kite:fb:gen:{<account>}                         the account's generation (a number)
//   kite:fb:ans:{<account>}:<gen>:<start>:<end>     an answer, with TTL freebusy.cache_ttl
// Invalidation is one INCR of the generation key: every cached answer of the account becomes
// unreachable at once (they expire by their TTL). Any daemon may do it (kite-caldav after a
// calendar change, kitectl after a working-hours change); InvalidateAccount does it here.
// Correctness under races: a reader takes the generation BEFORE reading PostgreSQL and a
// writer increments it AFTER committing, so an answer computed from old rows is only ever
// stored under an old generation.
// When the generation key is missing (first use, or Redis lost it) it is created with a
// random value, so answers left from a previous counter cannot be picked up again.
//
// Redis is optional: when it is down or slow (freebusy.redis_timeout) every call reports a
// miss and the caller computes the answer; after a failure Redis is left alone for a second
// (no connect attempt per request), then tried again.
//
// Thread-safe (a small pool of redis::Client, one per concurrent caller).
// Input handled: values read back from Redis (trusted peer, still parsed with bounds:
// a malformed value is a miss).
#ifndef KITE_SERVICES_FREEBUSY_CACHE_H_
#define KITE_SERVICES_FREEBUSY_CACHE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "lib/calendar/calendar.h"
#include "lib/redis/client.h"

namespace kite::freebusy {

std::string GenerationKey(int64_t account_id);  // "kite:fb:gen:{42}"
std::string AnswerKey(int64_t account_id, std::string_view generation, int64_t start, int64_t end);

// The cached value: "v1 <start>-<end>-<type> ..." (type 0 busy, 1 tentative, 2 unavailable).
std::string EncodePeriods(const std::vector<calendar::BusyPeriod>& periods);
// nullopt when malformed or longer than max_periods.
std::optional<std::vector<calendar::BusyPeriod>> DecodePeriods(std::string_view text, size_t max_periods = 100000);

// INCR kite:fb:gen:{account} on an existing client (kitectl, other daemons).
absl::Status InvalidateAccount(redis::Client& redis, int64_t account_id);

struct CacheOptions {
  redis::Options redis;                    // its timeout bounds every cache call
  std::chrono::seconds ttl{3600};          // answers expire after this (safety net)
  std::chrono::milliseconds retry_after{1000};  // Redis left alone after a failure
};

class Cache {
 public:
  explicit Cache(CacheOptions options) : options_(std::move(options)) {}
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  struct Lookup {
    bool available = false;  // false: Redis unreachable; do not Put
    std::string generation;  // pass to Put
    std::optional<std::vector<calendar::BusyPeriod>> periods;  // set on a hit
  };
  Lookup Get(int64_t account_id, int64_t start, int64_t end);
  // The same for several accounts in two round trips (MGET of the generations, MGET of the
  // answers); falls back to Get per account where MGET is refused (Redis Cluster CROSSSLOT).
  std::vector<Lookup> GetMany(const std::vector<int64_t>& account_ids, int64_t start, int64_t end);
  // Stores an answer computed after Get returned `generation`. Errors are ignored.
  void Put(int64_t account_id, std::string_view generation, int64_t start, int64_t end,
           const std::vector<calendar::BusyPeriod>& periods);
  // Drops every cached answer of the account (INCR of its generation).
  absl::Status Invalidate(int64_t account_id);

 private:
  // A connected client, or nullptr while Redis is considered down.
  std::unique_ptr<redis::Client> Take();
  // Returns a client after use; `failed` drops it and starts the quiet period.
  void Give(std::unique_ptr<redis::Client> client, bool failed);

  const CacheOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<redis::Client>> idle_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point down_until_ ABSL_GUARDED_BY(mu_){};
};

}  // namespace kite::freebusy

#endif  // KITE_SERVICES_FREEBUSY_CACHE_H_
