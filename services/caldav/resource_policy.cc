#include "caldav/resource_policy.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "lib/base/strings.h"

namespace kite::caldav {
namespace {

BookingDecision Decline(std::string reason, const char* status = "4.0") {
  BookingDecision d;
  d.outcome = BookingOutcome::kDecline;
  d.reason = std::move(reason);
  d.status = status;
  return d;
}

std::string Hours(int64_t seconds) {
  if (seconds % 3600 == 0) return absl::StrCat(seconds / 3600, " h");
  return absl::StrCat(seconds / 60, " min");
}

int Weekday(absl::Weekday w) {
  switch (w) {
    case absl::Weekday::monday:
      return 0;
    case absl::Weekday::tuesday:
      return 1;
    case absl::Weekday::wednesday:
      return 2;
    case absl::Weekday::thursday:
      return 3;
    case absl::Weekday::friday:
      return 4;
    case absl::Weekday::saturday:
      return 5;
    case absl::Weekday::sunday:
      return 6;
  }
  return 0;
}

}  // namespace

int ParseClockMinutes(const std::string& t) {
  if (t.size() != 5 || t[2] != ':') return -1;
  int h = 0, m = 0;
  if (!absl::SimpleAtoi(t.substr(0, 2), &h) || !absl::SimpleAtoi(t.substr(3, 2), &m)) return -1;
  if (h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0)) return -1;
  return h * 60 + m;
}

int WeekdayIndex(const std::string& day) {
  static const char* kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  for (int i = 0; i < 7; ++i) {
    if (day == kDays[i]) return i;
  }
  return -1;
}

bool WithinWorkingHours(const std::array<std::vector<std::pair<int, int>>, 7>& hours,
                        const std::string& tz, int64_t start, int64_t end) {
  absl::TimeZone zone = absl::UTCTimeZone();
  if (!absl::LoadTimeZone(tz, &zone)) zone = absl::UTCTimeZone();
  absl::CivilSecond s = absl::ToCivilSecond(absl::FromUnixSeconds(start), zone);
  absl::CivilSecond e = absl::ToCivilSecond(absl::FromUnixSeconds(end), zone);
  absl::CivilDay day = absl::CivilDay(s);
  int start_min = static_cast<int>((s - absl::CivilSecond(day)) / 60);
  int64_t end_offset = e - absl::CivilSecond(day);  // seconds after the start day's midnight
  if (end_offset > 24 * 3600) return false;         // runs into the next local day
  int end_min = static_cast<int>((end_offset + 59) / 60);
  const auto& intervals = hours[Weekday(absl::GetWeekday(day))];
  return std::any_of(intervals.begin(), intervals.end(), [&](const std::pair<int, int>& iv) {
    return iv.first <= start_min && end_min <= iv.second;
  });
}

BookingDecision DecideBooking(const BookingPolicy& policy, const BookingRequest& request) {
  if (!request.booker_permitted) return Decline("the organiser may not book this resource", "3.8");
  if (request.instances.empty() && !request.unbounded)
    return Decline("no occurrence in the future", "5.2");
  if (policy.capacity > 0 && request.people > policy.capacity) {
    return Decline(
        absl::StrCat(request.people, " people exceed the capacity of ", policy.capacity));
  }
  for (const Span& i : request.instances) {
    if (policy.max_duration > 0 && i.end - i.start > policy.max_duration) {
      return Decline(absl::StrCat("longer than the maximum of ", Hours(policy.max_duration)));
    }
  }
  if (!request.instances.empty() &&
      request.instances.front().start < request.now + policy.min_notice) {
    return Decline(policy.min_notice > 0
                       ? absl::StrCat("less than ", Hours(policy.min_notice), " notice")
                       : std::string("starts in the past"),
                   "5.2");
  }
  if (policy.booking_window > 0) {
    if (request.unbounded) return Decline("the recurrence goes past the booking window", "5.2");
    for (const Span& i : request.instances) {
      if (i.start > request.now + policy.booking_window) {
        return Decline(absl::StrCat("beyond the booking window of ", Hours(policy.booking_window)),
                       "5.2");
      }
    }
  }
  if (policy.hours) {
    for (const Span& i : request.instances) {
      if (!WithinWorkingHours(*policy.hours, policy.timezone, i.start, i.end)) {
        return Decline("outside the resource's working hours", "5.2");
      }
    }
  }
  BookingDecision ok;
  if (policy.moderated) {
    ok.outcome = BookingOutcome::kTentative;
    ok.status = "1.0";
    return ok;
  }
  if (!policy.allow_conflicts) {
    for (const Span& i : request.instances) {
      for (const Span& b : request.busy) {
        // Zero-length instances conflict with a booking that contains their moment.
        bool overlap =
            i.start < b.end && (b.start < i.end || (i.start == i.end && b.start <= i.start));
        if (overlap) return Decline("already booked at that time");
      }
    }
  }
  ok.outcome = BookingOutcome::kAccept;
  return ok;
}

}  // namespace kite::caldav
