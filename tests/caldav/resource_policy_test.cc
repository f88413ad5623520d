// The booking decision of a resource, without a database: capacity, duration, notice,
// booking window, working hours in the resource's time zone, permitted bookers, conflicts.
#include "caldav/resource_policy.h"

#include <catch2/catch.hpp>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace {

using namespace kite::caldav;

int64_t At(int y, int mo, int d, int h, int mi = 0, const char* tz = "UTC") {
  absl::TimeZone zone;
  REQUIRE(absl::LoadTimeZone(tz, &zone));
  return absl::ToUnixSeconds(absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), zone));
}

std::array<std::vector<std::pair<int, int>>, 7> Weekdays(int from_h, int to_h) {
  std::array<std::vector<std::pair<int, int>>, 7> h;
  for (int d = 0; d < 5; ++d) h[d].emplace_back(from_h * 60, to_h * 60);
  return h;
}

BookingRequest Request(int64_t start, int64_t end) {
  BookingRequest r;
  r.now = At(2026, 11, 23, 12);  // Monday
  r.instances.push_back({start, end});
  r.people = 3;
  return r;
}

}  // namespace

TEST_CASE("a free room within policy is accepted", "[caldav][resource_policy]") {
  BookingPolicy p;
  p.capacity = 4;
  p.max_duration = 4 * 3600;
  p.hours = Weekdays(8, 18);
  auto d = DecideBooking(p, Request(At(2026, 12, 1, 9), At(2026, 12, 1, 10)));  // Tuesday
  CHECK(d.outcome == BookingOutcome::kAccept);
  CHECK(d.reason.empty());
}

TEST_CASE("declines: capacity, too long, out of hours, conflict, not permitted, notice, window",
          "[caldav][resource_policy]") {
  BookingPolicy p;
  p.capacity = 2;
  auto d = DecideBooking(p, Request(At(2026, 12, 1, 9), At(2026, 12, 1, 10)));
  CHECK(d.outcome == BookingOutcome::kDecline);
  CHECK(d.reason.find("capacity") != std::string::npos);

  p = {};
  p.max_duration = 2 * 3600;
  d = DecideBooking(p, Request(At(2026, 12, 1, 9), At(2026, 12, 1, 12)));
  CHECK(d.outcome == BookingOutcome::kDecline);
  CHECK(d.reason == "longer than the maximum of 2 h");

  p = {};
  p.hours = Weekdays(8, 18);
  d = DecideBooking(p, Request(At(2026, 12, 1, 17), At(2026, 12, 1, 19)));
  CHECK(d.outcome == BookingOutcome::kDecline);
  CHECK(d.reason.find("working hours") != std::string::npos);
  d = DecideBooking(p, Request(At(2026, 12, 5, 9), At(2026, 12, 5, 10)));  // Saturday
  CHECK(d.outcome == BookingOutcome::kDecline);

  p = {};
  BookingRequest r = Request(At(2026, 12, 1, 9), At(2026, 12, 1, 10));
  r.busy.push_back({At(2026, 12, 1, 9, 30), At(2026, 12, 1, 11)});
  d = DecideBooking(p, r);
  CHECK(d.outcome == BookingOutcome::kDecline);
  CHECK(d.reason == "already booked at that time");
  p.allow_conflicts = true;
  CHECK(DecideBooking(p, r).outcome == BookingOutcome::kAccept);
  // Back to back is no conflict.
  p = {};
  r.busy = {{At(2026, 12, 1, 10), At(2026, 12, 1, 11)}};
  CHECK(DecideBooking(p, r).outcome == BookingOutcome::kAccept);

  r = Request(At(2026, 12, 1, 9), At(2026, 12, 1, 10));
  r.booker_permitted = false;
  d = DecideBooking(p, r);
  CHECK(d.outcome == BookingOutcome::kDecline);
  CHECK(d.status == "3.8");

  p.min_notice = 24 * 3600;
  d = DecideBooking(p, Request(At(2026, 11, 23, 18), At(2026, 11, 23, 19)));
  CHECK(d.outcome == BookingOutcome::kDecline);
  CHECK(d.reason == "less than 24 h notice");

  p = {};
  p.booking_window = 7 * 86400;
  d = DecideBooking(p, Request(At(2026, 12, 10, 9), At(2026, 12, 10, 10)));
  CHECK(d.outcome == BookingOutcome::kDecline);
  CHECK(d.reason.find("booking window") != std::string::npos);
  r = Request(At(2026, 11, 24, 9), At(2026, 11, 24, 10));
  r.unbounded = true;
  CHECK(DecideBooking(p, r).outcome == BookingOutcome::kDecline);
}

TEST_CASE("working hours are local time in the resource's zone, DST included",
          "[caldav][resource_policy]") {
  auto hours = Weekdays(9, 17);
  // 09:00-10:00 in Paris on a Tuesday in winter (UTC+1) and in summer (UTC+2).
  CHECK(WithinWorkingHours(hours, "Europe/Paris", At(2026, 12, 1, 9, 0, "Europe/Paris"),
                           At(2026, 12, 1, 10, 0, "Europe/Paris")));
  CHECK(WithinWorkingHours(hours, "Europe/Paris", At(2026, 7, 7, 9, 0, "Europe/Paris"),
                           At(2026, 7, 7, 10, 0, "Europe/Paris")));
  // 08:30 UTC is 09:30 in winter but 10:30 in summer: both in; 16:30 UTC is 17:30 local: out.
  CHECK_FALSE(
      WithinWorkingHours(hours, "Europe/Paris", At(2026, 12, 1, 16, 30), At(2026, 12, 1, 17)));
  CHECK(WithinWorkingHours(hours, "UTC", At(2026, 12, 1, 16, 30), At(2026, 12, 1, 17)));
  // Across midnight never fits one day's interval; a full day to 24:00 does.
  std::array<std::vector<std::pair<int, int>>, 7> all;
  for (auto& d : all) d.emplace_back(0, 1440);
  CHECK(WithinWorkingHours(all, "UTC", At(2026, 12, 1, 0), At(2026, 12, 2, 0)));
  CHECK_FALSE(WithinWorkingHours(all, "UTC", At(2026, 12, 1, 23), At(2026, 12, 2, 1)));
}

TEST_CASE("a moderated resource leaves a valid request to the delegate",
          "[caldav][resource_policy]") {
  BookingPolicy p;
  p.moderated = true;
  p.max_duration = 3600;
  BookingRequest r = Request(At(2026, 12, 1, 9), At(2026, 12, 1, 10));
  r.busy.push_back({At(2026, 12, 1, 9), At(2026, 12, 1, 10)});
  CHECK(DecideBooking(p, r).outcome == BookingOutcome::kTentative);
  CHECK(DecideBooking(p, Request(At(2026, 12, 1, 9), At(2026, 12, 1, 12))).outcome ==
        BookingOutcome::kDecline);
}

TEST_CASE("clock and weekday parsing", "[caldav][resource_policy]") {
  CHECK(ParseClockMinutes("09:30") == 570);
  CHECK(ParseClockMinutes("24:00") == 1440);
  CHECK(ParseClockMinutes("24:01") == -1);
  CHECK(ParseClockMinutes("9:30") == -1);
  CHECK(WeekdayIndex("sun") == 6);
  CHECK(WeekdayIndex("Sun") == -1);
}
