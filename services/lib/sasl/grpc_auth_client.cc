#include "lib/sasl/grpc_auth_client.h"

#include <utility>

#include "lib/rpc/rpc.h"

namespace kite::sasl {

namespace av1 = kite::auth::v1;

namespace {

AuthReply::Result ResultOf(av1::AuthResult r) {
  switch (r) {
    case av1::AUTH_RESULT_OK:
      return AuthReply::Result::kOk;
    case av1::AUTH_RESULT_INVALID_CREDENTIALS:
      return AuthReply::Result::kInvalidCredentials;
    case av1::AUTH_RESULT_THROTTLED:
      return AuthReply::Result::kThrottled;
    case av1::AUTH_RESULT_ENCRYPTION_REQUIRED:
      return AuthReply::Result::kEncryptionRequired;
    case av1::AUTH_RESULT_UNSUPPORTED_MECHANISM:
      return AuthReply::Result::kUnsupportedMechanism;
    case av1::AUTH_RESULT_MALFORMED:
      return AuthReply::Result::kMalformed;
    default:
      return AuthReply::Result::kUnspecified;
  }
}

void SetOutcome(const av1::AuthResponse& response, AuthReply* out) {
  out->result = ResultOf(response.result());
  out->identity.account_id = response.identity().account_id();
  out->identity.address = response.identity().address();
  out->identity.display_name = response.identity().display_name();
  out->retry_after_seconds = response.retry_after_seconds();
}

}  // namespace

AuthReply FromProto(const av1::SaslStepResponse& step) {
  AuthReply r;
  r.done = step.done();
  r.challenge = step.challenge();
  r.state = step.state();
  if (step.done()) SetOutcome(step.outcome(), &r);
  return r;
}

AuthReply FromProto(const av1::AuthResponse& response) {
  AuthReply r;
  SetOutcome(response, &r);
  return r;
}

// The lambdas given to rt_.Blocking capture only references to named locals (GCC 12
// destroys some temporaries of a co_await expression twice).
boost::asio::awaitable<absl::StatusOr<AuthReply>> GrpcAuthClient::Start(
    const std::string& mechanism, const std::string* initial_response) {
  av1::SaslStartRequest req;
  req.set_mechanism(mechanism);
  if (initial_response) {
    req.set_initial_response(*initial_response);
    req.set_has_initial_response(true);
  }
  *req.mutable_client() = client_;
  av1::SaslStepResponse resp;
  absl::Status status;
  co_await rt_.Blocking([this, &req, &resp, &status] {
    auto ctx = rpc::ContextWithDeadline(deadline_);
    grpc::Status st = stub_.SaslStart(ctx.get(), req, &resp);
    status = st.ok() ? absl::OkStatus() : rpc::FromGrpc(st);
  });
  req.clear_initial_response();
  if (!status.ok()) co_return status;
  co_return FromProto(resp);
}

boost::asio::awaitable<absl::StatusOr<AuthReply>> GrpcAuthClient::Step(
    const std::string& state, const std::string& response) {
  av1::SaslStepRequest req;
  req.set_state(state);
  req.set_response(response);
  *req.mutable_client() = client_;
  av1::SaslStepResponse resp;
  absl::Status status;
  co_await rt_.Blocking([this, &req, &resp, &status] {
    auto ctx = rpc::ContextWithDeadline(deadline_);
    grpc::Status st = stub_.SaslStep(ctx.get(), req, &resp);
    status = st.ok() ? absl::OkStatus() : rpc::FromGrpc(st);
  });
  req.clear_response();
  if (!status.ok()) co_return status;
  co_return FromProto(resp);
}

boost::asio::awaitable<absl::StatusOr<AuthReply>> GrpcAuthClient::CheckPassword(
    const std::string& username, const std::string& password) {
  av1::PasswordRequest req;
  req.set_username(username);
  req.set_password(password);
  *req.mutable_client() = client_;
  av1::AuthResponse resp;
  absl::Status status;
  co_await rt_.Blocking([this, &req, &resp, &status] {
    auto ctx = rpc::ContextWithDeadline(deadline_);
    grpc::Status st = stub_.CheckPassword(ctx.get(), req, &resp);
    status = st.ok() ? absl::OkStatus() : rpc::FromGrpc(st);
  });
  req.clear_password();
  if (!status.ok()) co_return status;
  co_return FromProto(resp);
}

}  // namespace kite::sasl
