// A bounded RFC 5322 address-list parser for Sieve's address test (RFC 5228 5.1): splits a
// decoded header value into addr-specs, skipping display names, quoted strings, (comments)
// and group syntax ("name: a, b;"). services/lib/smtp/header_from.h works on a whole message
// and From fields only, so it does not fit here.
//
// Untrusted input: header values. At most kMaxAddresses addresses per value are returned.
#ifndef KITE_SERVICES_LIB_SIEVE_ADDRESS_H_
#define KITE_SERVICES_LIB_SIEVE_ADDRESS_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kite::sieve {

inline constexpr size_t kMaxAddresses = 256;

struct ParsedAddress {
  std::string all;         // local@domain (or whatever the entry held when it has no "@")
  std::string local_part;  // before the last "@" (quotes removed)
  std::string domain;      // after the last "@"; empty when there is none
};

std::vector<ParsedAddress> ParseAddressList(std::string_view value);

// One addr-spec (an envelope address, possibly in <>), split at the last "@".
ParsedAddress SplitAddress(std::string_view addr);

// True for local@domain with a non-empty local part and a dotted-or-not domain of
// letters, digits, "-" and "." (redirect targets).
bool IsValidRedirectAddress(std::string_view addr);

}  // namespace kite::sieve

#endif  // KITE_SERVICES_LIB_SIEVE_ADDRESS_H_
