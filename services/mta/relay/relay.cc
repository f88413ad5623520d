#include "mta/relay/relay.h"

#include <sys/random.h>

#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "lib/base/strings.h"
#include "lib/config/config.h"
#include "lib/directory/directory.h"
#include "lib/log/log.h"
#include "lib/queue/queue.h"
#include "lib/tls/context.h"
#include "mta/relay/dsn.h"
#include "mta/relay/plan.h"
#include "mta/relay/smtp_client.h"

namespace kite::relay {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace {

// One command and its reply. Named arguments only (GCC 12 coroutine temporaries).
awaitable<absl::StatusOr<SmtpReply>> Exchange(SmtpClient& client, const std::string& line,
                                             std::chrono::milliseconds timeout) {
  absl::Status wrote = co_await client.Write(line, timeout);
  if (!wrote.ok()) co_return wrote;
  auto reply = co_await client.ReadReply(timeout);
  co_return reply;
}

std::string RandomToken() {
  unsigned char b[8] = {};
  if (getrandom(b, sizeof b, 0) != sizeof b) return "0000000000000000";
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(b), sizeof b));
}

// One recipient's result of an attempt.
struct Outcome {
  bool decided = false;
  int code = 0;            // 2xx, 4xx, 5xx (0: not decided)
  std::string status;      // RFC 3463
  std::string diagnostic;  // the remote reply, "" for local reasons
  std::string reason;      // for logs, last_error and the report's text
  std::string mx;
};

}  // namespace

struct Relay::Work {
  Group group;
  // Loaded from the spool.
  std::string mail_from;
  std::string ret;
  std::string envid;
  std::string body;
  std::string source;
  absl::Time received_at;
  struct Rcpt {
    std::string address;
    std::string notify;
    std::string orcpt;
    int attempts = 0;
    bool warned = false;
    Outcome outcome;
  };
  std::vector<Rcpt> rcpts;
  // The last failure that concerns every undecided recipient (DNS, connections, greeting).
  Outcome general;
  // TLS-RPT (RFC 8460) result per MX session: (mx host, "success" / "starttls-not-supported"
  // / "validation-failure").
  struct TlsResult {
    std::string mx, result, policy_type;
  };
  std::vector<TlsResult> tls_results;

  void DecideAll(const Outcome& o) {
    for (Rcpt& r : rcpts) {
      if (!r.outcome.decided) {
        r.outcome = o;
        r.outcome.decided = true;
      }
    }
  }
};

Relay::Relay(asio::io_context& io, store::Pool& pool, redis::Options redis, std::shared_ptr<dns::Resolver> resolver,
             prometheus::Registry& registry, Options options)
    : io_(io),
      pool_(pool),
      redis_options_(std::move(redis)),
      resolver_(std::move(resolver)),
      options_(std::move(options)),
      outcomes_(prometheus::BuildCounter()
                    .Name("kite_mta_relay_recipients_total")
                    .Help("Outbound recipient attempts by result (delivered, deferred, failed, expired)")
                    .Register(registry)),
      connections_(prometheus::BuildCounter()
                       .Name("kite_mta_relay_connections_total")
                       .Help("Outbound SMTP connection attempts by result")
                       .Register(registry)),
      tls_(prometheus::BuildCounter()
               .Name("kite_mta_relay_tls_total")
               .Help("Outbound sessions by TLS result (tls, plaintext-not-offered, handshake-failed)")
               .Register(registry)),
      reports_(prometheus::BuildCounter()
                   .Name("kite_mta_relay_reports_total")
                   .Help("Delivery status notifications spooled, by action (failed, delayed)")
                   .Register(registry)),
      reconciled_(prometheus::BuildCounter()
                      .Name("kite_mta_relay_reconciled_total")
                      .Help("Outbound spool entries re-enqueued by the reconciler")
                      .Register(registry)
                      .Add({})),
      claimed_(prometheus::BuildCounter()
                   .Name("kite_mta_relay_claimed_total")
                   .Help("Outbound entries claimed from crashed consumers")
                   .Register(registry)
                   .Add({})) {}

Relay::~Relay() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  blocking_.join();
}

template <typename F>
awaitable<std::invoke_result_t<F>> Relay::Blocking(F f) {
  auto home = co_await asio::this_coro::executor;
  co_await asio::post(blocking_.get_executor(), use_awaitable);
  if constexpr (std::is_void_v<std::invoke_result_t<F>>) {
    f();
    co_await asio::post(home, use_awaitable);
  } else {
    auto result = f();
    co_await asio::post(home, use_awaitable);
    co_return result;
  }
}

absl::Status Relay::Start() {
  auto c = redis::Client::Connect(redis_options_);
  if (!c.ok()) return c.status();
  if (auto s = (*c)->EnsureGroup(queue::kOutboundStream, queue::kOutboundGroup); !s.ok()) return s;
  ack_redis_ = std::move(*c);
  auto plain = tls::MakeClientContext({});
  if (!plain.ok()) return plain.status();
  tls_ctx_ = *plain;
  auto verifying = tls::MakeClientContext({.ca_file = options_.tls_ca_file, .verify_peer = true});
  if (!verifying.ok()) return verifying.status();
  verify_ctx_ = *verifying;
  threads_.emplace_back([this] { ReadLoop(); });
  threads_.emplace_back([this] { ReconcileLoop(); });
  log::Info("relay.started").Kv("consumer", options_.consumer).Kv("port", static_cast<int>(options_.port))
      .Kv("smarthost", options_.smarthost);
  return absl::OkStatus();
}

void Relay::Stop(std::chrono::milliseconds grace) {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  auto end = std::chrono::steady_clock::now() + grace;
  while (in_flight_ > 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Idle sessions belong to the io thread: close them there (without QUIT; the peer copes).
  auto closed = std::make_shared<std::promise<void>>();
  auto done = closed->get_future();
  asio::post(io_, [this, closed] {
    for (auto& [domain, session] : idle_) session.client->Close();
    idle_.clear();
    closed->set_value();
  });
  done.wait_for(std::chrono::seconds(2));
}

void Relay::ReadLoop() {
  const std::string me = options_.consumer;
  std::unique_ptr<redis::Client> redis;
  auto last_claim = std::chrono::steady_clock::now() - options_.claim_idle;
  while (!stop_) {
    if (!redis) {
      auto c = redis::Client::Connect(redis_options_);
      if (!c.ok()) {
        log::Warn("relay.redis_down").Kv("error", c.status().message());
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      redis = std::move(*c);
      redis->EnsureGroup(queue::kOutboundStream, queue::kOutboundGroup).IgnoreError();
    }
    // Backpressure: never more than max_parallel transactions in flight.
    if (in_flight_ >= options_.max_parallel) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    std::vector<redis::StreamEntry> batch;
    if (std::chrono::steady_clock::now() - last_claim > options_.claim_idle / 2) {
      last_claim = std::chrono::steady_clock::now();
      auto claimed = redis->XAutoClaim(queue::kOutboundStream, queue::kOutboundGroup, me, options_.claim_idle, "0-0", 64);
      if (claimed.ok() && !claimed->entries.empty()) {
        claimed_.Increment(static_cast<double>(claimed->entries.size()));
        log::Info("relay.claimed").Kv("entries", claimed->entries.size());
        batch = std::move(claimed->entries);
      }
    }
    if (batch.empty()) {
      int room = std::max(1, options_.max_parallel - in_flight_.load());
      auto read = redis->XReadGroup(queue::kOutboundGroup, me, queue::kOutboundStream, std::min(64, room * 8),
                                    std::chrono::milliseconds(1000));
      if (!read.ok()) {
        log::Warn("relay.redis_error").Kv("error", read.status().message());
        redis.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        continue;
      }
      batch = std::move(*read);
    }
    // One SMTP transaction per (spool message, destination domain).
    std::map<std::pair<int64_t, std::string>, Group> groups;
    std::vector<std::string> bad;
    for (const redis::StreamEntry& e : batch) {
      int64_t spool_id = 0;
      std::string rcpt = e.Get("recipient");
      std::string domain = DomainOf(rcpt);
      if (!absl::SimpleAtoi(e.Get("spool_id"), &spool_id) || domain.empty()) {
        log::Error("relay.bad_entry").Kv("id", e.id);
        bad.push_back(e.id);  // can never succeed; the spool still has the truth
        continue;
      }
      Group& g = groups[{spool_id, domain}];
      g.spool_id = spool_id;
      g.domain = domain;
      g.entries.push_back({e.id, rcpt});
    }
    if (!bad.empty()) redis->XAck(queue::kOutboundStream, queue::kOutboundGroup, bad).IgnoreError();
    for (auto& [key, g] : groups) {
      ++in_flight_;
      asio::co_spawn(io_, Transaction(std::move(g)), asio::detached);
    }
  }
}

void Relay::ReconcileLoop() {
  std::unique_ptr<redis::Client> redis;
  while (!stop_) {
    if (!redis) {
      auto c = redis::Client::Connect(redis_options_);
      if (c.ok()) redis = std::move(*c);
    }
    if (redis) {
      auto n = queue::Reconcile(pool_, *redis, "remote", options_.claim_idle * 5, 1000);
      if (!n.ok()) {
        log::Warn("relay.reconcile_failed").Kv("error", n.status().message());
        redis.reset();
      } else if (*n > 0) {
        reconciled_.Increment(*n);
        log::Info("relay.reconciled").Kv("entries", *n);
      }
    }
    for (auto waited = std::chrono::milliseconds(0); waited < options_.reconcile_interval && !stop_;
         waited += std::chrono::milliseconds(100)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

void Relay::Ack(const Group& group) {
  std::vector<std::string> ids;
  for (const Entry& e : group.entries) ids.push_back(e.id);
  std::lock_guard<std::mutex> lock(ack_mu_);
  if (auto s = ack_redis_->XAck(queue::kOutboundStream, queue::kOutboundGroup, ids); !s.ok()) {
    // Left pending: claimed again later, then found not due and acknowledged.
    log::Warn("relay.ack_failed").Kv("spool_id", group.spool_id).Kv("error", s.message());
  }
}

awaitable<void> Relay::Transaction(Group group) {
  Work w;
  w.group = std::move(group);
  const int64_t spool_id = w.group.spool_id;
  const std::string domain = w.group.domain;

  // 1. Lease the recipients that are still due, and load the message.
  absl::Status loaded = co_await Blocking([this, &w] {
    return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
      // Every due remote recipient of this message at this domain goes in this transaction,
      // also those whose stream entries are still unread (they then find nothing to do).
      auto rows = tx.exec_params(
          "UPDATE spool_recipients SET next_attempt_at = now() + make_interval(secs => $3), updated_at = now() "
          "WHERE spool_id = $1 AND kind = 'remote' AND state IN ('queued', 'deferred') AND next_attempt_at <= now() "
          "AND lower(substring(recipient from '@([^@]*)$')) = $2 "
          "RETURNING recipient, attempts, COALESCE(dsn_notify, ''), COALESCE(dsn_orcpt, ''), warned_at IS NOT NULL",
          w.group.spool_id, w.group.domain, static_cast<double>(options_.lease.count()));
      for (const auto& row : rows) {
        Work::Rcpt r;
        r.address = row[0].as<std::string>();
        r.attempts = row[1].as<int>();
        r.notify = row[2].as<std::string>();
        r.orcpt = row[3].as<std::string>();
        r.warned = row[4].as<bool>();
        w.rcpts.push_back(std::move(r));
      }
      if (w.rcpts.empty()) return absl::OkStatus();
      auto s = tx.exec_params(
          "SELECT mail_from, COALESCE(dsn_ret, ''), COALESCE(dsn_envid, ''), body, "
          "extract(epoch FROM received_at)::float8, source FROM spool WHERE id = $1",
          w.group.spool_id);
      if (s.empty()) return absl::NotFoundError("spool row is gone");
      w.mail_from = s[0][0].as<std::string>();
      w.ret = s[0][1].as<std::string>();
      w.envid = s[0][2].as<std::string>();
      w.body = pqxx::binarystring(s[0][3]).str();
      w.received_at = absl::FromUnixMicros(static_cast<int64_t>(s[0][4].as<double>() * 1e6));
      w.source = s[0][5].as<std::string>();
      return absl::OkStatus();
    });
  });
  if (!loaded.ok()) {
    log::Warn("relay.load_failed").Kv("spool_id", spool_id).Kv("error", loaded.message());
    if (absl::IsNotFound(loaded)) co_await Blocking([this, &w] { Ack(w.group); });
    --in_flight_;
    co_return;
  }
  if (w.rcpts.empty()) {
    // Already done, or in flight elsewhere (a duplicate entry): nothing to do.
    co_await Blocking([this, &w] { Ack(w.group); });
    --in_flight_;
    co_return;
  }

  // 2. Per-domain concurrency.
  asio::steady_timer wait(io_);
  while (domain_active_[domain] >= options_.per_domain) {
    wait.expires_after(std::chrono::milliseconds(100));
    boost::system::error_code ec;
    co_await wait.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  ++domain_active_[domain];
  co_await Attempt(w);
  if (--domain_active_[domain] <= 0) domain_active_.erase(domain);

  // 3. Record the outcome of every recipient, with the reports it calls for, in one
  // transaction; then acknowledge.
  const absl::Time now = absl::Now();
  const bool expired = now - w.received_at >= absl::FromChrono(options_.lifetime);
  const bool warn_due = options_.delay_warning.count() > 0 && now - w.received_at >= absl::FromChrono(options_.delay_warning);
  std::vector<DsnRecipient> failed, delayed;
  struct Update {
    std::string address, state, error, mx;
    int64_t backoff = 0;
    bool warn = false;
  };
  std::vector<Update> updates;
  for (Work::Rcpt& r : w.rcpts) {
    Outcome& o = r.outcome;
    if (!o.decided) {
      o = w.general.decided ? w.general : Outcome{true, 451, "4.4.0", "", "no attempt was possible", ""};
    }
    Update u{r.address, "", o.reason, o.mx};
    DsnRecipient d{r.address, r.orcpt, "", o.status, o.diagnostic, o.mx, o.reason, now, absl::InfinitePast()};
    if (o.code / 100 == 2) {
      u.state = "delivered";
      outcomes_.Add({{"result", "delivered"}}).Increment();
    } else if (o.code / 100 == 5 || expired) {
      u.state = "failed";
      outcomes_.Add({{"result", o.code / 100 == 5 ? "failed" : "expired"}}).Increment();
      if (o.code / 100 != 5) {
        d.reason = absl::StrCat("delivery time expired; last error: ", o.reason);
        if (d.status.empty()) d.status = "4.4.7";
      }
      d.action = "failed";
      if (!w.mail_from.empty() && NotifyAllows(r.notify, "FAILURE")) failed.push_back(d);
    } else {
      u.state = "deferred";
      u.backoff = Backoff(r.attempts + 1, options_.backoff).count();
      outcomes_.Add({{"result", "deferred"}}).Increment();
      if (warn_due && !r.warned && !w.mail_from.empty() && NotifyAllows(r.notify, "DELAY")) {
        d.action = "delayed";
        d.will_retry_until = w.received_at + absl::FromChrono(options_.lifetime);
        delayed.push_back(d);
        u.warn = true;
      }
    }
    log::Info("relay.result").Kv("spool_id", spool_id).Kv("rcpt", log::Truncate(r.address, 320))
        .Kv("state", u.state).Kv("code", o.code).Kv("mx", o.mx).Kv("reason", log::Truncate(o.reason, 300));
    updates.push_back(std::move(u));
  }

  // Where reports go: the envelope sender, local (kite:deliver) or remote (kite:outbound).
  queue::Recipient report_to{w.mail_from, false, 0};
  if (!failed.empty() || !delayed.empty()) {
    auto resolved = co_await Blocking([this, &w] { return directory::Resolve(pool_, w.mail_from); });
    if (resolved.ok()) {
      using K = directory::RecipientKind;
      if ((resolved->kind == K::kAccount || resolved->kind == K::kSharedMailbox || resolved->kind == K::kResource ||
           resolved->kind == K::kAlias) &&
          resolved->account_ids.size() == 1 && resolved->forward_to.empty()) {
        report_to = {resolved->canonical, true, resolved->account_ids[0]};
      } else if (resolved->kind != K::kRemote) {
        log::Warn("relay.report_undeliverable").Kv("spool_id", spool_id).Kv("sender", log::Truncate(w.mail_from, 320));
        failed.clear();
        delayed.clear();
      }
    } else {
      log::Warn("relay.report_lookup_failed").Kv("spool_id", spool_id).Kv("error", resolved.status().message());
      failed.clear();  // rare; the failure is still recorded in the spool (kitectl queue)
      delayed.clear();
    }
  }
  std::vector<std::pair<int64_t, queue::Recipient>> reports;
  auto commit = co_await Blocking([&]() -> absl::Status {
    return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
      reports.clear();
      // The spool row first, as kite-delivery does: a local and a remote recipient of one
      // message finishing at once take turns, so the last one always deletes the row.
      tx.exec_params("SELECT 1 FROM spool WHERE id = $1 FOR UPDATE", spool_id);
      for (const Update& u : updates) {
        if (u.state == "deferred") {
          tx.exec_params(
              "UPDATE spool_recipients SET state = 'deferred', attempts = attempts + 1, "
              "next_attempt_at = now() + make_interval(secs => $3), enqueued_at = NULL, last_error = $4, "
              "last_mx = NULLIF($5, ''), warned_at = CASE WHEN $6 THEN now() ELSE warned_at END, updated_at = now() "
              "WHERE spool_id = $1 AND recipient = $2",
              spool_id, u.address, static_cast<double>(u.backoff), u.error, u.mx, u.warn);
        } else {
          tx.exec_params(
              "UPDATE spool_recipients SET state = $3, attempts = attempts + 1, last_error = NULLIF($4, ''), "
              "last_mx = NULLIF($5, ''), updated_at = now() WHERE spool_id = $1 AND recipient = $2",
              spool_id, u.address, u.state, u.state == "delivered" ? std::string() : u.error, u.mx);
        }
      }
      for (int pass = 0; pass < 2; ++pass) {
        const std::vector<DsnRecipient>& list = pass == 0 ? failed : delayed;
        if (list.empty()) continue;
        DsnInput in;
        in.reporting_mta = options_.hostname;
        in.to = w.mail_from;
        in.envid = w.envid;
        in.ret = w.ret;
        std::string token = RandomToken();
        in.message_id = absl::StrCat("dsn.", spool_id, ".", token, "@", options_.hostname);
        in.boundary = absl::StrCat(spool_id, ".", token, "/", options_.hostname);
        in.arrival = w.received_at;
        in.now = now;
        in.recipients = list;
        in.original = w.body;
        std::string report = BuildDsn(in);
        queue::Envelope env;
        env.mail_from = "";
        env.helo = options_.hostname;
        env.source = "internal";
        env.recipients = {report_to};
        // A report is never reported on: NOTIFY=NEVER for its recipient (RFC 3461 6.2).
        env.recipients[0].notify = "NEVER";
        int64_t id = queue::SpoolTx(tx, env, report);
        reports.push_back({id, env.recipients[0]});
      }
      for (const Work::TlsResult& t : w.tls_results) {
        tx.exec_params(
            "INSERT INTO tls_results(day, domain, mx_host, result, policy_type, count) "
            "VALUES (current_date, $1, $2, $3, $4, 1) "
            "ON CONFLICT (day, domain, mx_host, result, policy_type) DO UPDATE SET count = tls_results.count + 1",
            w.group.domain, t.mx, t.result, t.policy_type);
      }
      // The message is done when no recipient (local or remote) waits any more.
      tx.exec_params(
          "DELETE FROM spool s WHERE s.id = $1 AND NOT EXISTS (SELECT 1 FROM spool_recipients r "
          "WHERE r.spool_id = s.id AND r.state IN ('queued', 'deferred'))",
          spool_id);
      return absl::OkStatus();
    });
  });
  if (!commit.ok()) {
    // Not acknowledged: the lease runs out and the entry is claimed or reconciled again.
    log::Error("relay.commit_failed").Kv("spool_id", spool_id).Kv("error", commit.message());
    --in_flight_;
    co_return;
  }
  reports_.Add({{"action", "failed"}}).Increment(failed.empty() ? 0 : 1);
  reports_.Add({{"action", "delayed"}}).Increment(delayed.empty() ? 0 : 1);
  co_await Blocking([this, &w, &reports] {
    std::lock_guard<std::mutex> lock(ack_mu_);
    for (const auto& [id, rcpt] : reports) {
      log::Info("relay.report_spooled").Kv("spool_id", id).Kv("about", w.group.spool_id).Kv("to", log::Truncate(rcpt.address, 320));
      // A failure here is recovered by the reconcilers (enqueued_at stays NULL).
      queue::Enqueue(*ack_redis_, pool_, id, {rcpt}).IgnoreError();
    }
  });
  co_await Blocking([this, &w] { Ack(w.group); });
  --in_flight_;
}

awaitable<void> Relay::Attempt(Work& w) {
  const std::string& domain = w.group.domain;
  auto temp = [](std::string status, std::string reason) { return Outcome{true, 451, std::move(status), "", std::move(reason), ""}; };
  auto perm = [](std::string status, std::string reason) { return Outcome{true, 550, std::move(status), "", std::move(reason), ""}; };

  // Where to go: the smarthost, or the domain's MX hosts (RFC 5321 5.1, RFC 7505).
  std::vector<std::pair<std::string, uint16_t>> hosts;
  bool implicit = false;
  std::optional<StsPolicy> sts;
  if (!options_.smarthost.empty()) {
    auto hp = config::ParseHostPort(options_.smarthost);
    if (!hp.ok()) {
      w.DecideAll(temp("4.3.5", "bad smarthost setting"));
      co_return;
    }
    hosts.push_back({hp->host, hp->port});
  } else {
    auto mx = co_await Blocking([this, &domain] { return resolver_->Mx(domain); });
    Route route;
    if (mx.ok()) {
      route = PlanRoute(domain, *mx, false);
    } else if (dns::IsNoData(mx.status())) {
      route = PlanRoute(domain, {}, true);
    } else if (dns::IsNxDomain(mx.status())) {
      w.DecideAll(perm("5.1.2", absl::StrCat("domain ", domain, " does not exist")));
      co_return;
    } else {
      w.DecideAll(temp("4.4.3", absl::StrCat("DNS lookup of MX for ", domain, " failed: ", mx.status().message())));
      co_return;
    }
    if (route.null_mx) {
      w.DecideAll(perm("5.1.10", absl::StrCat("domain ", domain, " accepts no mail (null MX, RFC 7505)")));
      co_return;
    }
    implicit = route.implicit;
    if (options_.mta_sts) {
      sts = co_await StsPolicyFor(domain);
      if (sts && sts->mode == StsPolicy::Mode::kEnforce) {
        std::vector<std::string> allowed;
        for (const std::string& h : route.hosts) {
          if (StsMxMatches(*sts, h)) allowed.push_back(h);
        }
        if (allowed.empty()) {
          w.tls_results.push_back({route.hosts.empty() ? "" : route.hosts[0], "validation-failure", "sts"});
          w.DecideAll(temp("4.7.5", absl::StrCat("no MX host of ", domain, " is listed in its MTA-STS policy")));
          co_return;
        }
        route.hosts = allowed;
      }
    }
    for (const std::string& h : route.hosts) hosts.push_back({h, options_.port});
  }
  const bool enforce = sts && sts->mode == StsPolicy::Mode::kEnforce;
  const std::string policy_type = sts ? "sts" : "no-policy-found";

  // A session left open by an earlier transaction to this domain (RFC 5321 3.3: RSET, then
  // the next transaction), if it is recent and meets the policy in force.
  for (auto it = idle_.find(domain); it != idle_.end(); it = idle_.find(domain)) {
    Session s = std::move(it->second);
    idle_.erase(it);
    if (std::chrono::steady_clock::now() - s.idle_since > options_.reuse_idle || (enforce && !s.verified)) {
      s.client->Close();
      continue;
    }
    std::string rset = "RSET\r\n";
    auto reset = co_await Exchange(*s.client, rset, options_.command_timeout);
    if (!reset.ok() || reset->code / 100 != 2) {
      s.client->Close();
      continue;
    }
    connections_.Add({{"result", "reused"}}).Increment();
    bool clean = co_await Send(w, s);
    co_await Release(std::move(s), clean, domain);
    co_return;
  }

  bool any_address = false;
  bool all_void = true;
  Outcome last = temp("4.4.1", absl::StrCat("no mail exchanger of ", domain, " could be reached"));
  for (const auto& [host, port] : hosts) {
    if (host == options_.hostname) {
      last = perm("5.4.6", absl::StrCat("mail for ", domain, " loops back to myself (", host, ")"));
      continue;
    }
    std::vector<std::string> addrs;
    boost::system::error_code parse_ec;
    asio::ip::make_address(host, parse_ec);
    if (!parse_ec) {
      addrs.push_back(host);
    } else {
      std::string h = host;
      auto a = co_await Blocking([this, &h] { return resolver_->A(h); });
      auto aaaa = co_await Blocking([this, &h] { return resolver_->Aaaa(h); });
      if (a.ok()) addrs.insert(addrs.end(), a->begin(), a->end());
      if (aaaa.ok()) addrs.insert(addrs.end(), aaaa->begin(), aaaa->end());
      bool void_a = !a.ok() && dns::IsVoid(a.status());
      bool void_aaaa = !aaaa.ok() && dns::IsVoid(aaaa.status());
      if (addrs.empty()) {
        if (!(void_a && void_aaaa)) all_void = false;
        last = temp("4.4.3", absl::StrCat("no address for ", host, (void_a && void_aaaa) ? "" : " (DNS error)"));
        continue;
      }
    }
    all_void = false;
    any_address = true;
    for (const std::string& addr : addrs) {
      boost::system::error_code ec;
      asio::ip::address ip = asio::ip::make_address(addr, ec);
      if (ec) continue;
      auto executor = co_await asio::this_coro::executor;
      auto client = std::make_shared<SmtpClient>(executor);
      asio::ip::tcp::endpoint endpoint(ip, port);
      absl::Status connected = co_await client->Connect(endpoint, options_.connect_timeout);
      if (!connected.ok()) {
        connections_.Add({{"result", "connect-failed"}}).Increment();
        last = temp("4.4.1", absl::StrCat("connect to ", host, "[", addr, "]:", port, ": ", connected.message()));
        log::Info("relay.connect_failed").Kv("host", host).Kv("addr", addr).Kv("error", connected.message());
        continue;
      }
      connections_.Add({{"result", "connected"}}).Increment();
      const std::string where = absl::StrCat(host, "[", addr, "]");
      // A reply or transport error before MAIL: try the next address / MX.
      auto session_failed = [&](std::string_view what, const absl::StatusOr<SmtpReply>& r) {
        if (r.ok()) {
          // Even a 5xx greeting or EHLO only means "not this server" (Postfix's
          // smtp_skip_5xx_greeting): try the next one, defer when none is left.
          last = Outcome{true, 451, "4.4.0", r->OneLine(), absl::StrCat(where, " said at ", AV(what), ": ", r->OneLine()), host};
        } else {
          last = temp("4.4.2", absl::StrCat(where, " at ", AV(what), ": ", r.status().message()));
          last.mx = host;
        }
        client->Close();
      };
      auto greeting = co_await client->ReadReply(options_.command_timeout);
      if (!greeting.ok() || greeting->code / 100 != 2) {
        session_failed("greeting", greeting);
        continue;
      }
      std::string line = absl::StrCat("EHLO ", options_.hostname, "\r\n");
      auto ehlo = co_await Exchange(*client, line, options_.command_timeout);
      Capabilities caps;
      bool verify = false;
      if (ehlo.ok() && ehlo->code / 100 == 5) {
        line = absl::StrCat("HELO ", options_.hostname, "\r\n");
        ehlo = co_await Exchange(*client, line, options_.command_timeout);
      } else if (ehlo.ok() && ehlo->code / 100 == 2) {
        caps = ParseEhlo(ehlo->lines);
      }
      if (!ehlo.ok() || ehlo->code / 100 != 2) {
        session_failed("EHLO", ehlo);
        continue;
      }
      if (caps.starttls) {
        line = "STARTTLS\r\n";
        auto go = co_await Exchange(*client, line, options_.command_timeout);
        if (go.ok() && go->code == 220) {
          verify = enforce || (options_.smarthost_verify && !options_.smarthost.empty());
          absl::Status hs = co_await client->StartTls(verify ? verify_ctx_ : tls_ctx_, host, verify, options_.command_timeout);
          if (!hs.ok()) {
            tls_.Add({{"result", "handshake-failed"}}).Increment();
            w.tls_results.push_back({host, verify ? "certificate-not-trusted" : "validation-failure", policy_type});
            last = temp("4.7.5", absl::StrCat(where, ": ", hs.message()));
            last.mx = host;
            client->Close();
            continue;
          }
          tls_.Add({{"result", "tls"}}).Increment();
          w.tls_results.push_back({host, "success", policy_type});
          line = absl::StrCat("EHLO ", options_.hostname, "\r\n");
          ehlo = co_await Exchange(*client, line, options_.command_timeout);
          if (!ehlo.ok() || ehlo->code / 100 != 2) {
            session_failed("EHLO after STARTTLS", ehlo);
            continue;
          }
          caps = ParseEhlo(ehlo->lines);
        } else if (!go.ok()) {
          session_failed("STARTTLS", go);
          continue;
        }
      } else {
        tls_.Add({{"result", caps.starttls ? "no-client-context" : "plaintext-not-offered"}}).Increment();
        if (!caps.starttls) w.tls_results.push_back({host, "starttls-not-supported", policy_type});
        if (enforce) {
          // RFC 8461 5: with an enforced policy, no TLS means no delivery to this host.
          last = temp("4.7.5", absl::StrCat(where, " offers no STARTTLS, required by the MTA-STS policy of ", domain));
          last.mx = host;
          client->Close();
          continue;
        }
      }
      if (!options_.smarthost.empty() && !options_.smarthost_user.empty()) {
        // RFC 4954 AUTH PLAIN, only inside TLS: credentials never cross the wire in clear.
        if (!client->is_tls()) {
          last = temp("4.7.10", absl::StrCat(where, ": smarthost offers no TLS; credentials not sent"));
          client->Close();
          continue;
        }
        std::string plain = absl::StrCat(std::string(1, '\0'), options_.smarthost_user, std::string(1, '\0'),
                                         options_.smarthost_password);
        line = absl::StrCat("AUTH PLAIN ", absl::Base64Escape(plain), "\r\n");
        auto auth = co_await Exchange(*client, line, options_.command_timeout);
        if (!auth.ok() || auth->code != 235) {
          session_failed("AUTH", auth);
          continue;
        }
      }

      Session session{client, caps, host, addr, client->is_tls() && verify};
      bool clean = co_await Send(w, session);
      co_await Release(std::move(session), clean, domain);
      co_return;
    }
  }
  if (!any_address && all_void && implicit) {
    last = perm("5.4.4", absl::StrCat("domain ", domain, " has no MX and no address"));
  }
  w.general = last;
  w.DecideAll(last);
}

// One mail transaction on an established session (RFC 5321 3.3). Returns true when the
// session is still in a clean state (every reply read), so it may be reused or QUIT.
awaitable<bool> Relay::Send(Work& w, Session& s) {
  const std::string& host = s.host;
  const std::string& addr = s.addr;
  const Capabilities& caps = s.caps;
  const std::string where = absl::StrCat(host, "[", addr, "]");
  auto perm = [](std::string status, std::string reason) { return Outcome{true, 550, std::move(status), "", std::move(reason), ""}; };
  auto temp = [](std::string status, std::string reason) { return Outcome{true, 451, std::move(status), "", std::move(reason), ""}; };
  auto decide = [&](Work::Rcpt& r, const SmtpReply& reply) {
    r.outcome = Outcome{true, reply.code, StatusFromReply(reply.code, reply.enhanced), reply.OneLine(),
                        absl::StrCat(where, " said: ", reply.OneLine()), host};
    if (reply.code / 100 == 2) r.outcome.status = reply.enhanced.empty() ? "2.0.0" : reply.enhanced;
  };
  auto lost = [&](const absl::Status& st) {
    Outcome o = temp("4.4.2", absl::StrCat("lost connection with ", where, ": ", st.message()));
    o.mx = host;
    w.DecideAll(o);
  };
  bool utf8 = NeedsUtf8(w.mail_from);
  for (const Work::Rcpt& r : w.rcpts) utf8 |= NeedsUtf8(r.address);
  if (caps.has_size && caps.size > 0 && w.body.size() > caps.size) {
    Outcome o = perm("5.3.4", absl::StrCat("message size ", w.body.size(), " exceeds the limit of ", where, " (", caps.size, ")"));
    o.mx = host;
    w.DecideAll(o);
    co_return true;
  }
  if (utf8 && !caps.smtputf8) {
    Outcome o = perm("5.6.7", absl::StrCat(where, " does not support SMTPUTF8, needed for an internationalised address"));
    o.mx = host;
    w.DecideAll(o);
    co_return true;
  }
  std::string mail = absl::StrCat("MAIL FROM:<", w.mail_from, ">");
  if (caps.has_size) absl::StrAppend(&mail, " SIZE=", w.body.size());
  if (caps.eightbitmime && Has8Bit(w.body)) absl::StrAppend(&mail, " BODY=8BITMIME");
  if (utf8) absl::StrAppend(&mail, " SMTPUTF8");
  if (caps.dsn) {
    if (!w.ret.empty()) absl::StrAppend(&mail, " RET=", w.ret);
    if (!w.envid.empty()) absl::StrAppend(&mail, " ENVID=", EncodeXtext(w.envid));
  }
  absl::StrAppend(&mail, "\r\n");
  auto mail_reply = co_await Exchange(*s.client, mail, options_.command_timeout);
  if (!mail_reply.ok()) {
    lost(mail_reply.status());
    co_return false;
  }
  if (mail_reply->code / 100 != 2) {
    for (Work::Rcpt& r : w.rcpts) decide(r, *mail_reply);
    co_return true;
  }
  std::vector<Work::Rcpt*> accepted;
  for (Work::Rcpt& r : w.rcpts) {
    std::string rcpt = absl::StrCat("RCPT TO:<", r.address, ">");
    if (caps.dsn) {
      if (!r.notify.empty()) absl::StrAppend(&rcpt, " NOTIFY=", r.notify);
      size_t semi = r.orcpt.find(';');
      if (semi != std::string::npos) {
        absl::StrAppend(&rcpt, " ORCPT=", r.orcpt.substr(0, semi + 1), EncodeXtext(r.orcpt.substr(semi + 1)));
      }
    }
    absl::StrAppend(&rcpt, "\r\n");
    auto rr = co_await Exchange(*s.client, rcpt, options_.command_timeout);
    if (!rr.ok()) {
      lost(rr.status());
      co_return false;
    }
    if (rr->code / 100 == 2) {
      accepted.push_back(&r);
    } else {
      decide(r, *rr);
    }
  }
  if (accepted.empty()) {
    co_return true;
  }
  std::string data = "DATA\r\n";
  auto go = co_await Exchange(*s.client, data, options_.command_timeout);
  if (!go.ok()) {
    lost(go.status());
    co_return false;
  }
  if (go->code != 354) {
    for (Work::Rcpt* r : accepted) decide(*r, *go);
    co_return true;
  }
  std::string content = DotStuff(w.body);
  auto done = co_await Exchange(*s.client, content, options_.data_timeout);
  if (!done.ok()) {
    // RFC 5321 6.1: no reply to the final dot means not delivered (a duplicate is
    // possible and accepted over a loss).
    lost(done.status());
    co_return false;
  }
  for (Work::Rcpt* r : accepted) decide(*r, *done);
  log::Info("relay.sent").Kv("spool_id", w.group.spool_id).Kv("mx", host).Kv("addr", addr)
      .Kv("tls", s.client->is_tls()).Kv("tls_version", s.client->tls_version()).Kv("code", done->code)
      .Kv("rcpts", accepted.size());
  co_return true;
}

awaitable<void> Relay::Release(Session s, bool clean, const std::string& domain) {
  if (clean && options_.reuse_idle.count() > 0 && idle_.size() < 100 && !stop_) {
    s.idle_since = std::chrono::steady_clock::now();
    idle_.emplace(domain, std::move(s));
    co_return;
  }
  if (clean) {
    std::string quit = "QUIT\r\n";
    auto bye = co_await Exchange(*s.client, quit, std::chrono::seconds(10));
    (void)bye;
  }
  s.client->Close();
}

awaitable<absl::StatusOr<std::string>> Relay::FetchStsPolicy(const std::string& domain) {
  // RFC 8461 3.3: https://mta-sts.<domain>/.well-known/mta-sts.txt, certificate valid for
  // that name, no redirects, bounded.
  const std::string host = absl::StrCat("mta-sts.", domain);
  auto addrs = co_await Blocking([this, &host] { return resolver_->A(host); });
  if (!addrs.ok() || addrs->empty()) {
    co_return absl::UnavailableError(absl::StrCat("no address for ", host));
  }
  boost::system::error_code ec;
  asio::ip::address ip = asio::ip::make_address((*addrs)[0], ec);
  if (ec) co_return absl::UnavailableError("bad address");
  auto executor = co_await asio::this_coro::executor;
  auto client = std::make_shared<SmtpClient>(executor);
  asio::ip::tcp::endpoint endpoint(ip, options_.mta_sts_port);
  absl::Status s = co_await client->Connect(endpoint, options_.connect_timeout);
  if (!s.ok()) co_return s;
  s = co_await client->StartTls(verify_ctx_, host, true, options_.connect_timeout);
  if (!s.ok()) {
    client->Close();
    co_return s;
  }
  std::string request = absl::StrCat("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: ", host,
                                     "\r\nUser-Agent: Kite\r\nAccept: text/plain\r\nConnection: close\r\n\r\n");
  s = co_await client->Write(request, options_.connect_timeout);
  if (!s.ok()) {
    client->Close();
    co_return s;
  }
  auto raw = co_await client->ReadToEnd(kMaxPolicySize + 16384, options_.connect_timeout * 2);
  client->Close();
  if (!raw.ok()) co_return raw.status();
  co_return StsBodyFromHttpResponse(*raw);
}

awaitable<std::optional<StsPolicy>> Relay::StsPolicyFor(const std::string& domain) {
  struct Cached {
    bool fresh = false;
    std::string id;
    StsPolicy policy;
  };
  auto cached = co_await Blocking([this, &domain] {
    return pool_.Transact([&](pqxx::work& tx) {
      Cached c;
      auto rows = tx.exec_params(
          "SELECT policy_id, mode, array_to_string(mx, ' '), max_age FROM mta_sts_policies "
          "WHERE domain = $1 AND expires_at > now()",
          domain);
      if (rows.empty()) return c;
      c.fresh = true;
      c.id = rows[0][0].as<std::string>();
      std::string mode = rows[0][1].as<std::string>();
      c.policy.mode = mode == "enforce" ? StsPolicy::Mode::kEnforce
                      : mode == "testing" ? StsPolicy::Mode::kTesting
                                          : StsPolicy::Mode::kNone;
      for (absl::string_view mx : absl::StrSplit(rows[0][2].as<std::string>(), ' ', absl::SkipEmpty())) {
        c.policy.mx.emplace_back(mx);
      }
      c.policy.max_age = rows[0][3].as<int64_t>();
      return c;
    });
  });
  Cached c = cached.ok() ? *cached : Cached{};
  const std::string txt_name = absl::StrCat("_mta-sts.", domain);
  auto txt = co_await Blocking([this, &txt_name] { return resolver_->Txt(txt_name); });
  std::string id;
  if (txt.ok()) {
    auto parsed = StsIdFromRecords(*txt);
    if (parsed.ok()) id = *parsed;
  }
  // RFC 8461 5.1: without a record (or on a DNS error) a cached policy that has not expired
  // still applies; a known id means the cached policy is current.
  if (id.empty() || (c.fresh && c.id == id)) {
    if (c.fresh) co_return c.policy;
    co_return std::nullopt;
  }
  auto body = co_await FetchStsPolicy(domain);
  absl::StatusOr<StsPolicy> policy = body.ok() ? ParseStsPolicy(*body) : absl::StatusOr<StsPolicy>(body.status());
  if (!policy.ok()) {
    log::Warn("relay.mta_sts_fetch_failed").Kv("domain", domain).Kv("error", policy.status().message());
    tls_.Add({{"result", "sts-policy-fetch-error"}}).Increment();
    if (c.fresh) co_return c.policy;
    co_return std::nullopt;
  }
  StsPolicy p = *policy;
  std::string mx_list;
  for (const std::string& m : p.mx) absl::StrAppend(&mx_list, mx_list.empty() ? "" : " ", m);
  const std::string mode = StsModeName(p.mode);
  auto stored = co_await Blocking([this, &domain, &id, &mode, &mx_list, &p] {
    return pool_.Transact([&](pqxx::work& tx) {
      tx.exec_params(
          "INSERT INTO mta_sts_policies(domain, policy_id, mode, mx, max_age, expires_at) "
          "VALUES ($1, $2, $3, string_to_array($4, ' '), $5::integer, now() + make_interval(secs => $5::integer)) "
          "ON CONFLICT (domain) DO UPDATE SET policy_id = $2, mode = $3, mx = string_to_array($4, ' '), "
          "max_age = $5::integer, fetched_at = now(), expires_at = now() + make_interval(secs => $5::integer)",
          domain, id, mode, mx_list, p.max_age);
    });
  });
  if (!stored.ok()) log::Warn("relay.mta_sts_cache_failed").Kv("domain", domain).Kv("error", stored.message());
  log::Info("relay.mta_sts_policy").Kv("domain", domain).Kv("id", id).Kv("mode", mode).Kv("max_age", p.max_age);
  co_return p;
}

}  // namespace kite::relay
