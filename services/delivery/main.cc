// kite-delivery — the mail delivery agent: consumes kite:deliver and files each message
// into its mailboxes (engine.h: lists and aliases expanded, Sieve, quotas, vacation).
//
// Queue semantics (design.md): at least once on the queue, exactly once in the mailbox.
// An entry is acknowledged (XACK) only after the mailbox transaction committed; the mailbox
// insert is keyed by (spool id, recipient) so a redelivered entry is a no-op. Entries a
// crashed consumer left pending are taken over with XAUTOCLAIM after delivery.claim_idle;
// spool rows whose stream entry was lost (Redis restart), and recipients deferred for a full
// mailbox, are enqueued again by the reconciler.
//
// SECURITY: message bodies and Sieve scripts are untrusted (bounded parsers, lib/mime and
// lib/sieve); generated messages cannot be shaped by them beyond their text (autoreply.h).
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "delivery/engine.h"
#include "delivery/itip_outbox.h"
#include "delivery/managesieve.h"  // ManageSieve (RFC 5804), see the block in main()
#include "lib/daemon/backends.h"
#include "lib/daemon/daemon.h"
#include "lib/daemon/listen.h"
#include "lib/log/log.h"
#include "lib/queue/queue.h"
#include "lib/redis/client.h"
#include "lib/rpc/rpc.h"
#include "lib/store/pool.h"

namespace {

using kite::redis::StreamEntry;

struct Delivery {
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<kite::delivery::Engine> engine;
  // iMIP: invitations recorded by the engine go on to kite-caldav (declared after the pool:
  // destroyed first).
  std::unique_ptr<kite::delivery::ItipForwarder> itip;
  kite::redis::Options redis_options;
  std::string consumer;
  std::chrono::milliseconds claim_idle{60000};
  std::chrono::milliseconds reconcile_interval{30000};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  prometheus::Family<prometheus::Counter>* outcomes = nullptr;
  prometheus::Counter* failures = nullptr;
  prometheus::Counter* quota_warnings = nullptr;
  prometheus::Counter* vacation_replies = nullptr;
  prometheus::Counter* redirects = nullptr;
  prometheus::Counter* rejects = nullptr;
  prometheus::Counter* sieve_errors = nullptr;
  prometheus::Counter* mailbox_entries = nullptr;
  prometheus::Histogram* latency = nullptr;
  prometheus::Counter* reconciled = nullptr;
  prometheus::Counter* claimed = nullptr;

  // Delivers one entry; true when it may be acknowledged.
  bool Handle(kite::redis::Client& redis, const StreamEntry& e) {
    int64_t spool_id = 0, account_id = 0;
    std::string recipient = e.Get("recipient");
    if (!absl::SimpleAtoi(e.Get("spool_id"), &spool_id) || !absl::SimpleAtoi(e.Get("account_id"), &account_id) ||
        recipient.empty()) {
      kite::log::Error("delivery.bad_entry").Kv("id", e.id);
      return true;  // can never succeed; the spool reconciler still has the truth
    }
    auto r = engine->Deliver(spool_id, recipient, account_id);
    if (!r.ok()) {
      if (r.status().code() == absl::StatusCode::kNotFound) {
        kite::log::Error("delivery.gone").Kv("spool_id", spool_id).Kv("recipient", recipient).Kv("error", r.status().message());
        return true;
      }
      failures->Increment();
      kite::log::Warn("delivery.retry").Kv("spool_id", spool_id).Kv("recipient", recipient).Kv("error", r.status().message());
      return false;  // stays pending; claimed again after claim_idle
    }
    outcomes->Add({{"outcome", kite::delivery::OutcomeName(r->outcome)}}).Increment();
    quota_warnings->Increment(r->quota_warnings);
    vacation_replies->Increment(r->vacation_replies);
    redirects->Increment(r->redirects);
    rejects->Increment(r->rejects);
    sieve_errors->Increment(r->sieve_errors);
    mailbox_entries->Increment(static_cast<double>(r->stored.size()));
    if (r->outcome == kite::delivery::Outcome::kStored && !r->stored.empty()) {
      latency->Observe(absl::ToDoubleSeconds(absl::Now() - r->received_at));
    }
    auto log = kite::log::Info("delivery.done");
    log.Kv("spool_id", spool_id).Kv("recipient", recipient).Kv("outcome", kite::delivery::OutcomeName(r->outcome))
        .Kv("accounts", r->accounts).Kv("entries", r->stored.size());
    if (r->stored.size() == 1) log.Kv("mailbox", r->stored[0].mailbox).Kv("uid", r->stored[0].uid);
    if (r->remote > 0) log.Kv("remote", r->remote);
    if (r->deferred_members > 0) log.Kv("deferred_members", r->deferred_members);
    // Generated messages (redirects, replies, notices, remote list members): on the streams
    // now; if this fails the reconciler enqueues them.
    if (r->itip > 0) itip->Wake();
    for (const auto& [id, rcpts] : r->to_enqueue) {
      kite::queue::Enqueue(redis, *pool, id, rcpts).IgnoreError();
    }
    // IMAP sessions on any replica learn about it; losing this only delays their view.
    for (const auto& st : r->stored) {
      redis.Publish(absl::StrCat("kite:mbox:", st.account_id), absl::StrCat(st.mailbox_id, " ", st.uid)).IgnoreError();
    }
    return true;
  }

  void Consume(int index) {
    std::string me = absl::StrCat(consumer, "-", index);
    std::unique_ptr<kite::redis::Client> redis;
    auto last_claim = std::chrono::steady_clock::now() - claim_idle;
    while (!stop) {
      if (!redis) {
        auto c = kite::redis::Client::Connect(redis_options);
        if (!c.ok()) {
          kite::log::Warn("delivery.redis_down").Kv("error", c.status().message());
          std::this_thread::sleep_for(std::chrono::seconds(1));
          continue;
        }
        redis = std::move(*c);
        redis->EnsureGroup(kite::queue::kDeliverStream, kite::queue::kDeliverGroup).IgnoreError();
      }
      std::vector<StreamEntry> batch;
      if (std::chrono::steady_clock::now() - last_claim > claim_idle / 2) {
        last_claim = std::chrono::steady_clock::now();
        auto claimed_batch = redis->XAutoClaim(kite::queue::kDeliverStream, kite::queue::kDeliverGroup, me,
                                               claim_idle, "0-0", 64);
        if (claimed_batch.ok() && !claimed_batch->entries.empty()) {
          claimed->Increment(static_cast<double>(claimed_batch->entries.size()));
          kite::log::Info("delivery.claimed").Kv("entries", claimed_batch->entries.size());
          batch = std::move(claimed_batch->entries);
        }
      }
      if (batch.empty()) {
        auto read = redis->XReadGroup(kite::queue::kDeliverGroup, me, kite::queue::kDeliverStream, 16,
                                      std::chrono::milliseconds(1000));
        if (!read.ok()) {
          kite::log::Warn("delivery.redis_error").Kv("error", read.status().message());
          redis.reset();
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
          continue;
        }
        batch = std::move(*read);
      }
      for (const StreamEntry& e : batch) {
        if (Handle(*redis, e)) {
          redis->XAck(kite::queue::kDeliverStream, kite::queue::kDeliverGroup, {e.id}).IgnoreError();
        }
      }
    }
  }

  void ReconcileLoop() {
    std::unique_ptr<kite::redis::Client> redis;
    while (!stop) {
      if (!redis) {
        auto c = kite::redis::Client::Connect(redis_options);
        if (c.ok()) redis = std::move(*c);
      }
      if (redis) {
        // In flight = enqueued within 5 claim periods; older entries were lost or are stuck.
        auto n = kite::queue::Reconcile(*pool, *redis, "local", claim_idle * 5, 1000);
        if (!n.ok()) {
          kite::log::Warn("delivery.reconcile_failed").Kv("error", n.status().message());
          redis.reset();
        } else if (*n > 0) {
          reconciled->Increment(*n);
          kite::log::Info("delivery.reconciled").Kv("entries", *n);
        }
      }
      for (auto waited = std::chrono::milliseconds(0); waited < reconcile_interval && !stop;
           waited += std::chrono::milliseconds(200)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-delivery",
      .section = "delivery",
      .summary = "final delivery: lists, Sieve, quotas and vacation; the kite:deliver stream into mailboxes, exactly once",
      .details =
          "SECURITY: message bodies and Sieve scripts are untrusted; bounded parsers.\n"
          "STANDARDS: RFC 5804 ManageSieve (STARTTLS, SASL through kite-auth); RFC 5228 Sieve with fileinto, reject/ereject (5429), envelope, imap4flags (5232),\n"
          "vacation (5230, 3834), mailbox (5490), copy (3894); RFC 3464 bounces; Redis streams consumer\n"
          "groups (XREADGROUP/XACK/XAUTOCLAIM).\n"
          "STATUS: lists, aliases, shared mailboxes, Sieve, quotas, vacation, and iMIP handed to\n"
          "kite-caldav's scheduling inbox.",
      .check = kite::daemon::CheckTls,  // ManageSieve's certificate
  };
  static Delivery d;
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime& rt) -> absl::Status {
    // The engine's caches and the forwarder go before the io_context (daemon.h OnExit).
    rt.OnExit([] {
      d.itip.reset();
      d.engine.reset();
    });
    const auto& c = rt.config();
    auto pool = kite::daemon::OpenPostgres(c, rt.spec().section);
    if (!pool.ok()) return pool.status();
    d.pool = std::move(*pool);
    d.redis_options = kite::daemon::RedisOptions(c, rt.spec().section);
    // Fail fast with a clear message when Redis is unreachable at start.
    auto probe = kite::redis::Client::Connect(d.redis_options);
    if (!probe.ok()) return probe.status();
    if (auto s = (*probe)->EnsureGroup(kite::queue::kDeliverStream, kite::queue::kDeliverGroup); !s.ok()) return s;
    d.consumer = c.String("delivery", "consumer_name");
    if (d.consumer.empty()) {
      char host[256] = {};
      gethostname(host, sizeof host - 1);
      d.consumer = absl::StrCat(host, "-", getpid());
    }
    d.claim_idle = c.Duration("delivery", "claim_idle");
    d.reconcile_interval = c.Duration("delivery", "reconcile_interval");
    kite::delivery::Options options;
    options.hostname = c.String("global", "hostname");
    options.quota_warning_percent = static_cast<int>(c.Int("delivery", "quota_warning_percent"));
    options.quota_bounce_at_once = c.Bool("delivery", "quota_full_bounce");
    options.quota_retry = absl::FromChrono(c.Duration("delivery", "quota_retry"));
    options.lifetime = absl::FromChrono(c.Duration("delivery", "lifetime"));
    options.fileinto_autocreate = c.Bool("delivery", "fileinto_autocreate");
    d.engine = std::make_unique<kite::delivery::Engine>(*d.pool, options);
    auto& m = rt.metrics();
    d.outcomes = &m.Counter("kite_delivery_outcomes_total",
                            "Queue entries handled, by outcome (stored, duplicate, discarded, deferred, bounced, no_target)");
    d.mailbox_entries = &m.Counter("kite_delivery_mailbox_entries_total", "Mailbox entries written (one per copy)").Add({});
    d.quota_warnings = &m.Counter("kite_delivery_quota_warnings_total", "Quota warnings delivered").Add({});
    d.vacation_replies = &m.Counter("kite_delivery_vacation_replies_total", "Sieve vacation replies sent").Add({});
    d.redirects = &m.Counter("kite_delivery_redirects_total", "Sieve redirects sent").Add({});
    d.rejects = &m.Counter("kite_delivery_rejects_total", "Messages refused by a Sieve reject").Add({});
    d.sieve_errors = &m.Counter("kite_delivery_sieve_errors_total", "Sieve scripts that failed; the message went to INBOX").Add({});
    d.latency = &m.Histogram("kite_delivery_latency_seconds", "From acceptance (spool) to the mailbox commit")
                     .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300});
    d.failures = &m.Counter("kite_delivery_failures_total", "Deliveries that failed and will be retried").Add({});
    d.reconciled = &m.Counter("kite_delivery_reconciled_total", "Spool entries re-enqueued by the reconciler").Add({});
    d.claimed = &m.Counter("kite_delivery_claimed_total", "Entries claimed from crashed consumers").Add({});
    d.itip = std::make_unique<kite::delivery::ItipForwarder>(
        *d.pool, kite::rpc::MakeChannel(c.Address("global", "caldav_address").ToString(), rt.grpc_tls()),
        kite::delivery::ItipForwarder::FromConfig(c), rt.metrics().registry());
    // ---- ManageSieve (RFC 5804) on delivery.managesieve_listen (services/delivery/managesieve.h).
    // Sockets must go before the io_context: released in OnExit, not by static destruction.
    static std::unique_ptr<kite::delivery::ManageSieveServer> managesieve;
    auto started = kite::delivery::StartManageSieve(rt, *d.pool);
    if (!started.ok()) return started.status();
    managesieve = std::move(*started);
    rt.OnExit([] { managesieve.reset(); });
    // ---- end ManageSieve
    int consumers = static_cast<int>(c.Int("delivery", "consumers"));
    // Consumers start once the daemon runs (after the gRPC server is up), so a failed start
    // never leaves threads behind.
    boost::asio::post(rt.io(), [consumers] {
      for (int i = 0; i < consumers; ++i) d.threads.emplace_back([i] { d.Consume(i); });
      d.threads.emplace_back([] { d.ReconcileLoop(); });
      d.itip->Start();
    });
    rt.OnShutdown([&rt](std::chrono::milliseconds) -> boost::asio::awaitable<void> {
      d.stop = true;
      // Consumers finish the entry in hand (a transaction at most) and leave.
      co_await rt.Blocking([] {
        for (auto& t : d.threads) t.join();
        d.itip->Stop();
      });
    });
    return absl::OkStatus();
  });
}
