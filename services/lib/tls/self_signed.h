// Self-signed certificates for tests and for the local launcher's first start.
//
// What: generates a key pair and a self-signed X.509 v3 certificate (RFC 5280) whose
// subjectAltName lists the given host names (DNS) and IP literals (iPAddress), as RFC 6125
// clients require; the first name is also the subject CN for old clients.
// Untrusted input: none; host names come from configuration and are checked only for being
// non-empty.
#ifndef KITE_SERVICES_LIB_TLS_SELF_SIGNED_H_
#define KITE_SERVICES_LIB_TLS_SELF_SIGNED_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace kite::tls {

enum class KeyType { kEcP256, kRsa2048 };

// Writes the certificate and key as PEM to the given paths (the key with mode 0600). Each file
// is written to a temporary name and renamed, so a reloading server never sees half a file.
absl::Status WriteSelfSigned(std::string_view cert_path, std::string_view key_path,
                             const std::vector<std::string>& hostnames, int days = 365,
                             KeyType key_type = KeyType::kEcP256);

}  // namespace kite::tls

#endif  // KITE_SERVICES_LIB_TLS_SELF_SIGNED_H_
