// MTA-STS (RFC 8461): the `_mta-sts` TXT record and the policy file, parsed; and whether an
// MX host name is covered by a policy.
//
// Untrusted input: a TXT record and an HTTPS response body from the destination domain's
// servers. Both are bounded (kMaxPolicySize, 255-byte TXT strings joined to at most
// kMaxTxtSize) before any work; a malformed policy is an error, never a crash. Pure: no
// I/O, no clock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kite::relay {

inline constexpr size_t kMaxPolicySize = 64 * 1024;  // RFC 8461 3.3 suggests 64 KiB
inline constexpr size_t kMaxTxtSize = 4096;
inline constexpr int64_t kMaxPolicyAge = 31557600;  // RFC 8461 3.2: at most a year

// "v=STSv1; id=20160831085700Z;" -> the id. NotFound when the record is not an STSv1 record,
// InvalidArgument when it is one but malformed.
absl::StatusOr<std::string> ParseStsTxt(std::string_view txt);

// From all TXT records of _mta-sts.<domain>: the id of the single STSv1 record. Zero or
// several STSv1 records mean "no policy" (NotFound), RFC 8461 3.1.
absl::StatusOr<std::string> StsIdFromRecords(const std::vector<std::string>& records);

struct StsPolicy {
  enum class Mode { kEnforce, kTesting, kNone } mode = Mode::kNone;
  std::vector<std::string> mx;  // patterns, lowercase, "*.example.net" allowed
  int64_t max_age = 0;          // seconds
};
const char* StsModeName(StsPolicy::Mode mode);

// The policy body (RFC 8461 3.2): "key: value" lines ending in LF or CRLF; version STSv1,
// mode, max_age required; mx required unless mode is none; unknown keys ignored.
absl::StatusOr<StsPolicy> ParseStsPolicy(std::string_view body);

// The policy body from a raw HTTP/1.1 response (RFC 8461 3.3): status 200 only (no
// redirects), Content-Type text/plain, header at most 8 KiB, body at most kMaxPolicySize;
// chunked and close-delimited bodies are fine. Parsed by Boost.Beast.
absl::StatusOr<std::string> StsBodyFromHttpResponse(std::string_view raw);

// RFC 8461 4.1: "mail.example.net" matches "mail.example.net" and "*.example.net" (one
// left-most label only); case-insensitive, trailing dots ignored.
bool StsMxMatches(const StsPolicy& policy, std::string_view host);

}  // namespace kite::relay
