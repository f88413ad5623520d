// kite-delivery — the mail delivery agent: consumes kite:deliver and files each message
// into the recipient's mailbox.
//
// Queue semantics (design.md): at least once on the queue, exactly once in the mailbox.
// An entry is acknowledged (XACK) only after the mailbox transaction committed; the mailbox
// insert is keyed by (spool id, recipient) so a redelivered entry is a no-op. Entries a
// crashed consumer left pending are taken over with XAUTOCLAIM after delivery.claim_idle;
// spool rows whose stream entry was lost (Redis restart) are re-enqueued by the reconciler.
//
// SECURITY: handles no client connections; message bodies are copied as opaque bytes.
// STATUS: delivers to INBOX (messages kite-mta quarantined after a DMARC failure to Junk).
// Lists, Sieve, quotas, vacation and iMIP come with the
// delivery issue.
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "delivery/managesieve.h"  // ManageSieve (RFC 5804), see the block in main()
#include "lib/daemon/backends.h"
#include "lib/daemon/daemon.h"
#include "lib/log/log.h"
#include "lib/mailstore/mailstore.h"
#include "lib/queue/queue.h"
#include "lib/redis/client.h"
#include "lib/store/pool.h"

namespace {

using kite::redis::StreamEntry;

struct Delivery {
  std::unique_ptr<kite::store::Pool> pool;
  kite::redis::Options redis_options;
  std::string consumer;
  std::chrono::milliseconds claim_idle{60000};
  std::chrono::milliseconds reconcile_interval{30000};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  prometheus::Counter* delivered = nullptr;
  prometheus::Counter* duplicates = nullptr;
  prometheus::Counter* failures = nullptr;
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
    auto r = kite::mailstore::DeliverFromSpool(*pool, spool_id, recipient, account_id);
    if (!r.ok()) {
      if (r.status().code() == absl::StatusCode::kNotFound) {
        kite::log::Error("delivery.gone").Kv("spool_id", spool_id).Kv("recipient", recipient).Kv("error", r.status().message());
        return true;
      }
      failures->Increment();
      kite::log::Warn("delivery.retry").Kv("spool_id", spool_id).Kv("recipient", recipient).Kv("error", r.status().message());
      return false;  // stays pending; claimed again after claim_idle
    }
    if (r->duplicate) {
      duplicates->Increment();
      kite::log::Info("delivery.duplicate").Kv("spool_id", spool_id).Kv("recipient", recipient);
      return true;
    }
    delivered->Increment();
    kite::log::Info("delivery.stored").Kv("spool_id", spool_id).Kv("recipient", recipient).Kv("uid", r->uid)
        .Kv("mailbox_id", r->mailbox_id).Kv("mailbox", r->mailbox).Kv("quarantined", r->quarantined);
    // IMAP sessions on any replica learn about it; losing this only delays their view.
    redis.Publish(absl::StrCat("kite:mbox:", account_id), absl::StrCat(r->mailbox_id, " ", r->uid)).IgnoreError();
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
      .summary = "final delivery: consumes the kite:deliver stream into mailboxes, exactly once",
      .details =
          "SECURITY: no client connections; message bodies are opaque bytes.\n"
          "STANDARDS: Redis streams consumer groups (XREADGROUP/XACK/XAUTOCLAIM).\n"
          "STATUS: INBOX delivery only; lists, Sieve, quotas, vacation and iMIP are not implemented yet.",
  };
  static Delivery d;
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime& rt) -> absl::Status {
    const auto& c = rt.config();
    auto pool = kite::daemon::OpenPostgres(c);
    if (!pool.ok()) return pool.status();
    d.pool = std::move(*pool);
    d.redis_options = kite::daemon::RedisOptions(c);
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
    auto& m = rt.metrics();
    d.delivered = &m.Counter("kite_delivery_stored_total", "Messages stored into a mailbox").Add({});
    d.duplicates = &m.Counter("kite_delivery_duplicates_total", "Redelivered queue entries recognised as done").Add({});
    d.failures = &m.Counter("kite_delivery_failures_total", "Deliveries that failed and will be retried").Add({});
    d.reconciled = &m.Counter("kite_delivery_reconciled_total", "Spool entries re-enqueued by the reconciler").Add({});
    d.claimed = &m.Counter("kite_delivery_claimed_total", "Entries claimed from crashed consumers").Add({});
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
    });
    rt.OnShutdown([&rt](std::chrono::milliseconds) -> boost::asio::awaitable<void> {
      d.stop = true;
      // Consumers finish the entry in hand (a transaction at most) and leave.
      co_await rt.Blocking([] {
        for (auto& t : d.threads) t.join();
      });
    });
    return absl::OkStatus();
  });
}
