#include "lib/smtp/header_from.h"

#include <catch2/catch.hpp>
#include <string>

namespace kite::smtp {
namespace {

using V = std::vector<std::string>;

TEST_CASE("From with a display name and angle brackets yields the address", "[smtp][header_from]") {
  auto r = ParseFromHeaders(
      "Subject: x\r\nFrom: \"Demo, User\" <demo@example.test>\r\n\r\nFrom: body@x.test\r\n");
  CHECK(r.fields == 1);
  CHECK(r.addresses == V{"demo@example.test"});
  CHECK_FALSE(r.truncated);
}

TEST_CASE("A bare From address, comments and case are handled", "[smtp][header_from]") {
  auto r = ParseFromHeaders("fROM: demo@example.test (Demo User)\r\n\r\n");
  CHECK(r.addresses == V{"demo@example.test"});
}

TEST_CASE("Folded From fields and mailbox lists give every address", "[smtp][header_from]") {
  auto r = ParseFromHeaders(
      "From: A <a@x.test>,\r\n\tb@y.test, \"q <not@this>\" <c@z.test>\r\nTo: t@x.test\r\n\r\n");
  CHECK(r.fields == 1);
  CHECK(r.addresses == V{"a@x.test", "b@y.test", "c@z.test"});
}

TEST_CASE("Several From fields are all reported", "[smtp][header_from]") {
  auto r = ParseFromHeaders("From: a@x.test\r\nFrom: <b@y.test>\r\n\r\n");
  CHECK(r.fields == 2);
  CHECK(r.addresses == V{"a@x.test", "b@y.test"});
}

TEST_CASE("A message without From reports no field", "[smtp][header_from]") {
  auto r = ParseFromHeaders("Subject: none\r\n\r\nFrom: a@x.test\r\n");
  CHECK(r.fields == 0);
  CHECK(r.addresses.empty());
}

TEST_CASE("Address lists beyond the limit are truncated", "[smtp][header_from]") {
  std::string m = "From: ";
  for (int i = 0; i < 100; ++i) m += "a" + std::to_string(i) + "@x.test, ";
  m += "\r\n\r\n";
  auto r = ParseFromHeaders(m);
  CHECK(r.truncated);
  CHECK(r.addresses.size() == kMaxFromAddresses);
}

TEST_CASE("Header parsing is bounded and survives arbitrary bytes", "[smtp][header_from]") {
  std::string junk(kMaxHeaderScan + 10, 'x');
  auto r = ParseFromHeaders(junk);
  CHECK(r.truncated);
  CHECK(r.fields == 0);
  std::string odd = "From: \"unterminated <a@b\r\nFrom: (unterminated <c@d\r\nFrom: <<>>\r\n";
  for (size_t i = 0; i <= odd.size(); ++i) ParseFromHeaders(std::string_view(odd).substr(0, i));
}

TEST_CASE("RemoveHeaderFields drops the named fields with their continuations only",
          "[smtp][header_from]") {
  CHECK(
      RemoveHeaderFields(
          "From: a@x.test\r\nSENDER: x@y.test,\r\n  z@y.test\r\nSubject: s\r\n\r\nSender: body\r\n",
          "sender") == "From: a@x.test\r\nSubject: s\r\n\r\nSender: body\r\n");
  CHECK(RemoveHeaderFields("Subject: s\r\n\r\nbody", "sender") == "Subject: s\r\n\r\nbody");
  CHECK(RemoveHeaderFields("Sender-Extra: kept\r\nSender: gone", "sender") ==
        "Sender-Extra: kept\r\n");
}

}  // namespace
}  // namespace kite::smtp
