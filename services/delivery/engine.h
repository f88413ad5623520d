// The delivery engine of kite-delivery: one queue entry (spool id, recipient) in, the right
// copies in the right mailboxes out, in one PostgreSQL transaction.
//
// For each entry:
//  1. The recipient becomes final accounts and remote addresses: an account directly, or
//     the expansion of a list / forwarding alias / catch-all (nested lists, loops broken,
//     lib/directory ExpandAddress). Remote targets become remote recipients of the same
//     spool row (no copy of the body) for the outbound relay.
//  2. Each account's active Sieve script (lib/sieve) decides folders, flags, redirect,
//     reject, vacation or discard. A script that fails at run time files into INBOX.
//  3. In one transaction: the exactly-once key (deliveries), the quota check under the
//     account's quota_usage row lock (usage updated in the same transaction), the body
//     stored once (messages, with the MIME structure parsed once, lib/mime), one entry per
//     mailbox, the quota warning at the first crossing of the threshold, the vacation reply
//     log and every message generated (redirects, replies, notices, bounces) spooled.
//  4. After the commit the generated messages are put on the streams (the reconciler does it
//     if that is lost) and IMAP sessions are notified on Redis.
//
// A list member that cannot take the message now (mailbox full) gets its own spool
// recipient row, deferred: it is retried on its own like a direct recipient.
//
// SECURITY: message bodies and scripts are untrusted. Generated messages are built by
// autoreply.h (no header injection); redirects carry Delivered-To and a message that already
// passed through the account is not redirected again (mail loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/queue/queue.h"
#include "lib/sieve/sieve.h"
#include "lib/store/pool.h"

namespace kite::delivery {

struct Options {
  std::string hostname = "mail.example.test";
  int quota_warning_percent = 80;  // 0 = no warnings
  bool quota_bounce_at_once = false;
  absl::Duration quota_retry = absl::Minutes(15);
  absl::Duration lifetime = absl::Hours(24 * 5);  // then a deferred recipient bounces
  bool fileinto_autocreate = true;  // fileinto without :create still creates the folder
  sieve::Limits sieve_limits;
};

enum class Outcome {
  kStored,      // in at least one mailbox (or handed on: redirect, remote members)
  kDuplicate,   // delivered before: nothing changed
  kDiscarded,   // Sieve discard / reject: nothing stored
  kDeferred,    // mailbox full: retried later (4.2.2)
  kBounced,     // mailbox full past the lifetime (or bounce at once): failed, DSN sent
  kNoTarget,    // a list or alias that reaches nobody
};
const char* OutcomeName(Outcome o);

struct Stored {
  int64_t account_id = 0;
  int64_t mailbox_id = 0;
  int64_t uid = 0;
  std::string mailbox;
};

struct Result {
  Outcome outcome = Outcome::kStored;
  std::vector<Stored> stored;                       // for IMAP notifications and logs
  std::vector<std::pair<int64_t, std::vector<queue::Recipient>>> to_enqueue;  // spooled here
  int accounts = 0;          // final local accounts the entry reached
  int remote = 0;            // remote targets added (lists, forwarding aliases)
  int deferred_members = 0;  // list members deferred on their own
  int quota_warnings = 0;
  int vacation_replies = 0;
  int redirects = 0;
  int rejects = 0;
  int sieve_errors = 0;
  int itip = 0;
  absl::Time received_at;  // the spool row's arrival, for the latency metric
};

class Engine {
 public:
  Engine(store::Pool& pool, Options options);
  ~Engine();
  // Delivers one queue entry. account_id 0 = expand the recipient (list, alias). NotFound:
  // the entry can never be delivered (the spool row or recipient is gone); another error is
  // temporary (retry).
  absl::StatusOr<Result> Deliver(int64_t spool_id, const std::string& recipient, int64_t account_id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kite::delivery
