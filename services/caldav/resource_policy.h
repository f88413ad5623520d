// The booking decision of a bookable resource (room, vehicle, equipment; lib/directory's
// resources table, migration 0002/0007) when an organiser invites it (RFC 6638 implicit
// scheduling): accept, decline with a reason, or leave it to the delegate (moderated).
//
// Pure: no I/O; the clock, the instances of the requested event and the resource's existing
// busy time are inputs (the scheduler computes them inside its transaction, with the
// resource's calendar row locked: first come, first served).
#ifndef KITE_SERVICES_CALDAV_RESOURCE_POLICY_H_
#define KITE_SERVICES_CALDAV_RESOURCE_POLICY_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kite::caldav {

struct Span {
  int64_t start = 0;  // UTC seconds
  int64_t end = 0;
};

struct BookingPolicy {
  bool moderated = false;
  int capacity = 0;            // people; 0 = not applicable
  int64_t max_duration = 0;    // seconds; 0 = no limit
  int64_t booking_window = 0;  // how far ahead an instance may start, seconds; 0 = no limit
  int64_t min_notice = 0;      // seconds between now and the first instance's start
  bool allow_conflicts = false;
  std::string timezone = "UTC";  // IANA name, for working hours
  // Working hours: per weekday (0 = Monday .. 6 = Sunday) [start_minute, end_minute) of
  // local time (end 1440 = midnight); nullopt = always bookable.
  std::optional<std::array<std::vector<std::pair<int, int>>, 7>> hours;
};

struct BookingRequest {
  int64_t now = 0;
  std::vector<Span> instances;   // the event's instances that end after `now`, in start order
  bool unbounded = false;        // the recurrence goes on past the horizon that was expanded
  int people = 0;                // attendees that are not resources (organiser included)
  bool booker_permitted = true;  // restricted resource: the organiser is a permitted booker
  std::vector<Span> busy;        // the resource's existing bookings (other events) in range
};

enum class BookingOutcome { kAccept, kDecline, kTentative };

struct BookingDecision {
  BookingOutcome outcome = BookingOutcome::kDecline;
  std::string reason;          // why declined, safe to show ("" when accepted)
  std::string status = "2.0";  // iTIP REQUEST-STATUS code for the reply
};

BookingDecision DecideBooking(const BookingPolicy& policy, const BookingRequest& request);

// Whether [start, end) lies inside one working-hours interval of one local day in `tz`
// (an unknown zone counts as UTC).
bool WithinWorkingHours(const std::array<std::vector<std::pair<int, int>>, 7>& hours,
                        const std::string& tz, int64_t start, int64_t end);

// The policy's working_hours jsonb as text ({"mon": [["09:00","17:00"]], ...}): parsed
// leniently by the scheduler from rows (day, "HH:MM", "HH:MM"); -1 for a malformed clock.
int ParseClockMinutes(const std::string& hhmm);
int WeekdayIndex(const std::string& day);  // "mon" -> 0 ... "sun" -> 6, -1 otherwise

}  // namespace kite::caldav

#endif  // KITE_SERVICES_CALDAV_RESOURCE_POLICY_H_
