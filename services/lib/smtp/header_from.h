// Extracts the addresses of the From header fields of a message, for kite-submission's
// check that the authenticated user may use them (RFC 6409 8.1, RFC 5322 3.6.2).
//
// Untrusted input: the message as the client sent it (CRLF lines). Only the header block is
// looked at (up to the first empty line) and at most kMaxHeaderScan octets of it; folded
// lines are unfolded; each From field holds a comma-separated mailbox-list whose entries are
// "Display Name <addr>" or a bare addr, with quoted strings and (comments) skipped. At most
// kMaxFromAddresses addresses are returned. Deliberately simple: group syntax, obsolete
// routes and encoded words in addresses are not interpreted (an entry that does not look
// like local@domain is returned as is, so the caller refuses it).
//
// Nothing here does I/O.
#ifndef KITE_SERVICES_LIB_SMTP_HEADER_FROM_H_
#define KITE_SERVICES_LIB_SMTP_HEADER_FROM_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kite::smtp {

inline constexpr size_t kMaxHeaderScan = 256 * 1024;
inline constexpr size_t kMaxFromAddresses = 32;

struct FromHeaders {
  int fields = 0;                      // number of From: fields seen
  std::vector<std::string> addresses;  // addr-specs in order, as written (not normalised)
  bool truncated = false;              // header block or address list exceeded the limits
};

FromHeaders ParseFromHeaders(std::string_view message);

// The message with every header field named `name` (case-insensitive, with its continuation
// lines) removed from the header block; the body is untouched. Used to replace a client's
// Sender field with the one kite-submission adds (RFC 5322 allows one).
std::string RemoveHeaderFields(std::string_view message, std::string_view name);

}  // namespace kite::smtp

#endif  // KITE_SERVICES_LIB_SMTP_HEADER_FROM_H_
