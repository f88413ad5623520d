// kite_calendar (services/lib/calendar): ingest and validation, the index, recurrence
// expansion, calendar-query filters, calendar-data shaping and busy time. Pure: no fixtures.
#include "lib/calendar/calendar.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace cal = kite::calendar;

namespace {

// A VCALENDAR around `body` (CRLF line ends, written here with \n).
std::string Wrap(const std::string& body, const std::string& head = "") {
  std::string text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//kite//test//EN\n" + head + body + "END:VCALENDAR\n";
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

std::string Event(const std::string& props, const std::string& uid = "u1@test") {
  return "BEGIN:VEVENT\nUID:" + uid + "\nDTSTAMP:20261101T000000Z\n" + props + "END:VEVENT\n";
}

const char kBerlin[] =
    "BEGIN:VTIMEZONE\nTZID:Europe/Berlin\n"
    "BEGIN:DAYLIGHT\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\nTZNAME:CEST\nDTSTART:19700329T020000\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\nEND:DAYLIGHT\n"
    "BEGIN:STANDARD\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nTZNAME:CET\nDTSTART:19701025T030000\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\nEND:STANDARD\nEND:VTIMEZONE\n";

int64_t T(const char* utc) {
  std::optional<int64_t> t = cal::ParseUtc(utc);
  REQUIRE(t.has_value());
  return *t;
}

cal::Object MustIngest(const std::string& text, const cal::IngestOptions& options = {}) {
  cal::IngestError error{cal::Precondition::kValidCalendarData, ""};
  std::optional<cal::Object> o = cal::Ingest(text, options, &error);
  INFO(error.reason);
  REQUIRE(o.has_value());
  return std::move(*o);
}

cal::IngestError MustFail(const std::string& text, const cal::IngestOptions& options = {}) {
  cal::IngestError error{cal::Precondition::kMaxResourceSize, "untouched"};
  std::optional<cal::Object> o = cal::Ingest(text, options, &error);
  REQUIRE_FALSE(o.has_value());
  REQUIRE(error.reason != "untouched");
  return error;
}

}  // namespace

TEST_CASE("UTC times parse and format", "[calendar][time]") {
  CHECK(cal::ParseUtc("19700101T000000Z") == 0);
  CHECK(cal::ParseUtc("20261123T120000Z") == 1795435200);
  CHECK(cal::FormatUtc(1795435200) == "20261123T120000Z");
  CHECK(cal::FormatUtc(-86400) == "19691231T000000Z");
  CHECK(cal::ParseUtc(cal::FormatUtc(951782400)) == 951782400);  // 2000-02-29
  CHECK_FALSE(cal::ParseUtc("20261123T120000").has_value());
  CHECK_FALSE(cal::ParseUtc("20261323T120000Z").has_value());
  CHECK_FALSE(cal::ParseUtc("20260230T120000Z").has_value());
  CHECK_FALSE(cal::ParseUtc("2026112xT120000Z").has_value());
  CHECK_FALSE(cal::ParseUtc("").has_value());
}

TEST_CASE("Precondition names are the CalDAV elements", "[calendar][ingest]") {
  CHECK(std::string(cal::PreconditionName(cal::Precondition::kValidCalendarData)) == "valid-calendar-data");
  CHECK(std::string(cal::PreconditionName(cal::Precondition::kValidCalendarObjectResource)) ==
        "valid-calendar-object-resource");
  CHECK(std::string(cal::PreconditionName(cal::Precondition::kSupportedCalendarComponent)) ==
        "supported-calendar-component");
  CHECK(std::string(cal::PreconditionName(cal::Precondition::kMaxResourceSize)) == "max-resource-size");
}

TEST_CASE("A simple event is ingested with its index and scheduling fields", "[calendar][ingest]") {
  cal::Object o = MustIngest(Wrap(Event(
      "DTSTART:20261201T090000Z\nDTEND:20261201T100000Z\nSUMMARY:Planning\nSEQUENCE:3\n"
      "ORGANIZER;CN=Olga:mailto:Olga@Example.test\n"
      "ATTENDEE;PARTSTAT=ACCEPTED;ROLE=CHAIR;CN=\"Ann, A.\":mailto:ann@example.test\n"
      "ATTENDEE;CUTYPE=ROOM;RSVP=TRUE;SCHEDULE-AGENT=CLIENT:mailto:Room1@Example.test\n"
      "ATTENDEE:urn:uuid:1234\n")));
  CHECK(o.uid == "u1@test");
  CHECK(o.component == "VEVENT");
  CHECK(o.master != nullptr);
  CHECK(o.components.size() == 1);
  CHECK(o.first_start == T("20261201T090000Z"));
  CHECK(o.last_end == T("20261201T100000Z"));
  CHECK_FALSE(o.recurring);
  CHECK_FALSE(o.transparent);
  CHECK(o.organizer == "olga@example.test");
  CHECK(o.sequence == 3);
  REQUIRE(o.attendees.size() == 3);
  CHECK(o.attendees[0].address == "ann@example.test");
  CHECK(o.attendees[0].partstat == "ACCEPTED");
  CHECK(o.attendees[0].role == "CHAIR");
  CHECK(o.attendees[0].common_name == "Ann, A.");
  CHECK(o.attendees[0].cutype == "INDIVIDUAL");
  CHECK_FALSE(o.attendees[0].rsvp);
  CHECK(o.attendees[0].schedule_agent == "SERVER");
  CHECK(o.attendees[1].address == "room1@example.test");
  CHECK(o.attendees[1].cutype == "ROOM");
  CHECK(o.attendees[1].rsvp);
  CHECK(o.attendees[1].schedule_agent == "CLIENT");
  CHECK(o.attendees[1].partstat == "NEEDS-ACTION");
  CHECK(o.attendees[1].role == "REQ-PARTICIPANT");
  CHECK(o.attendees[2].address.empty());

  std::string text = cal::Serialize(o.root.get());
  CHECK(text.find("BEGIN:VCALENDAR\r\n") == 0);
  CHECK(text.find("SUMMARY:Planning\r\n") != std::string::npos);
  std::optional<cal::Object> again = cal::Load(text);
  REQUIRE(again.has_value());
  CHECK(again->uid == "u1@test");
  CHECK(again->first_start == o.first_start);
}

TEST_CASE("Invalid calendar data is refused with valid-calendar-data", "[calendar][ingest]") {
  using P = cal::Precondition;
  CHECK(MustFail("hello world").precondition == P::kValidCalendarData);
  CHECK(MustFail("").precondition == P::kValidCalendarData);
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\nSUMMARY:\xff\xfe\n"))).precondition == P::kValidCalendarData);
  std::string with_nul = Wrap(Event("DTSTART:20261201T090000Z\n"));
  with_nul.insert(with_nul.size() - 10, 1, '\0');
  CHECK(MustFail(with_nul).precondition == P::kValidCalendarData);
  // Bad property values.
  CHECK(MustFail(Wrap(Event("DTSTART:2026bad\n"))).precondition == P::kValidCalendarData);
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\nRRULE:FREQ=SOMETIMES\n"))).precondition ==
        P::kValidCalendarData);
  // Structure.
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\n")) + Wrap(Event("DTSTART:20261201T090000Z\n")))
            .precondition == P::kValidCalendarData);
  CHECK(MustFail("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n").precondition ==
        P::kValidCalendarData);
  CHECK(MustFail("BEGIN:VCALENDAR\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20261201T090000Z\r\n"
                 "END:VEVENT\r\nEND:VCALENDAR\r\n")
            .precondition == P::kValidCalendarData);  // no VERSION
  // Times.
  CHECK(MustFail(Wrap(Event("SUMMARY:no start\n"))).precondition == P::kValidCalendarData);
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\nDTEND:20261201T080000Z\n"))).precondition ==
        P::kValidCalendarData);
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\nDTEND:20261201T100000Z\nDURATION:PT1H\n"))).precondition ==
        P::kValidCalendarData);
  CHECK(MustFail(Wrap(Event("DTSTART;VALUE=DATE:20261201\nDTEND:20261202T100000Z\n"))).precondition ==
        P::kValidCalendarData);
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\nDURATION:-PT1H\n"))).precondition ==
        P::kValidCalendarData);
  // An unknown TZID.
  cal::IngestError e = MustFail(Wrap(Event("DTSTART;TZID=Mars/Olympus_Mons:20261201T090000\n")));
  CHECK(e.precondition == P::kValidCalendarData);
  CHECK(e.reason.find("TZID") != std::string::npos);
  // Rules libical would spin on.
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\nRRULE:FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30\n")))
            .precondition == P::kValidCalendarData);
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\nRRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30\n"))).precondition ==
        P::kValidCalendarData);
}

TEST_CASE("Object-resource rules: one UID, no METHOD, one type, a component", "[calendar][ingest]") {
  using P = cal::Precondition;
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\n", "a@test") + Event("DTSTART:20261202T090000Z\n", "b@test")))
            .precondition == P::kValidCalendarObjectResource);
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\n"), "METHOD:REQUEST\n")).precondition ==
        P::kValidCalendarObjectResource);
  CHECK(MustFail(Wrap("")).precondition == P::kValidCalendarObjectResource);
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\n") + "BEGIN:VTODO\nUID:u1@test\nEND:VTODO\n")).precondition ==
        P::kValidCalendarObjectResource);
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\n") + Event("DTSTART:20261202T090000Z\n"))).precondition ==
        P::kValidCalendarObjectResource);  // two masters
  CHECK(MustFail(Wrap("BEGIN:VEVENT\nDTSTART:20261201T090000Z\nEND:VEVENT\n")).precondition ==
        P::kValidCalendarObjectResource);  // no UID
  std::string rid = "DTSTART:20261208T100000Z\nRECURRENCE-ID:20261208T090000Z\n";
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\nRRULE:FREQ=WEEKLY\n") + Event(rid) + Event(rid)))
            .precondition == P::kValidCalendarObjectResource);

  // METHOD is fine for iTIP objects.
  cal::IngestOptions itip;
  itip.allow_method = true;
  cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\n"), "METHOD:REQUEST\n"), itip);
  CHECK(o.uid == "u1@test");
}

TEST_CASE("Component types the calendar does not take, and the size limit", "[calendar][ingest]") {
  using P = cal::Precondition;
  std::string todo = Wrap("BEGIN:VTODO\nUID:t@test\nDTSTAMP:20261101T000000Z\nSUMMARY:Do\nEND:VTODO\n");
  cal::IngestOptions events_only;
  events_only.components = {"VEVENT"};
  CHECK(MustFail(todo, events_only).precondition == P::kSupportedCalendarComponent);
  CHECK(MustIngest(todo).component == "VTODO");
  CHECK(MustFail(Wrap("BEGIN:VJOURNAL\nUID:j@test\nDTSTART:20261201T090000Z\nEND:VJOURNAL\n")).precondition ==
        P::kSupportedCalendarComponent);
  CHECK(MustFail(Wrap("BEGIN:X-THING\nUID:x@test\nEND:X-THING\n")).precondition == P::kSupportedCalendarComponent);

  cal::IngestOptions small;
  small.max_bytes = 100;
  cal::IngestError e = MustFail(Wrap(Event("DTSTART:20261201T090000Z\n")), small);
  CHECK(e.precondition == P::kMaxResourceSize);
}

TEST_CASE("Unknown IANA properties are tolerated, X- properties kept", "[calendar][ingest]") {
  cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nFOO-BAR:baz\nX-KITE-THING:kept\n")));
  std::string text = cal::Serialize(o.root.get());
  CHECK(text.find("X-KITE-THING:kept") != std::string::npos);
  CHECK(text.find("X-LIC-ERROR") == std::string::npos);
}

TEST_CASE("TZIDs resolve through the object's VTIMEZONE or libical's zones", "[calendar][ingest][tz]") {
  // Europe/Berlin in winter: UTC+1.
  cal::Object with_vtz = MustIngest(Wrap(std::string(kBerlin) + Event("DTSTART;TZID=Europe/Berlin:20261201T090000\n"
                                                                      "DTEND;TZID=Europe/Berlin:20261201T100000\n")));
  CHECK(with_vtz.first_start == T("20261201T080000Z"));
  CHECK(with_vtz.last_end == T("20261201T090000Z"));
  // In summer: UTC+2, through the built-in zone (no VTIMEZONE in the object).
  cal::Object builtin = MustIngest(Wrap(Event("DTSTART;TZID=Europe/Berlin:20260701T090000\nDURATION:PT30M\n")));
  CHECK(builtin.first_start == T("20260701T070000Z"));
  CHECK(builtin.last_end == T("20260701T073000Z"));
  // A TZID defined by the object with a private name.
  std::string custom =
      "BEGIN:VTIMEZONE\nTZID:My Zone\nBEGIN:STANDARD\nTZOFFSETFROM:-0500\nTZOFFSETTO:-0500\n"
      "DTSTART:19700101T000000\nEND:STANDARD\nEND:VTIMEZONE\n";
  cal::Object priv = MustIngest(Wrap(custom + Event("DTSTART;TZID=My Zone:20261201T090000\n")));
  CHECK(priv.first_start == T("20261201T140000Z"));
  CHECK(priv.last_end == T("20261201T140000Z"));  // zero-length
}

TEST_CASE("Floating and all-day times use the calendar's time zone", "[calendar][ingest][tz]") {
  std::string all_day = Wrap(Event("DTSTART;VALUE=DATE:20261224\nDTEND;VALUE=DATE:20261226\n"));
  cal::Object utc = MustIngest(all_day);
  CHECK(utc.first_start == T("20261224T000000Z"));
  CHECK(utc.last_end == T("20261226T000000Z"));
  cal::IngestOptions berlin;
  berlin.floating_tz = "Europe/Berlin";
  cal::Object local = MustIngest(all_day, berlin);
  CHECK(local.first_start == T("20261223T230000Z"));
  CHECK(local.last_end == T("20261225T230000Z"));
  // One day without DTEND.
  cal::Object one = MustIngest(Wrap(Event("DTSTART;VALUE=DATE:20261224\n")));
  CHECK(one.last_end == T("20261225T000000Z"));
  // Floating DATE-TIME.
  cal::Object floating = MustIngest(Wrap(Event("DTSTART:20260701T090000\nDTEND:20260701T100000\n")), berlin);
  CHECK(floating.first_start == T("20260701T070000Z"));
  // Load keeps the floating zone.
  std::optional<cal::Object> loaded = cal::Load(all_day, "Europe/Berlin");
  REQUIRE(loaded.has_value());
  CHECK(loaded->first_start == T("20261223T230000Z"));
}

TEST_CASE("The index of recurring objects", "[calendar][ingest][recur]") {
  SECTION("infinite RRULE: no last end") {
    cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\n")));
    CHECK(o.recurring);
    CHECK(o.first_start == T("20261201T090000Z"));
    CHECK_FALSE(o.last_end.has_value());
  }
  SECTION("COUNT") {
    cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;COUNT=3\n")));
    CHECK(o.first_start == T("20261201T090000Z"));
    CHECK(o.last_end == T("20261215T100000Z"));
  }
  SECTION("UNTIL") {
    cal::Object o =
        MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;UNTIL=20261205T090000Z\n")));
    CHECK(o.last_end == T("20261205T100000Z"));
  }
  SECTION("more instances than counted, COUNT: treated as unbounded") {
    cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nRRULE:FREQ=HOURLY;COUNT=1000000000\n")));
    CHECK(o.first_start == T("20261201T090000Z"));
    CHECK_FALSE(o.last_end.has_value());
  }
  SECTION("many instances with UNTIL: bounded by UNTIL") {
    cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nRRULE:FREQ=HOURLY;UNTIL=20361201T090000Z\n")));
    REQUIRE(o.last_end.has_value());
    CHECK(*o.last_end >= T("20361201T090000Z"));
    CHECK(*o.last_end <= T("20361203T090000Z"));
  }
  SECTION("SECONDLY with a huge COUNT is bounded work") {
    cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nRRULE:FREQ=SECONDLY;COUNT=1000000000\n")));
    CHECK(o.first_start == T("20261201T090000Z"));
    CHECK_FALSE(o.last_end.has_value());
  }
  SECTION("an override moved before the first instance and RDATE after the last") {
    cal::Object o = MustIngest(Wrap(
        Event("DTSTART:20261201T090000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;COUNT=2\nRDATE:20270101T090000Z\n") +
        Event("RECURRENCE-ID:20261208T090000Z\nDTSTART:20261130T090000Z\nDURATION:PT1H\n")));
    CHECK(o.components.size() == 2);
    CHECK(o.components[0] == o.master);
    CHECK(o.first_start == T("20261130T090000Z"));
    CHECK(o.last_end == T("20270101T100000Z"));
  }
  SECTION("overrides only (an invitation to one instance)") {
    cal::Object o = MustIngest(Wrap(Event("RECURRENCE-ID:20261208T090000Z\nDTSTART:20261208T100000Z\n"
                                          "DTEND:20261208T110000Z\nORGANIZER:mailto:o@example.test\n"
                                          "ATTENDEE:mailto:me@example.test\n")));
    CHECK(o.master == nullptr);
    CHECK(o.recurring);
    CHECK(o.organizer == "o@example.test");
    CHECK(o.attendees.size() == 1);
    CHECK(o.first_start == T("20261208T100000Z"));
    CHECK(o.last_end == T("20261208T110000Z"));
  }
}

TEST_CASE("The index of to-dos follows RFC 4791 9.9", "[calendar][ingest][todo]") {
  auto todo = [](const std::string& props) {
    return Wrap("BEGIN:VTODO\nUID:t@test\nDTSTAMP:20261101T000000Z\n" + props + "END:VTODO\n");
  };
  cal::Object none = MustIngest(todo(""));
  CHECK_FALSE(none.first_start.has_value());
  CHECK_FALSE(none.last_end.has_value());
  cal::Object due = MustIngest(todo("DUE:20261205T170000Z\n"));
  CHECK(due.first_start == T("20261205T170000Z"));
  CHECK(due.last_end == T("20261205T170000Z"));
  cal::Object created = MustIngest(todo("CREATED:20261101T000000Z\n"));
  CHECK(created.first_start == T("20261101T000000Z"));
  CHECK_FALSE(created.last_end.has_value());
  cal::Object span = MustIngest(todo("DTSTART:20261201T090000Z\nDUE:20261205T170000Z\n"));
  CHECK(span.first_start == T("20261201T090000Z"));
  CHECK(span.last_end == T("20261205T170000Z"));
}

TEST_CASE("Transparency and zero-length events in the index", "[calendar][ingest]") {
  cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nTRANSP:TRANSPARENT\n")));
  CHECK(o.transparent);
  CHECK(o.first_start == T("20261201T090000Z"));
  CHECK(o.last_end == T("20261201T090000Z"));
}
