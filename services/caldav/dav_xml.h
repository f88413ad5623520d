// WebDAV and CalDAV request bodies as structs, and the multistatus writer: pure, with
// libxml2 (RFC 4918, 4791, 5689, 6578, 3744 principal-property-search).
//
// Untrusted input: request bodies (bounded by the HTTP layer, and by kMaxXml here). libxml2
// parses with XML_PARSE_NONET and without XML_PARSE_NOENT / DTDLOAD / DTDATTR: no network,
// no entity expansion, no external DTD. Depth and element counts are bounded while walking.
// Fuzzed: tests/fuzz/caldav/caldav_xml_fuzz.cc.
#ifndef KITE_SERVICES_CALDAV_DAV_XML_H_
#define KITE_SERVICES_CALDAV_DAV_XML_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/calendar/calendar.h"

namespace kite::caldav::dav {

inline constexpr char kDav[] = "DAV:";
inline constexpr char kCalDav[] = "urn:ietf:params:xml:ns:caldav";
inline constexpr char kCs[] = "http://calendarserver.org/ns/";
inline constexpr char kApple[] = "http://apple.com/ns/ical/";
inline constexpr size_t kMaxXml = 1 << 20;

struct Prop {
  std::string ns;    // namespace URI, "" = none
  std::string name;  // local name
  std::string text;  // concatenated text content (PROPPATCH set, MKCALENDAR)
  std::string xml;   // the element re-serialized with explicit namespaces (dead properties)
  bool has_children = false;  // element children (e.g. resourcetype, supported-calendar-component-set)
  std::vector<std::string> child_names;  // "ns|local" of element children, and their name attributes for comp
  bool operator==(const Prop& o) const { return ns == o.ns && name == o.name; }
};

struct Propfind {
  enum class Kind { kAllprop, kPropname, kProp } kind = Kind::kAllprop;
  std::vector<Prop> props;    // kProp: the properties asked for
  std::vector<Prop> include;  // kAllprop: DAV:include
};

struct PropertyUpdate {
  struct Op {
    bool remove = false;
    Prop prop;
  };
  std::vector<Op> ops;  // in document order
};

// MKCALENDAR (RFC 4791 5.3.1) and extended MKCOL (RFC 5689): the properties to set.
struct MkcolBody {
  std::vector<Prop> set;
  bool calendar = false;  // resourcetype contains CALDAV:calendar (MKCOL) / always for MKCALENDAR
};

struct CalendarData {
  bool present = false;
  std::optional<calendar::TimeRange> expand;
  std::optional<calendar::TimeRange> limit_recurrence_set;
};

struct Report {
  enum class Kind { kMultiget, kQuery, kFreeBusy, kSync, kPrincipalPropertySearch, kExpandProperty, kOther } kind =
      Kind::kOther;
  std::string root_ns, root_name;
  Propfind propfind;       // what to return per response
  CalendarData calendar_data;
  std::vector<std::string> hrefs;  // multiget (as sent)
  calendar::CompFilter filter;     // query
  bool has_filter = false;
  calendar::TimeRange time_range;  // free-busy-query
  std::string sync_token;          // sync-collection ("" = initial)
  std::string sync_level;          // "1" or "infinite"
  std::optional<int64_t> limit;    // sync-collection DAV:limit/nresults
  struct Match {
    std::vector<Prop> props;
    std::string text;
  };
  std::vector<Match> matches;  // principal-property-search
  bool test_anyof = false;
};

absl::StatusOr<Propfind> ParsePropfind(std::string_view body);  // empty body = allprop
absl::StatusOr<PropertyUpdate> ParsePropertyUpdate(std::string_view body);
absl::StatusOr<MkcolBody> ParseMkcol(std::string_view body, bool mkcalendar);  // empty body: nothing set
absl::StatusOr<Report> ParseReport(std::string_view body);

// "20261123T120000Z" -> UTC seconds.
std::optional<int64_t> ParseUtcTime(std::string_view s);

// ---- output ---------------------------------------------------------------------------
std::string Escape(std::string_view text);  // &, <, >, " escaped; invalid XML chars dropped
// <d:getetag>inner</d:getetag> with our prefixes for DAV:, CalDAV, CS and Apple, an inline
// xmlns for other namespaces, none for "".
std::string Element(std::string_view ns, std::string_view name, std::string_view inner);
std::string EmptyElement(std::string_view ns, std::string_view name);
// The XML declaration and <d:multistatus> with all our prefixes declared.
std::string MultistatusOpen();
std::string MultistatusClose();
// A DAV:error body with one precondition element (RFC 4918 16) and optional inner XML.
std::string ErrorBody(std::string_view ns, std::string_view name, std::string_view inner = "");

}  // namespace kite::caldav::dav

#endif  // KITE_SERVICES_CALDAV_DAV_XML_H_
