// kite-imap's IMAP4rev1 session (RFC 3501) — the walking-skeleton subset.
//
// SECURITY: every byte comes from the client. Commands are parsed by imap::Receiver with
// bounded lines, literals and nesting; a malformed command gets BAD and the session goes on.
// LOGIN is refused before TLS (LOGINDISABLED, [PRIVACYREQUIRED]); passwords go to kite-auth
// only. Every mailbox query names the owning account: the authenticated one, or a shared
// mailbox's account under "Shared/<address>/" — which the session opens only when kite-auth
// (Directory.SharedRights) says the user holds the read right, asked again before every
// command that reads or changes it, so a revoked grant takes effect on the next command. No
// right and no such shared mailbox give the same NO [NOPERM] (no existence leak). Read
// allows select, fetch and \Seen (RFC 4314 "lrs"); write allows the other flags.
// Plaintext pipelined after STARTTLS is dropped.
// STANDARDS: RFC 3501 (subset: CAPABILITY NOOP LOGOUT STARTTLS LOGIN SELECT EXAMINE LIST
// LSUB STATUS FETCH STORE UID-FETCH UID-STORE CHECK CLOSE), RFC 2342 (NAMESPACE: personal ""
// and shared "Shared/"), RFC 3691 (UNSELECT), RFC 4314 (NOPERM; rights, not the ACL
// commands), RFC 7888 (LITERAL+).
// STATUS: the rest of IMAP4rev1 and its extensions come with the IMAP issue; unimplemented
// commands answer "BAD ... not implemented".
#pragma once

#include <memory>
#include <string>

#include "kite/auth/v1/auth.grpc.pb.h"
#include "kite/directory/v1/directory.grpc.pb.h"
#include "lib/daemon/daemon.h"
#include "lib/net/connection.h"
#include "lib/store/pool.h"

namespace kite::imap {

struct Limits {
  std::chrono::milliseconds idle_timeout{30 * 60 * 1000};
  std::chrono::milliseconds login_timeout{60 * 1000};
  size_t max_literal = 50 << 20;
};

class Server {
 public:
  Server(daemon::Runtime& rt, store::Pool& pool, std::shared_ptr<kite::auth::v1::Auth::Stub> auth,
         std::shared_ptr<kite::directory::v1::Directory::Stub> directory, Limits limits);
  boost::asio::awaitable<void> Session(std::shared_ptr<net::Connection> conn);

  daemon::Runtime& rt() { return rt_; }
  store::Pool& pool() { return pool_; }
  kite::auth::v1::Auth::Stub& auth() { return *auth_; }
  kite::directory::v1::Directory::Stub& directory() { return *directory_; }
  const Limits& limits() const { return limits_; }
  prometheus::Family<prometheus::Counter>& commands;

 private:
  daemon::Runtime& rt_;
  store::Pool& pool_;
  std::shared_ptr<kite::auth::v1::Auth::Stub> auth_;
  std::shared_ptr<kite::directory::v1::Directory::Stub> directory_;
  Limits limits_;
};

}  // namespace kite::imap
