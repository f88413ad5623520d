// The durable queue: the spool in PostgreSQL is the truth, the Redis streams are the work
// list (design.md, "The path of a message").
//
// Promises:
// - Spool() returns only after the message and its recipients are committed: a front may
//   answer 250 exactly then.
// - Enqueue() puts one stream entry per recipient; if Redis is down the message is still
//   safe and Reconcile() enqueues it later.
// - A recipient may be enqueued more than once (reconciler, redelivery); delivery is keyed
//   by (spool id, recipient) so the mailbox sees it once.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/redis/client.h"
#include "lib/store/pool.h"

namespace kite::queue {

inline constexpr char kDeliverStream[] = "kite:deliver";
inline constexpr char kOutboundStream[] = "kite:outbound";
inline constexpr char kDeliverGroup[] = "delivery";
inline constexpr char kOutboundGroup[] = "outbound";
// Streams are trimmed to about this many entries; trimming never loses mail (the spool).
inline constexpr long long kStreamMaxLen = 1'000'000;

struct Recipient {
  std::string address;  // as accepted at RCPT (canonical form)
  bool local = true;
  int64_t account_id = 0;  // local only
  // RFC 3461 as given at RCPT: NOTIFY ("" absent, "NEVER", or a comma list of SUCCESS,
  // FAILURE, DELAY, upper case) and ORCPT ("rfc822;user@example.org", xtext decoded).
  std::string notify;
  std::string orcpt;
};

struct Envelope {
  std::string mail_from;  // "" for the null reverse-path
  std::string helo;
  std::string client_addr;
  std::string auth_user;  // "" when not authenticated
  std::string source;     // "mta", "submission", "internal"
  std::vector<Recipient> recipients;
  // RFC 3461 as given at MAIL: RET ("" absent, "FULL", "HDRS") and ENVID (xtext decoded).
  std::string dsn_ret;
  std::string dsn_envid;
  // kite-mta: a DMARC quarantine disposition; kite-delivery files the message into Junk.
  bool quarantine = false;
};

// Commits the message to the spool; returns its id.
absl::StatusOr<int64_t> Spool(store::Pool& pool, const Envelope& envelope, std::string_view body);
// The same inside the caller's transaction (the relay spools a bounce in the transaction
// that marks the recipient failed). Throws what libpqxx throws.
int64_t SpoolTx(pqxx::work& tx, const Envelope& envelope, std::string_view body);

// Adds stream entries for `recipients` of spool `spool_id` (AddEntries) and records
// enqueued_at for those added (MarkEnqueued). The two halves are separate so that a front
// sharing one Redis connection holds its lock only around AddEntries.
absl::Status Enqueue(redis::Client& redis, store::Pool& pool, int64_t spool_id,
                     const std::vector<Recipient>& recipients);
// Returns the recipients whose entries were added; the first failure goes to *error.
std::vector<std::string> AddEntries(redis::Client& redis, int64_t spool_id, const std::vector<Recipient>& recipients,
                                    absl::Status* error);
// Records enqueued_at while each recipient is still pending work, with an asynchronous
// commit: losing it in a crash only makes the reconciler enqueue again (delivery is keyed).
absl::Status MarkEnqueued(store::Pool& pool, int64_t spool_id, const std::vector<std::string>& recipients);

// Re-enqueues recipients that are due and not in flight: state queued/deferred,
// next_attempt_at passed, and never enqueued or enqueued longer than `stale` ago (their
// stream entry was lost with Redis, or is stuck). Returns how many were enqueued.
// `kind` is "local" (kite:deliver) or "remote" (kite:outbound).
absl::StatusOr<int> Reconcile(store::Pool& pool, redis::Client& redis, std::string_view kind,
                              std::chrono::milliseconds stale, int limit);

}  // namespace kite::queue
