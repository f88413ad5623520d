#include "caldav/itip_build.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/base/strings.h"

namespace kite::caldav {
namespace {

bool IsSchedulingKind(icalcomponent_kind k) {
  return k == ICAL_VEVENT_COMPONENT || k == ICAL_VTODO_COMPONENT || k == ICAL_VJOURNAL_COMPONENT ||
         k == ICAL_VFREEBUSY_COMPONENT;
}

std::string Param(icalproperty* p, const char* name) {
  char* v = icalproperty_get_parameter_as_string_r(p, name);
  std::string out = v != nullptr ? v : "";
  if (v != nullptr) icalmemory_free_buffer(v);
  return out;
}

std::string Value(icalproperty* p) {
  char* v = icalproperty_get_value_as_string_r(p);
  std::string out = v != nullptr ? v : "";
  if (v != nullptr) icalmemory_free_buffer(v);
  return out;
}

std::string Upper(std::string s) {
  absl::AsciiStrToUpper(&s);
  return s;
}

std::vector<icalproperty*> Properties(icalcomponent* c, icalproperty_kind kind) {
  std::vector<icalproperty*> out;
  for (icalproperty* p = icalcomponent_get_first_property(c, kind); p != nullptr;
       p = icalcomponent_get_next_property(c, kind)) {
    out.push_back(p);
  }
  return out;
}

void RemoveProperties(icalcomponent* c, icalproperty_kind kind) {
  for (icalproperty* p : Properties(c, kind)) {
    icalcomponent_remove_property(c, p);
    icalproperty_free(p);
  }
}

void RemoveSubcomponents(icalcomponent* c, icalcomponent_kind kind) {
  std::vector<icalcomponent*> subs;
  for (icalcomponent* s = icalcomponent_get_first_component(c, kind); s != nullptr;
       s = icalcomponent_get_next_component(c, kind)) {
    subs.push_back(s);
  }
  for (icalcomponent* s : subs) {
    icalcomponent_remove_component(c, s);
    icalcomponent_free(s);
  }
}

std::string AddressOf(icalproperty* p) {
  return MailtoAddress(icalproperty_get_value_as_string(p));
}

// SCHEDULE-AGENT, SCHEDULE-STATUS, SCHEDULE-FORCE-SEND never travel in iTIP (RFC 6638 7).
void StripScheduleParams(icalcomponent* c) {
  for (icalproperty_kind kind : {ICAL_ATTENDEE_PROPERTY, ICAL_ORGANIZER_PROPERTY}) {
    for (icalproperty* p : Properties(c, kind)) {
      icalproperty_remove_parameter_by_kind(p, ICAL_SCHEDULEAGENT_PARAMETER);
      icalproperty_remove_parameter_by_kind(p, ICAL_SCHEDULESTATUS_PARAMETER);
      icalproperty_remove_parameter_by_kind(p, ICAL_SCHEDULEFORCESEND_PARAMETER);
      icalproperty_remove_parameter_by_name(p, "X-KITE-BOOKING");
    }
  }
}

void SetDtstamp(icalcomponent* c, int64_t now) {
  RemoveProperties(c, ICAL_DTSTAMP_PROPERTY);
  icalcomponent_add_property(c, icalproperty_new_dtstamp(icaltime_from_timet_with_zone(
                                    static_cast<time_t>(now), 0, icaltimezone_get_utc_timezone())));
}

// Removes the scheduling components of a clone that `keep` refuses.
template <typename Keep>
void FilterComponents(icalcomponent* root, Keep keep) {
  for (icalcomponent* c : SchedulingComponents(root)) {
    if (!keep(c)) {
      icalcomponent_remove_component(root, c);
      icalcomponent_free(c);
    }
  }
}

Ical Clone(icalcomponent* root) { return Ical(icalcomponent_new_clone(root)); }

}  // namespace

std::vector<icalcomponent*> SchedulingComponents(icalcomponent* root) {
  std::vector<icalcomponent*> out;
  if (root == nullptr) return out;
  for (icalcomponent* c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c != nullptr;
       c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
    if (IsSchedulingKind(icalcomponent_isa(c))) out.push_back(c);
  }
  std::stable_partition(out.begin(), out.end(), [](icalcomponent* c) {
    return icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY) == nullptr;
  });
  return out;
}

icalcomponent* MasterComponent(icalcomponent* root) {
  std::vector<icalcomponent*> all = SchedulingComponents(root);
  return all.empty() ? nullptr : all.front();
}

std::string RecurrenceKey(icalcomponent* c) {
  icalproperty* p = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
  if (p == nullptr) return "";
  std::string key = Value(p);
  std::string tz = Param(p, "TZID");
  if (!tz.empty()) absl::StrAppend(&key, ";", tz);
  return key.empty() ? std::string("?") : key;
}

std::string OrganizerOf(icalcomponent* root) {
  for (icalcomponent* c : SchedulingComponents(root)) {
    if (icalproperty* o = icalcomponent_get_first_property(c, ICAL_ORGANIZER_PROPERTY))
      return AddressOf(o);
  }
  return "";
}

std::string OrganizerScheduleAgent(icalcomponent* root) {
  for (icalcomponent* c : SchedulingComponents(root)) {
    if (icalproperty* o = icalcomponent_get_first_property(c, ICAL_ORGANIZER_PROPERTY)) {
      std::string a = Upper(Param(o, "SCHEDULE-AGENT"));
      return a.empty() ? "SERVER" : a;
    }
  }
  return "SERVER";
}

std::string OrganizerCommonName(icalcomponent* root) {
  for (icalcomponent* c : SchedulingComponents(root)) {
    if (icalproperty* o = icalcomponent_get_first_property(c, ICAL_ORGANIZER_PROPERTY))
      return Param(o, "CN");
  }
  return "";
}

std::vector<Party> AttendeesOf(icalcomponent* root) {
  std::vector<Party> out;
  std::set<std::string> seen;
  for (icalcomponent* c : SchedulingComponents(root)) {
    for (icalproperty* a : Properties(c, ICAL_ATTENDEE_PROPERTY)) {
      Party p;
      p.address = AddressOf(a);
      if (p.address.empty() || !seen.insert(p.address).second) continue;
      p.partstat = Upper(Param(a, "PARTSTAT"));
      if (p.partstat.empty()) p.partstat = "NEEDS-ACTION";
      p.cutype = Upper(Param(a, "CUTYPE"));
      if (p.cutype.empty()) p.cutype = "INDIVIDUAL";
      p.schedule_agent = Upper(Param(a, "SCHEDULE-AGENT"));
      if (p.schedule_agent.empty()) p.schedule_agent = "SERVER";
      p.common_name = Param(a, "CN");
      out.push_back(std::move(p));
    }
  }
  return out;
}

std::string Summary(icalcomponent* root) {
  icalcomponent* m = MasterComponent(root);
  if (m == nullptr) return "";
  const char* s = icalcomponent_get_summary(m);
  return s != nullptr ? s : "";
}

bool IsCancelled(icalcomponent* root) {
  icalcomponent* m = MasterComponent(root);
  return m != nullptr && icalcomponent_get_status(m) == ICAL_STATUS_CANCELLED;
}

int SequenceOf(icalcomponent* root) {
  icalcomponent* m = MasterComponent(root);
  return m != nullptr ? icalcomponent_get_sequence(m) : 0;
}

std::string SignificantFingerprint(icalcomponent* root) {
  std::vector<std::string> parts;
  for (icalcomponent* c : SchedulingComponents(root)) {
    std::string f = absl::StrCat("[", RecurrenceKey(c), "]");
    for (icalproperty_kind kind :
         {ICAL_DTSTART_PROPERTY, ICAL_DTEND_PROPERTY, ICAL_DUE_PROPERTY, ICAL_DURATION_PROPERTY,
          ICAL_RRULE_PROPERTY, ICAL_RDATE_PROPERTY, ICAL_EXDATE_PROPERTY, ICAL_LOCATION_PROPERTY,
          ICAL_SUMMARY_PROPERTY, ICAL_STATUS_PROPERTY, ICAL_SEQUENCE_PROPERTY}) {
      std::vector<std::string> values;
      for (icalproperty* p : Properties(c, kind)) {
        std::string v = Value(p);
        std::string tz = Param(p, "TZID");
        values.push_back(tz.empty() ? v : absl::StrCat(v, ";", tz));
      }
      std::sort(values.begin(), values.end());
      absl::StrAppend(&f, icalproperty_kind_to_string(kind), "=", absl::StrJoin(values, ","), "\n");
    }
    std::vector<std::string> attendees;
    for (icalproperty* a : Properties(c, ICAL_ATTENDEE_PROPERTY)) attendees.push_back(AddressOf(a));
    std::sort(attendees.begin(), attendees.end());
    absl::StrAppend(&f, "ATTENDEES=", absl::StrJoin(attendees, ","), "\n");
    parts.push_back(std::move(f));
  }
  std::sort(parts.begin(), parts.end());
  return absl::StrJoin(parts, "");
}

std::map<std::string, std::string> PartstatsOf(icalcomponent* root, std::string_view address) {
  std::map<std::string, std::string> out;
  for (icalcomponent* c : SchedulingComponents(root)) {
    for (icalproperty* a : Properties(c, ICAL_ATTENDEE_PROPERTY)) {
      if (AddressOf(a) != address) continue;
      std::string ps = Upper(Param(a, "PARTSTAT"));
      out[RecurrenceKey(c)] = ps.empty() ? "NEEDS-ACTION" : ps;
      break;
    }
  }
  return out;
}

namespace {
bool SetPartstatOn(icalproperty* a, std::string_view partstat) {
  std::string before = Upper(Param(a, "PARTSTAT"));
  if (before.empty()) before = "NEEDS-ACTION";
  std::string value(partstat);
  icalproperty_set_parameter_from_string(a, "PARTSTAT", value.c_str());
  if (value != "NEEDS-ACTION") icalproperty_remove_parameter_by_kind(a, ICAL_RSVP_PARAMETER);
  return before != value;
}
}  // namespace

int SetPartstat(icalcomponent* root, std::string_view address, std::string_view partstat) {
  int changed = 0;
  for (icalcomponent* c : SchedulingComponents(root)) {
    for (icalproperty* a : Properties(c, ICAL_ATTENDEE_PROPERTY)) {
      if (AddressOf(a) == address && SetPartstatOn(a, partstat)) ++changed;
    }
  }
  return changed;
}

void SetPartstats(icalcomponent* root, std::string_view address,
                  const std::map<std::string, std::string>& by_key) {
  auto master = by_key.find("");
  for (icalcomponent* c : SchedulingComponents(root)) {
    auto it = by_key.find(RecurrenceKey(c));
    if (it == by_key.end()) it = master;
    std::string ps = it != by_key.end() ? it->second : "NEEDS-ACTION";
    for (icalproperty* a : Properties(c, ICAL_ATTENDEE_PROPERTY)) {
      if (AddressOf(a) == address) SetPartstatOn(a, ps);
    }
  }
}

void SetScheduleStatus(icalcomponent* root, std::string_view address, std::string_view code) {
  std::string value(code);
  for (icalcomponent* c : SchedulingComponents(root)) {
    for (icalproperty* a : Properties(c, ICAL_ATTENDEE_PROPERTY)) {
      if (AddressOf(a) != address) continue;
      icalproperty_remove_parameter_by_kind(a, ICAL_SCHEDULESTATUS_PARAMETER);
      icalproperty_add_parameter(a, icalparameter_new_schedulestatus(value.c_str()));
    }
  }
}

void SetBookingNote(icalcomponent* root, std::string_view address, std::string_view note) {
  // Letters, digits, spaces and a few marks only: a parameter value needs no quoting then.
  std::string clean;
  for (char ch : note) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == ' ' || ch == '-' ||
        ch == '.' || ch == '/' || ch == '(' || ch == ')') {
      clean += ch;
    }
  }
  for (icalcomponent* c : SchedulingComponents(root)) {
    for (icalproperty* a : Properties(c, ICAL_ATTENDEE_PROPERTY)) {
      if (AddressOf(a) != address) continue;
      icalproperty_remove_parameter_by_name(a, "X-KITE-BOOKING");
      if (clean.empty()) continue;
      icalparameter* p = icalparameter_new_x(clean.c_str());
      icalparameter_set_xname(p, "X-KITE-BOOKING");
      icalproperty_add_parameter(a, p);
    }
  }
}

void RemoveMethod(icalcomponent* root) { RemoveProperties(root, ICAL_METHOD_PROPERTY); }

void SetMethod(icalcomponent* root, icalproperty_method method) {
  RemoveMethod(root);
  icalcomponent_add_property(root, icalproperty_new_method(method));
}

Ical BuildRequest(icalcomponent* root, int64_t now) {
  Ical out = Clone(root);
  SetMethod(out.get(), ICAL_METHOD_REQUEST);
  for (icalcomponent* c : SchedulingComponents(out.get())) {
    RemoveSubcomponents(c, ICAL_VALARM_COMPONENT);
    StripScheduleParams(c);
    SetDtstamp(c, now);
  }
  return out;
}

Ical BuildCancel(icalcomponent* root, const std::vector<std::string>& recipients, int64_t now) {
  Ical out = Clone(root);
  SetMethod(out.get(), ICAL_METHOD_CANCEL);
  bool has_master = false;
  for (icalcomponent* c : SchedulingComponents(out.get())) {
    if (RecurrenceKey(c).empty()) has_master = true;
  }
  if (has_master)
    FilterComponents(out.get(), [](icalcomponent* c) { return RecurrenceKey(c).empty(); });
  for (icalcomponent* c : SchedulingComponents(out.get())) {
    RemoveSubcomponents(c, ICAL_VALARM_COMPONENT);
    for (icalproperty* a : Properties(c, ICAL_ATTENDEE_PROPERTY)) {
      if (std::find(recipients.begin(), recipients.end(), AddressOf(a)) != recipients.end())
        continue;
      icalcomponent_remove_property(c, a);
      icalproperty_free(a);
    }
    // Recipients that only this cancellation names (removed attendees are gone from `root`).
    for (const std::string& r : recipients) {
      bool named = false;
      for (icalproperty* a : Properties(c, ICAL_ATTENDEE_PROPERTY))
        named = named || AddressOf(a) == r;
      if (!named)
        icalcomponent_add_property(c,
                                   icalproperty_new_attendee(absl::StrCat("mailto:", r).c_str()));
    }
    StripScheduleParams(c);
    icalcomponent_set_status(c, ICAL_STATUS_CANCELLED);
    SetDtstamp(c, now);
  }
  return out;
}

Ical BuildReply(icalcomponent* root, std::string_view attendee, int64_t now,
                std::string_view comment) {
  Ical out = Clone(root);
  SetMethod(out.get(), ICAL_METHOD_REPLY);
  FilterComponents(out.get(), [&](icalcomponent* c) {
    for (icalproperty* a : Properties(c, ICAL_ATTENDEE_PROPERTY)) {
      if (AddressOf(a) == attendee) return true;
    }
    return false;
  });
  for (icalcomponent* c : SchedulingComponents(out.get())) {
    RemoveSubcomponents(c, ICAL_VALARM_COMPONENT);
    for (icalproperty* a : Properties(c, ICAL_ATTENDEE_PROPERTY)) {
      if (AddressOf(a) == attendee) continue;
      icalcomponent_remove_property(c, a);
      icalproperty_free(a);
    }
    RemoveProperties(c, ICAL_DESCRIPTION_PROPERTY);
    RemoveProperties(c, ICAL_COMMENT_PROPERTY);
    if (!comment.empty())
      icalcomponent_add_property(c, icalproperty_new_comment(std::string(comment).c_str()));
    StripScheduleParams(c);
    SetDtstamp(c, now);
  }
  return out;
}

Ical BuildAttendeeCopy(icalcomponent* root, std::string_view attendee,
                       const std::map<std::string, std::string>& partstats) {
  Ical out = Clone(root);
  RemoveMethod(out.get());
  for (icalcomponent* c : SchedulingComponents(out.get())) {
    RemoveSubcomponents(c, ICAL_VALARM_COMPONENT);
    StripScheduleParams(c);
  }
  SetPartstats(out.get(), attendee, partstats);
  return out;
}

}  // namespace kite::caldav
