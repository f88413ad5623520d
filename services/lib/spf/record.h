// SPF record parser and macro expander (RFC 7208 sections 4.5, 4.6, 5, 6, 7) — pure code:
// no DNS, no clock, no sockets. Used by the evaluator (lib/spf/evaluator.h) and fuzzed.
//
// Untrusted input: the TXT record text published by any domain, and the values put into
// macros (MAIL FROM local part, HELO name) which come from SMTP clients. Limits: a record
// longer than kMaxRecordLength or with more than kMaxTerms terms is a permerror; macro
// expansion output is bounded by kMaxExpansion.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kite::spf {

inline constexpr size_t kMaxRecordLength = 4096;  // far above what fits one UDP answer
inline constexpr size_t kMaxTerms = 128;
inline constexpr size_t kMaxExpansion = 8192;
inline constexpr size_t kMaxDomainLength = 253;

// An IPv4 or IPv6 address; IPv4 uses bytes[0..3].
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};

  static std::optional<IpAddress> Parse(std::string_view text);
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes IPv4; others unchanged.
  IpAddress Unmapped() const;
  std::string ToString() const;
  // True when the first `prefix` bits equal those of `other` (same family only).
  bool InPrefix(const IpAddress& other, int prefix) const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

enum class Qualifier : char { kPass = '+', kFail = '-', kSoftFail = '~', kNeutral = '?' };

enum class MechanismKind { kAll, kInclude, kA, kMx, kPtr, kIp4, kIp6, kExists };

struct Mechanism {
  Qualifier qualifier = Qualifier::kPass;
  MechanismKind kind = MechanismKind::kAll;
  // Macro string (validated); empty means "the current domain" for a, mx, ptr.
  std::string domain_spec;
  // CIDR prefix lengths: for a/mx both apply (default 32 / 128); for ip4 / ip6 the one
  // of the family.
  int cidr4 = 32;
  int cidr6 = 128;
  IpAddress network;  // ip4 / ip6 only
};

struct Record {
  std::vector<Mechanism> mechanisms;
  std::optional<std::string> redirect;  // domain-spec
  std::optional<std::string> exp;       // domain-spec
};

// "v=spf1" followed by a space or the end (case-insensitive), RFC 7208 4.5.
bool IsSpfRecord(std::string_view txt);

// Parses a full record including the version. Any syntax error is InvalidArgument (the
// caller's permerror); the message says which term.
absl::StatusOr<Record> ParseRecord(std::string_view txt);

const char* MechanismName(MechanismKind k);

// --- Macros (RFC 7208 section 7) ---

struct MacroContext {
  std::string sender;         // s: local-part@domain
  std::string local_part;     // l
  std::string sender_domain;  // o
  std::string domain;         // d: the current check_host domain
  IpAddress ip;               // i, v, c
  std::string validated;      // p: validated domain name of ip, "unknown" if not done
  std::string helo;           // h
  std::string receiver;       // r (exp only)
  int64_t timestamp = 0;      // t (exp only)
};

// Checks macro-string syntax; `exp` allows the letters c, r, t (explanation strings).
absl::Status ValidateMacroString(std::string_view s, bool exp);

// Expands a macro string. InvalidArgument on a syntax error or an oversized result.
absl::StatusOr<std::string> ExpandMacros(std::string_view s, const MacroContext& ctx, bool exp);

// Expands a domain-spec and applies RFC 7208 4.8 / 7.3: trailing dot dropped, a result
// longer than 253 characters shortened by whole labels from the left. The result must be a
// usable domain name (no empty label, labels of at most 63 characters).
absl::StatusOr<std::string> ExpandDomainSpec(std::string_view s, const MacroContext& ctx);

// A domain name fit for check_host: at most 253 characters, more than one label, every
// label 1..63 characters (RFC 7208 4.3).
bool IsValidDomain(std::string_view d);

}  // namespace kite::spf
