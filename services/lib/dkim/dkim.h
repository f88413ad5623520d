// DKIM signing and verification (RFC 6376) with rsa-sha256 and ed25519-sha256 (RFC 8463),
// following RFC 8301: rsa-sha1 is refused and RSA keys under 1024 bits never pass.
//
// Untrusted input: the message (any sender) and the key records the caller's KeyLookup
// returns (any DNS server). Messages are in wire form (CRLF); a message with bare LF line
// ends is converted to CRLF first. No I/O here: the DNS lookup is the caller's.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/dkim/canon.h"
#include "lib/dkim/signature.h"

namespace kite::dkim {

// Header fields signed by default; From is listed twice (oversigned) so that a From added
// later breaks the signature.
std::vector<std::string> DefaultSignedHeaders();

struct SignOptions {
  std::string domain;           // d=
  std::string selector;         // s=
  std::string private_key_pem;  // PKCS#8 (or traditional) PEM, RSA (>= 1024 bits) or Ed25519
  // Empty: DefaultSignedHeaders(). Names not present in the message are still listed, which
  // keeps anyone from adding them later.
  std::vector<std::string> headers;
  Canon header_canon = Canon::kRelaxed;
  Canon body_canon = Canon::kRelaxed;
  std::optional<absl::Time> timestamp;     // t=, if set
  std::optional<absl::Duration> lifetime;  // x= = t= + lifetime, if both are set
  std::string identity;                    // i=, if not empty (must be within d=)
};

// The DKIM-Signature header field to prepend to `message`, folded, ending in CRLF. The
// algorithm follows the key type.
absl::StatusOr<std::string> Sign(std::string_view message, const SignOptions& options);

// The key record to publish at <selector>._domainkey.<domain> for a private key:
// "v=DKIM1; k=rsa; p=..." or "v=DKIM1; k=ed25519; p=...".
absl::StatusOr<std::string> PublicKeyRecord(std::string_view private_key_pem);

// Returns the TXT record (strings concatenated) at <selector>._domainkey.<domain>.
// NotFound for NXDOMAIN / no TXT record (a permanent failure); any other error is taken as
// temporary.
using KeyLookup =
    std::function<absl::StatusOr<std::string>(std::string_view domain, std::string_view selector)>;

enum class Result { kPass, kFail, kNeutral, kTempError, kPermError };
std::string_view ResultName(Result r);  // RFC 8601 words: "pass", "fail", ...

struct SignatureResult {
  Result result = Result::kPermError;
  std::string reason;     // empty on pass; otherwise a short comment
  std::string domain;     // d= (header.d), empty if unparsable
  std::string selector;   // s= (header.s)
  std::string algorithm;  // a= (header.a): "rsa-sha256" or "ed25519-sha256"
  std::string identity;   // i= (header.i)
  std::string b_prefix;   // first 8 characters of b= (header.b, RFC 6008)
  bool testing = false;   // the key record has t=y
  // With l=: the canonicalised body bytes not covered by the signature. Callers that care
  // about appended content (RFC 6376 8.2) can treat a non-zero count as suspicious.
  uint64_t unsigned_body_bytes = 0;
};

struct VerifyOptions {
  absl::Time now = absl::UnixEpoch();  // for x=; the caller passes absl::Now()
  size_t max_signatures = 8;           // later ones get neutral ("not evaluated")
  MessageLimits limits;
};

// One result per DKIM-Signature header field, top to bottom. Empty: no signatures ("none").
// A message that cannot be split into header and body yields InvalidArgument.
absl::StatusOr<std::vector<SignatureResult>> Verify(std::string_view message,
                                                    const KeyLookup& lookup,
                                                    const VerifyOptions& options);

}  // namespace kite::dkim
