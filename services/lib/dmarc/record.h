// DMARC policy records (RFC 7489 section 6.3): the TXT record published at
// _dmarc.<domain>, parsed into its tags.
//
// Untrusted input: TXT text from any DNS server. The parser is pure (no I/O), bounded
// (kMaxRecordBytes, kMaxTags, kMaxUris, kMaxUriBytes) and never throws. Following RFC 7489
// 6.3 and 6.6.3: the record must start with "v=DMARC1"; tag names and the keyword values
// (p, sp, adkim, aspf) are case-insensitive; unknown tags are ignored; a syntax error in an
// optional tag falls back to that tag's default; a missing or invalid p= is an error,
// except when a valid rua= is present, in which case p=none is assumed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kite::dmarc {

inline constexpr size_t kMaxRecordBytes = 4096;
inline constexpr size_t kMaxTags = 32;
inline constexpr size_t kMaxUris = 16;        // per rua / ruf
inline constexpr size_t kMaxUriBytes = 512;

enum class Policy { kNone, kQuarantine, kReject };
enum class Alignment { kRelaxed, kStrict };

// "none", "quarantine", "reject".
const char* PolicyName(Policy p);

struct Record {
  Policy p = Policy::kNone;
  std::optional<Policy> sp;  // absent: subdomains get p
  int pct = 100;             // 0..100
  Alignment adkim = Alignment::kRelaxed;
  Alignment aspf = Alignment::kRelaxed;
  std::vector<std::string> rua;  // kept as written (reporting is not implemented)
  std::vector<std::string> ruf;
  std::string fo = "0";
  std::string rf = "afrf";
  uint32_t ri = 86400;
  bool p_assumed = false;  // p= was missing or invalid and rua= present (6.6.3)

  // The policy for a message whose From domain is `subdomain_of_record` below the domain
  // the record was found at (the organisational domain): sp if given, else p.
  Policy Applicable(bool subdomain_of_record) const { return subdomain_of_record && sp ? *sp : p; }
};

// True when `txt` starts with the "v=DMARC1" version tag (records that do not are ignored
// during discovery, RFC 7489 6.6.3 step 3).
bool IsDmarcRecord(std::string_view txt);

// Parses a record that IsDmarcRecord accepted. InvalidArgument on a missing/invalid p=
// (without rua=), an oversized record or too many tags.
absl::StatusOr<Record> ParseRecord(std::string_view txt);

}  // namespace kite::dmarc
