#include "lib/smtp/bdat_reader.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace kite::smtp {
namespace {

// Feeds the chunks, each one byte at a time and then whole, and checks both agree.
BdatReader::State Run(const std::vector<std::string>& chunks, size_t max_size,
                      std::string* message) {
  BdatReader bytewise(max_size), whole(max_size);
  for (const std::string& c : chunks) {
    for (char b : c) bytewise.Feed(std::string_view(&b, 1));
    whole.Feed(c);
  }
  BdatReader::State a = bytewise.Finish(), b = whole.Finish();
  REQUIRE(a == b);
  REQUIRE(bytewise.size() == whole.size());
  std::string ma = bytewise.TakeMessage(), mb = whole.TakeMessage();
  REQUIRE(ma == mb);
  *message = ma;
  return a;
}

TEST_CASE("BDAT chunks are joined byte for byte, no dot-unstuffing", "[smtp][bdat]") {
  std::string m;
  CHECK(Run({"Subject: x\r\n\r\n..dot\r\n.\r\n", "more\r\n", ""}, 1000, &m) ==
        BdatReader::State::kDone);
  CHECK(m == "Subject: x\r\n\r\n..dot\r\n.\r\nmore\r\n");
}

TEST_CASE("A CRLF split across chunks is not a bare line ending", "[smtp][bdat]") {
  std::string m;
  CHECK(Run({"a\r", "\nb\r\n"}, 1000, &m) == BdatReader::State::kDone);
  CHECK(m == "a\r\nb\r\n");
}

TEST_CASE("Bare LF or CR anywhere refuses the message", "[smtp][bdat]") {
  std::string m;
  CHECK(Run({"a\nb\r\n"}, 1000, &m) == BdatReader::State::kBareLineEnding);
  CHECK(Run({"a\rb\r\n"}, 1000, &m) == BdatReader::State::kBareLineEnding);
  CHECK(Run({"a\r", "b\r\n"}, 1000, &m) == BdatReader::State::kBareLineEnding);
  CHECK(Run({"a\r\n", "\r"}, 1000, &m) == BdatReader::State::kBareLineEnding);
  CHECK(Run({"a\r\r\n"}, 1000, &m) == BdatReader::State::kBareLineEnding);
}

TEST_CASE("A missing final CRLF is added; an empty message stays empty", "[smtp][bdat]") {
  std::string m;
  CHECK(Run({"Subject: x\r\n\r\nbody"}, 1000, &m) == BdatReader::State::kDone);
  CHECK(m == "Subject: x\r\n\r\nbody\r\n");
  CHECK(Run({"", ""}, 1000, &m) == BdatReader::State::kDone);
  CHECK(m.empty());
}

TEST_CASE("The total over all chunks is bounded", "[smtp][bdat]") {
  std::string m;
  CHECK(Run({"12345\r\n", "12\r\n"}, 11, &m) == BdatReader::State::kDone);
  CHECK(Run({"12345\r\n", "123\r\n"}, 11, &m) == BdatReader::State::kTooBig);
  CHECK(m.empty());
  // The added CRLF counts too.
  CHECK(Run({"1234567890"}, 11, &m) == BdatReader::State::kTooBig);

  BdatReader r(10);
  CHECK_FALSE(r.WouldExceed(10));
  CHECK(r.WouldExceed(11));
  CHECK(r.WouldExceed(UINT64_MAX));
  r.Feed("12345");
  CHECK_FALSE(r.WouldExceed(5));
  CHECK(r.WouldExceed(6));
  r.Feed("123456");
  CHECK(r.too_big());
  CHECK(r.size() == 11);
  r.Reset();
  CHECK_FALSE(r.too_big());
  CHECK(r.size() == 0);
}

}  // namespace
}  // namespace kite::smtp
