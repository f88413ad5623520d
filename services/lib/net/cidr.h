// Address ranges in CIDR notation (RFC 4632 for IPv4, RFC 4291 section 2.3 for IPv6).
//
// What: parses "127.0.0.0/8", "::1/128" or a bare address, and lists of them, and tests whether
// an address falls inside. Used for the sources trusted to send a PROXY protocol header and,
// later, for relay and throttle exemptions.
// Untrusted input: the ranges come from configuration (rejected with a clear error, never
// silently widened); the addresses tested come from sockets or a trusted PROXY header.
// IPv4-mapped IPv6 addresses (::ffff:192.0.2.1, as a dual-stack socket reports IPv4 clients)
// match IPv4 ranges.
#ifndef KITE_SERVICES_LIB_NET_CIDR_H_
#define KITE_SERVICES_LIB_NET_CIDR_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kite::net {

class Cidr {
 public:
  // "192.0.2.0/24", "2001:db8::/32", or a single address ("127.0.0.1" = /32, "::1" = /128).
  // Host bits set below the prefix ("10.0.0.1/8") are an error: such a line is usually a typo
  // for something narrower, and guessing would widen trust.
  static absl::StatusOr<Cidr> Parse(std::string_view text);

  // False for text that is not an IP address.
  bool Contains(std::string_view address) const;
  // `bytes` is 4 (IPv4) or 16 (IPv6) bytes in network order.
  bool Contains(const uint8_t* bytes, size_t size) const;

  bool is_v6() const { return v6_; }
  int prefix_length() const { return prefix_; }
  std::string ToString() const;

 private:
  Cidr() = default;
  bool v6_ = false;
  int prefix_ = 0;
  std::array<uint8_t, 16> network_{};
};

// Comma- and/or whitespace-separated ranges; an empty list gives an empty vector. The error
// names the bad entry.
absl::StatusOr<std::vector<Cidr>> ParseCidrList(std::string_view list);

bool AnyContains(const std::vector<Cidr>& ranges, std::string_view address);

}  // namespace kite::net

#endif  // KITE_SERVICES_LIB_NET_CIDR_H_
