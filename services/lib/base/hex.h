// Lower-case hexadecimal of bytes, and a SHA-256 digest in that form (OpenSSL's libcrypto:
// callers link OpenSSL::Crypto).
#pragma once

#include <openssl/sha.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace kite {

inline std::string Hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

// The first `bytes` bytes (at most 32) of SHA-256(text), as 2*bytes hex digits.
inline std::string Sha256Hex(std::string_view text, size_t bytes = SHA256_DIGEST_LENGTH) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return Hex(digest, std::min<size_t>(bytes, SHA256_DIGEST_LENGTH));
}

}  // namespace kite
