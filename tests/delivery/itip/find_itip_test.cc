// FindItip (services/delivery/itip.h) on invitations shaped like the ones Thunderbird,
// Outlook and Google Calendar send, and on the look-alikes that are not iMIP.
#include "delivery/itip.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/escaping.h"

namespace {

using kite::delivery::CalendarMethod;
using kite::delivery::FindItip;
using kite::delivery::ItipPart;

// Mail is CRLF on the wire: tests write LF and convert.
std::string Crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

std::string Base64Lines(std::string_view s) {
  std::string b = absl::Base64Escape(absl::string_view(s.data(), s.size()));
  std::string out;
  for (size_t i = 0; i < b.size(); i += 76) out += b.substr(i, 76) + "\n";
  return out;
}

std::vector<ItipPart> Find(const std::string& raw) { return FindItip(raw, kite::mime::Parse(raw)); }

// An invitation as Thunderbird / Lightning writes it (LF line ends, converted by Crlf).
const char kRequestIcs[] =
    "BEGIN:VCALENDAR\n"
    "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\n"
    "VERSION:2.0\n"
    "METHOD:REQUEST\n"
    "BEGIN:VTIMEZONE\n"
    "TZID:Europe/Berlin\n"
    "BEGIN:STANDARD\n"
    "TZOFFSETFROM:+0200\n"
    "TZOFFSETTO:+0100\n"
    "TZNAME:CET\n"
    "DTSTART:19701025T030000\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\n"
    "END:STANDARD\n"
    "END:VTIMEZONE\n"
    "BEGIN:VEVENT\n"
    "CREATED:20261120T090000Z\n"
    "LAST-MODIFIED:20261120T090000Z\n"
    "DTSTAMP:20261120T090000Z\n"
    "UID:4e1c6a8e-7d2b-4a55-9c59-0f2b1c6f3a11\n"
    "SUMMARY:Project sync\n"
    "ORGANIZER;CN=Olga Organizer:mailto:olga@client.test\n"
    "ATTENDEE;CN=Demo User;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:demo@exa\n"
    " mple.test\n"
    "DTSTART;TZID=Europe/Berlin:20261201T100000\n"
    "DTEND;TZID=Europe/Berlin:20261201T110000\n"
    "SEQUENCE:0\n"
    "TRANSP:OPAQUE\n"
    "END:VEVENT\n"
    "END:VCALENDAR\n";

std::string Thunderbird() {
  return Crlf(std::string(
                  "From: Olga Organizer <olga@client.test>\n"
                  "To: demo@example.test\n"
                  "Subject: Invitation: Project sync @ Tue Dec 1, 2026 10:00 - 11:00 (CET)\n"
                  "Message-ID: <tb1@client.test>\n"
                  "MIME-Version: 1.0\n"
                  "Content-Type: multipart/mixed; boundary=\"------------mixed\"\n"
                  "\n"
                  "This is a multi-part message in MIME format.\n"
                  "--------------mixed\n"
                  "Content-Type: multipart/alternative; boundary=\"------------alt\"\n"
                  "\n"
                  "--------------alt\n"
                  "Content-Type: text/plain; charset=UTF-8\n"
                  "Content-Transfer-Encoding: 8bit\n"
                  "\n"
                  "Olga Organizer has invited you to Project sync.\n"
                  "--------------alt\n"
                  "Content-Type: text/calendar; method=REQUEST; charset=UTF-8\n"
                  "Content-Transfer-Encoding: 8bit\n"
                  "\n") +
              kRequestIcs +
              "--------------alt--\n"
              "\n"
              "--------------mixed\n"
              "Content-Type: application/ics; name=\"invite.ics\"\n"
              "Content-Disposition: attachment; filename=\"invite.ics\"\n"
              "Content-Transfer-Encoding: base64\n"
              "\n" +
              Base64Lines(Crlf(kRequestIcs)) + "--------------mixed--\n");
}

TEST_CASE("A Thunderbird invitation gives its REQUEST once, not the application/ics copy", "[itip]") {
  auto parts = Find(Thunderbird());
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].method == "REQUEST");
  CHECK(parts[0].icalendar == Crlf(kRequestIcs));
}

TEST_CASE("An Outlook invitation: base64 text/calendar inside multipart/alternative", "[itip]") {
  std::string ics = Crlf(
      "BEGIN:VCALENDAR\n"
      "METHOD:REQUEST\n"
      "PRODID:Microsoft Exchange Server 2010\n"
      "VERSION:2.0\n"
      "BEGIN:VEVENT\n"
      "ORGANIZER;CN=Olga Organizer:mailto:olga@client.test\n"
      "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=demo@example.test:mailto:demo@example.test\n"
      "DESCRIPTION;LANGUAGE=en-US:Quarterly review\\n\n"
      "UID:040000008200E00074C5B7101A82E00800000000D0C7C0B9F5C2DA01000000000000000010000000\n"
      "SUMMARY;LANGUAGE=en-US:Quarterly review\n"
      "DTSTART;TZID=W. Europe Standard Time:20261203T140000\n"
      "DTEND;TZID=W. Europe Standard Time:20261203T150000\n"
      "CLASS:PUBLIC\n"
      "PRIORITY:5\n"
      "DTSTAMP:20261120T101500Z\n"
      "TRANSP:OPAQUE\n"
      "STATUS:CONFIRMED\n"
      "SEQUENCE:0\n"
      "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE\n"
      "END:VEVENT\n"
      "END:VCALENDAR\n");
  std::string raw = Crlf(
                        "From: Olga Organizer <olga@client.test>\n"
                        "To: \"demo@example.test\" <demo@example.test>\n"
                        "Subject: Quarterly review\n"
                        "Thread-Topic: Quarterly review\n"
                        "Content-Language: en-US\n"
                        "MIME-Version: 1.0\n"
                        "Content-Type: multipart/alternative;\n"
                        "\tboundary=\"_000_AM0PR01MB1234_\"\n"
                        "\n"
                        "--_000_AM0PR01MB1234_\n"
                        "Content-Type: text/plain; charset=\"us-ascii\"\n"
                        "Content-Transfer-Encoding: quoted-printable\n"
                        "\n"
                        "Quarterly review\n"
                        "\n"
                        "--_000_AM0PR01MB1234_\n"
                        "Content-Type: text/html; charset=\"us-ascii\"\n"
                        "Content-Transfer-Encoding: quoted-printable\n"
                        "\n"
                        "<html><body>Quarterly review</body></html>\n"
                        "\n"
                        "--_000_AM0PR01MB1234_\n"
                        "Content-Type: text/calendar; charset=\"utf-8\"; method=REQUEST\n"
                        "Content-Transfer-Encoding: base64\n"
                        "\n") +
                    Crlf(Base64Lines(ics)) + Crlf("\n--_000_AM0PR01MB1234_--\n");
  auto parts = Find(raw);
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].method == "REQUEST");
  CHECK(parts[0].icalendar == ics);
}

TEST_CASE("A Google Calendar REPLY with quoted-printable body and a lower-case method parameter", "[itip]") {
  std::string raw = Crlf(
      "From: Demo User <demo@example.test>\n"
      "To: olga@client.test\n"
      "Subject: Accepted: Project sync @ Tue Dec 1, 2026\n"
      "MIME-Version: 1.0\n"
      "Content-Type: multipart/mixed; boundary=\"000000000000a1b2c3\"\n"
      "\n"
      "--000000000000a1b2c3\n"
      "Content-Type: multipart/alternative; boundary=\"000000000000a1b2c4\"\n"
      "\n"
      "--000000000000a1b2c4\n"
      "Content-Type: text/plain; charset=\"UTF-8\"; format=flowed; delsp=yes\n"
      "\n"
      "Demo User has accepted this invitation.\n"
      "\n"
      "--000000000000a1b2c4\n"
      "Content-Type: text/calendar; charset=\"UTF-8\"; method=reply\n"
      "Content-Transfer-Encoding: quoted-printable\n"
      "\n"
      "BEGIN:VCALENDAR\n"
      "PRODID:-//Google Inc//Google Calendar 70.9054//EN\n"
      "VERSION:2.0\n"
      "CALSCALE:GREGORIAN\n"
      "METHOD:REPLY\n"
      "BEGIN:VEVENT\n"
      "DTSTART:20261201T090000Z\n"
      "DTEND:20261201T100000Z\n"
      "DTSTAMP:20261121T080000Z\n"
      "ORGANIZER;CN=Olga Organizer:mailto:olga@client.test\n"
      "UID:4e1c6a8e-7d2b-4a55-9c59-0f2b1c6f3a11\n"
      "ATTENDEE;CUTYPE=3DINDIVIDUAL;ROLE=3DREQ-PARTICIPANT;PARTSTAT=3DACCEPTED;CN=3DD=\n"
      "emo User;X-NUM-GUESTS=3D0:mailto:demo@example.test\n"
      "SUMMARY:Project sync\n"
      "SEQUENCE:0\n"
      "END:VEVENT\n"
      "END:VCALENDAR\n"
      "\n"
      "--000000000000a1b2c4--\n"
      "--000000000000a1b2c3\n"
      "Content-Type: application/ics; name=\"invite.ics\"\n"
      "Content-Disposition: attachment; filename=\"invite.ics\"\n"
      "Content-Transfer-Encoding: base64\n"
      "\n"
      "QkVHSU46VkNBTEVOREFSDQpFTkQ6VkNBTEVOREFSDQo=\n"
      "--000000000000a1b2c3--\n");
  auto parts = Find(raw);
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].method == "REPLY");
  CHECK(parts[0].icalendar.find("PARTSTAT=ACCEPTED;CN=Demo User;X-NUM-GUESTS=0:mailto:demo@example.test\r\n") !=
        std::string::npos);
  CHECK(parts[0].icalendar.find("=3D") == std::string::npos);
}

TEST_CASE("A single-part text/calendar message (no multipart at all) is iMIP", "[itip]") {
  std::string raw = Crlf(std::string("From: olga@client.test\nTo: demo@example.test\nSubject: x\nMIME-Version: 1.0\n"
                                     "Content-Type: text/calendar; method=\"REQUEST\"\n\n") +
                         kRequestIcs);
  auto parts = Find(raw);
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].method == "REQUEST");
}

TEST_CASE("Look-alikes are not iMIP", "[itip]") {
  auto single = [](std::string_view content_type, std::string_view ics) {
    return Crlf(std::string("From: olga@client.test\nTo: demo@example.test\nSubject: x\nMIME-Version: 1.0\n"
                            "Content-Type: ") +
                std::string(content_type) + "\n\n" + std::string(ics));
  };
  SECTION("the method parameter and the METHOD property disagree (RFC 6047 2.4)") {
    CHECK(Find(single("text/calendar; method=CANCEL", kRequestIcs)).empty());
  }
  SECTION("no method parameter: a published calendar") {
    CHECK(Find(single("text/calendar; charset=UTF-8", kRequestIcs)).empty());
  }
  SECTION("PUBLISH is not scheduling") {
    std::string ics = kRequestIcs;
    ics.replace(ics.find("METHOD:REQUEST"), 14, "METHOD:PUBLISH");
    CHECK(Find(single("text/calendar; method=PUBLISH", ics)).empty());
  }
  SECTION("application/ics, even with a method parameter") {
    CHECK(Find(single("application/ics; method=REQUEST", kRequestIcs)).empty());
  }
  SECTION("no METHOD property in the object") {
    std::string ics = kRequestIcs;
    ics.erase(ics.find("METHOD:REQUEST\n"), 15);
    CHECK(Find(single("text/calendar; method=REQUEST", ics)).empty());
  }
  SECTION("two METHOD properties") {
    std::string ics = kRequestIcs;
    ics.insert(ics.find("METHOD:REQUEST\n"), "METHOD:REQUEST\n");
    CHECK(Find(single("text/calendar; method=REQUEST", ics)).empty());
  }
  SECTION("not a VCALENDAR at all") {
    CHECK(Find(single("text/calendar; method=REQUEST", "METHOD:REQUEST\nhello\n")).empty());
    CHECK(Find(single("text/calendar; method=REQUEST", "")).empty());
  }
  SECTION("an invitation inside a forwarded message (message/rfc822)") {
    std::string raw = Crlf(
                          "From: fwd@client.test\nTo: demo@example.test\nSubject: Fwd\nMIME-Version: 1.0\n"
                          "Content-Type: multipart/mixed; boundary=b\n\n"
                          "--b\nContent-Type: text/plain\n\nsee below\n"
                          "--b\nContent-Type: message/rfc822\n\n") +
                      single("text/calendar; method=REQUEST", kRequestIcs) + Crlf("--b--\n");
    CHECK(Find(raw).empty());
  }
  SECTION("larger than 1 MiB decoded") {
    std::string ics = kRequestIcs;
    std::string big = "DESCRIPTION:" + std::string(kite::delivery::kMaxItipBytes, 'x') + "\n";
    ics.insert(ics.find("END:VEVENT"), big);
    CHECK(Find(single("text/calendar; method=REQUEST", ics)).empty());
  }
}

TEST_CASE("Two different iTIP parts are both found, in order", "[itip]") {
  std::string cancel = kRequestIcs;
  cancel.replace(cancel.find("METHOD:REQUEST"), 14, "METHOD:CANCEL");
  std::string raw = Crlf(std::string("From: olga@client.test\nTo: demo@example.test\nSubject: x\nMIME-Version: 1.0\n"
                                     "Content-Type: multipart/mixed; boundary=b\n\n"
                                     "--b\nContent-Type: text/calendar; method=REQUEST\n\n") +
                         kRequestIcs + "--b\nContent-Type: text/calendar; method=CANCEL\n\n" + cancel + "--b--\n");
  auto parts = Find(raw);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].method == "REQUEST");
  CHECK(parts[1].method == "CANCEL");
}

TEST_CASE("CalendarMethod reads the VCALENDAR's METHOD only", "[itip]") {
  CHECK(CalendarMethod("BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n") == "REPLY");
  CHECK(CalendarMethod("\xEF\xBB\xBF" "begin:vcalendar\nmethod:cancel\nend:vcalendar\n") == "CANCEL");
  CHECK(CalendarMethod("BEGIN:VCALENDAR\r\nMETH\r\n OD:REQUEST\r\nEND:VCALENDAR\r\n") == "REQUEST");
  CHECK(CalendarMethod("BEGIN:VCALENDAR\r\nMETHOD;X-A=\"a:b\":ADD\r\nEND:VCALENDAR\r\n") == "ADD");
  // A METHOD inside a component is not the calendar's.
  CHECK(CalendarMethod("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nMETHOD:REQUEST\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n") == "");
  // Some generators write calendar properties after a VTIMEZONE.
  CHECK(CalendarMethod("BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nEND:VTIMEZONE\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n") ==
        "REQUEST");
  CHECK(CalendarMethod("METHOD:REQUEST\r\n") == "");
  CHECK(CalendarMethod("") == "");
}

}  // namespace
