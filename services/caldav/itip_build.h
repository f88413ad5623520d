// Building the iTIP messages (RFC 5546) of implicit scheduling (RFC 6638 3.2) from a stored
// calendar object, and the small edits the scheduler makes to objects: who the organiser and
// attendees are, whether a change is significant to attendees, SCHEDULE-STATUS, PARTSTAT.
//
// Pure: no I/O, no clock (times are arguments). Works on libical trees that came from
// calendar::Ingest/Load (already validated and bounded); every builder returns a new tree
// and never changes its input.
#ifndef KITE_SERVICES_CALDAV_ITIP_BUILD_H_
#define KITE_SERVICES_CALDAV_ITIP_BUILD_H_

#include <libical/ical.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "caldav/itip.h"

namespace kite::caldav {

// One calendar user named in an object: the union over all its components, with the values
// of the first component that names it (the master comes first in a stored object).
struct Party {
  std::string address;         // lowercase mailto address
  std::string partstat;        // NEEDS-ACTION when absent
  std::string cutype;          // INDIVIDUAL when absent
  std::string schedule_agent;  // SERVER when absent
  std::string common_name;
};

// The scheduling components of a VCALENDAR (VEVENT, VTODO, VJOURNAL, VFREEBUSY), master
// first when there is one.
std::vector<icalcomponent*> SchedulingComponents(icalcomponent* root);
icalcomponent* MasterComponent(icalcomponent* root);  // without RECURRENCE-ID, else the first

// RECURRENCE-ID as written (value;TZID), "" for the master.
std::string RecurrenceKey(icalcomponent* c);

std::string OrganizerOf(icalcomponent* root);             // lowercase address, "" if none
std::string OrganizerScheduleAgent(icalcomponent* root);  // SERVER when absent
std::string OrganizerCommonName(icalcomponent* root);
std::vector<Party> AttendeesOf(icalcomponent* root);  // in order of first appearance
std::string Summary(icalcomponent* root);             // the master's SUMMARY, "" if none
bool IsCancelled(icalcomponent* root);                // the master's STATUS:CANCELLED
int SequenceOf(icalcomponent* root);

// What attendees see of the object (RFC 6638 3.2.8): times, recurrence, location, summary,
// status, the attendee list, SEQUENCE and the set of overridden instances. Alarms, the
// PARTSTAT of others, X- properties and descriptions do not count. Equal fingerprints = no
// new REQUEST needed.
std::string SignificantFingerprint(icalcomponent* root);

// `address`'s PARTSTAT per component, by recurrence key ("" = master); absent when the
// component does not name it.
std::map<std::string, std::string> PartstatsOf(icalcomponent* root, std::string_view address);

// Sets PARTSTAT (and drops RSVP when it is not NEEDS-ACTION) of `address` in every component
// that names it; returns how many ATTENDEE properties changed.
int SetPartstat(icalcomponent* root, std::string_view address, std::string_view partstat);
// The same for one component per recurrence key (the keys of PartstatsOf).
void SetPartstats(icalcomponent* root, std::string_view address,
                  const std::map<std::string, std::string>& by_key);
// SCHEDULE-STATUS of `address`'s ATTENDEE properties ("1.2", "3.7;reason" is not allowed:
// the parameter is the code only, RFC 6638 7.3).
void SetScheduleStatus(icalcomponent* root, std::string_view address, std::string_view code);
// An X-KITE-BOOKING parameter on the ATTENDEE: why a resource declined ("" removes it).
void SetBookingNote(icalcomponent* root, std::string_view address, std::string_view note);

// RFC 5546 3.2.2 REQUEST: the whole object, METHOD:REQUEST, without alarms and without the
// SCHEDULE-* parameters (RFC 6638 7: never in iTIP messages), DTSTAMP = now.
Ical BuildRequest(icalcomponent* root, int64_t now);
// RFC 5546 3.2.5 CANCEL of the whole object to `recipients`: the master (or every component
// when there is none) with STATUS:CANCELLED and only the recipients' ATTENDEE properties.
Ical BuildCancel(icalcomponent* root, const std::vector<std::string>& recipients, int64_t now);
// RFC 5546 3.2.3 REPLY from `attendee`: the components that name it, with only its ATTENDEE
// property (its PARTSTAT as in `root`), no alarms, DTSTAMP = now, and a COMMENT when given.
Ical BuildReply(icalcomponent* root, std::string_view attendee, int64_t now,
                std::string_view comment = "");

// An attendee's own copy of the organiser's object: the object without METHOD, alarms and
// SCHEDULE-* parameters, with `attendee`'s PARTSTAT set from `partstats` (by recurrence key;
// the master's value for overrides it does not list) or NEEDS-ACTION when empty.
Ical BuildAttendeeCopy(icalcomponent* root, std::string_view attendee,
                       const std::map<std::string, std::string>& partstats);

// Sets (replacing) the top-level METHOD of a VCALENDAR.
void SetMethod(icalcomponent* root, icalproperty_method method);
// Removes the top-level METHOD.
void RemoveMethod(icalcomponent* root);

}  // namespace kite::caldav

#endif  // KITE_SERVICES_CALDAV_ITIP_BUILD_H_
