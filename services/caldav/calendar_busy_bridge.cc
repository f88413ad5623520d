// TEMPORARY bridge until lib/calendar's busy-time half lands (branch `cal`): weak
// definitions of AppendBusy / MergeBusy / OutsideWorkingHours / FreeBusyToText so that the
// scheduler links today. lib/calendar's strong definitions replace these at link time
// (calendar.o is always linked for Ingest), so merging both is safe; delete this file then.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "lib/calendar/calendar.h"

namespace kite::calendar {

__attribute__((weak)) void AppendBusy(const Object& object, int64_t start, int64_t end,
                                      std::vector<BusyPeriod>* out) {
  if (object.component != "VEVENT") return;
  for (const Instance& i : Expand(object, start, end)) {
    if (i.transparent || i.status == "CANCELLED") continue;
    BusyPeriod b;
    b.start = std::max(i.start, start);
    b.end = std::min(i.end, end);
    b.type = i.status == "TENTATIVE" ? BusyType::kTentative : BusyType::kBusy;
    if (b.end >= b.start) out->push_back(b);
  }
}

__attribute__((weak)) std::vector<BusyPeriod> MergeBusy(std::vector<BusyPeriod> periods) {
  std::sort(periods.begin(), periods.end(), [](const BusyPeriod& a, const BusyPeriod& b) { return a.start < b.start; });
  std::vector<BusyPeriod> out;
  for (const BusyPeriod& p : periods) {
    if (!out.empty() && out.back().type == p.type && p.start <= out.back().end) {
      out.back().end = std::max(out.back().end, p.end);
    } else {
      out.push_back(p);
    }
  }
  return out;
}

__attribute__((weak)) std::vector<BusyPeriod> OutsideWorkingHours(const WorkingHours& hours, int64_t start,
                                                                   int64_t end) {
  absl::TimeZone zone = absl::UTCTimeZone();
  if (!absl::LoadTimeZone(hours.timezone, &zone)) zone = absl::UTCTimeZone();
  std::vector<BusyPeriod> free;  // working intervals in UTC
  absl::CivilDay day = absl::ToCivilDay(absl::FromUnixSeconds(start), zone) - 1;
  absl::CivilDay last = absl::ToCivilDay(absl::FromUnixSeconds(end), zone) + 1;
  for (; day <= last; ++day) {
    int wd = (static_cast<int>(absl::GetWeekday(day)) + 7) % 7;  // absl: monday = 0
    for (const auto& [from, to] : hours.days[wd]) {
      int64_t s = absl::ToUnixSeconds(absl::FromCivil(absl::CivilSecond(day) + from * 60, zone));
      int64_t e = absl::ToUnixSeconds(absl::FromCivil(absl::CivilSecond(day) + to * 60, zone));
      free.push_back({s, e, BusyType::kBusy});
    }
  }
  std::sort(free.begin(), free.end(), [](const BusyPeriod& a, const BusyPeriod& b) { return a.start < b.start; });
  std::vector<BusyPeriod> out;
  int64_t cursor = start;
  for (const BusyPeriod& f : free) {
    if (f.end <= cursor) continue;
    if (f.start >= end) break;
    if (f.start > cursor) out.push_back({cursor, f.start, BusyType::kUnavailable});
    cursor = std::max(cursor, f.end);
  }
  if (cursor < end) out.push_back({cursor, end, BusyType::kUnavailable});
  return out;
}

__attribute__((weak)) const char* BusyTypeName(BusyType t) {
  switch (t) {
    case BusyType::kTentative:
      return "BUSY-TENTATIVE";
    case BusyType::kUnavailable:
      return "BUSY-UNAVAILABLE";
    case BusyType::kBusy:
      break;
  }
  return "BUSY";
}

__attribute__((weak)) std::string FreeBusyToText(const std::vector<BusyPeriod>& merged, int64_t start, int64_t end,
                                                 const FreeBusyReply& reply) {
  std::string out = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Kite//CalDAV//EN\r\n";
  if (!reply.method.empty()) absl::StrAppend(&out, "METHOD:", reply.method, "\r\n");
  absl::StrAppend(&out, "BEGIN:VFREEBUSY\r\n");
  if (!reply.uid.empty()) absl::StrAppend(&out, "UID:", reply.uid, "\r\n");
  absl::StrAppend(&out, "DTSTAMP:", FormatUtc(reply.dtstamp), "\r\nDTSTART:", FormatUtc(start), "\r\nDTEND:",
                  FormatUtc(end), "\r\n");
  if (!reply.organizer.empty()) absl::StrAppend(&out, "ORGANIZER:mailto:", reply.organizer, "\r\n");
  if (!reply.attendee.empty()) absl::StrAppend(&out, "ATTENDEE:mailto:", reply.attendee, "\r\n");
  for (const BusyPeriod& p : merged) {
    absl::StrAppend(&out, "FREEBUSY;FBTYPE=", BusyTypeName(p.type), ":", FormatUtc(p.start), "/", FormatUtc(p.end),
                    "\r\n");
  }
  absl::StrAppend(&out, "END:VFREEBUSY\r\nEND:VCALENDAR\r\n");
  return out;
}

}  // namespace kite::calendar
