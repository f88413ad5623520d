#include "lib/queue/queue.h"

#include "absl/strings/str_cat.h"

namespace kite::queue {

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
        "INSERT INTO spool_recipients(spool_id, recipient, kind, account_id, dsn_notify, dsn_orcpt, enqueued_at) "
        "VALUES ($1, $2, $3, NULLIF($4, 0), NULLIF($5, ''), NULLIF($6, ''), now()) ON CONFLICT DO NOTHING",
        id, r.address, r.local ? "local" : "remote", r.account_id, r.notify, r.orcpt);
  }
  return id;
}

absl::StatusOr<int64_t> Spool(store::Pool& pool, const Envelope& envelope, std::string_view body) {
  return pool.Transact([&](pqxx::work& tx) -> int64_t { return SpoolTx(tx, envelope, body); });
}

absl::Status MarkNotEnqueued(store::Pool& pool, int64_t spool_id, const std::vector<std::string>& recipients) {
  if (recipients.empty()) return absl::OkStatus();
  return pool.Transact([&](pqxx::work& tx) {
    for (const auto& rcpt : recipients) {
      tx.exec_params("UPDATE spool_recipients SET enqueued_at = NULL WHERE spool_id = $1 AND recipient = $2", spool_id,
                     rcpt);
    }
  });
}

absl::Status Enqueue(redis::Client& redis, store::Pool& pool, int64_t spool_id,
                     const std::vector<Recipient>& recipients, Fresh fresh) {
  absl::Status first_error;
  std::vector<std::string> done, missed;
  for (const Recipient& r : recipients) {
    auto id = redis.XAdd(r.local ? kDeliverStream : kOutboundStream,
                         {{"spool_id", absl::StrCat(spool_id)},
                          {"recipient", r.address},
                          {"account_id", absl::StrCat(r.account_id)}},
                         kStreamMaxLen);
    if (!id.ok()) {
      if (first_error.ok()) first_error = id.status();
      missed.push_back(r.address);
      continue;
    }
    done.push_back(r.address);
  }
  if (fresh == Fresh::kYes) {
    if (missed.empty()) return first_error;
    // The entry is not in Redis: let the next reconciler pass take it now, not when stale.
    auto s = MarkNotEnqueued(pool, spool_id, missed);
    if (!s.ok() && first_error.ok()) first_error = s;
    return first_error;
  }
  if (!done.empty()) {
    auto s = pool.Transact([&](pqxx::work& tx) {
      for (const auto& rcpt : done) {
        // Only while the entry is still the recipient's pending work: a consumer that was
        // quicker than this update (took the entry, deferred the recipient and cleared
        // enqueued_at for the reconciler) must not have its retry hidden.
        tx.exec_params(
            "UPDATE spool_recipients SET enqueued_at = now() WHERE spool_id = $1 AND recipient = $2 "
            "AND (state = 'queued' OR (state = 'deferred' AND next_attempt_at <= now()))",
            spool_id, rcpt);
      }
    });
    if (!s.ok() && first_error.ok()) first_error = s;
  }
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
