#include "auth/auth_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"
#include "lib/directory/directory.h"
#include "lib/log/log.h"
#include "lib/rpc/rpc.h"

namespace kite::auth {
namespace {

bool IsLoopback(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address == "::1" || address == "::ffff:127.0.0.1";
}

v1::AuthResponse Result(v1::AuthResult result, std::string message) {
  v1::AuthResponse r;
  r.set_result(result);
  r.set_message(std::move(message));
  return r;
}

}  // namespace

Throttle::Throttle(redis::Options options, ThrottlePolicy policy, metrics::Metrics& metrics)
    : options_(std::move(options)),
      policy_(policy),
      lockouts_(metrics.Counter("kite_auth_lockouts_total", "Lockouts started after too many failed logins").Add({})),
      errors_(metrics.Counter("kite_auth_throttle_errors_total", "Throttle checks skipped because Redis failed").Add({})) {}

absl::StatusOr<redis::Reply> Throttle::Run(const std::vector<std::string>& argv) {
  std::lock_guard lock(mu_);
  if (!client_) {
    auto c = redis::Client::Connect(options_);
    if (!c.ok()) {
      errors_.Increment();
      return c.status();
    }
    client_ = std::move(*c);
  }
  auto r = client_->Command(argv);
  if (!r.ok()) errors_.Increment();
  return r;
}

int Throttle::Locked(const std::string& account, const std::string& client) {
  for (const std::string& key : {absl::StrCat("kite:auth:lock:acct:", account), absl::StrCat("kite:auth:lock:ip:", client)}) {
    auto r = Run({"TTL", key});
    if (r.ok() && r->type == redis::Reply::kInteger && r->integer > 0) return static_cast<int>(r->integer);
  }
  return 0;
}

void Throttle::RecordFailure(const std::string& account, const std::string& client) {
  for (auto [kind, who] : {std::pair<std::string, std::string>{"acct", account}, {"ip", client}}) {
    if (who.empty()) continue;
    std::string key = absl::StrCat("kite:auth:fail:", kind, ":", who);
    auto n = Run({"INCR", key});
    if (!n.ok() || n->type != redis::Reply::kInteger) continue;
    if (n->integer == 1) Run({"EXPIRE", key, absl::StrCat(policy_.window.count())}).IgnoreError();
    if (n->integer == policy_.max_failures) {
      Run({"SET", absl::StrCat("kite:auth:lock:", kind, ":", who), "1", "EX", absl::StrCat(policy_.lockout.count())})
          .IgnoreError();
      Run({"DEL", key}).IgnoreError();
      lockouts_.Increment();
      log::Warn("auth.lockout").Kv(kind == "acct" ? "account" : "client", who).Kv("failures", policy_.max_failures)
          .Kv("lockout_s", static_cast<int64_t>(policy_.lockout.count()));
    }
  }
}

void Throttle::RecordSuccess(const std::string& account) {
  Run({"DEL", absl::StrCat("kite:auth:fail:acct:", account)}).IgnoreError();
}

AuthService::AuthService(store::Pool& pool, Throttle& throttle, password::Argon2Params params,
                         bool allow_plaintext_loopback, metrics::Metrics& metrics)
    : pool_(pool),
      throttle_(throttle),
      params_(params),
      allow_plaintext_loopback_(allow_plaintext_loopback),
      attempts_(metrics.Counter("kite_auth_attempts_total", "Authentication attempts by service and result")) {}

bool AuthService::EncryptionMissing(const v1::ClientInfo& client) const {
  if (client.tls()) return false;
  return !(allow_plaintext_loopback_ && IsLoopback(client.remote_address()));
}

v1::AuthResponse AuthService::Authenticate(const std::string& username, const std::string& password,
                                           const v1::ClientInfo& client) {
  auto count = [&](const char* result) {
    attempts_.Add({{"service", client.service()}, {"result", result}}).Increment();
  };
  if (EncryptionMissing(client)) {
    count("encryption_required");
    return Result(v1::AUTH_RESULT_ENCRYPTION_REQUIRED, "Authentication requires TLS");
  }
  std::string account = absl::AsciiStrToLower(username);
  if (account.size() > 320 || password.size() > password::kMaxPasswordLength) {
    count("invalid");
    return Result(v1::AUTH_RESULT_INVALID_CREDENTIALS, "Invalid credentials");
  }
  if (int wait = throttle_.Locked(account, client.remote_address()); wait > 0) {
    count("throttled");
    log::Info("auth.throttled").Kv("account", log::Truncate(account, 100)).Kv("client", client.remote_address())
        .Kv("service", client.service());
    auto r = Result(v1::AUTH_RESULT_THROTTLED, "Too many failed attempts, try again later");
    r.set_retry_after_seconds(wait);
    return r;
  }
  auto found = directory::FindAccount(pool_, account);
  if (!found.ok()) {
    count("error");
    log::Error("auth.store_error").Kv("error", found.status().message());
    return Result(v1::AUTH_RESULT_UNSPECIFIED, "Temporary failure");
  }
  // An unknown user still costs one hash so timing does not tell which accounts exist.
  static const std::string kDummy = password::Hash("kite-dummy", params_).value_or("");
  bool ok = password::Verify(*found ? (*found)->password_hash : kDummy, password) && *found && (*found)->enabled;
  if (!ok) {
    throttle_.RecordFailure(account, client.remote_address());
    count("invalid");
    log::Info("auth.failed").Kv("account", log::Truncate(account, 100)).Kv("client", client.remote_address())
        .Kv("service", client.service());
    return Result(v1::AUTH_RESULT_INVALID_CREDENTIALS, "Invalid credentials");
  }
  const directory::Account& a = **found;
  throttle_.RecordSuccess(account);
  if (password::NeedsRehash(a.password_hash, params_)) {
    if (auto h = password::Hash(password, params_); h.ok()) {
      if (auto s = directory::SetPasswordHash(pool_, a.id, *h); s.ok()) {
        log::Info("auth.rehashed").Kv("account", a.address);
      }
    }
  }
  count("ok");
  log::Info("auth.ok").Kv("account", a.address).Kv("client", client.remote_address()).Kv("service", client.service());
  v1::AuthResponse r = Result(v1::AUTH_RESULT_OK, "");
  r.mutable_identity()->set_account_id(a.id);
  r.mutable_identity()->set_address(a.address);
  r.mutable_identity()->set_display_name(a.display_name);
  return r;
}

grpc::Status AuthService::CheckPassword(grpc::ServerContext*, const v1::PasswordRequest* req, v1::AuthResponse* resp) {
  *resp = Authenticate(req->username(), req->password(), req->client());
  return grpc::Status::OK;
}

grpc::Status AuthService::ListMechanisms(grpc::ServerContext*, const v1::ListMechanismsRequest* req,
                                         v1::ListMechanismsResponse* resp) {
  if (!EncryptionMissing(req->client())) {
    resp->add_mechanisms("PLAIN");
    resp->add_mechanisms("LOGIN");
  }
  return grpc::Status::OK;
}

grpc::Status AuthService::SaslStart(grpc::ServerContext*, const v1::SaslStartRequest* req, v1::SaslStepResponse* resp) {
  std::string mech = absl::AsciiStrToUpper(req->mechanism());
  if (req->initial_response().size() > kMaxSaslMessage) {
    resp->set_done(true);
    *resp->mutable_outcome() = Result(v1::AUTH_RESULT_MALFORMED, "SASL message too long");
    return grpc::Status::OK;
  }
  if (mech == "PLAIN") {
    if (!req->has_initial_response()) {
      resp->set_done(false);  // empty challenge, the client sends the credentials next
      resp->set_state("PLAIN");
      return grpc::Status::OK;
    }
    v1::SaslStepRequest step;
    step.set_state("PLAIN");
    step.set_response(req->initial_response());
    *step.mutable_client() = req->client();
    return SaslStep(nullptr, &step, resp);
  }
  if (mech == "LOGIN") {
    if (req->has_initial_response() && !req->initial_response().empty()) {
      resp->set_state(absl::StrCat("LOGIN:", req->initial_response()));
      resp->set_challenge("Password:");
    } else {
      resp->set_state("LOGIN");
      resp->set_challenge("Username:");
    }
    resp->set_done(false);
    return grpc::Status::OK;
  }
  resp->set_done(true);
  *resp->mutable_outcome() = Result(v1::AUTH_RESULT_UNSUPPORTED_MECHANISM, "Unsupported mechanism");
  return grpc::Status::OK;
}

grpc::Status AuthService::SaslStep(grpc::ServerContext*, const v1::SaslStepRequest* req, v1::SaslStepResponse* resp) {
  const std::string& state = req->state();
  const std::string& msg = req->response();
  if (msg.size() > kMaxSaslMessage || state.size() > kMaxSaslMessage) {
    resp->set_done(true);
    *resp->mutable_outcome() = Result(v1::AUTH_RESULT_MALFORMED, "SASL message too long");
    return grpc::Status::OK;
  }
  if (state == "PLAIN") {
    // authzid NUL authcid NUL passwd (RFC 4616); authzid must be empty or the user itself.
    size_t a = msg.find('\0');
    size_t b = a == std::string::npos ? a : msg.find('\0', a + 1);
    resp->set_done(true);
    if (b == std::string::npos) {
      *resp->mutable_outcome() = Result(v1::AUTH_RESULT_MALFORMED, "Malformed PLAIN message");
      return grpc::Status::OK;
    }
    std::string authzid = msg.substr(0, a), authcid = msg.substr(a + 1, b - a - 1), pass = msg.substr(b + 1);
    if (!authzid.empty() && absl::AsciiStrToLower(authzid) != absl::AsciiStrToLower(authcid)) {
      *resp->mutable_outcome() = Result(v1::AUTH_RESULT_INVALID_CREDENTIALS, "Authorization identity not permitted");
      return grpc::Status::OK;
    }
    *resp->mutable_outcome() = Authenticate(authcid, pass, req->client());
    return grpc::Status::OK;
  }
  if (state == "LOGIN") {
    resp->set_done(false);
    resp->set_state(absl::StrCat("LOGIN:", msg));
    resp->set_challenge("Password:");
    return grpc::Status::OK;
  }
  if (state.rfind("LOGIN:", 0) == 0) {
    resp->set_done(true);
    *resp->mutable_outcome() = Authenticate(state.substr(6), msg, req->client());
    return grpc::Status::OK;
  }
  resp->set_done(true);
  *resp->mutable_outcome() = Result(v1::AUTH_RESULT_MALFORMED, "Unknown SASL state");
  return grpc::Status::OK;
}

}  // namespace kite::auth
