// DNS resolver interface used by SPF, DKIM, DMARC and the outbound relay.
//
// Kite never reads /etc/resolv.conf: every resolver is configured with explicit server
// addresses (tests and the launcher start their own DNS server on loopback).
//
// Errors are split the way RFC 7208 (SPF) and RFC 7489 (DMARC) need them:
//   - NotFound: the name does not exist (NXDOMAIN) or has no record of the type asked
//     (NOERROR with no answer, "NODATA"). IsNxDomain / IsNoData tell them apart; both are
//     "void lookups" for SPF.
//   - Unavailable: SERVFAIL, REFUSED, timeout, unreachable server — a temporary error.
//   - FailedPrecondition: the resolver has no servers and refuses every query.
//   - InvalidArgument: a name or address that cannot be queried.
// Untrusted input: answers from the network (parsed by c-ares) and names that may come
// from SPF macro expansion.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kite::dns {

struct MxRecord {
  int preference = 0;
  std::string host;  // without the trailing dot; "" for a null MX (RFC 7505)
  friend bool operator==(const MxRecord&, const MxRecord&) = default;
};

class Resolver {
 public:
  virtual ~Resolver() = default;

  // Each TXT record with its character-strings concatenated (RFC 7208 3.3).
  virtual absl::StatusOr<std::vector<std::string>> Txt(std::string_view name) = 0;
  // Sorted by preference, then host.
  virtual absl::StatusOr<std::vector<MxRecord>> Mx(std::string_view name) = 0;
  // Addresses in text form ("192.0.2.1", "2001:db8::1").
  virtual absl::StatusOr<std::vector<std::string>> A(std::string_view name) = 0;
  virtual absl::StatusOr<std::vector<std::string>> Aaaa(std::string_view name) = 0;
  // Reverse lookup of an IPv4 or IPv6 address in text form; names without trailing dot.
  virtual absl::StatusOr<std::vector<std::string>> Ptr(std::string_view ip) = 0;
};

// Status helpers. The kind of a NotFound is carried as a payload so it survives copying.
absl::Status NxDomainError(std::string_view name);
absl::Status NoDataError(std::string_view name);
bool IsNxDomain(const absl::Status& s);
bool IsNoData(const absl::Status& s);
// NXDOMAIN or NODATA: the query was answered and there is nothing.
inline bool IsVoid(const absl::Status& s) { return IsNxDomain(s) || IsNoData(s); }

}  // namespace kite::dns
