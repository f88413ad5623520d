#include "lib/smtp/originator_fields.h"

#include <catch2/catch.hpp>

namespace kite::smtp {
namespace {

TEST_CASE("Header fields are found in the header block only", "[smtp][originator]") {
  std::string m =
      "From: a@x.test\r\nmessage-id:  <1@x.test>\r\nSubject: hi\r\n\tDate: folded\r\n\r\nDate: "
      "body\r\n";
  CHECK(HasHeaderField(m, "Message-ID"));
  CHECK(HasHeaderField(m, "from"));
  CHECK_FALSE(HasHeaderField(m, "Date"));  // a continuation line and the body do not count
  CHECK(HasHeaderField("Date : x\r\n", "Date"));
  CHECK_FALSE(HasHeaderField("", "Date"));
  CHECK_FALSE(HasHeaderField("\r\nDate: x\r\n", "Date"));
}

TEST_CASE("Missing Message-ID and Date are generated", "[smtp][originator]") {
  // 2026-11-23 03:04:05 UTC, a Monday.
  std::time_t t = 1795403045;
  CHECK(Rfc5322Date(t) == "Mon, 23 Nov 2026 03:04:05 +0000");
  CHECK(MissingOriginatorFields("Subject: x\r\n\r\nbody\r\n", "mail.test", t, "ab12") ==
        "Message-ID: <ab12@mail.test>\r\nDate: Mon, 23 Nov 2026 03:04:05 +0000\r\n");
  CHECK(MissingOriginatorFields("Date: x\r\n\r\n", "mail.test", t, "ab12") ==
        "Message-ID: <ab12@mail.test>\r\n");
  CHECK(MissingOriginatorFields("Message-Id: <x@y>\r\nDATE: x\r\n\r\n", "mail.test", t, "ab12")
            .empty());
}

}  // namespace
}  // namespace kite::smtp
