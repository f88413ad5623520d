#include "lib/password/password.h"

#include <argon2.h>
#include <sys/random.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kite::password {
namespace {
constexpr size_t kSaltLength = 16;
constexpr size_t kHashLength = 32;
}  // namespace

absl::StatusOr<std::string> Hash(std::string_view password, const Argon2Params& params) {
  if (password.size() > kMaxPasswordLength) {
    return absl::InvalidArgumentError("password too long");
  }
  unsigned char salt[kSaltLength];
  if (getrandom(salt, sizeof salt, 0) != static_cast<ssize_t>(sizeof salt)) {
    return absl::InternalError("getrandom failed");
  }
  size_t len = argon2_encodedlen(params.iterations, params.memory_kib, params.parallelism,
                                 kSaltLength, kHashLength, Argon2_id);
  std::vector<char> encoded(len);
  int rc = argon2id_hash_encoded(params.iterations, params.memory_kib, params.parallelism,
                                 password.data(), password.size(), salt, kSaltLength, kHashLength,
                                 encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return absl::InvalidArgumentError(absl::StrCat("argon2id: ", argon2_error_message(rc)));
  }
  return std::string(encoded.data());
}

bool Verify(std::string_view encoded, std::string_view password) {
  if (password.size() > kMaxPasswordLength || encoded.size() > 512) return false;
  if (encoded.substr(0, 10) != "$argon2id$") return false;
  std::string enc(encoded);  // libargon2 wants a NUL-terminated string
  return argon2id_verify(enc.c_str(), password.data(), password.size()) == ARGON2_OK;
}

bool NeedsRehash(std::string_view encoded, const Argon2Params& params) {
  std::string want = absl::StrFormat("$argon2id$v=19$m=%u,t=%u,p=%u$", params.memory_kib,
                                     params.iterations, params.parallelism);
  return encoded.substr(0, want.size()) != want;
}

}  // namespace kite::password
