// kite-auth's kite.auth.v1.Auth service: passwords, app passwords, SASL PLAIN / LOGIN /
// SCRAM-SHA-256, throttling.
//
// SECURITY: passwords arrive over gRPC from the protocol daemons (TLS between daemons when
// configured) and are never logged. One answer (INVALID_CREDENTIALS) for unknown users,
// wrong passwords and disabled accounts. Failures are counted in Redis per account and
// per client address; during a lockout even a correct password is refused. When Redis is
// unreachable, logins still work (fail open) and kite_auth_throttle_errors_total counts it.
// Untrusted input: SASL messages (bounded, see kMaxSaslMessage), usernames, addresses.
// SASL is stateless on this side: what the next step needs travels in the `state` token,
// which for SCRAM is HMAC-protected with a key shared through PostgreSQL (auth_secrets),
// bound to the client's service and address, expires after 5 minutes, and its nonce is
// usable once (Redis). SCRAM's successful end takes one more round: the server-final
// message ("v=...") is sent as a challenge (done=false) and the client's empty answer gets
// the outcome; a failed proof ends at once with INVALID_CREDENTIALS.
// App passwords are accepted by CheckPassword, PLAIN and LOGIN (never SCRAM), within their
// scopes: service imap/managesieve -> imap, pop3, submission/smtp -> smtp, caldav; a
// service name outside these is not scope-checked.
// STANDARDS: RFC 4422 (SASL), RFC 4616 (PLAIN), draft-murchison-sasl-login (LOGIN),
// RFC 5802 + RFC 7677 (SCRAM-SHA-256).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "kite/auth/v1/auth.grpc.pb.h"
#include "lib/config/config.h"
#include "lib/metrics/metrics.h"
#include "lib/password/password.h"
#include "lib/redis/client.h"
#include "lib/store/pool.h"

namespace kite::auth {

inline constexpr size_t kMaxSaslMessage = 4096;
inline constexpr size_t kMaxSaslState = 8192;

struct ThrottlePolicy {
  int max_failures = 10;
  std::chrono::seconds window{900};
  std::chrono::seconds lockout{900};
  // Every failed attempt is answered only after this long (Dovecot's auth_failure_delay):
  // guessing gets slow before the lockout makes it impossible.
  std::chrono::milliseconds failure_delay{0};
};

// Counts failed logins in Redis. Thread-safe.
class Throttle {
 public:
  Throttle(redis::Options options, ThrottlePolicy policy, metrics::Metrics& metrics);
  // Seconds left of an active lockout of the account or the client address; 0 when none.
  int Locked(const std::string& account, const std::string& client);
  void RecordFailure(const std::string& account, const std::string& client);
  void RecordSuccess(const std::string& account);
  // False when `key` was already claimed within `ttl` (SET NX); true when Redis fails.
  bool FirstUse(const std::string& key, std::chrono::seconds ttl);

 private:
  absl::StatusOr<redis::Reply> Run(const std::vector<std::string>& argv);
  redis::Options options_;
  ThrottlePolicy policy_;
  std::mutex mu_;
  std::unique_ptr<redis::Client> client_;
  prometheus::Counter& lockouts_;
  prometheus::Counter& errors_;
};

class AuthService final : public kite::auth::v1::Auth::Service {
 public:
  AuthService(store::Pool& pool, Throttle& throttle, password::Argon2Params params,
              bool allow_plaintext_loopback, metrics::Metrics& metrics);

  grpc::Status CheckPassword(grpc::ServerContext*, const v1::PasswordRequest*, v1::AuthResponse*) override;
  grpc::Status ListMechanisms(grpc::ServerContext*, const v1::ListMechanismsRequest*,
                              v1::ListMechanismsResponse*) override;
  grpc::Status SaslStart(grpc::ServerContext*, const v1::SaslStartRequest*, v1::SaslStepResponse*) override;
  grpc::Status SaslStep(grpc::ServerContext*, const v1::SaslStepRequest*, v1::SaslStepResponse*) override;

  // The whole password check, shared by CheckPassword, PLAIN and LOGIN.
  v1::AuthResponse Authenticate(const std::string& username, const std::string& password,
                                const v1::ClientInfo& client);

 private:
  bool EncryptionMissing(const v1::ClientInfo& client) const;
  void Count(const v1::ClientInfo& client, const char* result);
  v1::AuthResponse Throttled(const std::string& account, const v1::ClientInfo& client, int wait);
  v1::AuthResponse Failed(const std::string& account, const v1::ClientInfo& client, const char* mechanism);
  void ScramStart(const v1::SaslStartRequest& req, v1::SaslStepResponse* resp);
  void ScramStep(const v1::SaslStepRequest& req, v1::SaslStepResponse* resp);
  // The SASL state HMAC key (auth_secrets 'sasl_state'), created on first use.
  absl::StatusOr<std::string> StateKey();
  store::Pool& pool_;
  Throttle& throttle_;
  password::Argon2Params params_;
  bool allow_plaintext_loopback_;
  prometheus::Family<prometheus::Counter>& attempts_;
  std::mutex key_mu_;
  std::string state_key_;  // guarded by key_mu_; empty until loaded
};

}  // namespace kite::auth
