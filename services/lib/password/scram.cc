#include "lib/password/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sys/random.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/base/strings.h"

namespace kite::password::scram {

Digest Sha256(std::string_view data) {
  Digest out{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

Digest Hmac(std::string_view key, std::string_view data) {
  Digest out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out.data(), &len);
  return out;
}

Digest Hi(std::string_view password, std::string_view salt, int iterations) {
  Digest out{};
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), iterations,
                    EVP_sha256(), static_cast<int>(out.size()), out.data());
  return out;
}

Secret Derive(std::string_view password, std::string_view salt, int iterations) {
  Secret s;
  s.iterations = iterations;
  s.salt = std::string(salt);
  Digest salted = Hi(password, salt, iterations);
  Digest client_key = Hmac(View(salted), "Client Key");
  s.stored_key = Sha256(View(client_key));
  s.server_key = Hmac(View(salted), "Server Key");
  OPENSSL_cleanse(salted.data(), salted.size());
  OPENSSL_cleanse(client_key.data(), client_key.size());
  return s;
}

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(out.data() + got, n - got, 0);
    if (r <= 0) return absl::InternalError("getrandom failed");
    got += static_cast<size_t>(r);
  }
  return out;
}

absl::StatusOr<Secret> MakeSecret(std::string_view password, int iterations) {
  if (iterations < kMinIterations || iterations > kMaxIterations) {
    return absl::InvalidArgumentError("SCRAM iteration count out of range");
  }
  auto salt = RandomBytes(kSaltLength);
  if (!salt.ok()) return salt.status();
  return Derive(password, *salt, iterations);
}

std::string Format(const Secret& s) {
  return absl::StrCat("SCRAM-SHA-256$", s.iterations, ":", absl::Base64Escape(s.salt), "$",
                      absl::Base64Escape(AV(View(s.stored_key))), ":", absl::Base64Escape(AV(View(s.server_key))));
}

namespace {
bool DecodeDigest(absl::string_view b64, Digest& out) {
  std::string raw;
  if (!absl::Base64Unescape(b64, &raw) || raw.size() != out.size()) return false;
  std::copy(raw.begin(), raw.end(), out.begin());
  return true;
}
}  // namespace

absl::StatusOr<Secret> Parse(std::string_view text) {
  auto bad = [] { return absl::InvalidArgumentError("malformed SCRAM-SHA-256 secret"); };
  if (text.size() > 512) return bad();
  std::vector<absl::string_view> parts = absl::StrSplit(AV(text), '$');
  if (parts.size() != 3 || parts[0] != "SCRAM-SHA-256") return bad();
  std::vector<absl::string_view> a = absl::StrSplit(parts[1], ':');
  std::vector<absl::string_view> b = absl::StrSplit(parts[2], ':');
  if (a.size() != 2 || b.size() != 2) return bad();
  Secret s;
  if (!absl::SimpleAtoi(a[0], &s.iterations) || s.iterations < 1 || s.iterations > kMaxIterations) return bad();
  if (!absl::Base64Unescape(a[1], &s.salt) || s.salt.empty()) return bad();
  if (!DecodeDigest(b[0], s.stored_key) || !DecodeDigest(b[1], s.server_key)) return bad();
  return s;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool VerifyProof(const Secret& secret, std::string_view auth_message, std::string_view proof) {
  if (proof.size() != 32) return false;
  Digest signature = Hmac(View(secret.stored_key), auth_message);
  Digest client_key{};
  for (size_t i = 0; i < client_key.size(); ++i) {
    client_key[i] = static_cast<unsigned char>(static_cast<unsigned char>(proof[i]) ^ signature[i]);
  }
  Digest stored = Sha256(View(client_key));
  return ConstantTimeEqual(View(stored), View(secret.stored_key));
}

Digest ServerSignature(const Secret& secret, std::string_view auth_message) {
  return Hmac(View(secret.server_key), auth_message);
}

Digest ClientProof(std::string_view password, std::string_view salt, int iterations, std::string_view auth_message) {
  Digest salted = Hi(password, salt, iterations);
  Digest client_key = Hmac(View(salted), "Client Key");
  Digest stored_key = Sha256(View(client_key));
  Digest signature = Hmac(View(stored_key), auth_message);
  Digest proof{};
  for (size_t i = 0; i < proof.size(); ++i) proof[i] = client_key[i] ^ signature[i];
  return proof;
}

}  // namespace kite::password::scram
