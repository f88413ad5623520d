// The pure half of implicit scheduling: iTIP messages built from a stored object, the
// significant-change test, PARTSTAT and SCHEDULE-STATUS edits.
#include "caldav/itip_build.h"

#include <catch2/catch.hpp>
#include <string>

#include "caldav/itip.h"

namespace {

using namespace kite::caldav;

std::string Crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

std::string Event(
    const std::string& extra = "", const std::string& start = "20261201T090000Z",
    const std::string& attendees =
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:olga@example.test\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;SCHEDULE-STATUS=1.2:mailto:Demo@Example.test\n"
        "ATTENDEE;CUTYPE=ROOM:mailto:room@example.test\n") {
  return Crlf(
      "BEGIN:VCALENDAR\nPRODID:-//Test//EN\nVERSION:2.0\nBEGIN:VEVENT\nUID:ev-1\n"
      "DTSTAMP:20261120T090000Z\nDTSTART:" +
      start +
      "\nDTEND:20261201T100000Z\nSUMMARY:Sync\n"
      "SEQUENCE:1\nORGANIZER;CN=Olga:mailto:olga@example.test\n" +
      attendees + extra +
      "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:x\nTRIGGER:-PT10M\nEND:VALARM\n"
      "END:VEVENT\nEND:VCALENDAR\n");
}

// Serialised text with folded lines joined.
std::string Text(icalcomponent* root) {
  std::string s = Serialize(root), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 3, "\r\n ") == 0) {
      i += 2;
      continue;
    }
    out += s[i];
  }
  return out;
}

Ical Parse(const std::string& text) {
  Ical root = ParseCalendar(text);
  REQUIRE(root);
  return root;
}

}  // namespace

TEST_CASE("organiser, attendees and summary are read from the object", "[caldav][itip_build]") {
  Ical root = Parse(Event());
  CHECK(OrganizerOf(root.get()) == "olga@example.test");
  CHECK(OrganizerCommonName(root.get()) == "Olga");
  CHECK(OrganizerScheduleAgent(root.get()) == "SERVER");
  auto att = AttendeesOf(root.get());
  REQUIRE(att.size() == 3);
  CHECK(att[1].address == "demo@example.test");
  CHECK(att[1].partstat == "NEEDS-ACTION");
  CHECK(att[2].cutype == "ROOM");
  CHECK(Summary(root.get()) == "Sync");
  CHECK_FALSE(IsCancelled(root.get()));
}

TEST_CASE("alarms and another attendee's PARTSTAT are not significant; times, location are",
          "[caldav][itip_build]") {
  Ical a = Parse(Event());
  Ical alarm_changed = Parse(Event("X-MOZ-LASTACK:20261120T090000Z\n"));
  CHECK(SignificantFingerprint(a.get()) == SignificantFingerprint(alarm_changed.get()));
  Ical partstat = Parse(Event());
  SetPartstat(partstat.get(), "demo@example.test", "ACCEPTED");
  CHECK(SignificantFingerprint(a.get()) == SignificantFingerprint(partstat.get()));
  Ical moved = Parse(Event("", "20261201T083000Z"));
  CHECK(SignificantFingerprint(a.get()) != SignificantFingerprint(moved.get()));
  Ical located = Parse(Event("LOCATION:Room 1\n"));
  CHECK(SignificantFingerprint(a.get()) != SignificantFingerprint(located.get()));
  Ical fewer = Parse(Event("", "20261201T090000Z", "ATTENDEE:mailto:demo@example.test\n"));
  CHECK(SignificantFingerprint(a.get()) != SignificantFingerprint(fewer.get()));
}

TEST_CASE("a REQUEST carries the object without alarms and SCHEDULE-* parameters",
          "[caldav][itip_build]") {
  Ical root = Parse(Event());
  Ical req = BuildRequest(root.get(), 1795000000);
  std::string text = Text(req.get());
  CHECK(text.find("METHOD:REQUEST") != std::string::npos);
  CHECK(text.find("VALARM") == std::string::npos);
  CHECK(text.find("SCHEDULE-STATUS") == std::string::npos);
  CHECK(text.find("SUMMARY:Sync") != std::string::npos);
  auto parsed = ParseItip(text, "REQUEST");
  REQUIRE(parsed.ok());
  CHECK(parsed->uid == "ev-1");
  // The input is unchanged.
  CHECK(Serialize(root.get()).find("VALARM") != std::string::npos);
}

TEST_CASE("a CANCEL names only its recipients, even removed ones", "[caldav][itip_build]") {
  Ical root = Parse(Event());
  Ical cancel = BuildCancel(root.get(), {"gone@other.test"}, 1795000000);
  std::string text = Text(cancel.get());
  CHECK(text.find("METHOD:CANCEL") != std::string::npos);
  CHECK(text.find("STATUS:CANCELLED") != std::string::npos);
  CHECK(text.find("mailto:gone@other.test") != std::string::npos);
  CHECK(text.find("demo@example.test") == std::string::npos);
  CHECK(ParseItip(text, "CANCEL").ok());
}

TEST_CASE("a REPLY names only the replying attendee with its PARTSTAT", "[caldav][itip_build]") {
  Ical root = Parse(Event());
  SetPartstat(root.get(), "demo@example.test", "ACCEPTED");
  Ical reply = BuildReply(root.get(), "demo@example.test", 1795000000, "See you");
  std::string text = Text(reply.get());
  auto parsed = ParseItip(text, "REPLY");
  REQUIRE(parsed.ok());
  CHECK(RepliesAsSender(*parsed, "demo@example.test"));
  CHECK(text.find("PARTSTAT=ACCEPTED") != std::string::npos);
  CHECK(text.find("RSVP") == std::string::npos);
  CHECK(text.find("COMMENT:See you") != std::string::npos);

  // Applied to the organiser's copy (itip.h), the attendee shows as accepted.
  Ical organiser = Parse(Event());
  ReplyEffect effect = ApplyReply(*parsed, "demo@example.test", organiser.get());
  CHECK(effect.updated == 1);
  CHECK(PartstatsOf(organiser.get(), "demo@example.test").at("") == "ACCEPTED");
}

TEST_CASE("an attendee's copy keeps the PARTSTAT given, NEEDS-ACTION when new",
          "[caldav][itip_build]") {
  Ical root = Parse(Event());
  SetPartstat(root.get(), "demo@example.test", "ACCEPTED");  // what the organiser's client says
  Ical fresh = BuildAttendeeCopy(root.get(), "demo@example.test", {});
  CHECK(PartstatsOf(fresh.get(), "demo@example.test").at("") == "NEEDS-ACTION");
  Ical kept = BuildAttendeeCopy(root.get(), "demo@example.test", {{"", "TENTATIVE"}});
  CHECK(PartstatsOf(kept.get(), "demo@example.test").at("") == "TENTATIVE");
  std::string text = Text(kept.get());
  CHECK(text.find("METHOD") == std::string::npos);
  CHECK(text.find("SCHEDULE-STATUS") == std::string::npos);
}

TEST_CASE("SCHEDULE-STATUS and the booking note are set on the named attendee only",
          "[caldav][itip_build]") {
  Ical root = Parse(Event());
  SetScheduleStatus(root.get(), "room@example.test", "1.2");
  SetBookingNote(root.get(), "room@example.test", "longer than 2 h;\r\nX-EVIL:1");
  std::string text = Text(root.get());
  INFO(text);
  CHECK(text.find("ROOM;SCHEDULE-STATUS=1.2;X-KITE-BOOKING=longer than 2 "
                  "hX-EVIL1:mailto:room@example.test") != std::string::npos);
  CHECK(text.find("X-EVIL:1") == std::string::npos);
  CHECK(text.find("RSVP=TRUE;SCHEDULE-STATUS=1.2:mailto:Demo") != std::string::npos);  // unchanged
  SetBookingNote(root.get(), "room@example.test", "");
  CHECK(Text(root.get()).find("X-KITE-BOOKING") == std::string::npos);
}

TEST_CASE("overrides: PARTSTAT per recurrence", "[caldav][itip_build]") {
  std::string text = Crlf(
      "BEGIN:VCALENDAR\nPRODID:-//Test//"
      "EN\nVERSION:2.0\nBEGIN:VEVENT\nUID:w\nDTSTAMP:20261120T090000Z\n"
      "DTSTART:20261201T090000Z\nDTEND:20261201T100000Z\nRRULE:FREQ=WEEKLY\nORGANIZER:mailto:o@"
      "example.test\n"
      "ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@example.test\nEND:VEVENT\nBEGIN:VEVENT\nUID:w\n"
      "DTSTAMP:20261120T090000Z\nRECURRENCE-ID:20261208T090000Z\nDTSTART:20261208T130000Z\n"
      "DTEND:20261208T140000Z\nORGANIZER:mailto:o@example.test\n"
      "ATTENDEE;PARTSTAT=DECLINED:mailto:a@example.test\nEND:VEVENT\nEND:VCALENDAR\n");
  Ical root = Parse(text);
  auto ps = PartstatsOf(root.get(), "a@example.test");
  REQUIRE(ps.size() == 2);
  CHECK(ps.at("") == "ACCEPTED");
  CHECK(ps.at("20261208T090000Z") == "DECLINED");
  Ical copy = BuildAttendeeCopy(root.get(), "a@example.test", ps);
  CHECK(PartstatsOf(copy.get(), "a@example.test") == ps);
  Ical reply = BuildReply(root.get(), "a@example.test", 1795000000);
  CHECK(SchedulingComponents(reply.get()).size() == 2);
}
