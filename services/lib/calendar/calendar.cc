#include "lib/calendar/calendar.h"

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "lib/base/ascii.h"

namespace kite::calendar {
namespace {

constexpr int64_t kMinTime = -62135596800;  // 0001-01-01T00:00:00Z
constexpr int64_t kMaxTime = 253402300799;  // 9999-12-31T23:59:59Z
constexpr int64_t kDay = 86400;
// Recurrence iterator steps per expansion (all RRULEs together): what bounds the work for a
// rule that starts long before the range asked for, or for one that never reaches it.
constexpr int kMaxSteps = 100000;
constexpr size_t kMaxUidBytes = 1024;
constexpr size_t kMaxReasonBytes = 200;

void InitLibical() {
  static std::once_flag once;
  // Bad input must be an error value, never an abort inside libical.
  std::call_once(once, [] { icalerror_set_errors_are_fatal(0); });
}

// ---- small helpers -------------------------------------------------------------------------

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ascii::EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// "mailto:Alice@Example.test" -> "alice@example.test"; "" for anything else.
std::string MailtoAddress(const char* uri) {
  if (uri == nullptr) return "";
  std::string_view s = Trim(uri);
  if (s.size() <= 7 || !StartsWithIgnoreCase(s, "mailto:")) return "";
  return ascii::ToLower(Trim(s.substr(7)));
}

// Client text in a reason: printable ASCII only, bounded.
std::string Safe(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (out.size() >= kMaxReasonBytes) {
      out += "...";
      break;
    }
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

// Well-formed UTF-8 without NUL (PostgreSQL text refuses both).
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<size_t>(n) >= s.size()) return false;
    for (int k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// RFC 5545 3.1: no control characters but HTAB and the line ends (CRLF; bare LF tolerated).
// A bare CR would end a line for one parser and not for another (stored text re-parsed).
bool NoControls(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != 0x7f) continue;
    if (c == '\t' || c == '\n') continue;
    if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    return false;
  }
  return true;
}

// One VCALENDAR whose BEGIN/END lines nest properly (at most kMaxDepth deep) and nothing but
// blank lines after it. Checked before libical sees the text: libical writes a line to
// stderr for each stray END, and wraps several top-level objects in an XROOT.
bool WellNested(std::string_view text) {
  constexpr size_t kMaxDepth = 16;
  std::vector<std::string> open;
  bool done = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) continue;  // a folded continuation
    if (Trim(line).empty()) continue;
    if (done) return false;
    bool begin = StartsWithIgnoreCase(line, "BEGIN:");
    bool end = StartsWithIgnoreCase(line, "END:");
    if (open.empty() && !begin) return false;  // before the VCALENDAR
    if (!begin && !end) continue;
    std::string name = ascii::ToUpper(Trim(line.substr(begin ? 6 : 4)));
    if (begin) {
      if (open.empty() && name != "VCALENDAR") return false;
      if (open.size() >= kMaxDepth) return false;
      open.push_back(std::move(name));
    } else {
      if (open.back() != name) return false;
      open.pop_back();
      if (open.empty()) done = true;
    }
  }
  return done;
}

std::string TakeIcalString(char* s) {
  std::string out = s != nullptr ? s : "";
  if (s != nullptr) icalmemory_free_buffer(s);
  return out;
}

// A parameter's value as written (quotes removed), whatever its kind.
std::string ParamText(icalparameter* p) {
  std::string all = TakeIcalString(icalparameter_as_ical_string_r(p));
  size_t eq = all.find('=');
  std::string_view v = eq == std::string::npos ? std::string_view() : std::string_view(all).substr(eq + 1);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return std::string(v);
}

std::string ParamName(icalparameter* p) {
  icalparameter_kind k = icalparameter_isa(p);
  if (k == ICAL_X_PARAMETER || k == ICAL_IANA_PARAMETER) {
    const char* x = icalparameter_get_xname(p);
    return ascii::ToUpper(x != nullptr ? x : "");
  }
  const char* n = icalparameter_kind_to_string(k);
  return ascii::ToUpper(n != nullptr ? n : "");
}

std::string PropName(const icalproperty* p) {
  return ascii::ToUpper(TakeIcalString(icalproperty_get_property_name_r(p)));
}

std::string ParamOf(icalproperty* p, icalparameter_kind kind) {
  icalparameter* param = icalproperty_get_first_parameter(p, kind);
  return param != nullptr ? ascii::ToUpper(ParamText(param)) : "";
}

bool IsObjectKind(icalcomponent_kind k) {
  return k == ICAL_VEVENT_COMPONENT || k == ICAL_VTODO_COMPONENT || k == ICAL_VJOURNAL_COMPONENT ||
         k == ICAL_VFREEBUSY_COMPONENT;
}

template <typename F>
void ForEachProperty(icalcomponent* c, icalproperty_kind kind, F&& f) {
  for (icalproperty* p = icalcomponent_get_first_property(c, kind); p != nullptr;
       p = icalcomponent_get_next_property(c, kind)) {
    f(p);
  }
}

std::vector<icalcomponent*> Children(icalcomponent* c, icalcomponent_kind kind = ICAL_ANY_COMPONENT) {
  std::vector<icalcomponent*> out;
  for (icalcomponent* s = icalcomponent_get_first_component(c, kind); s != nullptr;
       s = icalcomponent_get_next_component(c, kind)) {
    out.push_back(s);
  }
  return out;
}

std::vector<icalproperty*> Properties(icalcomponent* c, icalproperty_kind kind = ICAL_ANY_PROPERTY) {
  std::vector<icalproperty*> out;
  ForEachProperty(c, kind, [&](icalproperty* p) { out.push_back(p); });
  return out;
}

// ---- civil time ----------------------------------------------------------------------------

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int* year, int* month, int* day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<int>(y + (m <= 2 ? 1 : 0));
  *month = static_cast<int>(m);
  *day = static_cast<int>(d);
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

int DaysInMonth(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return 31;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// The wall-clock fields of `t` as if they were UTC.
int64_t Seconds(const icaltimetype& t) {
  int64_t s = DaysFromCivil(t.year, t.month, t.day) * kDay;
  if (!t.is_date) s += int64_t{t.hour} * 3600 + int64_t{t.minute} * 60 + t.second;
  return s;
}

int64_t Clamp(int64_t t) { return std::clamp(t, kMinTime, kMaxTime); }

icaltimetype UtcTime(int64_t t) {
  t = Clamp(t);
  icaltimetype out = icaltime_null_time();
  int64_t days = FloorDiv(t, kDay);
  int64_t rest = t - days * kDay;
  CivilFromDays(days, &out.year, &out.month, &out.day);
  out.hour = static_cast<int>(rest / 3600);
  out.minute = static_cast<int>(rest % 3600 / 60);
  out.second = static_cast<int>(rest % 60);
  out.zone = icaltimezone_get_utc_timezone();
  return out;
}

icaltimetype AddDays(icaltimetype t, int64_t days) {
  int y = 0, m = 0, d = 0;
  CivilFromDays(DaysFromCivil(t.year, t.month, t.day) + days, &y, &m, &d);
  t.year = std::clamp(y, 1, 9999);
  t.month = m;
  t.day = d;
  return t;
}

bool SaneTime(const icaltimetype& t) {
  return !icaltime_is_null_time(t) && t.year >= 1 && t.year <= 9999 && t.month >= 1 && t.month <= 12 &&
         t.day >= 1 && t.day <= 31 && t.hour >= 0 && t.hour <= 23 && t.minute >= 0 && t.minute <= 59 &&
         t.second >= 0 && t.second <= 60;
}

// ---- time zones ----------------------------------------------------------------------------

// A name that may be looked up in libical's built-in zones (IANA names; libical reads them
// from the system's zoneinfo, so no path tricks).
icaltimezone* BuiltinZone(std::string_view name) {
  if (name.empty() || name.size() > 80) return nullptr;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '+' || c == '/' || c == '.';
    if (!ok) return nullptr;
  }
  if (name.find("..") != std::string_view::npos) return nullptr;
  std::string copy(name);
  if (copy == "UTC" || copy == "Etc/UTC" || copy == "GMT" || copy == "Z") return icaltimezone_get_utc_timezone();
  if (copy.front() == '/') return icaltimezone_get_builtin_timezone_from_tzid(copy.c_str());
  return icaltimezone_get_builtin_timezone(copy.c_str());
}

// STANDARD/DAYLIGHT rules libical expands when converting times: only yearly rules of the
// kind zones use, so a hostile VTIMEZONE cannot make every conversion expensive.
bool SafeVtimezone(icalcomponent* tz) {
  for (icalcomponent* sub : Children(tz)) {
    for (icalproperty* p : Properties(sub, ICAL_RRULE_PROPERTY)) {
      icalrecurrencetype r = icalproperty_get_rrule(p);
      if (r.freq != ICAL_YEARLY_RECURRENCE) return false;
      if (r.interval > 1) return false;
      if (r.by_second[0] != ICAL_RECURRENCE_ARRAY_MAX || r.by_minute[0] != ICAL_RECURRENCE_ARRAY_MAX ||
          r.by_hour[0] != ICAL_RECURRENCE_ARRAY_MAX || r.by_year_day[0] != ICAL_RECURRENCE_ARRAY_MAX ||
          r.by_week_no[0] != ICAL_RECURRENCE_ARRAY_MAX || r.by_set_pos[0] != ICAL_RECURRENCE_ARRAY_MAX) {
        return false;
      }
      if (r.rscale != nullptr) return false;
    }
  }
  return true;
}

// Resolves TZIDs and floating times for one object; caches lookups.
class Zones {
 public:
  Zones(icalcomponent* root, std::string_view floating_tz) : root_(root) {
    floating_ = BuiltinZone(floating_tz);
    if (floating_ == nullptr) floating_ = icaltimezone_get_utc_timezone();
  }

  icaltimezone* floating() const { return floating_; }

  // The zone a TZID names: the object's VTIMEZONE, else a built-in zone; nullptr if unknown.
  icaltimezone* Resolve(const char* tzid) {
    if (tzid == nullptr) return nullptr;
    std::string key(tzid);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    icaltimezone* zone = nullptr;
    bool in_object = false;
    for (icalcomponent* tz : Children(root_, ICAL_VTIMEZONE_COMPONENT)) {
      icalproperty* id = icalcomponent_get_first_property(tz, ICAL_TZID_PROPERTY);
      const char* v = id != nullptr ? icalproperty_get_tzid(id) : nullptr;
      if (v == nullptr || key != v) continue;
      in_object = true;
      if (SafeVtimezone(tz)) zone = icalcomponent_get_timezone(root_, tzid);
      break;
    }
    if (zone == nullptr) zone = BuiltinZone(key);
    (void)in_object;
    if (cache_.size() < 256) cache_[key] = zone;
    return zone;
  }

  // The zone for a time property's value: its TZID, else floating. *unknown when the TZID
  // resolves to nothing (the floating zone is used then).
  icaltimezone* For(icalproperty* p, bool* unknown = nullptr) {
    icalparameter* tzp = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
    if (tzp == nullptr) return floating_;
    icaltimezone* z = Resolve(icalparameter_get_tzid(tzp));
    if (z == nullptr) {
      if (unknown != nullptr) *unknown = true;
      return floating_;
    }
    return z;
  }

 private:
  icalcomponent* root_;
  icaltimezone* floating_;
  std::map<std::string, icaltimezone*> cache_;
};

// UTC seconds of a wall-clock time in `zone` (DATE: 00:00). UTC values ignore the zone.
// Far years are converted with the offset of a year libical expands cheaply.
std::optional<int64_t> ToUtc(icaltimetype t, icaltimezone* zone) {
  if (!SaneTime(t)) return std::nullopt;
  if (t.is_date) {
    t.is_date = 0;
    t.hour = t.minute = t.second = 0;
  }
  if (t.day > DaysInMonth(t.year, t.month)) t.day = DaysInMonth(t.year, t.month);
  icaltimezone* utc = icaltimezone_get_utc_timezone();
  const int64_t local = Seconds(t);
  if (icaltime_is_utc(t) || zone == nullptr || zone == utc) return Clamp(local);
  icaltimetype probe = t;
  probe.zone = nullptr;
  probe.year = std::clamp(t.year, 1900, 2200);
  if (probe.day > DaysInMonth(probe.year, probe.month)) probe.day = DaysInMonth(probe.year, probe.month);
  const int64_t probe_local = Seconds(probe);
  icaltimezone_convert_time(&probe, zone, utc);
  if (!SaneTime(probe)) return Clamp(local);
  int64_t offset = Seconds(probe) - probe_local;
  if (offset < -2 * kDay || offset > 2 * kDay) offset = 0;
  return Clamp(local + offset);
}

// The wall-clock time of UTC `t` in `zone`.
icaltimetype LocalTime(int64_t t, icaltimezone* zone) {
  icaltimetype u = UtcTime(t);
  icaltimezone* utc = icaltimezone_get_utc_timezone();
  if (zone == nullptr || zone == utc) return u;
  icaltimetype probe = u;
  probe.year = std::clamp(u.year, 1900, 2200);
  if (probe.day > DaysInMonth(probe.year, probe.month)) probe.day = DaysInMonth(probe.year, probe.month);
  int64_t before = Seconds(probe);
  icaltimetype converted = probe;
  icaltimezone_convert_time(&converted, utc, zone);
  int64_t offset = SaneTime(converted) ? Seconds(converted) - before : 0;
  if (offset < -2 * kDay || offset > 2 * kDay) offset = 0;
  icaltimetype out = UtcTime(t + offset);
  out.zone = nullptr;
  return out;
}

// ---- components and their times -------------------------------------------------------------

bool HasProp(icalcomponent* c, icalproperty_kind k) { return icalcomponent_get_first_property(c, k) != nullptr; }

std::optional<icaltimetype> TimeProp(icalcomponent* c, icalproperty_kind k, icalproperty** prop = nullptr) {
  icalproperty* p = icalcomponent_get_first_property(c, k);
  if (p == nullptr) return std::nullopt;
  icalvalue* v = icalproperty_get_value(p);
  if (v == nullptr) return std::nullopt;
  icalvalue_kind vk = icalvalue_isa(v);
  if (vk != ICAL_DATETIME_VALUE && vk != ICAL_DATE_VALUE) return std::nullopt;
  icaltimetype t = icalvalue_get_datetime(v);
  if (!SaneTime(t)) return std::nullopt;
  if (prop != nullptr) *prop = p;
  return t;
}

std::optional<icaldurationtype> DurationProp(icalcomponent* c) {
  icalproperty* p = icalcomponent_get_first_property(c, ICAL_DURATION_PROPERTY);
  if (p == nullptr) return std::nullopt;
  icaldurationtype d = icalproperty_get_duration(p);
  if (icaldurationtype_is_bad_duration(d)) return std::nullopt;
  return d;
}

// RFC 4791 9.9: how a component's times decide whether it overlaps a range.
enum class Rule {
  kEvent,          // [start, end), zero-length: start in range
  kNever,          // no time: never in a range (VJOURNAL without DTSTART)
  kAlways,         // no time at all (VTODO without any): in every range
  kTodoDuration,   // DTSTART + DURATION
  kTodoDue,        // DTSTART + DUE
  kTodoStart,      // DTSTART only
  kTodoDueOnly,    // DUE only (start == end == DUE)
  kTodoCompleted,  // COMPLETED and/or CREATED: [min, max] inclusive
  kTodoCreated,    // CREATED only: from CREATED on
  kFreeBusy,       // [DTSTART, DTEND] with start <= DTEND
};

bool RuleOverlaps(Rule rule, int64_t start, int64_t end, int64_t s, int64_t e) {
  switch (rule) {
    case Rule::kEvent:
      return end > start ? (s < end && e > start) : (s <= start && e > start);
    case Rule::kNever:
      return false;
    case Rule::kAlways:
      return true;
    case Rule::kTodoDuration:
      return s <= end && (e > start || e >= end);
    case Rule::kTodoDue:
      return (s < end || s <= start) && (e > start || e >= end);
    case Rule::kTodoStart:
      return s <= start && e > start;
    case Rule::kTodoDueOnly:
      return s < end && e >= end;
    case Rule::kTodoCompleted:
      return s <= std::max(start, end) && e >= std::min(start, end);
    case Rule::kTodoCreated:
      return e > start;
    case Rule::kFreeBusy:
      return s <= end && e > start;
  }
  return false;
}

// How one component's instances are shaped from a (local) start time.
struct Shape {
  icalcomponent* comp = nullptr;
  icaltimezone* zone = nullptr;      // of DTSTART
  std::optional<icaltimetype> dtstart;
  std::optional<int64_t> start;      // DTSTART in UTC
  bool all_day = false;
  int64_t nominal_days = 0;          // end = local start + days ...
  int64_t exact = 0;                 // ... + seconds
  Rule rule = Rule::kEvent;
  // Instances without DTSTART (todos by DUE/COMPLETED/CREATED, free/busy by periods).
  int64_t fixed_start = 0;
  int64_t fixed_end = 0;
  bool transparent = false;
  std::string status;
};

int64_t DurationSeconds(const icaldurationtype& d) {
  return int64_t{d.hours} * 3600 + int64_t{d.minutes} * 60 + int64_t{d.seconds};
}

int64_t DurationDays(const icaldurationtype& d) { return int64_t{d.weeks} * 7 + int64_t{d.days}; }

Shape ShapeOf(icalcomponent* c, Zones* zones) {
  Shape s;
  s.comp = c;
  icalcomponent_kind kind = icalcomponent_isa(c);
  if (icalproperty* tr = icalcomponent_get_first_property(c, ICAL_TRANSP_PROPERTY)) {
    s.transparent = icalproperty_get_transp(tr) == ICAL_TRANSP_TRANSPARENT;
  }
  if (icalproperty* st = icalcomponent_get_first_property(c, ICAL_STATUS_PROPERTY)) {
    icalproperty_status v = icalproperty_get_status(st);
    if (v == ICAL_STATUS_TENTATIVE) s.status = "TENTATIVE";
    if (v == ICAL_STATUS_CONFIRMED) s.status = "CONFIRMED";
    if (v == ICAL_STATUS_CANCELLED) s.status = "CANCELLED";
  }
  icalproperty* start_prop = nullptr;
  s.dtstart = TimeProp(c, ICAL_DTSTART_PROPERTY, &start_prop);
  if (s.dtstart) {
    s.zone = zones->For(start_prop);
    s.all_day = s.dtstart->is_date != 0;
    s.start = ToUtc(*s.dtstart, s.zone);
    if (!s.start) s.dtstart.reset();
  }
  std::optional<icaldurationtype> duration = DurationProp(c);
  auto set_duration = [&](const icaldurationtype& d) {
    if (d.is_neg) return;  // refused at ingest; treated as zero-length here
    s.nominal_days = DurationDays(d);
    s.exact = DurationSeconds(d);
  };
  auto set_end = [&](icalproperty_kind k) -> bool {
    icalproperty* p = nullptr;
    std::optional<icaltimetype> end = TimeProp(c, k, &p);
    if (!end) return false;
    if (s.all_day && end->is_date) {
      s.nominal_days = std::max<int64_t>(0, DaysFromCivil(end->year, end->month, end->day) -
                                               DaysFromCivil(s.dtstart->year, s.dtstart->month, s.dtstart->day));
    } else {
      std::optional<int64_t> e = ToUtc(*end, zones->For(p));
      if (e) s.exact = std::max<int64_t>(0, *e - *s.start);
    }
    return true;
  };
  switch (kind) {
    case ICAL_VEVENT_COMPONENT:
      s.rule = Rule::kEvent;
      if (!s.dtstart) {
        s.rule = Rule::kNever;
        break;
      }
      if (!set_end(ICAL_DTEND_PROPERTY)) {
        if (duration) {
          set_duration(*duration);
        } else if (s.all_day) {
          s.nominal_days = 1;
        }
      }
      break;
    case ICAL_VJOURNAL_COMPONENT:
      s.rule = s.dtstart ? Rule::kEvent : Rule::kNever;
      if (s.all_day) s.nominal_days = 1;
      break;
    case ICAL_VTODO_COMPONENT: {
      if (s.dtstart) {
        if (duration) {
          s.rule = Rule::kTodoDuration;
          set_duration(*duration);
        } else if (set_end(ICAL_DUE_PROPERTY)) {
          s.rule = Rule::kTodoDue;
        } else {
          s.rule = Rule::kTodoStart;
        }
        break;
      }
      icalproperty* p = nullptr;
      if (std::optional<icaltimetype> due = TimeProp(c, ICAL_DUE_PROPERTY, &p)) {
        if (std::optional<int64_t> t = ToUtc(*due, zones->For(p))) {
          s.rule = Rule::kTodoDueOnly;
          s.fixed_start = s.fixed_end = *t;
          break;
        }
      }
      std::optional<int64_t> created, completed;
      if (std::optional<icaltimetype> t = TimeProp(c, ICAL_CREATED_PROPERTY, &p)) created = ToUtc(*t, zones->For(p));
      if (std::optional<icaltimetype> t = TimeProp(c, ICAL_COMPLETED_PROPERTY, &p)) {
        completed = ToUtc(*t, zones->For(p));
      }
      if (completed) {
        s.rule = Rule::kTodoCompleted;
        s.fixed_start = std::min(created.value_or(*completed), *completed);
        s.fixed_end = std::max(created.value_or(*completed), *completed);
      } else if (created) {
        s.rule = Rule::kTodoCreated;
        s.fixed_start = s.fixed_end = *created;
      } else {
        s.rule = Rule::kAlways;
      }
      break;
    }
    case ICAL_VFREEBUSY_COMPONENT: {
      s.rule = Rule::kFreeBusy;
      icalproperty* p = nullptr;
      std::optional<int64_t> end;
      if (std::optional<icaltimetype> t = TimeProp(c, ICAL_DTEND_PROPERTY, &p)) end = ToUtc(*t, zones->For(p));
      if (s.start && end) {
        s.fixed_start = *s.start;
        s.fixed_end = std::max(*s.start, *end);
      } else {
        // The FREEBUSY periods' hull.
        bool any = false;
        for (icalproperty* fb : Properties(c, ICAL_FREEBUSY_PROPERTY)) {
          icalperiodtype period = icalproperty_get_freebusy(fb);
          std::optional<int64_t> ps = ToUtc(period.start, icaltimezone_get_utc_timezone());
          if (!ps) continue;
          int64_t pe = *ps;
          if (std::optional<int64_t> e2 = ToUtc(period.end, icaltimezone_get_utc_timezone())) {
            pe = std::max(pe, *e2);
          } else if (!icaldurationtype_is_bad_duration(period.duration) && !period.duration.is_neg) {
            pe = *ps + DurationDays(period.duration) * kDay + DurationSeconds(period.duration);
          }
          s.fixed_start = any ? std::min(s.fixed_start, *ps) : *ps;
          s.fixed_end = any ? std::max(s.fixed_end, pe) : pe;
          any = true;
        }
        if (!any) s.rule = Rule::kNever;
      }
      s.dtstart.reset();  // a VFREEBUSY does not recur
      break;
    }
    default:
      s.rule = Rule::kNever;
      break;
  }
  return s;
}

// The end of an instance of `shape` starting at local time `local` (UTC `start`).
int64_t EndOf(const Shape& shape, const icaltimetype& local, int64_t start) {
  int64_t end = start;
  if (shape.nominal_days > 0) {
    std::optional<int64_t> e = ToUtc(AddDays(local, shape.nominal_days), shape.zone);
    if (e) end = *e;
  }
  return Clamp(std::max(start, end + shape.exact));
}

// Whether an RRULE is safe to iterate: libical steps one FREQ unit at a time between
// matches, so a fine frequency filtered by coarse BY parts (FREQ=MINUTELY;BYMONTH=2) or an
// impossible combination (BYMONTH=2;BYMONTHDAY=30) would spin for centuries inside one call.
bool CheapRule(const icalrecurrencetype& r) {
  auto has = [](const short* a) { return a[0] != ICAL_RECURRENCE_ARRAY_MAX; };
  if (r.freq == ICAL_NO_RECURRENCE || r.interval < 1) return false;
  if (r.rscale != nullptr) return false;
  switch (r.freq) {
    case ICAL_SECONDLY_RECURRENCE:
      if (has(r.by_day) || has(r.by_month_day) || has(r.by_year_day) || has(r.by_week_no) || has(r.by_month) ||
          has(r.by_set_pos)) {
        return false;
      }
      break;
    case ICAL_MINUTELY_RECURRENCE:
      if (has(r.by_month_day) || has(r.by_year_day) || has(r.by_week_no) || has(r.by_month) || has(r.by_set_pos)) {
        return false;
      }
      break;
    case ICAL_HOURLY_RECURRENCE:
      if (has(r.by_year_day) || has(r.by_week_no) || has(r.by_set_pos)) return false;
      break;
    default:
      break;
  }
  // Some listed month must have some listed month day.
  if (has(r.by_month_day)) {
    int longest = 0;
    if (has(r.by_month)) {
      for (int i = 0; i < ICAL_BY_MONTH_SIZE && r.by_month[i] != ICAL_RECURRENCE_ARRAY_MAX; ++i) {
        int m = icalrecurrencetype_month_month(r.by_month[i]);
        longest = std::max(longest, m == 2 ? 29 : DaysInMonth(2001, m));
      }
    } else {
      longest = 31;
    }
    bool possible = false;
    for (int i = 0; i < ICAL_BY_MONTHDAY_SIZE && r.by_month_day[i] != ICAL_RECURRENCE_ARRAY_MAX; ++i) {
      int d = r.by_month_day[i] < 0 ? -r.by_month_day[i] : r.by_month_day[i];
      if (d >= 1 && d <= longest) possible = true;
    }
    if (!possible) return false;
  }
  return true;
}

// ---- expansion ---------------------------------------------------------------------------

struct Raw {
  int64_t start = 0;
  int64_t end = 0;
  icalcomponent* comp = nullptr;
  std::optional<int64_t> rid;
  Rule rule = Rule::kEvent;
  bool all_day = false;
  bool transparent = false;
  std::string status;
};

struct Expansion {
  std::vector<Raw> items;
  bool truncated = false;  // more instances exist in the range than were returned
  bool unbounded = false;  // the master recurs without end (RRULE without COUNT/UNTIL)
  bool until_bounded = false;  // every RRULE has UNTIL: until_end bounds the master's ends
  int64_t until_end = kMinTime;
};

struct Override {
  icalcomponent* comp;
  int64_t rid;
  bool future;  // RANGE=THISANDFUTURE
  Shape shape;
};

Raw MakeRaw(const Shape& shape, int64_t start, int64_t end, std::optional<int64_t> rid) {
  Raw r;
  r.start = start;
  r.end = end;
  r.comp = shape.comp;
  r.rid = rid;
  r.rule = shape.rule;
  r.all_day = shape.all_day;
  r.transparent = shape.transparent;
  r.status = shape.status;
  return r;
}

// The instance of a component that has no recurrence of its own (non-recurring master,
// override): from its DTSTART, or its fixed times.
std::optional<Raw> SingleInstance(const Shape& shape, std::optional<int64_t> rid) {
  if (shape.dtstart) return MakeRaw(shape, *shape.start, EndOf(shape, *shape.dtstart, *shape.start), rid);
  switch (shape.rule) {
    case Rule::kNever:
      return std::nullopt;
    case Rule::kAlways:
      return MakeRaw(shape, 0, 0, rid);
    default:
      return MakeRaw(shape, shape.fixed_start, shape.fixed_end, rid);
  }
}

bool Recurs(icalcomponent* master) {
  return master != nullptr && (HasProp(master, ICAL_RRULE_PROPERTY) || HasProp(master, ICAL_RDATE_PROPERTY));
}

class Expander {
 public:
  Expander(const Object& object, int64_t s, int64_t e, size_t limit)
      : object_(object), zones_(object.root.get(), object.floating_tz), s_(s), e_(e), limit_(limit) {}

  Expansion Run() {
    for (icalcomponent* c : object_.components) {
      if (c == object_.master) continue;
      icalproperty* rp = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
      if (rp == nullptr) continue;
      icaltimetype rt = icalproperty_get_recurrenceid(rp);
      std::optional<int64_t> rid = ToUtc(rt, zones_.For(rp));
      if (!rid) continue;
      icalparameter* range = icalproperty_get_first_parameter(rp, ICAL_RANGE_PARAMETER);
      bool future = range != nullptr && icalparameter_get_range(range) == ICAL_RANGE_THISANDFUTURE;
      overrides_.push_back(Override{c, *rid, future, ShapeOf(c, &zones_)});
    }
    std::sort(overrides_.begin(), overrides_.end(),
              [](const Override& a, const Override& b) { return a.rid < b.rid; });
    for (const Override& o : overrides_) {
      overridden_.insert(o.rid);
      if (o.future) futures_.push_back(&o);  // sorted by rid, like overrides_
    }
    const bool recurring = object_.recurring;
    if (object_.master != nullptr) {
      Shape shape = ShapeOf(object_.master, &zones_);
      if (Recurs(object_.master) && shape.dtstart) {
        ExpandMaster(shape);
      } else if (std::optional<Raw> one = SingleInstance(shape, std::nullopt)) {
        if (recurring && shape.start) one->rid = *shape.start;
        Add(std::move(*one));
      }
    }
    for (const Override& o : overrides_) {
      const Shape& shape = o.shape;
      std::optional<Raw> one = SingleInstance(shape, o.rid);
      if (!one && icalcomponent_isa(o.comp) == ICAL_VEVENT_COMPONENT) {
        // An override without DTSTART keeps its original time.
        one = MakeRaw(shape, o.rid, o.rid, o.rid);
        one->rule = Rule::kEvent;
      }
      if (one) Add(std::move(*one));
    }
    std::stable_sort(out_.items.begin(), out_.items.end(), [](const Raw& a, const Raw& b) {
      return a.start != b.start ? a.start < b.start : a.end < b.end;
    });
    if (out_.items.size() > limit_) {
      out_.items.resize(limit_);
      out_.truncated = true;
    }
    return std::move(out_);
  }

 private:
  void Add(Raw r) {
    if (!RuleOverlaps(r.rule, r.start, r.end, s_, e_)) return;
    if (out_.items.size() > limit_ + overrides_.size()) {
      out_.truncated = true;
      return;
    }
    out_.items.push_back(std::move(r));
  }

  bool Full() const { return out_.items.size() > limit_ + overrides_.size(); }

  // The THISANDFUTURE override that governs an instance with recurrence id `rid`, if any.
  const Override* FutureFor(int64_t rid) const {
    if (futures_.empty()) return nullptr;
    auto it = std::upper_bound(futures_.begin(), futures_.end(), rid,
                               [](int64_t r, const Override* o) { return r < o->rid; });
    return it == futures_.begin() ? nullptr : *(it - 1);
  }

  // One master instance with original start `local` (UTC `rid`) and an optional explicit end.
  void Emit(const Shape& master, const icaltimetype& local, int64_t rid, std::optional<int64_t> explicit_end) {
    if (exdates_.count(rid) != 0) return;
    if (overridden_.count(rid) != 0) return;  // the override is its own instance
    Raw r;
    if (const Override* f = FutureFor(rid); f != nullptr && f->shape.dtstart) {
      int64_t start = Clamp(rid + (*f->shape.start - f->rid));
      r = MakeRaw(f->shape, start, EndOf(f->shape, LocalTime(start, f->shape.zone), start), rid);
    } else {
      int64_t end = explicit_end ? std::max(rid, *explicit_end) : EndOf(master, local, rid);
      r = MakeRaw(master, rid, end, rid);
    }
    if (!RuleOverlaps(r.rule, r.start, r.end, s_, e_)) return;
    // DTSTART, RDATEs and several RRULEs may name the same instance; only kept ones are
    // remembered, so this stays as small as the result.
    if (!seen_.insert(rid).second) return;
    Add(std::move(r));
  }

  void ExpandMaster(const Shape& master) {
    // How far past the range an original start can be and still land in it (moved by a
    // THISANDFUTURE override).
    int64_t slack = 0;
    for (const Override& o : overrides_) {
      if (o.future && o.shape.start) slack = std::max(slack, o.rid - *o.shape.start);
    }
    const int64_t stop = e_ > kMaxTime - slack ? kMaxTime : e_ + slack;
    // Rule steps whose wall-clock time (within a day of UTC) ends well before the range are
    // skipped without converting them: the long walk from an old DTSTART stays cheap.
    int64_t forward = 0;
    int64_t longest = master.nominal_days * kDay + master.exact;
    for (const Override& o : overrides_) {
      if (!o.future || !o.shape.start) continue;
      forward = std::max(forward, *o.shape.start - o.rid);
      longest = std::max(longest, o.shape.nominal_days * kDay + o.shape.exact);
    }
    skip_before_ = s_ - std::min<int64_t>(kMaxTime, 3 * kDay + longest + forward);
    for (icalproperty* p : Properties(object_.master, ICAL_EXDATE_PROPERTY)) {
      icaltimetype t = icalproperty_get_exdate(p);
      if (t.is_date && !master.all_day) {
        // A DATE EXDATE against DATE-TIME instances: the instance on that day.
        t.is_date = 0;
        t.hour = master.dtstart->hour;
        t.minute = master.dtstart->minute;
        t.second = master.dtstart->second;
        if (std::optional<int64_t> v = ToUtc(t, master.zone)) exdates_.insert(*v);
        continue;
      }
      if (std::optional<int64_t> v = ToUtc(t, zones_.For(p))) exdates_.insert(*v);
    }
    // DTSTART is always the first instance.
    Emit(master, *master.dtstart, *master.start, std::nullopt);
    // RDATEs (sorted, so the range check can stop early).
    struct RDate {
      int64_t start;
      icaltimetype local;
      std::optional<int64_t> end;
    };
    std::vector<RDate> rdates;
    for (icalproperty* p : Properties(object_.master, ICAL_RDATE_PROPERTY)) {
      icaldatetimeperiodtype v = icalproperty_get_rdate(p);
      icaltimezone* zone = zones_.For(p);
      if (!icaltime_is_null_time(v.time)) {
        std::optional<int64_t> t = ToUtc(v.time, zone);
        if (t) rdates.push_back(RDate{*t, LocalTime(*t, master.zone), std::nullopt});
        continue;
      }
      std::optional<int64_t> t = ToUtc(v.period.start, zone);
      if (!t) continue;
      std::optional<int64_t> end = ToUtc(v.period.end, zone);
      if (!end && !icaldurationtype_is_bad_duration(v.period.duration) && !v.period.duration.is_neg) {
        end = *t + DurationDays(v.period.duration) * kDay + DurationSeconds(v.period.duration);
      }
      rdates.push_back(RDate{*t, LocalTime(*t, master.zone), end});
    }
    std::sort(rdates.begin(), rdates.end(), [](const RDate& a, const RDate& b) { return a.start < b.start; });
    for (const RDate& r : rdates) {
      if (r.start >= stop) break;
      if (Full()) {
        out_.truncated = true;
        break;
      }
      icaltimetype local = r.local;
      local.is_date = master.all_day ? 1 : 0;
      Emit(master, local, r.start, r.end);
    }
    // RRULEs.
    bool all_until = true;
    bool any_rule = false;
    for (icalproperty* p : Properties(object_.master, ICAL_RRULE_PROPERTY)) {
      icalrecurrencetype rule = icalproperty_get_rrule(p);
      if (!CheapRule(rule)) continue;
      any_rule = true;
      if (rule.count == 0 && icaltime_is_null_time(rule.until)) {
        out_.unbounded = true;
        all_until = false;
      } else if (!icaltime_is_null_time(rule.until)) {
        std::optional<int64_t> until = ToUtc(rule.until, master.zone);
        if (until) out_.until_end = std::max(out_.until_end, *until);
      } else {
        all_until = false;
      }
      IterateRule(master, rule, stop);
    }
    out_.until_bounded = any_rule && all_until;
    if (out_.until_bounded) {
      // The longest a master instance lasts past its start (+1 day for DST and nominal days).
      out_.until_end = Clamp(out_.until_end + master.nominal_days * kDay + master.exact + kDay);
    }
  }

  // For a rule without COUNT whose period has a fixed length in wall-clock time, the
  // instances after DTSTART + k periods are those of the rule started there (libical yields
  // only matching times; DTSTART itself is emitted separately). Jumps close to the range.
  static icaltimetype JumpedStart(const icaltimetype& dtstart, const icalrecurrencetype& rule, int64_t before) {
    int64_t unit = 0;
    switch (rule.freq) {
      case ICAL_SECONDLY_RECURRENCE:
        unit = 1;
        break;
      case ICAL_MINUTELY_RECURRENCE:
        unit = 60;
        break;
      case ICAL_HOURLY_RECURRENCE:
        unit = 3600;
        break;
      case ICAL_DAILY_RECURRENCE:
        unit = kDay;
        break;
      case ICAL_WEEKLY_RECURRENCE:
        unit = 7 * kDay;
        break;
      default:
        return dtstart;
    }
    if (rule.count != 0 || rule.interval < 1) return dtstart;
    const int64_t period = unit * rule.interval;
    const int64_t from = Seconds(dtstart);
    if (before - from < 2 * period) return dtstart;
    int64_t k = (before - from) / period - 1;
    int64_t target = from + k * period;
    if (dtstart.is_date && period % kDay != 0) return dtstart;
    icaltimetype out = UtcTime(target);
    out.zone = dtstart.zone;
    out.is_date = dtstart.is_date;
    if (out.is_date) out.hour = out.minute = out.second = 0;
    return out;
  }

  void IterateRule(const Shape& master, const icalrecurrencetype& rule, int64_t stop) {
    icaltimetype dtstart = JumpedStart(*master.dtstart, rule, skip_before_);
    icalrecur_iterator* it = icalrecur_iterator_new(rule, dtstart);
    if (it == nullptr) return;
    while (true) {
      if (steps_ >= kMaxSteps) {
        out_.truncated = true;
        break;
      }
      ++steps_;
      icaltimetype next = icalrecur_iterator_next(it);
      if (icaltime_is_null_time(next) || !SaneTime(next)) break;
      if (Seconds(next) < skip_before_) continue;
      std::optional<int64_t> t = ToUtc(next, master.zone);
      if (!t) break;
      if (*t >= stop) break;
      if (Full()) {
        out_.truncated = true;
        break;
      }
      Emit(master, next, *t, std::nullopt);
    }
    icalrecur_iterator_free(it);
  }

  const Object& object_;
  Zones zones_;
  const int64_t s_;
  const int64_t e_;
  const size_t limit_;
  std::vector<Override> overrides_;
  std::vector<const Override*> futures_;  // the THISANDFUTURE ones
  std::set<int64_t> overridden_;
  std::set<int64_t> exdates_;
  std::set<int64_t> seen_;
  int steps_ = 0;
  int64_t skip_before_ = kMinTime;
  Expansion out_;
};

Expansion ExpandRaw(const Object& object, int64_t s, int64_t e, size_t limit = kMaxInstances) {
  return Expander(object, s, e, limit).Run();
}

Instance ToInstance(const Raw& r, bool recurring) {
  Instance i;
  i.start = r.start;
  i.end = r.end;
  i.component = r.comp;
  if (recurring) i.recurrence_id = r.rid;
  i.all_day = r.all_day;
  i.transparent = r.transparent;
  i.status = r.status;
  return i;
}

// ---- ingest --------------------------------------------------------------------------------

// libical turns what it cannot parse into X-LIC-ERROR properties (and drops the bad
// property). An unknown property name (an IANA property libical does not know) is let
// through, the rest is invalid data.
bool CheckErrors(icalcomponent* c, std::string* reason) {
  std::vector<icalproperty*> tolerated;
  for (icalproperty* p : Properties(c, ICAL_XLICERROR_PROPERTY)) {
    const char* text = icalproperty_get_xlicerror(p);
    std::string_view msg = text != nullptr ? text : "";
    std::string type = ParamOf(p, ICAL_XLICERRORTYPE_PARAMETER);
    constexpr std::string_view kUnknown = "Parse error in property name: ";
    if (type == "PROPERTY-PARSE-ERROR" && msg.substr(0, kUnknown.size()) == kUnknown) {
      std::string_view name = msg.substr(kUnknown.size());
      bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
      });
      if (token) {
        tolerated.push_back(p);
        continue;
      }
    }
    *reason = "invalid iCalendar data: " + Safe(msg);
    return false;
  }
  for (icalproperty* p : tolerated) {
    icalcomponent_remove_property(c, p);
    icalproperty_free(p);
  }
  for (icalcomponent* sub : Children(c)) {
    if (!CheckErrors(sub, reason)) return false;
  }
  return true;
}

// Every TZID in `c` (and its subcomponents) must resolve.
bool CheckTzids(icalcomponent* c, Zones* zones, std::string* reason) {
  for (icalproperty* p = icalcomponent_get_first_property(c, ICAL_ANY_PROPERTY); p != nullptr;
       p = icalcomponent_get_next_property(c, ICAL_ANY_PROPERTY)) {
    icalparameter* tzp = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
    if (tzp == nullptr) continue;
    const char* tzid = icalparameter_get_tzid(tzp);
    if (zones->Resolve(tzid) == nullptr) {
      *reason = "unknown TZID " + Safe(tzid != nullptr ? tzid : "");
      return false;
    }
  }
  for (icalcomponent* sub : Children(c)) {
    if (!CheckTzids(sub, zones, reason)) return false;
  }
  return true;
}

// RFC 5545 3.6.1 / 3.6.2 consistency of one component's times and rules.
bool CheckTimes(icalcomponent* c, bool method, Zones* zones, std::string* reason) {
  icalcomponent_kind kind = icalcomponent_isa(c);
  icalproperty* sp = nullptr;
  std::optional<icaltimetype> start = TimeProp(c, ICAL_DTSTART_PROPERTY, &sp);
  if (kind == ICAL_VEVENT_COMPONENT && !start && !method) {
    *reason = "VEVENT without DTSTART";
    return false;
  }
  icalproperty_kind end_kind = kind == ICAL_VTODO_COMPONENT ? ICAL_DUE_PROPERTY : ICAL_DTEND_PROPERTY;
  icalproperty* ep = nullptr;
  std::optional<icaltimetype> end = TimeProp(c, end_kind, &ep);
  bool has_duration = HasProp(c, ICAL_DURATION_PROPERTY);
  if ((kind == ICAL_VEVENT_COMPONENT || kind == ICAL_VTODO_COMPONENT) && end && has_duration) {
    *reason = kind == ICAL_VEVENT_COMPONENT ? "both DTEND and DURATION" : "both DUE and DURATION";
    return false;
  }
  if (has_duration) {
    std::optional<icaldurationtype> d = DurationProp(c);
    if (!d || d->is_neg) {
      *reason = "invalid DURATION";
      return false;
    }
    if (!start && kind == ICAL_VTODO_COMPONENT) {
      *reason = "DURATION without DTSTART";
      return false;
    }
    if (start && start->is_date && (d->hours != 0 || d->minutes != 0 || d->seconds != 0)) {
      *reason = "DURATION of a DATE DTSTART must be in days or weeks";
      return false;
    }
  }
  if (start && end && kind != ICAL_VFREEBUSY_COMPONENT) {
    if ((start->is_date != 0) != (end->is_date != 0)) {
      *reason = "DTSTART and its end are not both DATE or both DATE-TIME";
      return false;
    }
    std::optional<int64_t> s = ToUtc(*start, zones->For(sp));
    std::optional<int64_t> e = ToUtc(*end, zones->For(ep));
    if (s && e && *e < *s) {
      *reason = "the end is before DTSTART";
      return false;
    }
  }
  for (icalproperty* p : Properties(c, ICAL_RRULE_PROPERTY)) {
    if (!start) {
      *reason = "RRULE without DTSTART";
      return false;
    }
    icalrecurrencetype r = icalproperty_get_rrule(p);
    if (!CheapRule(r)) {
      *reason = "RRULE not supported (impossible, or too fine a frequency for its BY parts)";
      return false;
    }
    icalrecur_iterator* it = icalrecur_iterator_new(r, *start);
    if (it == nullptr) {
      *reason = "invalid RRULE";
      return false;
    }
    icalrecur_iterator_free(it);
  }
  if (HasProp(c, ICAL_RDATE_PROPERTY) && !start) {
    *reason = "RDATE without DTSTART";
    return false;
  }
  return true;
}

void FillAttendees(icalcomponent* c, std::vector<Attendee>* out) {
  for (icalproperty* a : Properties(c, ICAL_ATTENDEE_PROPERTY)) {
    Attendee at;
    at.address = MailtoAddress(icalproperty_get_attendee(a));
    at.partstat = ParamOf(a, ICAL_PARTSTAT_PARAMETER);
    if (at.partstat.empty()) at.partstat = "NEEDS-ACTION";
    at.role = ParamOf(a, ICAL_ROLE_PARAMETER);
    if (at.role.empty()) at.role = "REQ-PARTICIPANT";
    at.cutype = ParamOf(a, ICAL_CUTYPE_PARAMETER);
    if (at.cutype.empty()) at.cutype = "INDIVIDUAL";
    at.rsvp = ParamOf(a, ICAL_RSVP_PARAMETER) == "TRUE";
    at.schedule_agent = ParamOf(a, ICAL_SCHEDULEAGENT_PARAMETER);
    if (at.schedule_agent.empty()) at.schedule_agent = "SERVER";
    if (icalparameter* cn = icalproperty_get_first_parameter(a, ICAL_CN_PARAMETER)) at.common_name = ParamText(cn);
    out->push_back(std::move(at));
  }
}

// The index columns: first start and last end over all instances.
void ComputeIndex(Object* o) {
  // A few instances give the first start and settle non-recurring and unbounded objects;
  // only a bounded recurrence needs the long expansion for its last end.
  Expansion all = ExpandRaw(*o, kMinTime, kMaxTime, 64);
  if (all.truncated && !all.unbounded) all = ExpandRaw(*o, kMinTime, kMaxTime);
  bool always = false;
  bool open_end = false;
  std::optional<int64_t> lo, hi;
  for (const Raw& r : all.items) {
    if (r.rule == Rule::kAlways) {
      always = true;
      continue;
    }
    if (r.rule == Rule::kTodoCreated) open_end = true;
    int64_t a = std::min(r.start, r.end), b = std::max(r.start, r.end);
    lo = lo ? std::min(*lo, a) : a;
    hi = hi ? std::max(*hi, b) : b;
  }
  if (always) {
    o->first_start.reset();
    o->last_end.reset();
    return;
  }
  o->first_start = lo;
  if (open_end || all.unbounded) {
    o->last_end.reset();
  } else if (all.truncated) {
    if (all.until_bounded) {
      // Bounded by UNTIL; the overrides and RDATEs may end later than what was expanded.
      int64_t bound = std::max(all.until_end, hi.value_or(kMinTime));
      Zones zones(o->root.get(), o->floating_tz);
      if (o->master != nullptr) {
        for (icalproperty* p : Properties(o->master, ICAL_RDATE_PROPERTY)) {
          icaldatetimeperiodtype v = icalproperty_get_rdate(p);
          icaltimetype t = icaltime_is_null_time(v.time) ? v.period.end : v.time;
          if (icaltime_is_null_time(t)) t = v.period.start;
          if (std::optional<int64_t> u = ToUtc(t, zones.For(p))) bound = std::max(bound, *u + 8 * kDay);
        }
      }
      for (icalcomponent* c : o->components) {
        if (c == o->master) continue;
        Shape s = ShapeOf(c, &zones);
        if (s.start) bound = std::max(bound, EndOf(s, *s.dtstart, *s.start));
      }
      o->last_end = Clamp(bound);
    } else {
      o->last_end.reset();
    }
  } else {
    o->last_end = hi;
  }
  if (!o->first_start && !o->last_end && all.items.empty()) {
    // No instance at all (a VJOURNAL without DTSTART): no time.
    o->first_start.reset();
  }
}

std::optional<Object> Build(std::string_view text, const IngestOptions& options, bool strict, IngestError* error) {
  InitLibical();
  auto fail = [&](Precondition p, std::string reason) -> std::optional<Object> {
    if (error != nullptr) *error = IngestError{p, std::move(reason)};
    return std::nullopt;
  };
  if (text.size() > options.max_bytes) return fail(Precondition::kMaxResourceSize, "larger than the calendar allows");
  if (!ValidUtf8(text)) return fail(Precondition::kValidCalendarData, "not UTF-8 (or contains NUL)");
  if (!NoControls(text)) return fail(Precondition::kValidCalendarData, "control characters in the text");
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 byte order mark
  if (!WellNested(text)) return fail(Precondition::kValidCalendarData, "not one well-formed VCALENDAR object");
  std::string copy(text);  // libical wants a NUL-terminated string
  Object o;
  o.root.reset(icalparser_parse_string(copy.c_str()));
  if (!o.root || icalcomponent_isa(o.root.get()) != ICAL_VCALENDAR_COMPONENT) {
    return fail(Precondition::kValidCalendarData, "not an iCalendar VCALENDAR object");
  }
  icalcomponent* root = o.root.get();
  o.floating_tz = options.floating_tz;
  std::string reason;
  if (!CheckErrors(root, &reason)) return fail(Precondition::kValidCalendarData, reason);
  if (strict) {
    icalproperty* version = icalcomponent_get_first_property(root, ICAL_VERSION_PROPERTY);
    const char* v = version != nullptr ? icalproperty_get_version(version) : nullptr;
    if (v == nullptr || Trim(v) != "2.0") return fail(Precondition::kValidCalendarData, "VERSION:2.0 missing");
  }
  const bool method = HasProp(root, ICAL_METHOD_PROPERTY);
  if (method && !options.allow_method) {
    return fail(Precondition::kValidCalendarObjectResource, "METHOD is not allowed in a calendar object resource");
  }
  for (icalcomponent* c : Children(root)) {
    icalcomponent_kind k = icalcomponent_isa(c);
    if (k == ICAL_VTIMEZONE_COMPONENT) {
      if (!SafeVtimezone(c)) return fail(Precondition::kValidCalendarData, "VTIMEZONE with unsupported rules");
      if (!HasProp(c, ICAL_TZID_PROPERTY)) return fail(Precondition::kValidCalendarData, "VTIMEZONE without TZID");
      continue;
    }
    if (!IsObjectKind(k)) {
      const char* name = icalcomponent_kind_to_string(k);
      if (k == ICAL_X_COMPONENT || name == nullptr) name = "an unknown component";
      return fail(Precondition::kSupportedCalendarComponent, std::string(name) + " is not supported");
    }
    o.components.push_back(c);
  }
  if (o.components.empty()) {
    return fail(Precondition::kValidCalendarObjectResource, "no VEVENT, VTODO, VJOURNAL or VFREEBUSY");
  }
  icalcomponent_kind kind = icalcomponent_isa(o.components.front());
  o.component = icalcomponent_kind_to_string(kind);
  for (icalcomponent* c : o.components) {
    if (icalcomponent_isa(c) != kind) {
      return fail(Precondition::kValidCalendarObjectResource, "components of different types");
    }
  }
  if (std::find(options.components.begin(), options.components.end(), o.component) == options.components.end()) {
    return fail(Precondition::kSupportedCalendarComponent, o.component + " is not supported by this calendar");
  }
  std::set<std::string> rids;
  for (icalcomponent* c : o.components) {
    const char* uid = icalcomponent_get_uid(c);
    std::string u(uid != nullptr ? Trim(uid) : std::string_view());
    if (u.empty()) return fail(Precondition::kValidCalendarObjectResource, "a component without UID");
    if (u.size() > kMaxUidBytes) return fail(Precondition::kValidCalendarObjectResource, "UID too long");
    if (o.uid.empty()) o.uid = u;
    if (u != o.uid) return fail(Precondition::kValidCalendarObjectResource, "components with different UIDs");
    icalproperty* rp = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
    std::string key = "master";
    if (rp != nullptr) key = TakeIcalString(icalproperty_get_value_as_string_r(rp)) + ";" + ParamOf(rp, ICAL_TZID_PARAMETER);
    if (!rids.insert(key).second) {
      return fail(Precondition::kValidCalendarObjectResource,
                  rp == nullptr ? "more than one component without RECURRENCE-ID" : "a RECURRENCE-ID given twice");
    }
    if (rp == nullptr) o.master = c;
  }
  Zones zones(root, o.floating_tz);
  for (icalcomponent* c : o.components) {
    if (!CheckTzids(c, &zones, &reason)) return fail(Precondition::kValidCalendarData, reason);
    if (strict && !CheckTimes(c, method, &zones, &reason)) return fail(Precondition::kValidCalendarData, reason);
  }
  if (o.master != nullptr) {
    std::stable_partition(o.components.begin(), o.components.end(), [&](icalcomponent* c) { return c == o.master; });
  }
  icalcomponent* main = o.master != nullptr ? o.master : o.components.front();
  o.recurring = o.components.size() > 1 || Recurs(o.master);
  for (icalcomponent* c : o.components) {
    if (HasProp(c, ICAL_RRULE_PROPERTY) || HasProp(c, ICAL_RDATE_PROPERTY) ||
        HasProp(c, ICAL_RECURRENCEID_PROPERTY)) {
      o.recurring = true;
    }
  }
  if (icalproperty* tr = icalcomponent_get_first_property(main, ICAL_TRANSP_PROPERTY)) {
    o.transparent = icalproperty_get_transp(tr) == ICAL_TRANSP_TRANSPARENT;
  }
  if (icalproperty* org = icalcomponent_get_first_property(main, ICAL_ORGANIZER_PROPERTY)) {
    o.organizer = MailtoAddress(icalproperty_get_organizer(org));
  }
  if (icalproperty* seq = icalcomponent_get_first_property(main, ICAL_SEQUENCE_PROPERTY)) {
    o.sequence = std::max(0, icalproperty_get_sequence(seq));
  }
  if (strict) {
    // What libical writes must read back cleanly (it accepts some values it then writes in a
    // form it refuses, e.g. DTSTAMP as a DATE): stored objects are re-parsed.
    std::string written = Serialize(root);
    Ical again(icalparser_parse_string(written.c_str()));
    std::string again_reason;
    if (!again || icalcomponent_isa(again.get()) != ICAL_VCALENDAR_COMPONENT || !CheckErrors(again.get(), &again_reason)) {
      return fail(Precondition::kValidCalendarData,
                  again_reason.empty() ? std::string("invalid iCalendar data") : again_reason);
    }
  }
  FillAttendees(main, &o.attendees);
  ComputeIndex(&o);
  return o;
}

}  // namespace

const char* PreconditionName(Precondition p) {
  switch (p) {
    case Precondition::kValidCalendarData:
      return "valid-calendar-data";
    case Precondition::kValidCalendarObjectResource:
      return "valid-calendar-object-resource";
    case Precondition::kSupportedCalendarComponent:
      return "supported-calendar-component";
    case Precondition::kMaxResourceSize:
      return "max-resource-size";
  }
  return "valid-calendar-data";
}

std::optional<Object> Ingest(std::string_view text, const IngestOptions& options, IngestError* error) {
  return Build(text, options, /*strict=*/true, error);
}

std::optional<Object> Load(std::string_view text, std::string_view floating_tz) {
  IngestOptions options;
  options.max_bytes = std::numeric_limits<size_t>::max();
  options.components = {"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"};
  options.floating_tz = std::string(floating_tz);
  options.allow_method = true;
  return Build(text, options, /*strict=*/false, nullptr);
}

std::string Serialize(const icalcomponent* root) {
  if (root == nullptr) return "";
  std::string raw = TakeIcalString(icalcomponent_as_ical_string_r(const_cast<icalcomponent*>(root)));
  // libical 3.0.16 folds some lines into "...\r\r\n \r\n" (a bare CR and an empty
  // continuation): values never hold a raw CR (Ingest refuses them), so every line is
  // trimmed of CRs and re-ended with CRLF, and continuations with nothing in them dropped.
  std::string out;
  out.reserve(raw.size() + raw.size() / 32);
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t nl = raw.find('\n', pos);
    std::string_view line(raw.data() + pos, (nl == std::string::npos ? raw.size() : nl) - pos);
    pos = nl == std::string::npos ? raw.size() : nl + 1;
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string clean;
    for (char c : line) {
      if (c != '\r') clean += c;
    }
    if (clean.empty() || clean == " " || clean == "\t") continue;
    out += clean;
    out += "\r\n";
  }
  return out;
}

std::vector<Instance> Expand(const Object& object, int64_t start, int64_t end, bool* truncated) {
  Expansion x = ExpandRaw(object, start, end);
  if (truncated != nullptr) *truncated = x.truncated;
  std::vector<Instance> out;
  out.reserve(x.items.size());
  for (const Raw& r : x.items) out.push_back(ToInstance(r, object.recurring));
  return out;
}

// ---- calendar-query filters ----------------------------------------------------------------

namespace {

std::string CompName(icalcomponent* c) {
  const char* n = icalcomponent_kind_to_string(icalcomponent_isa(c));
  return ascii::ToUpper(n != nullptr ? n : "");
}

bool TextMatches(std::string_view value, const TextMatch& m) {
  bool found;
  if (m.collation == "i;octet") {
    found = value.find(m.text) != std::string_view::npos;
  } else {
    found = ascii::ToLower(value).find(ascii::ToLower(m.text)) != std::string::npos;
  }
  return m.negate ? !found : found;
}

// The value a text-match compares: TEXT unescaped, anything else as written.
std::string PropertyText(icalproperty* p) {
  icalvalue* v = icalproperty_get_value(p);
  if (v != nullptr && icalvalue_isa(v) == ICAL_TEXT_VALUE) {
    const char* t = icalvalue_get_text(v);
    return t != nullptr ? t : "";
  }
  return TakeIcalString(icalproperty_get_value_as_string_r(p));
}

class Matcher {
 public:
  explicit Matcher(const Object& object) : object_(object), zones_(object.root.get(), object.floating_tz) {}

  // Expansions per Matches call: alarms with different trigger offsets need different
  // windows; an object with thousands of them must not cost thousands of expansions.
  static constexpr int kMaxExpansions = 32;

  bool Top(const CompFilter& f) {
    if (ascii::ToUpper(f.name) != "VCALENDAR" || f.is_not_defined) return false;
    return Passes(object_.root.get(), f, nullptr);
  }

 private:
  // `f` names components inside `parent`.
  bool Within(icalcomponent* parent, const CompFilter& f) {
    std::string name = ascii::ToUpper(f.name);
    std::vector<icalcomponent*> candidates;
    for (icalcomponent* c : Children(parent)) {
      if (CompName(c) == name) candidates.push_back(c);
    }
    if (f.is_not_defined) return candidates.empty();
    std::set<icalcomponent*> in_range;
    if (f.time_range && parent == object_.root.get()) {
      // One expansion decides the time range for every component of the object.
      for (const Raw& r : Instances(Lo(*f.time_range), Hi(*f.time_range))) in_range.insert(r.comp);
    }
    for (icalcomponent* c : candidates) {
      if (f.time_range && parent == object_.root.get() && in_range.count(c) == 0) continue;
      if (Passes(c, f, parent)) return true;
    }
    return false;
  }

  bool Passes(icalcomponent* c, const CompFilter& f, icalcomponent* parent) {
    if (f.time_range && parent != nullptr && parent != object_.root.get()) {
      if (icalcomponent_isa(c) != ICAL_VALARM_COMPONENT || !AlarmInRange(c, parent, *f.time_range)) return false;
    }
    if (f.time_range && parent == object_.root.get() && !IsObjectKind(icalcomponent_isa(c))) return false;
    for (const PropFilter& pf : f.prop_filters) {
      if (!PropPasses(c, pf)) return false;
    }
    for (const CompFilter& cf : f.comp_filters) {
      if (!Within(c, cf)) return false;
    }
    return true;
  }

  static int64_t Lo(const TimeRange& r) { return r.start ? Clamp(*r.start) : kMinTime; }
  static int64_t Hi(const TimeRange& r) { return r.end ? Clamp(*r.end) : kMaxTime; }

  // RFC 4791 9.9: an alarm overlaps if one of its trigger times is in [start, end), for the
  // instances of the component it belongs to.
  bool AlarmInRange(icalcomponent* alarm, icalcomponent* owner, const TimeRange& range) {
    const int64_t s = Lo(range), e = Hi(range);
    icalproperty* tp = icalcomponent_get_first_property(alarm, ICAL_TRIGGER_PROPERTY);
    if (tp == nullptr) return false;
    icaltriggertype trigger = icalproperty_get_trigger(tp);
    int64_t repeat = 0, interval = 0;
    if (icalproperty* rp = icalcomponent_get_first_property(alarm, ICAL_REPEAT_PROPERTY)) {
      repeat = std::clamp(icalproperty_get_repeat(rp), 0, 1000);
    }
    if (std::optional<icaldurationtype> d = DurationProp(alarm); d && !d->is_neg) {
      interval = DurationDays(*d) * kDay + DurationSeconds(*d);
    }
    if (interval <= 0) repeat = 0;
    auto fires_in_range = [&](int64_t first) {
      for (int64_t k = 0; k <= repeat; ++k) {
        int64_t t = first + k * interval;
        if (t >= e) return false;
        if (t >= s) return true;
      }
      return false;
    };
    if (!icaltime_is_null_time(trigger.time)) {
      std::optional<int64_t> t = ToUtc(trigger.time, icaltimezone_get_utc_timezone());
      return t && fires_in_range(*t);
    }
    if (icaldurationtype_is_bad_duration(trigger.duration)) return false;
    int64_t offset = DurationDays(trigger.duration) * kDay + DurationSeconds(trigger.duration);
    if (trigger.duration.is_neg) offset = -offset;
    icalparameter* rel = icalproperty_get_first_parameter(tp, ICAL_RELATED_PARAMETER);
    bool from_end = rel != nullptr && icalparameter_get_related(rel) == ICAL_RELATED_END;
    // A component without recurrences of its own (an override, a non-recurring master) has
    // one instance: no expansion needed.
    icalproperty* rp = icalcomponent_get_first_property(owner, ICAL_RECURRENCEID_PROPERTY);
    icalparameter* range_param = rp != nullptr ? icalproperty_get_first_parameter(rp, ICAL_RANGE_PARAMETER) : nullptr;
    bool future = range_param != nullptr && icalparameter_get_range(range_param) == ICAL_RANGE_THISANDFUTURE;
    if (owner != object_.master ? !future : !Recurs(owner)) {
      std::optional<Raw> one = SingleInstance(ShapeOf(owner, &zones_), std::nullopt);
      if (!one || one->rule == Rule::kAlways || one->rule == Rule::kNever) return false;
      return fires_in_range((from_end ? one->end : one->start) + offset);
    }
    // The instances whose start (or end) lies in [s - offset - span, e - offset).
    const int64_t span = repeat * interval;
    const int64_t ws = Clamp(s - offset - span - 1), we = Clamp(e - offset + 1);
    for (const Raw& r : Instances(ws, we)) {
      if (r.comp != owner || r.rule == Rule::kAlways || r.rule == Rule::kNever) continue;
      if (fires_in_range((from_end ? r.end : r.start) + offset)) return true;
    }
    return false;
  }

  bool PropPasses(icalcomponent* c, const PropFilter& f) {
    std::string name = ascii::ToUpper(f.name);
    std::vector<icalproperty*> props;
    for (icalproperty* p : Properties(c)) {
      if (PropName(p) == name) props.push_back(p);
    }
    if (f.is_not_defined) return props.empty();
    for (icalproperty* p : props) {
      if (f.time_range && !PropInRange(p, *f.time_range)) continue;
      if (f.text_match && !TextMatches(PropertyText(p), *f.text_match)) continue;
      bool params = true;
      for (const ParamFilter& pf : f.param_filters) {
        if (!ParamPasses(p, pf)) {
          params = false;
          break;
        }
      }
      if (params) return true;
    }
    return false;
  }

  bool PropInRange(icalproperty* p, const TimeRange& range) {
    const int64_t s = Lo(range), e = Hi(range);
    icalvalue* v = icalproperty_get_value(p);
    if (v == nullptr) return false;
    icalvalue_kind kind = icalvalue_isa(v);
    if (kind == ICAL_DATETIME_VALUE || kind == ICAL_DATE_VALUE) {
      icaltimetype t = icalvalue_get_datetime(v);
      std::optional<int64_t> u = ToUtc(t, zones_.For(p));
      if (!u) return false;
      if (t.is_date) return s < *u + kDay && e > *u;
      return s <= *u && e > *u;
    }
    if (kind == ICAL_PERIOD_VALUE) {
      icalperiodtype period = icalvalue_get_period(v);
      std::optional<int64_t> ps = ToUtc(period.start, zones_.For(p));
      if (!ps) return false;
      int64_t pe = *ps;
      if (std::optional<int64_t> x = ToUtc(period.end, zones_.For(p))) {
        pe = *x;
      } else if (!icaldurationtype_is_bad_duration(period.duration) && !period.duration.is_neg) {
        pe = *ps + DurationDays(period.duration) * kDay + DurationSeconds(period.duration);
      }
      return RuleOverlaps(Rule::kEvent, *ps, std::max(*ps, pe), s, e);
    }
    if (kind == ICAL_DATETIMEPERIOD_VALUE) {
      icaldatetimeperiodtype dp = icalvalue_get_datetimeperiod(v);
      icaltimetype t = icaltime_is_null_time(dp.time) ? dp.period.start : dp.time;
      std::optional<int64_t> u = ToUtc(t, zones_.For(p));
      return u && s <= *u && e > *u;
    }
    return false;
  }

  static bool ParamPasses(icalproperty* p, const ParamFilter& f) {
    std::string name = ascii::ToUpper(f.name);
    std::vector<std::string> values;
    for (icalparameter* param = icalproperty_get_first_parameter(p, ICAL_ANY_PARAMETER); param != nullptr;
         param = icalproperty_get_next_parameter(p, ICAL_ANY_PARAMETER)) {
      if (ParamName(param) == name) values.push_back(ParamText(param));
    }
    if (f.is_not_defined) return values.empty();
    if (values.empty()) return false;
    if (!f.text_match) return true;
    for (const std::string& v : values) {
      if (TextMatches(v, *f.text_match)) return true;
    }
    return false;
  }

  // The instances overlapping [s, e), remembered per window; none once over budget.
  const std::vector<Raw>& Instances(int64_t s, int64_t e) {
    auto key = std::make_pair(s, e);
    auto it = expansions_.find(key);
    if (it != expansions_.end()) return it->second;
    if (expansions_.size() >= kMaxExpansions) return none_;
    return expansions_.emplace(key, ExpandRaw(object_, s, e).items).first->second;
  }

  const Object& object_;
  Zones zones_;
  std::map<std::pair<int64_t, int64_t>, std::vector<Raw>> expansions_;
  const std::vector<Raw> none_;
};

// ---- calendar-data shaping -------------------------------------------------------------------

// Root properties of `from` (but METHOD) onto a new VCALENDAR.
Ical NewRootLike(icalcomponent* from) {
  Ical root(icalcomponent_new(ICAL_VCALENDAR_COMPONENT));
  for (icalproperty* p : Properties(from)) {
    if (icalproperty_isa(p) == ICAL_METHOD_PROPERTY) continue;
    icalcomponent_add_property(root.get(), icalproperty_new_clone(p));
  }
  return root;
}

void RemoveAll(icalcomponent* c, icalproperty_kind kind) {
  for (icalproperty* p : Properties(c, kind)) {
    icalcomponent_remove_property(c, p);
    icalproperty_free(p);
  }
}

// A DATE-TIME value in UTC (or a DATE), without TZID and VALUE parameters.
void SetTime(icalproperty* p, int64_t t, bool date, icaltimezone* date_zone) {
  icaltimetype v = UtcTime(t);
  if (date) {
    v = LocalTime(t, date_zone);
    v.is_date = 1;
    v.hour = v.minute = v.second = 0;
    v.zone = nullptr;
  }
  icalproperty_remove_parameter_by_kind(p, ICAL_TZID_PARAMETER);
  icalproperty_remove_parameter_by_kind(p, ICAL_VALUE_PARAMETER);
  icalproperty_set_value(p, date ? icalvalue_new_date(v) : icalvalue_new_datetime(v));
}

void SetTimeProp(icalcomponent* c, icalproperty_kind kind, int64_t t, bool date, icaltimezone* date_zone) {
  icalproperty* p = icalcomponent_get_first_property(c, kind);
  if (p == nullptr) {
    p = icalproperty_new(kind);
    icalcomponent_add_property(c, p);
  }
  SetTime(p, t, date, date_zone);
}

// Every local DATE-TIME (TZID or floating) of `c` and its subcomponents rewritten in UTC.
void TimesToUtc(icalcomponent* c, Zones* zones) {
  for (icalproperty* p : Properties(c)) {
    icalvalue* v = icalproperty_get_value(p);
    if (v == nullptr || icalvalue_isa(v) != ICAL_DATETIME_VALUE) continue;
    icaltimetype t = icalvalue_get_datetime(v);
    if (t.is_date || icaltime_is_utc(t)) continue;
    if (std::optional<int64_t> u = ToUtc(t, zones->For(p))) SetTime(p, *u, false, nullptr);
  }
  for (icalcomponent* sub : Children(c)) TimesToUtc(sub, zones);
}

}  // namespace

bool Matches(const Object& object, const CompFilter& filter) {
  if (!object.root) return false;
  return Matcher(object).Top(filter);
}

std::string ExpandToText(const Object& object, int64_t start, int64_t end) {
  if (!object.root) return "";
  Zones zones(object.root.get(), object.floating_tz);
  Ical root = NewRootLike(object.root.get());
  Expansion x = ExpandRaw(object, start, end);
  for (const Raw& r : x.items) {
    icalcomponent* c = icalcomponent_new_clone(r.comp);
    RemoveAll(c, ICAL_RRULE_PROPERTY);
    RemoveAll(c, ICAL_RDATE_PROPERTY);
    RemoveAll(c, ICAL_EXDATE_PROPERTY);
    RemoveAll(c, ICAL_RECURRENCEID_PROPERTY);
    const bool timed = HasProp(c, ICAL_DTSTART_PROPERTY);
    if (timed) {
      SetTimeProp(c, ICAL_DTSTART_PROPERTY, r.start, r.all_day, zones.floating());
      if (HasProp(c, ICAL_DTEND_PROPERTY)) SetTimeProp(c, ICAL_DTEND_PROPERTY, r.end, r.all_day, zones.floating());
      if (HasProp(c, ICAL_DUE_PROPERTY)) SetTimeProp(c, ICAL_DUE_PROPERTY, r.end, r.all_day, zones.floating());
    }
    if (object.recurring && r.rid) {
      icalproperty* rp = icalproperty_new_recurrenceid(UtcTime(*r.rid));
      icalcomponent_add_property(c, rp);
      SetTime(rp, *r.rid, r.all_day, zones.floating());
    }
    TimesToUtc(c, &zones);
    icalcomponent_add_component(root.get(), c);
  }
  return Serialize(root.get());
}

std::string LimitRecurrenceSetToText(const Object& object, int64_t start, int64_t end) {
  if (!object.root) return "";
  Zones zones(object.root.get(), object.floating_tz);
  std::set<icalcomponent*> keep;
  if (object.master != nullptr) keep.insert(object.master);
  Expansion x = ExpandRaw(object, start, end);
  for (const Raw& r : x.items) keep.insert(r.comp);
  for (icalcomponent* c : object.components) {
    // A THISANDFUTURE override before the range shapes instances in it.
    icalproperty* rp = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
    if (rp == nullptr) continue;
    icalparameter* range = icalproperty_get_first_parameter(rp, ICAL_RANGE_PARAMETER);
    if (range == nullptr || icalparameter_get_range(range) != ICAL_RANGE_THISANDFUTURE) continue;
    std::optional<int64_t> rid = ToUtc(icalproperty_get_recurrenceid(rp), zones.For(rp));
    if (rid && *rid < end) keep.insert(c);
  }
  Ical root = NewRootLike(object.root.get());
  for (icalcomponent* c : Children(object.root.get())) {
    if (icalcomponent_isa(c) == ICAL_VTIMEZONE_COMPONENT || keep.count(c) != 0) {
      icalcomponent_add_component(root.get(), icalcomponent_new_clone(c));
    }
  }
  return Serialize(root.get());
}

// ---- busy time ---------------------------------------------------------------------------

namespace {

int BusyRank(BusyType t) {
  switch (t) {
    case BusyType::kBusy:
      return 3;
    case BusyType::kUnavailable:
      return 2;
    case BusyType::kTentative:
      return 1;
  }
  return 3;
}

BusyType RankType(int rank) {
  return rank == 3 ? BusyType::kBusy : rank == 2 ? BusyType::kUnavailable : BusyType::kTentative;
}

std::optional<BusyType> FbType(icalproperty* p) {
  icalparameter* param = icalproperty_get_first_parameter(p, ICAL_FBTYPE_PARAMETER);
  if (param == nullptr) return BusyType::kBusy;
  switch (icalparameter_get_fbtype(param)) {
    case ICAL_FBTYPE_FREE:
      return std::nullopt;
    case ICAL_FBTYPE_BUSYTENTATIVE:
      return BusyType::kTentative;
    case ICAL_FBTYPE_BUSYUNAVAILABLE:
      return BusyType::kUnavailable;
    default:
      return BusyType::kBusy;  // BUSY and unknown types (RFC 5545 3.2.9: treat as BUSY)
  }
}

// A property value without line breaks or other control characters.
std::string Clean(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) out += c;
  }
  return out;
}

}  // namespace

const char* BusyTypeName(BusyType t) {
  switch (t) {
    case BusyType::kBusy:
      return "BUSY";
    case BusyType::kTentative:
      return "BUSY-TENTATIVE";
    case BusyType::kUnavailable:
      return "BUSY-UNAVAILABLE";
  }
  return "BUSY";
}

void AppendBusy(const Object& object, int64_t start, int64_t end, std::vector<BusyPeriod>* out) {
  if (end <= start || out == nullptr) return;
  if (object.component == "VEVENT") {
    for (const Instance& i : Expand(object, start, end)) {
      if (i.transparent || i.status == "CANCELLED") continue;
      int64_t s = std::max(i.start, start), e = std::min(i.end, end);
      if (e <= s) continue;  // zero-length events take no time
      out->push_back(BusyPeriod{s, e, i.status == "TENTATIVE" ? BusyType::kTentative : BusyType::kBusy});
    }
    return;
  }
  if (object.component != "VFREEBUSY") return;
  icaltimezone* utc = icaltimezone_get_utc_timezone();
  for (icalcomponent* c : object.components) {
    for (icalproperty* p : Properties(c, ICAL_FREEBUSY_PROPERTY)) {
      std::optional<BusyType> type = FbType(p);
      if (!type) continue;
      icalperiodtype period = icalproperty_get_freebusy(p);
      std::optional<int64_t> ps = ToUtc(period.start, utc);
      if (!ps) continue;
      std::optional<int64_t> pe = ToUtc(period.end, utc);
      if (!pe && !icaldurationtype_is_bad_duration(period.duration) && !period.duration.is_neg) {
        pe = *ps + DurationDays(period.duration) * kDay + DurationSeconds(period.duration);
      }
      if (!pe) continue;
      int64_t s = std::max(*ps, start), e = std::min(*pe, end);
      if (e > s) out->push_back(BusyPeriod{s, e, *type});
    }
  }
}

std::vector<BusyPeriod> MergeBusy(std::vector<BusyPeriod> periods) {
  struct Edge {
    int64_t t;
    int rank;
    int delta;
  };
  std::vector<Edge> edges;
  edges.reserve(periods.size() * 2);
  for (const BusyPeriod& p : periods) {
    if (p.end <= p.start) continue;
    edges.push_back(Edge{p.start, BusyRank(p.type), +1});
    edges.push_back(Edge{p.end, BusyRank(p.type), -1});
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) { return a.t < b.t; });
  std::vector<BusyPeriod> out;
  int64_t open[4] = {0, 0, 0, 0};
  size_t i = 0;
  while (i < edges.size()) {
    int64_t t = edges[i].t;
    while (i < edges.size() && edges[i].t == t) {
      open[edges[i].rank] += edges[i].delta;
      ++i;
    }
    if (i == edges.size()) break;
    int rank = open[3] > 0 ? 3 : open[2] > 0 ? 2 : open[1] > 0 ? 1 : 0;
    if (rank == 0) continue;
    int64_t next = edges[i].t;
    BusyType type = RankType(rank);
    if (!out.empty() && out.back().type == type && out.back().end == t) {
      out.back().end = next;
    } else {
      out.push_back(BusyPeriod{t, next, type});
    }
  }
  return out;
}

std::vector<BusyPeriod> OutsideWorkingHours(const WorkingHours& hours, int64_t start, int64_t end) {
  std::vector<BusyPeriod> out;
  if (end <= start) return out;
  InitLibical();
  icaltimezone* zone = BuiltinZone(hours.timezone);
  if (zone == nullptr) zone = icaltimezone_get_utc_timezone();
  auto day_of = [&](int64_t t) {
    icaltimetype l = LocalTime(Clamp(t), zone);
    return DaysFromCivil(l.year, l.month, l.day);
  };
  constexpr int64_t kMaxDays = 3700;  // about ten years; free-busy ranges are far shorter
  const int64_t first = day_of(start) - 1;
  const int64_t last = std::min(day_of(end) + 1, first + kMaxDays);
  // Working time in UTC, then its complement within [start, end).
  std::vector<std::pair<int64_t, int64_t>> work;
  for (int64_t d = first; d <= last; ++d) {
    int weekday = static_cast<int>(((d % 7) + 7 + 3) % 7);  // 1970-01-01 was a Thursday
    icaltimetype midnight = icaltime_null_time();
    CivilFromDays(d, &midnight.year, &midnight.month, &midnight.day);
    auto at = [&](int minute) -> std::optional<int64_t> {
      icaltimetype t = midnight;
      if (minute >= 1440) {
        t = AddDays(t, 1);
        minute -= 1440;
      }
      t.hour = minute / 60;
      t.minute = minute % 60;
      return ToUtc(t, zone);
    };
    for (const auto& [from, to] : hours.days[weekday]) {
      int a = std::clamp(from, 0, 1440), b = std::clamp(to, 0, 1440);
      if (b <= a) continue;
      std::optional<int64_t> ua = at(a), ub = at(b);
      if (ua && ub && *ub > *ua) work.emplace_back(*ua, *ub);
    }
  }
  std::sort(work.begin(), work.end());
  int64_t cursor = start;
  for (const auto& [a, b] : work) {
    if (b <= cursor) continue;
    if (a >= end) break;
    if (a > cursor) out.push_back(BusyPeriod{cursor, std::min(a, end), BusyType::kUnavailable});
    cursor = std::max(cursor, b);
    if (cursor >= end) break;
  }
  if (cursor < end) out.push_back(BusyPeriod{cursor, end, BusyType::kUnavailable});
  return out;
}

std::string FreeBusyToText(const std::vector<BusyPeriod>& merged, int64_t start, int64_t end,
                           const FreeBusyReply& reply) {
  InitLibical();
  Ical root(icalcomponent_new(ICAL_VCALENDAR_COMPONENT));
  icalcomponent_add_property(root.get(), icalproperty_new_version("2.0"));
  icalcomponent_add_property(root.get(), icalproperty_new_prodid("-//Kite//Kite CalDAV//EN"));
  if (!reply.method.empty()) {
    icalproperty_method m = icalproperty_string_to_method(Clean(reply.method).c_str());
    if (m != ICAL_METHOD_NONE && m != ICAL_METHOD_X) icalcomponent_add_property(root.get(), icalproperty_new_method(m));
  }
  icalcomponent* fb = icalcomponent_new(ICAL_VFREEBUSY_COMPONENT);
  icalcomponent_add_component(root.get(), fb);
  if (!reply.uid.empty()) icalcomponent_add_property(fb, icalproperty_new_uid(Clean(reply.uid).c_str()));
  icalcomponent_add_property(fb, icalproperty_new_dtstamp(UtcTime(reply.dtstamp)));
  icalcomponent_add_property(fb, icalproperty_new_dtstart(UtcTime(start)));
  icalcomponent_add_property(fb, icalproperty_new_dtend(UtcTime(end)));
  if (!reply.organizer.empty()) {
    icalcomponent_add_property(fb, icalproperty_new_organizer(("mailto:" + Clean(reply.organizer)).c_str()));
  }
  if (!reply.attendee.empty()) {
    icalcomponent_add_property(fb, icalproperty_new_attendee(("mailto:" + Clean(reply.attendee)).c_str()));
  }
  for (const BusyPeriod& p : merged) {
    int64_t s = std::max(p.start, start), e = std::min(p.end, end);
    if (e <= s) continue;
    icalperiodtype period = icalperiodtype_null_period();
    period.start = UtcTime(s);
    period.end = UtcTime(e);
    icalproperty* prop = icalproperty_new_freebusy(period);
    icalparameter_fbtype type = p.type == BusyType::kTentative      ? ICAL_FBTYPE_BUSYTENTATIVE
                                : p.type == BusyType::kUnavailable ? ICAL_FBTYPE_BUSYUNAVAILABLE
                                                                    : ICAL_FBTYPE_BUSY;
    icalproperty_add_parameter(prop, icalparameter_new_fbtype(type));
    icalcomponent_add_property(fb, prop);
  }
  return Serialize(root.get());
}

std::optional<int64_t> ParseUtc(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  auto num = [&](size_t pos, size_t len, int* out) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return true;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!num(0, 4, &y) || !num(4, 2, &mo) || !num(6, 2, &d) || !num(9, 2, &h) || !num(11, 2, &mi) ||
      !num(13, 2, &s)) {
    return std::nullopt;
  }
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo) || h > 23 || mi > 59 || s > 60) {
    return std::nullopt;
  }
  if (s == 60) s = 59;
  return DaysFromCivil(y, mo, d) * kDay + int64_t{h} * 3600 + int64_t{mi} * 60 + s;
}

std::string FormatUtc(int64_t t) {
  icaltimetype u = UtcTime(t);
  char buf[32];
  snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ", u.year, u.month, u.day, u.hour, u.minute, u.second);
  return buf;
}

}  // namespace kite::calendar
