// libFuzzer target: lib/calendar on untrusted iCalendar (CalDAV PUT bodies, iMIP parts):
// Ingest (and Load of what it serialises), Expand over a year, Matches with a simple
// calendar-query filter, busy time and the calendar-data shaping. Aborts when an invariant
// of calendar.h does not hold.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/calendar/calendar.h"

namespace cal = kite::calendar;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  cal::IngestOptions options;
  options.max_bytes = 64 * 1024;
  options.components = {"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"};
  options.floating_tz = "Europe/Berlin";
  options.allow_method = true;
  cal::IngestError error;
  std::optional<cal::Object> o = cal::Ingest(text, options, &error);
  if (!o) {
    if (error.reason.empty()) abort();
    return 0;
  }
  if (o->components.empty() || o->uid.empty() || o->root == nullptr) abort();
  if (o->first_start && o->last_end && *o->last_end < *o->first_start) abort();

  const int64_t start = 1798761600;  // 2027-01-01
  const int64_t end = start + 365 * 86400;
  bool truncated = false;
  std::vector<cal::Instance> instances = cal::Expand(*o, start, end, &truncated);
  if (instances.size() > cal::kMaxInstances) abort();
  for (size_t i = 0; i < instances.size(); ++i) {
    if (instances[i].end < instances[i].start || instances[i].component == nullptr) abort();
    if (i > 0 && instances[i].start < instances[i - 1].start) abort();
  }

  cal::CompFilter filter;
  filter.name = "VCALENDAR";
  cal::CompFilter event;
  event.name = "VEVENT";
  event.time_range = cal::TimeRange{start, start + 30 * 86400};
  cal::PropFilter summary;
  summary.name = "SUMMARY";
  summary.text_match = cal::TextMatch{"a", false, "i;ascii-casemap"};
  event.prop_filters.push_back(summary);
  cal::CompFilter alarm;
  alarm.name = "VALARM";
  alarm.time_range = cal::TimeRange{start, start + 86400};
  event.comp_filters.push_back(alarm);
  filter.comp_filters.push_back(event);
  (void)cal::Matches(*o, filter);

  std::vector<cal::BusyPeriod> busy;
  cal::AppendBusy(*o, start, end, &busy);
  std::vector<cal::BusyPeriod> merged = cal::MergeBusy(busy);
  for (size_t i = 0; i < merged.size(); ++i) {
    if (merged[i].end <= merged[i].start || merged[i].start < start || merged[i].end > end) abort();
    if (i > 0 && merged[i].start < merged[i - 1].end) abort();
  }
  (void)cal::FreeBusyToText(merged, start, end);
  (void)cal::ExpandToText(*o, start, start + 30 * 86400);
  (void)cal::LimitRecurrenceSetToText(*o, start, start + 30 * 86400);
  std::string stored = cal::Serialize(o->root.get());
  std::optional<cal::Object> again = cal::Load(stored, options.floating_tz);
  if (!again) abort();  // what was accepted must load again
  if (again->uid != o->uid) abort();
  return 0;
}
