#include "smtp_server/smtp_session.h"

#include <sys/random.h>

#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "lib/base/strings.h"
#include "lib/dkim/dkim.h"
#include "lib/log/log.h"
#include "lib/rpc/rpc.h"
#include "lib/sasl/driver.h"
#include "lib/sasl/grpc_auth_client.h"
#include "lib/smtp/bdat_reader.h"
#include "lib/smtp/command.h"
#include "lib/smtp/data_reader.h"
#include "lib/smtp/header_from.h"
#include "lib/smtp/originator_fields.h"
#include "smtp_server/bdat_chunk.h"

namespace kite::smtp_server {
namespace {

namespace dv1 = kite::directory::v1;
namespace av1 = kite::auth::v1;
// DATA is read in chunks of this size; a line longer than kMaxDataLine fails the message
// with 552 5.3.4 (RFC 5321 4.5.3.1.6 asks for 1000; real mail exceeds that, so be lenient).
constexpr size_t kDataChunk = 64 * 1024;
constexpr size_t kMaxDataLine = 1 << 20;
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

// 32 hex digits from the kernel's random source: the local part of a generated Message-ID.
std::string RandomToken() {
  unsigned char b[16];
  if (getrandom(b, sizeof b, 0) != sizeof b) return absl::StrCat(absl::ToUnixNanos(absl::Now()));
  std::string out;
  for (unsigned char c : b) absl::StrAppend(&out, absl::Hex(c, absl::kZeroPad2));
  return out;
}

// The `service` label of the kite_smtp_* metrics: both daemons share them.
std::string ServiceLabel(Mode mode) { return mode == Mode::kSubmission ? "submission" : "mta"; }

}  // namespace

Server::Server(daemon::Runtime& rt, Mode mode, store::Pool& pool, redis::Options redis_options,
               std::shared_ptr<dv1::Directory::Stub> directory, std::shared_ptr<av1::Auth::Stub> auth, Limits limits)
    : replies(rt.metrics().Counter("kite_smtp_replies_total", "SMTP replies by code class and command")),
      accepted(rt.metrics()
                   .Counter("kite_smtp_messages_accepted_total", "Messages committed to the spool")
                   .Add({{"service", ServiceLabel(mode)}})),
      accepted_bytes(rt.metrics()
                         .Counter("kite_smtp_accepted_bytes_total", "Bytes of messages committed")
                         .Add({{"service", ServiceLabel(mode)}})),
      commit_seconds(rt.metrics()
                         .Histogram("kite_smtp_spool_commit_seconds", "Time to commit a message to the spool")
                         .Add({{"service", ServiceLabel(mode)}}, metrics::Metrics::LatencyBuckets())),
      auth_results(rt.metrics().Counter("kite_smtp_auth_total", "SMTP AUTH attempts by outcome")),
      dkim_signed(rt.metrics().Counter("kite_smtp_dkim_signed_total", "DKIM signatures added, by algorithm")),
      rt_(rt),
      pool_(pool),
      redis_options_(std::move(redis_options)),
      directory_(std::move(directory)),
      auth_(std::move(auth)),
      mode_(mode),
      limits_(limits),
      hostname_(rt.config().String("global", "hostname")),
      dkim_keys_(pool, limits.dkim_key_cache),
      policies_(std::make_unique<Policies>(rt, ServiceLabel(mode), redis_options_)) {}

std::string Server::DkimSignatures(const std::string& message, const std::string& from_domain, const std::string& sid) {
  auto keys = dkim_keys_.ForDomain(from_domain);
  if (!keys.ok()) {
    log::Error("dkim.key_lookup_failed").Kv("session", sid).Kv("domain", log::Truncate(from_domain, 255))
        .Kv("error", keys.status().message());
    return "";
  }
  if (keys->empty()) {
    log::Info("dkim.no_key").Kv("session", sid).Kv("domain", log::Truncate(from_domain, 255));
    return "";
  }
  std::string out;
  for (const DkimKey& key : *keys) {
    dkim::SignOptions opts;
    opts.domain = key.domain;
    opts.selector = key.selector;
    opts.private_key_pem = key.private_key_pem;
    opts.timestamp = absl::Now();
    auto sig = dkim::Sign(message, opts);
    if (!sig.ok()) {
      log::Error("dkim.sign_failed").Kv("session", sid).Kv("domain", key.domain).Kv("selector", key.selector)
          .Kv("error", sig.status().message());
      continue;
    }
    const char* algorithm = key.algorithm == "ed25519" ? "ed25519-sha256" : "rsa-sha256";
    dkim_signed.Add({{"service", ServiceLabel(mode_)}, {"algorithm", algorithm}}).Increment();
    log::Info("dkim.signed").Kv("session", sid).Kv("domain", key.domain).Kv("selector", key.selector)
        .Kv("algorithm", algorithm);
    absl::StrAppend(&out, *sig);
  }
  return out;
}

void Server::Enqueue(int64_t spool_id, const std::vector<queue::Recipient>& recipients) {
  absl::Status error;
  std::vector<std::string> added;
  {
    // One Redis connection for the daemon: held only for the XADDs, never across SQL.
    std::lock_guard lock(redis_mu_);
    if (!redis_) {
      auto c = redis::Client::Connect(redis_options_);
      if (!c.ok()) {
        log::Warn("smtp.enqueue_deferred").Kv("spool_id", spool_id).Kv("error", c.status().message());
        return;  // enqueued_at stays NULL: the reconciler's next pass enqueues them
      }
      redis_ = std::move(*c);
    }
    added = queue::AddEntries(*redis_, spool_id, recipients, &error);
  }
  if (auto s = queue::MarkEnqueued(pool_, spool_id, added); !s.ok() && error.ok()) error = s;
  if (!error.ok()) log::Warn("smtp.enqueue_deferred").Kv("spool_id", spool_id).Kv("error", error.message());
}

absl::Status Server::CheckSender(int64_t account_id, const std::string& address, dv1::SenderCheckResponse* out) {
  dv1::SenderCheckRequest req;
  req.set_account_id(account_id);
  req.set_from_address(address);
  out->Clear();
  auto ctx = rpc::ContextWithDeadline(std::chrono::seconds(10));
  grpc::Status st = directory_->CheckSender(ctx.get(), req, out);
  return st.ok() ? absl::OkStatus() : rpc::FromGrpc(st);
}

std::string Server::Mechanisms(const av1::ClientInfo& client) {
  av1::ListMechanismsRequest req;
  *req.mutable_client() = client;
  av1::ListMechanismsResponse resp;
  auto ctx = rpc::ContextWithDeadline(std::chrono::seconds(10));
  grpc::Status st = auth_->ListMechanisms(ctx.get(), req, &resp);
  if (!st.ok()) {
    log::Warn("smtp.mechanisms_failed").Kv("error", rpc::FromGrpc(st).message());
    return "";
  }
  return absl::StrJoin(resp.mechanisms(), " ");
}

boost::asio::awaitable<void> Server::Session(std::shared_ptr<net::Connection> conn) {
  const std::string sid = SessionId();
  const std::string client = conn->peer_address();
  std::string helo;
  bool esmtp = false;
  bool have_mail = false;
  std::string mail_from;
  bool smtputf8 = false;
  std::string dsn_ret, dsn_envid;  // RFC 3461, kept for the relay's bounces
  std::vector<queue::Recipient> rcpts;
  // RFC 3030: the chunks of the current BDAT transaction (bdat_started after the first).
  bool bdat_started = false;
  smtp::BdatReader bdat_reader(limits_.max_message_size);
  int errors = 0;
  const bool submission = mode_ == Mode::kSubmission;
  bool authed = false;
  std::string auth_user;  // canonical address of the authenticated account
  int64_t auth_account = 0;
  av1::ClientInfo client_info;
  client_info.set_service("submission");
  client_info.set_remote_address(client);
  client_info.set_local_address(conn->local_address());
  // One status/response pair for the gRPC calls made through rt_.Blocking: the lambdas
  // capture only references (GCC 12 coroutine bug, see `pending`).
  absl::Status rpc_status;
  dv1::SenderCheckResponse sender_check;
  log::Info("smtp.connect").Kv("session", sid).Kv("client", client).Kv("tls", conn->is_tls());
  // kite-mta: DNS blocklists (policy.h), looked up once; a listed client gets 554 at RCPT.
  std::string dnsbl_zone;
  const bool trusted_client = net::AnyContains(policies_->trusted, client);
  if (policies_->dnsbl.enabled() && !trusted_client) {
    co_await rt_.Blocking([this, &dnsbl_zone, &client, &sid] { dnsbl_zone = policies_->dnsbl.Listed(client, sid); });
  }
  PolicyVerdict verdict = PolicyVerdict::kPass;  // of the last policy check (policy.h)

  // GCC 12 destroys some temporaries of a co_await expression twice: replies are built
  // into `pending` by a plain statement first, and only named objects are awaited on.
  Reply pending;
  std::string wire;
  auto send = [&](const Reply& r, const char* cmd) -> boost::asio::awaitable<bool> {
    replies.Add({{"service", ServiceLabel(mode_)}, {"class", absl::StrCat(r.code / 100, "xx")}, {"command", cmd}})
        .Increment();
    wire = r.Format();
    auto s = co_await conn->Write(wire, limits_.command_timeout);
    co_return s.ok();
  };
  auto reset = [&] {
    have_mail = false;
    mail_from.clear();
    smtputf8 = false;
    dsn_ret.clear();
    dsn_envid.clear();
    rcpts.clear();
    bdat_started = false;
    bdat_reader.Reset();
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
    // Submission reads up to the AUTH limit; ParseCommand holds other verbs to kMaxCommandLength.
    const size_t max_line = submission ? smtp::kMaxAuthCommandLength : smtp::kMaxCommandLength;
    auto line = co_await conn->ReadLine(max_line, limits_.command_timeout);
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
                                         "\n8BITMIME\nENHANCEDSTATUSCODES\nSMTPUTF8\nCHUNKING\nDSN");
        if (conn->tls_available() && !conn->is_tls()) absl::StrAppend(&text, "\nSTARTTLS");
        if (submission && conn->is_tls() && !authed) {
          // RFC 4954 / design: AUTH is offered only over TLS.
          client_info.set_tls(true);
          std::string mechanisms;
          co_await rt_.Blocking([this, &mechanisms, &client_info] { mechanisms = Mechanisms(client_info); });
          if (!mechanisms.empty()) absl::StrAppend(&text, "\nAUTH ", mechanisms);
        }
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
        authed = false;
        auth_user.clear();
        auth_account = 0;
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
        if (submission && !authed) {
          pending = Reply{530, "5.7.0", "Authentication required"};
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
        if (submission && !cmd->address.empty()) {
          // RFC 6409 8.1: the envelope sender must be an address the user may use. The
          // null reverse-path is allowed (the header From is checked after DATA).
          std::string from = smtp::NormalizeAddress(cmd->address);
          co_await rt_.Blocking([this, &rpc_status, &sender_check, &from, &auth_account] {
            rpc_status = CheckSender(auth_account, from, &sender_check);
          });
          if (!rpc_status.ok() || !sender_check.allowed()) {
            if (!rpc_status.ok()) {
              log::Warn("smtp.lookup_failed").Kv("session", sid).Kv("error", rpc_status.message());
              pending = Reply{451, "4.3.0", "Temporary lookup failure, try again later"};
            } else {
              log::Info("smtp.sender_rejected").Kv("session", sid).Kv("user", auth_user).Kv("from", log::Truncate(from, 320));
              pending = Reply{553, "5.7.1", absl::StrCat("<", from, ">: Sender address rejected: not owned by user ", auth_user)};
            }
            if (!co_await send(pending, "mail")) co_return;
            if (pending.code >= 500) {
              if (co_await error()) co_return;
            }
            break;
          }
        }
        if (submission && policies_->rate.limits_messages()) {
          co_await rt_.Blocking([this, &verdict, &auth_user] {
            verdict = policies_->rate.Message(auth_user, std::time(nullptr));
          });
          if (verdict == PolicyVerdict::kRefuse) {
            policies_->refusals.Add({{"service", ServiceLabel(mode_)}, {"policy", "rate_messages"}}).Increment();
            log::Info("smtp.rate_limited").Kv("session", sid).Kv("user", auth_user).Kv("limit", "messages");
            pending = Reply{450, "4.7.1", "Error: too many messages sent in the last hour; try again later"};
            if (!co_await send(pending, "mail")) co_return;
            break;
          }
        }
        have_mail = true;
        mail_from = smtp::NormalizeAddress(cmd->address);
        smtputf8 = cmd->Param("SMTPUTF8") != nullptr;
        if (const std::string* ret = cmd->Param("RET")) dsn_ret = *ret;
        if (const std::string* envid = cmd->Param("ENVID")) dsn_envid = smtp::DecodeXtext(*envid).value_or("");
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
        if (!dnsbl_zone.empty()) {
          policies_->refusals.Add({{"service", ServiceLabel(mode_)}, {"policy", "dnsbl"}}).Increment();
          pending = Reply{554, "5.7.1", absl::StrCat("Service unavailable; client [", client, "] blocked using ", dnsbl_zone)};
          if (!co_await send(pending, "rcpt")) co_return;
          break;
        }
        if (submission && authed && policies_->rate.limits_recipients()) {
          co_await rt_.Blocking([this, &verdict, &auth_user] {
            verdict = policies_->rate.Recipient(auth_user, std::time(nullptr));
          });
          if (verdict == PolicyVerdict::kRefuse) {
            policies_->refusals.Add({{"service", ServiceLabel(mode_)}, {"policy", "rate_recipients"}}).Increment();
            log::Info("smtp.rate_limited").Kv("session", sid).Kv("user", auth_user).Kv("limit", "recipients");
            pending = Reply{452, "4.5.3", "Error: too many recipients in the last hour; try again later"};
            if (!co_await send(pending, "rcpt")) co_return;
            break;
          }
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
            // which keeps (spool id, recipient) unique. An alias that reaches more (a list,
            // a forward elsewhere) is queued with no account: kite-delivery expands it.
            if (resolved->account_ids_size() == 1 && resolved->forward_to_size() == 0) {
              rcpts.push_back({resolved->canonical(), true, resolved->account_ids(0)});
              r = {250, "2.1.5", "Ok"};
            } else if (resolved->kind() == dv1::RECIPIENT_KIND_ALIAS) {
              rcpts.push_back({resolved->canonical(), true, 0});
              r = {250, "2.1.5", "Ok"};
            } else {
              r = {451, "4.3.0", "Temporary lookup failure"};
            }
            break;
          case dv1::RECIPIENT_KIND_LIST: {
            // The posting policy is enforced here, at RCPT, so an outsider learns at once
            // and no bounce is ever generated for it; kite-delivery expands the list.
            dv1::ListPostingRequest preq;
            preq.set_list_address(resolved->canonical());
            preq.set_sender_address(mail_from);
            auto posting = co_await rt_.Blocking([this, &preq]() -> absl::StatusOr<dv1::ListPostingResponse> {
              dv1::ListPostingResponse resp;
              auto ctx = rpc::ContextWithDeadline(std::chrono::seconds(10));
              grpc::Status st = directory_->CheckListPosting(ctx.get(), preq, &resp);
              if (!st.ok()) return rpc::FromGrpc(st);
              return resp;
            });
            if (!posting.ok()) {
              log::Warn("smtp.lookup_failed").Kv("session", sid).Kv("error", posting.status().message());
              r = {451, "4.3.0", "Temporary lookup failure, try again later"};
            } else if (!posting->allowed()) {
              log::Info("smtp.list_refused").Kv("session", sid).Kv("list", resolved->canonical())
                  .Kv("policy", posting->policy());
              r = {550, "5.7.1", absl::StrCat("<", addr, ">: Recipient address rejected: you may not post to this list (",
                                              posting->policy(), " only)")};
            } else {
              rcpts.push_back({resolved->canonical(), true, 0});
              r = {250, "2.1.5", "Ok"};
            }
            break;
          }
          case dv1::RECIPIENT_KIND_UNKNOWN_LOCAL:
            r = {550, "5.1.1", absl::StrCat("<", addr, ">: Recipient address rejected: User unknown")};
            break;
          case dv1::RECIPIENT_KIND_DISABLED:
            r = {550, "5.2.1", absl::StrCat("<", addr, ">: Recipient address rejected: Mailbox disabled")};
            break;
          case dv1::RECIPIENT_KIND_REMOTE:
            // Relaying only for authenticated submission; the entry waits on kite:outbound.
            if (submission && authed) {
              rcpts.push_back({addr, false, 0});
              r = {250, "2.1.5", "Ok"};
            } else {
              r = {554, "5.7.1", absl::StrCat("<", addr, ">: Relay access denied")};
            }
            break;
          default:
            r = {451, "4.3.0", "Temporary lookup failure"};
            break;
        }
        if (r.code == 250 && !submission && policies_->greylist.enabled() && !trusted_client) {
          co_await rt_.Blocking([this, &verdict, &client, &mail_from, &addr] {
            verdict = policies_->greylist.Check(client, mail_from, addr, std::time(nullptr));
          });
          if (verdict == PolicyVerdict::kRefuse) {
            rcpts.pop_back();
            policies_->refusals.Add({{"service", ServiceLabel(mode_)}, {"policy", "greylist"}}).Increment();
            r = {451, "4.7.1", absl::StrCat("<", addr, ">: Recipient address rejected: Greylisted, try again later")};
          }
        }
        if (r.code / 100 == 2 && !rcpts.empty()) {
          // RFC 3461 parameters travel with the recipient just accepted.
          if (const std::string* notify = cmd->Param("NOTIFY")) rcpts.back().notify = *notify;
          if (const std::string* orcpt = cmd->Param("ORCPT")) {
            size_t semi = orcpt->find(';');
            rcpts.back().orcpt = absl::StrCat(orcpt->substr(0, semi + 1),
                                              smtp::DecodeXtext(orcpt->substr(semi + 1)).value_or(""));
          }
        }
        log::Info("smtp.rcpt").Kv("session", sid).Kv("rcpt", log::Truncate(addr, 320)).Kv("code", r.code);
        pending = r;
        if (!co_await send(pending, "rcpt")) co_return;
        break;
      }
      case Verb::kBdat:
      case Verb::kData: {
        const bool chunked = cmd->verb == Verb::kBdat;
        smtp::DataReader reader(limits_.max_message_size);
        bool line_too_long = false;
        if (chunked) {
          // RFC 3030: the chunk's octets follow the command whatever the reply, so they
          // are read (and dropped when refused) before answering: no desynchronisation.
          Reply refusal;
          if (!have_mail || rcpts.empty()) {
            refusal = {503, "5.5.1", "Error: need MAIL and RCPT before BDAT"};
          } else if (bdat_reader.WouldExceed(cmd->bdat_size)) {
            refusal = {552, "5.3.4", "Error: message size exceeds fixed limit"};
          }
          auto read = co_await ReadBdatChunk(*conn, cmd->bdat_size, refusal.code == 0 ? &bdat_reader : nullptr,
                                             limits_.data_timeout);
          if (!read.ok()) {
            if (read.code() == absl::StatusCode::kDeadlineExceeded) {
              pending = Reply{421, "4.4.2", absl::StrCat(hostname_, " Error: timeout exceeded")};
              co_await send(pending, "bdat");
            }
            log::Info("smtp.data_aborted").Kv("session", sid).Kv("client", client).Kv("error", read.message());
            co_return;
          }
          if (refusal.code != 0) {
            if (refusal.code == 552) reset();  // the transaction is over; later chunks get 503
            pending = refusal;
            if (!co_await send(pending, "bdat")) co_return;
            if (refusal.code == 503) {
              if (co_await error()) co_return;
            }
            break;
          }
          bdat_started = true;
          if (!cmd->bdat_last) {
            pending = Reply{250, "2.0.0", absl::StrCat(cmd->bdat_size, " octets received")};
            if (!co_await send(pending, "bdat")) co_return;
            break;
          }
        } else if (bdat_started) {
          pending = Reply{503, "5.5.1", "Error: DATA not allowed after BDAT in the same transaction"};
          co_await send(pending, "data");
          if (co_await error()) co_return;
          break;
        } else if (!have_mail || rcpts.empty()) {
          pending = Reply{have_mail ? 554 : 503, "5.5.1", "Error: no valid recipients"};
          co_await send(pending, "data");
          if (co_await error()) co_return;
          break;
        }
        if (!chunked) {
          pending = Reply{354, "", "End data with <CR><LF>.<CR><LF>"};
          if (!co_await send(pending, "data")) co_return;
          // Read in bulk (one read and one deadline per chunk, not per line); the reader
          // consumes up to the terminating ".\r\n" and what follows (pipelined commands)
          // goes back to the connection.
          while (reader.state() == smtp::DataReader::State::kNeedMore) {
            auto data = co_await conn->ReadSome(kDataChunk, limits_.data_timeout);
            if (!data.ok()) {
              if (data.status().code() == absl::StatusCode::kDeadlineExceeded) {
                pending = Reply{421, "4.4.2", absl::StrCat(hostname_, " Error: timeout exceeded")};
                co_await send(pending, "data");
              }
              log::Info("smtp.data_aborted").Kv("session", sid).Kv("client", client).Kv("error", data.status().message());
              co_return;
            }
            size_t used = reader.Feed(*data);
            if (used < data->size()) conn->Unread(std::string_view(*data).substr(used));
          }
          line_too_long = reader.longest_line() > kMaxDataLine;
        }
        // BDAT LAST: the chunks' outcome in DataReader's terms.
        smtp::DataReader::State end = reader.state();
        if (chunked) {
          smtp::BdatReader::State b = bdat_reader.Finish();
          end = b == smtp::BdatReader::State::kTooBig           ? smtp::DataReader::State::kTooBig
                : b == smtp::BdatReader::State::kBareLineEnding ? smtp::DataReader::State::kBareLineEnding
                                                                : smtp::DataReader::State::kDone;
        }
        Reply r;
        if (end == smtp::DataReader::State::kTooBig) {
          r = {552, "5.3.4", "Error: message size exceeds fixed limit"};
        } else if (end == smtp::DataReader::State::kBareLineEnding) {
          r = {550, "5.6.11", "Error: bare CR or LF in message; use CRLF line endings (RFC 5321 2.3.8)"};
        } else if (line_too_long) {
          r = {552, "5.3.4", "Error: message line too long"};
        } else {
          std::string message = chunked ? bdat_reader.TakeMessage() : reader.TakeMessage();
          // Submission: every From address must be one the user may use; send-on-behalf
          // gets a Sender header naming the user.
          std::string sender_header;
          std::string from_domain;  // of the first header From address (DKIM d=)
          if (submission) {
            smtp::FromHeaders from = smtp::ParseFromHeaders(message);
            if (from.fields == 0 || from.addresses.empty()) {
              r = {550, "5.6.0", "Error: message has no From header"};
            } else if (from.truncated) {
              r = {550, "5.7.1", "Error: From header too large"};
            } else {
              std::string first = smtp::NormalizeAddress(from.addresses[0]);
              if (auto at = first.rfind('@'); at != std::string::npos) from_domain = first.substr(at + 1);
            }
            for (size_t i = 0; r.code == 0 && i < from.addresses.size(); ++i) {
              std::string addr = smtp::NormalizeAddress(from.addresses[i]);
              co_await rt_.Blocking([this, &rpc_status, &sender_check, &addr, &auth_account] {
                rpc_status = CheckSender(auth_account, addr, &sender_check);
              });
              if (!rpc_status.ok()) {
                log::Warn("smtp.lookup_failed").Kv("session", sid).Kv("error", rpc_status.message());
                r = {451, "4.3.0", "Temporary lookup failure, try again later"};
              } else if (!sender_check.allowed()) {
                log::Info("smtp.from_rejected").Kv("session", sid).Kv("user", auth_user).Kv("from", log::Truncate(addr, 320));
                r = {550, "5.7.1", absl::StrCat("<", addr, ">: From address rejected: not owned by user ", auth_user)};
              } else if (sender_check.add_sender_header() && sender_header.empty()) {
                sender_header = absl::StrCat(
                    "Sender: <", sender_check.sender_address().empty() ? auth_user : sender_check.sender_address(), ">\r\n");
              }
            }
          }
          // One Sender field (RFC 5322 3.6.2): ours replaces whatever the client wrote.
          if (!sender_header.empty()) message = smtp::RemoveHeaderFields(message, "Sender");
          // RFC 6409 8.2/8.3: Message-ID and Date when missing, added before DKIM signs.
          if (submission && r.code == 0) {
            sender_header += smtp::MissingOriginatorFields(message, hostname_, std::time(nullptr), RandomToken());
          }
          // kite-mta: SPF, DKIM and DMARC (inbound_checks.h); adds Authentication-Results to
          // `message`, may refuse it (DMARC p=reject) or file it into Junk (quarantine).
          InboundVerdict verdict;
          if (r.code == 0 && !submission && inbound_checks_) {
            InboundRequest auth_req{client, helo, mail_from, sid};
            co_await rt_.Blocking([this, &verdict, &auth_req, &message] { verdict = inbound_checks_->Check(auth_req, message); });
            if (verdict.reject) r = {550, "5.7.1", verdict.reject_text};
          }
          if (r.code == 0) {
            // RFC 3848 / 6531 "with" keywords: (UTF8)SMTP / ESMTP, then S for TLS, A for AUTH.
            std::string with = absl::StrCat(smtputf8 ? "UTF8SMTP" : (esmtp ? "ESMTP" : "SMTP"), conn->is_tls() ? "S" : "",
                                            authed ? "A" : "");
            std::string received = absl::StrCat(
                "Received: from ", helo, " (", client, ")\r\n\tby ", hostname_, " (Kite) with ", with, " id ", sid,
                conn->is_tls() ? absl::StrCat("\r\n\t(using ", conn->tls_version(), " with cipher ", conn->tls_cipher(), ")") : "",
                authed ? absl::StrCat("\r\n\t(Authenticated sender: ", auth_user, ")") : "",
                rcpts.size() == 1 ? absl::StrCat("\r\n\tfor <", rcpts[0].address, ">") : "", ";\r\n\t", Rfc5322Now(), "\r\n");
            std::string body = received + sender_header + message;
            if (submission && !from_domain.empty()) {
              // DKIM (RFC 6376) over the message as it will be delivered (h= is
              // dkim::DefaultSignedHeaders); the signatures go on top, above our Received.
              // No key or a failure only leaves it unsigned.
              std::string signatures;
              co_await rt_.Blocking([this, &signatures, &body, &from_domain, &sid] {
                signatures = DkimSignatures(body, from_domain, sid);
              });
              if (!signatures.empty()) body = signatures + body;
            }
            queue::Envelope env{mail_from, helo, client, auth_user, submission ? "submission" : "mta", rcpts, dsn_ret, dsn_envid};
            env.quarantine = verdict.quarantine;
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
        }
        reset();
        pending = r;
        if (!co_await send(pending, chunked ? "bdat" : "data")) co_return;
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
      case Verb::kAuth: {
        if (!submission) {
          pending = Reply{503, "5.5.1", "Error: authentication not enabled on this port (use submission)"};
        } else if (!conn->is_tls()) {
          pending = Reply{530, "5.7.0", "Must issue a STARTTLS command first"};
        } else if (helo.empty() || !esmtp) {
          pending = Reply{503, "5.5.1", "Error: send EHLO first"};
        } else if (authed) {
          pending = Reply{503, "5.5.1", "Error: already authenticated"};
        } else if (have_mail) {
          pending = Reply{503, "5.5.1", "Error: AUTH not permitted during a mail transaction"};
        } else {
          pending = Reply{};
        }
        if (pending.code != 0) {
          co_await send(pending, "auth");
          if (co_await error()) co_return;
          break;
        }
        // RFC 4954: SASL-IR on the command line ("=" is an empty response), then 334
        // continuations until kite-auth is done; "*" cancels (lib/sasl). kite-auth answers
        // failed logins only after auth.failure_delay: the deadline allows for it.
        client_info.set_tls(true);
        sasl::GrpcAuthClient sasl_auth(rt_, *auth_, client_info, std::chrono::seconds(30));
        std::optional<std::string_view> initial_response;
        if (cmd->has_initial_response) initial_response = cmd->auth_initial_response;
        sasl::Exchange exchange(cmd->auth_mechanism, initial_response);
        sasl::Framing framing;
        framing.send_challenge = [&](const std::string& challenge) -> boost::asio::awaitable<bool> {
          wire = absl::StrCat("334 ", challenge, "\r\n");
          auto written = co_await conn->Write(wire, limits_.command_timeout);
          co_return written.ok();
        };
        framing.read_response = [&]() -> boost::asio::awaitable<sasl::Response> {
          auto answer = co_await conn->ReadLine(smtp::kMaxAuthCommandLength, limits_.command_timeout);
          sasl::Response response;
          if (answer.ok()) {
            response.kind = sasl::Response::Kind::kLine;
            response.text = std::string(StripEol(*answer));
          } else if (answer.status().code() == absl::StatusCode::kOutOfRange) {
            response.kind = sasl::Response::Kind::kTooLong;
          }
          co_return response;
        };
        sasl::Outcome verdict = co_await sasl::Run(sasl_auth, framing, exchange);
        Reply r;
        switch (verdict.result) {
          case sasl::Result::kDisconnected:
            co_return;
          case sasl::Result::kOk:
            authed = true;
            auth_user = verdict.identity.address;
            auth_account = verdict.identity.account_id;
            r = {235, "2.7.0", "Authentication successful"};
            break;
          case sasl::Result::kInvalidCredentials:
            r = {535, "5.7.8", "Error: authentication failed"};
            break;
          case sasl::Result::kThrottled:
            // Temporary by nature: a locked-out client should retry later, not give up.
            r = {454, "4.7.0", "Too many failed authentication attempts, try again later"};
            break;
          case sasl::Result::kEncryptionRequired:
            r = {538, "5.7.11", "Encryption required for requested authentication mechanism"};
            break;
          case sasl::Result::kUnsupportedMechanism:
            r = {504, "5.5.4", "Unrecognized authentication type"};
            break;
          case sasl::Result::kMalformed:
            r = {501, "5.5.2", "Malformed authentication data"};
            break;
          case sasl::Result::kUnavailable:
            log::Warn("smtp.auth_unavailable").Kv("session", sid).Kv("error", verdict.rpc_status.message());
            r = {454, "4.7.0", "Temporary authentication failure"};
            break;
          case sasl::Result::kAuthError:
            r = {454, "4.7.0", "Temporary authentication failure"};
            break;
          case sasl::Result::kCancelled:
            r = {501, "5.7.0", "Authentication cancelled"};
            break;
          case sasl::Result::kBadInitialResponse:
          case sasl::Result::kBadResponse:
          case sasl::Result::kResponseUnreadable:
            r = {501, "5.5.2", "Cannot decode base64"};
            break;
          case sasl::Result::kResponseTooLong:
            r = {500, "5.5.6", "Authentication exchange line is too long"};
            break;
          case sasl::Result::kTooManySteps:
            r = {501, "5.5.2", "Too many authentication steps"};
            break;
        }
        const std::string outcome(sasl::Label(verdict.result));
        auth_results.Add({{"service", ServiceLabel(mode_)}, {"result", outcome}}).Increment();
        log::Info("smtp.auth").Kv("session", sid).Kv("client", client).Kv("mechanism", log::Truncate(cmd->auth_mechanism, 40))
            .Kv("result", outcome).Kv("user", auth_user);
        pending = r;
        if (!co_await send(pending, "auth")) co_return;
        if (!authed) {
          if (co_await error()) co_return;
        }
        break;
      }
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

}  // namespace kite::smtp_server
