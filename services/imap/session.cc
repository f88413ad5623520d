// The IMAP session loop, the commands valid in any state, authentication, ID, ENABLE, IDLE
// and COMPRESS. See imap_session.h for SECURITY and STANDARDS.
#include "imap/session.h"

#include <ctime>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "imap/notifier.h"
#include "lib/imap/mailbox_name.h"
#include "lib/base/strings.h"
#include "lib/imap/quote.h"
#include "lib/log/log.h"
#include "lib/sasl/driver.h"
#include "lib/sasl/grpc_auth_client.h"

namespace kite::imap {

namespace av1 = kite::auth::v1;
namespace dv1 = kite::directory::v1;

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

std::optional<int64_t> ParseDateTime(std::string_view s) {
  // date-day-fixed "-" date-month "-" date-year SP time SP zone; the day may be " 7" or "7".
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (!s.empty() && s[0] == ' ') s.remove_prefix(1);
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0, zone = 0;
  char mon[4] = {0};
  char sign = 0;
  std::string text(s);
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%2d-%3c-%4d %2d:%2d:%2d %c%4d%n", &day, mon, &year, &hh, &mm, &ss, &sign, &zone,
                  &consumed) != 8 ||
      static_cast<size_t>(consumed) != text.size() || (sign != '+' && sign != '-')) {
    return std::nullopt;
  }
  int month = -1;
  for (int i = 0; i < 12; ++i) {
    if (absl::EqualsIgnoreCase(mon, kMonths[i])) month = i;
  }
  if (month < 0 || day < 1 || day > 31 || year < 1900 || year > 9999 || hh > 23 || mm > 59 || ss > 60 ||
      zone % 100 > 59 || zone > 2359) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  int64_t t = timegm(&tm);
  int64_t offset = (zone / 100) * 3600 + (zone % 100) * 60;
  return sign == '+' ? t - offset : t + offset;
}

std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

Server::Server(daemon::Runtime& rt, mailstore::MailStore& mail, std::shared_ptr<av1::Auth::Stub> auth,
               std::shared_ptr<dv1::Directory::Stub> directory, Notifier* notifier, Limits limits)
    : commands(rt.metrics().Counter("kite_imap_commands_total", "IMAP commands by name and result")),
      sessions(rt.metrics().Gauge("kite_imap_sessions", "Open IMAP sessions").Add({})),
      idling(rt.metrics().Gauge("kite_imap_idle_sessions", "IMAP sessions in IDLE").Add({})),
      rt_(rt),
      mail_(mail),
      auth_(std::move(auth)),
      directory_(std::move(directory)),
      notifier_(notifier),
      limits_(limits),
      snapshots_(limits.snapshot_entries) {}

void Server::Publish(int64_t account_id, int64_t mailbox_id) {
  if (!notifier_) return;
  auto st = notifier_->Publish(account_id, mailbox_id, "imap");
  if (!st.ok()) log::Warn("imap.publish_failed").Kv("error", st.message());
}

boost::asio::awaitable<void> Server::Session(std::shared_ptr<net::Connection> conn) {
  auto session = std::make_unique<imap::Session>(*this, std::move(conn));
  co_await session->Run();
}

Session::Session(Server& server, std::shared_ptr<net::Connection> conn)
    : server_(server), rt_(server.rt()), mail_(server.mail()), conn_(std::move(conn)) {
  rlimits_.max_literal = server_.limits().max_literal;
  receiver_ = std::make_unique<Receiver>(rlimits_);
  client_ = conn_->peer_address();
  server_.sessions.Increment();
}

Session::~Session() { server_.sessions.Decrement(); }

boost::asio::awaitable<bool> Session::WriteBuffer() {
  if (wbuf_.empty()) co_return true;
  auto st = co_await conn_->Write(wbuf_, std::chrono::seconds(60));
  wbuf_.clear();
  co_return st.ok();
}

boost::asio::awaitable<bool> Session::FlushIfLarge() {
  if (out_.size() < kFlushThreshold) co_return true;
  wbuf_.swap(out_);
  out_.clear();
  co_return co_await WriteBuffer();
}

boost::asio::awaitable<absl::StatusOr<std::string>> Session::ReadRawLine(std::chrono::milliseconds timeout) {
  receiver_->ExpectLine();
  while (true) {
    Receiver::Event ev = receiver_->Next();
    if (ev.kind == Receiver::Event::kLine) co_return ev.line;
    if (ev.kind == Receiver::Event::kError) co_return absl::InvalidArgumentError(ev.error);
    if (ev.kind != Receiver::Event::kNeedMore) co_return absl::InternalError("unexpected input");
    auto data = co_await conn_->ReadSome(64 * 1024, timeout);
    if (!data.ok()) co_return data.status();
    receiver_->Feed(*data);
  }
}

std::string Session::Capability() const {
  std::string caps = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT CHILDREN";
  if (!conn_->is_tls()) {
    absl::StrAppend(&caps, " STARTTLS LOGINDISABLED");
  } else if (account_id_ == 0) {
    absl::StrAppend(&caps, " AUTH=PLAIN AUTH=LOGIN AUTH=SCRAM-SHA-256");
  }
  if (account_id_ != 0) {
    absl::StrAppend(&caps,
                    " UIDPLUS MOVE SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS QUOTA "
                    "QUOTA=RES-STORAGE STATUS=SIZE ACL RIGHTS=texk CONDSTORE QRESYNC ESEARCH "
                    "SEARCHRES SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES WITHIN BINARY");
    absl::StrAppend(&caps, " MULTIAPPEND OBJECTID SAVEDATE PREVIEW METADATA");  // RFC 3502, 8474, 8514, 8970, 5464
    if (!compressed_) absl::StrAppend(&caps, " COMPRESS=DEFLATE");
  }
  return caps;
}

void Session::EnableCondstore() {
  if (condstore_) return;
  condstore_ = true;
  // RFC 7162 3.1: enabled by a command other than SELECT/EXAMINE while a mailbox is
  // selected, the client learns the mailbox's HIGHESTMODSEQ at once.
  if (sel_) absl::StrAppend(&out_, "* OK [HIGHESTMODSEQ ", view_.highest_modseq(), "] Highest\r\n");
}

MailboxView::Options Session::ViewOptions(bool allow_expunge) const {
  return MailboxView::Options{.allow_expunge = allow_expunge, .qresync = qresync_, .condstore = condstore_};
}

boost::asio::awaitable<bool> Session::SyncSelected(bool allow_expunge) {
  if (!sel_) co_return true;
  // Taken before reading: a notification that arrives during the read marks the watch again.
  if (watch_) {
    MailboxChanges changed = watch_->TakeChanges();
    if (!changed.empty() && !changed.Includes(sel_->info.id) && view_.highest_modseq() != 0) {
      // Nothing new here, but expunges held back during an earlier FETCH, STORE or SEARCH
      // are due now (a NOOP must not keep them when only another mailbox changed).
      if (allow_expunge) absl::StrAppend(&out_, view_.AnnounceExpunges(ViewOptions(true)));
      co_return true;
    }
  }
  const int64_t owner = sel_->owner, mailbox = sel_->info.id, since = view_.highest_modseq();
  const int64_t shown = view_.max_uid();
  const bool claims = !sel_->read_only;
  // With the changes, the \Recent watermark when they bring new messages: a SELECTed
  // session claims up to the newest of them (RFC 3501 2.3.2), EXAMINE only looks.
  std::optional<int64_t> watermark;
  auto changes = co_await rt_.Blocking([&]() -> absl::StatusOr<mailstore::Changes> {
    auto c = mail_.ChangesSince(owner, mailbox, since);
    if (!c.ok() || !c->exists) return c;
    std::set<int64_t> expunged(c->expunged.begin(), c->expunged.end());
    int64_t newest = 0;
    for (const auto& e : c->changed) {
      if (e.uid > shown && !expunged.count(e.uid)) newest = std::max(newest, e.uid);
    }
    if (newest == 0) return c;
    // The watermark read with the changes already covers them (another session claimed
    // them), or this session only looks (EXAMINE): no write.
    if (!claims || c->recent_uid >= newest) {
      watermark = c->recent_uid;
      return c;
    }
    auto w = mail_.ClaimRecent(owner, mailbox, newest);
    if (w.ok()) watermark = *w;
    if (!w.ok() && !absl::IsNotFound(w.status())) return w.status();
    return c;
  });
  if (!changes.ok()) co_return false;
  if (watermark) view_.SetRecentWatermark(*watermark);
  if (!changes->exists) {
    // Deleted or renamed away under us (RFC 3501 leaves it open): end the selection.
    sel_.reset();
    view_.Clear();
    absl::StrAppend(&out_, "* BYE The selected mailbox was deleted\r\n");
    logout_ = true;
    co_return true;
  }
  absl::StrAppend(&out_, view_.Apply(*changes, ViewOptions(allow_expunge)));
  co_return true;
}

boost::asio::awaitable<void> Session::Run() {
  wbuf_ = absl::StrCat("* OK [CAPABILITY ", Capability(), "] Kite IMAP ready\r\n");
  if (!co_await WriteBuffer()) co_return;
  const Limits& limits = server_.limits();

  while (!rt_.stopping() && !logout_) {
    Receiver::Event ev = receiver_->Next();
    if (ev.kind == Receiver::Event::kNeedMore) {
      auto data = co_await conn_->ReadSome(64 * 1024, account_id_ ? limits.idle_timeout : limits.login_timeout);
      if (!data.ok()) {
        if (data.status().code() == absl::StatusCode::kDeadlineExceeded) {
          wbuf_ = "* BYE Autologout; idle for too long\r\n";
          co_await WriteBuffer();
        }
        co_return;
      }
      receiver_->Feed(*data);
      continue;
    }
    if (ev.kind == Receiver::Event::kContinuationNeeded) {
      wbuf_ = "+ Ready for literal data\r\n";
      if (!co_await WriteBuffer()) co_return;
      continue;
    }
    if (ev.kind == Receiver::Event::kError || ev.kind == Receiver::Event::kLine) {
      server_.commands.Add({{"command", "invalid"}, {"result", "BAD"}}).Increment();
      wbuf_ = absl::StrCat(ev.tag.empty() ? "*" : ev.tag, " BAD ", ev.error, "\r\n");
      if (++bad_in_a_row_ >= limits.max_bad_commands) {
        absl::StrAppend(&wbuf_, "* BYE Too many invalid commands\r\n");
        co_await WriteBuffer();
        co_return;
      }
      if (!co_await WriteBuffer()) co_return;
      if (ev.fatal) co_return;
      continue;
    }
    const Command cmd = std::move(ev.command);
    out_.clear();
    result_.clear();
    answered_ = false;
    co_await Dispatch(cmd);
    if (answered_) continue;         // the handler sent the tagged response itself
    if (result_.empty()) co_return;  // the handler ended the connection
    std::string verdict = result_.substr(0, result_.find(' '));
    bad_in_a_row_ = verdict == "BAD" ? bad_in_a_row_ + 1 : 0;
    server_.commands.Add({{"command", cmd.name}, {"result", verdict}}).Increment();
    wbuf_ = absl::StrCat(out_, cmd.tag, " ", result_, "\r\n");
    out_.clear();
    if (!co_await WriteBuffer()) co_return;
    if (bad_in_a_row_ >= limits.max_bad_commands) {
      wbuf_ = "* BYE Too many invalid commands\r\n";
      co_await WriteBuffer();
      co_return;
    }
  }
  if (!logout_) {
    wbuf_ = "* BYE Server shutting down\r\n";
    co_await WriteBuffer();
  }
}

namespace {

// The tagged reply to a LOGIN or AUTHENTICATE that did not authenticate (lib/sasl outcome);
// nullopt when the connection is gone and nothing is sent.
std::optional<std::string> AuthFailureReply(const sasl::Outcome& outcome) {
  switch (outcome.result) {
    case sasl::Result::kOk:
    case sasl::Result::kDisconnected:
      return std::nullopt;
    case sasl::Result::kThrottled:
      return "NO [UNAVAILABLE] Too many failed attempts, try again later";
    case sasl::Result::kEncryptionRequired:
      return "NO [PRIVACYREQUIRED] Encryption required";
    case sasl::Result::kUnavailable:
      if (absl::IsInvalidArgument(outcome.rpc_status)) {
        return "NO [CANNOT] Unsupported mechanism or malformed SASL message";
      }
      log::Warn("imap.auth_unavailable").Kv("error", outcome.rpc_status.message());
      return "NO [UNAVAILABLE] Authentication service unavailable, try again later";
    case sasl::Result::kCancelled:
      return "BAD AUTHENTICATE cancelled";
    case sasl::Result::kBadInitialResponse:
      return "BAD Invalid base64 in the initial response";
    case sasl::Result::kBadResponse:
    case sasl::Result::kResponseUnreadable:
      return "BAD Invalid base64 in the SASL response";
    case sasl::Result::kResponseTooLong:
      return "BAD SASL response too long";
    case sasl::Result::kTooManySteps:
      return "BAD Too many SASL steps";
    case sasl::Result::kInvalidCredentials:
    case sasl::Result::kUnsupportedMechanism:
    case sasl::Result::kMalformed:
    case sasl::Result::kAuthError:
      break;
  }
  return "NO [AUTHENTICATIONFAILED] Authentication failed";
}

}  // namespace

boost::asio::awaitable<void> Session::CmdLogin(const Command& cmd) {
  if (account_id_ != 0) {
    result_ = "BAD Already authenticated";
    co_return;
  }
  if (cmd.args.size() != 2 || !cmd.args[0].IsString() || !cmd.args[1].IsString()) {
    result_ = "BAD Syntax: LOGIN username password";
    co_return;
  }
  if (!conn_->is_tls()) {
    result_ = "NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS";
    co_return;
  }
  av1::ClientInfo client;
  client.set_service("imap");
  client.set_remote_address(client_);
  client.set_tls(conn_->is_tls());
  sasl::GrpcAuthClient auth(rt_, server_.auth(), client, std::chrono::seconds(10));
  const std::string& username = cmd.args[0].value;
  const std::string& password = cmd.args[1].value;
  sasl::Outcome outcome = co_await sasl::CheckPassword(auth, username, password);
  if (outcome.result == sasl::Result::kOk) {
    account_id_ = outcome.identity.account_id;
    account_ = outcome.identity.address;
    result_ = absl::StrCat("OK [CAPABILITY ", Capability(), "] LOGIN completed");
  } else if (auto reply = AuthFailureReply(outcome)) {
    result_ = *reply;
  }
}

boost::asio::awaitable<void> Session::CmdAuthenticate(const Command& cmd) {
  if (account_id_ != 0) {
    result_ = "BAD Already authenticated";
    co_return;
  }
  if (cmd.args.empty() || cmd.args.size() > 2 || cmd.args[0].kind != Token::kAtom ||
      (cmd.args.size() == 2 && cmd.args[1].kind != Token::kAtom)) {
    result_ = "BAD Syntax: AUTHENTICATE mechanism [initial-response]";
    co_return;
  }
  if (!conn_->is_tls()) {
    result_ = "NO [PRIVACYREQUIRED] AUTHENTICATE is disabled before STARTTLS";
    co_return;
  }
  av1::ClientInfo client;
  client.set_service("imap");
  client.set_remote_address(client_);
  client.set_tls(conn_->is_tls());
  sasl::GrpcAuthClient auth(rt_, server_.auth(), client, std::chrono::seconds(10));
  // SASL-IR (RFC 4959): the initial response on the command line, "=" for an empty one.
  std::optional<std::string_view> initial_response;
  if (cmd.args.size() == 2) initial_response = cmd.args[1].value;
  sasl::Exchange exchange(cmd.args[0].value, initial_response);
  // RFC 3501 6.2.2: "+ " and the base64 challenge; the client answers with one raw line.
  sasl::Framing framing;
  framing.send_challenge = [this](const std::string& challenge) -> boost::asio::awaitable<bool> {
    wbuf_ = absl::StrCat("+ ", challenge, "\r\n");
    const bool written = co_await WriteBuffer();
    co_return written;
  };
  framing.read_response = [this]() -> boost::asio::awaitable<sasl::Response> {
    absl::StatusOr<std::string> line = co_await ReadRawLine(server_.limits().login_timeout);
    sasl::Response response;
    if (line.ok()) {
      response.kind = sasl::Response::Kind::kLine;
      response.text = std::move(*line);
    } else if (absl::IsInvalidArgument(line.status())) {
      response.kind = sasl::Response::Kind::kTooLong;
    }
    co_return response;
  };
  sasl::Outcome outcome = co_await sasl::Run(auth, framing, exchange);
  if (outcome.result == sasl::Result::kOk) {
    account_id_ = outcome.identity.account_id;
    account_ = outcome.identity.address;
    result_ = absl::StrCat("OK [CAPABILITY ", Capability(), "] AUTHENTICATE completed");
  } else if (auto reply = AuthFailureReply(outcome)) {
    result_ = *reply;
  }
}

boost::asio::awaitable<void> Session::CmdId(const Command& cmd) {
  // RFC 2971: ID NIL or ID ("key" "value" ...), at most 30 pairs.
  if (cmd.args.size() != 1 || (cmd.args[0].kind != Token::kNil && cmd.args[0].kind != Token::kList) ||
      (cmd.args[0].kind == Token::kList && (cmd.args[0].children.size() % 2 != 0 || cmd.args[0].children.size() > 60))) {
    result_ = "BAD Syntax: ID NIL or ID (\"name\" \"value\" ...)";
    co_return;
  }
  std::string seen;
  for (size_t i = 0; cmd.args[0].kind == Token::kList && i + 1 < cmd.args[0].children.size(); i += 2) {
    const Token& k = cmd.args[0].children[i];
    const Token& v = cmd.args[0].children[i + 1];
    if (absl::EqualsIgnoreCase(k.value, "name") || absl::EqualsIgnoreCase(k.value, "version")) {
      absl::StrAppend(&seen, seen.empty() ? "" : " ", Printable(v.value));
    }
  }
  if (!seen.empty()) log::Info("imap.client_id").Kv("client", client_).Kv("id", seen);
  absl::StrAppend(&out_, "* ID (\"name\" \"Kite\" \"vendor\" \"Kite\" \"support-url\" \"https://kite.invalid/\")\r\n");
  result_ = "OK ID completed";
}

boost::asio::awaitable<void> Session::CmdEnable(const Command& cmd) {
  if (cmd.args.empty()) {
    result_ = "BAD Syntax: ENABLE capability...";
    co_return;
  }
  std::vector<std::string> enabled;
  for (const auto& t : cmd.args) {
    std::string c = absl::AsciiStrToUpper(t.value);
    if (c == "CONDSTORE" && !condstore_) {
      EnableCondstore();
      enabled.push_back(c);
    } else if (c == "QRESYNC" && !qresync_) {
      qresync_ = true;
      if (!condstore_) enabled.push_back("CONDSTORE");
      EnableCondstore();
      enabled.push_back(c);
    }
  }
  absl::StrAppend(&out_, "* ENABLED", enabled.empty() ? "" : " ", absl::StrJoin(enabled, " "), "\r\n");
  result_ = "OK ENABLE completed";
}

// IDLE (RFC 2177): "+ idling", then untagged updates as changes arrive until the client
// sends DONE. A reader coroutine waits for the client's bytes while this one waits for
// notifications; the reader touches only the connection and a shared state, so it is safe
// whichever finishes first.
boost::asio::awaitable<void> Session::CmdIdle(const Command& cmd) {
  if (!cmd.args.empty()) {
    result_ = "BAD Syntax: IDLE";
    co_return;
  }
  struct Shared {
    explicit Shared(boost::asio::any_io_executor ex) : wake(ex) {}
    boost::asio::steady_timer wake;
    bool done = false;
    absl::StatusOr<std::string> data = std::string();
  };
  auto shared = std::make_shared<Shared>(conn_->executor());
  wbuf_ = "+ idling\r\n";
  if (!co_await WriteBuffer()) co_return;
  server_.idling.Increment();
  struct Leave {
    Server& s;
    ~Leave() { s.idling.Decrement(); }
  } leave{server_};

  const auto deadline = std::chrono::steady_clock::now() + server_.limits().idle_timeout;
  auto conn = conn_;
  std::shared_ptr<Watch> watch = watch_;
  auto start_reader = [shared, conn, watch]() {
    boost::asio::co_spawn(
        conn->executor(),
        [shared, conn, watch]() -> boost::asio::awaitable<void> {
          auto data = co_await conn->ReadSome(4096, std::chrono::hours(24));
          shared->data = std::move(data);
          shared->done = true;
          shared->wake.cancel();
          if (watch) watch->Cancel();
        },
        boost::asio::detached);
  };
  start_reader();
  // Poll interval without notifications (no Redis): changes still show up, just later.
  const auto poll = watch_ ? std::chrono::milliseconds(std::chrono::minutes(5)) : std::chrono::milliseconds(2000);
  bool need_sync = true;
  while (true) {
    if (sel_ && need_sync) {
      need_sync = false;
      if (!co_await SyncSelected(true)) {
        result_.clear();
        conn_->Close();
        co_return;
      }
      if (!out_.empty()) {
        wbuf_.swap(out_);
        out_.clear();
        if (!co_await WriteBuffer()) {
          conn_->Close();
          co_return;
        }
      }
      if (logout_) {
        conn_->Close();
        co_return;
      }
    }
    if (shared->done) {
      shared->done = false;
      if (!shared->data.ok()) co_return;  // gone; the connection is closed by the caller
      receiver_->Feed(*shared->data);
      receiver_->ExpectLine();
      Receiver::Event ev = receiver_->Next();
      if (ev.kind == Receiver::Event::kLine) {
        result_ = absl::EqualsIgnoreCase(ev.line, "DONE") ? "OK IDLE terminated" : "BAD Expected DONE";
        co_return;
      }
      if (ev.kind == Receiver::Event::kError) {
        result_ = "BAD Expected DONE";
        co_return;
      }
      start_reader();
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      wbuf_ = "* BYE Autologout; idle for too long\r\n";
      co_await WriteBuffer();
      conn_->Close();
      co_return;
    }
    auto wait = std::min<std::chrono::steady_clock::duration>(poll, deadline - now);
    // Nothing is written until a change arrives: give back what earlier replies grew (up to
    // kFlushThreshold each), so a session waiting in IDLE holds no output buffers.
    if (wbuf_.empty()) std::string().swap(wbuf_);
    if (out_.empty()) std::string().swap(out_);
    if (watch_) {
      WakeReason why = co_await watch_->Wait(std::chrono::duration_cast<std::chrono::milliseconds>(wait));
      need_sync = why == WakeReason::kNotified || why == WakeReason::kTimeout;
    } else {
      need_sync = true;
      shared->wake.expires_after(wait);
      boost::system::error_code ec;
      auto token = boost::asio::redirect_error(boost::asio::use_awaitable, ec);
      co_await shared->wake.async_wait(token);
    }
  }
}

}  // namespace kite::imap
