// BODY[section] / BINARY[part] data (lib/imap/fetch_section.h) over a message with a
// message/rfc822 part holding multiparts, as RFC 3501 6.4.5 numbers them.
#include "lib/imap/fetch_section.h"

#include <catch2/catch.hpp>
#include <string>

namespace kite::imap {
namespace {

std::string Crlf(std::string_view s) {
  std::string r;
  for (char c : s) {
    if (c == '\n') r += '\r';
    r.push_back(c);
  }
  return r;
}

const std::string kInnerHeader = Crlf(
    "From: Inner <inner@example.test>\n"
    "Subject: inner\n"
    "X-Folded: one\n"
    " two\n"
    "Message-ID: <inner@example.test>\n"
    "Content-Type: multipart/mixed; boundary=\"i\"\n"
    "\n");
const std::string kInnerBody = Crlf(
    "--i\n"
    "Content-Type: text/plain\n"
    "\n"
    "inner text\n"
    "--i\n"
    "Content-Type: application/octet-stream\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "AAECAw==\n"
    "--i\n"
    "Content-Type: multipart/alternative; boundary=\"a\"\n"
    "\n"
    "--a\n"
    "Content-Type: text/plain\n"
    "\n"
    "alt plain\n"
    "--a\n"
    "Content-Type: text/html\n"
    "\n"
    "<p>alt</p>\n"
    "--a--\n"
    "--i--");
const std::string kOuterHeader = Crlf(
    "From: Outer <outer@example.test>\n"
    "Subject: outer\n"
    "Content-Type: multipart/mixed; boundary=\"o\"\n"
    "\n");
const std::string kRaw = kOuterHeader +
                         Crlf(
                             "--o\n"
                             "Content-Type: text/plain; charset=utf-8\n"
                             "Content-Transfer-Encoding: quoted-printable\n"
                             "\n"
                             "caf=C3=A9\n"
                             "--o\n"
                             "Content-Type: message/rfc822\n"
                             "Content-Description: forwarded\n"
                             "\n") +
                         kInnerHeader + kInnerBody +
                         Crlf(
                             "\n--o\n"
                             "Content-Type: application/x-thing\n"
                             "Content-Transfer-Encoding: x-private\n"
                             "\n"
                             "data\n"
                             "--o--\n");

std::optional<std::string> Body(std::string_view item) {
  auto it = ParseFetchItem(item);
  INFO(item << " " << it.status().ToString());
  REQUIRE(it.ok());
  mime::Message msg = mime::Parse(kRaw);
  auto data = BodySectionData(kRaw, msg, *it);
  if (data) *data = ApplyPartial(std::move(*data), *it);
  return data;
}

absl::StatusOr<std::optional<std::string>> Binary(std::string_view item) {
  auto it = ParseFetchItem(item);
  INFO(item << " " << it.status().ToString());
  REQUIRE(it.ok());
  mime::Message msg = mime::Parse(kRaw);
  return BinarySectionData(kRaw, msg, *it);
}

TEST_CASE("BODY[n], [n.MIME] and the whole message", "[imap][fetch]") {
  CHECK(Body("BODY[]") == kRaw);
  CHECK(Body("BODY[HEADER]") == kOuterHeader);
  CHECK(Body("BODY[TEXT]") == kRaw.substr(kOuterHeader.size()));
  CHECK(Body("BODY[1]") == "caf=C3=A9");
  CHECK(Body("BODY[1.MIME]") ==
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
  CHECK(Body("BODY[3]") == "data");
  CHECK(Body("BODY[1]<2.3>") == "f=C");
  CHECK(Body("BODY[1]<100.3>") == "");
  CHECK(Body("BODY[4]") == std::nullopt);
  CHECK(Body("BODY[1.HEADER]") == "");  // not a message/rfc822 part
  CHECK(Body("BODY[1.TEXT]") == "");
}

TEST_CASE("sections inside a message/rfc822 part", "[imap][fetch]") {
  CHECK(Body("BODY[2]") == kInnerHeader + kInnerBody);
  CHECK(Body("BODY[2.MIME]") ==
        "Content-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n");
  CHECK(Body("BODY[2.HEADER]") == kInnerHeader);
  CHECK(Body("BODY[2.TEXT]") == kInnerBody);
  CHECK(Body("BODY.PEEK[2.HEADER.FIELDS (SUBJECT \"message-id\" x-folded)]") ==
        "Subject: inner\r\nX-Folded: one\r\n two\r\nMessage-ID: <inner@example.test>\r\n\r\n");
  CHECK(Body("BODY[2.HEADER.FIELDS.NOT (From Subject X-Folded Content-Type)]") ==
        "Message-ID: <inner@example.test>\r\n\r\n");
  CHECK(Body("BODY[2.HEADER.FIELDS (X-None)]") == "\r\n");
  CHECK(Body("BODY[2.1]") == "inner text");
  CHECK(Body("BODY[2.1.MIME]") == "Content-Type: text/plain\r\n\r\n");
  CHECK(Body("BODY[2.2]") == "AAECAw==");
  CHECK(Body("BODY[2.3]") ==
        Crlf("--a\nContent-Type: text/plain\n\nalt plain\n--a\nContent-Type: text/html\n\n"
             "<p>alt</p>\n--a--"));
  CHECK(Body("BODY[2.3.1]") == "alt plain");
  CHECK(Body("BODY[2.3.2]") == "<p>alt</p>");
  CHECK(Body("BODY[2.3.2.MIME]") == "Content-Type: text/html\r\n\r\n");
  CHECK(Body("BODY[2.3.3]") == std::nullopt);
  CHECK(Body("BODY[2.4]") == std::nullopt);
  CHECK(Body("BODY[2.3.1.HEADER]") == "");
}

TEST_CASE("BINARY undoes the transfer encoding of a part", "[imap][fetch]") {
  CHECK(*Binary("BINARY[1]") == "caf\xC3\xA9");
  CHECK(*Binary("BINARY.PEEK[2.2]") == std::string("\0\1\2\3", 4));
  CHECK(*Binary("BINARY[2]") == kInnerHeader + kInnerBody);  // 7bit message/rfc822
  CHECK(*Binary("BINARY[2.3.2]") == "<p>alt</p>");
  CHECK(*Binary("BINARY[]") == kRaw);
  CHECK(Binary("BINARY[2.3]")->has_value() == false);  // a multipart
  CHECK(Binary("BINARY[9]")->has_value() == false);
  auto unknown = Binary("BINARY[3]");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().find("[UNKNOWN-CTE]") == 0);
}

TEST_CASE("HEADER.FIELDS keeps continuation lines and ends with the blank line", "[imap][fetch]") {
  std::string header = Crlf("A: 1\nB: 2\n  cont\nA : 3\nnot a field\n\nbody: x\n");
  CHECK(FilterHeaderFields(header, {"a"}, false) == Crlf("A: 1\nA : 3\n\n"));
  CHECK(FilterHeaderFields(header, {"A"}, true) == Crlf("B: 2\n  cont\n\n"));
  CHECK(FilterHeaderFields("A: no newline", {"a"}, false) == "A: no newline\r\n\r\n");
  CHECK(PartPath({2, 1, 3}) == "2.1.3");
}

}  // namespace
}  // namespace kite::imap
