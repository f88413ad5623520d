// iCalendar objects for CalDAV and free/busy, with libical: ingesting a calendar object
// resource (RFC 4791 4.1) from a client, expanding its recurrences, matching calendar-query
// filters, shaping calendar-data (expand / limit-recurrence-set) and computing busy time.
//
// Pure: no I/O, no clock, no globals beyond libical's built-in time zone database (read
// only). Shared by kite-caldav (PUT, REPORT, scheduling), kite-freebusy and kite-delivery.
//
// Untrusted input: every iCalendar text (CalDAV PUT bodies, iMIP parts, stored objects are
// re-parsed the same way). Bounded by `max_bytes` before libical sees it, UTF-8 and NUL
// checked, libical told never to abort (ICAL_ERRORS_ARE_FATAL off); recurrence expansion is
// bounded by kMaxInstances per object and call, and by the range asked for, and by 100000
// recurrence-iterator steps per call (rules without COUNT jump close to the range first);
// Expand's *truncated says when a bound cut the answer. Ingest also refuses: control
// characters (but HTAB and line ends), RRULEs libical would spin on (an impossible
// BYMONTH/BYMONTHDAY, or SECONDLY/MINUTELY/HOURLY filtered by day-level BY parts),
// VTIMEZONE rules other than plain yearly ones, and objects whose libical serialisation
// does not parse back cleanly. Unknown IANA property names are dropped (libical does not
// keep them); X- properties are kept. Load and Matches keep the same bounds (Matches: at
// most 32 expansions per call; past that, VALARM time ranges do not match).
//
// Threads: libical's built-in zones are shared and locked by libical; an Object (its
// VTIMEZONEs) must not be used by two threads at once.
//
// Times: UTC seconds since the epoch (int64). A DATE value (all-day) is taken at 00:00 of
// that day in `floating_tz` (the calendar's CALDAV:calendar-timezone, default UTC); so are
// floating DATE-TIMEs. A TZID with a VTIMEZONE in the object uses that VTIMEZONE; a TZID
// without one is looked up in libical's built-in zones (IANA names); unknown: invalid.
#ifndef KITE_SERVICES_LIB_CALENDAR_CALENDAR_H_
#define KITE_SERVICES_LIB_CALENDAR_CALENDAR_H_

#include <libical/ical.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kite::calendar {

inline constexpr size_t kDefaultMaxBytes = 1 << 20;  // CALDAV:max-resource-size default
inline constexpr size_t kMaxInstances = 5000;        // per object per Expand call

struct IcalFree {
  void operator()(icalcomponent* c) const {
    if (c != nullptr) icalcomponent_free(c);
  }
};
using Ical = std::unique_ptr<icalcomponent, IcalFree>;

// Why a PUT body was refused: the CalDAV precondition element to return in the 403/409
// DAV:error body (RFC 4791 5.3.2.1), with a reason safe to show the client.
enum class Precondition {
  kValidCalendarData,            // not iCalendar, not UTF-8, bad property values, unknown TZID
  kValidCalendarObjectResource,  // METHOD present, several UIDs, no component, mixed types
  kSupportedCalendarComponent,   // a component type the calendar does not take
  kMaxResourceSize,              // larger than max_bytes
};
const char* PreconditionName(Precondition p);  // "valid-calendar-data", ...

struct Attendee {
  std::string address;  // lowercase mailto address ("" when not mailto:)
  std::string partstat;  // NEEDS-ACTION when absent
  std::string role;      // REQ-PARTICIPANT when absent
  std::string cutype;    // INDIVIDUAL when absent; ROOM, RESOURCE, GROUP, ...
  bool rsvp = false;
  std::string schedule_agent;  // SERVER when absent; CLIENT, NONE
  std::string common_name;
};

// One ingested calendar object resource. Every pointer points into `root`.
struct Object {
  Ical root;                             // the VCALENDAR
  std::vector<icalcomponent*> components;  // VEVENT/VTODO/VJOURNAL/VFREEBUSY, master first
  icalcomponent* master = nullptr;         // without RECURRENCE-ID (nullptr: overrides only)
  std::string uid;
  std::string component;  // "VEVENT", "VTODO", "VJOURNAL" or "VFREEBUSY"
  // Index (calendar_objects.first_start / last_end): first instance start and last instance
  // end over all instances; nullopt first_start = no time at all (matches every time
  // range); nullopt last_end = unbounded recurrence (no COUNT/UNTIL, or more than
  // kMaxInstances instances without UNTIL). Conservative: an object can overlap [s, e)
  // only if (first_start <= e or nullopt) and (last_end >= s or nullopt) — note the <= and
  // >= (zero-length events, VTODO rules); Matches decides. Component time ranges only: a
  // VALARM trigger can lie outside [first_start, last_end].
  std::optional<int64_t> first_start;
  std::optional<int64_t> last_end;
  bool recurring = false;    // RRULE, RDATE or overrides
  bool transparent = false;  // master TRANSP:TRANSPARENT
  std::string organizer;     // lowercase mailto address of the master's ORGANIZER, "" if none
  int sequence = 0;          // master SEQUENCE
  std::vector<Attendee> attendees;  // the master's (or the first component's)
  std::string floating_tz = "UTC";  // IngestOptions::floating_tz / Load's, for Expand
};

struct IngestOptions {
  size_t max_bytes = kDefaultMaxBytes;
  // Component names the calendar takes (CALDAV:supported-calendar-component-set).
  std::vector<std::string> components = {"VEVENT", "VTODO"};
  std::string floating_tz = "UTC";  // IANA name for DATE and floating times
  bool allow_method = false;        // true for iTIP objects (scheduling inbox / outbox POST)
};

struct IngestError {
  Precondition precondition;
  std::string reason;
};

// Parses and validates a calendar object resource; on success `*error` is untouched.
// Valid: one VCALENDAR, VERSION:2.0, PRODID present (missing PRODID is tolerated), components
// of one type that the calendar supports, all with the same UID, at most one master, every
// TZID resolvable, DTSTART present on VEVENTs, DTEND/DURATION consistent.
std::optional<Object> Ingest(std::string_view text, const IngestOptions& options, IngestError* error);

// A stored object (already validated once); nullopt when it no longer parses.
std::optional<Object> Load(std::string_view text, std::string_view floating_tz = "UTC");

// The object as iCalendar text (CRLF line ends, folded at 75 octets).
std::string Serialize(const icalcomponent* root);

struct Instance {
  int64_t start = 0;  // UTC seconds
  int64_t end = 0;    // > start, or == start for zero-length events
  const icalcomponent* component = nullptr;  // the master or the override that applies
  std::optional<int64_t> recurrence_id;      // UTC seconds; nullopt for a non-recurring object
  bool all_day = false;
  bool transparent = false;
  std::string status;  // "" , "TENTATIVE", "CONFIRMED", "CANCELLED"
};

// The instances that overlap [start, end) (RFC 4791 9.9 rules: a zero-length instance at
// `start` counts; VTODOs by their DTSTART/DUE/DURATION/COMPLETED/CREATED rules, start =
// DTSTART or DUE, end = DUE or DTSTART+DURATION; a VTODO without any time: start = end = 0),
// in start order: RRULE, RDATE and EXDATE of the master, overrides
// replacing or moving their instances (an override moved into the range counts, one moved
// out does not). At most kMaxInstances; *truncated (if given) tells whether more exist.
std::vector<Instance> Expand(const Object& object, int64_t start, int64_t end, bool* truncated = nullptr);

// ---- calendar-query filters (RFC 4791 9.7) ---------------------------------------------
struct TimeRange {
  std::optional<int64_t> start;  // nullopt: open
  std::optional<int64_t> end;
};
struct TextMatch {
  std::string text;
  bool negate = false;
  std::string collation = "i;ascii-casemap";  // or "i;octet"; others rejected by the caller
};
struct ParamFilter {
  std::string name;  // upper case
  bool is_not_defined = false;
  std::optional<TextMatch> text_match;
};
struct PropFilter {
  std::string name;  // upper case
  bool is_not_defined = false;
  std::optional<TimeRange> time_range;
  std::optional<TextMatch> text_match;
  std::vector<ParamFilter> param_filters;
};
struct CompFilter {
  std::string name;  // upper case: "VCALENDAR" at the top, then "VEVENT", "VALARM", ...
  bool is_not_defined = false;
  std::optional<TimeRange> time_range;
  std::vector<PropFilter> prop_filters;
  std::vector<CompFilter> comp_filters;
};
// Whether the object matches the top-level filter (name VCALENDAR). Time ranges on
// components use the expanded instances (RFC 4791 9.9), on VALARM their trigger times, on
// properties the property's value. A comp-filter matches if one component of that name
// (the master or an override, each on its own) passes all of it: its time range counts
// the instances that component produces. Time ranges on other components never match.
// Collations other than i;octet are treated as i;ascii-casemap.
bool Matches(const Object& object, const CompFilter& filter);

// ---- calendar-data shaping (RFC 4791 9.6) ----------------------------------------------
// CALDAV:expand: the instances overlapping [start, end) as separate components without
// RRULE/RDATE/EXDATE, each with a RECURRENCE-ID (for a recurring object), times in UTC, no
// VTIMEZONE, no METHOD. All-day instances keep DATE values (DTSTART, DTEND/DUE,
// RECURRENCE-ID); DURATION stays as written.
std::string ExpandToText(const Object& object, int64_t start, int64_t end);
// CALDAV:limit-recurrence-set: the master plus only the overrides that overlap [start, end)
// (and RANGE=THISANDFUTURE overrides before `end`), with the VTIMEZONEs.
std::string LimitRecurrenceSetToText(const Object& object, int64_t start, int64_t end);

// ---- busy time (RFC 4791 7.10, RFC 5545 3.6.4) -----------------------------------------
enum class BusyType { kBusy, kTentative, kUnavailable };
const char* BusyTypeName(BusyType t);  // "BUSY", "BUSY-TENTATIVE", "BUSY-UNAVAILABLE"

struct BusyPeriod {
  int64_t start = 0;
  int64_t end = 0;
  BusyType type = BusyType::kBusy;
};

// Appends the object's busy time within [start, end), clipped to it: VEVENT instances that
// are not TRANSP:TRANSPARENT and not STATUS:CANCELLED (TENTATIVE -> kTentative), and the
// FREEBUSY periods of a VFREEBUSY (its FBTYPE; FREE ignored). Nothing else of the object.
void AppendBusy(const Object& object, int64_t start, int64_t end, std::vector<BusyPeriod>* out);

// Sorted by start, overlapping or touching periods of the same type merged; where types
// overlap the stronger one (BUSY > BUSY-UNAVAILABLE > BUSY-TENTATIVE) keeps the overlap.
std::vector<BusyPeriod> MergeBusy(std::vector<BusyPeriod> periods);

// Working hours in an IANA time zone: for each weekday (0 = Monday .. 6 = Sunday) a list
// of [start_minute, end_minute) intervals of local time.
struct WorkingHours {
  std::string timezone = "UTC";
  std::vector<std::pair<int, int>> days[7];
};
// The time outside working hours within [start, end) as kUnavailable periods (DST aware;
// an unknown zone is UTC; at most about ten years are looked at).
std::vector<BusyPeriod> OutsideWorkingHours(const WorkingHours& hours, int64_t start, int64_t end);

// A VCALENDAR with one VFREEBUSY (DTSTAMP, DTSTART, DTEND, FREEBUSY lines with FBTYPE) and
// nothing else: the CalDAV free-busy-query answer and the iTIP VFREEBUSY REPLY body. The
// optional properties are written only when non-empty.
struct FreeBusyReply {
  std::string method;  // "" (no METHOD) or "REPLY"
  std::string uid;
  std::string organizer;  // mailto address
  std::string attendee;   // mailto address
  int64_t dtstamp = 0;
};
std::string FreeBusyToText(const std::vector<BusyPeriod>& merged, int64_t start, int64_t end,
                           const FreeBusyReply& reply = {});

// "20261123T120000Z" <-> UTC seconds (CalDAV time-range attributes); nullopt if malformed.
std::optional<int64_t> ParseUtc(std::string_view text);
std::string FormatUtc(int64_t t);

}  // namespace kite::calendar

#endif  // KITE_SERVICES_LIB_CALENDAR_CALENDAR_H_
