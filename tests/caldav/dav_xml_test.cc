// kite-caldav's WebDAV XML module: PROPFIND, PROPPATCH, MKCALENDAR/extended MKCOL and REPORT
// bodies into structs (the calendar-query filter into calendar::CompFilter), malformed and
// hostile XML refused, and the writer's namespaces and escaping.
#include "caldav/dav_xml.h"

#include <catch2/catch.hpp>
#include <string>

namespace kite::caldav::dav {
namespace {

TEST_CASE("PROPFIND bodies", "[caldav][xml]") {
  auto empty = ParsePropfind("");
  REQUIRE(empty.ok());
  CHECK(empty->kind == Propfind::Kind::kAllprop);
  auto pf = ParsePropfind(
      "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" "
      "xmlns:X=\"http://x.test/\"><D:prop><D:getetag/><C:calendar-home-set/><X:custom/></D:prop></D:propfind>");
  REQUIRE(pf.ok());
  REQUIRE(pf->kind == Propfind::Kind::kProp);
  REQUIRE(pf->props.size() == 3);
  CHECK(pf->props[0].ns == "DAV:");
  CHECK(pf->props[0].name == "getetag");
  CHECK(pf->props[1].ns == kCalDav);
  CHECK(pf->props[2].ns == "http://x.test/");
  auto names = ParsePropfind("<propfind xmlns=\"DAV:\"><propname/></propfind>");
  REQUIRE(names.ok());
  CHECK(names->kind == Propfind::Kind::kPropname);
  CHECK_FALSE(ParsePropfind("<propfind xmlns=\"DAV:\"><prop>").ok());
  CHECK_FALSE(ParsePropfind("<other xmlns=\"DAV:\"/>").ok());
  CHECK_FALSE(ParsePropfind("<D:propfind xmlns:D=\"DAV:\" xmlns:bar=\"\"><D:prop><bar:foo/></D:prop></D:propfind>").ok());
}

TEST_CASE("Entities are not expanded and no DTD is loaded", "[caldav][xml]") {
  std::string laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">"
      "<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
      "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><D:displayname>&b;&x;</D:displayname></D:prop></D:set>"
      "</D:propertyupdate>";
  auto pu = ParsePropertyUpdate(laughs);
  if (pu.ok()) {
    REQUIRE(pu->ops.size() == 1);
    CHECK(pu->ops[0].prop.text.find("root:") == std::string::npos);
    CHECK(pu->ops[0].prop.text.size() < 100);
  }
  CHECK_FALSE(ParsePropertyUpdate(std::string(kMaxXml + 1, ' ')).ok());
}

TEST_CASE("PROPPATCH keeps order and dead property XML", "[caldav][xml]") {
  auto pu = ParsePropertyUpdate(
      "<D:propertyupdate xmlns:D=\"DAV:\" xmlns:Z=\"http://z.test/\"><D:set><D:prop>"
      "<Z:author><Z:name a=\"1\">Jim &amp; Co</Z:name></Z:author></D:prop></D:set>"
      "<D:remove><D:prop><Z:old/></D:prop></D:remove></D:propertyupdate>");
  REQUIRE(pu.ok());
  REQUIRE(pu->ops.size() == 2);
  CHECK_FALSE(pu->ops[0].remove);
  CHECK(pu->ops[0].prop.name == "author");
  CHECK(pu->ops[0].prop.text == "Jim & Co");
  CHECK(pu->ops[0].prop.xml ==
        "<author xmlns=\"http://z.test/\"><name xmlns=\"http://z.test/\" a=\"1\">Jim &amp; Co</name></author>");
  CHECK(pu->ops[1].remove);
  CHECK(pu->ops[1].prop.name == "old");
}

TEST_CASE("MKCALENDAR and extended MKCOL", "[caldav][xml]") {
  auto m = ParseMkcol(
      "<C:mkcalendar xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:set><D:prop>"
      "<D:displayname>Work</D:displayname><C:supported-calendar-component-set><C:comp name=\"VEVENT\"/>"
      "</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>",
      true);
  REQUIRE(m.ok());
  CHECK(m->calendar);
  REQUIRE(m->set.size() == 2);
  CHECK(m->set[0].text == "Work");
  REQUIRE(m->set[1].child_names.size() == 1);
  CHECK(m->set[1].child_names[0] == std::string(kCalDav) + "|comp|VEVENT");
  auto col = ParseMkcol(
      "<D:mkcol xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:set><D:prop><D:resourcetype>"
      "<D:collection/><C:calendar/></D:resourcetype></D:prop></D:set></D:mkcol>",
      false);
  REQUIRE(col.ok());
  CHECK(col->calendar);
  auto plain = ParseMkcol("", false);
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->calendar);
}

TEST_CASE("calendar-query into a CompFilter", "[caldav][xml]") {
  auto r = ParseReport(
      "<C:calendar-query xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">"
      "<D:prop><D:getetag/><C:calendar-data><C:expand start=\"20261201T000000Z\" end=\"20261231T000000Z\"/>"
      "</C:calendar-data></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"vevent\">"
      "<C:time-range start=\"20261206T000000Z\"/><C:prop-filter name=\"SUMMARY\">"
      "<C:text-match negate-condition=\"yes\" collation=\"i;octet\">x</C:text-match></C:prop-filter>"
      "<C:prop-filter name=\"ATTENDEE\"><C:param-filter name=\"PARTSTAT\"><C:is-not-defined/></C:param-filter>"
      "</C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>");
  REQUIRE(r.ok());
  CHECK(r->kind == Report::Kind::kQuery);
  CHECK(r->calendar_data.present);
  REQUIRE(r->calendar_data.expand.has_value());
  CHECK(*r->calendar_data.expand->start == 1796083200);  // 2026-12-01T00:00:00Z
  CHECK(r->filter.name == "VCALENDAR");
  REQUIRE(r->filter.comp_filters.size() == 1);
  const auto& ev = r->filter.comp_filters[0];
  CHECK(ev.name == "VEVENT");
  REQUIRE(ev.time_range.has_value());
  CHECK(ev.time_range->start.has_value());
  CHECK_FALSE(ev.time_range->end.has_value());
  REQUIRE(ev.prop_filters.size() == 2);
  CHECK(ev.prop_filters[0].text_match->negate);
  CHECK(ev.prop_filters[0].text_match->collation == "i;octet");
  CHECK(ev.prop_filters[1].param_filters[0].is_not_defined);
  CHECK_FALSE(ParseReport("<C:calendar-query xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><C:filter><C:comp-filter "
                          "name=\"VCALENDAR\"><C:time-range start=\"bad\"/></C:comp-filter></C:filter>"
                          "</C:calendar-query>")
                    .ok());
}

TEST_CASE("multiget, sync-collection, free-busy, principal-property-search", "[caldav][xml]") {
  auto m = ParseReport(
      "<C:calendar-multiget xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:prop><D:getetag/></D:prop>"
      "<D:href>/a.ics</D:href><D:href>/b.ics</D:href></C:calendar-multiget>");
  REQUIRE(m.ok());
  CHECK(m->hrefs == std::vector<std::string>{"/a.ics", "/b.ics"});
  auto s = ParseReport(
      "<D:sync-collection xmlns:D=\"DAV:\"><D:sync-token>http://kite.example/sync/5</D:sync-token>"
      "<D:sync-level>1</D:sync-level><D:limit><D:nresults>10</D:nresults></D:limit><D:prop><D:getetag/></D:prop>"
      "</D:sync-collection>");
  REQUIRE(s.ok());
  CHECK(s->sync_token == "http://kite.example/sync/5");
  CHECK(s->limit == 10);
  // A long digit run is refused before any arithmetic (found by caldav_xml_fuzz: it
  // overflowed int64 under UBSan).
  for (const char* bad : {"99999999999999999999999", "1x", "", "1000000000"}) {
    auto o = ParseReport(std::string("<D:sync-collection xmlns:D=\"DAV:\"><D:limit><D:nresults>") + bad +
                         "</D:nresults></D:limit></D:sync-collection>");
    CHECK_FALSE(o.ok());
  }
  auto f = ParseReport(
      "<C:free-busy-query xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><C:time-range start=\"20261201T000000Z\" "
      "end=\"20261202T000000Z\"/></C:free-busy-query>");
  REQUIRE(f.ok());
  CHECK(*f->time_range.end - *f->time_range.start == 86400);
  auto p = ParseReport(
      "<D:principal-property-search xmlns:D=\"DAV:\" test=\"anyof\"><D:property-search><D:prop><D:displayname/>"
      "</D:prop><D:match>ali</D:match></D:property-search><D:prop><D:displayname/></D:prop>"
      "</D:principal-property-search>");
  REQUIRE(p.ok());
  CHECK(p->test_anyof);
  REQUIRE(p->matches.size() == 1);
  CHECK(p->matches[0].text == "ali");
}

TEST_CASE("Writer namespaces and escaping", "[caldav][xml]") {
  CHECK(Element(kDav, "href", Escape("/a&b<c>")) == "<d:href>/a&amp;b&lt;c&gt;</d:href>");
  CHECK(EmptyElement(kCalDav, "calendar") == "<c:calendar/>");
  CHECK(EmptyElement("http://x.test/", "p") == "<x:p xmlns:x=\"http://x.test/\"/>");
  CHECK(EmptyElement("", "p") == "<p/>");
  CHECK(Escape(std::string("a\x01" "b\r")) == "ab&#13;");
  CHECK(ErrorBody(kCalDav, "no-uid-conflict", "<d:href>/x</d:href>").find(
            "<c:no-uid-conflict><d:href>/x</d:href></c:no-uid-conflict>") != std::string::npos);
  CHECK(ParseUtcTime("19700101T000000Z") == 0);
  CHECK_FALSE(ParseUtcTime("20261301T000000Z").has_value());
}

}  // namespace
}  // namespace kite::caldav::dav
