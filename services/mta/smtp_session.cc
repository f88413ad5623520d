#include "mta/smtp_session.h"

#include <sys/random.h>

#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/log/log.h"
#include "lib/rpc/rpc.h"
#include "lib/smtp/command.h"
#include "lib/smtp/data_reader.h"

namespace kite::mta {
namespace {

namespace dv1 = kite::directory::v1;
using smtp::Reply;
using smtp::Verb;

// RFC 5322 date for the Received header.
std::string Rfc5322Now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string SessionId() {
  unsigned char b[6];
  if (getrandom(b, sizeof b, 0) != sizeof b) return "000000000000";
  return absl::StrFormat("%02X%02X%02X%02X%02X%02X", b[0], b[1], b[2], b[3], b[4], b[5]);
}

// Removes the line terminator; commands are accepted with CRLF or a bare LF (clients in
// the wild), unlike DATA where only CRLF counts.
std::string_view StripEol(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

Server::Server(daemon::Runtime& rt, store::Pool& pool, redis::Options redis_options,
               std::shared_ptr<dv1::Directory::Stub> directory, Limits limits)
    : replies(rt.metrics().Counter("kite_smtp_replies_total", "SMTP replies by code class and command")),
      accepted(rt.metrics().Counter("kite_smtp_messages_accepted_total", "Messages committed to the spool").Add({})),
      accepted_bytes(rt.metrics().Counter("kite_smtp_accepted_bytes_total", "Bytes of messages committed").Add({})),
      commit_seconds(rt.metrics()
                         .Histogram("kite_smtp_spool_commit_seconds", "Time to commit a message to the spool")
                         .Add({}, metrics::Metrics::LatencyBuckets())),
      rt_(rt),
      pool_(pool),
      redis_options_(std::move(redis_options)),
      directory_(std::move(directory)),
      limits_(limits),
      hostname_(rt.config().String("global", "hostname")) {}

void Server::Enqueue(int64_t spool_id, const std::vector<queue::Recipient>& recipients) {
  std::lock_guard lock(redis_mu_);
  if (!redis_) {
    auto c = redis::Client::Connect(redis_options_);
    if (!c.ok()) {
      log::Warn("smtp.enqueue_deferred").Kv("spool_id", spool_id).Kv("error", c.status().message());
      return;
    }
    redis_ = std::move(*c);
  }
  if (auto s = queue::Enqueue(*redis_, pool_, spool_id, recipients); !s.ok()) {
    log::Warn("smtp.enqueue_deferred").Kv("spool_id", spool_id).Kv("error", s.message());
  }
}

boost::asio::awaitable<void> Server::Session(std::shared_ptr<net::Connection> conn) {
  const std::string sid = SessionId();
  const std::string client = conn->peer_address();
  std::string helo;
  bool esmtp = false;
  bool have_mail = false;
  std::string mail_from;
  bool smtputf8 = false;
  std::vector<queue::Recipient> rcpts;
  int errors = 0;
  log::Info("smtp.connect").Kv("session", sid).Kv("client", client).Kv("tls", conn->is_tls());

  // GCC 12 destroys some temporaries of a co_await expression twice: replies are built
  // into `pending` by a plain statement first, and only named objects are awaited on.
  Reply pending;
  std::string wire;
  auto send = [&](const Reply& r, const char* cmd) -> boost::asio::awaitable<bool> {
    replies.Add({{"class", absl::StrCat(r.code / 100, "xx")}, {"command", cmd}}).Increment();
    wire = r.Format();
    auto s = co_await conn->Write(wire, limits_.command_timeout);
    co_return s.ok();
  };
  auto reset = [&] {
    have_mail = false;
    mail_from.clear();
    smtputf8 = false;
    rcpts.clear();
  };
  // Counts a client error; true when the session must end (421 was sent).
  auto error = [&]() -> boost::asio::awaitable<bool> {
    if (++errors < limits_.max_errors) co_return false;
    log::Warn("smtp.too_many_errors").Kv("session", sid).Kv("client", client);
    pending = Reply{421, "4.7.0", absl::StrCat(hostname_, " Error: too many errors")};
    co_await send(pending, "error");
    co_return true;
  };

  pending = Reply{220, "", absl::StrCat(hostname_, " ESMTP Kite")};
  if (!co_await send(pending, "greeting")) co_return;

  while (!rt_.stopping()) {
    auto line = co_await conn->ReadLine(smtp::kMaxCommandLength, limits_.command_timeout);
    if (!line.ok()) {
      if (line.status().code() == absl::StatusCode::kOutOfRange) {
        pending = Reply{500, "5.5.2", "Error: line too long"};
        co_await send(pending, "error");
        if (co_await error()) co_return;
        continue;
      }
      if (line.status().code() == absl::StatusCode::kDeadlineExceeded) {
        pending = Reply{421, "4.4.2", absl::StrCat(hostname_, " Error: timeout exceeded")};
        co_await send(pending, "timeout");
      }
      log::Info("smtp.disconnect").Kv("session", sid).Kv("client", client).Kv("reason", line.status().message());
      co_return;
    }
    auto cmd = smtp::ParseCommand(StripEol(*line));
    if (!cmd.ok()) {
      log::Info("smtp.bad_command").Kv("session", sid).Kv("line", log::Truncate(StripEol(*line), 100));
      pending = smtp::ErrorReply(cmd.status());
      if (!co_await send(pending, "error")) co_return;
      if (co_await error()) co_return;
      continue;
    }
    switch (cmd->verb) {
      case Verb::kEhlo:
      case Verb::kHelo: {
        if (cmd->argument.empty()) {
          pending = Reply{501, "5.5.4", "Syntax: EHLO hostname"};
          co_await send(pending, "ehlo");
          if (co_await error()) co_return;
          break;
        }
        helo = cmd->argument;
        esmtp = cmd->verb == Verb::kEhlo;
        reset();
        if (!esmtp) {
          pending = Reply{250, "", hostname_};
          if (!co_await send(pending, "helo")) co_return;
          break;
        }
        std::string text = absl::StrCat(hostname_, "\nPIPELINING\nSIZE ", limits_.max_message_size,
                                         "\n8BITMIME\nENHANCEDSTATUSCODES\nSMTPUTF8");
        if (conn->tls_available() && !conn->is_tls()) absl::StrAppend(&text, "\nSTARTTLS");
        Reply r{250, "", text};
        pending = r;
        if (!co_await send(pending, "ehlo")) co_return;
        break;
      }
      case Verb::kStartTls: {
        if (conn->is_tls() || !conn->tls_available()) {
          pending = Reply{503, "5.5.1", "Error: TLS already active or not available"};
          co_await send(pending, "starttls");
          if (co_await error()) co_return;
          break;
        }
        pending = Reply{220, "2.0.0", "Ready to start TLS"};
        if (!co_await send(pending, "starttls")) co_return;
        if (auto s = co_await conn->StartTls(limits_.command_timeout); !s.ok()) {
          log::Info("smtp.tls_failed").Kv("session", sid).Kv("client", client).Kv("error", s.message());
          co_return;
        }
        // RFC 3207 4.2: forget everything learnt before TLS.
        helo.clear();
        esmtp = false;
        reset();
        break;
      }
      case Verb::kMail: {
        if (helo.empty()) {
          pending = Reply{503, "5.5.1", "Error: send HELO/EHLO first"};
          co_await send(pending, "mail");
          if (co_await error()) co_return;
          break;
        }
        if (have_mail) {
          pending = Reply{503, "5.5.1", "Error: nested MAIL command"};
          co_await send(pending, "mail");
          if (co_await error()) co_return;
          break;
        }
        if (const std::string* size = cmd->Param("SIZE")) {
          uint64_t n = 0;
          if (absl::SimpleAtoi(*size, &n) && n > limits_.max_message_size) {
            pending = Reply{552, "5.3.4", "Message size exceeds fixed limit"};
            co_await send(pending, "mail");
            break;
          }
        }
        if (!esmtp && !cmd->params.empty()) {
          pending = Reply{555, "5.5.4", "Parameters need EHLO"};
          co_await send(pending, "mail");
          if (co_await error()) co_return;
          break;
        }
        have_mail = true;
        mail_from = smtp::NormalizeAddress(cmd->address);
        smtputf8 = cmd->Param("SMTPUTF8") != nullptr;
        pending = Reply{250, "2.1.0", "Ok"};
        if (!co_await send(pending, "mail")) co_return;
        break;
      }
      case Verb::kRcpt: {
        if (!have_mail) {
          pending = Reply{503, "5.5.1", "Error: need MAIL command"};
          co_await send(pending, "rcpt");
          if (co_await error()) co_return;
          break;
        }
        if (cmd->utf8_address && !smtputf8) {
          pending = Reply{553, "5.6.7", "Non-ASCII address needs SMTPUTF8 on MAIL"};
          co_await send(pending, "rcpt");
          break;
        }
        if (static_cast<int>(rcpts.size()) >= limits_.max_recipients) {
          pending = Reply{452, "4.5.3", "Error: too many recipients"};
          co_await send(pending, "rcpt");
          break;
        }
        std::string addr = smtp::NormalizeAddress(cmd->address);
        if (addr.find('@') == std::string::npos) {
          // RFC 5321 4.5.1 wants Postmaster without a domain accepted; it is routed to the
          // primary domain once the directory knows one (not yet).
          pending = Reply{550, "5.1.1", absl::StrCat("<", addr, ">: Recipient address rejected: User unknown")};
          co_await send(pending, "rcpt");
          break;
        }
        dv1::ResolveRecipientRequest req;
        req.set_address(addr);
        auto resolved = co_await rt_.Blocking([this, &req]() -> absl::StatusOr<dv1::ResolveRecipientResponse> {
          dv1::ResolveRecipientResponse resp;
          auto ctx = rpc::ContextWithDeadline(std::chrono::seconds(10));
          grpc::Status st = directory_->ResolveRecipient(ctx.get(), req, &resp);
          if (!st.ok()) return rpc::FromGrpc(st);
          return resp;
        });
        if (!resolved.ok()) {
          log::Warn("smtp.lookup_failed").Kv("session", sid).Kv("error", resolved.status().message());
          pending = Reply{451, "4.3.0", "Temporary lookup failure, try again later"};
          if (!co_await send(pending, "rcpt")) co_return;
          break;
        }
        Reply r;
        switch (resolved->kind()) {
          case dv1::RECIPIENT_KIND_ACCOUNT:
          case dv1::RECIPIENT_KIND_SHARED_MAILBOX:
          case dv1::RECIPIENT_KIND_RESOURCE:
          case dv1::RECIPIENT_KIND_ALIAS:
            // One local mailbox: filed under the address the client gave (canonical form),
            // which keeps (spool id, recipient) unique. Aliases that forward elsewhere need
            // the outbound relay and fall through to "not supported yet".
            if (resolved->account_ids_size() == 1 && resolved->forward_to_size() == 0) {
              rcpts.push_back({resolved->canonical(), true, resolved->account_ids(0)});
              r = {250, "2.1.5", "Ok"};
            } else if (resolved->kind() == dv1::RECIPIENT_KIND_ALIAS) {
              r = {450, "4.3.2", absl::StrCat("<", addr, ">: Forwarding aliases are not supported yet")};
            } else {
              r = {451, "4.3.0", "Temporary lookup failure"};
            }
            break;
          case dv1::RECIPIENT_KIND_UNKNOWN_LOCAL:
            r = {550, "5.1.1", absl::StrCat("<", addr, ">: Recipient address rejected: User unknown")};
            break;
          case dv1::RECIPIENT_KIND_DISABLED:
            r = {550, "5.2.1", absl::StrCat("<", addr, ">: Recipient address rejected: Mailbox disabled")};
            break;
          case dv1::RECIPIENT_KIND_REMOTE:
            r = {554, "5.7.1", absl::StrCat("<", addr, ">: Relay access denied")};
            break;
          default:
            // Lists are expanded by kite-delivery (not yet): refuse now rather than accept
            // mail that could not be filed.
            r = {450, "4.3.2", absl::StrCat("<", addr, ">: Recipient type not supported yet")};
            break;
        }
        log::Info("smtp.rcpt").Kv("session", sid).Kv("rcpt", log::Truncate(addr, 320)).Kv("code", r.code);
        pending = r;
        if (!co_await send(pending, "rcpt")) co_return;
        break;
      }
      case Verb::kData: {
        if (!have_mail || rcpts.empty()) {
          pending = Reply{have_mail ? 554 : 503, "5.5.1", "Error: no valid recipients"};
          co_await send(pending, "data");
          if (co_await error()) co_return;
          break;
        }
        pending = Reply{354, "", "End data with <CR><LF>.<CR><LF>"};
        if (!co_await send(pending, "data")) co_return;
        smtp::DataReader reader(limits_.max_message_size);
        // Lines end at LF, and the terminating ".\r\n" is a whole line, so the reader never
        // consumes past the end of data: pipelined commands stay in the connection.
        bool line_too_long = false;
        while (reader.state() == smtp::DataReader::State::kNeedMore) {
          auto data = co_await conn->ReadLine(1 << 20, limits_.data_timeout);
          if (!data.ok()) {
            if (data.status().code() == absl::StatusCode::kOutOfRange) {
              line_too_long = true;  // the line was skipped; keep looking for the end
              continue;
            }
            if (data.status().code() == absl::StatusCode::kDeadlineExceeded) {
              pending = Reply{421, "4.4.2", absl::StrCat(hostname_, " Error: timeout exceeded")};
              co_await send(pending, "data");
            }
            log::Info("smtp.data_aborted").Kv("session", sid).Kv("client", client).Kv("error", data.status().message());
            co_return;
          }
          reader.Feed(*data);
        }
        Reply r;
        if (reader.state() == smtp::DataReader::State::kTooBig) {
          r = {552, "5.3.4", "Error: message size exceeds fixed limit"};
        } else if (reader.state() == smtp::DataReader::State::kBareLineEnding) {
          r = {550, "5.6.11", "Error: bare CR or LF in message; use CRLF line endings (RFC 5321 2.3.8)"};
        } else if (line_too_long) {
          r = {552, "5.3.4", "Error: message line too long"};
        } else {
          std::string received = absl::StrCat(
              "Received: from ", helo, " (", client, ")\r\n\tby ", hostname_, " (Kite) with ",
              smtputf8 ? "UTF8" : "", esmtp ? "ESMTP" : "SMTP", conn->is_tls() ? "S" : "", " id ", sid,
              conn->is_tls() ? absl::StrCat("\r\n\t(using ", conn->tls_version(), " with cipher ", conn->tls_cipher(), ")") : "",
              rcpts.size() == 1 ? absl::StrCat("\r\n\tfor <", rcpts[0].address, ">") : "", ";\r\n\t", Rfc5322Now(), "\r\n");
          std::string body = received + reader.TakeMessage();
          queue::Envelope env{mail_from, helo, client, "", "mta", rcpts};
          auto start = std::chrono::steady_clock::now();
          auto spool_id = co_await rt_.Blocking([this, &env, &body] { return queue::Spool(pool_, env, body); });
          if (!spool_id.ok()) {
            log::Error("smtp.spool_failed").Kv("session", sid).Kv("error", spool_id.status().message());
            r = {451, "4.3.0", "Error: temporary failure storing the message, try again later"};
          } else {
            commit_seconds.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
            accepted.Increment();
            accepted_bytes.Increment(static_cast<double>(body.size()));
            log::Info("smtp.accepted").Kv("session", sid).Kv("spool_id", *spool_id).Kv("from", log::Truncate(mail_from, 320))
                .Kv("rcpts", rcpts.size()).Kv("size", body.size());
            r = {250, "2.0.0", absl::StrCat("Ok: queued as ", *spool_id)};
            auto queued = rcpts;
            int64_t id = *spool_id;
            // The message is durable; putting it on the stream may lag, never lose it.
            co_await rt_.Blocking([this, id, &queued] { Enqueue(id, queued); });
          }
        }
        reset();
        pending = r;
        if (!co_await send(pending, "data")) co_return;
        break;
      }
      case Verb::kRset:
        reset();
        pending = Reply{250, "2.0.0", "Ok"};
        if (!co_await send(pending, "rset")) co_return;
        break;
      case Verb::kNoop:
        pending = Reply{250, "2.0.0", "Ok"};
        if (!co_await send(pending, "noop")) co_return;
        break;
      case Verb::kQuit:
        pending = Reply{221, "2.0.0", "Bye"};
        co_await send(pending, "quit");
        log::Info("smtp.disconnect").Kv("session", sid).Kv("client", client).Kv("reason", "quit");
        co_return;
      case Verb::kVrfy:
      case Verb::kExpn:
        pending = Reply{252, "2.5.0", "Cannot verify the user, but will accept the message and attempt delivery"};
        if (!co_await send(pending, "vrfy"))
          co_return;
        break;
      case Verb::kHelp:
        pending = Reply{214, "2.0.0", "See RFC 5321: https://www.rfc-editor.org/rfc/rfc5321"};
        if (!co_await send(pending, "help")) co_return;
        break;
      case Verb::kAuth:
        pending = Reply{503, "5.5.1", "Error: authentication not enabled on this port (use submission)"};
        co_await send(pending, "auth");
        if (co_await error()) co_return;
        break;
      case Verb::kBdat:
      case Verb::kUnknown:
        pending = Reply{502, "5.5.1", "Error: command not implemented"};
        co_await send(pending, "unknown");
        if (co_await error()) co_return;
        break;
    }
  }
  pending = Reply{421, "4.3.2", absl::StrCat(hostname_, " Service shutting down")};
  co_await send(pending, "shutdown");
}

}  // namespace kite::mta
