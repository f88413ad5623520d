// kite-pop3's session: download-and-delete access to the account's INBOX (RFC 1939).
//
// SECURITY: every byte comes from the client. Lines are split by pop3::LineReader (bounded;
// an over-long line is dropped up to its LF and answered -ERR) and parsed by ParseCommand
// (pop3_command.h); a malformed or unknown command gets -ERR and the session goes on, until
// pop3.max_errors errors (failed logins included) close it. Authentication only over TLS:
// before STLS, USER, PASS and AUTH are refused with "-ERR [AUTH]" and CAPA offers neither
// USER nor SASL. Credentials go to kite-auth only (through lib/sasl: CheckPassword, SaslStart/SaslStep, with
// its per-account and per-address throttling, answered "-ERR [SYS/TEMP]"); they are never
// logged. Plaintext pipelined behind STLS is dropped (CVE-2011-0411). Every mailbox query
// names the authenticated account. Client text reaches the logs only escaped and truncated.
// Timeouts: pop3.login_timeout before authentication, pop3.idle_timeout (RFC 1939: at least
// 10 minutes) after it.
// DELETION: DELE only marks; the marked messages are removed when QUIT is received in the
// TRANSACTION state (the UPDATE state). A connection that drops, times out or is shut down
// removes nothing. Removal goes through mailstore's expunge (idempotent, so another POP3 or
// IMAP session removing the same message at the same time is harmless), after which
// "<mailbox_id> expunge" is published on "kite:mbox:<account_id>" so IMAP sessions on every
// replica see it.
// CONCURRENCY: no maildrop lock (like Dovecot's default pop3_lock_session=no): each session
// works on the snapshot of INBOX taken at login; a message another session removed in the
// meantime answers "-ERR Message no longer exists".
// UIDL: "<uidvalidity>.<uid>" of the INBOX entry: stable across sessions and replicas.
// RETR sets \Seen (as Dovecot does); TOP does not.
// STANDARDS: RFC 1939 (USER PASS STAT LIST RETR DELE NOOP RSET QUIT TOP UIDL; APOP is
// refused), RFC 2449 (CAPA, RESP-CODES, PIPELINING), RFC 2595 (STLS), RFC 3206
// (AUTH-RESP-CODE, [AUTH], [SYS/TEMP]), RFC 5034 (AUTH with initial response, "*" cancels).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kite/auth/v1/auth.grpc.pb.h"
#include "lib/daemon/daemon.h"
#include "lib/net/connection.h"
#include "lib/redis/client.h"
#include "lib/mailstore/mailstore.h"

namespace kite::pop3 {

struct SessionLimits {
  std::chrono::milliseconds idle_timeout{10 * 60 * 1000};
  std::chrono::milliseconds login_timeout{60 * 1000};
  int max_errors = 10;
};

// The sessions' shared state. Owned by the daemon; destroy before the io_context.
class Server {
 public:
  Server(daemon::Runtime& rt, mailstore::MailStore& mail, std::shared_ptr<kite::auth::v1::Auth::Stub> auth,
         redis::Options redis, SessionLimits limits);
  ~Server();
  boost::asio::awaitable<void> Session(std::shared_ptr<net::Connection> conn);

 private:
  // PUBLISH "<mailbox_id> expunge" on kite:mbox:<account_id> (worker pool; one connection
  // behind a mutex, reopened when it failed). Best effort: IMAP sessions also notice at NOOP.
  void NotifyExpunge(int64_t account_id, int64_t mailbox_id);

  daemon::Runtime& rt_;
  mailstore::MailStore& mail_;
  std::shared_ptr<kite::auth::v1::Auth::Stub> auth_;
  redis::Options redis_options_;
  SessionLimits limits_;
  std::mutex redis_mu_;
  std::unique_ptr<redis::Client> redis_;
  prometheus::Family<prometheus::Counter>& commands_;
  prometheus::Family<prometheus::Counter>& logins_;
  prometheus::Family<prometheus::Counter>& sessions_;
  prometheus::Family<prometheus::Counter>& messages_;
};

}  // namespace kite::pop3
