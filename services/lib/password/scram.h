// SCRAM-SHA-256 primitives (RFC 5802 section 3, RFC 7677): the stored secret and the proof
// arithmetic, with OpenSSL's HMAC/SHA-256/PBKDF2. No protocol parsing here (that is
// services/auth/scram.h), no I/O.
//
// The stored secret uses PostgreSQL's text format, so secrets can be compared with and
// moved from PostgreSQL's own pg_authid:
//   SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
// Untrusted input: the password (bounded by kMaxPasswordLength) and client proofs; the
// stored secret comes from the database and a malformed one parses as an error, never a crash.
// The password is used as its UTF-8 bytes: SASLprep (RFC 4013) is the identity on printable
// ASCII; non-ASCII passwords are not NFKC-normalised (PostgreSQL does the same when SASLprep
// fails), so a client that normalises a non-NFKC password will not match.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kite::password::scram {

inline constexpr int kDefaultIterations = 4096;
inline constexpr int kMinIterations = 4096;    // RFC 7677: at least 4096
inline constexpr int kMaxIterations = 100000;  // bounds the work a stored secret can ask for
inline constexpr size_t kSaltLength = 16;

using Digest = std::array<unsigned char, 32>;

struct Secret {
  int iterations = kDefaultIterations;
  std::string salt;  // raw bytes
  Digest stored_key{};
  Digest server_key{};
};

// SHA-256(data), HMAC-SHA-256(key, data), PBKDF2-HMAC-SHA-256 (= SCRAM's Hi()).
Digest Sha256(std::string_view data);
Digest Hmac(std::string_view key, std::string_view data);
Digest Hi(std::string_view password, std::string_view salt, int iterations);
inline std::string_view View(const Digest& d) { return {reinterpret_cast<const char*>(d.data()), d.size()}; }

// Derives StoredKey and ServerKey from a password and salt (RFC 5802 section 3).
Secret Derive(std::string_view password, std::string_view salt, int iterations);
// A fresh secret with a random salt (getrandom).
absl::StatusOr<Secret> MakeSecret(std::string_view password, int iterations = kDefaultIterations);

std::string Format(const Secret& secret);
absl::StatusOr<Secret> Parse(std::string_view text);

// AuthMessage = client-first-message-bare + "," + server-first-message + "," +
//               client-final-message-without-proof.
// True when `proof` (raw, 32 bytes) proves knowledge of the password: ClientKey =
// proof XOR HMAC(StoredKey, AuthMessage) and SHA-256(ClientKey) == StoredKey (constant time).
bool VerifyProof(const Secret& secret, std::string_view auth_message, std::string_view proof);
// ServerSignature = HMAC(ServerKey, AuthMessage), raw.
Digest ServerSignature(const Secret& secret, std::string_view auth_message);
// The client's side, for tests and tools: ClientProof for a password.
Digest ClientProof(std::string_view password, std::string_view salt, int iterations, std::string_view auth_message);

// Constant-time equality of two byte strings (false when the lengths differ).
bool ConstantTimeEqual(std::string_view a, std::string_view b);
// n random bytes from getrandom.
absl::StatusOr<std::string> RandomBytes(size_t n);

}  // namespace kite::password::scram
