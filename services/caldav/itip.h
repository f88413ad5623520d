// iTIP objects (RFC 5546) in memory, with libical: parsing an object that arrived by mail
// (iMIP, RFC 6047) and applying a REPLY or a CANCEL to a stored copy of the event. The
// protocol half of kite-caldav's scheduling (scheduling_service.h is the store half).
//
// Pure: no I/O, no clock. Untrusted input: the iCalendar text (mail content): bounded
// (kMaxItipBytes), UTF-8 checked before libical sees it, and libical is told never to abort
// on errors. Stored copies are re-parsed the same way.
#ifndef KITE_SERVICES_CALDAV_ITIP_H_
#define KITE_SERVICES_CALDAV_ITIP_H_

#include <libical/ical.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kite::caldav {

inline constexpr size_t kMaxItipBytes = 1 << 20;

struct IcalFree {
  void operator()(icalcomponent* c) const {
    if (c != nullptr) icalcomponent_free(c);
  }
};
using Ical = std::unique_ptr<icalcomponent, IcalFree>;

// A parsed iTIP object. `objects` and `master` point into `root`.
struct ItipObject {
  Ical root;
  std::vector<icalcomponent*> objects;  // VEVENT / VTODO / VJOURNAL / VFREEBUSY, in order
  icalcomponent* master = nullptr;      // the one without RECURRENCE-ID (else the first)
  std::string uid;
  std::string component;  // VEVENT, VTODO, VJOURNAL, VFREEBUSY
  int sequence = 0;       // of the master
  std::string organizer;  // lowercase mailto address, "" if none
  bool recurring = false;
  bool transparent = false;
};

// The iTIP methods an iMIP message may carry (PUBLISH is not scheduling).
bool IsItipMethod(std::string_view method);

// Well-formed UTF-8 without NUL bytes (PostgreSQL text refuses both).
bool ValidUtf8(std::string_view s);

// "mailto:Alice@Example.test" -> "alice@example.test"; "" for anything else or nullptr.
std::string MailtoAddress(const char* uri);

// Parses an iTIP object whose METHOD must be `method`; InvalidArgument with the reason when
// it is too large, not UTF-8, not a VCALENDAR, has another METHOD, no component, no UID or
// components with different UIDs.
absl::StatusOr<ItipObject> ParseItip(std::string_view text, std::string_view method);

// A stored calendar object; nullptr when it is not a VCALENDAR.
Ical ParseCalendar(std::string_view text);

// The object as iCalendar text (CRLF line ends, folded).
std::string Serialize(icalcomponent* root);

// RFC 5546 3.2.3: a REPLY names exactly the attendee who replies; true when every ATTENDEE
// of `reply` is `sender` (lowercase address) and there is at least one.
bool RepliesAsSender(const ItipObject& reply, const std::string& sender);

struct ReplyEffect {
  int updated = 0;             // instances whose PARTSTAT was set
  bool attendee_known = false;  // `sender` is an attendee of the copy
  std::string partstats;       // the values set, comma separated
};
// REPLY: sets `sender`'s PARTSTAT in the matching instances of `copy` (the master for a reply
// without RECURRENCE-ID, else the override with the same RECURRENCE-ID).
ReplyEffect ApplyReply(const ItipObject& reply, const std::string& sender, icalcomponent* copy);

// CANCEL: STATUS:CANCELLED on the matching instances of `copy`; a cancelled occurrence that
// has no override becomes an EXDATE on the master. Returns the number of changes.
int ApplyCancel(const ItipObject& cancel, icalcomponent* copy);

}  // namespace kite::caldav

#endif  // KITE_SERVICES_CALDAV_ITIP_H_
