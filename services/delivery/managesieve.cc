#include "delivery/managesieve.h"

#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "delivery/managesieve_parser.h"
#include "lib/base/ascii.h"
#include "lib/base/strings.h"
#include "lib/daemon/listen.h"
#include "lib/log/log.h"
#include "lib/rpc/rpc.h"
#include "lib/sasl/driver.h"
#include "lib/sasl/grpc_auth_client.h"

namespace kite::delivery {
namespace {

namespace av1 = kite::auth::v1;
using managesieve::Argument;
using managesieve::Command;
using managesieve::EncodeString;
using managesieve::Parser;

// RFC 5804 response: OK / NO / BYE, an optional response code, an optional human-readable
// string.
std::string Response(std::string_view kind, std::string_view code, std::string_view text) {
  std::string out(kind);
  if (!code.empty()) absl::StrAppend(&out, " (", AV(code), ")");
  if (!text.empty()) absl::StrAppend(&out, " ", EncodeString(text));
  out += "\r\n";
  return out;
}
std::string Ok(std::string_view text) { return Response("OK", "", text); }
std::string No(std::string_view text, std::string_view code = "") {
  return Response("NO", code, text);
}

// The answer to a failed sievestore call.
std::string StoreError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return No(SV(s.message()), "NONEXISTENT");
    case absl::StatusCode::kFailedPrecondition:
      return No(SV(s.message()), "ACTIVE");
    case absl::StatusCode::kAlreadyExists:
      return No(SV(s.message()), "ALREADYEXISTS");
    case absl::StatusCode::kResourceExhausted:
      return No(SV(s.message()),
                sievestore::QuotaCode(s).empty() ? "QUOTA" : sievestore::QuotaCode(s));
    case absl::StatusCode::kInvalidArgument:
      return No(SV(s.message()));
    default:
      log::Warn("managesieve.store_failed").Kv("error", s.message());
      return No("Temporary failure, try again later", "TRYLATER");
  }
}

// The arguments are exactly `n` strings.
bool Strings(const Command& cmd, size_t n) {
  if (cmd.args.size() != n) return false;
  for (const Argument& a : cmd.args) {
    if (!a.IsString()) return false;
  }
  return true;
}

bool KnownCommand(const std::string& n) {
  return n == "CAPABILITY" || n == "NOOP" || n == "LOGOUT" || n == "STARTTLS" ||
         n == "AUTHENTICATE" || n == "HAVESPACE" || n == "PUTSCRIPT" || n == "LISTSCRIPTS" ||
         n == "SETACTIVE" || n == "GETSCRIPT" || n == "DELETESCRIPT" || n == "RENAMESCRIPT" ||
         n == "CHECKSCRIPT" || n == "UNAUTHENTICATE";
}

// "OK", "NO" or "BYE": the first word of a response's last line (for metrics).
std::string ResultWord(std::string_view response) {
  if (response.size() < 2) return "";
  size_t start = response.rfind("\r\n", response.size() - 3);
  std::string_view line = response.substr(start == std::string_view::npos ? 0 : start + 2);
  return std::string(line.substr(0, line.find_first_of(" \r")));
}

bool NeedsAuthentication(const std::string& n) {
  return n == "HAVESPACE" || n == "PUTSCRIPT" || n == "LISTSCRIPTS" || n == "SETACTIVE" ||
         n == "GETSCRIPT" || n == "DELETESCRIPT" || n == "RENAMESCRIPT" || n == "CHECKSCRIPT" ||
         n == "UNAUTHENTICATE";
}

// The script commands, run on the worker pool (they call PostgreSQL): the whole response.
// `syntax_error` is set for a malformed command (it counts towards max_errors).
std::string ScriptCommand(store::Pool& pool, const sievestore::Limits& limits, int64_t account_id,
                          const Command& cmd, bool& syntax_error) {
  const std::string& n = cmd.name;
  auto bad = [&](std::string_view usage) {
    syntax_error = true;
    return No(absl::StrCat("Syntax: ", AV(usage)));
  };
  if (n == "HAVESPACE") {
    if (cmd.args.size() != 2 || !cmd.args[0].IsString() || !cmd.args[1].Number()) {
      return bad("HAVESPACE <name> <size>");
    }
    absl::Status s =
        sievestore::HaveSpace(pool, account_id, cmd.args[0].value, *cmd.args[1].Number(), limits);
    return s.ok() ? Ok("Putscript would succeed") : StoreError(s);
  }
  if (n == "PUTSCRIPT") {
    if (!Strings(cmd, 2)) return bad("PUTSCRIPT <name> <script>");
    absl::Status s =
        sievestore::Put(pool, account_id, cmd.args[0].value, cmd.args[1].value, limits);
    if (s.ok())
      log::Info("managesieve.putscript")
          .Kv("account_id", account_id)
          .Kv("name", log::Truncate(cmd.args[0].value, 200));
    return s.ok() ? Ok("Script stored") : StoreError(s);
  }
  if (n == "CHECKSCRIPT") {
    if (!Strings(cmd, 1)) return bad("CHECKSCRIPT <script>");
    absl::Status s = sievestore::Check(cmd.args[0].value, limits);
    return s.ok() ? Ok("Script is valid") : StoreError(s);
  }
  if (n == "LISTSCRIPTS") {
    if (!cmd.args.empty()) return bad("LISTSCRIPTS");
    auto list = sievestore::List(pool, account_id);
    if (!list.ok()) return StoreError(list.status());
    std::string out;
    for (const auto& s : *list)
      absl::StrAppend(&out, EncodeString(s.name), s.active ? " ACTIVE" : "", "\r\n");
    return out + Ok("Listscripts completed");
  }
  if (n == "SETACTIVE") {
    if (!Strings(cmd, 1)) return bad("SETACTIVE <name>");
    absl::Status s = sievestore::SetActive(pool, account_id, cmd.args[0].value);
    if (s.ok())
      log::Info("managesieve.setactive")
          .Kv("account_id", account_id)
          .Kv("name", log::Truncate(cmd.args[0].value, 200));
    return s.ok() ? Ok(cmd.args[0].value.empty() ? "No script is active" : "Script activated")
                  : StoreError(s);
  }
  if (n == "GETSCRIPT") {
    if (!Strings(cmd, 1)) return bad("GETSCRIPT <name>");
    auto text = sievestore::Get(pool, account_id, cmd.args[0].value);
    if (!text.ok()) return StoreError(text.status());
    // Always a literal: scripts hold line breaks.
    return absl::StrCat("{", text->size(), "}\r\n", *text, "\r\n", Ok("Getscript completed"));
  }
  if (n == "DELETESCRIPT") {
    if (!Strings(cmd, 1)) return bad("DELETESCRIPT <name>");
    absl::Status s = sievestore::Delete(pool, account_id, cmd.args[0].value);
    return s.ok() ? Ok("Script deleted") : StoreError(s);
  }
  if (n == "RENAMESCRIPT") {
    if (!Strings(cmd, 2)) return bad("RENAMESCRIPT <old name> <new name>");
    absl::Status s = sievestore::Rename(pool, account_id, cmd.args[0].value, cmd.args[1].value);
    return s.ok() ? Ok("Script renamed") : StoreError(s);
  }
  syntax_error = true;
  return No("Unknown command");
}

}  // namespace

ManageSieveServer::ManageSieveServer(daemon::Runtime& rt, store::Pool& pool,
                                     std::shared_ptr<av1::Auth::Stub> auth,
                                     ManageSieveLimits limits)
    : rt_(rt),
      pool_(pool),
      auth_(std::move(auth)),
      limits_(limits),
      commands_(rt.metrics().Counter("kite_managesieve_commands_total",
                                     "ManageSieve commands by name and result")),
      logins_(rt.metrics().Counter("kite_managesieve_logins_total",
                                   "ManageSieve authentications by result")) {}

ManageSieveServer::~ManageSieveServer() { listener.reset(); }

boost::asio::awaitable<void> ManageSieveServer::Session(std::shared_ptr<net::Connection> conn) {
  // Before authentication only SASL responses need literals: scripts are accepted after it.
  Parser::Limits login_limits;
  login_limits.max_literal = 8 * 1024;
  login_limits.max_command = 64 * 1024;
  Parser::Limits user_limits;
  user_limits.max_literal = limits_.store.sieve.max_script_size;
  user_limits.max_command = limits_.store.sieve.max_script_size + 64 * 1024;
  auto parser = std::make_unique<Parser>(login_limits);
  int64_t account_id = 0;
  std::string account;
  int errors = 0;
  std::string mechanisms;  // from kite-auth, once TLS is up
  av1::ClientInfo client;
  client.set_service("managesieve");
  client.set_remote_address(conn->peer_address());
  client.set_local_address(conn->local_address());
  const std::string peer = conn->peer_address();

  // GCC 12 destroys some temporaries of a co_await expression twice: output is built into
  // `wbuf` by a plain statement first, and only named objects are awaited on.
  std::string wbuf;
  auto write = [&](const std::string& s) -> boost::asio::awaitable<bool> {
    auto st = co_await conn->Write(s, std::chrono::seconds(60));
    co_return st.ok();
  };
  // The next parser event; nullopt when the connection is gone (or timed out: BYE sent).
  auto next = [&]() -> boost::asio::awaitable<std::optional<Parser::Event>> {
    for (;;) {
      Parser::Event ev = parser->Next();
      if (ev.kind != Parser::Event::kNeedMore) co_return ev;
      auto timeout = account_id ? limits_.idle_timeout : limits_.login_timeout;
      auto data = co_await conn->ReadSome(64 * 1024, timeout);
      if (!data.ok()) {
        if (data.status().code() == absl::StatusCode::kDeadlineExceeded) {
          std::string bye = Response("BYE", "", "Connection timed out");
          co_await conn->Write(bye, std::chrono::seconds(10));
        }
        co_return std::nullopt;
      }
      parser->Feed(*data);
    }
  };
  auto capability = [&]() {
    std::string out =
        EncodeString("IMPLEMENTATION") + " " + EncodeString("Kite ManageSieve") + "\r\n";
    // RFC 5804 1.7: the SASL list may be empty only while STARTTLS is offered.
    absl::StrAppend(&out, "\"SASL\" ", EncodeString(conn->is_tls() ? mechanisms : ""), "\r\n");
    absl::StrAppend(&out, "\"SIEVE\" ", EncodeString(absl::StrJoin(sievestore::Extensions(), " ")),
                    "\r\n");
    if (!conn->is_tls() && conn->tls_available()) out += "\"STARTTLS\"\r\n";
    absl::StrAppend(&out, "\"MAXREDIRECTS\" \"", limits_.store.sieve.max_redirects, "\"\r\n");
    if (account_id) absl::StrAppend(&out, "\"OWNER\" ", EncodeString(account), "\r\n");
    out += "\"UNAUTHENTICATE\"\r\n\"VERSION\" \"1.0\"\r\n";
    return out;
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
        log::Warn("managesieve.mechanisms_failed").Kv("error", rpc::FromGrpc(st).message());
        return "PLAIN";  // what every client speaks; kite-auth decides at AUTHENTICATE anyway
      }
      return absl::StrJoin(resp.mechanisms(), " ");
    });
  };

  if (conn->is_tls()) co_await load_mechanisms();
  wbuf = capability() + Ok("Kite ManageSieve ready");
  if (!co_await write(wbuf)) co_return;

  while (!rt_.stopping()) {
    std::optional<Parser::Event> ev = co_await next();
    if (!ev) co_return;
    if (ev->kind == Parser::Event::kError) {
      commands_.Add({{"command", "invalid"}, {"result", "NO"}}).Increment();
      if (ev->fatal) {
        wbuf = Response("BYE", ev->too_big ? "QUOTA/MAXSIZE" : "",
                        absl::StrCat("Protocol error: ", ev->error));
        co_await write(wbuf);
        co_return;
      }
      bool maxsize = ev->too_big && (ev->name == "PUTSCRIPT" || ev->name == "CHECKSCRIPT");
      wbuf = No(absl::StrCat(maxsize ? "Script too large: " : "Syntax error: ", ev->error),
                maxsize ? "QUOTA/MAXSIZE" : "");
      // An oversized script is the user's mistake, not abuse: it does not count.
      if (!maxsize && ++errors >= limits_.max_errors)
        wbuf += Response("BYE", "", "Too many errors");
      if (!co_await write(wbuf)) co_return;
      if (errors >= limits_.max_errors) co_return;
      continue;
    }
    const Command& cmd = ev->command;
    bool syntax_error = false;
    wbuf.clear();

    if (cmd.name == "CAPABILITY") {
      if (!cmd.args.empty()) {
        syntax_error = true;
        wbuf = No("Syntax: CAPABILITY");
      } else {
        wbuf = capability() + Ok("Capability completed");
      }
    } else if (cmd.name == "NOOP") {
      if (cmd.args.size() > 1 || (cmd.args.size() == 1 && !cmd.args[0].IsString())) {
        syntax_error = true;
        wbuf = No("Syntax: NOOP [<tag>]");
      } else if (cmd.args.size() == 1) {
        wbuf = absl::StrCat("OK (TAG ", EncodeString(cmd.args[0].value), ") \"Done\"\r\n");
      } else {
        wbuf = Ok("Done");
      }
    } else if (cmd.name == "LOGOUT") {
      wbuf = Ok("Logout completed");
      co_await write(wbuf);
      co_return;
    } else if (cmd.name == "STARTTLS") {
      if (!cmd.args.empty()) {
        syntax_error = true;
        wbuf = No("Syntax: STARTTLS");
      } else if (conn->is_tls() || !conn->tls_available()) {
        wbuf = No("TLS is already active");
      } else if (account_id) {
        wbuf = No("STARTTLS is not allowed after authentication");
      } else {
        wbuf = Ok("Begin TLS negotiation now");
        if (!co_await write(wbuf)) co_return;
        if (auto s = co_await conn->StartTls(std::chrono::seconds(30)); !s.ok()) {
          log::Info("managesieve.tls_failed").Kv("client", peer).Kv("error", s.message());
          co_return;
        }
        if (parser->buffered() > 0 || conn->HadBufferedInput()) {
          log::Warn("managesieve.starttls_injection").Kv("client", peer);
        }
        parser =
            std::make_unique<Parser>(login_limits);  // forget plaintext pipelined behind STARTTLS
        co_await load_mechanisms();
        // RFC 5804 2.2: the capabilities again, now with SASL mechanisms.
        wbuf = capability() + Ok("TLS negotiation successful");
      }
    } else if (cmd.name == "AUTHENTICATE") {
      if (cmd.args.empty() || cmd.args.size() > 2 || !cmd.args[0].IsString() ||
          (cmd.args.size() == 2 && !cmd.args[1].IsString())) {
        syntax_error = true;
        wbuf = No("Syntax: AUTHENTICATE <mechanism> [<initial response>]");
      } else if (account_id) {
        wbuf = No("Already authenticated");
      } else if (!conn->is_tls()) {
        syntax_error = true;  // a client that ignores the empty SASL list
        wbuf = No("Authentication requires TLS: use STARTTLS first", "ENCRYPT-NEEDED");
      } else {
        // RFC 5804 2.1: challenges and responses are base64 strings; "*" aborts; an empty
        // initial response is an empty string ("=" is not special here). lib/sasl runs it.
        client.set_tls(true);
        sasl::GrpcAuthClient auth(rt_, *auth_, client, std::chrono::seconds(30));
        std::optional<std::string_view> initial_response;
        if (cmd.args.size() == 2) initial_response = cmd.args[1].value;
        sasl::Options sasl_options;
        sasl_options.equals_is_empty_initial_response = false;
        sasl::Exchange exchange(cmd.args[0].value, initial_response, sasl_options);
        sasl::Framing framing;
        framing.send_challenge = [&](const std::string& challenge) -> boost::asio::awaitable<bool> {
          wbuf = EncodeString(challenge) + "\r\n";
          const bool written = co_await write(wbuf);
          co_return written;
        };
        framing.read_response = [&]() -> boost::asio::awaitable<sasl::Response> {
          parser->ExpectResponse();
          std::optional<Parser::Event> answer = co_await next();
          sasl::Response response;
          if (!answer) co_return response;
          if (answer->kind != Parser::Event::kCommand || answer->command.args.size() != 1) {
            if (!answer->fatal) response.kind = sasl::Response::Kind::kUnreadable;
            co_return response;
          }
          response.kind = sasl::Response::Kind::kLine;
          response.text = std::move(answer->command.args[0].value);
          co_return response;
        };
        sasl::Outcome verdict = co_await sasl::Run(auth, framing, exchange);
        std::string outcome(sasl::Label(verdict.result));
        switch (verdict.result) {
          case sasl::Result::kDisconnected:
            co_return;
          case sasl::Result::kOk:
            account_id = verdict.identity.account_id;
            account = verdict.identity.address;
            parser->set_limits(user_limits);
            wbuf = verdict.additional_data.empty()
                       ? Ok("Authenticated")
                       : absl::StrCat("OK (SASL ", EncodeString(absl::Base64Escape(AV(verdict.additional_data))),
                                      ") \"Authenticated\"\r\n");
            break;
          case sasl::Result::kUnavailable:
            log::Warn("managesieve.auth_unavailable").Kv("client", peer).Kv("error", verdict.rpc_status.message());
            wbuf = No("Authentication service unavailable, try again later", "TRYLATER");
            break;
          case sasl::Result::kThrottled:
            wbuf = No("Too many failed attempts, try again later", "TRYLATER");
            break;
          case sasl::Result::kEncryptionRequired:
            wbuf = No("Encryption required", "ENCRYPT-NEEDED");
            break;
          case sasl::Result::kUnsupportedMechanism:
            syntax_error = true;
            wbuf = No("Unsupported authentication mechanism");
            break;
          case sasl::Result::kMalformed:
            syntax_error = true;
            wbuf = No("Malformed authentication data");
            break;
          case sasl::Result::kBadInitialResponse:
          case sasl::Result::kBadResponse:
            syntax_error = true;
            wbuf = No("Cannot decode base64");
            break;
          case sasl::Result::kCancelled:
            syntax_error = true;
            wbuf = No("Authentication aborted");
            break;
          case sasl::Result::kResponseUnreadable:
          case sasl::Result::kResponseTooLong:
            syntax_error = true;
            wbuf = No("Malformed authentication response");
            break;
          case sasl::Result::kTooManySteps:
            syntax_error = true;
            wbuf = No("Too many authentication steps");
            break;
          case sasl::Result::kInvalidCredentials:
          case sasl::Result::kAuthError:
            syntax_error = true;  // failed logins count towards max_errors
            wbuf = No("Authentication failed");
            break;
        }
        logins_.Add({{"result", outcome}}).Increment();
        log::Info("managesieve.auth")
            .Kv("client", peer)
            .Kv("mechanism", log::Truncate(exchange.mechanism(), 40))
            .Kv("result", outcome)
            .Kv("user", account);
      }
    } else if (NeedsAuthentication(cmd.name) && account_id == 0) {
      wbuf = No("Authenticate first");
    } else if (cmd.name == "UNAUTHENTICATE") {
      if (!cmd.args.empty()) {
        syntax_error = true;
        wbuf = No("Syntax: UNAUTHENTICATE");
      } else {
        log::Info("managesieve.unauthenticate").Kv("client", peer).Kv("user", account);
        account_id = 0;
        account.clear();
        parser->set_limits(login_limits);
        wbuf = Ok("Unauthenticate completed");
      }
    } else if (NeedsAuthentication(cmd.name)) {
      const sievestore::Limits& store_limits = limits_.store;
      int64_t id = account_id;
      wbuf = co_await rt_.Blocking([this, &store_limits, id, &cmd, &syntax_error] {
        return ScriptCommand(pool_, store_limits, id, cmd, syntax_error);
      });
    } else {
      syntax_error = true;
      wbuf = No("Unknown command");
    }

    commands_
        .Add({{"command", KnownCommand(cmd.name) ? cmd.name : "unknown"},
              {"result", ResultWord(wbuf)}})
        .Increment();
    if (syntax_error && ++errors >= limits_.max_errors)
      wbuf += Response("BYE", "", "Too many errors");
    if (!co_await write(wbuf)) co_return;
    if (errors >= limits_.max_errors) co_return;
  }
  wbuf = Response("BYE", "TRYLATER", "Server shutting down");
  co_await write(wbuf);
}

absl::StatusOr<std::unique_ptr<ManageSieveServer>> StartManageSieve(daemon::Runtime& rt,
                                                                    store::Pool& pool) {
  const auto& c = rt.config();
  auto tls = daemon::LoadTls(rt);
  if (!tls.ok()) return tls.status();
  auto auth = std::shared_ptr<av1::Auth::Stub>(av1::Auth::NewStub(
      rpc::MakeChannel(c.Address("global", "auth_address").ToString(), rt.grpc_tls())));
  ManageSieveLimits limits;
  limits.login_timeout = c.Duration("delivery", "managesieve_login_timeout");
  limits.idle_timeout = c.Duration("delivery", "managesieve_idle_timeout");
  limits.max_errors = static_cast<int>(c.Int("delivery", "managesieve_max_errors"));
  limits.store.max_scripts = static_cast<size_t>(c.Int("delivery", "sieve_max_scripts"));
  auto server = std::make_unique<ManageSieveServer>(rt, pool, std::move(auth), limits);
  ManageSieveServer* s = server.get();
  auto listener = daemon::Listen(
      rt, "delivery", "managesieve_listen",
      {.name = "managesieve",
       .max_connections = static_cast<size_t>(c.Int("delivery", "managesieve_max_connections")),
       .busy_banner = "BYE (TRYLATER) \"Too many connections, try again later\"\r\n",
       .tls = *tls},
      [s](std::shared_ptr<net::Connection> conn) { return s->Session(std::move(conn)); });
  if (!listener.ok()) return listener.status();
  server->listener = std::move(*listener);
  return server;
}

}  // namespace kite::delivery
