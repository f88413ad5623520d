// The command table and the dispatcher (as Dovecot's imap-commands.c): every command kite-imap
// knows, the states it is allowed in, whether it has a UID form, how it treats sequence
// numbers (RFC 3501 7.4.1: no EXPUNGE while a command that names messages by number runs),
// and whether the selected mailbox's pending changes are read before and after it. Handlers
// live by area: session.cc (any state, authentication, IDLE), mailbox_commands.cc,
// message_commands.cc, search_commands.cc; the few one-line commands are here.
#include <algorithm>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "imap/notifier.h"
#include "imap/session.h"
#include "lib/imap/mailbox_name.h"
#include "lib/imap/quote.h"
#include "lib/log/log.h"

namespace kite::imap {
const Session::CommandSpec* Session::FindCommand(std::string_view name) {
  using S = Session;
  constexpr uint8_t kAny = kNotAuthenticated | kAuthenticated | kSelected;
  constexpr uint8_t kLoggedIn = kAuthenticated | kSelected;
  // name, handler, states, uid form, by number, sends expunge, sync before, sync after, recheck shared
  static const CommandSpec kTable[] = {
      {"CAPABILITY", &S::CmdCapability, kAny},
      {"NOOP", &S::CmdNoop, kAny, false, false, false, false, false, true},
      {"LOGOUT", &S::CmdLogout, kAny},
      {"ID", &S::CmdId, kAny},
      {"STARTTLS", &S::CmdStartTls, kAny},  // its own replies: "TLS already active" first
      {"LOGIN", &S::CmdLogin, kNotAuthenticated},
      {"AUTHENTICATE", &S::CmdAuthenticate, kNotAuthenticated},
      {"ENABLE", &S::CmdEnable, kLoggedIn},
      {"NAMESPACE", &S::CmdNamespace, kLoggedIn},
      {"IDLE", &S::CmdIdle, kLoggedIn, false, false, false, false, false, true},
      {"COMPRESS", &S::CmdCompress, kLoggedIn},
      {"SELECT", &S::CmdSelect, kLoggedIn},
      {"EXAMINE", &S::CmdSelect, kLoggedIn},
      {"CREATE", &S::CmdCreate, kLoggedIn},
      {"DELETE", &S::CmdDelete, kLoggedIn},
      {"RENAME", &S::CmdRename, kLoggedIn},
      {"SUBSCRIBE", &S::CmdSubscribe, kLoggedIn},
      {"UNSUBSCRIBE", &S::CmdSubscribe, kLoggedIn},
      {"LIST", &S::CmdList, kLoggedIn},
      {"LSUB", &S::CmdList, kLoggedIn},
      {"STATUS", &S::CmdStatus, kLoggedIn},
      {"APPEND", &S::CmdAppend, kLoggedIn, false, false, false, false, true},
      {"GETQUOTA", &S::CmdQuota, kLoggedIn},
      {"GETQUOTAROOT", &S::CmdQuota, kLoggedIn},
      {"SETQUOTA", &S::CmdQuota, kLoggedIn},
      {"GETACL", &S::CmdAcl, kLoggedIn},
      {"SETACL", &S::CmdAcl, kLoggedIn},
      {"DELETEACL", &S::CmdAcl, kLoggedIn},
      {"LISTRIGHTS", &S::CmdAcl, kLoggedIn},
      {"MYRIGHTS", &S::CmdAcl, kLoggedIn},
      {"GETMETADATA", &S::CmdGetMetadata, kLoggedIn},
      {"SETMETADATA", &S::CmdSetMetadata, kLoggedIn},
      {"CHECK", &S::CmdNoop, kSelected, false, false, false, false, false, true},
      {"CLOSE", &S::CmdClose, kSelected, false, false, false, false, false, true},
      {"UNSELECT", &S::CmdClose, kSelected, false, false, false, false, false, true},
      {"EXPUNGE", &S::CmdExpunge, kSelected, true, false, true, true, false, true},
      {"FETCH", &S::CmdFetch, kSelected, true, true, false, true, false, true},
      {"STORE", &S::CmdStore, kSelected, true, true, false, true, false, true},
      {"SEARCH", &S::CmdSearch, kSelected, true, true, false, true, false, true},
      {"SORT", &S::CmdSearch, kSelected, true, true, false, true, false, true},
      {"THREAD", &S::CmdSearch, kSelected, true, true, false, true, false, true},
      {"COPY", &S::CmdCopy, kSelected, true, true, false, true, true, true},
      {"MOVE", &S::CmdCopy, kSelected, true, true, true, true, true, true},
  };
  auto it = std::find_if(std::begin(kTable), std::end(kTable), [&](const CommandSpec& c) { return c.name == name; });
  return it == std::end(kTable) ? nullptr : &*it;
}

boost::asio::awaitable<void> Session::Dispatch(const Command& cmd) {
  const std::string& n = cmd.name;
  const CommandSpec* spec = FindCommand(n);
  if (spec == nullptr) {
    result_ = cmd.uid ? absl::StrCat("BAD UID ", Printable(n), " is not a command")
                      : absl::StrCat("BAD Unknown command ", Printable(n));
    co_return;
  }
  if (!(spec->states & kNotAuthenticated) && account_id_ == 0) {
    result_ = "BAD Not authenticated";
    co_return;
  }
  if (!(spec->states & (kAuthenticated | kSelected)) && account_id_ != 0) {
    result_ = "BAD Already authenticated";
    co_return;
  }
  if (!(spec->states & kAuthenticated) && (spec->states & kSelected) && !sel_) {
    result_ = "BAD No mailbox selected";
    co_return;
  }
  if (cmd.uid && !spec->uid_form) {
    result_ = absl::StrCat("BAD UID ", n, " is not a command");
    co_return;
  }
  // A shared mailbox stays readable only while the grant does: asked before each command
  // that reads it.
  if (sel_ && !sel_->shared.empty() && spec->recheck_shared) {
    std::string denied = co_await RecheckShared(n);
    if (!denied.empty()) {
      // NOOP and CHECK still succeed; they just learn nothing.
      result_ = spec->handler == &Session::CmdNoop ? absl::StrCat("OK ", n, " completed") : denied;
      co_return;
    }
  }
  // Other sessions' and replicas' changes come first (RFC 3501 7), so a FETCH FLAGS after
  // another member's STORE answers what the store holds now. Expunges wait while the command
  // names messages by number (RFC 3501 7.4.1; MOVE too, RFC 6851 4.3: the client's numbers
  // must still mean what it thinks).
  if (sel_ && spec->sync_before && (!watch_ || watch_->pending())) {
    if (!co_await SyncSelected(cmd.uid || !spec->by_number)) {
      result_ = kUnavailable;
      co_return;
    }
    if (logout_) {
      result_ = "NO [NONEXISTENT] The selected mailbox was deleted";
      co_return;
    }
  }
  co_await (this->*spec->handler)(cmd);
  // After APPEND, COPY or MOVE into the selected mailbox: its new messages (EXISTS), and for
  // MOVE the expunges it caused.
  if (sel_ && spec->sync_after && !result_.empty() && !answered_) {
    co_await SyncSelected(cmd.uid || !spec->by_number || spec->sends_expunge);
  }
}

boost::asio::awaitable<void> Session::CmdCapability([[maybe_unused]] const Command& cmd) {
  absl::StrAppend(&out_, "* CAPABILITY ", Capability(), "\r\n");
  result_ = "OK CAPABILITY completed";
  co_return;
}

// NOOP and CHECK: the selected mailbox's changes, nothing else.
boost::asio::awaitable<void> Session::CmdNoop(const Command& cmd) {
  if (sel_) {
    const bool synced = co_await SyncSelected(true);
    if (!synced) {
      result_ = kUnavailable;
      co_return;
    }
  }
  result_ = absl::StrCat("OK ", cmd.name, " completed");
}

boost::asio::awaitable<void> Session::CmdLogout([[maybe_unused]] const Command& cmd) {
  absl::StrAppend(&out_, "* BYE Kite IMAP logging out\r\n");
  result_ = "OK LOGOUT completed";
  logout_ = true;
  co_return;
}

boost::asio::awaitable<void> Session::CmdStartTls(const Command& cmd) {
  if (conn_->is_tls() || !conn_->tls_available()) {
    result_ = "BAD TLS already active";
    co_return;
  }
  if (account_id_ != 0) {
    result_ = "BAD Already authenticated";
    co_return;
  }
  wbuf_ = absl::StrCat(cmd.tag, " OK Begin TLS negotiation now\r\n");
  if (!co_await WriteBuffer()) co_return;
  if (auto s = co_await conn_->StartTls(std::chrono::seconds(30)); !s.ok()) co_return;
  receiver_ = std::make_unique<Receiver>(rlimits_);  // RFC 3501 6.2.1: forget plaintext
  answered_ = true;
}

boost::asio::awaitable<void> Session::CmdNamespace([[maybe_unused]] const Command& cmd) {
  absl::StrAppend(&out_, "* NAMESPACE ((\"\" \"/\")) NIL ((", QuoteString(kSharedPrefix), " \"/\"))\r\n");
  result_ = "OK NAMESPACE completed";
  co_return;
}

// COMPRESS=DEFLATE (RFC 4978): the tagged OK goes out uncompressed, everything after it
// compressed.
boost::asio::awaitable<void> Session::CmdCompress(const Command& cmd) {
  if (cmd.args.size() != 1 || !absl::EqualsIgnoreCase(cmd.args[0].value, "DEFLATE")) {
    result_ = "BAD Syntax: COMPRESS DEFLATE";
    co_return;
  }
  if (compressed_) {
    result_ = "NO [COMPRESSIONACTIVE] DEFLATE is already active";
    co_return;
  }
  if (receiver_->buffered() > 0) {
    result_ = "BAD Nothing may follow COMPRESS before its response";
    co_return;
  }
  wbuf_ = absl::StrCat(cmd.tag, " OK DEFLATE active\r\n");
  if (!co_await WriteBuffer()) co_return;
  if (auto st = conn_->StartCompression(); !st.ok()) {
    log::Warn("imap.compress_failed").Kv("error", st.message());
    co_return;
  }
  compressed_ = true;
  answered_ = true;
}

}  // namespace kite::imap
