#include "pop3/pop3_session.h"

#include <atomic>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/mailstore/mailstore.h"
#include "lib/rpc/rpc.h"
#include "lib/sasl/driver.h"
#include "lib/sasl/grpc_auth_client.h"
#include "pop3/pop3_command.h"

namespace kite::pop3 {
namespace {

namespace av1 = kite::auth::v1;

constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr const char* kUnavailable = "-ERR [SYS/TEMP] Temporary failure, try again later";

// One entry of the maildrop as the session saw it at login.
struct Message {
  int64_t uid = 0;
  int64_t size = 0;  // octets as RETR sends them before byte-stuffing (OctetSize)
  bool deleted = false;
};

std::string SessionId() {
  static std::atomic<uint64_t> next{0};
  return absl::StrCat(std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count(),
                      ".", next.fetch_add(1));
}

}  // namespace

Server::Server(daemon::Runtime& rt, mailstore::MailStore& mail, std::shared_ptr<av1::Auth::Stub> auth,
               redis::Options redis, SessionLimits limits)
    : rt_(rt),
      mail_(mail),
      auth_(std::move(auth)),
      redis_options_(std::move(redis)),
      limits_(limits),
      commands_(rt.metrics().Counter("kite_pop3_commands_total", "POP3 commands by name and result")),
      logins_(rt.metrics().Counter("kite_pop3_logins_total", "POP3 logins by method and result")),
      sessions_(rt.metrics().Counter("kite_pop3_sessions_total", "POP3 sessions by how they ended")),
      messages_(rt.metrics().Counter("kite_pop3_messages_total", "Messages retrieved and deleted over POP3")) {}

Server::~Server() = default;

void Server::NotifyExpunge(int64_t account_id, int64_t mailbox_id) {
  std::lock_guard<std::mutex> lock(redis_mu_);
  if (!redis_) {
    auto c = redis::Client::Connect(redis_options_);
    if (!c.ok()) {
      log::Warn("pop3.redis_down").Kv("error", c.status().message());
      return;
    }
    redis_ = std::move(*c);
  }
  absl::Status s = redis_->Publish(absl::StrCat("kite:mbox:", account_id), absl::StrCat(mailbox_id, " expunge"));
  if (!s.ok()) {
    log::Warn("pop3.publish_failed").Kv("error", s.message());
    redis_.reset();
  }
}

boost::asio::awaitable<void> Server::Session(std::shared_ptr<net::Connection> conn) {
  const std::string sid = SessionId();
  const std::string peer = conn->peer_address();
  auto reader = std::make_unique<LineReader>();
  int errors = 0;
  std::string user;          // from USER, waiting for PASS
  int64_t account_id = 0;    // set once authenticated: the TRANSACTION state
  std::string account;       // its canonical address (logs)
  int64_t mailbox_id = 0;    // INBOX; 0 when the account has none (an empty maildrop)
  int64_t uidvalidity = 0;
  std::vector<Message> messages;
  std::string mechanisms;  // from kite-auth, once TLS is up
  av1::ClientInfo client;
  client.set_service("pop3");
  client.set_remote_address(peer);
  client.set_local_address(conn->local_address());
  std::string end = "dropped";  // how the session ended (metrics)

  // GCC 12 destroys some temporaries of a co_await expression twice: output is built into
  // `wbuf` by a plain statement first, and only named objects are awaited on.
  std::string wbuf;
  auto write = [&](const std::string& s) -> boost::asio::awaitable<bool> {
    auto st = co_await conn->Write(s, kWriteTimeout);
    co_return st.ok();
  };
  // The next line event; nullopt when the connection is gone or timed out (-ERR sent).
  auto next = [&]() -> boost::asio::awaitable<std::optional<LineReader::Event>> {
    for (;;) {
      LineReader::Event ev = reader->Next();
      if (ev.kind != LineReader::Event::kNeedMore) co_return ev;
      auto timeout = account_id ? limits_.idle_timeout : limits_.login_timeout;
      auto data = co_await conn->ReadSome(64 * 1024, timeout);
      if (!data.ok()) {
        if (data.status().code() == absl::StatusCode::kDeadlineExceeded) {
          end = "timeout";
          std::string bye = "-ERR Autologout; idle for too long\r\n";
          co_await conn->Write(bye, std::chrono::seconds(10));
        }
        co_return std::nullopt;
      }
      reader->Feed(*data);
    }
  };
  auto load_mechanisms = [&]() -> boost::asio::awaitable<void> {
    client.set_tls(conn->is_tls());
    mechanisms = co_await rt_.Blocking([this, &client]() -> std::string {
      av1::ListMechanismsRequest req;
      *req.mutable_client() = client;
      av1::ListMechanismsResponse resp;
      auto ctx = rpc::ContextWithDeadline(std::chrono::seconds(10));
      grpc::Status st = auth_->ListMechanisms(ctx.get(), req, &resp);
      if (!st.ok()) {
        log::Warn("pop3.mechanisms_failed").Kv("error", rpc::FromGrpc(st).message());
        return "PLAIN";  // what every client speaks; kite-auth decides at AUTH anyway
      }
      return absl::StrJoin(resp.mechanisms(), " ");
    });
  };
  auto capa = [&]() {
    std::string out = "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n";
    if (account_id == 0) {
      if (conn->is_tls()) {
        out += "USER\r\n";
        if (!mechanisms.empty()) absl::StrAppend(&out, "SASL ", mechanisms, "\r\n");
      } else if (conn->tls_available()) {
        out += "STLS\r\n";
      }
    }
    out += "IMPLEMENTATION Kite\r\n.\r\n";
    return out;
  };
  auto octets = [&]() {
    int64_t n = 0, size = 0;
    for (const auto& m : messages) {
      if (m.deleted) continue;
      ++n;
      size += m.size;
    }
    return std::pair{n, size};
  };
  // AUTHORIZATION -> TRANSACTION: the INBOX snapshot. On failure the session stays in
  // AUTHORIZATION (RFC 1939 section 4) and `wbuf` holds the -ERR.
  auto open_maildrop = [&](int64_t id, const std::string& address) -> boost::asio::awaitable<bool> {
    auto mb = co_await rt_.Blocking([this, id] { return mail_.FindMailbox(id, "INBOX"); });
    absl::StatusOr<std::vector<mailstore::Entry>> entries = std::vector<mailstore::Entry>{};
    if (mb.ok() && *mb) {
      const int64_t box = (*mb)->id;
      entries = co_await rt_.Blocking([this, id, box]() -> absl::StatusOr<std::vector<mailstore::Entry>> {
        auto opened = mail_.OpenMailbox(id, box);
        if (!opened.ok()) return opened.status();
        return std::move(opened->entries);
      });
    }
    if (!mb.ok() || !entries.ok()) {
      log::Warn("pop3.maildrop_unavailable")
          .Kv("session", sid)
          .Kv("error", !mb.ok() ? mb.status().message() : entries.status().message());
      wbuf = "-ERR [SYS/TEMP] Maildrop unavailable, try again later\r\n";
      co_return false;
    }
    account_id = id;
    account = address;
    mailbox_id = *mb ? (*mb)->id : 0;
    uidvalidity = *mb ? (*mb)->uidvalidity : 0;
    messages.clear();
    for (const auto& e : *entries) messages.push_back(Message{e.uid, e.size, false});
    auto [n, size] = octets();
    log::Info("pop3.login").Kv("session", sid).Kv("client", peer).Kv("user", account).Kv("messages", n);
    wbuf = absl::StrCat("+OK Logged in, ", n, " messages (", size, " octets)\r\n");
    co_return true;
  };
  // The message a RETR/TOP/DELE/LIST/UIDL names, or the -ERR in `wbuf`.
  auto find = [&](uint32_t n) -> Message* {
    if (n == 0 || n > messages.size()) {
      wbuf = "-ERR No such message\r\n";
      return nullptr;
    }
    if (messages[n - 1].deleted) {
      wbuf = absl::StrCat("-ERR Message ", n, " already deleted\r\n");
      return nullptr;
    }
    return &messages[n - 1];
  };

  // The -ERR for a USER/PASS or AUTH that did not authenticate (lib/sasl outcome) into
  // `wbuf`; true when it counts towards max_errors (a temporary failure does not).
  auto auth_failed = [&](const sasl::Outcome& o) -> bool {
    switch (o.result) {
      case sasl::Result::kUnavailable:
        log::Warn("pop3.auth_unavailable").Kv("session", sid).Kv("error", o.rpc_status.message());
        wbuf = "-ERR [SYS/TEMP] Authentication service unavailable, try again later\r\n";
        return false;
      case sasl::Result::kThrottled:
        wbuf = "-ERR [SYS/TEMP] Too many failed attempts, try again later\r\n";
        return true;
      case sasl::Result::kEncryptionRequired:
        wbuf = "-ERR [AUTH] Encryption required\r\n";
        return true;
      case sasl::Result::kUnsupportedMechanism:
        wbuf = "-ERR Unsupported authentication mechanism\r\n";
        return true;
      case sasl::Result::kMalformed:
        wbuf = "-ERR Malformed authentication data\r\n";
        return true;
      case sasl::Result::kBadInitialResponse:
        wbuf = "-ERR Invalid base64 in initial response\r\n";
        return true;
      case sasl::Result::kBadResponse:
      case sasl::Result::kResponseUnreadable:
        wbuf = "-ERR Invalid base64 in authentication response\r\n";
        return true;
      case sasl::Result::kResponseTooLong:
        wbuf = "-ERR Authentication line too long\r\n";
        return true;
      case sasl::Result::kCancelled:
        wbuf = "-ERR Authentication cancelled\r\n";
        return true;
      case sasl::Result::kTooManySteps:
        wbuf = "-ERR Too many authentication steps\r\n";
        return true;
      case sasl::Result::kOk:
      case sasl::Result::kDisconnected:
      case sasl::Result::kInvalidCredentials:
      case sasl::Result::kAuthError:
        break;
    }
    wbuf = "-ERR [AUTH] Authentication failed\r\n";
    return true;
  };

  if (conn->is_tls()) co_await load_mechanisms();
  log::Info("pop3.connect").Kv("session", sid).Kv("client", peer).Kv("tls", conn->is_tls());
  wbuf = "+OK Kite POP3 ready\r\n";
  if (!co_await write(wbuf)) co_return;

  while (!rt_.stopping()) {
    std::optional<LineReader::Event> ev = co_await next();
    if (!ev) break;
    bool client_error = false;  // counts towards max_errors
    std::string name = "invalid";
    if (ev->kind == LineReader::Event::kFatal) {
      log::Warn("pop3.line_too_long").Kv("session", sid).Kv("client", peer);
      wbuf = "-ERR Line too long, closing connection\r\n";
      co_await write(wbuf);
      end = "errors";
      break;
    }
    absl::StatusOr<Command> parsed = absl::InvalidArgumentError("Line too long");
    if (ev->kind == LineReader::Event::kLine) parsed = ParseCommand(ev->line);
    if (!parsed.ok()) {
      log::Info("pop3.bad_command").Kv("session", sid).Kv("error", parsed.status().message());
      wbuf = absl::StrCat("-ERR ", parsed.status().message(), "\r\n");
      client_error = true;
    } else {
      const Command& cmd = *parsed;
      name = cmd.name;
      const bool transaction = account_id != 0;
      const bool auth_command = cmd.verb == Verb::kUser || cmd.verb == Verb::kPass || cmd.verb == Verb::kApop ||
                                cmd.verb == Verb::kAuth || cmd.verb == Verb::kStls;
      const bool transaction_command = !auth_command && cmd.verb != Verb::kCapa && cmd.verb != Verb::kQuit;
      if (transaction && auth_command) {
        wbuf = "-ERR Already logged in\r\n";
        client_error = true;
      } else if (!transaction && transaction_command) {
        wbuf = "-ERR Not logged in\r\n";
        client_error = true;
      } else {
        switch (cmd.verb) {
          case Verb::kCapa:
            wbuf = capa();
            break;
          case Verb::kQuit: {
            if (!transaction) {
              wbuf = "+OK Kite POP3 signing off\r\n";
              end = "quit";
              co_await write(wbuf);
              commands_.Add({{"command", "QUIT"}, {"result", "+OK"}}).Increment();
              sessions_.Add({{"end", end}}).Increment();
              co_return;
            }
            // RFC 1939 section 6: the UPDATE state. Only here are messages removed.
            std::vector<int64_t> uids;
            for (const auto& m : messages) {
              if (m.deleted) uids.push_back(m.uid);
            }
            absl::StatusOr<std::vector<int64_t>> removed = std::vector<int64_t>{};
            if (!uids.empty() && mailbox_id != 0) {
              const int64_t id = account_id, box = mailbox_id;
              removed = co_await rt_.Blocking([this, id, box, &uids]() -> absl::StatusOr<std::vector<int64_t>> {
                auto r = mail_.Expunge(id, box, uids);
                if (!r.ok()) return r.status();
                return std::move(r->uids);
              });
              if (removed.ok() && !removed->empty()) {
                messages_.Add({{"action", "deleted"}}).Increment(static_cast<double>(removed->size()));
                co_await rt_.Blocking([this, id, box] { NotifyExpunge(id, box); });
              }
            }
            if (!removed.ok()) {
              log::Warn("pop3.expunge_failed").Kv("session", sid).Kv("user", account).Kv("error", removed.status().message());
              wbuf = "-ERR [SYS/TEMP] Some deleted messages not removed\r\n";
              end = "update_failed";
            } else {
              log::Info("pop3.logout")
                  .Kv("session", sid)
                  .Kv("user", account)
                  .Kv("deleted", static_cast<int64_t>(uids.size()))
                  .Kv("removed", static_cast<int64_t>(removed->size()));
              wbuf = absl::StrCat("+OK Kite POP3 signing off (", octets().first, " messages left)\r\n");
              end = "quit";
            }
            co_await write(wbuf);
            commands_.Add({{"command", "QUIT"}, {"result", wbuf.substr(0, wbuf.find(' '))}}).Increment();
            sessions_.Add({{"end", end}}).Increment();
            co_return;
          }
          case Verb::kStls:
            if (conn->is_tls()) {
              wbuf = "-ERR TLS already active\r\n";
              client_error = true;
            } else if (!conn->tls_available()) {
              wbuf = "-ERR TLS not available\r\n";
            } else {
              wbuf = "+OK Begin TLS negotiation\r\n";
              if (!co_await write(wbuf)) co_return;
              if (auto s = co_await conn->StartTls(std::chrono::seconds(30)); !s.ok()) {
                log::Info("pop3.tls_failed").Kv("session", sid).Kv("client", peer).Kv("error", s.message());
                sessions_.Add({{"end", "tls_failed"}}).Increment();
                co_return;
              }
              if (reader->buffered() > 0 || conn->HadBufferedInput()) {
                log::Warn("pop3.stls_injection").Kv("session", sid).Kv("client", peer);
              }
              reader = std::make_unique<LineReader>();  // RFC 2595: forget plaintext pipelined behind STLS
              user.clear();
              co_await load_mechanisms();
              commands_.Add({{"command", "STLS"}, {"result", "+OK"}}).Increment();
              continue;  // the +OK was the answer
            }
            break;
          case Verb::kApop:
            wbuf = "-ERR APOP is not supported\r\n";
            client_error = true;
            break;
          case Verb::kUser:
            if (!conn->is_tls()) {
              wbuf = "-ERR [AUTH] Plaintext authentication is disabled, use STLS first\r\n";
              client_error = true;
            } else {
              user = cmd.text;
              wbuf = "+OK Send PASS\r\n";
            }
            break;
          case Verb::kPass: {
            if (!conn->is_tls()) {
              wbuf = "-ERR [AUTH] Plaintext authentication is disabled, use STLS first\r\n";
              client_error = true;
              break;
            }
            if (user.empty()) {
              wbuf = "-ERR USER first\r\n";
              client_error = true;
              break;
            }
            const std::string username = std::move(user);
            user.clear();
            client.set_tls(true);
            sasl::GrpcAuthClient auth(rt_, *auth_, client, std::chrono::seconds(30));
            sasl::Outcome verdict = co_await sasl::CheckPassword(auth, username, cmd.text);
            std::string outcome(sasl::Label(verdict.result));
            if (verdict.result == sasl::Result::kOk) {
              const int64_t id = verdict.identity.account_id;
              const std::string address = verdict.identity.address;
              const bool opened = co_await open_maildrop(id, address);
              outcome = opened ? "ok" : "maildrop_unavailable";
            } else {
              client_error = auth_failed(verdict);
            }
            logins_.Add({{"method", "USER"}, {"result", outcome}}).Increment();
            log::Info("pop3.auth")
                .Kv("session", sid)
                .Kv("client", peer)
                .Kv("method", "USER")
                .Kv("user", log::Truncate(username, 100))
                .Kv("result", outcome);
            break;
          }
          case Verb::kAuth: {
            if (!conn->is_tls()) {
              wbuf = "-ERR [AUTH] Authentication requires TLS, use STLS first\r\n";
              client_error = true;
              break;
            }
            if (cmd.mechanism.empty()) {
              // The mechanism list of RFC 1734 clients (RFC 5034 uses CAPA's SASL line).
              wbuf = "+OK\r\n";
              for (const auto& m : absl::StrSplit(mechanisms, ' ', absl::SkipEmpty())) absl::StrAppend(&wbuf, m, "\r\n");
              wbuf += ".\r\n";
              break;
            }
            // RFC 5034 section 4: "+ <base64>" challenges, one base64 line per response, "*"
            // cancels; the initial response "=" is an empty one (lib/sasl).
            client.set_tls(true);
            sasl::GrpcAuthClient auth(rt_, *auth_, client, std::chrono::seconds(30));
            std::optional<std::string_view> initial_response;
            if (cmd.initial_response) initial_response = *cmd.initial_response;
            sasl::Exchange exchange(cmd.mechanism, initial_response);
            sasl::Framing framing;
            framing.send_challenge = [&](const std::string& challenge) -> boost::asio::awaitable<bool> {
              wbuf = absl::StrCat("+ ", challenge, "\r\n");
              const bool written = co_await write(wbuf);
              co_return written;
            };
            framing.read_response = [&]() -> boost::asio::awaitable<sasl::Response> {
              std::optional<LineReader::Event> answer = co_await next();
              sasl::Response response;
              if (!answer || answer->kind == LineReader::Event::kFatal) co_return response;
              if (answer->kind == LineReader::Event::kTooLong) {
                response.kind = sasl::Response::Kind::kTooLong;
              } else {
                response.kind = sasl::Response::Kind::kLine;
                response.text = std::move(answer->line);
              }
              co_return response;
            };
            sasl::Outcome verdict = co_await sasl::Run(auth, framing, exchange);
            if (verdict.result == sasl::Result::kDisconnected) co_return;
            std::string outcome(sasl::Label(verdict.result));
            if (verdict.result == sasl::Result::kOk) {
              const int64_t id = verdict.identity.account_id;
              const std::string address = verdict.identity.address;
              const bool opened = co_await open_maildrop(id, address);
              outcome = opened ? "ok" : "maildrop_unavailable";
            } else {
              client_error = auth_failed(verdict);
            }
            logins_.Add({{"method", "SASL"}, {"result", outcome}}).Increment();
            log::Info("pop3.auth")
                .Kv("session", sid)
                .Kv("client", peer)
                .Kv("method", log::Truncate(cmd.mechanism, 20))
                .Kv("user", account)
                .Kv("result", outcome);
            break;
          }
          case Verb::kNoop:
            wbuf = "+OK\r\n";
            break;
          case Verb::kStat: {
            auto [n, size] = octets();
            wbuf = absl::StrCat("+OK ", n, " ", size, "\r\n");
            break;
          }
          case Verb::kList:
          case Verb::kUidl: {
            const bool uidl = cmd.verb == Verb::kUidl;
            auto item = [&](size_t i) {
              return uidl ? absl::StrCat(i + 1, " ", uidvalidity, ".", messages[i].uid)
                          : absl::StrCat(i + 1, " ", messages[i].size);
            };
            if (cmd.msg != 0) {
              if (find(cmd.msg) != nullptr) wbuf = absl::StrCat("+OK ", item(cmd.msg - 1), "\r\n");
              break;
            }
            auto [n, size] = octets();
            wbuf = uidl ? std::string("+OK Unique-ID listing follows\r\n")
                        : absl::StrCat("+OK ", n, " messages (", size, " octets)\r\n");
            for (size_t i = 0; i < messages.size(); ++i) {
              if (!messages[i].deleted) absl::StrAppend(&wbuf, item(i), "\r\n");
            }
            wbuf += ".\r\n";
            break;
          }
          case Verb::kRetr:
          case Verb::kTop: {
            Message* m = find(cmd.msg);
            if (m == nullptr) break;
            const int64_t id = account_id, box = mailbox_id, uid = m->uid;
            auto body = co_await rt_.Blocking([this, id, box, uid]() -> absl::StatusOr<std::string> {
              auto loaded = mail_.LoadMessages(id, box, {uid}, /*body=*/true, /*structure=*/false);
              if (!loaded.ok()) return loaded.status();
              if (loaded->empty()) return absl::NotFoundError("no such message");
              return std::move(loaded->front().body);
            });
            if (!body.ok()) {
              if (body.status().code() == absl::StatusCode::kNotFound) {
                wbuf = "-ERR Message no longer exists\r\n";
              } else {
                log::Warn("pop3.store_failed").Kv("session", sid).Kv("error", body.status().message());
                wbuf = absl::StrCat(kUnavailable, "\r\n");
              }
              break;
            }
            if (cmd.verb == Verb::kTop) {
              wbuf = absl::StrCat("+OK\r\n", EncodeTop(*body, cmd.lines));
              break;
            }
            // The listed size is the stored one; should the store ever hold a message whose
            // line endings are not CRLF, from now on LIST says what RETR sends.
            const int64_t size = static_cast<int64_t>(OctetSize(*body));
            if (size != m->size) {
              log::Info("pop3.size_adjusted").Kv("session", sid).Kv("listed", m->size).Kv("sent", size);
              m->size = size;
            }
            wbuf = absl::StrCat("+OK ", size, " octets\r\n", EncodeMultiline(*body));
            messages_.Add({{"action", "retrieved"}}).Increment();
            // RFC 1939 leaves flags alone; IMAP users see downloaded mail as read (Dovecot).
            co_await rt_.Blocking([this, id, box, uid] {
              mail_.StoreFlags(id, box, {uid}, mailstore::FlagOp::kAdd, {"\\Seen"}).IgnoreError();
            });
            break;
          }
          case Verb::kDele: {
            Message* m = find(cmd.msg);
            if (m == nullptr) break;
            m->deleted = true;
            wbuf = absl::StrCat("+OK Message ", cmd.msg, " deleted\r\n");
            break;
          }
          case Verb::kRset: {
            for (auto& m : messages) m.deleted = false;
            auto [n, size] = octets();
            wbuf = absl::StrCat("+OK Maildrop has ", n, " messages (", size, " octets)\r\n");
            break;
          }
        }
      }
    }
    const bool too_many = client_error && ++errors >= limits_.max_errors;
    if (too_many) {
      // The answer still comes first; then the session ends (like Postfix's error limit).
      wbuf.insert(wbuf.size() - 2, "; too many errors, closing connection");
      log::Warn("pop3.too_many_errors").Kv("session", sid).Kv("client", peer);
    }
    commands_.Add({{"command", name}, {"result", wbuf.substr(0, wbuf.find_first_of(" \r"))}}).Increment();
    if (!co_await write(wbuf)) break;
    if (too_many) {
      end = "errors";
      break;
    }
  }
  if (rt_.stopping() && end == "dropped") {
    end = "shutdown";
    wbuf = "-ERR [SYS/TEMP] Server shutting down\r\n";
    co_await write(wbuf);
  }
  if (account_id != 0) {
    // No UPDATE state: messages marked with DELE stay (RFC 1939 section 6).
    int64_t marked = 0;
    for (const auto& m : messages) marked += m.deleted ? 1 : 0;
    log::Info("pop3.disconnect").Kv("session", sid).Kv("user", account).Kv("reason", end).Kv("kept_marked", marked);
  }
  sessions_.Add({{"end", end}}).Increment();
}

}  // namespace kite::pop3
