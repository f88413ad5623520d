// The Message-ID and Date fields a submission server adds when the client left them out
// (RFC 6409 8.2 and 8.3; RFC 5322 3.6.1 orig-date and 3.6.4 msg-id).
//
// Untrusted input: the message as the client sent it. Only the header block is looked at
// (up to the first empty line, at most kMaxHeaderScan octets); field names are compared
// case-insensitively, continuation lines are never taken for field names. A message without
// an empty line is all header. Nothing here does I/O or reads the clock: the caller passes
// the time and the random part of the Message-ID.
#ifndef KITE_SERVICES_LIB_SMTP_ORIGINATOR_FIELDS_H_
#define KITE_SERVICES_LIB_SMTP_ORIGINATOR_FIELDS_H_

#include <ctime>
#include <string>
#include <string_view>

namespace kite::smtp {

// Whether the header block holds a field named `name` (e.g. "Message-ID").
bool HasHeaderField(std::string_view message, std::string_view name);

// "Fri, 21 Nov 1997 09:55:06 +0000" for `t` (RFC 5322 3.3, always UTC).
std::string Rfc5322Date(std::time_t t);

// The fields to put on top of `message`, CRLF-terminated: "Message-ID: <unique@hostname>"
// when it has none, "Date: ..." when it has none; "" when both are present. `unique` must
// be a dot-atom-text (letters, digits, dots), e.g. hex from a random source.
std::string MissingOriginatorFields(std::string_view message, std::string_view hostname,
                                    std::time_t now, std::string_view unique);

}  // namespace kite::smtp

#endif  // KITE_SERVICES_LIB_SMTP_ORIGINATOR_FIELDS_H_
