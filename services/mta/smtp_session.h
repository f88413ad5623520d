// kite-mta's inbound SMTP session (RFC 5321) on port 25.
//
// SECURITY: every byte comes from the internet. Command lines are bounded
// (smtp::kMaxCommandLength) and over-long lines are skipped without losing sync; DATA is
// bounded by mta.max_message_size and ends only at CRLF.CRLF (a bare CR or LF anywhere is
// refused with 550 5.6.11, closing the 2023 SMTP smuggling hole); recipients are checked at
// RCPT through kite-auth and only local ones are accepted (no relay: 554 5.7.1); protocol
// errors are counted and the session is dropped with 421 after mta.max_errors; client text
// is escaped before it is logged. Plaintext pipelined after STARTTLS is discarded.
// STANDARDS: RFC 5321, 3207 (STARTTLS), 1870 (SIZE), 6152 (8BITMIME), 6531 (SMTPUTF8),
// 2920 (PIPELINING), 2034/3463 (ENHANCEDSTATUSCODES).
// A 250 after DATA means the message is committed in the PostgreSQL spool.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "kite/directory/v1/directory.grpc.pb.h"
#include "lib/daemon/daemon.h"
#include "lib/net/connection.h"
#include "lib/queue/queue.h"
#include "lib/redis/client.h"
#include "lib/store/pool.h"

namespace kite::mta {

struct Limits {
  size_t max_message_size = 50 << 20;
  int max_recipients = 100;
  int max_errors = 10;
  std::chrono::milliseconds command_timeout{300000};
  std::chrono::milliseconds data_timeout{600000};
};

// Shared by all sessions of one daemon.
class Server {
 public:
  Server(daemon::Runtime& rt, store::Pool& pool, redis::Options redis_options,
         std::shared_ptr<kite::directory::v1::Directory::Stub> directory, Limits limits);
  boost::asio::awaitable<void> Session(std::shared_ptr<net::Connection> conn);

  daemon::Runtime& rt() { return rt_; }
  store::Pool& pool() { return pool_; }
  kite::directory::v1::Directory::Stub& directory() { return *directory_; }
  const Limits& limits() const { return limits_; }
  const std::string& hostname() const { return hostname_; }
  // Adds stream entries after a commit; a failure is only logged (the reconciler retries).
  void Enqueue(int64_t spool_id, const std::vector<queue::Recipient>& recipients);

  prometheus::Family<prometheus::Counter>& replies;
  prometheus::Counter& accepted;
  prometheus::Counter& accepted_bytes;
  prometheus::Histogram& commit_seconds;

 private:
  daemon::Runtime& rt_;
  store::Pool& pool_;
  redis::Options redis_options_;
  std::mutex redis_mu_;
  std::unique_ptr<redis::Client> redis_;
  std::shared_ptr<kite::directory::v1::Directory::Stub> directory_;
  Limits limits_;
  std::string hostname_;
};

}  // namespace kite::mta
