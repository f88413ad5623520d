#include "caldav/dav_handler.h"

#include <openssl/sha.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "caldav/dav_xml.h"
#include "lib/base/strings.h"
#include "lib/calendar/calendar.h"
#include "lib/calstore/calstore.h"
#include "lib/log/log.h"

namespace kite::caldav {

namespace {

using dav::kApple;
using dav::kCalDav;
using dav::kCs;
using dav::kDav;

constexpr char kRootHref[] = "/dav/";
constexpr char kPrincipalsHref[] = "/dav/principals/";
constexpr char kCalendarsHref[] = "/dav/calendars/";
constexpr int kMaxPlainDepth = 16;

// ---- access ----------------------------------------------------------------------------
enum Access { kNone = 0, kFreeBusy = 1, kRead = 2, kWrite = 3, kOwner = 4 };

struct Account {
  int64_t id = 0;
  std::string address;
  std::string display_name;
  int64_t quota_bytes = 0;
};

struct Plain {
  std::string path;
  bool is_collection = false;
  std::string body;
  std::string content_type;
  std::string etag;
  int64_t created = 0;
  int64_t updated = 0;
};

enum class Kind { kRoot, kPrincipals, kPrincipal, kCalendars, kHome, kCalendar, kObject, kPlain, kMissing };

struct Resource {
  Kind kind = Kind::kMissing;
  std::string href;
  Account owner;
  int access = kNone;        // of the requester on this resource
  int grant = kNone;         // from account_grants (calendar-level changes need kWrite here)
  calstore::Calendar cal;    // kCalendar, kObject (and missing objects under a calendar)
  bool in_calendar = false;  // kObject or a missing resource directly under a calendar
  std::optional<calstore::ObjectRow> obj;
  int64_t obj_created = 0, obj_updated = 0;
  std::optional<Plain> plain;   // kPlain
  std::string plain_path;       // kPlain or a missing resource in the plain namespace
  bool parent_exists = false;   // kMissing: whether it could be created
  bool trailing_slash = false;
};

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(AV(s)); }
std::string FloatingTz(const calstore::Calendar& cal);

std::string HttpDate(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}
std::string IsoDate(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Sha(std::string_view s) { return calstore::Etag(s); }

std::string Enc(std::string_view s) { return http::PercentEncodeSegment(s); }
std::string PrincipalHref(std::string_view addr) { return absl::StrCat(kPrincipalsHref, Enc(addr), "/"); }
std::string HomeHref(std::string_view addr) { return absl::StrCat(kCalendarsHref, Enc(addr), "/"); }
std::string CalHref(std::string_view addr, std::string_view uri) {
  return absl::StrCat(HomeHref(addr), Enc(uri), "/");
}
std::string ObjHref(std::string_view addr, std::string_view cal, std::string_view uri) {
  return absl::StrCat(CalHref(addr, cal), Enc(uri));
}
std::string PlainHref(std::string_view addr, std::string_view path, bool collection) {
  std::string out = HomeHref(addr);
  bool first = true;
  for (absl::string_view seg : absl::StrSplit(AV(path), '/')) {
    if (!first) out += "/";
    out += Enc(SV(seg));
    first = false;
  }
  if (collection) out += "/";
  return out;
}

http::Response Simple(int status, std::string text = "") {
  http::Response r;
  r.status = status;
  if (!text.empty()) {
    r.Set("Content-Type", "text/plain; charset=utf-8");
    r.body = text + "\n";
  }
  return r;
}

http::Response XmlResponse(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.Set("Content-Type", "application/xml; charset=utf-8");
  r.body = std::move(body);
  return r;
}

http::Response Precondition(int status, std::string_view ns, std::string_view name, std::string_view inner = "") {
  return XmlResponse(status, dav::ErrorBody(ns, name, inner));
}

std::optional<Account> AccountByAddress(pqxx::work& tx, std::string_view address) {
  pqxx::result r = tx.exec_params(
      "SELECT id, address, display_name, quota_bytes FROM accounts WHERE address = $1 AND enabled", Lower(address));
  if (r.empty()) return std::nullopt;
  return Account{r[0][0].as<int64_t>(), r[0][1].as<std::string>(), r[0][2].as<std::string>(),
                 r[0][3].as<int64_t>()};
}

int GrantLevel(pqxx::work& tx, int64_t owner, int64_t who) {
  if (owner == who) return kOwner;
  pqxx::result r = tx.exec_params(
      "SELECT may_read, may_write FROM account_grants WHERE owner_account_id = $1 AND grantee_account_id = $2",
      owner, who);
  if (r.empty()) return kNone;
  if (r[0][1].as<bool>()) return kWrite;
  if (r[0][0].as<bool>()) return kRead;
  return kNone;
}

// The best calendar_shares access of `who` to one calendar (or any calendar when calendar
// is 0): direct, or through a list (nested lists and aliases, as resource bookers).
int ShareLevel(pqxx::work& tx, int64_t owner, int64_t calendar, int64_t who) {
  pqxx::result r = tx.exec_params(
      "WITH RECURSIVE me AS (SELECT address FROM accounts WHERE id = $3 "
      "  UNION SELECT address FROM aliases WHERE target_account_id = $3), "
      "g(list_id) AS ("
      "  SELECT m.list_id FROM list_members m WHERE m.account_id = $3 OR m.address IN (SELECT address FROM me) "
      "  UNION "
      "  SELECT m.list_id FROM g JOIN lists l ON l.id = g.list_id JOIN list_members m ON m.address = l.address) "
      "SELECT s.access FROM calendar_shares s WHERE s.owner_account_id = $1 AND ($2 = 0 OR s.calendar_id = $2) "
      "AND (s.grantee_account_id = $3 OR s.grantee_list_id IN (SELECT list_id FROM g))",
      owner, calendar, who);
  int best = kNone;
  for (const auto& row : r) {
    std::string a = row[0].as<std::string>();
    best = std::max<int>(best, a == "read-write" ? kWrite : a == "read" ? kRead : kFreeBusy);
  }
  return best;
}

calstore::Calendar CalendarOf(const pqxx::row& r) {
  calstore::Calendar c;
  c.account_id = r[0].as<int64_t>();
  c.id = r[1].as<int64_t>();
  c.uri = r[2].as<std::string>();
  c.kind = r[3].as<std::string>();
  c.display_name = r[4].as<std::string>();
  c.description = r[5].as<std::string>();
  c.color = r[6].is_null() ? "" : r[6].as<std::string>();
  if (!r[7].is_null()) c.sort_order = r[7].as<int>();
  c.timezone = r[8].is_null() ? "" : r[8].as<std::string>();
  std::string comps = r[9].as<std::string>();  // "{VEVENT,VTODO}"
  comps.erase(std::remove_if(comps.begin(), comps.end(), [](char ch) { return ch == '{' || ch == '}' || ch == '"'; }),
              comps.end());
  for (absl::string_view s : absl::StrSplit(comps, ',', absl::SkipEmpty())) c.components.emplace_back(SV(s));
  c.transparent = r[10].as<bool>();
  c.sync_token = r[11].as<int64_t>();
  return c;
}

constexpr const char* kCalColumns =
    "account_id, id, uri, kind, display_name, description, color, sort_order, timezone, components::text, "
    "transparent, sync_token";

std::optional<calstore::Calendar> CalendarByUri(pqxx::work& tx, int64_t account, std::string_view uri) {
  pqxx::result r = tx.exec_params(absl::StrCat("SELECT ", kCalColumns,
                                               " FROM calendars WHERE account_id = $1 AND uri = $2"),
                                  account, std::string(uri));
  if (r.empty()) return std::nullopt;
  return CalendarOf(r[0]);
}

std::vector<calstore::Calendar> Calendars(pqxx::work& tx, int64_t account) {
  pqxx::result r = tx.exec_params(
      absl::StrCat("SELECT ", kCalColumns, " FROM calendars WHERE account_id = $1 ORDER BY id"), account);
  std::vector<calstore::Calendar> out;
  for (const auto& row : r) out.push_back(CalendarOf(row));
  return out;
}

// The home's default calendar, inbox and outbox on first access.
void EnsureHome(pqxx::work& tx, int64_t account) {
  pqxx::result r = tx.exec_params("SELECT count(*) FILTER (WHERE kind = 'calendar'), count(*) FROM calendars "
                                  "WHERE account_id = $1",
                                  account);
  if (r[0][1].as<int64_t>() >= 3 && r[0][0].as<int64_t>() >= 1) return;
  if (r[0][0].as<int64_t>() == 0) calstore::EnsureCalendarTx(tx, account, "calendar");
  calstore::EnsureCalendarTx(tx, account, "inbox");
  calstore::EnsureCalendarTx(tx, account, "outbox");
}

std::optional<Plain> PlainByPath(pqxx::work& tx, int64_t account, std::string_view path) {
  pqxx::result r = tx.exec_params(
      "SELECT path, is_collection, body, content_type, etag, extract(epoch FROM created_at)::bigint, "
      "extract(epoch FROM updated_at)::bigint FROM dav_resources WHERE account_id = $1 AND path = $2",
      account, std::string(path));
  if (r.empty()) return std::nullopt;
  Plain p;
  p.path = r[0][0].as<std::string>();
  p.is_collection = r[0][1].as<bool>();
  pqxx::binarystring body(r[0][2]);
  p.body = body.str();
  p.content_type = r[0][3].as<std::string>();
  p.etag = r[0][4].as<std::string>();
  p.created = r[0][5].as<int64_t>();
  p.updated = r[0][6].as<int64_t>();
  return p;
}

std::vector<Plain> PlainChildren(pqxx::work& tx, int64_t account, std::string_view parent) {
  pqxx::result r = parent.empty()
                       ? tx.exec_params("SELECT path FROM dav_resources WHERE account_id = $1 AND "
                                        "position('/' IN path) = 0 ORDER BY path",
                                        account)
                       : tx.exec_params("SELECT path FROM dav_resources WHERE account_id = $1 AND "
                                        "left(path, length($2) + 1) = $2 || '/' AND "
                                        "position('/' IN substr(path, length($2) + 2)) = 0 ORDER BY path",
                                        account, std::string(parent));
  std::vector<Plain> out;
  for (const auto& row : r) {
    if (auto p = PlainByPath(tx, account, row[0].as<std::string>())) out.push_back(std::move(*p));
  }
  return out;
}

std::string ParentPath(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? "" : std::string(path.substr(0, slash));
}

// ---- resolution --------------------------------------------------------------------------
std::vector<std::string> Segments(std::string_view path) {
  std::vector<std::string> out;
  for (absl::string_view s : absl::StrSplit(AV(path), '/', absl::SkipEmpty())) out.emplace_back(SV(s));
  return out;
}

// The path of an href or Destination (absolute URL or absolute path), percent-decoded.
std::optional<std::string> HrefPath(std::string_view href) {
  std::string_view t = href;
  if (t.substr(0, 7) == "http://" || t.substr(0, 8) == "https://") {
    size_t scheme_end = t.find("://") + 3;
    size_t slash = t.find('/', scheme_end);
    t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
  }
  size_t q = t.find_first_of("?#");
  if (q != std::string_view::npos) t = t.substr(0, q);
  if (t.empty() || t[0] != '/') return std::nullopt;
  return http::PercentDecode(t);
}

Resource Resolve(pqxx::work& tx, const Identity& who, std::string_view path) {
  Resource r;
  r.trailing_slash = !path.empty() && path.back() == '/';
  std::vector<std::string> seg = Segments(path);
  if (seg.empty() || (seg.size() == 1 && seg[0] == "dav")) {
    r.kind = Kind::kRoot;
    r.href = kRootHref;
    r.access = kRead;
    return r;
  }
  if (seg[0] != "dav" || seg.size() < 2) return r;
  if (seg[1] == "principals") {
    if (seg.size() == 2) {
      r.kind = Kind::kPrincipals;
      r.href = kPrincipalsHref;
      r.access = kRead;
      return r;
    }
    if (seg.size() != 3) return r;
    auto acct = AccountByAddress(tx, seg[2]);
    if (!acct) return r;
    r.kind = Kind::kPrincipal;
    r.owner = *acct;
    r.href = PrincipalHref(acct->address);
    r.access = acct->id == who.account_id ? kOwner : kRead;
    return r;
  }
  if (seg[1] != "calendars") return r;
  if (seg.size() == 2) {
    r.kind = Kind::kCalendars;
    r.href = kCalendarsHref;
    r.access = kRead;
    return r;
  }
  auto acct = AccountByAddress(tx, seg[2]);
  if (!acct) return r;
  r.owner = *acct;
  r.grant = GrantLevel(tx, acct->id, who.account_id);
  // The first access of the owner (or of a delegate who may write, e.g. to a shared
  // mailbox's calendar) to anything under the home creates its default calendar.
  if (r.grant >= kWrite) EnsureHome(tx, acct->id);
  if (seg.size() == 3) {
    r.kind = Kind::kHome;
    r.href = HomeHref(acct->address);
    r.access = std::max<int>(r.grant, ShareLevel(tx, acct->id, 0, who.account_id) > kNone ? kFreeBusy : kNone);
    return r;
  }
  if (auto cal = CalendarByUri(tx, acct->id, seg[3])) {
    r.cal = *cal;
    if (cal->kind == "calendar") {
      r.access = std::max(r.grant, ShareLevel(tx, acct->id, cal->id, who.account_id));
    } else {
      r.access = r.grant >= kWrite ? kWrite : r.grant >= kRead ? kRead : kNone;
      if (acct->id == who.account_id) r.access = kOwner;
    }
    if (seg.size() == 4) {
      r.kind = Kind::kCalendar;
      r.href = CalHref(acct->address, cal->uri);
      return r;
    }
    if (seg.size() == 5) {
      r.in_calendar = true;
      r.href = ObjHref(acct->address, cal->uri, seg[4]);
      r.obj = calstore::GetObjectTx(tx, acct->id, cal->id, seg[4]);
      r.plain_path = seg[4];
      if (r.obj) {
        r.kind = Kind::kObject;
        pqxx::result t = tx.exec_params(
            "SELECT extract(epoch FROM created_at)::bigint, extract(epoch FROM updated_at)::bigint "
            "FROM calendar_objects WHERE account_id = $1 AND calendar_id = $2 AND id = $3",
            acct->id, cal->id, r.obj->id);
        r.obj_created = t[0][0].as<int64_t>();
        r.obj_updated = t[0][1].as<int64_t>();
      } else {
        r.parent_exists = true;
      }
      return r;
    }
    r.access = std::min(r.access, static_cast<int>(kRead));
    return r;  // deeper below a calendar: missing, no parent
  }
  // The plain WebDAV namespace under the home: owner and delegates only.
  r.access = r.grant;
  if (seg.size() - 3 > static_cast<size_t>(kMaxPlainDepth)) return r;
  std::vector<std::string> rest(seg.begin() + 3, seg.end());
  r.plain_path = absl::StrJoin(rest, "/");
  r.plain = PlainByPath(tx, acct->id, r.plain_path);
  if (r.plain) {
    r.kind = Kind::kPlain;
    r.href = PlainHref(acct->address, r.plain_path, r.plain->is_collection);
  } else {
    r.href = PlainHref(acct->address, r.plain_path, r.trailing_slash);
    std::string parent = ParentPath(r.plain_path);
    if (parent.empty()) {
      r.parent_exists = true;
    } else {
      auto p = PlainByPath(tx, acct->id, parent);
      r.parent_exists = p && p->is_collection;
    }
  }
  return r;
}

bool IsCollection(const Resource& r) {
  switch (r.kind) {
    case Kind::kObject:
      return false;
    case Kind::kPlain:
      return r.plain->is_collection;
    case Kind::kMissing:
      return false;
    default:
      return true;
  }
}

// ---- properties --------------------------------------------------------------------------
struct PropCtx {
  const Identity& who;
  pqxx::work& tx;
  const HandlerOptions& options;
  const dav::CalendarData* calendar_data = nullptr;  // REPORT shaping of calendar-data
  const calendar::Object* parsed = nullptr;          // the object already parsed (calendar-query)
};

std::string HrefEl(std::string_view href) { return dav::Element(kDav, "href", dav::Escape(href)); }

std::string Privileges(int access, bool calendar) {
  std::vector<std::string> privs;
  auto add = [&](const char* ns, const char* name) {
    privs.push_back(dav::Element(kDav, "privilege", dav::EmptyElement(ns, name)));
  };
  if (access >= kFreeBusy && calendar) add(kCalDav, "read-free-busy");
  if (access >= kRead) {
    add(kDav, "read");
    add(kDav, "read-current-user-privilege-set");
  }
  if (access >= kWrite) {
    add(kDav, "write");
    add(kDav, "write-content");
    add(kDav, "write-properties");
    add(kDav, "bind");
    add(kDav, "unbind");
  }
  if (access >= kOwner) add(kDav, "all");
  return absl::StrJoin(privs, "");
}

std::string SupportedReports(const Resource& r) {
  std::vector<std::pair<const char*, const char*>> reports;
  if (r.kind == Kind::kCalendar) {
    reports = {{kCalDav, "calendar-multiget"}, {kCalDav, "calendar-query"}, {kCalDav, "free-busy-query"},
               {kDav, "sync-collection"}};
  } else {
    reports = {{kDav, "principal-property-search"}};
  }
  std::string out;
  for (auto [ns, name] : reports) {
    out += dav::Element(kDav, "supported-report", dav::Element(kDav, "report", dav::EmptyElement(ns, name)));
  }
  return out;
}

std::pair<int64_t, int64_t> Quota(pqxx::work& tx, int64_t account) {
  pqxx::result r = tx.exec_params(
      "SELECT a.quota_bytes, COALESCE(q.bytes, 0) FROM accounts a LEFT JOIN quota_usage q ON q.account_id = a.id "
      "WHERE a.id = $1",
      account);
  if (r.empty()) return {0, 0};
  return {r[0][0].as<int64_t>(), r[0][1].as<int64_t>()};
}

std::string SyncToken(const HandlerOptions& o, int64_t token) { return absl::StrCat(o.sync_prefix, token); }

std::string CalendarData(const PropCtx& c, const Resource& r) {
  const std::string& ical = r.obj->ical;
  if (c.calendar_data != nullptr && (c.calendar_data->expand || c.calendar_data->limit_recurrence_set)) {
    std::optional<calendar::Object> loaded;
    const calendar::Object* obj = c.parsed;
    if (obj == nullptr) {
      loaded = calendar::Load(ical, FloatingTz(r.cal));
      if (loaded) obj = &*loaded;
    }
    if (obj != nullptr) {
      if (c.calendar_data->expand) {
        const auto& tr = *c.calendar_data->expand;
        return calendar::ExpandToText(*obj, tr.start.value_or(INT64_MIN / 2), tr.end.value_or(INT64_MAX / 2));
      }
      const auto& tr = *c.calendar_data->limit_recurrence_set;
      return calendar::LimitRecurrenceSetToText(*obj, tr.start.value_or(INT64_MIN / 2),
                                                tr.end.value_or(INT64_MAX / 2));
    }
  }
  return ical;
}

std::map<std::pair<std::string, std::string>, std::string> DeadProps(pqxx::work& tx, int64_t account,
                                                                     std::string_view path) {
  std::map<std::pair<std::string, std::string>, std::string> out;
  pqxx::result r = tx.exec_params(
      "SELECT namespace, name, xml FROM dav_properties WHERE account_id = $1 AND path = $2 ORDER BY namespace, name",
      account, std::string(path));
  for (const auto& row : r) out[{row[0].as<std::string>(), row[1].as<std::string>()}] = row[2].as<std::string>();
  return out;
}

// The IANA name in a calendar's CALDAV:calendar-timezone (its VTIMEZONE's TZID), for DATE
// and floating times; UTC when there is none.
std::string FloatingTz(const calstore::Calendar& cal) {
  size_t p = cal.timezone.find("TZID:");
  if (p == std::string::npos) return "UTC";
  size_t e = cal.timezone.find_first_of("\r\n", p);
  std::string tz = cal.timezone.substr(p + 5, e == std::string::npos ? std::string::npos : e - p - 5);
  if (tz.empty() || tz.size() > 64 || tz.find('/') == std::string::npos) return "UTC";
  for (char ch : tz) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '/' && ch != '_' && ch != '-' && ch != '+') {
      return "UTC";
    }
  }
  return tz;
}

std::string DeadPath(const Resource& r) {
  if (r.kind == Kind::kCalendar) return r.cal.uri;
  if (r.kind == Kind::kPlain) return r.plain_path;
  return "";
}

// The value (inner XML) of one live property, or nullopt when the resource has none.
std::optional<std::string> LiveProp(const PropCtx& c, const Resource& r, std::string_view ns, std::string_view name) {
  const bool dav_ns = ns == kDav;
  const bool cal_ns = ns == kCalDav;
  const bool collection = IsCollection(r);
  if (dav_ns && name == "current-user-principal") return HrefEl(PrincipalHref(c.who.address));
  if (dav_ns && name == "principal-collection-set") return HrefEl(kPrincipalsHref);
  if (dav_ns && name == "resourcetype") {
    switch (r.kind) {
      case Kind::kPrincipal:
        return dav::EmptyElement(kDav, "collection") + dav::EmptyElement(kDav, "principal");
      case Kind::kCalendar:
        if (r.cal.kind == "inbox") return dav::EmptyElement(kDav, "collection") + dav::EmptyElement(kCalDav, "schedule-inbox");
        if (r.cal.kind == "outbox") return dav::EmptyElement(kDav, "collection") + dav::EmptyElement(kCalDav, "schedule-outbox");
        return dav::EmptyElement(kDav, "collection") + dav::EmptyElement(kCalDav, "calendar");
      case Kind::kObject:
        return std::string();
      default:
        return collection ? dav::EmptyElement(kDav, "collection") : std::string();
    }
  }
  if (dav_ns && name == "current-user-privilege-set") return Privileges(r.access, r.kind == Kind::kCalendar);
  if (dav_ns && name == "supported-report-set") return SupportedReports(r);
  if (dav_ns && name == "owner" && r.owner.id != 0) return HrefEl(PrincipalHref(r.owner.address));
  switch (r.kind) {
    case Kind::kPrincipal: {
      const std::string& a = r.owner.address;
      if (dav_ns && name == "displayname") return dav::Escape(r.owner.display_name.empty() ? a : r.owner.display_name);
      if (dav_ns && name == "principal-URL") return HrefEl(PrincipalHref(a));
      if (cal_ns && name == "calendar-home-set") return HrefEl(HomeHref(a));
      if (cal_ns && name == "calendar-user-address-set") return HrefEl("mailto:" + a) + HrefEl(PrincipalHref(a));
      if (cal_ns && name == "calendar-user-type") return std::string("INDIVIDUAL");
      if (cal_ns && (name == "schedule-inbox-URL" || name == "schedule-outbox-URL")) {
        return HrefEl(CalHref(a, name == "schedule-inbox-URL" ? "inbox" : "outbox"));
      }
      return std::nullopt;
    }
    case Kind::kHome:
    case Kind::kCalendar: {
      if (r.kind == Kind::kHome && dav_ns && name == "displayname") return dav::Escape(r.owner.address);
      if (dav_ns && (name == "quota-used-bytes" || name == "quota-available-bytes")) {
        auto [limit, used] = Quota(c.tx, r.owner.id);
        if (name == "quota-used-bytes") return std::to_string(used);
        return std::to_string(limit == 0 ? int64_t{1} << 40 : std::max<int64_t>(0, limit - used));
      }
      if (r.kind == Kind::kHome) return std::nullopt;
      const calstore::Calendar& cal = r.cal;
      if (dav_ns && name == "displayname") return dav::Escape(cal.display_name.empty() ? cal.uri : cal.display_name);
      if (dav_ns && name == "sync-token") return dav::Escape(SyncToken(c.options, cal.sync_token));
      if (ns == kCs && name == "getctag") return dav::Escape(SyncToken(c.options, cal.sync_token));
      if (cal_ns && name == "calendar-description") return dav::Escape(cal.description);
      if (ns == kApple && name == "calendar-color") {
        if (cal.color.empty()) return std::nullopt;
        return dav::Escape(cal.color);
      }
      if (ns == kApple && name == "calendar-order") {
        if (!cal.sort_order) return std::nullopt;
        return std::to_string(*cal.sort_order);
      }
      if (cal_ns && name == "calendar-timezone") {
        if (cal.timezone.empty()) return std::nullopt;
        return dav::Escape(cal.timezone);
      }
      if (cal_ns && name == "supported-calendar-component-set") {
        std::string out;
        for (const std::string& comp : cal.components) {
          out += "<c:comp name=\"" + dav::Escape(comp) + "\"/>";
        }
        return out;
      }
      if (cal_ns && name == "supported-calendar-data") {
        return std::string("<c:calendar-data content-type=\"text/calendar\" version=\"2.0\"/>");
      }
      if (cal_ns && name == "max-resource-size") return std::to_string(c.options.max_resource_size);
      if (cal_ns && name == "schedule-calendar-transp") {
        return dav::EmptyElement(kCalDav, cal.transparent ? "transparent" : "opaque");
      }
      if (cal_ns && name == "schedule-default-calendar-URL" && cal.kind == "inbox") {
        return HrefEl(CalHref(r.owner.address, "calendar"));
      }
      return std::nullopt;
    }
    case Kind::kObject: {
      const auto& o = *r.obj;
      if (dav_ns && name == "getetag") return dav::Escape("\"" + o.etag + "\"");
      if (dav_ns && name == "getcontenttype") {
        return dav::Escape("text/calendar; charset=utf-8; component=" + absl::AsciiStrToLower(o.component));
      }
      if (dav_ns && name == "getcontentlength") return std::to_string(o.size);
      if (dav_ns && name == "getlastmodified") return HttpDate(r.obj_updated);
      if (dav_ns && name == "creationdate") return IsoDate(r.obj_created);
      if (cal_ns && name == "calendar-data") {
        if (r.access < kRead) return std::nullopt;
        return dav::Escape(CalendarData(c, r));
      }
      return std::nullopt;
    }
    case Kind::kPlain: {
      const Plain& p = *r.plain;
      if (dav_ns && name == "getlastmodified") return HttpDate(p.updated);
      if (dav_ns && name == "creationdate") return IsoDate(p.created);
      if (p.is_collection) return std::nullopt;
      if (dav_ns && name == "getetag") return dav::Escape("\"" + p.etag + "\"");
      if (dav_ns && name == "getcontenttype") {
        return dav::Escape(p.content_type.empty() ? "application/octet-stream" : p.content_type);
      }
      if (dav_ns && name == "getcontentlength") return std::to_string(p.body.size());
      return std::nullopt;
    }
    case Kind::kRoot:
    case Kind::kPrincipals:
    case Kind::kCalendars:
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// The properties allprop / propname list for a resource (live ones that have a value).
std::vector<std::pair<std::string, std::string>> AllPropNames(const Resource& r) {
  std::vector<std::pair<std::string, std::string>> out = {{kDav, "resourcetype"}};
  switch (r.kind) {
    case Kind::kPrincipal:
      out.insert(out.end(), {{kDav, "displayname"},
                             {kDav, "principal-URL"},
                             {kCalDav, "calendar-home-set"},
                             {kCalDav, "calendar-user-address-set"},
                             {kCalDav, "schedule-inbox-URL"},
                             {kCalDav, "schedule-outbox-URL"}});
      break;
    case Kind::kHome:
      out.insert(out.end(), {{kDav, "displayname"}});
      break;
    case Kind::kCalendar:
      out.insert(out.end(), {{kDav, "displayname"},
                             {kDav, "sync-token"},
                             {kCs, "getctag"},
                             {kCalDav, "calendar-description"},
                             {kApple, "calendar-color"},
                             {kApple, "calendar-order"},
                             {kCalDav, "supported-calendar-component-set"},
                             {kCalDav, "max-resource-size"}});
      break;
    case Kind::kObject:
      out.insert(out.end(), {{kDav, "getetag"},
                             {kDav, "getcontenttype"},
                             {kDav, "getcontentlength"},
                             {kDav, "getlastmodified"},
                             {kDav, "creationdate"}});
      break;
    case Kind::kPlain:
      out.insert(out.end(), {{kDav, "getlastmodified"}, {kDav, "creationdate"}});
      if (!r.plain->is_collection) {
        out.insert(out.end(), {{kDav, "getetag"}, {kDav, "getcontenttype"}, {kDav, "getcontentlength"}});
      }
      break;
    default:
      break;
  }
  return out;
}

// One <d:response> for a resource.
std::string PropResponse(const PropCtx& c, const Resource& r, const dav::Propfind& pf) {
  std::vector<std::string> found, missing;
  std::map<std::pair<std::string, std::string>, std::string> dead;
  std::string dead_path = DeadPath(r);
  if (!dead_path.empty()) dead = DeadProps(c.tx, r.owner.id, dead_path);
  auto emit = [&](std::string_view ns, std::string_view name, bool names_only) {
    if (!dead_path.empty()) {
      auto it = dead.find({std::string(ns), std::string(name)});
      if (it != dead.end()) {
        found.push_back(names_only ? dav::EmptyElement(ns, name) : it->second);
        return;
      }
    }
    std::optional<std::string> v = LiveProp(c, r, ns, name);
    if (!v) {
      missing.push_back(dav::EmptyElement(ns, name));
    } else if (names_only || v->empty()) {
      found.push_back(dav::EmptyElement(ns, name));
    } else {
      found.push_back(dav::Element(ns, name, *v));
    }
  };
  if (pf.kind == dav::Propfind::Kind::kProp) {
    for (const dav::Prop& p : pf.props) emit(p.ns, p.name, false);
  } else {
    bool names = pf.kind == dav::Propfind::Kind::kPropname;
    std::set<std::pair<std::string, std::string>> done;
    for (const auto& [ns, name] : AllPropNames(r)) {
      if (!LiveProp(c, r, ns, name)) continue;
      done.insert({ns, name});
      emit(ns, name, names);
    }
    for (const auto& [key, xml] : dead) {
      if (done.insert(key).second) emit(key.first, key.second, names);
    }
    for (const dav::Prop& p : pf.include) {
      if (done.insert({p.ns, p.name}).second) emit(p.ns, p.name, false);
    }
  }
  std::string out = "<d:response>" + HrefEl(r.href);
  if (!found.empty()) {
    out += "<d:propstat><d:prop>" + absl::StrJoin(found, "") + "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>";
  }
  if (!missing.empty()) {
    out += "<d:propstat><d:prop>" + absl::StrJoin(missing, "") +
           "</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>";
  }
  if (found.empty() && missing.empty()) {
    out += "<d:propstat><d:prop/><d:status>HTTP/1.1 200 OK</d:status></d:propstat>";
  }
  out += "</d:response>";
  return out;
}

std::string StatusResponse(std::string_view href, int status) {
  return "<d:response>" + HrefEl(href) + "<d:status>HTTP/1.1 " + std::to_string(status) + " " +
         http::Reason(status) + "</d:status></d:response>";
}

// Children for Depth 1.
// The objects of a resolved calendar `cal` in one query, as Resolve would give them one by
// one (the requester's access is the calendar's). `where` narrows the rows (placeholders $3..;
// `params` supplies them after the account and calendar ids).
template <typename... Params>
std::vector<Resource> ObjectsOf(pqxx::work& tx, const Resource& cal, std::string_view where, Params&&... params) {
  pqxx::result rows = tx.exec_params(
      absl::StrCat("SELECT account_id, calendar_id, id, uri, uid, component, ical, etag, size, organizer, sequence, "
                   "extract(epoch FROM created_at)::bigint, extract(epoch FROM updated_at)::bigint "
                   "FROM calendar_objects WHERE account_id = $1 AND calendar_id = $2 ",
                   AV(where), " ORDER BY uri"),
      cal.owner.id, cal.cal.id, std::forward<Params>(params)...);
  std::vector<Resource> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    Resource o;
    o.kind = Kind::kObject;
    o.owner = cal.owner;
    o.access = cal.access;
    o.grant = cal.grant;
    o.cal = cal.cal;
    o.in_calendar = true;
    calstore::ObjectRow& ob = o.obj.emplace();
    ob.account_id = row[0].as<int64_t>();
    ob.calendar_id = row[1].as<int64_t>();
    ob.id = row[2].as<int64_t>();
    ob.uri = row[3].as<std::string>();
    ob.uid = row[4].as<std::string>();
    ob.component = row[5].as<std::string>();
    ob.ical = row[6].as<std::string>();
    ob.etag = row[7].as<std::string>();
    ob.size = row[8].as<int64_t>();
    ob.organizer = row[9].is_null() ? std::string() : row[9].as<std::string>();
    ob.sequence = row[10].as<int>();
    o.obj_created = row[11].as<int64_t>();
    o.obj_updated = row[12].as<int64_t>();
    o.plain_path = ob.uri;
    o.href = ObjHref(cal.owner.address, cal.cal.uri, ob.uri);
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<Resource> ChildrenOf(pqxx::work& tx, const Identity& who, const Resource& r) {
  std::vector<Resource> out;
  if (r.kind == Kind::kRoot) {
    Resource p = Resolve(tx, who, PrincipalHref(who.address));
    if (p.kind != Kind::kMissing) out.push_back(std::move(p));
    return out;
  }
  if (r.kind == Kind::kHome) {
    for (const calstore::Calendar& cal : Calendars(tx, r.owner.id)) {
      Resource c = Resolve(tx, who, CalHref(r.owner.address, cal.uri));
      if (c.kind == Kind::kCalendar && c.access >= kFreeBusy) out.push_back(std::move(c));
    }
    if (r.grant >= kRead) {
      for (const Plain& p : PlainChildren(tx, r.owner.id, "")) {
        out.push_back(Resolve(tx, who, PlainHref(r.owner.address, p.path, p.is_collection)));
      }
    }
    return out;
  }
  if (r.kind == Kind::kCalendar && r.access >= kRead) return ObjectsOf(tx, r, "");
  if (r.kind == Kind::kPlain && r.plain->is_collection && r.grant >= kRead) {
    for (const Plain& p : PlainChildren(tx, r.owner.id, r.plain_path)) {
      out.push_back(Resolve(tx, who, PlainHref(r.owner.address, p.path, p.is_collection)));
    }
  }
  return out;
}

// ---- request context ---------------------------------------------------------------------
struct Rollback {
  http::Response response;
};

class Request {
 public:
  Request(const http::Request& req, const Identity& who, const HandlerOptions& options, SchedulingHook* hook)
      : req_(req), who_(who), options_(options), hook_(hook) {}

  http::Response Run(pqxx::work& tx);
  std::vector<int64_t> changed;  // accounts whose calendars changed

 private:
  http::Response Options();
  http::Response Propfind(pqxx::work& tx, const Resource& r);
  http::Response Proppatch(pqxx::work& tx, const Resource& r);
  http::Response Mkcol(pqxx::work& tx, const Resource& r, bool mkcalendar);
  http::Response Get(pqxx::work& tx, const Resource& r, bool head);
  http::Response Put(pqxx::work& tx, const Resource& r);
  http::Response Delete(pqxx::work& tx, const Resource& r);
  http::Response CopyMove(pqxx::work& tx, const Resource& r, bool move);
  http::Response Report(pqxx::work& tx, const Resource& r);
  http::Response Post(pqxx::work& tx, const Resource& r);

  http::Response ReportMultiget(pqxx::work& tx, const Resource& r, const dav::Report& rep);
  http::Response ReportQuery(pqxx::work& tx, const Resource& r, const dav::Report& rep);
  http::Response ReportFreeBusy(pqxx::work& tx, const Resource& r, const dav::Report& rep);
  http::Response ReportSync(pqxx::work& tx, const Resource& r, const dav::Report& rep);
  http::Response ReportPrincipalSearch(pqxx::work& tx, const dav::Report& rep);

  // PUT of a calendar object (also COPY/MOVE into a calendar).
  http::Response PutObject(pqxx::work& tx, const Resource& r, std::string_view body, bool run_hook);
  std::optional<http::Response> CheckPreconditions(const std::optional<std::string>& etag);
  std::string Depth(std::string_view dflt) const {
    auto d = req_.Header("depth");
    return d ? Lower(*d) : std::string(dflt);
  }

  const http::Request& req_;
  const Identity& who_;
  const HandlerOptions& options_;
  SchedulingHook* hook_;
};

http::Response Forbidden() { return Simple(403, "Forbidden: not your calendar, and not shared with you"); }
http::Response NotFound() { return Simple(404, "Not found"); }

std::optional<http::Response> Request::CheckPreconditions(const std::optional<std::string>& etag) {
  if (auto im = req_.Header("if-match")) {
    std::string v(absl::StripAsciiWhitespace(*im));
    if (!etag) return Simple(412, "If-Match: no such resource");
    if (v != "*") {
      bool ok = false;
      for (absl::string_view e : absl::StrSplit(v, ',')) {
        std::string t(absl::StripAsciiWhitespace(e));
        if (t.rfind("W/", 0) == 0) continue;  // strong comparison
        if (t == "\"" + *etag + "\"") ok = true;
      }
      if (!ok) return Simple(412, "If-Match: the resource has changed");
    }
  }
  if (auto inm = req_.Header("if-none-match")) {
    std::string v(absl::StripAsciiWhitespace(*inm));
    if (etag) {
      bool hit = v == "*";
      for (absl::string_view e : absl::StrSplit(v, ',')) {
        std::string t(absl::StripAsciiWhitespace(e));
        if (t.rfind("W/", 0) == 0) t = t.substr(2);
        if (t == "\"" + *etag + "\"") hit = true;
      }
      if (hit) {
        if (req_.method == "GET" || req_.method == "HEAD") {
          http::Response r = Simple(304);
          r.Set("ETag", "\"" + *etag + "\"");
          return r;
        }
        return Simple(412, "If-None-Match: the resource exists");
      }
    }
  }
  return std::nullopt;
}

http::Response Request::Options() {
  http::Response r;
  r.status = 200;
  r.Set("DAV", "1, 3, calendar-access, calendar-schedule, extended-mkcol");
  r.Set("Allow", "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, MKCALENDAR, COPY, MOVE, REPORT, POST");
  return r;
}

http::Response Request::Run(pqxx::work& tx) {
  const std::string& m = req_.method;
  if (m == "OPTIONS") return Options();
  if (req_.path.empty()) return Simple(400, "Bad request-target");
  Resource r = Resolve(tx, who_, req_.path);
  if (m == "MKCALENDAR" || m == "MKCOL") return Mkcol(tx, r, m == "MKCALENDAR");
  if (m == "PUT") return Put(tx, r);
  if (r.kind == Kind::kMissing) {
    if (r.owner.id != 0 && r.access == kNone && r.owner.id != who_.account_id) return Forbidden();
    return NotFound();
  }
  if (r.access == kNone) return Forbidden();
  if (m == "PROPFIND") return Propfind(tx, r);
  if (m == "PROPPATCH") return Proppatch(tx, r);
  if (m == "GET" || m == "HEAD") return Get(tx, r, m == "HEAD");
  if (m == "DELETE") return Delete(tx, r);
  if (m == "COPY" || m == "MOVE") return CopyMove(tx, r, m == "MOVE");
  if (m == "REPORT") return Report(tx, r);
  if (m == "POST") return Post(tx, r);
  http::Response resp = Simple(405, "Method not allowed");
  resp.Set("Allow", "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, MKCALENDAR, COPY, MOVE, REPORT");
  return resp;
}

http::Response Request::Propfind(pqxx::work& tx, const Resource& r) {
  std::string depth = Depth("infinity");
  if (depth != "0" && depth != "1") {
    return Precondition(403, kDav, "propfind-finite-depth");
  }
  // Free/busy-only grantees see the calendar collection, never its objects.
  if (r.kind == Kind::kObject && r.access < kRead) return Forbidden();
  auto pf = dav::ParsePropfind(req_.body);
  if (!pf.ok()) return Simple(400, std::string(pf.status().message()));
  PropCtx c{who_, tx, options_};
  std::string body = dav::MultistatusOpen();
  body += PropResponse(c, r, *pf);
  if (depth == "1") {
    for (const Resource& child : ChildrenOf(tx, who_, r)) body += PropResponse(c, child, *pf);
  }
  body += dav::MultistatusClose();
  return XmlResponse(207, std::move(body));
}

bool ProtectedLive(std::string_view ns, std::string_view name) {
  if (ns == kDav) return name != "displayname";  // every other DAV: property is live/protected
  if (ns == kCs && name == "getctag") return true;
  return false;
}

http::Response Request::Proppatch(pqxx::work& tx, const Resource& r) {
  auto pu = dav::ParsePropertyUpdate(req_.body);
  if (!pu.ok()) return Simple(400, std::string(pu.status().message()));
  const bool calendar = r.kind == Kind::kCalendar;
  const bool plain = r.kind == Kind::kPlain;
  if (!calendar && !plain) return Forbidden();
  if (calendar ? r.grant < kWrite : r.grant < kWrite) return Forbidden();
  std::vector<std::pair<const dav::Prop*, int>> results;
  bool failed = false;
  for (const auto& op : pu->ops) {
    const dav::Prop& p = op.prop;
    int status = 200;
    bool cal_prop = calendar && ((p.ns == kDav && p.name == "displayname") ||
                                 (p.ns == kCalDav && (p.name == "calendar-description" || p.name == "calendar-timezone" ||
                                                      p.name == "schedule-calendar-transp")) ||
                                 (p.ns == kApple && (p.name == "calendar-color" || p.name == "calendar-order")));
    if (!cal_prop && (ProtectedLive(p.ns, p.name) || (calendar && p.ns == kCalDav))) status = 403;
    if (cal_prop && !op.remove && p.ns == kApple && p.name == "calendar-order") {
      std::string t(absl::StripAsciiWhitespace(p.text));
      int v = 0;
      if (t.empty() || !absl::SimpleAtoi(t, &v)) status = 409;
    }
    if (cal_prop && !op.remove && p.ns == kCalDav && p.name == "calendar-timezone") {
      calendar::IngestOptions io;
      io.components = {"VTIMEZONE"};
      if (p.text.find("BEGIN:VTIMEZONE") == std::string::npos) status = 409;
    }
    if (status != 200) failed = true;
    results.emplace_back(&p, status);
  }
  if (!failed) {
    for (const auto& op : pu->ops) {
      const dav::Prop& p = op.prop;
      std::string text(absl::StripAsciiWhitespace(p.text));
      if (calendar && p.ns == kDav && p.name == "displayname") {
        tx.exec_params("UPDATE calendars SET display_name = $3 WHERE account_id = $1 AND id = $2", r.owner.id,
                       r.cal.id, op.remove ? std::string() : p.text);
      } else if (calendar && p.ns == kCalDav && p.name == "calendar-description") {
        tx.exec_params("UPDATE calendars SET description = $3 WHERE account_id = $1 AND id = $2", r.owner.id,
                       r.cal.id, op.remove ? std::string() : p.text);
      } else if (calendar && p.ns == kCalDav && p.name == "calendar-timezone") {
        tx.exec_params("UPDATE calendars SET timezone = NULLIF($3, '') WHERE account_id = $1 AND id = $2", r.owner.id,
                       r.cal.id, op.remove ? std::string() : p.text);
      } else if (calendar && p.ns == kCalDav && p.name == "schedule-calendar-transp") {
        bool transparent = false;
        for (const std::string& cn : p.child_names) transparent = transparent || cn == std::string(kCalDav) + "|transparent";
        tx.exec_params("UPDATE calendars SET transparent = $3 WHERE account_id = $1 AND id = $2", r.owner.id, r.cal.id,
                       !op.remove && transparent);
      } else if (calendar && p.ns == kApple && p.name == "calendar-color") {
        tx.exec_params("UPDATE calendars SET color = NULLIF($3, '') WHERE account_id = $1 AND id = $2", r.owner.id,
                       r.cal.id, op.remove ? std::string() : text);
      } else if (calendar && p.ns == kApple && p.name == "calendar-order") {
        std::optional<int> v;
        int n = 0;
        if (!op.remove && absl::SimpleAtoi(text, &n)) v = n;
        tx.exec_params("UPDATE calendars SET sort_order = $3 WHERE account_id = $1 AND id = $2", r.owner.id, r.cal.id,
                       v);
      } else if (op.remove) {
        tx.exec_params("DELETE FROM dav_properties WHERE account_id = $1 AND path = $2 AND namespace = $3 AND name = $4",
                       r.owner.id, DeadPath(r), p.ns, p.name);
      } else {
        tx.exec_params(
            "INSERT INTO dav_properties (account_id, path, namespace, name, xml) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (account_id, path, namespace, name) DO UPDATE SET xml = EXCLUDED.xml",
            r.owner.id, DeadPath(r), p.ns, p.name, p.xml);
      }
    }
  }
  std::string body = dav::MultistatusOpen() + "<d:response>" + HrefEl(r.href);
  for (const auto& [p, status] : results) {
    int s = failed && status == 200 ? 424 : status;
    body += "<d:propstat><d:prop>" + dav::EmptyElement(p->ns, p->name) + "</d:prop><d:status>HTTP/1.1 " +
            std::to_string(s) + " " + http::Reason(s) + "</d:status></d:propstat>";
  }
  body += "</d:response>" + dav::MultistatusClose();
  return XmlResponse(207, std::move(body));
}

http::Response Request::Mkcol(pqxx::work& tx, const Resource& r, bool mkcalendar) {
  if (r.owner.id == 0) return r.kind == Kind::kMissing ? Simple(409, "No such calendar home") : Simple(405, "Exists");
  if (r.grant < kWrite) return Forbidden();
  if (r.kind != Kind::kMissing) {
    return mkcalendar ? Precondition(403, kDav, "resource-must-be-null") : Simple(405, "The resource exists");
  }
  if (!r.parent_exists) return Simple(409, "The parent collection does not exist");
  if (r.in_calendar) return Precondition(403, kCalDav, "calendar-collection-location-ok");
  // A non-XML body is 415 (RFC 4918 9.3.1).
  if (!req_.body.empty()) {
    auto ct = req_.Header("content-type");
    if (!mkcalendar && (!ct || (ct->find("xml") == std::string::npos))) {
      return Simple(415, "MKCOL with a body other than an extended MKCOL XML body");
    }
  }
  auto body = dav::ParseMkcol(req_.body, mkcalendar);
  if (!body.ok()) return Simple(mkcalendar ? 400 : 415, std::string(body.status().message()));
  const bool at_home = r.plain_path.find('/') == std::string::npos;
  if (!body->calendar) {
    // Plain WebDAV collection.
    tx.exec_params("INSERT INTO dav_resources (account_id, path, is_collection) VALUES ($1, $2, true)", r.owner.id,
                   r.plain_path);
    for (const dav::Prop& p : body->set) {
      if (p.ns == kDav && p.name == "resourcetype") continue;
      tx.exec_params(
          "INSERT INTO dav_properties (account_id, path, namespace, name, xml) VALUES ($1, $2, $3, $4, $5) "
          "ON CONFLICT (account_id, path, namespace, name) DO UPDATE SET xml = EXCLUDED.xml",
          r.owner.id, r.plain_path, p.ns, p.name, p.xml);
    }
    http::Response resp = Simple(201);
    resp.Set("Location", PlainHref(r.owner.address, r.plain_path, true));
    return resp;
  }
  if (!at_home) return Precondition(403, kCalDav, "calendar-collection-location-ok");
  std::string display, description, color, timezone;
  std::optional<int> order;
  std::vector<std::string> components = {"VEVENT", "VTODO"};
  bool transparent = false;
  std::vector<std::pair<const dav::Prop*, int>> results;
  bool failed = false;
  for (const dav::Prop& p : body->set) {
    int status = 200;
    if (p.ns == kDav && p.name == "displayname") {
      display = p.text;
    } else if (p.ns == kDav && p.name == "resourcetype") {
    } else if (p.ns == kCalDav && p.name == "calendar-description") {
      description = p.text;
    } else if (p.ns == kCalDav && p.name == "calendar-timezone") {
      timezone = p.text;
    } else if (p.ns == kApple && p.name == "calendar-color") {
      color = std::string(absl::StripAsciiWhitespace(p.text));
    } else if (p.ns == kApple && p.name == "calendar-order") {
      int n = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(p.text), &n)) order = n;
    } else if (p.ns == kCalDav && p.name == "schedule-calendar-transp") {
      for (const std::string& cn : p.child_names) transparent = transparent || cn == std::string(kCalDav) + "|transparent";
    } else if (p.ns == kCalDav && p.name == "supported-calendar-component-set") {
      components.clear();
      for (const std::string& cn : p.child_names) {
        std::vector<std::string> parts = absl::StrSplit(cn, '|');
        if (parts.size() == 3 && parts[0] == kCalDav && parts[1] == "comp") {
          std::string comp = absl::AsciiStrToUpper(parts[2]);
          if (comp == "VEVENT" || comp == "VTODO" || comp == "VJOURNAL" || comp == "VFREEBUSY") {
            components.push_back(comp);
          } else {
            status = 403;
          }
        }
      }
      if (components.empty()) status = 403;
    } else if (ProtectedLive(p.ns, p.name) || p.ns == kCalDav) {
      status = 403;
    }
    if (status != 200) failed = true;
    results.emplace_back(&p, status);
  }
  if (failed) {
    std::string root = mkcalendar ? "<c:mkcalendar-response xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">"
                                  : "<d:mkcol-response xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">";
    std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" + root;
    for (const auto& [p, status] : results) {
      int s = status == 200 ? 424 : status;
      out += "<d:propstat><d:prop>" + dav::EmptyElement(p->ns, p->name) + "</d:prop><d:status>HTTP/1.1 " +
             std::to_string(s) + " " + http::Reason(s) + "</d:status></d:propstat>";
    }
    out += mkcalendar ? "</c:mkcalendar-response>" : "</d:mkcol-response>";
    return XmlResponse(403, out);
  }
  std::string comps = "{" + absl::StrJoin(components, ",") + "}";
  pqxx::result ins = tx.exec_params(
      "INSERT INTO calendars (account_id, uri, kind, display_name, description, color, sort_order, timezone, "
      "components, transparent) VALUES ($1, $2, 'calendar', $3, $4, NULLIF($5, ''), $6, NULLIF($7, ''), $8::text[], $9) "
      "RETURNING id",
      r.owner.id, r.plain_path, display, description, color, order, timezone, comps, transparent);
  for (const dav::Prop& p : body->set) {
    if (p.ns == kDav || p.ns == kCalDav || p.ns == kApple) continue;
    tx.exec_params(
        "INSERT INTO dav_properties (account_id, path, namespace, name, xml) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (account_id, path, namespace, name) DO UPDATE SET xml = EXCLUDED.xml",
        r.owner.id, r.plain_path, p.ns, p.name, p.xml);
  }
  http::Response resp = Simple(201);
  resp.Set("Location", CalHref(r.owner.address, r.plain_path));
  return resp;
}

http::Response Request::Get(pqxx::work& tx, const Resource& r, bool head) {
  (void)tx;
  (void)head;
  if (r.kind == Kind::kObject) {
    if (r.access < kRead) return Forbidden();
    if (auto pre = CheckPreconditions(r.obj->etag)) return *pre;
    http::Response resp;
    resp.Set("Content-Type", "text/calendar; charset=utf-8");
    resp.Set("ETag", "\"" + r.obj->etag + "\"");
    resp.Set("Last-Modified", HttpDate(r.obj_updated));
    resp.body = r.obj->ical;
    return resp;
  }
  if (r.kind == Kind::kPlain && !r.plain->is_collection) {
    if (r.access < kRead) return Forbidden();
    if (auto pre = CheckPreconditions(r.plain->etag)) return *pre;
    http::Response resp;
    resp.Set("Content-Type", r.plain->content_type.empty() ? "application/octet-stream" : r.plain->content_type);
    resp.Set("ETag", "\"" + r.plain->etag + "\"");
    resp.Set("Last-Modified", HttpDate(r.plain->updated));
    resp.body = r.plain->body;
    return resp;
  }
  if (r.access < kFreeBusy) return Forbidden();
  http::Response resp;
  resp.Set("Content-Type", "text/plain; charset=utf-8");
  resp.body = "Kite CalDAV collection: use a CalDAV client.\n";
  return resp;
}

http::Response Request::PutObject(pqxx::work& tx, const Resource& r, std::string_view body, bool run_hook) {
  if (body.size() > options_.max_resource_size) return Precondition(403, kCalDav, "max-resource-size");
  if (r.cal.kind != "calendar") return Forbidden();
  calendar::IngestOptions io;
  io.max_bytes = options_.max_resource_size;
  io.components = r.cal.components;
  io.floating_tz = FloatingTz(r.cal);
  calendar::IngestError err;
  std::optional<calendar::Object> obj = calendar::Ingest(body, io, &err);
  if (!obj) {
    return Precondition(403, kCalDav, calendar::PreconditionName(err.precondition));
  }
  // RFC 4791 5.3.2.1: UID unique within the calendar.
  pqxx::result dup = tx.exec_params(
      "SELECT uri FROM calendar_objects WHERE account_id = $1 AND calendar_id = $2 AND uid = $3 AND uri <> $4",
      r.owner.id, r.cal.id, obj->uid, r.plain_path);
  if (!dup.empty()) {
    return Precondition(409, kCalDav, "no-uid-conflict",
                        HrefEl(ObjHref(r.owner.address, r.cal.uri, dup[0][0].as<std::string>())));
  }
  std::string text(body);
  bool changed_by_hook = false;
  if (run_hook && hook_ != nullptr) {
    std::optional<calendar::Object> previous;
    if (r.obj) previous = calendar::Load(r.obj->ical);
    ScheduleContext sc{r.owner.id, r.owner.address, who_.account_id, who_.address, r.cal.id, r.plain_path};
    std::string before = calendar::Serialize(obj->root.get());
    absl::Status st = hook_->BeforePut(tx, sc, previous ? &*previous : nullptr, *obj);
    if (!st.ok()) {
      log::Warn("caldav.schedule_error").Kv("account", r.owner.id).Kv("error", st.message());
      throw Rollback{Simple(absl::IsUnavailable(st) ? 503 : 500, "Scheduling failed")};
    }
    std::string after = calendar::Serialize(obj->root.get());
    if (after != before) {
      text = after;
      changed_by_hook = true;
    }
  }
  calstore::PutResult pr = calstore::PutObjectTx(tx, r.owner.id, r.cal.id, r.plain_path, *obj, text);
  changed.push_back(r.owner.id);
  http::Response resp = Simple(pr.created ? 201 : 204);
  if (!changed_by_hook) resp.Set("ETag", "\"" + pr.etag + "\"");
  return resp;
}

http::Response Request::Put(pqxx::work& tx, const Resource& r) {
  if (r.owner.id == 0) return r.kind == Kind::kMissing ? Simple(409, "No such collection") : Simple(405, "Not allowed");
  if (r.in_calendar) {
    if (r.access < kWrite) return Forbidden();
    if (auto pre = CheckPreconditions(r.obj ? std::optional<std::string>(r.obj->etag) : std::nullopt)) return *pre;
    if (r.cal.kind != "calendar") return Forbidden();
    auto ct = req_.Header("content-type");
    if (ct && Lower(*ct).find("text/calendar") == std::string::npos) {
      return Precondition(403, kCalDav, "supported-calendar-data");
    }
    return PutObject(tx, r, req_.body, true);
  }
  if (r.kind == Kind::kPlain || (r.kind == Kind::kMissing && !r.plain_path.empty())) {
    if (r.grant < kWrite) return Forbidden();
    if (r.kind == Kind::kPlain && r.plain->is_collection) return Simple(405, "PUT on a collection");
    if (r.kind == Kind::kMissing && !r.parent_exists) return Simple(409, "The parent collection does not exist");
    if (auto pre = CheckPreconditions(r.plain ? std::optional<std::string>(r.plain->etag) : std::nullopt)) return *pre;
    if (req_.body.size() > options_.max_resource_size) return Simple(413, "Too large");
    std::string etag = Sha(req_.body);
    std::string ct = req_.Header("content-type").value_or("application/octet-stream");
    tx.exec_params(
        "INSERT INTO dav_resources (account_id, path, is_collection, body, content_type, etag) "
        "VALUES ($1, $2, false, $3, $4, $5) ON CONFLICT (account_id, path) DO UPDATE SET body = EXCLUDED.body, "
        "content_type = EXCLUDED.content_type, etag = EXCLUDED.etag, updated_at = now()",
        r.owner.id, r.plain_path, pqxx::binarystring(req_.body.data(), req_.body.size()), ct, etag);
    http::Response resp = Simple(r.kind == Kind::kPlain ? 204 : 201);
    resp.Set("ETag", "\"" + etag + "\"");
    return resp;
  }
  if (r.kind == Kind::kMissing) return Simple(409, "No such collection");
  return Simple(405, "PUT is for calendar objects and files");
}

void DeletePlainTree(pqxx::work& tx, int64_t account, const std::string& path) {
  tx.exec_params("DELETE FROM dav_resources WHERE account_id = $1 AND (path = $2 OR left(path, length($2) + 1) = $2 || '/')",
                 account, path);
  tx.exec_params("DELETE FROM dav_properties WHERE account_id = $1 AND (path = $2 OR left(path, length($2) + 1) = $2 || '/')",
                 account, path);
}

http::Response Request::Delete(pqxx::work& tx, const Resource& r) {
  if (r.kind == Kind::kObject) {
    if (r.access < kWrite) return Forbidden();
    if (auto pre = CheckPreconditions(r.obj->etag)) return *pre;
    if (hook_ != nullptr && r.cal.kind == "calendar") {
      if (auto previous = calendar::Load(r.obj->ical)) {
        ScheduleContext sc{r.owner.id, r.owner.address, who_.account_id, who_.address, r.cal.id, r.obj->uri};
        absl::Status st = hook_->BeforeDelete(tx, sc, *previous);
        if (!st.ok()) throw Rollback{Simple(absl::IsUnavailable(st) ? 503 : 500, "Scheduling failed")};
      }
    }
    calstore::DeleteObjectTx(tx, r.owner.id, r.cal.id, r.obj->uri);
    changed.push_back(r.owner.id);
    return Simple(204);
  }
  if (r.kind == Kind::kCalendar) {
    if (r.grant < kWrite) return Forbidden();
    if (r.cal.kind != "calendar") return Simple(403, "The scheduling inbox and outbox cannot be deleted");
    if (req_.Header("if-match")) return Simple(412, "If-Match on a collection");
    tx.exec_params("DELETE FROM calendars WHERE account_id = $1 AND id = $2", r.owner.id, r.cal.id);
    tx.exec_params("DELETE FROM dav_properties WHERE account_id = $1 AND path = $2", r.owner.id, r.cal.uri);
    changed.push_back(r.owner.id);
    return Simple(204);
  }
  if (r.kind == Kind::kPlain) {
    if (r.grant < kWrite) return Forbidden();
    if (auto pre = CheckPreconditions(r.plain->is_collection ? std::nullopt : std::optional<std::string>(r.plain->etag))) {
      return *pre;
    }
    DeletePlainTree(tx, r.owner.id, r.plain_path);
    return Simple(204);
  }
  return Simple(403, "This resource cannot be deleted");
}

http::Response Request::CopyMove(pqxx::work& tx, const Resource& r, bool move) {
  auto dest_header = req_.Header("destination");
  if (!dest_header) return Simple(400, "Destination missing");
  auto dest_path = HrefPath(*dest_header);
  if (!dest_path) return Simple(400, "Bad Destination");
  Resource d = Resolve(tx, who_, *dest_path);
  bool overwrite = Lower(req_.Header("overwrite").value_or("T")) != "f";
  if (d.owner.id == 0) return Simple(d.kind == Kind::kMissing ? 409 : 403, "Bad destination");
  if (d.href == r.href || (d.kind == r.kind && d.kind == Kind::kPlain && d.plain_path == r.plain_path)) {
    return Simple(403, "Source and destination are the same");
  }
  // Calendar objects: between calendars the requester may write.
  if (r.kind == Kind::kObject) {
    if (r.access < kRead || (move && r.access < kWrite)) return Forbidden();
    if (!d.in_calendar) return Simple(d.kind == Kind::kMissing && !d.parent_exists ? 409 : 403,
                                      "A calendar object can only go into a calendar");
    if (d.access < kWrite) return Forbidden();
    bool existed = d.kind == Kind::kObject;
    if (existed && !overwrite) return Simple(412, "The destination exists");
    std::string ical = r.obj->ical;
    if (move) {
      calstore::DeleteObjectTx(tx, r.owner.id, r.cal.id, r.obj->uri);
      changed.push_back(r.owner.id);
    }
    http::Response resp = PutObject(tx, d, ical, false);
    if (resp.status >= 300) throw Rollback{resp};
    resp.status = existed ? 204 : 201;
    return resp;
  }
  if (r.kind == Kind::kPlain) {
    if (r.grant < kWrite && move) return Forbidden();
    if (d.owner.id != r.owner.id || d.grant < kWrite) return Forbidden();
    if (d.in_calendar || d.kind == Kind::kCalendar || d.kind == Kind::kHome) {
      return Simple(403, "Plain resources cannot go there");
    }
    if (d.kind == Kind::kMissing && !d.parent_exists) return Simple(409, "The destination's parent does not exist");
    // The destination may not be inside the source.
    if (d.plain_path.rfind(r.plain_path + "/", 0) == 0) return Simple(403, "Destination inside the source");
    bool existed = d.kind == Kind::kPlain;
    if (existed && !overwrite) return Simple(412, "The destination exists");
    if (existed) DeletePlainTree(tx, d.owner.id, d.plain_path);
    std::string depth = Depth("infinity");
    const std::string& src = r.plain_path;
    const std::string& dst = d.plain_path;
    if (move) {
      tx.exec_params(
          "UPDATE dav_resources SET path = $3 || substr(path, length($2) + 1) WHERE account_id = $1 AND "
          "(path = $2 OR left(path, length($2) + 1) = $2 || '/')",
          r.owner.id, src, dst);
      tx.exec_params(
          "UPDATE dav_properties SET path = $3 || substr(path, length($2) + 1) WHERE account_id = $1 AND "
          "(path = $2 OR left(path, length($2) + 1) = $2 || '/')",
          r.owner.id, src, dst);
    } else {
      bool shallow = r.plain->is_collection && depth == "0";
      std::string where = shallow ? "path = $2" : "(path = $2 OR left(path, length($2) + 1) = $2 || '/')";
      tx.exec_params("INSERT INTO dav_resources (account_id, path, is_collection, body, content_type, etag) "
                     "SELECT account_id, $3 || substr(path, length($2) + 1), is_collection, body, content_type, etag "
                     "FROM dav_resources WHERE account_id = $1 AND " + where,
                     r.owner.id, src, dst);
      tx.exec_params("INSERT INTO dav_properties (account_id, path, namespace, name, xml) "
                     "SELECT account_id, $3 || substr(path, length($2) + 1), namespace, name, xml "
                     "FROM dav_properties WHERE account_id = $1 AND " + where,
                     r.owner.id, src, dst);
    }
    http::Response resp = Simple(existed ? 204 : 201);
    if (!existed) resp.Set("Location", PlainHref(d.owner.address, dst, r.plain->is_collection));
    return resp;
  }
  return Simple(403, "COPY and MOVE of calendars are not supported");
}

http::Response Request::Report(pqxx::work& tx, const Resource& r) {
  auto rep = dav::ParseReport(req_.body);
  if (!rep.ok()) return Simple(400, std::string(rep.status().message()));
  switch (rep->kind) {
    case dav::Report::Kind::kMultiget:
      return ReportMultiget(tx, r, *rep);
    case dav::Report::Kind::kQuery:
      return ReportQuery(tx, r, *rep);
    case dav::Report::Kind::kFreeBusy:
      return ReportFreeBusy(tx, r, *rep);
    case dav::Report::Kind::kSync:
      return ReportSync(tx, r, *rep);
    case dav::Report::Kind::kPrincipalPropertySearch:
      return ReportPrincipalSearch(tx, *rep);
    default:
      return Precondition(403, kDav, "supported-report");
  }
}

http::Response Request::ReportMultiget(pqxx::work& tx, const Resource& r, const dav::Report& rep) {
  if (r.kind != Kind::kCalendar && r.kind != Kind::kHome) return Precondition(403, kDav, "supported-report");
  PropCtx c{who_, tx, options_, &rep.calendar_data};
  std::string body = dav::MultistatusOpen();
  for (const std::string& href : rep.hrefs) {
    auto path = HrefPath(href);
    if (!path) {
      body += StatusResponse(href, 404);
      continue;
    }
    Resource o = Resolve(tx, who_, *path);
    if (o.kind != Kind::kObject) {
      body += StatusResponse(href, 404);
    } else if (o.access < kRead) {
      body += StatusResponse(href, 403);
    } else {
      body += PropResponse(c, o, rep.propfind);
    }
  }
  body += dav::MultistatusClose();
  return XmlResponse(207, std::move(body));
}

http::Response Request::ReportQuery(pqxx::work& tx, const Resource& r, const dav::Report& rep) {
  if (r.kind != Kind::kCalendar) return Precondition(403, kDav, "supported-report");
  if (r.access < kRead) return Forbidden();
  if (rep.filter.name != "VCALENDAR") return Precondition(403, kCalDav, "valid-filter");
  // Index pre-filter: the component type and the time range of the first-level comp-filter.
  std::string component;
  std::optional<int64_t> start, end;
  if (rep.filter.comp_filters.size() == 1 && !rep.filter.comp_filters[0].is_not_defined) {
    const calendar::CompFilter& cf = rep.filter.comp_filters[0];
    component = cf.name;
    if (cf.time_range) {
      start = cf.time_range->start;
      end = cf.time_range->end;
    }
  }
  for (const auto& cf : rep.filter.comp_filters) {
    for (const auto& pf : cf.prop_filters) {
      if (pf.text_match && pf.text_match->collation != "i;ascii-casemap" && pf.text_match->collation != "i;octet") {
        return Precondition(403, kCalDav, "supported-collation");
      }
    }
  }
  std::vector<Resource> objects =
      ObjectsOf(tx, r,
                "AND ($3 = '' OR component = $3) "
                "AND ($5::bigint IS NULL OR first_start IS NULL OR first_start <= to_timestamp($5)) "
                "AND ($4::bigint IS NULL OR last_end IS NULL OR last_end >= to_timestamp($4))",
                component, start, end);
  PropCtx c{who_, tx, options_, &rep.calendar_data};
  std::string body = dav::MultistatusOpen();
  const std::string floating = FloatingTz(r.cal);
  for (const Resource& o : objects) {
    auto obj = calendar::Load(o.obj->ical, floating);
    if (!obj || !calendar::Matches(*obj, rep.filter)) continue;
    c.parsed = &*obj;  // calendar-data with expand / limit-recurrence-set reuses this parse
    body += PropResponse(c, o, rep.propfind);
    c.parsed = nullptr;
  }
  body += dav::MultistatusClose();
  return XmlResponse(207, std::move(body));
}

http::Response Request::ReportFreeBusy(pqxx::work& tx, const Resource& r, const dav::Report& rep) {
  if (r.kind != Kind::kCalendar) return Precondition(403, kDav, "supported-report");
  if (r.access < kFreeBusy) return Forbidden();
  if (!rep.time_range.start || !rep.time_range.end || *rep.time_range.end <= *rep.time_range.start) {
    return Simple(400, "free-busy-query needs a time-range with start and end");
  }
  int64_t start = *rep.time_range.start, end = *rep.time_range.end;
  pqxx::result rows = tx.exec_params(
      "SELECT ical FROM calendar_objects WHERE account_id = $1 AND calendar_id = $2 AND component IN ('VEVENT', "
      "'VFREEBUSY') AND (first_start IS NULL OR first_start <= to_timestamp($4)) "
      "AND (last_end IS NULL OR last_end >= to_timestamp($3))",
      r.owner.id, r.cal.id, start, end);
  std::vector<calendar::BusyPeriod> busy;
  for (const auto& row : rows) {
    if (auto obj = calendar::Load(row[0].as<std::string>(), FloatingTz(r.cal))) calendar::AppendBusy(*obj, start, end, &busy);
  }
  calendar::FreeBusyReply reply;
  reply.dtstamp = static_cast<int64_t>(time(nullptr));
  http::Response resp;
  resp.Set("Content-Type", "text/calendar; charset=utf-8");
  resp.body = calendar::FreeBusyToText(calendar::MergeBusy(std::move(busy)), start, end, reply);
  return resp;
}

http::Response Request::ReportSync(pqxx::work& tx, const Resource& r, const dav::Report& rep) {
  if (r.kind != Kind::kCalendar) return Precondition(403, kDav, "supported-report");
  if (r.access < kRead) return Forbidden();
  if (!rep.sync_level.empty() && rep.sync_level != "1") {
    return Precondition(403, kDav, "supported-report");  // infinite: calendars have no sub-collections
  }
  int64_t since = 0;
  if (!rep.sync_token.empty()) {
    std::string t(absl::StripAsciiWhitespace(rep.sync_token));
    if (t.rfind(options_.sync_prefix, 0) != 0 || !absl::SimpleAtoi(t.substr(options_.sync_prefix.size()), &since) ||
        since < 0 || since > r.cal.sync_token) {
      return Precondition(403, kDav, "valid-sync-token");
    }
  }
  struct Change {
    std::string uri;
    int64_t token;
  };
  std::vector<Change> changes;
  if (since == 0) {
    pqxx::result rows = tx.exec_params(
        "SELECT uri FROM calendar_objects WHERE account_id = $1 AND calendar_id = $2 ORDER BY uri", r.owner.id,
        r.cal.id);
    for (const auto& row : rows) changes.push_back({row[0].as<std::string>(), r.cal.sync_token});
  } else {
    pqxx::result rows = tx.exec_params(
        "SELECT uri, max(token) AS t FROM calendar_changes WHERE account_id = $1 AND calendar_id = $2 AND token > $3 "
        "GROUP BY uri ORDER BY t",
        r.owner.id, r.cal.id, since);
    for (const auto& row : rows) changes.push_back({row[0].as<std::string>(), row[1].as<int64_t>()});
  }
  int64_t new_token = r.cal.sync_token;
  bool truncated = false;
  if (rep.limit && changes.size() > static_cast<size_t>(*rep.limit) && since > 0) {
    changes.resize(static_cast<size_t>(*rep.limit));
    new_token = changes.empty() ? since : changes.back().token;
    truncated = true;
  }
  PropCtx c{who_, tx, options_, &rep.calendar_data};
  std::string body = dav::MultistatusOpen();
  for (const Change& ch : changes) {
    std::string href = ObjHref(r.owner.address, r.cal.uri, ch.uri);
    Resource o = Resolve(tx, who_, href);
    if (o.kind == Kind::kObject) {
      body += PropResponse(c, o, rep.propfind);
    } else {
      body += StatusResponse(href, 404);
    }
  }
  if (truncated) body += StatusResponse(r.href, 507);
  body += dav::Element(kDav, "sync-token", dav::Escape(SyncToken(options_, new_token)));
  body += dav::MultistatusClose();
  return XmlResponse(207, std::move(body));
}

http::Response Request::ReportPrincipalSearch(pqxx::work& tx, const dav::Report& rep) {
  // displayname and calendar-user-address-set (and email) substring matches, case-insensitive.
  std::vector<std::string> conds;
  std::vector<std::string> values;
  for (const auto& m : rep.matches) {
    std::string text = Lower(m.text);
    if (text.rfind("mailto:", 0) == 0) text = text.substr(7);
    for (const dav::Prop& p : m.props) {
      if (p.ns == kDav && p.name == "displayname") {
        values.push_back(text);
        conds.push_back("position($" + std::to_string(values.size()) + " IN lower(display_name)) > 0");
      } else if ((p.ns == kCalDav && p.name == "calendar-user-address-set") ||
                 (p.ns == kCs && p.name == "email-address-set")) {
        values.push_back(text);
        conds.push_back("position($" + std::to_string(values.size()) + " IN address) > 0");
      }
    }
  }
  std::string body = dav::MultistatusOpen();
  if (!conds.empty() && values.size() <= 8) {
    std::string sql = "SELECT address FROM accounts WHERE enabled AND (" +
                      absl::StrJoin(conds, rep.test_anyof ? " OR " : " AND ") + ")";
    // exec_params takes its arguments at compile time: pad to 8, every one referenced.
    for (size_t k = values.size() + 1; k <= 8; ++k) sql += " AND $" + std::to_string(k) + "::text IS NOT NULL";
    sql += " ORDER BY address LIMIT 50";
    values.resize(8);
    pqxx::result rows = tx.exec_params(sql, values[0], values[1], values[2], values[3], values[4],
                          values[5], values[6], values[7]);
    PropCtx c{who_, tx, options_};
    for (const auto& row : rows) {
      Resource p = Resolve(tx, who_, PrincipalHref(row[0].as<std::string>()));
      if (p.kind == Kind::kPrincipal) body += PropResponse(c, p, rep.propfind);
    }
  }
  body += dav::MultistatusClose();
  return XmlResponse(207, std::move(body));
}

http::Response Request::Post(pqxx::work& tx, const Resource& r) {
  (void)tx;
  if (r.kind != Kind::kCalendar || r.cal.kind != "outbox") return Simple(405, "POST only to the scheduling outbox");
  if (r.access < kWrite) return Forbidden();
  if (hook_ == nullptr) return Simple(501, "Scheduling is not enabled");
  calendar::IngestOptions io;
  io.max_bytes = options_.max_resource_size;
  io.components = {"VFREEBUSY", "VEVENT", "VTODO"};
  io.allow_method = true;
  calendar::IngestError err;
  auto obj = calendar::Ingest(req_.body, io, &err);
  if (!obj) return Precondition(400, kCalDav, calendar::PreconditionName(err.precondition));
  ScheduleContext sc{r.owner.id, r.owner.address, who_.account_id, who_.address, 0, ""};
  absl::StatusOr<std::string> out = hook_->OutboxPost(sc, *obj);
  if (!out.ok()) return Simple(absl::IsInvalidArgument(out.status()) ? 400 : 503, std::string(out.status().message()));
  return XmlResponse(200, *out);
}

}  // namespace

http::Response DavHandler::Handle(const http::Request& request, const Identity& who) {
  std::vector<int64_t> changed;
  std::optional<http::Response> rolled_back;
  absl::StatusOr<http::Response> resp = pool_.Transact([&](pqxx::work& tx) -> absl::StatusOr<http::Response> {
    if (before_attempt_) before_attempt_();
    Request r(request, who, options_, hook_);
    try {
      http::Response out = r.Run(tx);
      changed = r.changed;
      return out;
    } catch (Rollback& rb) {
      rolled_back = std::move(rb.response);
      return absl::AbortedError("rolled back");
    }
  });
  if (rolled_back) return *rolled_back;
  if (!resp.ok()) {
    log::Warn("caldav.store_error").Kv("method", request.method).Kv("error", resp.status().message());
    if (absl::IsAlreadyExists(resp.status())) return Simple(409, "Conflict with a concurrent change");
    return Simple(503, "Storage unavailable, try again");
  }
  if (on_change_) {
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    for (int64_t a : changed) on_change_(a);
  }
  if (after_commit_) after_commit_();
  return std::move(*resp);
}

}  // namespace kite::caldav
