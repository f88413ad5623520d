#include "delivery/itip_outbox.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"

namespace kite::delivery {

namespace sv1 = kite::scheduling::v1;

namespace {

double Seconds(std::chrono::milliseconds d) { return static_cast<double>(d.count()) / 1000.0; }

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(AV(s)); }

const char* OutcomeName(sv1::ItipOutcome o) {
  switch (o) {
    case sv1::ITIP_OUTCOME_APPLIED:
      return "applied";
    case sv1::ITIP_OUTCOME_DUPLICATE:
      return "duplicate";
    case sv1::ITIP_OUTCOME_IGNORED:
      return "ignored";
    case sv1::ITIP_OUTCOME_INVALID:
      return "invalid";
    default:
      return "unspecified";
  }
}

}  // namespace

int RecordItipTx(pqxx::work& tx, int64_t account_id, int64_t spool_id, std::string_view recipient,
                 std::string_view sender, const std::vector<ItipPart>& parts) {
  const std::string rcpt = Lower(recipient);
  const std::string from = Lower(sender);
  int added = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    pqxx::binarystring blob(parts[i].icalendar.data(), parts[i].icalendar.size());
    pqxx::result r = tx.exec_params(
        "INSERT INTO itip_outbox (account_id, spool_id, recipient, part, sender, method, icalendar) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1",
        account_id, spool_id, rcpt, static_cast<int>(i), from, parts[i].method, blob);
    added += static_cast<int>(r.size());
  }
  return added;
}

absl::StatusOr<std::vector<ItipRow>> ClaimItipRows(store::Pool& pool, int limit, std::chrono::milliseconds lease,
                                                   std::chrono::milliseconds lifetime) {
  return pool.Transact([&](pqxx::work& tx) {
    pqxx::result r = tx.exec_params(
        "WITH due AS ("
        "  SELECT account_id, spool_id, recipient, part FROM itip_outbox"
        "  WHERE next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) "
        "UPDATE itip_outbox o SET next_attempt_at = now() + make_interval(secs => $2), attempts = o.attempts + 1 "
        "FROM due WHERE o.account_id = due.account_id AND o.spool_id = due.spool_id "
        "  AND o.recipient = due.recipient AND o.part = due.part "
        "RETURNING o.account_id, o.spool_id, o.recipient, o.part, o.sender, o.method, o.icalendar, o.attempts, "
        "  o.created_at < now() - make_interval(secs => $3)",
        limit, Seconds(lease), Seconds(lifetime));
    std::vector<ItipRow> rows;
    rows.reserve(r.size());
    for (const auto& row : r) {
      ItipRow x;
      x.account_id = row[0].as<int64_t>();
      x.spool_id = row[1].as<int64_t>();
      x.recipient = row[2].as<std::string>();
      x.part = row[3].as<int>();
      x.sender = row[4].as<std::string>();
      x.method = row[5].as<std::string>();
      pqxx::binarystring blob(row[6]);
      x.icalendar = blob.str();
      x.attempts = row[7].as<int>();
      x.expired = row[8].as<bool>();
      rows.push_back(std::move(x));
    }
    // Oldest spool first within the batch, for readable logs.
    std::sort(rows.begin(), rows.end(), [](const ItipRow& a, const ItipRow& b) {
      return std::tie(a.spool_id, a.recipient, a.part) < std::tie(b.spool_id, b.recipient, b.part);
    });
    return rows;
  });
}

ItipForwarder::Options ItipForwarder::FromConfig(const config::Config& c) {
  Options o;
  o.initial_backoff = c.Duration("delivery", "itip_retry_initial");
  o.max_backoff = c.Duration("delivery", "itip_retry_max");
  o.lifetime = c.Duration("delivery", "itip_lifetime");
  return o;
}

ItipForwarder::ItipForwarder(store::Pool& pool, std::shared_ptr<grpc::Channel> channel, Options options,
                             prometheus::Registry& registry)
    : pool_(pool),
      stub_(sv1::Scheduling::NewStub(std::move(channel))),
      options_(options),
      family_(prometheus::BuildCounter()
                  .Name("kite_delivery_itip_forwarded_total")
                  .Help("iMIP parts handed to kite-caldav, by outcome (retry: kite-caldav unreachable or failing; "
                        "expired: dropped after the lifetime)")
                  .Register(registry)),
      applied_(family_.Add({{"outcome", "applied"}})),
      duplicate_(family_.Add({{"outcome", "duplicate"}})),
      ignored_(family_.Add({{"outcome", "ignored"}})),
      invalid_(family_.Add({{"outcome", "invalid"}})),
      retried_(family_.Add({{"outcome", "retry"}})),
      expired_(family_.Add({{"outcome", "expired"}})) {}

ItipForwarder::~ItipForwarder() { Stop(); }

void ItipForwarder::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { Loop(); });
}

void ItipForwarder::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    if (in_flight_ != nullptr) in_flight_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ItipForwarder::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

std::chrono::milliseconds ItipForwarder::Backoff(int attempts) const {
  auto d = options_.initial_backoff;
  for (int i = 1; i < attempts && d < options_.max_backoff; ++i) d *= 2;
  return std::min(d, options_.max_backoff);
}

absl::StatusOr<int> ItipForwarder::RunOnce() {
  // The lease outlasts one call with its deadline, so no other replica picks the row while
  // this one may still be waiting for kite-caldav's answer.
  auto lease = options_.rpc_timeout * 2 + std::chrono::milliseconds(5000);
  auto rows = ClaimItipRows(pool_, options_.batch, lease, options_.lifetime);
  if (!rows.ok()) return rows.status();
  for (const ItipRow& row : *rows) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) break;  // the rest are retried after their lease
    }
    Forward(row);
  }
  return static_cast<int>(rows->size());
}

bool ItipForwarder::Forward(const ItipRow& row) {
  sv1::DeliverItipRequest req;
  req.set_spool_id(row.spool_id);
  req.set_recipient(row.recipient);
  req.set_recipient_account_id(row.account_id);
  req.set_sender(row.sender);
  req.set_method(row.method);
  req.set_icalendar(row.icalendar);
  req.set_part(row.part);
  sv1::DeliverItipResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return false;
    in_flight_ = &ctx;
  }
  grpc::Status st = stub_->DeliverItip(&ctx, req, &resp);
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = nullptr;
  }

  const auto key = [&](pqxx::work& tx, const char* sql_head) {
    return tx.exec_params(std::string(sql_head) +
                              " WHERE account_id = $1 AND spool_id = $2 AND recipient = $3 AND part = $4",
                          row.account_id, row.spool_id, row.recipient, row.part);
  };
  bool answered = st.ok() && resp.outcome() != sv1::ITIP_OUTCOME_UNSPECIFIED;
  if (answered || row.expired) {
    absl::Status del = pool_.Transact([&](pqxx::work& tx) { key(tx, "DELETE FROM itip_outbox"); });
    if (!del.ok()) {
      // The row comes back after its lease; kite-caldav answers DUPLICATE then.
      log::Warn("itip.delete_failed").Kv("spool_id", row.spool_id).Kv("recipient", row.recipient)
          .Kv("error", del.message());
    }
    if (answered) {
      switch (resp.outcome()) {
        case sv1::ITIP_OUTCOME_APPLIED:
          applied_.Increment();
          break;
        case sv1::ITIP_OUTCOME_DUPLICATE:
          duplicate_.Increment();
          break;
        case sv1::ITIP_OUTCOME_IGNORED:
          ignored_.Increment();
          break;
        default:
          invalid_.Increment();
          break;
      }
      log::Info("itip.forwarded").Kv("spool_id", row.spool_id).Kv("recipient", row.recipient)
          .Kv("part", row.part).Kv("method", row.method).Kv("outcome", OutcomeName(resp.outcome()))
          .Kv("detail", resp.detail());
    } else {
      expired_.Increment();
      log::Error("itip.expired").Kv("spool_id", row.spool_id).Kv("recipient", row.recipient)
          .Kv("part", row.part).Kv("method", row.method).Kv("attempts", row.attempts)
          .Kv("error", st.ok() ? std::string("no outcome") : st.error_message());
    }
    return true;
  }

  retried_.Increment();
  std::string error = st.ok() ? std::string("kite-caldav gave no outcome")
                              : absl::StrCat("gRPC ", static_cast<int>(st.error_code()), ": ", AV(st.error_message()));
  auto backoff = Backoff(row.attempts);
  absl::Status upd = pool_.Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "UPDATE itip_outbox SET next_attempt_at = now() + make_interval(secs => $5), last_error = $6 "
        "WHERE account_id = $1 AND spool_id = $2 AND recipient = $3 AND part = $4",
        row.account_id, row.spool_id, row.recipient, row.part, Seconds(backoff), error);
  });
  if (!upd.ok()) {
    log::Warn("itip.update_failed").Kv("spool_id", row.spool_id).Kv("error", upd.message());
  }
  log::Warn("itip.retry").Kv("spool_id", row.spool_id).Kv("recipient", row.recipient).Kv("part", row.part)
      .Kv("attempts", row.attempts).Kv("backoff_ms", static_cast<int64_t>(backoff.count())).Kv("error", error);
  return false;
}

void ItipForwarder::Loop() {
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      wake_ = false;
    }
    auto n = RunOnce();
    if (!n.ok()) log::Warn("itip.claim_failed").Kv("error", n.status().message());
    bool more = n.ok() && *n >= options_.batch;
    std::unique_lock<std::mutex> lock(mu_);
    if (more) continue;
    cv_.wait_for(lock, options_.poll_interval, [this] { return stop_ || wake_; });
  }
}

}  // namespace kite::delivery
