#include "caldav/dav_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cstring>
#include <memory>

namespace kite::caldav::dav {

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxItems = 10000;

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using Doc = std::unique_ptr<xmlDoc, DocFree>;

absl::StatusOr<Doc> ParseDoc(std::string_view body) {
  if (body.size() > kMaxXml) return absl::InvalidArgumentError("XML body too large");
  if (body.size() > static_cast<size_t>(INT32_MAX)) return absl::InvalidArgumentError("XML body too large");
  // No XML_PARSE_NOENT (entities stay unexpanded), no DTDLOAD/DTDATTR, no network.
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if (ctxt == nullptr) return absl::ResourceExhaustedError("no XML parser");
  xmlDoc* d = xmlCtxtReadMemory(ctxt, body.data(), static_cast<int>(body.size()), "body.xml", nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
  // Namespace errors (xmlns:x="") are recoverable for libxml2; not for WebDAV (RFC 4918 8.2).
  const bool ns_ok = ctxt->nsWellFormed != 0 && ctxt->wellFormed != 0;
  xmlFreeParserCtxt(ctxt);
  if (d == nullptr || xmlDocGetRootElement(d) == nullptr || !ns_ok) {
    if (d != nullptr) xmlFreeDoc(d);
    return absl::InvalidArgumentError("malformed XML body");
  }
  return Doc(d);
}

std::string Ns(const xmlNode* n) {
  return n->ns != nullptr && n->ns->href != nullptr ? reinterpret_cast<const char*>(n->ns->href) : "";
}
std::string Name(const xmlNode* n) { return reinterpret_cast<const char*>(n->name); }
bool Is(const xmlNode* n, std::string_view ns, std::string_view name) {
  return n != nullptr && n->type == XML_ELEMENT_NODE && Ns(n) == ns && Name(n) == name;
}
std::vector<const xmlNode*> Children(const xmlNode* n) {
  std::vector<const xmlNode*> out;
  for (const xmlNode* c = n->children; c != nullptr && out.size() < kMaxItems; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) out.push_back(c);
  }
  return out;
}
const xmlNode* Child(const xmlNode* n, std::string_view ns, std::string_view name) {
  for (const xmlNode* c : Children(n)) {
    if (Is(c, ns, name)) return c;
  }
  return nullptr;
}
std::string Attr(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetProp(n, reinterpret_cast<const xmlChar*>(name));
  if (v == nullptr) return "";
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}
bool HasAttr(const xmlNode* n, const char* name) {
  return xmlHasProp(n, reinterpret_cast<const xmlChar*>(name)) != nullptr;
}

void TextOf(const xmlNode* n, std::string* out, int depth) {
  if (depth > kMaxDepth) return;
  for (const xmlNode* c = n->children; c != nullptr; c = c->next) {
    if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
      if (c->content != nullptr) *out += reinterpret_cast<const char*>(c->content);
    } else if (c->type == XML_ELEMENT_NODE) {
      TextOf(c, out, depth + 1);
    }
  }
}
std::string Text(const xmlNode* n) {
  std::string s;
  TextOf(n, &s, 0);
  return s;
}

// Re-serialize an element with explicit namespace declarations on every element.
void Serialize(const xmlNode* n, std::string* out, int depth) {
  if (depth > kMaxDepth) return;
  std::string ns = Ns(n);
  *out += "<" + Name(n) + " xmlns=\"" + Escape(ns) + "\"";
  int i = 0;
  for (const xmlAttr* a = n->properties; a != nullptr; a = a->next) {
    xmlChar* v = xmlNodeListGetString(n->doc, a->children, 1);
    std::string value = v != nullptr ? reinterpret_cast<const char*>(v) : "";
    if (v != nullptr) xmlFree(v);
    std::string aname = reinterpret_cast<const char*>(a->name);
    if (a->ns != nullptr && a->ns->href != nullptr) {
      std::string prefix = "a" + std::to_string(i++);
      *out += " xmlns:" + prefix + "=\"" + Escape(reinterpret_cast<const char*>(a->ns->href)) + "\" " + prefix + ":" +
              aname + "=\"" + Escape(value) + "\"";
    } else {
      *out += " " + aname + "=\"" + Escape(value) + "\"";
    }
  }
  if (n->children == nullptr) {
    *out += "/>";
    return;
  }
  *out += ">";
  for (const xmlNode* c = n->children; c != nullptr; c = c->next) {
    if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
      if (c->content != nullptr) *out += Escape(reinterpret_cast<const char*>(c->content));
    } else if (c->type == XML_ELEMENT_NODE) {
      Serialize(c, out, depth + 1);
    }
  }
  *out += "</" + Name(n) + ">";
}

Prop PropOf(const xmlNode* n) {
  Prop p;
  p.ns = Ns(n);
  p.name = Name(n);
  p.text = Text(n);
  Serialize(n, &p.xml, 0);
  for (const xmlNode* c : Children(n)) {
    p.has_children = true;
    std::string nm = Attr(c, "name");
    p.child_names.push_back(Ns(c) + "|" + Name(c) + (nm.empty() ? "" : "|" + nm));
  }
  return p;
}

std::vector<Prop> PropsOf(const xmlNode* prop) {
  std::vector<Prop> out;
  for (const xmlNode* c : Children(prop)) out.push_back(PropOf(c));
  return out;
}

void ReadPropfindChildren(const xmlNode* root, Propfind* pf) {
  bool seen = false;
  for (const xmlNode* c : Children(root)) {
    if (Is(c, kDav, "allprop")) {
      pf->kind = Propfind::Kind::kAllprop;
      seen = true;
    } else if (Is(c, kDav, "propname")) {
      pf->kind = Propfind::Kind::kPropname;
      seen = true;
    } else if (Is(c, kDav, "prop")) {
      pf->kind = Propfind::Kind::kProp;
      pf->props = PropsOf(c);
      seen = true;
    } else if (Is(c, kDav, "include")) {
      pf->include = PropsOf(c);
    }
  }
  if (!seen) pf->kind = Propfind::Kind::kAllprop;
}

std::optional<calendar::TimeRange> TimeRangeOf(const xmlNode* n, absl::Status* st) {
  calendar::TimeRange tr;
  if (HasAttr(n, "start")) {
    tr.start = ParseUtcTime(Attr(n, "start"));
    if (!tr.start) *st = absl::InvalidArgumentError("bad time-range start");
  }
  if (HasAttr(n, "end")) {
    tr.end = ParseUtcTime(Attr(n, "end"));
    if (!tr.end) *st = absl::InvalidArgumentError("bad time-range end");
  }
  if (!tr.start && !tr.end) *st = absl::InvalidArgumentError("time-range without start or end");
  return tr;
}

calendar::TextMatch TextMatchOf(const xmlNode* n) {
  calendar::TextMatch tm;
  tm.text = Text(n);
  tm.negate = Attr(n, "negate-condition") == "yes";
  if (HasAttr(n, "collation")) tm.collation = Attr(n, "collation");
  return tm;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

calendar::PropFilter PropFilterOf(const xmlNode* n, absl::Status* st) {
  calendar::PropFilter pf;
  pf.name = Upper(Attr(n, "name"));
  if (pf.name.empty()) *st = absl::InvalidArgumentError("prop-filter without name");
  for (const xmlNode* c : Children(n)) {
    if (Is(c, kCalDav, "is-not-defined")) {
      pf.is_not_defined = true;
    } else if (Is(c, kCalDav, "time-range")) {
      pf.time_range = TimeRangeOf(c, st);
    } else if (Is(c, kCalDav, "text-match")) {
      pf.text_match = TextMatchOf(c);
    } else if (Is(c, kCalDav, "param-filter")) {
      calendar::ParamFilter pa;
      pa.name = Upper(Attr(c, "name"));
      if (pa.name.empty()) *st = absl::InvalidArgumentError("param-filter without name");
      for (const xmlNode* d : Children(c)) {
        if (Is(d, kCalDav, "is-not-defined")) pa.is_not_defined = true;
        if (Is(d, kCalDav, "text-match")) pa.text_match = TextMatchOf(d);
      }
      pf.param_filters.push_back(std::move(pa));
    }
  }
  return pf;
}

calendar::CompFilter CompFilterOf(const xmlNode* n, absl::Status* st, int depth) {
  calendar::CompFilter cf;
  cf.name = Upper(Attr(n, "name"));
  if (cf.name.empty()) *st = absl::InvalidArgumentError("comp-filter without name");
  if (depth > 8) {
    *st = absl::InvalidArgumentError("comp-filter nested too deeply");
    return cf;
  }
  for (const xmlNode* c : Children(n)) {
    if (Is(c, kCalDav, "is-not-defined")) {
      cf.is_not_defined = true;
    } else if (Is(c, kCalDav, "time-range")) {
      cf.time_range = TimeRangeOf(c, st);
    } else if (Is(c, kCalDav, "prop-filter")) {
      cf.prop_filters.push_back(PropFilterOf(c, st));
    } else if (Is(c, kCalDav, "comp-filter")) {
      cf.comp_filters.push_back(CompFilterOf(c, st, depth + 1));
    }
  }
  return cf;
}

// The report's DAV:prop / allprop / propname, and CALDAV:calendar-data inside DAV:prop.
void ReadReportProps(const xmlNode* root, Report* r, absl::Status* st) {
  ReadPropfindChildren(root, &r->propfind);
  const xmlNode* prop = Child(root, kDav, "prop");
  if (prop == nullptr) return;
  const xmlNode* cd = Child(prop, kCalDav, "calendar-data");
  if (cd == nullptr) return;
  r->calendar_data.present = true;
  if (const xmlNode* e = Child(cd, kCalDav, "expand")) {
    r->calendar_data.expand = TimeRangeOf(e, st);
  }
  if (const xmlNode* l = Child(cd, kCalDav, "limit-recurrence-set")) {
    r->calendar_data.limit_recurrence_set = TimeRangeOf(l, st);
  }
}

}  // namespace

std::optional<int64_t> ParseUtcTime(std::string_view s) {
  // YYYYMMDDTHHMMSSZ
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  auto num = [&](size_t pos, size_t len, int* out) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  int y, mo, d, h, mi, se;
  if (!num(0, 4, &y) || !num(4, 2, &mo) || !num(6, 2, &d) || !num(9, 2, &h) || !num(11, 2, &mi) ||
      !num(13, 2, &se)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  // Days from civil (Howard Hinnant's algorithm).
  int yy = y - (mo <= 2 ? 1 : 0);
  const int era = (yy >= 0 ? yy : yy - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(yy - era * 400);
  const unsigned doy = (153 * static_cast<unsigned>(mo + (mo > 2 ? -3 : 9)) + 2) / 5 + static_cast<unsigned>(d) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = static_cast<int64_t>(era) * 146097 + static_cast<int64_t>(doe) - 719468;
  return days * 86400 + h * 3600 + mi * 60 + se;
}

absl::StatusOr<Propfind> ParsePropfind(std::string_view body) {
  Propfind pf;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return pf;
  auto doc = ParseDoc(body);
  if (!doc.ok()) return doc.status();
  const xmlNode* root = xmlDocGetRootElement(doc->get());
  if (!Is(root, kDav, "propfind")) return absl::InvalidArgumentError("not a DAV:propfind body");
  ReadPropfindChildren(root, &pf);
  return pf;
}

absl::StatusOr<PropertyUpdate> ParsePropertyUpdate(std::string_view body) {
  auto doc = ParseDoc(body);
  if (!doc.ok()) return doc.status();
  const xmlNode* root = xmlDocGetRootElement(doc->get());
  if (!Is(root, kDav, "propertyupdate")) return absl::InvalidArgumentError("not a DAV:propertyupdate body");
  PropertyUpdate pu;
  for (const xmlNode* c : Children(root)) {
    bool remove = Is(c, kDav, "remove");
    if (!remove && !Is(c, kDav, "set")) continue;
    for (const xmlNode* p : Children(c)) {
      if (!Is(p, kDav, "prop")) continue;
      for (Prop& pr : PropsOf(p)) pu.ops.push_back({remove, std::move(pr)});
    }
  }
  return pu;
}

absl::StatusOr<MkcolBody> ParseMkcol(std::string_view body, bool mkcalendar) {
  MkcolBody m;
  m.calendar = mkcalendar;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return m;
  auto doc = ParseDoc(body);
  if (!doc.ok()) return doc.status();
  const xmlNode* root = xmlDocGetRootElement(doc->get());
  if (mkcalendar ? !Is(root, kCalDav, "mkcalendar") : !Is(root, kDav, "mkcol")) {
    return absl::InvalidArgumentError(mkcalendar ? "not a CALDAV:mkcalendar body" : "not a DAV:mkcol body");
  }
  for (const xmlNode* c : Children(root)) {
    if (!Is(c, kDav, "set")) continue;
    for (const xmlNode* p : Children(c)) {
      if (!Is(p, kDav, "prop")) continue;
      for (Prop& pr : PropsOf(p)) {
        if (pr.ns == kDav && pr.name == "resourcetype") {
          for (const std::string& cn : pr.child_names) {
            if (cn == std::string(kCalDav) + "|calendar") m.calendar = true;
          }
        }
        m.set.push_back(std::move(pr));
      }
    }
  }
  return m;
}

absl::StatusOr<Report> ParseReport(std::string_view body) {
  auto doc = ParseDoc(body);
  if (!doc.ok()) return doc.status();
  const xmlNode* root = xmlDocGetRootElement(doc->get());
  Report r;
  r.root_ns = Ns(root);
  r.root_name = Name(root);
  absl::Status st;
  if (Is(root, kCalDav, "calendar-multiget")) {
    r.kind = Report::Kind::kMultiget;
    ReadReportProps(root, &r, &st);
    for (const xmlNode* c : Children(root)) {
      if (Is(c, kDav, "href")) r.hrefs.push_back(Text(c));
    }
  } else if (Is(root, kCalDav, "calendar-query")) {
    r.kind = Report::Kind::kQuery;
    ReadReportProps(root, &r, &st);
    if (const xmlNode* f = Child(root, kCalDav, "filter")) {
      if (const xmlNode* cf = Child(f, kCalDav, "comp-filter")) {
        r.filter = CompFilterOf(cf, &st, 0);
        r.has_filter = true;
      }
    }
    if (!r.has_filter) st = absl::InvalidArgumentError("calendar-query without a filter");
  } else if (Is(root, kCalDav, "free-busy-query")) {
    r.kind = Report::Kind::kFreeBusy;
    const xmlNode* tr = Child(root, kCalDav, "time-range");
    if (tr == nullptr) {
      st = absl::InvalidArgumentError("free-busy-query without time-range");
    } else {
      r.time_range = *TimeRangeOf(tr, &st);
    }
  } else if (Is(root, kDav, "sync-collection")) {
    r.kind = Report::Kind::kSync;
    ReadReportProps(root, &r, &st);
    if (const xmlNode* t = Child(root, kDav, "sync-token")) r.sync_token = Text(t);
    if (const xmlNode* l = Child(root, kDav, "sync-level")) r.sync_level = Text(l);
    if (const xmlNode* l = Child(root, kDav, "limit")) {
      if (const xmlNode* n = Child(l, kDav, "nresults")) {
        // At most 9 digits (RFC 5323 nresults is a positive integer): checked before any
        // arithmetic, so a long digit run cannot overflow.
        const std::string t = Text(n);
        const bool ok = !t.empty() && t.size() < 10 &&
                        t.find_first_not_of("0123456789") == std::string::npos;
        int64_t v = 0;
        if (ok) {
          for (char ch : t) v = v * 10 + (ch - '0');
        } else {
          st = absl::InvalidArgumentError("bad nresults");
        }
        r.limit = v;
      }
    }
  } else if (Is(root, kDav, "principal-property-search")) {
    r.kind = Report::Kind::kPrincipalPropertySearch;
    r.test_anyof = Attr(root, "test") == "anyof";
    ReadReportProps(root, &r, &st);
    for (const xmlNode* c : Children(root)) {
      if (!Is(c, kDav, "property-search")) continue;
      Report::Match m;
      if (const xmlNode* p = Child(c, kDav, "prop")) m.props = PropsOf(p);
      if (const xmlNode* t = Child(c, kDav, "match")) m.text = Text(t);
      r.matches.push_back(std::move(m));
    }
  } else if (Is(root, kDav, "expand-property")) {
    r.kind = Report::Kind::kExpandProperty;
  }
  if (!st.ok()) return st;
  return r;
}

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\r': out += "&#13;"; break;
      default:
        if (c < 0x20 && c != '\t' && c != '\n') break;  // not allowed in XML 1.0
        out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

namespace {
const char* PrefixOf(std::string_view ns) {
  if (ns == kDav) return "d";
  if (ns == kCalDav) return "c";
  if (ns == kCs) return "cs";
  if (ns == kApple) return "ic";
  return nullptr;
}
std::string OpenTag(std::string_view ns, std::string_view name, bool empty) {
  const char* p = PrefixOf(ns);
  std::string out = "<";
  if (p != nullptr) {
    out += p;
    out += ":";
    out += name;
  } else if (ns.empty()) {
    out += name;
  } else {
    out += "x:";
    out += name;
    out += " xmlns:x=\"" + Escape(ns) + "\"";
  }
  out += empty ? "/>" : ">";
  return out;
}
std::string CloseTag(std::string_view ns, std::string_view name) {
  const char* p = PrefixOf(ns);
  if (p != nullptr) return "</" + std::string(p) + ":" + std::string(name) + ">";
  if (ns.empty()) return "</" + std::string(name) + ">";
  return "</x:" + std::string(name) + ">";
}
}  // namespace

std::string Element(std::string_view ns, std::string_view name, std::string_view inner) {
  return OpenTag(ns, name, false) + std::string(inner) + CloseTag(ns, name);
}
std::string EmptyElement(std::string_view ns, std::string_view name) { return OpenTag(ns, name, true); }

std::string MultistatusOpen() {
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
         "<d:multistatus xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\" "
         "xmlns:cs=\"http://calendarserver.org/ns/\" xmlns:ic=\"http://apple.com/ns/ical/\">";
}
std::string MultistatusClose() { return "</d:multistatus>\n"; }

std::string ErrorBody(std::string_view ns, std::string_view name, std::string_view inner) {
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
         "<d:error xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">" +
         (inner.empty() ? EmptyElement(ns, name) : Element(ns, name, inner)) + "</d:error>\n";
}

}  // namespace kite::caldav::dav
