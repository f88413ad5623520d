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
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\nSUMMARY:a\rb\n"))).precondition == P::kValidCalendarData);
  CHECK(MustFail(Wrap(Event("DTSTART:20261201T090000Z\nSUMMARY:a\x01b\n"))).precondition == P::kValidCalendarData);
  CHECK(MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nSUMMARY:a\tb\n"))).uid == "u1@test");
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
  // libical reads a DATE DTSTAMP but writes it in a form it refuses: refused up front.
  CHECK(MustFail(Wrap("BEGIN:VEVENT\nUID:a@test\nDTSTART:20261201T090000Z\nDTSTAMP:20261101\nEND:VEVENT\n"))
            .precondition == P::kValidCalendarData);
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

TEST_CASE("Serialize writes clean CRLF lines that load again, whatever libical folds", "[calendar][ingest]") {
  // A value length at which libical 3.0.16 writes a bare CR and an empty continuation line.
  for (size_t n = 40; n < 200; ++n) {
    std::string organizer = "ORGANIZER:mailto:o" + std::string(n, 'L') + "@example.test\n";
    cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\n" + organizer)));
    std::string text = cal::Serialize(o.root.get());
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\r') REQUIRE(text[i + 1] == '\n');
      if (text[i] == '\n') REQUIRE((i > 0 && text[i - 1] == '\r'));
    }
    REQUIRE(text.find("\r\n \r\n") == std::string::npos);
    std::optional<cal::Object> again = cal::Load(text);
    REQUIRE(again.has_value());
    REQUIRE(again->organizer == "o" + std::string(n, 'l') + "@example.test");
  }
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

// ---- expansion ------------------------------------------------------------------------------

namespace {

const char kMeeting[] =
    "DTSTART;TZID=Europe/Berlin:20261015T090000\nDTEND;TZID=Europe/Berlin:20261015T100000\n"
    "SUMMARY:Weekly\nLOCATION:Room 1\nRRULE:FREQ=WEEKLY;COUNT=6\nEXDATE;TZID=Europe/Berlin:20261022T090000\n";
const char kMoved[] =
    "RECURRENCE-ID;TZID=Europe/Berlin:20261105T090000\nDTSTART;TZID=Europe/Berlin:20261106T140000\n"
    "DTEND;TZID=Europe/Berlin:20261106T150000\nSUMMARY:Weekly (moved)\n";
const char kCancelled[] =
    "RECURRENCE-ID;TZID=Europe/Berlin:20261112T090000\nDTSTART;TZID=Europe/Berlin:20261112T090000\n"
    "DTEND;TZID=Europe/Berlin:20261112T100000\nSTATUS:CANCELLED\n";

std::string WeeklyMeeting() {
  return Wrap(std::string(kBerlin) + Event(kMeeting) + Event(kMoved) + Event(kCancelled));
}

std::vector<int64_t> Starts(const std::vector<cal::Instance>& v) {
  std::vector<int64_t> out;
  for (const cal::Instance& i : v) out.push_back(i.start);
  return out;
}

}  // namespace

TEST_CASE("Weekly RRULE across DST with EXDATE, a moved and a cancelled override", "[calendar][expand]") {
  cal::Object o = MustIngest(WeeklyMeeting());
  CHECK(o.recurring);
  CHECK(o.first_start == T("20261015T070000Z"));
  CHECK(o.last_end == T("20261119T090000Z"));
  bool truncated = true;
  std::vector<cal::Instance> all = cal::Expand(o, T("20261001T000000Z"), T("20261201T000000Z"), &truncated);
  CHECK_FALSE(truncated);
  REQUIRE(all.size() == 5);
  CHECK(Starts(all) == std::vector<int64_t>{T("20261015T070000Z"), T("20261029T080000Z"), T("20261106T130000Z"),
                                            T("20261112T080000Z"), T("20261119T080000Z")});
  CHECK(all[0].end == T("20261015T080000Z"));
  CHECK(all[0].component == o.master);
  CHECK(all[0].recurrence_id == T("20261015T070000Z"));
  CHECK(all[1].end - all[1].start == 3600);
  CHECK(all[2].component != o.master);  // the moved override
  CHECK(all[2].recurrence_id == T("20261105T080000Z"));
  CHECK(all[2].end == T("20261106T140000Z"));
  CHECK(all[3].status == "CANCELLED");
  CHECK(all[4].status.empty());

  // Moved out of its original day, into another.
  CHECK(cal::Expand(o, T("20261105T000000Z"), T("20261106T000000Z")).empty());
  std::vector<cal::Instance> moved = cal::Expand(o, T("20261106T000000Z"), T("20261107T000000Z"));
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].start == T("20261106T130000Z"));
  // The excluded date.
  CHECK(cal::Expand(o, T("20261022T000000Z"), T("20261023T000000Z")).empty());
  // Partial overlap counts, touching does not.
  CHECK(cal::Expand(o, T("20261015T075959Z"), T("20261015T090000Z")).size() == 1);
  CHECK(cal::Expand(o, T("20261015T080000Z"), T("20261015T090000Z")).empty());
  CHECK(cal::Expand(o, T("20261015T060000Z"), T("20261015T070000Z")).empty());
}

TEST_CASE("RDATE values and periods join the recurrence set", "[calendar][expand]") {
  cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nDURATION:PT1H\nRDATE:20261203T090000Z\n"
                                        "RDATE;VALUE=PERIOD:20261205T090000Z/PT3H\n"
                                        "RDATE;TZID=Europe/Berlin:20261207T090000\n")));
  CHECK(o.recurring);
  std::vector<cal::Instance> v = cal::Expand(o, T("20261101T000000Z"), T("20270101T000000Z"));
  REQUIRE(v.size() == 4);
  CHECK(Starts(v) == std::vector<int64_t>{T("20261201T090000Z"), T("20261203T090000Z"), T("20261205T090000Z"),
                                          T("20261207T080000Z")});
  CHECK(v[1].end == T("20261203T100000Z"));
  CHECK(v[2].end == T("20261205T120000Z"));
  CHECK(v[3].end == T("20261207T090000Z"));
  CHECK(o.last_end == T("20261207T090000Z"));
}

TEST_CASE("All-day events expand by date in the calendar's zone", "[calendar][expand]") {
  cal::IngestOptions berlin;
  berlin.floating_tz = "Europe/Berlin";
  cal::Object o = MustIngest(
      Wrap(Event("DTSTART;VALUE=DATE:20261224\nDTEND;VALUE=DATE:20261225\nRRULE:FREQ=YEARLY\nTRANSP:TRANSPARENT\n")),
      berlin);
  CHECK_FALSE(o.last_end.has_value());
  std::vector<cal::Instance> v = cal::Expand(o, T("20270101T000000Z"), T("20280101T000000Z"));
  REQUIRE(v.size() == 1);
  CHECK(v[0].start == T("20271223T230000Z"));
  CHECK(v[0].end == T("20271224T230000Z"));
  CHECK(v[0].all_day);
  CHECK(v[0].transparent);
  // A summer all-day event: midnight is UTC+2.
  cal::Object summer = MustIngest(Wrap(Event("DTSTART;VALUE=DATE:20260701\n")), berlin);
  std::vector<cal::Instance> s = cal::Expand(summer, T("20260601T000000Z"), T("20260801T000000Z"));
  REQUIRE(s.size() == 1);
  CHECK(s[0].start == T("20260630T220000Z"));
  CHECK(s[0].end == T("20260701T220000Z"));
  CHECK_FALSE(s[0].recurrence_id.has_value());
}

TEST_CASE("DURATION in days is nominal across a DST change, DTEND exact", "[calendar][expand]") {
  cal::Object nominal = MustIngest(Wrap(Event("DTSTART;TZID=Europe/Berlin:20261024T120000\nDURATION:P1D\n")));
  CHECK(nominal.first_start == T("20261024T100000Z"));
  CHECK(nominal.last_end == T("20261025T110000Z"));  // 25 hours: same wall clock next day
  cal::Object weekly = MustIngest(Wrap(Event("DTSTART;TZID=Europe/Berlin:20261017T120000\n"
                                             "DTEND;TZID=Europe/Berlin:20261018T120000\nRRULE:FREQ=WEEKLY;COUNT=2\n")));
  std::vector<cal::Instance> v = cal::Expand(weekly, T("20261001T000000Z"), T("20261101T000000Z"));
  REQUIRE(v.size() == 2);
  CHECK(v[1].start == T("20261024T100000Z"));
  CHECK(v[1].end - v[1].start == 86400);  // the master's exact duration
}

TEST_CASE("Zero-length events count at the range start only", "[calendar][expand]") {
  cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\n")));
  CHECK(cal::Expand(o, T("20261201T090000Z"), T("20261201T100000Z")).size() == 1);
  CHECK(cal::Expand(o, T("20261201T080000Z"), T("20261201T090000Z")).empty());
  std::vector<cal::Instance> v = cal::Expand(o, T("20261201T000000Z"), T("20261202T000000Z"));
  REQUIRE(v.size() == 1);
  CHECK(v[0].start == v[0].end);
}

TEST_CASE("Infinite rules expand within the range, bounded by kMaxInstances", "[calendar][expand]") {
  cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nDURATION:PT30M\nRRULE:FREQ=DAILY\n")));
  bool truncated = true;
  std::vector<cal::Instance> week = cal::Expand(o, T("20270301T000000Z"), T("20270308T000000Z"), &truncated);
  CHECK(week.size() == 7);
  CHECK_FALSE(truncated);
  CHECK(week[0].start == T("20270301T090000Z"));
  std::vector<cal::Instance> lots = cal::Expand(o, T("20261201T000000Z"), T("21261201T000000Z"), &truncated);
  CHECK(lots.size() == cal::kMaxInstances);
  CHECK(truncated);
  // Far from DTSTART with a fine frequency: the work is bounded; what is returned is right.
  cal::Object fine = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nRRULE:FREQ=SECONDLY;COUNT=1000000000\n")));
  std::vector<cal::Instance> late = cal::Expand(fine, T("20301201T090000Z"), T("20301201T090010Z"), &truncated);
  CHECK(late.empty());
  CHECK(truncated);  // it could not get there
  std::vector<cal::Instance> early = cal::Expand(fine, T("20261201T090000Z"), T("20261201T090010Z"), &truncated);
  CHECK(early.size() == 10);
  CHECK_FALSE(truncated);
}

TEST_CASE("Rules starting long before the range expand correctly and cheaply", "[calendar][expand]") {
  // 1404 weeks after DTSTART: an active week of the two-weekly rule.
  cal::Object o = MustIngest(Wrap(Event("DTSTART:20000104T090000Z\nDURATION:PT1H\n"
                                        "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH\n")));
  std::vector<cal::Instance> v = cal::Expand(o, T("20261130T000000Z"), T("20261214T000000Z"));
  CHECK(Starts(v) == std::vector<int64_t>{T("20261201T090000Z"), T("20261203T090000Z")});
  v = cal::Expand(o, T("20261207T000000Z"), T("20261221T000000Z"));
  CHECK(Starts(v) == std::vector<int64_t>{T("20261215T090000Z"), T("20261217T090000Z")});
  // Hourly from 1990 in a DST zone: the wall-clock hour stays.
  cal::Object hourly = MustIngest(Wrap(Event("DTSTART;TZID=Europe/Berlin:19900101T003000\n"
                                             "RRULE:FREQ=HOURLY;INTERVAL=6\n")));
  bool truncated = true;
  v = cal::Expand(hourly, T("20260701T000000Z"), T("20260702T000000Z"), &truncated);
  CHECK_FALSE(truncated);
  CHECK(Starts(v) == std::vector<int64_t>{T("20260701T043000Z"), T("20260701T103000Z"), T("20260701T163000Z"),
                                          T("20260701T223000Z")});
  // A year-1013 start with a weekly rule.
  cal::Object old_start = MustIngest(Wrap(Event("DTSTART:10130507T090000Z\nRRULE:FREQ=WEEKLY;BYDAY=TH\n")));
  v = cal::Expand(old_start, T("20261123T000000Z"), T("20261130T000000Z"), &truncated);
  CHECK_FALSE(truncated);
  CHECK(Starts(v) == std::vector<int64_t>{T("20261126T090000Z")});
  // The DTSTART instance is still there, and EXDATE still applies after a jump.
  cal::Object daily = MustIngest(Wrap(Event("DTSTART:20000101T090000Z\nRRULE:FREQ=DAILY\n"
                                            "EXDATE:20261202T090000Z\n")));
  CHECK(cal::Expand(daily, T("20000101T000000Z"), T("20000102T000000Z")).size() == 1);
  CHECK(Starts(cal::Expand(daily, T("20261201T000000Z"), T("20261204T000000Z"))) ==
        std::vector<int64_t>{T("20261201T090000Z"), T("20261203T090000Z")});
}

TEST_CASE("RANGE=THISANDFUTURE moves the rest of the series", "[calendar][expand]") {
  cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY;COUNT=4\n") +
                                  Event("RECURRENCE-ID;RANGE=THISANDFUTURE:20261215T090000Z\n"
                                        "DTSTART:20261215T110000Z\nDURATION:PT2H\nSUMMARY:later\n")));
  std::vector<cal::Instance> v = cal::Expand(o, T("20261101T000000Z"), T("20270201T000000Z"));
  REQUIRE(v.size() == 4);
  CHECK(Starts(v) == std::vector<int64_t>{T("20261201T090000Z"), T("20261208T090000Z"), T("20261215T110000Z"),
                                          T("20261222T110000Z")});
  CHECK(v[3].end == T("20261222T130000Z"));
  CHECK(v[3].component == v[2].component);
  CHECK(v[3].recurrence_id == T("20261222T090000Z"));
}

TEST_CASE("To-do time ranges follow RFC 4791 9.9", "[calendar][expand][todo]") {
  auto todo = [](const std::string& props) {
    return MustIngest(Wrap("BEGIN:VTODO\nUID:t@test\nDTSTAMP:20261101T000000Z\n" + props + "END:VTODO\n"));
  };
  cal::Object due = todo("DUE:20261205T170000Z\n");
  CHECK(cal::Expand(due, T("20261205T150000Z"), T("20261205T160000Z")).empty());
  CHECK(cal::Expand(due, T("20261205T160000Z"), T("20261205T170000Z")).size() == 1);  // end >= DUE
  CHECK(cal::Expand(due, T("20261205T170000Z"), T("20261205T180000Z")).empty());
  cal::Object none = todo("SUMMARY:whenever\n");
  CHECK(cal::Expand(none, T("20261205T160000Z"), T("20261205T170000Z")).size() == 1);
  cal::Object span = todo("DTSTART:20261201T090000Z\nDUE:20261205T170000Z\n");
  CHECK(cal::Expand(span, T("20261203T000000Z"), T("20261204T000000Z")).size() == 1);
  CHECK(cal::Expand(span, T("20261206T000000Z"), T("20261207T000000Z")).empty());
  cal::Object created = todo("CREATED:20261101T000000Z\n");
  CHECK(cal::Expand(created, T("20301101T000000Z"), T("20301102T000000Z")).size() == 1);
  CHECK(cal::Expand(created, T("20251101T000000Z"), T("20261101T000000Z")).empty());
  cal::Object weekly = todo("DTSTART:20261201T090000Z\nDUE:20261201T170000Z\nRRULE:FREQ=WEEKLY;COUNT=3\n");
  std::vector<cal::Instance> v = cal::Expand(weekly, T("20261101T000000Z"), T("20270101T000000Z"));
  REQUIRE(v.size() == 3);
  CHECK(v[2].end == T("20261215T170000Z"));
}

// ---- busy time ------------------------------------------------------------------------------

TEST_CASE("Busy time skips transparent and cancelled instances, tentative is BUSY-TENTATIVE", "[calendar][busy]") {
  std::vector<cal::BusyPeriod> busy;
  cal::Object meeting = MustIngest(WeeklyMeeting());
  cal::AppendBusy(meeting, T("20261101T000000Z"), T("20261201T000000Z"), &busy);
  REQUIRE(busy.size() == 2);  // Nov 6 (moved), Nov 19; Nov 12 is cancelled; Oct 29 outside
  CHECK(busy[0].start == T("20261106T130000Z"));
  CHECK(busy[0].type == cal::BusyType::kBusy);
  CHECK(busy[1].start == T("20261119T080000Z"));
  busy.clear();
  cal::Object free = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nDURATION:PT1H\nTRANSP:TRANSPARENT\n")));
  cal::AppendBusy(free, T("20261201T000000Z"), T("20261202T000000Z"), &busy);
  CHECK(busy.empty());
  cal::Object tentative = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nDURATION:PT1H\nSTATUS:TENTATIVE\n")));
  cal::AppendBusy(tentative, T("20261201T093000Z"), T("20261202T000000Z"), &busy);
  REQUIRE(busy.size() == 1);
  CHECK(busy[0].type == cal::BusyType::kTentative);
  CHECK(busy[0].start == T("20261201T093000Z"));  // clipped
  CHECK(busy[0].end == T("20261201T100000Z"));
  busy.clear();
  cal::Object zero = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\n")));
  cal::AppendBusy(zero, T("20261201T000000Z"), T("20261202T000000Z"), &busy);
  CHECK(busy.empty());
  cal::Object todo = MustIngest(Wrap("BEGIN:VTODO\nUID:t@test\nDTSTART:20261201T090000Z\nDUE:20261201T170000Z\n"
                                     "END:VTODO\n"));
  cal::AppendBusy(todo, T("20261201T000000Z"), T("20261202T000000Z"), &busy);
  CHECK(busy.empty());
}

TEST_CASE("VFREEBUSY periods are busy time by FBTYPE", "[calendar][busy]") {
  cal::IngestOptions fb;
  fb.components = {"VFREEBUSY"};
  cal::Object o = MustIngest(Wrap("BEGIN:VFREEBUSY\nUID:f@test\nDTSTAMP:20261101T000000Z\n"
                                  "DTSTART:20261201T000000Z\nDTEND:20261202T000000Z\n"
                                  "FREEBUSY:20261201T080000Z/PT1H\n"
                                  "FREEBUSY;FBTYPE=FREE:20261201T100000Z/PT1H\n"
                                  "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20261201T120000Z/20261201T130000Z,"
                                  "20261201T140000Z/PT30M\n"
                                  "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20261201T150000Z/PT1H\n"
                                  "END:VFREEBUSY\n"),
                             fb);
  std::vector<cal::BusyPeriod> busy;
  cal::AppendBusy(o, T("20261201T000000Z"), T("20261202T000000Z"), &busy);
  busy = cal::MergeBusy(busy);
  REQUIRE(busy.size() == 4);
  CHECK(busy[0].type == cal::BusyType::kBusy);
  CHECK(busy[0].end == T("20261201T090000Z"));
  CHECK(busy[1].type == cal::BusyType::kUnavailable);
  CHECK(busy[2].type == cal::BusyType::kUnavailable);
  CHECK(busy[2].end == T("20261201T143000Z"));
  CHECK(busy[3].type == cal::BusyType::kTentative);
}

TEST_CASE("Merging busy time: same types join, the stronger type keeps overlaps", "[calendar][busy]") {
  using B = cal::BusyType;
  std::vector<cal::BusyPeriod> merged = cal::MergeBusy({
      {10, 20, B::kBusy},
      {5, 25, B::kTentative},
      {15, 30, B::kUnavailable},
      {40, 45, B::kBusy},
      {45, 50, B::kBusy},
      {60, 60, B::kBusy},
  });
  REQUIRE(merged.size() == 4);
  CHECK((merged[0].start == 5 && merged[0].end == 10 && merged[0].type == B::kTentative));
  CHECK((merged[1].start == 10 && merged[1].end == 20 && merged[1].type == B::kBusy));
  CHECK((merged[2].start == 20 && merged[2].end == 30 && merged[2].type == B::kUnavailable));
  CHECK((merged[3].start == 40 && merged[3].end == 50 && merged[3].type == B::kBusy));
  CHECK(cal::MergeBusy({}).empty());
  CHECK(std::string(cal::BusyTypeName(B::kBusy)) == "BUSY");
  CHECK(std::string(cal::BusyTypeName(B::kTentative)) == "BUSY-TENTATIVE");
  CHECK(std::string(cal::BusyTypeName(B::kUnavailable)) == "BUSY-UNAVAILABLE");
}

TEST_CASE("Time outside working hours follows the zone across a DST change", "[calendar][busy]") {
  cal::WorkingHours hours;
  hours.timezone = "Europe/Berlin";
  for (int d = 0; d < 5; ++d) hours.days[d] = {{9 * 60, 17 * 60}};
  // Friday 2026-10-23 (CEST) to Tuesday 2026-10-27 (CET); DST ends on Sunday the 25th.
  std::vector<cal::BusyPeriod> off = cal::OutsideWorkingHours(hours, T("20261023T000000Z"), T("20261027T000000Z"));
  REQUIRE(off.size() == 3);
  CHECK((off[0].start == T("20261023T000000Z") && off[0].end == T("20261023T070000Z")));
  CHECK((off[1].start == T("20261023T150000Z") && off[1].end == T("20261026T080000Z")));
  CHECK((off[2].start == T("20261026T160000Z") && off[2].end == T("20261027T000000Z")));
  for (const cal::BusyPeriod& p : off) CHECK(p.type == cal::BusyType::kUnavailable);
  // A split day and a day ending at midnight.
  cal::WorkingHours split;
  split.days[0] = {{8 * 60, 12 * 60}, {13 * 60, 24 * 60}};
  std::vector<cal::BusyPeriod> monday = cal::OutsideWorkingHours(split, T("20261026T000000Z"), T("20261027T000000Z"));
  REQUIRE(monday.size() == 2);
  CHECK((monday[0].start == T("20261026T000000Z") && monday[0].end == T("20261026T080000Z")));
  CHECK((monday[1].start == T("20261026T120000Z") && monday[1].end == T("20261026T130000Z")));
  // No working hours at all: everything.
  std::vector<cal::BusyPeriod> none = cal::OutsideWorkingHours(cal::WorkingHours{}, 0, 1000);
  REQUIRE(none.size() == 1);
  CHECK((none[0].start == 0 && none[0].end == 1000));
}

TEST_CASE("FreeBusyToText is a VFREEBUSY libical reads back, without event details", "[calendar][busy]") {
  cal::Object meeting = MustIngest(WeeklyMeeting());
  std::vector<cal::BusyPeriod> busy;
  cal::AppendBusy(meeting, T("20261101T000000Z"), T("20261201T000000Z"), &busy);
  busy.push_back({T("20261120T080000Z"), T("20261120T090000Z"), cal::BusyType::kTentative});
  cal::FreeBusyReply reply;
  reply.method = "REPLY";
  reply.uid = "fb-1@test";
  reply.organizer = "olga@example.test";
  reply.attendee = "ann@example.test\r\nX-EVIL:1";
  reply.dtstamp = T("20261123T120000Z");
  std::string text = cal::FreeBusyToText(cal::MergeBusy(busy), T("20261101T000000Z"), T("20261201T000000Z"), reply);
  CHECK(text.find("SUMMARY") == std::string::npos);
  CHECK(text.find("LOCATION") == std::string::npos);
  CHECK(text.find("Weekly") == std::string::npos);
  CHECK(text.find("\r\nX-EVIL") == std::string::npos);
  CHECK(text.find("METHOD:REPLY") != std::string::npos);
  CHECK(text.find("FBTYPE=BUSY-TENTATIVE") != std::string::npos);

  icalcomponent* root = icalparser_parse_string(text.c_str());
  REQUIRE(root != nullptr);
  icalcomponent* fb = icalcomponent_get_first_component(root, ICAL_VFREEBUSY_COMPONENT);
  REQUIRE(fb != nullptr);
  CHECK(icalcomponent_get_first_component(root, ICAL_VEVENT_COMPONENT) == nullptr);
  CHECK(icalcomponent_count_properties(fb, ICAL_FREEBUSY_PROPERTY) == 3);
  CHECK(icalcomponent_count_properties(fb, ICAL_XLICERROR_PROPERTY) == 0);
  CHECK(std::string(icalcomponent_get_uid(fb)) == "fb-1@test");
  CHECK(icaltime_as_timet(icalcomponent_get_dtstart(fb)) == T("20261101T000000Z"));
  icalproperty* first = icalcomponent_get_first_property(fb, ICAL_FREEBUSY_PROPERTY);
  icalperiodtype p = icalproperty_get_freebusy(first);
  CHECK(icaltime_as_timet(p.start) == T("20261106T130000Z"));
  icalcomponent_free(root);

  // The CalDAV free-busy-query answer: no METHOD, no UID.
  std::string plain = cal::FreeBusyToText({}, 0, 3600);
  CHECK(plain.find("METHOD") == std::string::npos);
  CHECK(plain.find("UID") == std::string::npos);
  CHECK(plain.find("BEGIN:VFREEBUSY") != std::string::npos);
  CHECK(plain.find("DTSTART:19700101T000000Z") != std::string::npos);
}

// ---- calendar-query filters -----------------------------------------------------------------

namespace {

cal::CompFilter Calendar(std::vector<cal::CompFilter> comps) {
  cal::CompFilter f;
  f.name = "VCALENDAR";
  f.comp_filters = std::move(comps);
  return f;
}

cal::CompFilter Comp(const std::string& name, std::optional<cal::TimeRange> range = std::nullopt,
                     std::vector<cal::PropFilter> props = {}, std::vector<cal::CompFilter> comps = {}) {
  cal::CompFilter f;
  f.name = name;
  f.time_range = range;
  f.prop_filters = std::move(props);
  f.comp_filters = std::move(comps);
  return f;
}

cal::TimeRange Range(const char* start, const char* end) {
  cal::TimeRange r;
  if (start != nullptr) r.start = T(start);
  if (end != nullptr) r.end = T(end);
  return r;
}

cal::PropFilter Text(const std::string& name, const std::string& text, bool negate = false,
                     const std::string& collation = "i;ascii-casemap") {
  cal::PropFilter f;
  f.name = name;
  f.text_match = cal::TextMatch{text, negate, collation};
  return f;
}

cal::PropFilter Undefined(const std::string& name) {
  cal::PropFilter f;
  f.name = name;
  f.is_not_defined = true;
  return f;
}

}  // namespace

TEST_CASE("comp-filter time ranges use the expanded instances", "[calendar][filter]") {
  cal::Object o = MustIngest(WeeklyMeeting());
  CHECK(cal::Matches(o, Calendar({})));
  CHECK(cal::Matches(o, Calendar({Comp("VEVENT")})));
  CHECK_FALSE(cal::Matches(o, Calendar({Comp("VTODO")})));
  CHECK(cal::Matches(o, Calendar({Comp("VEVENT", Range("20261106T000000Z", "20261107T000000Z"))})));
  CHECK_FALSE(cal::Matches(o, Calendar({Comp("VEVENT", Range("20261105T000000Z", "20261106T000000Z"))})));
  CHECK_FALSE(cal::Matches(o, Calendar({Comp("VEVENT", Range("20261022T000000Z", "20261023T000000Z"))})));
  CHECK_FALSE(cal::Matches(o, Calendar({Comp("VEVENT", Range("20261120T000000Z", nullptr))})));
  CHECK(cal::Matches(o, Calendar({Comp("VEVENT", Range(nullptr, "20261015T070001Z"))})));
  CHECK(cal::Matches(o, Calendar({Comp("vevent", Range("20261119T083000Z", nullptr))})));
  // The property filters apply to the component whose instance is in range.
  CHECK(cal::Matches(o, Calendar({Comp("VEVENT", Range("20261106T000000Z", "20261107T000000Z"),
                                       {Text("SUMMARY", "moved")})})));
  CHECK_FALSE(cal::Matches(o, Calendar({Comp("VEVENT", Range("20261119T000000Z", "20261120T000000Z"),
                                             {Text("SUMMARY", "moved")})})));
  // The top level must be VCALENDAR.
  CHECK_FALSE(cal::Matches(o, Comp("VEVENT")));
  // Zero-length event at the range start.
  cal::Object zero = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\n")));
  CHECK(cal::Matches(zero, Calendar({Comp("VEVENT", Range("20261201T090000Z", "20261201T100000Z"))})));
  CHECK_FALSE(cal::Matches(zero, Calendar({Comp("VEVENT", Range("20261201T080000Z", "20261201T090000Z"))})));
  // An infinite rule, far in the future.
  cal::Object daily = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\n")));
  CHECK(cal::Matches(daily, Calendar({Comp("VEVENT", Range("20280301T093000Z", "20280301T094000Z"))})));
  CHECK_FALSE(cal::Matches(daily, Calendar({Comp("VEVENT", Range("20280301T100000Z", "20280301T110000Z"))})));
}

TEST_CASE("text-match: collations and negate", "[calendar][filter]") {
  cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nSUMMARY:Budget Review\\, Q4\n"
                                        "DESCRIPTION:line one\\nline two\n")));
  auto event_with = [&](cal::PropFilter p) { return cal::Matches(o, Calendar({Comp("VEVENT", {}, {std::move(p)})})); };
  CHECK(event_with(Text("SUMMARY", "budget review, q4")));
  CHECK(event_with(Text("summary", "REVIEW")));
  CHECK_FALSE(event_with(Text("SUMMARY", "review", false, "i;octet")));
  CHECK(event_with(Text("SUMMARY", "Review", false, "i;octet")));
  CHECK_FALSE(event_with(Text("SUMMARY", "review", true)));
  CHECK(event_with(Text("SUMMARY", "holiday", true)));
  CHECK(event_with(Text("SUMMARY", "")));
  CHECK(event_with(Text("DESCRIPTION", "one\nline")));
  CHECK_FALSE(event_with(Text("LOCATION", "anything")));  // no such property: no match
  CHECK_FALSE(event_with(Text("LOCATION", "anything", true)));
  CHECK(event_with(Text("UID", "u1@")));
}

TEST_CASE("is-not-defined on components and properties", "[calendar][filter]") {
  cal::Object o = MustIngest(WeeklyMeeting());
  cal::CompFilter no_todo = Comp("VTODO");
  no_todo.is_not_defined = true;
  CHECK(cal::Matches(o, Calendar({no_todo})));
  cal::CompFilter no_event = Comp("VEVENT");
  no_event.is_not_defined = true;
  CHECK_FALSE(cal::Matches(o, Calendar({no_event})));
  // The cancelled override has no SUMMARY: it matches (per component, any component).
  CHECK(cal::Matches(o, Calendar({Comp("VEVENT", {}, {Undefined("SUMMARY")})})));
  cal::Object plain = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nSUMMARY:x\n")));
  CHECK_FALSE(cal::Matches(plain, Calendar({Comp("VEVENT", {}, {Undefined("SUMMARY")})})));
  CHECK(cal::Matches(o, Calendar({Comp("VEVENT", {}, {Undefined("X-NOTHING")})})));
  // LOCATION is on the master only: the overrides have none.
  CHECK(cal::Matches(o, Calendar({Comp("VEVENT", {}, {Undefined("LOCATION")})})));
  // The usual "open to-dos" query.
  auto todo = [](const std::string& props) {
    return MustIngest(Wrap("BEGIN:VTODO\nUID:t@test\nDTSTAMP:20261101T000000Z\n" + props + "END:VTODO\n"));
  };
  cal::CompFilter open = Comp("VTODO", {}, {Undefined("COMPLETED"), Text("STATUS", "CANCELLED", true)});
  CHECK(cal::Matches(todo("STATUS:NEEDS-ACTION\n"), Calendar({open})));
  CHECK_FALSE(cal::Matches(todo("STATUS:CANCELLED\n"), Calendar({open})));
  CHECK_FALSE(cal::Matches(todo("COMPLETED:20261102T000000Z\nSTATUS:COMPLETED\n"), Calendar({open})));
}

TEST_CASE("param-filter on ATTENDEE parameters", "[calendar][filter]") {
  cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\n"
                                        "ATTENDEE;PARTSTAT=ACCEPTED;CN=Ann:mailto:ann@example.test\n"
                                        "ATTENDEE;PARTSTAT=DECLINED:mailto:bob@example.test\n")));
  auto attendee = [&](std::string text, std::vector<cal::ParamFilter> params) {
    cal::PropFilter p;
    p.name = "ATTENDEE";
    if (!text.empty()) p.text_match = cal::TextMatch{text, false, "i;ascii-casemap"};
    p.param_filters = std::move(params);
    return cal::Matches(o, Calendar({Comp("VEVENT", {}, {p})}));
  };
  cal::ParamFilter accepted{"PARTSTAT", false, cal::TextMatch{"accepted", false, "i;ascii-casemap"}};
  cal::ParamFilter no_cn{"CN", true, std::nullopt};
  cal::ParamFilter has_cn{"CN", false, std::nullopt};
  cal::ParamFilter tentative{"PARTSTAT", false, cal::TextMatch{"TENTATIVE", false, "i;octet"}};
  CHECK(attendee("ann@", {accepted}));
  CHECK_FALSE(attendee("bob@", {accepted}));
  CHECK(attendee("bob@", {no_cn}));
  CHECK_FALSE(attendee("ann@", {no_cn}));
  CHECK(attendee("", {has_cn, accepted}));
  CHECK_FALSE(attendee("", {tentative}));
}

TEST_CASE("prop-filter time ranges compare the property's value", "[calendar][filter]") {
  cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nLAST-MODIFIED:20261115T120000Z\n")));
  cal::PropFilter modified;
  modified.name = "LAST-MODIFIED";
  modified.time_range = Range("20261115T000000Z", "20261116T000000Z");
  CHECK(cal::Matches(o, Calendar({Comp("VEVENT", {}, {modified})})));
  modified.time_range = Range("20261116T000000Z", nullptr);
  CHECK_FALSE(cal::Matches(o, Calendar({Comp("VEVENT", {}, {modified})})));
}

TEST_CASE("VALARM time ranges use the trigger times of each instance", "[calendar][filter][alarm]") {
  cal::Object o = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=5\n"
                                        "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:soon\nTRIGGER:-PT15M\n"
                                        "END:VALARM\n")));
  auto alarm_in = [&](const char* s, const char* e) {
    return cal::Matches(o, Calendar({Comp("VEVENT", {}, {}, {Comp("VALARM", Range(s, e))})}));
  };
  CHECK(alarm_in("20261203T084000Z", "20261203T085000Z"));
  CHECK_FALSE(alarm_in("20261203T090000Z", "20261203T100000Z"));
  CHECK_FALSE(alarm_in("20261206T084000Z", "20261206T085000Z"));  // after COUNT
  CHECK(cal::Matches(o, Calendar({Comp("VEVENT", {}, {}, {Comp("VALARM")})})));

  cal::Object end_related = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\nDTEND:20261201T100000Z\n"
                                                  "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:x\n"
                                                  "TRIGGER;RELATED=END:PT5M\nREPEAT:2\nDURATION:PT10M\n"
                                                  "END:VALARM\n")));
  auto end_alarm_in = [&](const char* s, const char* e) {
    return cal::Matches(end_related, Calendar({Comp("VEVENT", {}, {}, {Comp("VALARM", Range(s, e))})}));
  };
  CHECK(end_alarm_in("20261201T100400Z", "20261201T100600Z"));
  CHECK(end_alarm_in("20261201T102400Z", "20261201T102600Z"));  // the second repeat
  CHECK_FALSE(end_alarm_in("20261201T102600Z", "20261201T110000Z"));

  cal::Object absolute = MustIngest(Wrap(Event("DTSTART:20261201T090000Z\n"
                                               "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:x\n"
                                               "TRIGGER;VALUE=DATE-TIME:20261130T180000Z\nEND:VALARM\n")));
  CHECK(cal::Matches(absolute,
                     Calendar({Comp("VEVENT", {}, {}, {Comp("VALARM", Range("20261130T170000Z", "20261130T190000Z"))})})));
  CHECK_FALSE(cal::Matches(
      absolute, Calendar({Comp("VEVENT", {}, {}, {Comp("VALARM", Range("20261201T000000Z", "20261202T000000Z"))})})));
}

// ---- calendar-data shaping ------------------------------------------------------------------

TEST_CASE("ExpandToText writes the instances in UTC without rules or time zones", "[calendar][shape]") {
  cal::Object o = MustIngest(WeeklyMeeting());
  std::string text = cal::ExpandToText(o, T("20261101T000000Z"), T("20261201T000000Z"));
  CHECK(text.find("RRULE") == std::string::npos);
  CHECK(text.find("EXDATE") == std::string::npos);
  CHECK(text.find("VTIMEZONE") == std::string::npos);
  CHECK(text.find("TZID") == std::string::npos);
  CHECK(text.find("DTSTART:20261106T130000Z") != std::string::npos);
  CHECK(text.find("DTSTART:20261119T080000Z") != std::string::npos);
  CHECK(text.find("RECURRENCE-ID:20261119T080000Z") != std::string::npos);
  CHECK(text.find("RECURRENCE-ID:20261105T080000Z") != std::string::npos);
  CHECK(text.find("DTEND:20261119T090000Z") != std::string::npos);
  std::optional<cal::Object> back = cal::Load(text);
  REQUIRE(back.has_value());
  CHECK(back->components.size() == 3);
  CHECK(back->master == nullptr);
  CHECK(back->first_start == T("20261106T130000Z"));

  cal::IngestOptions berlin;
  berlin.floating_tz = "Europe/Berlin";
  cal::Object all_day = MustIngest(Wrap(Event("DTSTART;VALUE=DATE:20261224\nRRULE:FREQ=YEARLY;COUNT=3\n")), berlin);
  std::string days = cal::ExpandToText(all_day, T("20270101T000000Z"), T("20290101T000000Z"));
  CHECK(days.find("DTSTART;VALUE=DATE:20271224") != std::string::npos);
  CHECK(days.find("RECURRENCE-ID;VALUE=DATE:20281224") != std::string::npos);
  CHECK(days.find("20261224") == std::string::npos);

  cal::Object single = MustIngest(Wrap(Event("DTSTART;TZID=Europe/Berlin:20261201T090000\nDURATION:PT1H\n")));
  std::string one = cal::ExpandToText(single, T("20261201T000000Z"), T("20261202T000000Z"));
  CHECK(one.find("DTSTART:20261201T080000Z") != std::string::npos);
  CHECK(one.find("RECURRENCE-ID") == std::string::npos);
  CHECK(one.find("DURATION:PT1H") != std::string::npos);
  CHECK(cal::ExpandToText(single, T("20261202T000000Z"), T("20261203T000000Z")).find("VEVENT") == std::string::npos);
}

TEST_CASE("LimitRecurrenceSetToText keeps the master and the overrides in range", "[calendar][shape]") {
  cal::Object o = MustIngest(WeeklyMeeting());
  std::string text = cal::LimitRecurrenceSetToText(o, T("20261101T000000Z"), T("20261110T000000Z"));
  CHECK(text.find("RRULE:FREQ=WEEKLY;COUNT=6") != std::string::npos);
  CHECK(text.find("BEGIN:VTIMEZONE") != std::string::npos);
  CHECK(text.find("Weekly (moved)") != std::string::npos);
  CHECK(text.find("CANCELLED") == std::string::npos);
  std::optional<cal::Object> back = cal::Load(text);
  REQUIRE(back.has_value());
  CHECK(back->components.size() == 2);
  std::string later = cal::LimitRecurrenceSetToText(o, T("20261110T000000Z"), T("20261201T000000Z"));
  CHECK(later.find("CANCELLED") != std::string::npos);
  CHECK(later.find("Weekly (moved)") == std::string::npos);
}

TEST_CASE("Thousands of overrides with alarms on an infinite rule stay bounded", "[calendar][expand][limits]") {
  std::string body = Event("DTSTART:20000101T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\n");
  for (int i = 0; i < 2000; ++i) {
    std::string rid = cal::FormatUtc(T("20000101T090000Z") + int64_t{i} * 86400 * 3);
    body += Event("RECURRENCE-ID:" + rid + "\nDTSTART:" + rid + "\nDURATION:PT2H\n" +
                  "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:x\nTRIGGER:-PT" + std::to_string(i % 50 + 1) +
                  "M\nEND:VALARM\n");
  }
  cal::IngestOptions big;
  big.max_bytes = 4 << 20;
  cal::Object o = MustIngest(Wrap(body), big);
  CHECK(o.components.size() == 2001);
  CHECK_FALSE(o.last_end.has_value());
  bool truncated = false;
  std::vector<cal::Instance> v = cal::Expand(o, T("20000101T000000Z"), T("20300101T000000Z"), &truncated);
  CHECK(v.size() == cal::kMaxInstances);
  CHECK(truncated);
  // The alarm of the override on day 3*1999 fires 1999 % 50 + 1 = 50 minutes before it.
  int64_t last = T("20000101T090000Z") + int64_t{1999} * 86400 * 3;
  cal::CompFilter alarm;
  alarm.name = "VALARM";
  alarm.time_range = cal::TimeRange{last - 50 * 60, last - 49 * 60};
  cal::CompFilter event;
  event.name = "VEVENT";
  event.comp_filters = {alarm};
  cal::CompFilter top;
  top.name = "VCALENDAR";
  top.comp_filters = {event};
  CHECK(cal::Matches(o, top));
  alarm.time_range = cal::TimeRange{last + 60, last + 120};
  event.comp_filters = {alarm};
  top.comp_filters = {event};
  CHECK_FALSE(cal::Matches(o, top));
}
