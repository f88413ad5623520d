// The durable hand-over of iMIP parts (itip.h) from kite-delivery to kite-caldav, exactly
// once: RecordItipTx writes them to itip_outbox (migration 0011) inside the mailbox
// transaction; ItipForwarder, a thread in every kite-delivery replica, sends due rows to
// kite.scheduling.v1.Scheduling/DeliverItip and deletes each row once kite-caldav answered.
//
// Promises:
//  - A redelivered queue entry adds nothing (the row key is account, spool id, recipient,
//    part); kite-caldav applies each key at most once, so a row sent twice (a forwarder
//    killed between the answer and the DELETE) is answered DUPLICATE and changes nothing.
//  - Replicas never send the same row at the same time: a row is claimed with
//    FOR UPDATE SKIP LOCKED and leased (next_attempt_at pushed past the RPC deadline) in a
//    short transaction; a forwarder that dies mid-call leaves the row to be retried after
//    the lease.
//  - kite-caldav unreachable, UNIMPLEMENTED, DEADLINE_EXCEEDED or any other RPC error: the
//    row stays, retried with exponential backoff (initial_backoff doubling up to
//    max_backoff); after `lifetime` it is dropped with an error log line.
// Untrusted input: none here (the bytes were bounded by FindItip; caldav parses them).
#ifndef KITE_SERVICES_DELIVERY_ITIP_OUTBOX_H_
#define KITE_SERVICES_DELIVERY_ITIP_OUTBOX_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/statusor.h"
#include "delivery/itip.h"
#include "grpcpp/grpcpp.h"
#include "kite/scheduling/v1/scheduling.grpc.pb.h"
#include "lib/config/config.h"
#include "lib/store/pool.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace kite::delivery {

// Inserts one outbox row per part (part index = position in `parts`); rows that exist
// already are left alone. Returns how many rows were new. Runs inside the caller's
// transaction (kite-delivery's mailbox store for this recipient); throws what libpqxx throws.
// `recipient` and `sender` are lowercased here.
int RecordItipTx(pqxx::work& tx, int64_t account_id, int64_t spool_id, std::string_view recipient,
                 std::string_view sender, const std::vector<ItipPart>& parts);

// One claimed outbox row.
struct ItipRow {
  int64_t account_id = 0;
  int64_t spool_id = 0;
  std::string recipient;
  int part = 0;
  std::string sender;
  std::string method;
  std::string icalendar;
  int attempts = 0;  // including this one
  bool expired = false;  // older than the lifetime: last try
};

// Claims up to `limit` due rows (next_attempt_at <= now), skipping rows another replica has
// locked, and leases them for `lease` (their next_attempt_at moves to now + lease, attempts
// + 1). Oldest due first.
absl::StatusOr<std::vector<ItipRow>> ClaimItipRows(store::Pool& pool, int limit, std::chrono::milliseconds lease,
                                                   std::chrono::milliseconds lifetime);

class ItipForwarder {
 public:
  struct Options {
    std::chrono::milliseconds poll_interval{1000};     // how often due rows are looked for
    int batch = 8;                                     // rows claimed per pass
    std::chrono::milliseconds rpc_timeout{10000};      // deadline of one DeliverItip call
    std::chrono::milliseconds initial_backoff{10000};  // first retry after a failed call
    std::chrono::milliseconds max_backoff{3600000};    // retries back off up to this
    std::chrono::milliseconds lifetime{5 * 24 * 3600 * 1000LL};  // then the row is dropped
  };

  // delivery.itip_retry_initial, itip_retry_max and itip_lifetime from the configuration.
  static Options FromConfig(const config::Config& c);

  // `channel` reaches kite-caldav (rpc::MakeChannel(global.caldav_address)); counters are
  // registered in `registry` as kite_delivery_itip_forwarded_total{outcome=...}.
  ItipForwarder(store::Pool& pool, std::shared_ptr<grpc::Channel> channel, Options options,
                prometheus::Registry& registry);
  ~ItipForwarder();  // Stop()
  ItipForwarder(const ItipForwarder&) = delete;
  ItipForwarder& operator=(const ItipForwarder&) = delete;

  // Starts the thread (once).
  void Start();
  // Stops the thread: cancels a call in flight (its row is retried after the lease) and joins.
  void Stop();
  // Asks for a pass now (e.g. after a commit that recorded rows); cheap, never blocks.
  void Wake();
  // One pass in the calling thread (tests, or without Start): claims due rows and forwards
  // them. Returns the number of rows claimed.
  absl::StatusOr<int> RunOnce();

 private:
  // Sends one row; true when the row is finished (deleted).
  bool Forward(const ItipRow& row);
  void Loop();
  std::chrono::milliseconds Backoff(int attempts) const;

  store::Pool& pool_;
  std::unique_ptr<kite::scheduling::v1::Scheduling::Stub> stub_;
  Options options_;
  prometheus::Family<prometheus::Counter>& family_;
  prometheus::Counter& applied_;
  prometheus::Counter& duplicate_;
  prometheus::Counter& ignored_;
  prometheus::Counter& invalid_;
  prometheus::Counter& retried_;
  prometheus::Counter& expired_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool wake_ = false;
  grpc::ClientContext* in_flight_ = nullptr;  // guarded by mu_; cancelled by Stop()
  std::thread thread_;
};

}  // namespace kite::delivery

#endif  // KITE_SERVICES_DELIVERY_ITIP_OUTBOX_H_
