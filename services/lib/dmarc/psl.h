// The Public Suffix List (https://publicsuffix.org/list/) and the organisational domain of
// RFC 7489 section 3.2: the public suffix of a domain plus one more label.
//
// The list is read once (Debian's package `publicsuffix` installs it at
// /usr/share/publicsuffix/public_suffix_list.dat; the path is configuration) and matched in
// memory; Parse and OrganizationalDomain are pure. Both the ICANN and the private sections
// are used: a private suffix (e.g. a hosting provider's) separates its customers' domains
// the way DMARC wants. Rules follow the list's algorithm: normal rules, wildcards ("*.ck")
// and exceptions ("!www.ck"); the prevailing rule is an exception if one matches, else the
// matching rule with the most labels, else the implicit "*" (the TLD alone). Domains are
// compared in lowercase; labels in Unicode (U-labels, in the list and in domains) are turned
// into A-labels ("xn--", RFC 3492 Punycode) first, so either form matches. No IDNA mapping
// beyond that (no NFC, no Unicode case folding).
//
// Untrusted input: the domain (from a message's From header); the list file is trusted but
// bounded anyway (kMaxListBytes, kMaxRules).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>

#include "absl/status/statusor.h"

namespace kite::dmarc {

inline constexpr size_t kMaxListBytes = 16 << 20;
inline constexpr size_t kMaxRules = 200000;
inline constexpr size_t kMaxDomainBytes = 253;

class PublicSuffixList {
 public:
  // Parses the list's text: one rule per line (the first white-space separated word),
  // "//" comments and empty lines skipped. InvalidArgument if it holds no rule at all.
  static absl::StatusOr<PublicSuffixList> Parse(std::string_view text);
  // Reads and parses a file; NotFound / InvalidArgument on failure.
  static absl::StatusOr<PublicSuffixList> Load(const std::string& path);

  // The public suffix of `domain` (lowercased, trailing dot removed); "" for an empty or
  // invalid domain.
  std::string PublicSuffix(std::string_view domain) const;
  // The organisational domain: the public suffix plus one label. A domain that is itself a
  // public suffix (or shorter) is its own organisational domain.
  std::string OrganizationalDomain(std::string_view domain) const;

  size_t rules() const { return rules_.size() + wildcards_.size() + exceptions_.size(); }

 private:
  std::unordered_set<std::string> rules_;       // "co.uk"
  std::unordered_set<std::string> wildcards_;   // "ck" for "*.ck"
  std::unordered_set<std::string> exceptions_;  // "www.ck" for "!www.ck"
};

// Lowercases (ASCII), removes one trailing dot and turns U-labels into A-labels; "" when
// the result is not a plausible domain (empty labels, over kMaxDomainBytes, white space,
// control characters, malformed UTF-8).
std::string NormalizeDomain(std::string_view domain);

// A label in A-label form: "xn--" + Punycode (RFC 3492) when it holds non-ASCII UTF-8, else
// unchanged; "" for malformed UTF-8 or more than 63 code points.
std::string PunycodeLabel(std::string_view label);

}  // namespace kite::dmarc
