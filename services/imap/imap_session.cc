#include "imap/imap_session.h"

#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/base/strings.h"
#include "lib/imap/fetch_items.h"
#include "lib/imap/mailbox_name.h"
#include "lib/imap/quote.h"
#include "lib/imap/receiver.h"
#include "lib/imap/sequence_set.h"
#include "lib/log/log.h"
#include "lib/mailstore/mailstore.h"
#include "lib/rpc/rpc.h"

namespace kite::imap {
namespace {

namespace av1 = kite::auth::v1;
namespace dv1 = kite::directory::v1;

constexpr const char* kNoPerm = "NO [NOPERM] You have no access to this mailbox";
constexpr const char* kUnavailable = "NO [UNAVAILABLE] Temporary failure";

// RFC 3501 system flags compare case-insensitively; keep one spelling in the store.
std::string CanonicalFlag(const std::string& flag) {
  for (const char* f : {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent"}) {
    if (absl::EqualsIgnoreCase(flag, f)) return f;
  }
  return flag;
}

bool HasFlag(const std::vector<std::string>& flags, std::string_view flag) {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

std::string InternalDate(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%d-%b-%Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string Literal(std::string_view bytes) { return absl::StrCat("{", bytes.size(), "}\r\n", AV(bytes)); }

// The header block (with its terminating empty line) and the text of a message.
std::pair<std::string_view, std::string_view> SplitHeader(std::string_view msg) {
  size_t end = msg.find("\r\n\r\n");
  if (end == std::string_view::npos) return {msg, {}};
  return {msg.substr(0, end + 4), msg.substr(end + 4)};
}

// HEADER.FIELDS / HEADER.FIELDS.NOT: the header lines (with continuation lines) whose name
// is (not) in `fields`, then the empty line.
std::string FilterHeader(std::string_view header, const std::vector<std::string>& fields, bool negate) {
  std::string out;
  bool keep = false;
  size_t pos = 0;
  while (pos < header.size()) {
    size_t eol = header.find("\r\n", pos);
    std::string_view line = header.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol + 2 - pos);
    pos = eol == std::string_view::npos ? header.size() : eol + 2;
    if (line == "\r\n") break;
    if (line[0] != ' ' && line[0] != '\t') {
      std::string_view name = line.substr(0, line.find(':'));
      bool listed = false;
      for (const auto& f : fields) listed = listed || absl::EqualsIgnoreCase(AV(f), AV(name));
      keep = listed != negate;
    }
    if (keep) out.append(line);
  }
  out += "\r\n";
  return out;
}

bool IsAuthenticatedCommand(const std::string& n) {
  return n == "SELECT" || n == "EXAMINE" || n == "LIST" || n == "LSUB" || n == "CREATE" || n == "DELETE" ||
         n == "RENAME" || n == "SUBSCRIBE" || n == "UNSUBSCRIBE" || n == "STATUS" || n == "APPEND" ||
         n == "NAMESPACE";
}
bool IsSelectedCommand(const std::string& n) {
  return n == "FETCH" || n == "CHECK" || n == "CLOSE" || n == "UNSELECT" || n == "EXPUNGE" || n == "SEARCH" ||
         n == "STORE" || n == "COPY" || n == "MOVE";
}

// Commands that read or change the selected mailbox: on a shared one, the right is asked
// of kite-auth again first.
bool ReadsSelected(const std::string& n) {
  return n == "FETCH" || n == "STORE" || n == "SEARCH" || n == "COPY" || n == "MOVE" || n == "EXPUNGE" ||
         n == "NOOP" || n == "CHECK";
}

// What the user may do on a shared mailbox, as kite-auth says now.
struct SharedAccess {
  bool answered = false;  // false: kite-auth unavailable
  int64_t owner = 0;
  bool read = false;
  bool write = false;
};

// A mailbox name resolved to its owning account (SELECT, EXAMINE, STATUS).
struct Target {
  std::string error;  // the tagged NO when it cannot be opened
  int64_t owner = 0;
  std::string shared;  // the shared mailbox's address; "" for the user's own
  bool may_write = true;
  mailstore::MailboxInfo info;
};

}  // namespace

Server::Server(daemon::Runtime& rt, store::Pool& pool, std::shared_ptr<av1::Auth::Stub> auth,
               std::shared_ptr<dv1::Directory::Stub> directory, Limits limits)
    : commands(rt.metrics().Counter("kite_imap_commands_total", "IMAP commands by name and result")),
      rt_(rt),
      pool_(pool),
      auth_(std::move(auth)),
      directory_(std::move(directory)),
      limits_(limits) {}

boost::asio::awaitable<void> Server::Session(std::shared_ptr<net::Connection> conn) {
  Receiver::Limits rlimits;
  rlimits.max_literal = limits_.max_literal;
  auto receiver = std::make_unique<Receiver>(rlimits);
  int64_t account_id = 0;
  std::string account;
  std::optional<mailstore::MailboxInfo> selected;
  bool read_only = false;
  // The selected mailbox's owner: account_id, or a shared mailbox's account. For a shared
  // one, its address (the right is asked again before each command) and whether the user
  // may change flags other than \Seen.
  int64_t owner_id = 0;
  std::string shared_address;
  bool may_write = true;
  std::vector<mailstore::Entry> entries;
  const std::string client = conn->peer_address();

  // GCC 12 destroys some temporaries of a co_await expression twice: output is built into
  // `wbuf` by a plain statement first, and only named objects are awaited on.
  std::string wbuf;
  auto write = [&](std::string_view s) -> boost::asio::awaitable<bool> {
    auto st = co_await conn->Write(s, std::chrono::seconds(60));
    co_return st.ok();
  };
  auto capability = [&]() {
    std::string caps = "IMAP4rev1 LITERAL+ UNSELECT NAMESPACE";
    if (!conn->is_tls()) absl::StrAppend(&caps, " STARTTLS LOGINDISABLED");
    return caps;
  };

  // Only named objects are passed in: the callers keep `address` alive across the await.
  auto shared_access = [&](const std::string& address) -> boost::asio::awaitable<SharedAccess> {
    dv1::SharedRightsRequest req;
    req.set_account_id(account_id);
    req.set_shared_address(address);
    auto resp = co_await rt_.Blocking([this, &req]() -> absl::StatusOr<dv1::SharedRightsResponse> {
      dv1::SharedRightsResponse r;
      auto ctx = rpc::ContextWithDeadline(std::chrono::seconds(10));
      grpc::Status st = directory_->SharedRights(ctx.get(), req, &r);
      if (!st.ok()) return rpc::FromGrpc(st);
      return r;
    });
    SharedAccess a;
    if (!resp.ok()) {
      log::Warn("imap.directory_unavailable").Kv("error", resp.status().message());
      co_return a;
    }
    a.answered = true;
    // Only the canonical name opens it ("team+x@" would be a second name for one mailbox).
    if (resp->owner_address() != address) co_return a;
    a.owner = resp->owner_account_id();
    for (int r : resp->rights()) {
      a.read = a.read || r == dv1::MAILBOX_RIGHT_READ;
      a.write = a.write || r == dv1::MAILBOX_RIGHT_WRITE;
    }
    co_return a;
  };
  // SELECT / EXAMINE / STATUS: the user's own mailbox, or "Shared/<address>/<name>" when
  // kite-auth grants the read right. No right and no such address answer alike.
  auto open_target = [&](const std::string& raw) -> boost::asio::awaitable<Target> {
    Target t;
    t.owner = account_id;
    std::string name = NormalizeInbox(raw);
    if (auto sn = ParseSharedName(name)) {
      SharedAccess a = co_await shared_access(sn->address);
      if (!a.answered) {
        t.error = kUnavailable;
        co_return t;
      }
      if (!a.read || a.owner == 0) {
        log::Info("imap.noperm").Kv("account", account).Kv("mailbox", raw);
        t.error = kNoPerm;
        co_return t;
      }
      if (sn->mailbox.empty()) {
        t.error = "NO [CANNOT] Not a selectable mailbox";
        co_return t;
      }
      t.owner = a.owner;
      t.shared = sn->address;
      t.may_write = a.write;
      name = sn->mailbox;
    } else if (name == kSharedRoot || absl::StartsWith(name, AV(kSharedPrefix))) {
      t.error = "NO [CANNOT] Not a selectable mailbox";
      co_return t;
    }
    auto mb = co_await rt_.Blocking([&] { return mailstore::GetMailbox(pool_, t.owner, name); });
    if (!mb.ok()) {
      t.error = kUnavailable;
    } else if (!*mb) {
      t.error = "NO [NONEXISTENT] No such mailbox";
    } else {
      t.info = **mb;
    }
    co_return t;
  };

  wbuf = absl::StrCat("* OK [CAPABILITY ", capability(), "] Kite IMAP ready\r\n");
  if (!co_await write(wbuf)) co_return;

  while (!rt_.stopping()) {
    Receiver::Event ev = receiver->Next();
    if (ev.kind == Receiver::Event::kNeedMore) {
      auto data = co_await conn->ReadSome(64 * 1024, account_id ? limits_.idle_timeout : limits_.login_timeout);
      if (!data.ok()) {
        if (data.status().code() == absl::StatusCode::kDeadlineExceeded) {
          wbuf = "* BYE Autologout; idle for too long\r\n";
          co_await write(wbuf);
        }
        co_return;
      }
      receiver->Feed(*data);
      continue;
    }
    if (ev.kind == Receiver::Event::kContinuationNeeded) {
      wbuf = "+ Ready for literal data\r\n";
      if (!co_await write(wbuf)) co_return;
      continue;
    }
    if (ev.kind == Receiver::Event::kError || ev.kind == Receiver::Event::kLine) {
      commands.Add({{"command", "invalid"}, {"result", "BAD"}}).Increment();
      wbuf = absl::StrCat(ev.tag.empty() ? "*" : ev.tag, " BAD ", ev.error, "\r\n");
      if (!co_await write(wbuf)) co_return;
      if (ev.fatal) co_return;
      continue;
    }
    const Command& cmd = ev.command;
    const std::string& tag = cmd.tag;
    std::string out;
    std::string result;  // "OK ...", "NO ...", "BAD ..."
    auto arg = [&](size_t i) -> const Token* { return i < cmd.args.size() ? &cmd.args[i] : nullptr; };

    // A shared mailbox stays readable only while the grant does: asked before each command.
    std::string denied;
    if (account_id != 0 && selected && !shared_address.empty() && ReadsSelected(cmd.name)) {
      SharedAccess a = co_await shared_access(shared_address);
      if (!a.answered) {
        denied = kUnavailable;
      } else if (!a.read || a.owner != owner_id) {
        log::Info("imap.noperm").Kv("account", account).Kv("shared", shared_address).Kv("command", cmd.name);
        denied = kNoPerm;
      } else {
        may_write = a.write;
      }
    }

    if ((IsAuthenticatedCommand(cmd.name) || IsSelectedCommand(cmd.name)) && account_id == 0) {
      result = "BAD Not authenticated";
    } else if (IsSelectedCommand(cmd.name) && !selected) {
      result = "BAD No mailbox selected";
    } else if (!denied.empty() && cmd.name != "NOOP" && cmd.name != "CHECK") {
      result = denied;
    } else if (cmd.name == "CAPABILITY") {
      out = absl::StrCat("* CAPABILITY ", capability(), "\r\n");
      result = "OK CAPABILITY completed";
    } else if (cmd.name == "NOOP" || cmd.name == "CHECK") {
      // NOOP always succeeds; a revoked grant only stops the updates (`denied`).
      if (selected && denied.empty()) {
        auto fresh = co_await rt_.Blocking(
            [&] { return mailstore::ListEntries(pool_, owner_id, selected->id); });
        if (fresh.ok()) {
          // Appends and flag changes (another session, another member of a shared mailbox);
          // expunges arrive with the full bookkeeping of the IMAP issue.
          size_t j = 0;
          for (size_t i = 0; i < entries.size(); ++i) {
            while (j < fresh->size() && (*fresh)[j].uid < entries[i].uid) ++j;
            if (j < fresh->size() && (*fresh)[j].uid == entries[i].uid && (*fresh)[j].flags != entries[i].flags) {
              entries[i].flags = (*fresh)[j].flags;
              absl::StrAppend(&out, "* ", i + 1, " FETCH (FLAGS ", FormatFlags(entries[i].flags), ")\r\n");
            }
          }
          size_t before = entries.size();
          for (const auto& e : *fresh) {
            if (before == 0 || e.uid > entries[before - 1].uid) entries.push_back(e);
          }
          if (entries.size() > before) absl::StrAppend(&out, "* ", entries.size(), " EXISTS\r\n");
        }
      }
      result = absl::StrCat("OK ", cmd.name, " completed");
    } else if (cmd.name == "NAMESPACE") {
      // RFC 2342: personal, other users' (none), shared.
      out = absl::StrCat("* NAMESPACE ((\"\" \"/\")) NIL ((", QuoteString(kSharedPrefix), " \"/\"))\r\n");
      result = "OK NAMESPACE completed";
    } else if (cmd.name == "LOGOUT") {
      wbuf = absl::StrCat("* BYE Kite IMAP logging out\r\n", tag, " OK LOGOUT completed\r\n");
      co_await write(wbuf);
      co_return;
    } else if (cmd.name == "STARTTLS") {
      if (conn->is_tls() || !conn->tls_available()) {
        result = "BAD TLS already active";
      } else {
        wbuf = absl::StrCat(tag, " OK Begin TLS negotiation now\r\n");
        if (!co_await write(wbuf)) co_return;
        if (auto s = co_await conn->StartTls(std::chrono::seconds(30)); !s.ok()) co_return;
        receiver = std::make_unique<Receiver>(rlimits);  // RFC 3501 6.2.1: forget plaintext
        continue;
      }
    } else if (cmd.name == "LOGIN") {
      if (account_id != 0) {
        result = "BAD Already authenticated";
      } else if (!arg(0) || !arg(1) || !arg(0)->IsString() || !arg(1)->IsString() || cmd.args.size() != 2) {
        result = "BAD Syntax: LOGIN username password";
      } else if (!conn->is_tls()) {
        result = "NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS";
      } else {
        av1::PasswordRequest req;
        req.set_username(arg(0)->value);
        req.set_password(arg(1)->value);
        req.mutable_client()->set_service("imap");
        req.mutable_client()->set_remote_address(client);
        req.mutable_client()->set_tls(conn->is_tls());
        auto resp = co_await rt_.Blocking([this, &req]() -> absl::StatusOr<av1::AuthResponse> {
          av1::AuthResponse r;
          auto ctx = rpc::ContextWithDeadline(std::chrono::seconds(10));
          grpc::Status st = auth_->CheckPassword(ctx.get(), req, &r);
          if (!st.ok()) return rpc::FromGrpc(st);
          return r;
        });
        if (!resp.ok()) {
          log::Warn("imap.auth_unavailable").Kv("error", resp.status().message());
          result = "NO [UNAVAILABLE] Authentication service unavailable, try again later";
        } else if (resp->result() == av1::AUTH_RESULT_OK) {
          account_id = resp->identity().account_id();
          account = resp->identity().address();
          result = absl::StrCat("OK [CAPABILITY ", capability(), "] LOGIN completed");
        } else if (resp->result() == av1::AUTH_RESULT_THROTTLED) {
          result = "NO [UNAVAILABLE] Too many failed attempts, try again later";
        } else if (resp->result() == av1::AUTH_RESULT_ENCRYPTION_REQUIRED) {
          result = "NO [PRIVACYREQUIRED] Encryption required";
        } else {
          result = "NO [AUTHENTICATIONFAILED] Authentication failed";
        }
      }
    } else if (cmd.name == "SELECT" || cmd.name == "EXAMINE") {
      selected.reset();
      entries.clear();
      shared_address.clear();
      if (!arg(0) || !arg(0)->IsString()) {
        result = absl::StrCat("BAD Syntax: ", cmd.name, " mailbox");
      } else {
        const std::string& raw = arg(0)->value;
        Target target = co_await open_target(raw);
        if (!target.error.empty()) {
          result = target.error;
        } else {
          auto list =
              co_await rt_.Blocking([&] { return mailstore::ListEntries(pool_, target.owner, target.info.id); });
          if (!list.ok()) {
            result = kUnavailable;
          } else {
            selected = target.info;
            owner_id = target.owner;
            shared_address = target.shared;
            may_write = target.may_write;
            entries = std::move(*list);
            read_only = cmd.name == "EXAMINE";
            // The read right alone still changes \Seen (RFC 4314 "s"): READ-WRITE, \Seen only.
            const char* permanent = read_only  ? ""
                                    : may_write ? "\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*"
                                                : "\\Seen";
            out = absl::StrCat("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
                               "* OK [PERMANENTFLAGS (", permanent,
                               ")] Flags permitted\r\n", "* ", entries.size(), " EXISTS\r\n* 0 RECENT\r\n",
                               "* OK [UIDVALIDITY ", selected->uidvalidity, "] UIDs valid\r\n", "* OK [UIDNEXT ",
                               selected->uidnext, "] Predicted next UID\r\n");
            result = absl::StrCat("OK [", read_only ? "READ-ONLY" : "READ-WRITE", "] ", cmd.name, " completed");
          }
        }
      }
    } else if (cmd.name == "LIST" || cmd.name == "LSUB") {
      // Subscriptions are not kept yet: LSUB answers like LIST.
      if (cmd.args.size() != 2 || !arg(0)->IsString() || !arg(1)->IsString()) {
        result = absl::StrCat("BAD Syntax: ", cmd.name, " reference pattern");
      } else if (arg(1)->value.empty()) {
        out = absl::StrCat("* ", cmd.name, " (\\Noselect) \"/\" \"\"\r\n");
        result = absl::StrCat("OK ", cmd.name, " completed");
      } else if (arg(0)->value.size() + arg(1)->value.size() > kMaxPatternLength) {
        result = absl::StrCat("BAD ", cmd.name, " pattern too long");
      } else {
        const std::string pattern = ListPattern(arg(0)->value, arg(1)->value);
        auto boxes = co_await rt_.Blocking([&] { return mailstore::ListMailboxes(pool_, account_id); });
        dv1::ListSharedMailboxesRequest sreq;
        sreq.set_account_id(account_id);
        auto shared = co_await rt_.Blocking([this, &sreq]() -> absl::StatusOr<dv1::ListSharedMailboxesResponse> {
          dv1::ListSharedMailboxesResponse r;
          auto ctx = rpc::ContextWithDeadline(std::chrono::seconds(10));
          grpc::Status st = directory_->ListSharedMailboxes(ctx.get(), sreq, &r);
          if (!st.ok()) return rpc::FromGrpc(st);
          return r;
        });
        if (!shared.ok()) log::Warn("imap.directory_unavailable").Kv("error", shared.status().message());
        // (name, special-use) in order: the user's mailboxes, then the shared namespace with
        // its \Noselect levels "Shared" and "Shared/<address>".
        std::vector<std::pair<std::string, std::string>> rows;
        bool failed = !boxes.ok() || !shared.ok();
        bool root_listed = false;
        if (!failed) {
          for (const auto& mb : *boxes) rows.emplace_back(mb.name, mb.special_use);
          for (const auto& grant : shared->mailboxes()) {
            if (std::find(grant.rights().begin(), grant.rights().end(), dv1::MAILBOX_RIGHT_READ) ==
                grant.rights().end()) {
              continue;
            }
            const int64_t owner = grant.owner_account_id();
            auto theirs = co_await rt_.Blocking([&] { return mailstore::ListMailboxes(pool_, owner); });
            if (!theirs.ok()) {
              failed = true;
              break;
            }
            if (!root_listed) rows.emplace_back(std::string(kSharedRoot), "\\Noselect");
            root_listed = true;
            rows.emplace_back(SharedMailboxName(grant.address(), ""), "\\Noselect");
            for (const auto& mb : *theirs) rows.emplace_back(SharedMailboxName(grant.address(), mb.name), "");
          }
        }
        if (failed) {
          result = kUnavailable;
        } else {
          for (const auto& [name, special] : rows) {
            if (!MatchMailboxPattern(name, pattern)) continue;
            std::string prefix = name + kHierarchyDelimiter;
            bool children = std::any_of(rows.begin(), rows.end(),
                                        [&](const auto& r) { return r.first.rfind(prefix, 0) == 0; });
            std::string attrs = children ? "\\HasChildren" : "\\HasNoChildren";
            if (!special.empty()) attrs = absl::StrCat(special, " ", attrs);
            absl::StrAppend(&out, "* ", cmd.name, " (", attrs, ") \"/\" ", AString(name), "\r\n");
          }
          result = absl::StrCat("OK ", cmd.name, " completed");
        }
      }
    } else if (cmd.name == "STATUS") {
      static constexpr const char* kItems[] = {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN"};
      std::vector<std::string> want;
      bool syntax = cmd.args.size() == 2 && arg(0)->IsString() && arg(1)->kind == Token::kList &&
                    !arg(1)->children.empty();
      for (size_t i = 0; syntax && i < arg(1)->children.size(); ++i) {
        const Token& t = arg(1)->children[i];
        std::string item = absl::AsciiStrToUpper(t.value);
        syntax = t.kind == Token::kAtom &&
                 std::any_of(std::begin(kItems), std::end(kItems), [&](const char* k) { return item == k; });
        want.push_back(item);
      }
      if (!syntax) {
        result = "BAD Syntax: STATUS mailbox (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)";
      } else {
        const std::string& raw = arg(0)->value;
        Target target = co_await open_target(raw);
        int64_t unseen = 0;
        if (target.error.empty() && HasFlag(want, "UNSEEN")) {
          auto list =
              co_await rt_.Blocking([&] { return mailstore::ListEntries(pool_, target.owner, target.info.id); });
          if (!list.ok()) {
            target.error = kUnavailable;
          } else {
            unseen = std::count_if(list->begin(), list->end(),
                                   [](const mailstore::Entry& e) { return !HasFlag(e.flags, "\\Seen"); });
          }
        }
        if (!target.error.empty()) {
          result = target.error;
        } else {
          std::vector<std::string> parts;
          for (const auto& item : want) {
            int64_t v = item == "MESSAGES"      ? target.info.exists
                        : item == "UIDNEXT"     ? target.info.uidnext
                        : item == "UIDVALIDITY" ? target.info.uidvalidity
                        : item == "UNSEEN"      ? unseen
                                                : 0;
            parts.push_back(absl::StrCat(item, " ", v));
          }
          out = absl::StrCat("* STATUS ", AString(NormalizeInbox(raw)), " (", absl::StrJoin(parts, " "), ")\r\n");
          result = "OK STATUS completed";
        }
      }
    } else if (cmd.name == "CLOSE" || cmd.name == "UNSELECT") {
      // CLOSE's implicit expunge of \Deleted arrives with EXPUNGE in the IMAP issue.
      selected.reset();
      entries.clear();
      shared_address.clear();
      result = absl::StrCat("OK ", cmd.name, " completed");
    } else if (cmd.name == "FETCH") {
      absl::StatusOr<std::vector<FetchItem>> items = absl::InvalidArgumentError("missing items");
      absl::StatusOr<SequenceSet> set = absl::InvalidArgumentError("missing sequence set");
      if (cmd.args.size() == 2 && arg(0)->kind == Token::kAtom) {
        set = SequenceSet::Parse(arg(0)->value);
        items = ParseFetchItems(cmd.args[1]);
      }
      if (!set.ok() || !items.ok()) {
        result = absl::StrCat("BAD ", !set.ok() ? set.status().message() : items.status().message());
      } else {
        std::vector<FetchItem> want = *items;
        if (cmd.uid && std::none_of(want.begin(), want.end(), [](const FetchItem& i) { return i.kind == FetchItem::kUid; })) {
          want.insert(want.begin(), FetchItem{FetchItem::kUid});
        }
        bool unsupported = false;
        for (const auto& it : want) {
          if (it.kind == FetchItem::kEnvelope || it.kind == FetchItem::kBody || it.kind == FetchItem::kBodyStructure ||
              it.kind == FetchItem::kBinary || it.kind == FetchItem::kBinarySize || it.kind == FetchItem::kModSeq ||
              (it.kind == FetchItem::kBodySection && (!it.part.empty() || it.section == "MIME"))) {
            unsupported = true;
          }
        }
        if (unsupported) {
          result = "NO [CANNOT] ENVELOPE, BODYSTRUCTURE, MIME parts and MODSEQ are not implemented yet";
        } else {
          uint32_t max_uid = entries.empty() ? 0 : static_cast<uint32_t>(entries.back().uid);
          uint32_t max = cmd.uid ? max_uid : static_cast<uint32_t>(entries.size());
          bool failed = false;
          if (std::any_of(want.begin(), want.end(), [](const FetchItem& i) { return i.kind == FetchItem::kFlags; })) {
            // Flags change under us (another session, another member of a shared mailbox):
            // FETCH FLAGS answers what the store holds now.
            auto fresh = co_await rt_.Blocking([&] { return mailstore::ListEntries(pool_, owner_id, selected->id); });
            if (fresh.ok()) {
              size_t j = 0;
              for (auto& e : entries) {
                while (j < fresh->size() && (*fresh)[j].uid < e.uid) ++j;
                if (j < fresh->size() && (*fresh)[j].uid == e.uid) e.flags = (*fresh)[j].flags;
              }
            } else {
              failed = true;
            }
          }
          if (failed) {
            result = kUnavailable;
          } else if (!cmd.uid && !set->IsWithin(max)) {
            result = "BAD Message sequence number out of range";
          } else {
            for (size_t i = 0; i < entries.size() && !failed; ++i) {
              mailstore::Entry& e = entries[i];
              uint32_t key = cmd.uid ? static_cast<uint32_t>(e.uid) : static_cast<uint32_t>(i + 1);
              if (!set->Contains(key, max)) continue;
              bool need_body = false, sets_seen = false;
              for (const auto& it : want) {
                need_body |= it.kind == FetchItem::kBodySection || it.kind == FetchItem::kRfc822 ||
                             it.kind == FetchItem::kRfc822Header || it.kind == FetchItem::kRfc822Text;
                sets_seen |= it.SetsSeen() && !read_only;
              }
              std::string body;
              if (need_body) {
                auto b = co_await rt_.Blocking([&] { return mailstore::GetBody(pool_, owner_id, selected->id, e.uid); });
                if (!b.ok()) {
                  failed = true;
                  break;
                }
                body = std::move(*b);
              }
              bool flags_changed = false;
              if (sets_seen && std::find(e.flags.begin(), e.flags.end(), "\\Seen") == e.flags.end()) {
                auto f = co_await rt_.Blocking(
                    [&] { return mailstore::AddFlag(pool_, owner_id, selected->id, e.uid, "\\Seen"); });
                if (f.ok()) {
                  e.flags = *f;
                  flags_changed = true;
                }
              }
              std::vector<std::string> parts;
              bool has_flags = false;
              for (const auto& it : want) {
                auto [header, text] = SplitHeader(body);
                switch (it.kind) {
                  case FetchItem::kUid: parts.push_back(absl::StrCat("UID ", e.uid)); break;
                  case FetchItem::kFlags:
                    has_flags = true;
                    parts.push_back(absl::StrCat("FLAGS ", FormatFlags(e.flags)));
                    break;
                  case FetchItem::kRfc822Size: parts.push_back(absl::StrCat("RFC822.SIZE ", e.size)); break;
                  case FetchItem::kInternalDate:
                    parts.push_back(absl::StrCat("INTERNALDATE \"", InternalDate(e.internal_date), "\""));
                    break;
                  case FetchItem::kRfc822: parts.push_back(absl::StrCat("RFC822 ", Literal(body))); break;
                  case FetchItem::kRfc822Header: parts.push_back(absl::StrCat("RFC822.HEADER ", Literal(header))); break;
                  case FetchItem::kRfc822Text: parts.push_back(absl::StrCat("RFC822.TEXT ", Literal(text))); break;
                  case FetchItem::kBodySection: {
                    std::string data;
                    if (it.section.empty()) {
                      data = body;
                    } else if (it.section == "HEADER") {
                      data = std::string(header);
                    } else if (it.section == "TEXT") {
                      data = std::string(text);
                    } else {
                      data = FilterHeader(header, it.fields, it.section == "HEADER.FIELDS.NOT");
                    }
                    if (it.partial) {
                      uint64_t from = std::min<uint64_t>(it.partial->first, data.size());
                      data = data.substr(from, it.partial->second);
                    }
                    parts.push_back(absl::StrCat(it.ResponseName(), " ", Literal(data)));
                    break;
                  }
                  default: break;
                }
              }
              if (flags_changed && !has_flags) parts.push_back(absl::StrCat("FLAGS ", FormatFlags(e.flags)));
              absl::StrAppend(&out, "* ", i + 1, " FETCH (", absl::StrJoin(parts, " "), ")\r\n");
            }
            result = failed ? "NO [UNAVAILABLE] Temporary failure" : absl::StrCat("OK ", cmd.uid ? "UID " : "", "FETCH completed");
          }
        }
      }
    } else if (cmd.name == "STORE") {
      // STORE set FLAGS|+FLAGS|-FLAGS[.SILENT] (flag...) — RFC 3501 6.4.6. With the read
      // right only, \Seen is the one flag that changes; the others are left alone (RFC 4314
      // section 4: no NO while at least one requested flag may change).
      absl::StatusOr<SequenceSet> set = absl::InvalidArgumentError("missing sequence set");
      std::string item = cmd.args.size() >= 3 && arg(1)->kind == Token::kAtom ? absl::AsciiStrToUpper(arg(1)->value) : "";
      bool silent = absl::EndsWith(item, ".SILENT");
      if (silent) item.resize(item.size() - 7);
      std::vector<std::string> flags;
      bool syntax = (item == "FLAGS" || item == "+FLAGS" || item == "-FLAGS") && arg(0)->kind == Token::kAtom;
      if (syntax) set = SequenceSet::Parse(arg(0)->value);
      if (syntax && arg(2)->kind == Token::kList) {
        syntax = cmd.args.size() == 3;
        for (const Token& t : arg(2)->children) {
          syntax = syntax && t.kind == Token::kAtom;
          flags.push_back(t.value);
        }
      } else {
        for (size_t i = 2; syntax && i < cmd.args.size(); ++i) {
          syntax = arg(i)->kind == Token::kAtom;
          flags.push_back(arg(i)->value);
        }
      }
      for (auto& f : flags) {
        f = CanonicalFlag(f);
        syntax = syntax && IsValidFlag(f) && f != "\\Recent";
      }
      if (!syntax) {
        result = "BAD Syntax: STORE set FLAGS|+FLAGS|-FLAGS[.SILENT] (flags)";
      } else if (!set.ok()) {
        result = absl::StrCat("BAD ", set.status().message());
      } else if (read_only) {
        result = "NO [READ-ONLY] The mailbox was opened with EXAMINE";
      } else {
        mailstore::FlagOp op = item == "FLAGS"    ? mailstore::FlagOp::kReplace
                               : item == "+FLAGS" ? mailstore::FlagOp::kAdd
                                                  : mailstore::FlagOp::kRemove;
        bool permitted = true;
        if (!may_write) {
          bool seen = HasFlag(flags, "\\Seen");
          if (op == mailstore::FlagOp::kReplace) {
            op = seen ? mailstore::FlagOp::kAdd : mailstore::FlagOp::kRemove;
            flags = {"\\Seen"};
          } else if (seen) {
            flags = {"\\Seen"};
          } else {
            permitted = flags.empty();  // "+FLAGS ()" changes nothing and is allowed
          }
        }
        uint32_t max_uid = entries.empty() ? 0 : static_cast<uint32_t>(entries.back().uid);
        uint32_t max = cmd.uid ? max_uid : static_cast<uint32_t>(entries.size());
        if (!permitted) {
          result = "NO [NOPERM] Only \\Seen may be changed in this mailbox";
        } else if (!cmd.uid && !set->IsWithin(max)) {
          result = "BAD Message sequence number out of range";
        } else {
          bool failed = false;
          for (size_t i = 0; i < entries.size() && !failed; ++i) {
            mailstore::Entry& e = entries[i];
            uint32_t key = cmd.uid ? static_cast<uint32_t>(e.uid) : static_cast<uint32_t>(i + 1);
            if (!set->Contains(key, max)) continue;
            auto now = co_await rt_.Blocking(
                [&] { return mailstore::StoreFlags(pool_, owner_id, selected->id, e.uid, op, flags); });
            if (!now.ok()) {
              failed = true;
              break;
            }
            e.flags = std::move(*now);
            if (!silent) {
              absl::StrAppend(&out, "* ", i + 1, " FETCH (", cmd.uid ? absl::StrCat("UID ", e.uid, " ") : "",
                              "FLAGS ", FormatFlags(e.flags), ")\r\n");
            }
          }
          result = failed ? kUnavailable : absl::StrCat("OK ", cmd.uid ? "UID " : "", "STORE completed");
        }
      }
    } else {
      result = absl::StrCat("BAD ", cmd.name, " is not implemented yet");
    }
    commands.Add({{"command", cmd.name}, {"result", result.substr(0, result.find(' '))}}).Increment();
    wbuf = absl::StrCat(out, tag, " ", result, "\r\n");
    if (!co_await write(wbuf)) co_return;
  }
  wbuf = "* BYE Server shutting down\r\n";
  co_await write(wbuf);
}

}  // namespace kite::imap
