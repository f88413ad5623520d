#include "caldav/itip.h"

#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::caldav {
namespace {

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(AV(s)); }

std::string_view Trim(std::string_view s) { return SV(absl::StripAsciiWhitespace(AV(s))); }

bool IsObjectKind(icalcomponent_kind k) {
  return k == ICAL_VEVENT_COMPONENT || k == ICAL_VTODO_COMPONENT || k == ICAL_VJOURNAL_COMPONENT ||
         k == ICAL_VFREEBUSY_COMPONENT;
}

std::vector<icalcomponent*> Objects(icalcomponent* root) {
  std::vector<icalcomponent*> out;
  for (icalcomponent* c = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT); c != nullptr;
       c = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT)) {
    if (IsObjectKind(icalcomponent_isa(c))) out.push_back(c);
  }
  return out;
}

// The RECURRENCE-ID as written (value and TZID), "" for a master component.
std::string RecurrenceKey(icalcomponent* c) {
  icalproperty* p = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
  if (p == nullptr) return "";
  char* v = icalproperty_get_value_as_string_r(p);
  std::string key = v != nullptr ? v : "";
  if (v != nullptr) icalmemory_free_buffer(v);
  if (icalparameter* tz = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER)) {
    const char* tzid = icalparameter_get_tzid(tz);
    absl::StrAppend(&key, ";", tzid != nullptr ? tzid : "");
  }
  return key.empty() ? std::string("?") : key;
}

icalcomponent* Master(const std::vector<icalcomponent*>& objects) {
  for (icalcomponent* c : objects) {
    if (icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY) == nullptr) return c;
  }
  return objects.empty() ? nullptr : objects.front();
}

// Finds the component of `root` for a recurrence key ("" = master); nullptr if none.
icalcomponent* FindInstance(icalcomponent* root, const std::string& key) {
  for (icalcomponent* c : Objects(root)) {
    if (RecurrenceKey(c) == key) return c;
  }
  return nullptr;
}

icalproperty* FindAttendee(icalcomponent* c, const std::string& address) {
  for (icalproperty* a = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY); a != nullptr;
       a = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY)) {
    if (MailtoAddress(icalproperty_get_attendee(a)) == address) return a;
  }
  return nullptr;
}

void InitLibical() {
  static std::once_flag once;
  // Bad input must be an error value, never an abort inside libical.
  std::call_once(once, [] { icalerror_set_errors_are_fatal(0); });
}

}  // namespace

bool IsItipMethod(std::string_view method) {
  for (std::string_view m : {"REQUEST", "REPLY", "CANCEL", "ADD", "REFRESH", "COUNTER", "DECLINECOUNTER"}) {
    if (method == m) return true;
  }
  return false;
}

// "mailto:Alice@Example.test" -> "alice@example.test"; "" for anything else.
std::string MailtoAddress(const char* uri) {
  if (uri == nullptr) return "";
  std::string_view s = Trim(uri);
  if (s.size() <= 7 || !absl::EqualsIgnoreCase(AV(s.substr(0, 7)), "mailto:")) return "";
  return Lower(Trim(s.substr(7)));
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


std::string Serialize(icalcomponent* root) {
  char* s = icalcomponent_as_ical_string_r(root);
  std::string out = s != nullptr ? s : "";
  if (s != nullptr) icalmemory_free_buffer(s);
  return out;
}

namespace {

// One VCALENDAR whose BEGIN/END lines nest properly (at most kMaxDepth deep) and nothing but
// blank lines after it. Checked before libical sees the text: libical writes a line to
// stderr for each stray END, which mail content must not be able to do to our log.
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
    bool begin = absl::StartsWithIgnoreCase(AV(line), "BEGIN:");
    bool end = absl::StartsWithIgnoreCase(AV(line), "END:");
    if (open.empty() && !begin) return false;  // before the VCALENDAR
    if (!begin && !end) continue;
    std::string name = absl::AsciiStrToUpper(AV(Trim(line.substr(begin ? 6 : 4))));
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

}  // namespace

Ical ParseCalendar(std::string_view text) {
  InitLibical();
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 byte order mark
  if (!WellNested(text)) return nullptr;
  std::string copy(text);  // libical wants a NUL-terminated string
  Ical root(icalparser_parse_string(copy.c_str()));
  if (!root || icalcomponent_isa(root.get()) != ICAL_VCALENDAR_COMPONENT) return nullptr;
  return root;
}

absl::StatusOr<ItipObject> ParseItip(std::string_view text, std::string_view method) {
  if (!IsItipMethod(method)) return absl::InvalidArgumentError("not an iTIP method for iMIP");
  if (text.size() > kMaxItipBytes) return absl::InvalidArgumentError("larger than 1 MiB");
  if (!ValidUtf8(text)) return absl::InvalidArgumentError("not UTF-8");
  ItipObject p;
  p.root = ParseCalendar(text);
  if (!p.root) return absl::InvalidArgumentError("not an iCalendar VCALENDAR object");
  icalproperty_method m = icalcomponent_get_method(p.root.get());
  const char* m_text = m == ICAL_METHOD_NONE ? "" : icalproperty_method_to_string(m);
  if (m_text == nullptr || method != m_text) {
    return absl::InvalidArgumentError(absl::StrCat("METHOD property '", m_text != nullptr ? m_text : "",
                                                   "' is not the request's"));
  }
  p.objects = Objects(p.root.get());
  p.master = Master(p.objects);
  if (p.master == nullptr) return absl::InvalidArgumentError("no VEVENT, VTODO, VJOURNAL or VFREEBUSY");
  const char* uid = icalcomponent_get_uid(p.master);
  p.uid = uid != nullptr ? std::string(Trim(uid)) : "";
  if (p.uid.empty()) return absl::InvalidArgumentError("no UID");
  if (p.uid.size() > 1024) return absl::InvalidArgumentError("UID too long");
  for (icalcomponent* c : p.objects) {
    const char* u = icalcomponent_get_uid(c);
    if (u == nullptr || Trim(u) != p.uid) return absl::InvalidArgumentError("components with different UIDs");
    if (icalcomponent_get_first_property(c, ICAL_RRULE_PROPERTY) != nullptr ||
        icalcomponent_get_first_property(c, ICAL_RDATE_PROPERTY) != nullptr) {
      p.recurring = true;
    }
  }
  if (p.objects.size() > 1) p.recurring = true;
  p.component = icalcomponent_kind_to_string(icalcomponent_isa(p.master));
  p.sequence = icalcomponent_get_sequence(p.master);
  if (icalproperty* org = icalcomponent_get_first_property(p.master, ICAL_ORGANIZER_PROPERTY)) {
    p.organizer = MailtoAddress(icalproperty_get_organizer(org));
  }
  if (icalproperty* tr = icalcomponent_get_first_property(p.master, ICAL_TRANSP_PROPERTY)) {
    p.transparent = icalproperty_get_transp(tr) == ICAL_TRANSP_TRANSPARENT;
  }
  return p;
}

bool RepliesAsSender(const ItipObject& reply, const std::string& sender) {
  if (sender.empty()) return false;
  bool any = false;
  for (icalcomponent* c : reply.objects) {
    for (icalproperty* a = icalcomponent_get_first_property(c, ICAL_ATTENDEE_PROPERTY); a != nullptr;
         a = icalcomponent_get_next_property(c, ICAL_ATTENDEE_PROPERTY)) {
      if (MailtoAddress(icalproperty_get_attendee(a)) != sender) return false;
      any = true;
    }
  }
  return any;
}

ReplyEffect ApplyReply(const ItipObject& reply, const std::string& sender, icalcomponent* copy) {
  ReplyEffect effect;
  if (icalcomponent* master = FindInstance(copy, "")) {
    if (FindAttendee(master, sender) != nullptr) effect.attendee_known = true;
  }
  for (icalcomponent* rc : reply.objects) {
    icalproperty* ra = FindAttendee(rc, sender);
    if (ra == nullptr) continue;
    icalparameter* ps = icalproperty_get_first_parameter(ra, ICAL_PARTSTAT_PARAMETER);
    if (ps == nullptr) continue;
    icalcomponent* target = FindInstance(copy, RecurrenceKey(rc));
    if (target == nullptr) continue;  // an instance the organiser has no override for
    icalproperty* ca = FindAttendee(target, sender);
    if (ca == nullptr) continue;
    effect.attendee_known = true;
    icalproperty_set_parameter(ca, icalparameter_new_clone(ps));
    ++effect.updated;
    const char* v = icalparameter_enum_to_string(icalparameter_get_partstat(ps));
    if (v == nullptr) v = "X";
    if (effect.partstats.find(v) == std::string::npos) {
      absl::StrAppend(&effect.partstats, effect.partstats.empty() ? "" : ",", v);
    }
  }
  return effect;
}

int ApplyCancel(const ItipObject& cancel, icalcomponent* copy) {
  int updated = 0;
  for (icalcomponent* cc : cancel.objects) {
    if (icalcomponent* target = FindInstance(copy, RecurrenceKey(cc))) {
      icalcomponent_set_status(target, ICAL_STATUS_CANCELLED);
    } else if (icalcomponent* master = FindInstance(copy, "")) {
      icalproperty* rid = icalcomponent_get_first_property(cc, ICAL_RECURRENCEID_PROPERTY);
      if (rid == nullptr) continue;
      icalproperty* ex = icalproperty_new_exdate(icalproperty_get_recurrenceid(rid));
      if (icalparameter* tz = icalproperty_get_first_parameter(rid, ICAL_TZID_PARAMETER)) {
        icalproperty_add_parameter(ex, icalparameter_new_clone(tz));
      }
      icalcomponent_add_property(master, ex);
    } else {
      continue;
    }
    ++updated;
  }
  return updated;
}

}  // namespace kite::caldav
