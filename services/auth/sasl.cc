#include "auth/sasl.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "lib/base/strings.h"

namespace kite::auth::sasl {

absl::StatusOr<Plain> ParsePlain(std::string_view message) {
  size_t a = message.find('\0');
  size_t b = a == std::string_view::npos ? a : message.find('\0', a + 1);
  if (b == std::string_view::npos) return absl::InvalidArgumentError("Malformed PLAIN message");
  Plain p;
  p.authzid = std::string(message.substr(0, a));
  p.authcid = std::string(message.substr(a + 1, b - a - 1));
  p.password = std::string(message.substr(b + 1));
  return p;
}

bool AuthzidPermitted(const Plain& plain) {
  return plain.authzid.empty() || absl::EqualsIgnoreCase(AV(plain.authzid), AV(plain.authcid));
}

absl::StatusOr<std::string> ParseLoginUsername(std::string_view message) {
  if (message.size() > kMaxLoginUsername) return absl::InvalidArgumentError("LOGIN user name too long");
  return std::string(message);
}

}  // namespace kite::auth::sasl
