// Names derived from an SMTP client's IP address for anti-spam policies: the network a
// greylisting triplet is keyed on, and the DNS blocklist query name (RFC 5782 2.1 / 2.4).
//
// Untrusted input: the address text comes from the socket or a trusted PROXY header; the
// zone from configuration. Anything that is not an IPv4 or IPv6 address gives "".
// IPv4-mapped IPv6 addresses are treated as IPv4. Nothing here does I/O.
#ifndef KITE_SERVICES_LIB_SMTP_CLIENT_KEYS_H_
#define KITE_SERVICES_LIB_SMTP_CLIENT_KEYS_H_

#include <string>
#include <string_view>

namespace kite::smtp {

// The /24 (IPv4) or /64 (IPv6) network holding `ip`: "192.0.2.0/24", "2001:db8:1:2::/64".
// Senders that retry from another address of the same pool pass greylisting.
std::string GreylistNetwork(std::string_view ip);

// "2.0.0.127.zone.test" for 127.0.0.2; for IPv6 the 32 nibbles reversed (RFC 5782 2.4).
// `zone` without a trailing dot is used as given (lowercase it in configuration).
std::string DnsblQueryName(std::string_view ip, std::string_view zone);

}  // namespace kite::smtp

#endif  // KITE_SERVICES_LIB_SMTP_CLIENT_KEYS_H_
