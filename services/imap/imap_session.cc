#include "imap/imap_session.h"

#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/base/strings.h"
#include "lib/imap/fetch_items.h"
#include "lib/imap/quote.h"
#include "lib/imap/receiver.h"
#include "lib/imap/sequence_set.h"
#include "lib/log/log.h"
#include "lib/mailstore/mailstore.h"
#include "lib/rpc/rpc.h"

namespace kite::imap {
namespace {

namespace av1 = kite::auth::v1;

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
         n == "RENAME" || n == "SUBSCRIBE" || n == "UNSUBSCRIBE" || n == "STATUS" || n == "APPEND";
}
bool IsSelectedCommand(const std::string& n) {
  return n == "FETCH" || n == "CHECK" || n == "CLOSE" || n == "UNSELECT" || n == "EXPUNGE" || n == "SEARCH" ||
         n == "STORE" || n == "COPY" || n == "MOVE";
}

}  // namespace

Server::Server(daemon::Runtime& rt, store::Pool& pool, std::shared_ptr<av1::Auth::Stub> auth, Limits limits)
    : commands(rt.metrics().Counter("kite_imap_commands_total", "IMAP commands by name and result")),
      rt_(rt),
      pool_(pool),
      auth_(std::move(auth)),
      limits_(limits) {}

boost::asio::awaitable<void> Server::Session(std::shared_ptr<net::Connection> conn) {
  Receiver::Limits rlimits;
  rlimits.max_literal = limits_.max_literal;
  auto receiver = std::make_unique<Receiver>(rlimits);
  int64_t account_id = 0;
  std::string account;
  std::optional<mailstore::MailboxInfo> selected;
  bool read_only = false;
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
    std::string caps = "IMAP4rev1 LITERAL+ UNSELECT";
    if (!conn->is_tls()) absl::StrAppend(&caps, " STARTTLS LOGINDISABLED");
    return caps;
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

    if ((IsAuthenticatedCommand(cmd.name) || IsSelectedCommand(cmd.name)) && account_id == 0) {
      result = "BAD Not authenticated";
    } else if (IsSelectedCommand(cmd.name) && !selected) {
      result = "BAD No mailbox selected";
    } else if (cmd.name == "CAPABILITY") {
      out = absl::StrCat("* CAPABILITY ", capability(), "\r\n");
      result = "OK CAPABILITY completed";
    } else if (cmd.name == "NOOP" || cmd.name == "CHECK") {
      if (selected) {
        auto fresh = co_await rt_.Blocking(
            [&] { return mailstore::ListEntries(pool_, account_id, selected->id); });
        if (fresh.ok() && fresh->size() > entries.size()) {
          // Only appends are tracked until the full bookkeeping arrives with the IMAP issue.
          std::vector<mailstore::Entry> merged = entries;
          for (const auto& e : *fresh) {
            if (entries.empty() || e.uid > entries.back().uid) merged.push_back(e);
          }
          entries = std::move(merged);
          out = absl::StrCat("* ", entries.size(), " EXISTS\r\n");
        }
      }
      result = absl::StrCat("OK ", cmd.name, " completed");
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
      if (!arg(0) || !arg(0)->IsString()) {
        result = absl::StrCat("BAD Syntax: ", cmd.name, " mailbox");
      } else {
        std::string name = arg(0)->value;
        if (absl::EqualsIgnoreCase(name, "INBOX")) name = "INBOX";
        auto mb = co_await rt_.Blocking([&] { return mailstore::GetMailbox(pool_, account_id, name); });
        if (!mb.ok()) {
          result = "NO [UNAVAILABLE] Temporary failure";
        } else if (!*mb) {
          result = "NO [NONEXISTENT] No such mailbox";
        } else {
          auto list = co_await rt_.Blocking([&] { return mailstore::ListEntries(pool_, account_id, (*mb)->id); });
          if (!list.ok()) {
            result = "NO [UNAVAILABLE] Temporary failure";
          } else {
            selected = **mb;
            entries = std::move(*list);
            read_only = cmd.name == "EXAMINE";
            out = absl::StrCat("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
                               "* OK [PERMANENTFLAGS (", read_only ? "" : "\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*",
                               ")] Flags permitted\r\n", "* ", entries.size(), " EXISTS\r\n* 0 RECENT\r\n",
                               "* OK [UIDVALIDITY ", selected->uidvalidity, "] UIDs valid\r\n", "* OK [UIDNEXT ",
                               selected->uidnext, "] Predicted next UID\r\n");
            result = absl::StrCat("OK [", read_only ? "READ-ONLY" : "READ-WRITE", "] ", cmd.name, " completed");
          }
        }
      }
    } else if (cmd.name == "LIST" || cmd.name == "LSUB") {
      if (cmd.args.size() != 2 || !arg(0)->IsString() || !arg(1)->IsString()) {
        result = absl::StrCat("BAD Syntax: ", cmd.name, " reference pattern");
      } else if (arg(1)->value.empty()) {
        out = absl::StrCat("* ", cmd.name, " (\\Noselect) \"/\" \"\"\r\n");
        result = absl::StrCat("OK ", cmd.name, " completed");
      } else {
        auto boxes = co_await rt_.Blocking([&] { return mailstore::ListMailboxes(pool_, account_id); });
        if (!boxes.ok()) {
          result = "NO [UNAVAILABLE] Temporary failure";
        } else {
          const std::string& pattern = arg(1)->value;
          bool all = pattern == "*" || pattern == "%";
          for (const auto& mb : *boxes) {
            if (!all && !(pattern == mb.name || (absl::EqualsIgnoreCase(pattern, "INBOX") && mb.name == "INBOX"))) continue;
            std::string attrs = "\\HasNoChildren";
            if (!mb.special_use.empty()) absl::StrAppend(&attrs, " ", mb.special_use);
            absl::StrAppend(&out, "* ", cmd.name, " (", attrs, ") \"/\" ", AString(mb.name), "\r\n");
          }
          result = absl::StrCat("OK ", cmd.name, " completed");
        }
      }
    } else if (cmd.name == "CLOSE" || cmd.name == "UNSELECT") {
      // CLOSE's implicit expunge of \Deleted arrives with EXPUNGE in the IMAP issue.
      selected.reset();
      entries.clear();
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
          if (!cmd.uid && !set->IsWithin(max)) {
            result = "BAD Message sequence number out of range";
          } else {
            bool failed = false;
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
                auto b = co_await rt_.Blocking([&] { return mailstore::GetBody(pool_, account_id, selected->id, e.uid); });
                if (!b.ok()) {
                  failed = true;
                  break;
                }
                body = std::move(*b);
              }
              bool flags_changed = false;
              if (sets_seen && std::find(e.flags.begin(), e.flags.end(), "\\Seen") == e.flags.end()) {
                auto f = co_await rt_.Blocking(
                    [&] { return mailstore::AddFlag(pool_, account_id, selected->id, e.uid, "\\Seen"); });
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
