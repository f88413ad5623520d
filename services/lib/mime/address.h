// RFC 5322 3.4 address lists as IMAP ENVELOPE addresses (RFC 3501 7.4.2): the raw text of a
// From / Sender / Reply-To / To / Cc / Bcc value turned into (name adl mailbox host) tuples.
//
// The strings are the header's own text, as RFC 3501 asks of ENVELOPE: encoded words
// (RFC 2047) stay encoded, 8-bit bytes (RFC 6532) stay as they are. A display name is its
// words joined by one space, quoted strings unquoted; with no display name, a comment after
// a bare addr-spec ("user@host (Real Name)") is the name, as Dovecot and Cyrus send it.
// Source routes (RFC 5322 4.4 obs-route, "<@a.example,@b.example:user@c.example>") become
// the adl "@a.example,@b.example". Groups ("team: a@x, b@y;", "undisclosed-recipients:;")
// become a start marker (NIL NIL "team" NIL), the members, and an end marker
// (NIL NIL NIL NIL); a group inside a group is flattened into the outer one. A quoted local
// part keeps its quotes unless it is a plain dot-atom ("john"@x gives john, "a b"@x gives
// "a b"). Missing parts are "MISSING_MAILBOX" / "MISSING_DOMAIN", as Dovecot sends them.
//
// Untrusted input: any header value. Parsing never fails and always advances (stray
// specials are skipped); at most max_addresses entries are produced; no recursion.
#ifndef KITE_LIB_MIME_ADDRESS_H_
#define KITE_LIB_MIME_ADDRESS_H_

#include <cstddef>
#include <string_view>
#include <vector>

#include "lib/mime/message.h"

namespace kite::mime {

// `value` is the field value after the colon, folded or unfolded (CR and LF are blanks).
std::vector<Address> ParseAddressList(std::string_view value, size_t max_addresses = 1000);

}  // namespace kite::mime

#endif  // KITE_LIB_MIME_ADDRESS_H_
