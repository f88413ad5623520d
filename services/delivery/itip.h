// iMIP (RFC 6047): finding the calendar invitations, replies and cancellations inside a mail
// message, so that kite-delivery can hand them to kite-caldav (itip_outbox.h).
//
// An iMIP message carries its iTIP object (RFC 5546) as a text/calendar body part with a
// `method` Content-Type parameter, usually inside multipart/alternative (Thunderbird,
// Outlook, Google Calendar) or multipart/mixed. RFC 6047 2.4: the parameter and the
// object's METHOD property must be the same; a part where they differ is ignored.
// application/ics attachments, text/calendar without `method` (a published .ics) and
// calendars inside attached messages (message/rfc822: forwarded invitations are not for this
// recipient) are not iMIP.
//
// Pure: no I/O, no clock. Untrusted input: the whole message (already parsed by lib/mime);
// a part's decoded size is bounded by kMaxItipBytes and the number of parts by kMaxItipParts.
#ifndef KITE_SERVICES_DELIVERY_ITIP_H_
#define KITE_SERVICES_DELIVERY_ITIP_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "lib/mime/message.h"

namespace kite::delivery {

inline constexpr size_t kMaxItipBytes = 1 << 20;  // one decoded text/calendar part
inline constexpr size_t kMaxItipParts = 4;        // distinct iTIP parts taken from one message

struct ItipPart {
  std::string method;     // upper case: REQUEST, REPLY, CANCEL, ADD, REFRESH, COUNTER, DECLINECOUNTER
  std::string icalendar;  // the part's body, transfer-decoded, ending with a line break
  bool operator==(const ItipPart&) const = default;
};

// True for the iTIP methods an iMIP message may carry to a recipient's scheduling inbox.
bool IsItipMethod(std::string_view upper_method);

// The METHOD property of an iCalendar object's VCALENDAR (upper case, trimmed), or "" when
// the text is not a VCALENDAR or has no METHOD before its first component.
std::string CalendarMethod(std::string_view icalendar);

// The iTIP parts of `msg` (parsed from `raw`), in message order, identical copies (the same
// method and bytes, e.g. Outlook's inline part and its attachment) listed once.
std::vector<ItipPart> FindItip(std::string_view raw, const mime::Message& msg);

}  // namespace kite::delivery

#endif  // KITE_SERVICES_DELIVERY_ITIP_H_
