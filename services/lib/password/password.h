// Password hashing with argon2id (RFC 9106) through libargon2, in the PHC string format
// ($argon2id$v=19$m=65536,t=3,p=1$salt$hash). Used by kite-auth (verify, rehash on login)
// and kitectl (set passwords).
// Untrusted input: the password (any bytes, bounded by kMaxPasswordLength) and the stored
// hash (from the database; a malformed one verifies as false, never crashes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kite::password {

inline constexpr size_t kMaxPasswordLength = 1024;

struct Argon2Params {
  uint32_t memory_kib = 65536;
  uint32_t iterations = 3;
  uint32_t parallelism = 1;
};

absl::StatusOr<std::string> Hash(std::string_view password, const Argon2Params& params);
// Constant-time comparison inside libargon2. False for a malformed hash.
bool Verify(std::string_view encoded, std::string_view password);
// True when `encoded` was made with other parameters (or another algorithm) than `params`.
bool NeedsRehash(std::string_view encoded, const Argon2Params& params);

}  // namespace kite::password
