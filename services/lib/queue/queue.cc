#include "lib/queue/queue.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "lib/store/commit.h"

namespace kite::queue {
namespace {

// How long Spool() keeps asking whether a COMMIT cut off by PostgreSQL did commit: well
// inside the 10 minutes an SMTP client waits for the reply to DATA (RFC 5321 4.5.3.2.6).
constexpr std::chrono::milliseconds kCommitInDoubtPatience{60'000};

}  // namespace

int64_t SpoolTx(pqxx::work& tx, const Envelope& envelope, std::string_view body) {
  pqxx::binarystring blob(body.data(), body.size());
  int64_t id = tx.exec_params(
                     "INSERT INTO spool(mail_from, helo, client_addr, auth_user, size, body, source, dsn_ret, dsn_envid) "
                     "VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7, NULLIF($8, ''), NULLIF($9, '')) RETURNING id",
                     envelope.mail_from, envelope.helo, envelope.client_addr, envelope.auth_user,
                     static_cast<int64_t>(body.size()), blob, envelope.source, envelope.dsn_ret, envelope.dsn_envid)[0][0]
                   .as<int64_t>();
  if (envelope.quarantine) tx.exec_params("UPDATE spool SET quarantine = true WHERE id = $1", id);
  for (const Recipient& r : envelope.recipients) {
    tx.exec_params(
        "INSERT INTO spool_recipients(spool_id, recipient, kind, account_id, dsn_notify, dsn_orcpt) "
        "VALUES ($1, $2, $3, NULLIF($4, 0), NULLIF($5, ''), NULLIF($6, '')) ON CONFLICT DO NOTHING",
        id, r.address, r.local ? "local" : "remote", r.account_id, r.notify, r.orcpt);
  }
  return id;
}

// When the connection breaks during the COMMIT, the outcome is asked of PostgreSQL
// (txid_status) for up to kCommitInDoubtPatience before giving up: a message that did commit
// is never reported as failed while that can be told, so a 451 never leads to a second copy.
absl::StatusOr<int64_t> Spool(store::Pool& pool, const Envelope& envelope, std::string_view body) {
  int64_t xid = 0;
  int64_t id = 0;
  auto spooled = pool.Transact([&](pqxx::work& tx) -> int64_t {
    xid = tx.exec1("SELECT txid_current()")[0].as<int64_t>();
    id = SpoolTx(tx, envelope, body);
    return id;
  });
  if (spooled.ok() || !store::IsCommitInDoubt(spooled.status()) || xid == 0) return spooled;
  // The connection broke during COMMIT (PostgreSQL crashed or restarted right then), so the
  // message may be committed: the reconciler would then deliver it. Answering 451 would make
  // the client send it again and its recipients get it twice (e2e.chaos found exactly that),
  // so ask PostgreSQL, once it is back, which it was: committed is a 250 like any other.
  // Only if it stays away past kCommitInDoubtPatience does the front answer 451 not knowing.
  auto committed = store::TransactionCommitted(pool, xid, kCommitInDoubtPatience);
  if (!committed.ok()) return spooled.status();
  if (*committed) return id;
  return absl::UnavailableError(absl::StrCat("the spool transaction was rolled back (", spooled.status().message(), ")"));
}

std::vector<std::string> AddEntries(redis::Client& redis, int64_t spool_id, const std::vector<Recipient>& recipients,
                                    absl::Status* error) {
  std::vector<std::string> done;
  for (const Recipient& r : recipients) {
    auto id = redis.XAdd(r.local ? kDeliverStream : kOutboundStream,
                         {{"spool_id", absl::StrCat(spool_id)},
                          {"recipient", r.address},
                          {"account_id", absl::StrCat(r.account_id)}},
                         kStreamMaxLen);
    if (!id.ok()) {
      if (error != nullptr && error->ok()) *error = id.status();
      continue;
    }
    done.push_back(r.address);
  }
  return done;
}

absl::Status MarkEnqueued(store::Pool& pool, int64_t spool_id, const std::vector<std::string>& recipients) {
  if (recipients.empty()) return absl::OkStatus();
  return pool.Transact([&](pqxx::work& tx) {
    // Asynchronous commit: this row is a hint for the reconciler, not mail. Losing it in a
    // crash only makes the reconciler enqueue the recipient again, which delivery ignores;
    // waiting for the WAL flush would cost the front a second synchronous commit per message.
    tx.exec("SET LOCAL synchronous_commit TO OFF");
    for (const auto& rcpt : recipients) {
      // Only while the entry is still the recipient's pending work: a consumer that was
      // quicker than this update (took the entry, deferred the recipient and cleared
      // enqueued_at for the reconciler) must not have its retry hidden. A row a consumer
      // holds locked is skipped, never waited for: that consumer is delivering or deferring
      // it right now, and waiting deadlocked with its delete of the spool row (which cascades
      // to the other recipients' rows this transaction had locked).
      tx.exec_params(
          "UPDATE spool_recipients SET enqueued_at = now() WHERE (spool_id, recipient) IN ("
          "SELECT spool_id, recipient FROM spool_recipients WHERE spool_id = $1 AND recipient = $2 "
          "AND (state = 'queued' OR (state = 'deferred' AND next_attempt_at <= now())) FOR UPDATE SKIP LOCKED)",
          spool_id, rcpt);
    }
  });
}

absl::Status Enqueue(redis::Client& redis, store::Pool& pool, int64_t spool_id,
                     const std::vector<Recipient>& recipients) {
  absl::Status first_error;
  std::vector<std::string> done = AddEntries(redis, spool_id, recipients, &first_error);
  if (auto s = MarkEnqueued(pool, spool_id, done); !s.ok() && first_error.ok()) first_error = s;
  return first_error;
}

absl::StatusOr<int> Reconcile(store::Pool& pool, redis::Client& redis, std::string_view kind,
                              std::chrono::milliseconds stale, int limit) {
  struct Due {
    int64_t spool_id;
    Recipient recipient;
  };
  auto due = pool.Transact([&](pqxx::work& tx) {
    std::vector<Due> out;
    auto rows = tx.exec_params(
        "SELECT spool_id, recipient, kind, COALESCE(account_id, 0) FROM spool_recipients "
        "WHERE kind = $3 AND state IN ('queued', 'deferred') AND next_attempt_at <= now() "
        "AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => $1)) "
        "ORDER BY next_attempt_at LIMIT $2",
        static_cast<double>(stale.count()) / 1000.0, limit, std::string(kind));
    for (const auto& r : rows) {
      out.push_back({r[0].as<int64_t>(), {r[1].as<std::string>(), r[2].as<std::string>() == "local", r[3].as<int64_t>()}});
    }
    return out;
  });
  if (!due.ok()) return due.status();
  int n = 0;
  for (const Due& d : *due) {
    if (auto s = Enqueue(redis, pool, d.spool_id, {d.recipient}); !s.ok()) return s;
    ++n;
  }
  return n;
}

}  // namespace kite::queue
