// The SMTP server session (RFC 5321) shared by kite-mta (inbound, port 25) and
// kite-submission (587 STARTTLS, 465 implicit TLS, RFC 6409). A Server runs in one Mode:
// - kInbound: no AUTH; only local recipients (remote ones: 554 5.7.1 relay denied).
// - kSubmission: AUTH (RFC 4954) through kite-auth, offered and accepted only over TLS;
//   MAIL needs AUTH (530 5.7.0); MAIL FROM and every header From address must be one the
//   user may use (kite-directory CheckSender: 553 / 550 5.7.1); send-on-behalf adds a
//   Sender header (replacing the client's); remote recipients are accepted (queued for
//   kite:outbound). AUTH replies: 235 2.7.0 ok, 535 5.7.8 bad credentials, 454 4.7.0 when
//   kite-auth is unreachable and also when it reports THROTTLED (a lockout is temporary:
//   clients should retry later rather than ask the user for a new password), 501 5.7.0 on
//   "*", 501 5.5.2 on bad base64, 530 5.7.0 before STARTTLS. A message needs a From field
//   (550 5.6.0); the null reverse-path is allowed in MAIL FROM. Accepted messages are
//   DKIM-signed (RFC 6376, 8463) with the newest active key per algorithm of the hosted
//   domain of the first From address (dkim_keys.h), signatures on top of our Received;
//   no key or a signing failure leaves the message unsigned (logged), never refused.
//   Message-ID (<32 random hex digits@global.hostname>) and Date (UTC) are added when
//   missing (RFC 6409 8.2, 8.3), above the message and below any DKIM-Signature, so the
//   signature covers them. Per-user sending limits (submission.messages_per_hour: 450 4.7.1
//   at MAIL; submission.recipients_per_hour: 452 4.5.3 at RCPT), see policy.h.
// - kInbound extras, off by default (policy.h): greylisting (451 4.7.1 at RCPT) and DNS
//   blocklists (554 5.7.1 at RCPT naming the zone); mta.trusted_networks are exempt.
// - CHUNKING (RFC 3030): BDAT <size> [LAST] reads exactly <size> octets (no dot-unstuffing,
//   no end-of-data search), always, also when the chunk is refused, so a client cannot
//   desynchronise the session: 503 without MAIL and RCPT, 552 5.3.4 when the total would
//   pass max_message_size (the chunk is read and dropped, the transaction ends), DATA after
//   BDAT in one transaction 503, RSET drops the chunks, "BDAT 0 LAST" ends the message.
//   BINARYMIME is not offered, so the content must be text with CRLF lines: a bare CR or
//   LF anywhere (also across chunk borders) is refused at LAST with 550 5.6.11, as with
//   DATA, and nothing is rewritten (delivery, IMAP and a relay over DATA get CRLF only);
//   a message not ending in CRLF gets one (smtp/bdat_reader.h). 250 after BDAT LAST, like
//   after DATA, only once the spool row is committed.
//
// SECURITY: every byte comes from the internet. Command lines are bounded
// (smtp::kMaxCommandLength) and over-long lines are skipped without losing sync; DATA is
// bounded by <section>.max_message_size and ends only at CRLF.CRLF (a bare CR or LF anywhere is
// refused with 550 5.6.11, closing the 2023 SMTP smuggling hole); recipients are checked at
// RCPT through kite-auth and, unless the client authenticated on submission, only local ones
// are accepted (no relay: 554 5.7.1); AUTH exchanges are bounded (kMaxAuthCommandLength per
// line) and cancellable with "*"; header From parsing is bounded (smtp::ParseFromHeaders);
// protocol errors (failed AUTH included) are counted and the session is dropped with 421
// after <section>.max_errors; client text is escaped before it is logged. Plaintext pipelined after STARTTLS is discarded.
// STANDARDS: RFC 5321, 3207 (STARTTLS), 1870 (SIZE), 6152 (8BITMIME), 6531 (SMTPUTF8),
// 2920 (PIPELINING), 2034/3463 (ENHANCEDSTATUSCODES), 4954 (AUTH), 6409 (submission),
// 3848 (ESMTPSA in Received), 3030 (CHUNKING), 5782 (DNS blocklists).
// A 250 after DATA means the message is committed in the PostgreSQL spool.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "kite/auth/v1/auth.grpc.pb.h"
#include "kite/directory/v1/directory.grpc.pb.h"
#include "lib/daemon/daemon.h"
#include "lib/net/connection.h"
#include "lib/queue/queue.h"
#include "lib/redis/client.h"
#include "lib/store/pool.h"
#include "smtp_server/dkim_keys.h"
#include "smtp_server/policy.h"
#include "smtp_server/inbound_checks.h"

namespace kite::smtp_server {

enum class Mode { kInbound, kSubmission };

struct Limits {
  size_t max_message_size = 50 << 20;
  int max_recipients = 100;
  int max_errors = 10;
  std::chrono::milliseconds command_timeout{300000};
  std::chrono::milliseconds data_timeout{600000};
  std::chrono::milliseconds dkim_key_cache{180000};  // submission: DKIM keys kept in memory
};

// Shared by all sessions of one daemon.
class Server {
 public:
  // `auth` is required in Mode::kSubmission (unused inbound).
  Server(daemon::Runtime& rt, Mode mode, store::Pool& pool, redis::Options redis_options,
         std::shared_ptr<kite::directory::v1::Directory::Stub> directory,
         std::shared_ptr<kite::auth::v1::Auth::Stub> auth, Limits limits);
  boost::asio::awaitable<void> Session(std::shared_ptr<net::Connection> conn);

  daemon::Runtime& rt() { return rt_; }
  store::Pool& pool() { return pool_; }
  kite::directory::v1::Directory::Stub& directory() { return *directory_; }
  const Limits& limits() const { return limits_; }
  Mode mode() const { return mode_; }
  const std::string& hostname() const { return hostname_; }
  // Adds stream entries after a commit; a failure is only logged (the reconciler retries).
  void Enqueue(int64_t spool_id, const std::vector<queue::Recipient>& recipients);
  // kite-mta: SPF/DKIM/DMARC on every message (inbound_checks.h). Never set for submission.
  void SetInboundChecks(std::unique_ptr<InboundChecks> checks) { inbound_checks_ = std::move(checks); }

  prometheus::Family<prometheus::Counter>& replies;
  prometheus::Counter& accepted;
  prometheus::Counter& accepted_bytes;
  prometheus::Histogram& commit_seconds;
  prometheus::Family<prometheus::Counter>& auth_results;
  prometheus::Family<prometheus::Counter>& dkim_signed;

 private:
  // Blocking gRPC calls, run through rt_.Blocking.
  absl::Status CheckSender(int64_t account_id, const std::string& address,
                           kite::directory::v1::SenderCheckResponse* out);
  // The SASL mechanisms kite-auth offers on this connection, space separated ("" on error).
  std::string Mechanisms(const kite::auth::v1::ClientInfo& client);
  // Submission: the DKIM-Signature fields (CRLF-terminated, newest key per algorithm of
  // the hosted domain `from_domain`) to put on top of `message`; "" when the domain has no
  // active key or on any failure (logged: the message is then delivered unsigned). Blocking
  // (the key lookup may reach PostgreSQL).
  std::string DkimSignatures(const std::string& message, const std::string& from_domain, const std::string& sid);

  daemon::Runtime& rt_;
  store::Pool& pool_;
  redis::Options redis_options_;
  std::mutex redis_mu_;
  std::unique_ptr<redis::Client> redis_;
  std::shared_ptr<kite::directory::v1::Directory::Stub> directory_;
  std::shared_ptr<kite::auth::v1::Auth::Stub> auth_;
  Mode mode_;
  Limits limits_;
  std::string hostname_;
  DkimKeys dkim_keys_;
  std::unique_ptr<Policies> policies_;  // rate limit, greylisting, DNS blocklists (policy.h)
  std::unique_ptr<InboundChecks> inbound_checks_;
};

}  // namespace kite::smtp_server
