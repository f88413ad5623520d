// SASL PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login) client messages, decoded:
// pure functions (no socket, no gRPC, no database), so they can be fuzzed on their own
// (tests/fuzz/auth/auth_sasl_fuzz.cc). The protocol daemons base64-decode what the client
// sent and hand the octets to kite-auth, which parses them here.
// Untrusted input: every message; the caller bounds its size (kMaxSaslMessage).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kite::auth::sasl {

// The longest LOGIN user name kept between the two LOGIN steps (an address is at most 320).
inline constexpr size_t kMaxLoginUsername = 320;

struct Plain {
  std::string authzid;  // "" when absent
  std::string authcid;
  std::string password;
};

// authzid NUL authcid NUL passwd. InvalidArgument when either NUL is missing. The password
// is everything after the second NUL (compared as is: a NUL in it cannot match).
absl::StatusOr<Plain> ParsePlain(std::string_view message);

// True when the authorization identity is absent or the authentication identity itself
// (ASCII case-insensitively): nobody logs in as someone else.
bool AuthzidPermitted(const Plain& plain);

// The user name of a LOGIN exchange (its first response); InvalidArgument beyond
// kMaxLoginUsername octets.
absl::StatusOr<std::string> ParseLoginUsername(std::string_view message);

}  // namespace kite::auth::sasl
