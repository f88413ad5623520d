// The SCRAM-SHA-256 SASL mechanism's protocol part (RFC 5802, RFC 7677): parsing the
// client's messages, building the server's, and the sealed state token that lets any
// kite-auth replica continue an exchange. Pure functions: no socket, no clock (the caller
// passes the time), no database.
//
// Supported: gs2 channel-binding flags "n" and "y" (no SCRAM-SHA-256-PLUS: "p=" is
// refused), an authzid equal to the username or absent, no mandatory extensions ("m=" is
// refused as RFC 5802 section 5.1 requires).
// Untrusted input: both client messages (bounded by kMaxClientMessage; NUL, bad saslname
// escapes and non-printable nonces are errors) and the state token (which the caller holds:
// authenticated with HMAC-SHA-256, bound to the client's service and address, and expiring).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kite::auth::scram {

inline constexpr std::string_view kMechanism = "SCRAM-SHA-256";
inline constexpr size_t kMaxClientMessage = 1024;
inline constexpr size_t kMaxNonce = 256;
inline constexpr int64_t kStateLifetimeSeconds = 300;

struct ClientFirst {
  std::string gs2_header;  // "n,," / "y,,a=..,": echoed base64-encoded in c= of client-final
  std::string authzid;     // decoded; "" when absent
  std::string username;    // decoded saslname
  std::string nonce;
  std::string bare;  // client-first-message-bare, part of AuthMessage
};
absl::StatusOr<ClientFirst> ParseClientFirst(std::string_view message);

struct ClientFinal {
  std::string channel_binding;  // decoded c=
  std::string nonce;
  std::string proof;          // raw (decoded p=)
  std::string without_proof;  // client-final-message-without-proof, part of AuthMessage
};
absl::StatusOr<ClientFinal> ParseClientFinal(std::string_view message);

// "r=<nonce>,s=<base64 salt>,i=<iterations>"
std::string ServerFirst(std::string_view nonce, std::string_view salt, int iterations);

// What the next step needs. stage 1: waiting for client-final; stage 2: server-final sent,
// waiting for the client's empty response.
struct State {
  int stage = 1;
  int64_t expires_unix = 0;
  int64_t account_id = 0;  // 0: unknown user or no usable secret (the exchange must fail)
  std::string username;
  std::string gs2_header;
  std::string client_first_bare;
  std::string server_first;
};

// True when `token` looks like a SCRAM state token (so the caller dispatches to Open).
bool IsStateToken(std::string_view token);
// `binding` ties the token to the connection (service and client address); `key` is the
// HMAC key shared by the replicas.
std::string Seal(const State& state, std::string_view key, std::string_view binding);
// InvalidArgument for a malformed or forged token, DeadlineExceeded for an expired one.
absl::StatusOr<State> Open(std::string_view token, std::string_view key, std::string_view binding, int64_t now_unix);

}  // namespace kite::auth::scram
