// The outbound relay of kite-mta: consumes kite:outbound (group "outbound") and delivers
// each remote recipient to its domain's mail exchangers over SMTP.
//
// Queue semantics (design.md): an entry is acknowledged only after the recipient's new state
// is committed. Before talking to anyone, the recipients of an entry are leased in
// PostgreSQL (next_attempt_at moved past the lease), so a duplicate entry (reconciler,
// XAUTOCLAIM) finds nothing due and is acknowledged without a second delivery. Recipients of
// one spool message for one domain go in one SMTP transaction. Temporary failures are
// deferred with next_attempt_at from the backoff schedule and enqueued_at cleared: the
// reconciler puts them back on the stream when they are due. After `lifetime` a deferral
// becomes a failure. Failures (and, once, delays after `delay_warning`) produce an RFC 3464
// report to the envelope sender, spooled with the null sender in the same transaction as the
// state change; never for the null sender, and only as RFC 3461 NOTIFY allows.
//
// SECURITY: every byte from remote servers is untrusted (replies bounded by
// smtp::ReplyParser, deadlines on every read and write); STARTTLS is used whenever offered
// (opportunistic, RFC 3207; certificates are verified only for the smarthost when
// smarthost_verify is set, and for MX hosts whose domain has an MTA-STS policy in enforce
// mode; MTA-STS policies are fetched over verified HTTPS with a bounded size);
// smarthost credentials are sent only over TLS and never logged.
// STANDARDS: RFC 5321 (client, 5.1 MX, 4.5.2 transparency), RFC 7505 (null MX), RFC 3207,
// RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8), RFC 3461/3464 (DSN), RFC 4954
// (AUTH PLAIN to the smarthost), RFC 8461 (MTA-STS), RFC 8460 (TLS-RPT data in tls_results).
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp needs it first

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <openssl/ssl.h>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "lib/dns/resolver.h"
#include "lib/redis/client.h"
#include "lib/store/pool.h"
#include "mta/relay/mta_sts.h"
#include "mta/relay/plan.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace kite::relay {

class SmtpClient;

struct Options {
  std::string hostname = "mail.example.test";  // EHLO name and Reporting-MTA
  std::string consumer = "relay";               // consumer name prefix in the group
  uint16_t port = 25;                           // destination port of MX hosts
  // host:port of a smarthost that gets all remote mail instead of the MX hosts ("": none).
  std::string smarthost;
  std::string smarthost_user;      // AUTH PLAIN when set (only over TLS)
  std::string smarthost_password;  // secret
  bool smarthost_verify = false;   // verify the smarthost's certificate for its name
  std::string tls_ca_file;         // trust anchors for verification ("" = system store)
  // MTA-STS (RFC 8461): look up, fetch (HTTPS on mta_sts_port, certificate verified against
  // tls_ca_file) and cache policies; in enforce mode deliver only to listed MX hosts over
  // TLS with a certificate valid for the MX name.
  bool mta_sts = true;
  uint16_t mta_sts_port = 443;
  int max_parallel = 20;           // SMTP transactions in flight per replica
  int per_domain = 4;              // of which to one destination domain
  std::chrono::milliseconds connect_timeout{30000};
  std::chrono::milliseconds command_timeout{300000};
  std::chrono::milliseconds data_timeout{600000};
  std::vector<std::chrono::seconds> backoff;  // see plan.h Backoff
  std::chrono::seconds lifetime{5 * 24 * 3600};
  std::chrono::seconds delay_warning{4 * 3600};  // 0: never
  std::chrono::milliseconds claim_idle{600000};  // XAUTOCLAIM after this
  std::chrono::milliseconds reconcile_interval{30000};
  std::chrono::seconds lease{3600};  // how long a recipient in flight is hidden from others
  // Keep a session open this long after a transaction for the next one to the same domain
  // (0: QUIT at once).
  std::chrono::milliseconds reuse_idle{2000};
};

class Relay {
 public:
  // `resolver` must be thread-safe (CaresResolver is). Nothing starts before Start().
  Relay(boost::asio::io_context& io, store::Pool& pool, redis::Options redis, std::shared_ptr<dns::Resolver> resolver,
        prometheus::Registry& registry, Options options);
  ~Relay();

  // Connects to Redis, creates the group and starts the reader and reconciler threads;
  // transactions run as coroutines on `io`.
  absl::Status Start();
  // Stops reading; waits (at most `grace`) for transactions in flight.
  void Stop(std::chrono::milliseconds grace);

  int in_flight() const { return in_flight_.load(); }

 private:
  struct Entry {
    std::string id;
    std::string recipient;
  };
  struct Group {
    int64_t spool_id = 0;
    std::string domain;
    std::vector<Entry> entries;
  };
  struct Work;
  // An established SMTP session (after EHLO, STARTTLS, AUTH).
  struct Session {
    std::shared_ptr<SmtpClient> client;
    Capabilities caps;
    std::string host, addr;
    bool verified = false;  // TLS with a verified certificate for host
    std::chrono::steady_clock::time_point idle_since;
  };

  void ReadLoop();
  void ReconcileLoop();
  boost::asio::awaitable<void> Transaction(Group group);
  boost::asio::awaitable<void> Attempt(Work& w);
  boost::asio::awaitable<bool> Send(Work& w, Session& s);
  // Parks a clean session for reuse, or ends it.
  boost::asio::awaitable<void> Release(Session s, bool clean, const std::string& domain);
  // The MTA-STS policy in force for `domain` (nullopt: none), from the cache or fetched.
  boost::asio::awaitable<std::optional<StsPolicy>> StsPolicyFor(const std::string& domain);
  boost::asio::awaitable<absl::StatusOr<std::string>> FetchStsPolicy(const std::string& domain);
  template <typename F>
  boost::asio::awaitable<std::invoke_result_t<F>> Blocking(F f);
  void Ack(const Group& group);

  boost::asio::io_context& io_;
  store::Pool& pool_;
  redis::Options redis_options_;
  std::shared_ptr<dns::Resolver> resolver_;
  Options options_;
  boost::asio::thread_pool blocking_{4};
  std::mutex ack_mu_;
  std::unique_ptr<redis::Client> ack_redis_;  // guarded by ack_mu_
  std::atomic<bool> stop_{false};
  std::atomic<int> in_flight_{0};
  std::map<std::string, int> domain_active_;  // io thread only
  std::multimap<std::string, Session> idle_;  // io thread only; by destination domain
  std::shared_ptr<SSL_CTX> tls_ctx_;     // opportunistic: no verification
  std::shared_ptr<SSL_CTX> verify_ctx_;  // verifies against tls_ca_file (MTA-STS, smarthost)
  std::vector<std::thread> threads_;

  prometheus::Family<prometheus::Counter>& outcomes_;
  prometheus::Family<prometheus::Counter>& connections_;
  prometheus::Family<prometheus::Counter>& tls_;
  prometheus::Family<prometheus::Counter>& reports_;
  prometheus::Counter& reconciled_;
  prometheus::Counter& claimed_;
};

}  // namespace kite::relay
