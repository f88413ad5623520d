// kite-imap's IMAP4rev1 session (RFC 3501) and its extensions.
//
// SECURITY: every byte comes from the client. Commands are parsed by imap::Receiver with
// bounded lines, literals and nesting; a malformed command gets BAD with a reason and the
// session goes on (after kMaxBadCommands in a row it is closed). LOGIN and AUTHENTICATE are
// refused before TLS (LOGINDISABLED, [PRIVACYREQUIRED]); credentials go to kite-auth only (the
// SASL exchange in lib/sasl) and are never logged. Every mailbox query names the owning account: the authenticated one, or
// a shared mailbox's account under "Shared/<address>/" — which the session opens only when
// kite-auth (Directory.SharedRights) says the user holds the read right, asked again before
// every command that reads or changes it, so a revoked grant takes effect on the next
// command. No right and no such shared mailbox give the same NO [NOPERM] (no existence
// leak). Read allows select, fetch, search and \Seen (RFC 4314 "lrs"); write adds the other
// flags, APPEND, COPY/MOVE into it and EXPUNGE ("lrswite"). Plaintext pipelined after
// STARTTLS is dropped.
//
// STANDARDS: RFC 3501 (IMAP4rev1), 2177 (IDLE), 2342 (NAMESPACE), 2971 (ID), 3691 (UNSELECT),
// 4314 (ACL: GETACL MYRIGHTS LISTRIGHTS; rights are granted in kite-auth, so SETACL and
// DELETEACL answer NO), 4315 (UIDPLUS), 4731 (ESEARCH), 4959 (SASL-IR), 4978
// (COMPRESS=DEFLATE), 5161 (ENABLE), 5182 (SEARCHRES), 5256 (SORT, THREAD), 5258 and 5819
// (LIST-EXTENDED, LIST-STATUS), 6154 (SPECIAL-USE, CREATE-SPECIAL-USE), 6851 (MOVE), 7162
// (CONDSTORE, QRESYNC), 7888 (LITERAL+), 9208 (QUOTA, STATUS=SIZE), 3348 (CHILDREN).
//
// CLUSTER: changes made anywhere (kite-delivery, kite-pop3, another kite-imap replica) are
// published on Redis "kite:mbox:<account>"; a session learns of them from its Watch and reads
// the MODSEQ change log (mailstore::ChangesSince), so IDLE and NOOP on any replica see them.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "kite/auth/v1/auth.grpc.pb.h"
#include "kite/directory/v1/directory.grpc.pb.h"
#include "lib/daemon/daemon.h"
#include "lib/net/connection.h"
#include "imap/snapshots.h"
#include "lib/mailstore/mailstore.h"

namespace kite::imap {

class Notifier;

struct Limits {
  std::chrono::milliseconds idle_timeout{30 * 60 * 1000};
  std::chrono::milliseconds login_timeout{60 * 1000};
  size_t max_literal = 50 << 20;
  int max_bad_commands = 20;  // in a row, then BYE
  size_t snapshot_entries = 200000;  // SnapshotCache budget (imap.snapshot_cache_entries)
};

class Server {
 public:
  Server(daemon::Runtime& rt, mailstore::MailStore& mail, std::shared_ptr<kite::auth::v1::Auth::Stub> auth,
         std::shared_ptr<kite::directory::v1::Directory::Stub> directory, Notifier* notifier, Limits limits);
  boost::asio::awaitable<void> Session(std::shared_ptr<net::Connection> conn);

  daemon::Runtime& rt() { return rt_; }
  mailstore::MailStore& mail() { return mail_; }
  kite::auth::v1::Auth::Stub& auth() { return *auth_; }
  kite::directory::v1::Directory::Stub& directory() { return *directory_; }
  Notifier* notifier() { return notifier_; }
  SnapshotCache& snapshots() { return snapshots_; }
  const Limits& limits() const { return limits_; }
  // Tells every replica that a mailbox changed. Call from a blocking worker (rt.Blocking).
  void Publish(int64_t account_id, int64_t mailbox_id);

  prometheus::Family<prometheus::Counter>& commands;
  prometheus::Gauge& sessions;
  prometheus::Gauge& idling;

 private:
  daemon::Runtime& rt_;
  mailstore::MailStore& mail_;
  std::shared_ptr<kite::auth::v1::Auth::Stub> auth_;
  std::shared_ptr<kite::directory::v1::Directory::Stub> directory_;
  Notifier* notifier_;
  Limits limits_;
  SnapshotCache snapshots_;
};

}  // namespace kite::imap
