// iMIP (RFC 6047): the mail that carries an iTIP message (RFC 5546) to a calendar user outside
// Kite, and the plain notification a resource's delegate gets for a booking to decide.
// kite-caldav's scheduler spools these with lib/queue in the transaction of the CalDAV write.
//
// Pure: no I/O, no clock (the date and Message-ID are inputs).
// Untrusted input: display names (CN), SUMMARY and every other text taken from a client's
// calendar object. Header fields are built so that no such text can add a header or a MIME
// part: control characters (CR, LF, ...) are removed, runs of white space collapsed, the
// length bounded, non-ASCII or special-laden text written as RFC 2047 encoded words; the
// bodies are base64. Addresses must pass SafeMailAddress or the message is refused.
#ifndef KITE_SERVICES_CALDAV_IMIP_H_
#define KITE_SERVICES_CALDAV_IMIP_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kite::caldav {

inline constexpr size_t kMaxHeaderText = 200;  // characters of a Subject or display name kept

struct ImipMail {
  std::string from;        // address (the organiser for REQUEST/CANCEL, the attendee for REPLY)
  std::string from_name;   // display name, untrusted
  std::string to;          // address
  std::string to_name;     // display name, untrusted
  std::string method;      // REQUEST, REPLY, CANCEL (the METHOD of `ical`)
  std::string subject;     // untrusted (e.g. "Invitation: " + SUMMARY)
  std::string text;        // the text/plain alternative, UTF-8
  std::string ical;        // the iTIP object, UTF-8 iCalendar text
  int64_t date = 0;        // UTC seconds
  std::string message_id;  // "local@domain" without <>; printable, no spaces
};

// The whole message (header and body, CRLF): multipart/alternative of text/plain and
// text/calendar; charset=UTF-8; method=...; InvalidArgument when an address or the
// Message-ID is unsafe, or the method is not an iTIP method.
absl::StatusOr<std::string> ComposeImip(const ImipMail& mail);

// A plain text/plain notification (no iCalendar part: the delegate decides in the
// resource's calendar, and no mail client should take it for an invitation).
struct NoticeMail {
  std::string from;
  std::string from_name;
  std::string to;
  std::string subject;
  std::string text;
  int64_t date = 0;
  std::string message_id;
};
absl::StatusOr<std::string> ComposeNotice(const NoticeMail& mail);

// "local@domain" of printable ASCII without spaces, controls, quotes, backslashes or any of
// <>()[],;: and with exactly one '@' and a dotted or plain domain; at most 254 characters.
bool SafeMailAddress(std::string_view address);

// Header text: controls dropped (CR/LF included), white space runs collapsed to one space,
// trimmed, at most `max` characters (UTF-8 cut between characters).
std::string CleanHeaderText(std::string_view text, size_t max = kMaxHeaderText);
// An unstructured header value (Subject): the cleaned text, as RFC 2047 encoded words when
// it is not plain printable ASCII; folded lines of encoded words at most 76 characters.
std::string EncodeUnstructured(std::string_view text);
// A mailbox "Name <address>" (or "<address>" without a name), the name quoted or encoded.
std::string FormatMailbox(std::string_view name, std::string_view address);
// RFC 5322 date-time in UTC: "Mon, 23 Nov 2026 12:00:00 +0000".
std::string RfcDate(int64_t t);

}  // namespace kite::caldav

#endif  // KITE_SERVICES_CALDAV_IMIP_H_
