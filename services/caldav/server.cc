#include "caldav/server.h"

#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"
#include "lib/metrics/metrics.h"
#include "lib/rpc/rpc.h"

namespace kite::caldav {

namespace av1 = kite::auth::v1;

namespace {

constexpr auto kWriteTimeout = std::chrono::seconds(60);

bool IsLoopback(const std::string& a) { return a == "::1" || a.rfind("127.", 0) == 0; }

std::string MethodLabel(const std::string& m) {
  for (const char* k : {"OPTIONS", "GET", "HEAD", "PUT", "DELETE", "PROPFIND", "PROPPATCH", "MKCOL", "MKCALENDAR",
                        "COPY", "MOVE", "REPORT", "POST"}) {
    if (m == k) return m;
  }
  return "other";
}

http::Response Unauthorized(std::string text) {
  http::Response r;
  r.status = 401;
  r.Set("WWW-Authenticate", "Basic realm=\"Kite\", charset=\"UTF-8\"");
  r.Set("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(text) + "\n";
  return r;
}

http::Response Plain(int status, std::string text) {
  http::Response r;
  r.status = status;
  r.Set("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(text) + "\n";
  return r;
}

}  // namespace

Server::Server(daemon::Runtime& rt, DavHandler& handler, std::shared_ptr<av1::Auth::StubInterface> auth,
               ServerOptions options)
    : rt_(rt),
      handler_(handler),
      auth_(std::move(auth)),
      options_(options),
      requests_(rt.metrics().Counter("kite_caldav_requests_total", "CalDAV HTTP requests by method and status")),
      duration_(rt.metrics().Histogram("kite_caldav_request_duration_seconds",
                                       "CalDAV HTTP request handling time (after the request was read)")) {}

boost::asio::awaitable<void> Server::Session(std::shared_ptr<net::Connection> conn) {
  const std::string peer = conn->peer_address();
  const bool secure = conn->is_tls();
  const bool plaintext_ok = secure || (options_.allow_plaintext_loopback && IsLoopback(peer));
  std::string in;                  // received, not yet parsed
  std::string cached_auth;         // the Authorization header that succeeded
  std::optional<Identity> identity;
  std::string wbuf;
  for (;;) {
    http::RequestParser parser(options_.max_header, options_.max_body);
    bool first = true;
    bool sent_continue = false;
    http::RequestParser::State state = http::RequestParser::State::kNeedMore;
    for (;;) {
      size_t used = 0;
      if (!in.empty()) {
        state = parser.Feed(in, &used);
        in.erase(0, used);
        if (state != http::RequestParser::State::kNeedMore) break;
      }
      if (parser.expects_continue() && !sent_continue) {
        sent_continue = true;
        wbuf = "HTTP/1.1 100 Continue\r\n\r\n";
        auto w = co_await conn->Write(wbuf, kWriteTimeout);
        if (!w.ok()) co_return;
      }
      auto timeout = first && in.empty() ? options_.idle_timeout : options_.request_timeout;
      auto data = co_await conn->ReadSome(64 * 1024, timeout);
      if (!data.ok()) co_return;  // closed, timed out or reset: nothing to answer
      first = false;
      in += *data;
    }
    if (state == http::RequestParser::State::kError) {
      http::Response r = Plain(parser.error_status(), parser.error_reason());
      wbuf = http::Serialize(r, false, false);
      requests_.Add({{"method", "other"}, {"status", std::to_string(r.status)}}).Increment();
      auto w = co_await conn->Write(wbuf, kWriteTimeout);
      // Lingering close: a client still sending its (too large) body reads our answer only
      // if we read its bytes meanwhile instead of resetting the connection. Bounded.
      if (w.ok()) {
        size_t drained = 0;
        while (drained < 4 * options_.max_body + (1 << 20)) {
          auto data = co_await conn->ReadSome(64 * 1024, std::chrono::seconds(2));
          if (!data.ok()) break;
          drained += data->size();
        }
      }
      co_return;
    }
    http::Request req = parser.Take();
    const auto started = std::chrono::steady_clock::now();
    http::Response resp;
    const bool head = req.method == "HEAD";
    std::optional<http::Response> public_answer;
    if (public_routes_) {
      public_answer = co_await rt_.Blocking([this, &req] { return public_routes_(req); });
    }
    if (public_answer) {
      resp = std::move(*public_answer);
    } else if (req.path == "/.well-known/caldav" || req.path == "/.well-known/caldav/") {
      resp.status = 301;
      resp.Set("Location", "/dav/");
    } else if (req.method == "OPTIONS") {
      resp = handler_.Handle(req, Identity{});
    } else {
      std::string authz = req.Header("authorization").value_or("");
      if (!plaintext_ok) {
        resp = Plain(403, "HTTPS required: this server does not accept passwords over plain HTTP");
      } else if (identity && authz == cached_auth) {
        resp.status = 0;
      } else if (authz.size() < 6 || absl::AsciiStrToLower(authz.substr(0, 6)) != "basic ") {
        resp = Unauthorized("Authentication required");
      } else {
        std::string decoded;
        size_t colon = std::string::npos;
        if (absl::Base64Unescape(absl::StripAsciiWhitespace(authz.substr(6)), &decoded)) colon = decoded.find(':');
        if (colon == std::string::npos || decoded.size() > 1024) {
          resp = Unauthorized("Malformed Basic credentials");
        } else {
          av1::PasswordRequest preq;
          preq.set_username(decoded.substr(0, colon));
          preq.set_password(decoded.substr(colon + 1));
          av1::ClientInfo* client = preq.mutable_client();
          client->set_service("caldav");
          client->set_remote_address(peer);
          client->set_local_address(conn->local_address());
          client->set_tls(plaintext_ok);
          av1::AuthResponse aresp;
          absl::Status rpc_status;
          co_await rt_.Blocking([this, &preq, &aresp, &rpc_status] {
            auto ctx = rpc::ContextWithDeadline(std::chrono::seconds(30));
            grpc::Status st = auth_->CheckPassword(ctx.get(), preq, &aresp);
            rpc_status = st.ok() ? absl::OkStatus() : rpc::FromGrpc(st);
          });
          if (!rpc_status.ok()) {
            log::Warn("caldav.auth_unavailable").Kv("error", rpc_status.message());
            resp = Plain(503, "Authentication service unavailable, try again later");
          } else if (aresp.result() == av1::AUTH_RESULT_OK) {
            identity = Identity{aresp.identity().account_id(), aresp.identity().address(),
                                aresp.identity().display_name()};
            cached_auth = authz;
            resp.status = 0;
          } else if (aresp.result() == av1::AUTH_RESULT_THROTTLED) {
            resp = Plain(503, "Too many failed attempts, try again later");
            resp.Set("Retry-After", std::to_string(aresp.retry_after_seconds()));
          } else {
            identity.reset();
            cached_auth.clear();
            log::Info("caldav.auth_failed").Kv("client", peer).Kv("user", preq.username());
            resp = Unauthorized("Invalid credentials");
          }
        }
      }
      if (resp.status == 0) {
        const Identity& who = *identity;
        resp = co_await rt_.Blocking([this, &req, &who] { return handler_.Handle(req, who); });
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    requests_.Add({{"method", MethodLabel(req.method)}, {"status", std::to_string(resp.status)}}).Increment();
    duration_.Add({{"method", MethodLabel(req.method)}}, metrics::Metrics::LatencyBuckets()).Observe(secs);
    log::Debug("caldav.request").Kv("client", peer).Kv("method", req.method).Kv("path", req.path)
        .Kv("status", resp.status).Kv("user", identity ? identity->address : std::string());
    const bool keep = req.keep_alive && resp.status != 400;
    wbuf = http::Serialize(resp, head, keep);
    auto w = co_await conn->Write(wbuf, kWriteTimeout);
    if (!w.ok() || !keep) co_return;
  }
}

}  // namespace kite::caldav
