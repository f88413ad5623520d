// sasl::AuthClient over kite-auth's gRPC API (kite.auth.v1.Auth): the blocking calls run on
// the daemon's worker pool (daemon::Runtime::Blocking), each with its own deadline. One per
// exchange or password check: it carries the connection's ClientInfo (TLS state included,
// which STARTTLS changes).
#pragma once

#include <chrono>
#include <string>

#include "kite/auth/v1/auth.grpc.pb.h"
#include "lib/daemon/daemon.h"
#include "lib/sasl/driver.h"

namespace kite::sasl {

// kite.auth.v1 answers in this library's terms.
AuthReply FromProto(const kite::auth::v1::SaslStepResponse& step);
AuthReply FromProto(const kite::auth::v1::AuthResponse& response);

class GrpcAuthClient final : public AuthClient {
 public:
  // kite-auth answers failed logins only after auth.failure_delay: `deadline` must allow it.
  GrpcAuthClient(daemon::Runtime& rt, kite::auth::v1::Auth::StubInterface& stub,
                 kite::auth::v1::ClientInfo client, std::chrono::seconds deadline)
      : rt_(rt), stub_(stub), client_(std::move(client)), deadline_(deadline) {}

  boost::asio::awaitable<absl::StatusOr<AuthReply>> Start(
      const std::string& mechanism, const std::string* initial_response) override;
  boost::asio::awaitable<absl::StatusOr<AuthReply>> Step(const std::string& state,
                                                         const std::string& response) override;
  boost::asio::awaitable<absl::StatusOr<AuthReply>> CheckPassword(
      const std::string& username, const std::string& password) override;

 private:
  daemon::Runtime& rt_;
  kite::auth::v1::Auth::StubInterface& stub_;
  kite::auth::v1::ClientInfo client_;
  std::chrono::seconds deadline_;
};

}  // namespace kite::sasl
