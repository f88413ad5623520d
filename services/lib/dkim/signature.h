// The DKIM-Signature header field (RFC 6376 section 3.5) and the DKIM key record
// (RFC 6376 section 3.6.1), parsed and validated into structs. Algorithms: rsa-sha256 and
// ed25519-sha256 (RFC 8463); rsa-sha1 is refused (RFC 8301).
//
// Untrusted input: the header field value from any message and the TXT record from DNS.
// Pure functions, no I/O; errors are InvalidArgument with a short reason that can go into an
// Authentication-Results comment.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kite::dkim {

enum class Algorithm { kRsaSha256, kEd25519Sha256 };
enum class Canon { kSimple, kRelaxed };
enum class KeyType { kRsa, kEd25519 };

std::string_view AlgorithmName(Algorithm a);  // "rsa-sha256", "ed25519-sha256"
std::string_view CanonName(Canon c);          // "simple", "relaxed"

// l=, t= and x= take at most 12 digits (RFC 6376 3.5); longer values are refused.

struct Signature {
  Algorithm algorithm = Algorithm::kRsaSha256;
  std::string signature;  // b=, base64-decoded
  std::string body_hash;  // bh=, base64-decoded (32 bytes)
  Canon header_canon = Canon::kSimple;
  Canon body_canon = Canon::kSimple;
  std::string domain;                       // d=, lower-cased
  std::vector<std::string> signed_headers;  // h=, as written
  std::string identity;                     // i=, defaults to "@" + d
  std::optional<uint64_t> body_length;      // l=
  std::string selector;                     // s=
  std::optional<uint64_t> timestamp;        // t=
  std::optional<uint64_t> expiration;       // x=
  std::string copied_headers;               // z=, raw
};

// Parses and validates a DKIM-Signature header field value (the text after the colon).
// Checks: required tags (v a b bh d h s), v=1, a known and not sha1, c= forms, h= lists From,
// i= within d=, q= offers dns/txt, numbers in range, x= not before t=, base64 decodes and the
// body hash has the digest's length.
absl::StatusOr<Signature> ParseSignature(std::string_view value);

// d= and s= of a signature value that may otherwise be invalid (for reporting a permerror);
// empty strings when they cannot be found.
void ExtractDomainAndSelector(std::string_view value, std::string* domain, std::string* selector);

// The header field with the value of its b= tag removed (surrounding white space included),
// as hashed by signer and verifier (RFC 6376 3.7). `field` is the whole raw header field
// "DKIM-Signature: ..." without the final CRLF.
absl::StatusOr<std::string> StripSignatureValue(std::string_view field);

struct KeyRecord {
  KeyType key_type = KeyType::kRsa;
  std::string public_key;        // p=, base64-decoded; empty means revoked
  bool testing = false;          // t=y
  bool strict_identity = false;  // t=s
};

// Parses a DKIM key record (the TXT strings concatenated). Checks: v=DKIM1 first if present,
// k= known, h= (if present) allows sha256, s= (if present) allows email, p= present and
// valid base64.
absl::StatusOr<KeyRecord> ParseKeyRecord(std::string_view record);

// Standard base64 (RFC 4648 with padding) after white space removal; nullopt if invalid.
std::optional<std::string> Base64Decode(std::string_view text);
std::string Base64Encode(std::string_view bytes);

}  // namespace kite::dkim
