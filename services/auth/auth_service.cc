#include "auth/auth_service.h"

#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"
#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "auth/sasl.h"
#include "auth/scram.h"
#include "lib/directory/credentials.h"
#include "lib/password/scram.h"
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

// The app-password scope a service's logins need; "" = not scope-checked.
std::string ScopeOf(const std::string& service) {
  if (service == "imap" || service == "managesieve") return "imap";
  if (service == "pop3") return "pop3";
  if (service == "submission" || service == "smtp") return "smtp";
  if (service == "caldav") return "caldav";
  return "";
}

v1::Identity IdentityOf(const directory::Credentials& c) {
  v1::Identity id;
  id.set_account_id(c.account_id);
  id.set_address(c.address);
  id.set_display_name(c.display_name);
  return id;
}

std::string Binding(const v1::ClientInfo& client) {
  return absl::StrCat(client.service(), std::string(1, '\0'), client.remote_address());
}

void Finish(v1::SaslStepResponse* resp, v1::AuthResponse outcome) {
  resp->set_done(true);
  resp->clear_challenge();
  resp->clear_state();
  *resp->mutable_outcome() = std::move(outcome);
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
  if (policy_.failure_delay.count() > 0) std::this_thread::sleep_for(policy_.failure_delay);
}

void Throttle::RecordSuccess(const std::string& account) {
  Run({"DEL", absl::StrCat("kite:auth:fail:acct:", account)}).IgnoreError();
}

bool Throttle::FirstUse(const std::string& key, std::chrono::seconds ttl) {
  auto r = Run({"SET", key, "1", "NX", "EX", absl::StrCat(ttl.count())});
  if (!r.ok() || r->is_error()) return true;  // fail open, like the throttle
  return !r->is_nil();
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

void AuthService::Count(const v1::ClientInfo& client, const char* result) {
  attempts_.Add({{"service", client.service()}, {"result", result}}).Increment();
}

v1::AuthResponse AuthService::Throttled(const std::string& account, const v1::ClientInfo& client, int wait) {
  Count(client, "throttled");
  log::Info("auth.throttled").Kv("account", log::Truncate(account, 100)).Kv("client", client.remote_address())
      .Kv("service", client.service());
  auto r = Result(v1::AUTH_RESULT_THROTTLED, "Too many failed attempts, try again later");
  r.set_retry_after_seconds(wait);
  return r;
}

v1::AuthResponse AuthService::Failed(const std::string& account, const v1::ClientInfo& client, const char* mechanism) {
  throttle_.RecordFailure(account, client.remote_address());
  Count(client, "invalid");
  log::Info("auth.failed").Kv("account", log::Truncate(account, 100)).Kv("client", client.remote_address())
      .Kv("service", client.service()).Kv("mechanism", mechanism);
  return Result(v1::AUTH_RESULT_INVALID_CREDENTIALS, "Invalid credentials");
}

v1::AuthResponse AuthService::Authenticate(const std::string& username, const std::string& password,
                                           const v1::ClientInfo& client) {
  if (EncryptionMissing(client)) {
    Count(client, "encryption_required");
    return Result(v1::AUTH_RESULT_ENCRYPTION_REQUIRED, "Authentication requires TLS");
  }
  std::string account = absl::AsciiStrToLower(username);
  if (account.size() > 320 || password.size() > password::kMaxPasswordLength) {
    Count(client, "invalid");
    return Result(v1::AUTH_RESULT_INVALID_CREDENTIALS, "Invalid credentials");
  }
  if (int wait = throttle_.Locked(account, client.remote_address()); wait > 0) {
    return Throttled(account, client, wait);
  }
  auto found = directory::FindCredentials(pool_, account);
  if (!found.ok()) {
    Count(client, "error");
    log::Error("auth.store_error").Kv("error", std::string(found.status().message()));
    return Result(v1::AUTH_RESULT_UNSPECIFIED, "Temporary failure");
  }
  // An unknown user still costs one hash so timing does not tell which accounts exist.
  static const std::string kDummy = password::Hash("kite-dummy", params_).value_or("");
  const bool exists = found->has_value();
  bool main_ok = password::Verify(exists ? (*found)->password_hash : kDummy, password) && exists;
  std::string app_name;
  if (!main_ok && exists && (*found)->enabled && directory::CanLogIn((*found)->password_hash)) {
    auto app = directory::MatchAppPassword(pool_, (*found)->account_id, password, ScopeOf(client.service()));
    if (!app.ok()) {
      Count(client, "error");
      log::Error("auth.store_error").Kv("error", std::string(app.status().message()));
      return Result(v1::AUTH_RESULT_UNSPECIFIED, "Temporary failure");
    }
    if (app->has_value()) app_name = (*app)->name;
  }
  if (!(main_ok || !app_name.empty()) || !(*found)->enabled) return Failed(account, client, "password");
  const directory::Credentials& a = **found;
  throttle_.RecordSuccess(account);
  if (main_ok) {
    // Upgrade what is stored while the password is at hand: argon2id parameters that
    // changed, and a SCRAM secret the account did not have yet.
    std::string new_hash, new_scram;
    if (password::NeedsRehash(a.password_hash, params_)) new_hash = password::Hash(password, params_).value_or("");
    if (a.scram_sha256.empty()) {
      if (auto sec = password::scram::MakeSecret(password); sec.ok()) new_scram = password::scram::Format(*sec);
    }
    if (!new_hash.empty() || !new_scram.empty()) {
      auto s = directory::UpgradeCredentials(pool_, a.account_id, a.password_hash, new_hash, new_scram);
      if (s.ok()) {
        log::Info("auth.upgraded").Kv("account", a.address).Kv("rehashed", !new_hash.empty())
            .Kv("scram_added", !new_scram.empty());
      } else {
        log::Warn("auth.upgrade_failed").Kv("account", a.address).Kv("error", std::string(s.message()));
      }
    }
  }
  Count(client, "ok");
  auto line = log::Info("auth.ok");
  line.Kv("account", a.address).Kv("client", client.remote_address()).Kv("service", client.service());
  if (!app_name.empty()) line.Kv("app_password", log::Truncate(app_name, 100));
  v1::AuthResponse r = Result(v1::AUTH_RESULT_OK, "");
  *r.mutable_identity() = IdentityOf(a);
  return r;
}

grpc::Status AuthService::CheckPassword(grpc::ServerContext*, const v1::PasswordRequest* req, v1::AuthResponse* resp) {
  *resp = Authenticate(req->username(), req->password(), req->client());
  return grpc::Status::OK;
}

grpc::Status AuthService::ListMechanisms(grpc::ServerContext*, const v1::ListMechanismsRequest* req,
                                         v1::ListMechanismsResponse* resp) {
  if (!EncryptionMissing(req->client())) {
    resp->add_mechanisms(std::string(scram::kMechanism));
    resp->add_mechanisms("PLAIN");
    resp->add_mechanisms("LOGIN");
  }
  return grpc::Status::OK;
}

absl::StatusOr<std::string> AuthService::StateKey() {
  std::lock_guard lock(key_mu_);
  if (!state_key_.empty()) return state_key_;
  auto fresh = password::scram::RandomBytes(32);
  if (!fresh.ok()) return fresh.status();
  std::string hex = absl::BytesToHexString(*fresh);
  auto key = pool_.Transact([&](pqxx::work& tx) -> std::string {
    tx.exec_params("INSERT INTO auth_secrets(name, secret) VALUES ('sasl_state', decode($1, 'hex')) "
                   "ON CONFLICT (name) DO NOTHING",
                   hex);
    return tx.exec("SELECT encode(secret, 'hex') FROM auth_secrets WHERE name = 'sasl_state'")[0][0].as<std::string>();
  });
  if (!key.ok()) return key.status();
  state_key_ = absl::HexStringToBytes(*key);
  return state_key_;
}

void AuthService::ScramStart(const v1::SaslStartRequest& req, v1::SaslStepResponse* resp) {
  const v1::ClientInfo& client = req.client();
  if (EncryptionMissing(client)) {
    Count(client, "encryption_required");
    return Finish(resp, Result(v1::AUTH_RESULT_ENCRYPTION_REQUIRED, "Authentication requires TLS"));
  }
  if (!req.has_initial_response() || req.initial_response().empty()) {
    // SCRAM is client-first: an empty challenge asks for the client-first message.
    resp->set_done(false);
    resp->set_state("SCRAM-START");
    return;
  }
  auto first = scram::ParseClientFirst(req.initial_response());
  if (!first.ok()) {
    Count(client, "malformed");
    return Finish(resp, Result(v1::AUTH_RESULT_MALFORMED, std::string(first.status().message())));
  }
  std::string account = absl::AsciiStrToLower(first->username);
  if (!first->authzid.empty() && absl::AsciiStrToLower(first->authzid) != account) {
    Count(client, "invalid");
    return Finish(resp, Result(v1::AUTH_RESULT_INVALID_CREDENTIALS, "Authorization identity not permitted"));
  }
  if (account.size() > 320) return Finish(resp, Failed(account, client, "scram"));
  if (int wait = throttle_.Locked(account, client.remote_address()); wait > 0) {
    return Finish(resp, Throttled(account, client, wait));
  }
  auto key = StateKey();
  auto found = key.ok() ? directory::FindCredentials(pool_, account)
                        : absl::StatusOr<std::optional<directory::Credentials>>(key.status());
  auto snonce = password::scram::RandomBytes(18);
  if (!found.ok() || !snonce.ok()) {
    Count(client, "error");
    log::Error("auth.store_error").Kv("error", std::string((!found.ok() ? found.status() : snonce.status()).message()));
    return Finish(resp, Result(v1::AUTH_RESULT_UNSPECIFIED, "Temporary failure"));
  }
  scram::State st;
  st.username = account;
  st.gs2_header = first->gs2_header;
  st.client_first_bare = first->bare;
  st.expires_unix = absl::ToUnixSeconds(absl::Now()) + scram::kStateLifetimeSeconds;
  std::string salt;
  int iterations = password::scram::kDefaultIterations;
  absl::StatusOr<password::scram::Secret> secret = absl::NotFoundError("no secret");
  if (found->has_value() && (*found)->enabled && !(*found)->scram_sha256.empty()) {
    secret = password::scram::Parse((*found)->scram_sha256);
  }
  if (secret.ok()) {
    st.account_id = (*found)->account_id;
    salt = secret->salt;
    iterations = secret->iterations;
  } else {
    // Unknown user, disabled account or no SCRAM secret yet: a salt that is stable per name
    // and looks real, so the answer does not tell which accounts exist. The proof will fail.
    salt = std::string(password::scram::View(password::scram::Hmac(*key, absl::StrCat("fake-salt:", account))))
               .substr(0, password::scram::kSaltLength);
  }
  std::string nonce = absl::StrCat(first->nonce, absl::Base64Escape(*snonce));
  st.server_first = scram::ServerFirst(nonce, salt, iterations);
  resp->set_done(false);
  resp->set_challenge(st.server_first);
  resp->set_state(scram::Seal(st, *key, Binding(client)));
}

void AuthService::ScramStep(const v1::SaslStepRequest& req, v1::SaslStepResponse* resp) {
  const v1::ClientInfo& client = req.client();
  auto key = StateKey();
  if (!key.ok()) {
    Count(client, "error");
    log::Error("auth.store_error").Kv("error", std::string(key.status().message()));
    return Finish(resp, Result(v1::AUTH_RESULT_UNSPECIFIED, "Temporary failure"));
  }
  auto st = scram::Open(req.state(), *key, Binding(client), absl::ToUnixSeconds(absl::Now()));
  if (!st.ok()) {
    Count(client, "malformed");
    log::Warn("auth.bad_sasl_state").Kv("client", client.remote_address()).Kv("service", client.service())
        .Kv("error", std::string(st.status().message()));
    return Finish(resp, Result(v1::AUTH_RESULT_MALFORMED, "Invalid or expired SASL exchange"));
  }
  if (EncryptionMissing(client)) {
    Count(client, "encryption_required");
    return Finish(resp, Result(v1::AUTH_RESULT_ENCRYPTION_REQUIRED, "Authentication requires TLS"));
  }
  if (st->stage == 2) {
    // The client's answer to server-final: empty, then the identity.
    if (!req.response().empty()) return Finish(resp, Result(v1::AUTH_RESULT_MALFORMED, "Expected an empty response"));
    auto found = directory::FindCredentialsById(pool_, st->account_id);
    if (!found.ok()) return Finish(resp, Result(v1::AUTH_RESULT_UNSPECIFIED, "Temporary failure"));
    if (!found->has_value() || !(*found)->enabled) {
      return Finish(resp, Result(v1::AUTH_RESULT_INVALID_CREDENTIALS, "Invalid credentials"));
    }
    v1::AuthResponse r = Result(v1::AUTH_RESULT_OK, "");
    *r.mutable_identity() = IdentityOf(**found);
    return Finish(resp, std::move(r));
  }
  if (st->stage != 1) return Finish(resp, Result(v1::AUTH_RESULT_MALFORMED, "Invalid SASL state"));
  auto final = scram::ParseClientFinal(req.response());
  std::string nonce = st->server_first.substr(2, st->server_first.find(',') - 2);
  if (!final.ok() || final->channel_binding != st->gs2_header || final->nonce != nonce) {
    Count(client, "malformed");
    std::string why = !final.ok() ? std::string(final.status().message())
                      : final->channel_binding != st->gs2_header ? "SCRAM: channel binding mismatch"
                                                                  : "SCRAM: nonce mismatch";
    return Finish(resp, Result(v1::AUTH_RESULT_MALFORMED, why));
  }
  const std::string& account = st->username;
  // A lockout that began after the first step (or during it) stops a correct proof too.
  if (int wait = throttle_.Locked(account, client.remote_address()); wait > 0) {
    return Finish(resp, Throttled(account, client, wait));
  }
  std::optional<directory::Credentials> creds;
  absl::StatusOr<password::scram::Secret> secret = absl::NotFoundError("no secret");
  if (st->account_id != 0) {
    auto found = directory::FindCredentialsById(pool_, st->account_id);
    if (!found.ok()) {
      Count(client, "error");
      return Finish(resp, Result(v1::AUTH_RESULT_UNSPECIFIED, "Temporary failure"));
    }
    creds = *found;
    if (creds && creds->enabled && !creds->scram_sha256.empty()) secret = password::scram::Parse(creds->scram_sha256);
  }
  std::string auth_message = absl::StrCat(st->client_first_bare, ",", st->server_first, ",", final->without_proof);
  // The secret must still be the one whose salt was announced (a password change between
  // the steps fails the exchange).
  bool ok = secret.ok() &&
            scram::ServerFirst(nonce, secret->salt, secret->iterations) == st->server_first &&
            password::scram::VerifyProof(*secret, auth_message, final->proof);
  if (ok && !throttle_.FirstUse(absl::StrCat("kite:auth:scram:", nonce), std::chrono::seconds(scram::kStateLifetimeSeconds))) {
    log::Warn("auth.scram_replay").Kv("account", account).Kv("client", client.remote_address());
    ok = false;
  }
  if (!ok) return Finish(resp, Failed(account, client, "scram"));
  throttle_.RecordSuccess(account);
  Count(client, "ok");
  log::Info("auth.ok").Kv("account", creds->address).Kv("client", client.remote_address())
      .Kv("service", client.service()).Kv("mechanism", "scram-sha-256");
  scram::State done;
  done.stage = 2;
  done.expires_unix = st->expires_unix;
  done.account_id = creds->account_id;
  done.username = account;
  resp->set_done(false);
  resp->set_challenge(absl::StrCat(
      "v=", absl::Base64Escape(AV(password::scram::View(password::scram::ServerSignature(*secret, auth_message))))));
  resp->set_state(scram::Seal(done, *key, Binding(client)));
}

grpc::Status AuthService::SaslStart(grpc::ServerContext*, const v1::SaslStartRequest* req, v1::SaslStepResponse* resp) {
  std::string mech = absl::AsciiStrToUpper(req->mechanism());
  if (req->initial_response().size() > kMaxSaslMessage) {
    Finish(resp, Result(v1::AUTH_RESULT_MALFORMED, "SASL message too long"));
    return grpc::Status::OK;
  }
  if (mech == scram::kMechanism) {
    ScramStart(*req, resp);
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
      absl::StatusOr<std::string> user = sasl::ParseLoginUsername(req->initial_response());
      if (!user.ok()) {
        Finish(resp, Result(v1::AUTH_RESULT_INVALID_CREDENTIALS, "Invalid credentials"));
        return grpc::Status::OK;
      }
      resp->set_state(absl::StrCat("LOGIN:", *user));
      resp->set_challenge("Password:");
    } else {
      resp->set_state("LOGIN");
      resp->set_challenge("Username:");
    }
    resp->set_done(false);
    return grpc::Status::OK;
  }
  Finish(resp, Result(v1::AUTH_RESULT_UNSUPPORTED_MECHANISM, "Unsupported mechanism"));
  return grpc::Status::OK;
}

grpc::Status AuthService::SaslStep(grpc::ServerContext*, const v1::SaslStepRequest* req, v1::SaslStepResponse* resp) {
  const std::string& state = req->state();
  const std::string& msg = req->response();
  if (msg.size() > kMaxSaslMessage || state.size() > kMaxSaslState) {
    Finish(resp, Result(v1::AUTH_RESULT_MALFORMED, "SASL message too long"));
    return grpc::Status::OK;
  }
  if (scram::IsStateToken(state)) {
    ScramStep(*req, resp);
    return grpc::Status::OK;
  }
  if (state == "SCRAM-START") {
    // The client-first message after an empty initial challenge.
    v1::SaslStartRequest start;
    start.set_mechanism(std::string(scram::kMechanism));
    start.set_initial_response(msg);
    start.set_has_initial_response(true);
    *start.mutable_client() = req->client();
    if (msg.empty()) {
      Finish(resp, Result(v1::AUTH_RESULT_MALFORMED, "Expected the SCRAM client-first message"));
      return grpc::Status::OK;
    }
    ScramStart(start, resp);
    return grpc::Status::OK;
  }
  if (state == "PLAIN") {
    // authzid NUL authcid NUL passwd (RFC 4616); authzid must be empty or the user itself.
    absl::StatusOr<sasl::Plain> plain = sasl::ParsePlain(msg);
    if (!plain.ok()) {
      Finish(resp, Result(v1::AUTH_RESULT_MALFORMED, "Malformed PLAIN message"));
      return grpc::Status::OK;
    }
    if (!sasl::AuthzidPermitted(*plain)) {
      Finish(resp, Result(v1::AUTH_RESULT_INVALID_CREDENTIALS, "Authorization identity not permitted"));
      return grpc::Status::OK;
    }
    Finish(resp, Authenticate(plain->authcid, plain->password, req->client()));
    return grpc::Status::OK;
  }
  if (state == "LOGIN") {
    absl::StatusOr<std::string> user = sasl::ParseLoginUsername(msg);
    if (!user.ok()) {
      Finish(resp, Result(v1::AUTH_RESULT_INVALID_CREDENTIALS, "Invalid credentials"));
      return grpc::Status::OK;
    }
    resp->set_done(false);
    resp->set_state(absl::StrCat("LOGIN:", *user));
    resp->set_challenge("Password:");
    return grpc::Status::OK;
  }
  if (state.rfind("LOGIN:", 0) == 0) {
    Finish(resp, Authenticate(state.substr(6), msg, req->client()));
    return grpc::Status::OK;
  }
  Finish(resp, Result(v1::AUTH_RESULT_MALFORMED, "Unknown SASL state"));
  return grpc::Status::OK;
}

}  // namespace kite::auth
