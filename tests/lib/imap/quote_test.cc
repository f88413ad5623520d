#include "lib/imap/quote.h"

#include <catch2/catch.hpp>

namespace kite::imap {
namespace {

TEST_CASE("QuoteString quotes or falls back to a literal", "[imap][parser]") {
  CHECK(QuoteString("INBOX") == "\"INBOX\"");
  CHECK(QuoteString("") == "\"\"");
  CHECK(QuoteString("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(QuoteString("line\r\nnext") == "{10}\r\nline\r\nnext");
  CHECK(QuoteString(std::string("a\0b", 3)) == std::string("{3}\r\na\0b", 8));
  CHECK(QuoteString("caf\xC3\xA9") == "{5}\r\ncaf\xC3\xA9");
  CHECK(QuoteString("caf\xC3\xA9", /*utf8=*/true) == "\"caf\xC3\xA9\"");
  CHECK(QuoteString("bad\xC3", true) == "{4}\r\nbad\xC3");
  CHECK(QuoteString(std::string(2000, 'x')).substr(0, 8) == "{2000}\r\n");
}

TEST_CASE("AString, NString and flags", "[imap][parser]") {
  CHECK(AString("INBOX") == "INBOX");
  CHECK(AString("[Gmail]/Sent") == "[Gmail]/Sent");
  CHECK(AString("Sent]") == "Sent]");
  CHECK(AString("two words") == "\"two words\"");
  CHECK(AString("nil") == "\"nil\"");
  CHECK(AString("") == "\"\"");
  CHECK(AString("a*") == "\"a*\"");
  CHECK(NString(std::nullopt) == "NIL");
  CHECK(NString("x") == "\"x\"");
  CHECK(IsValidFlag("\\Seen"));
  CHECK(IsValidFlag("$Junk"));
  CHECK_FALSE(IsValidFlag("\\"));
  CHECK_FALSE(IsValidFlag("a b"));
  CHECK_FALSE(IsValidFlag("a)"));
  CHECK(FormatFlags({"\\Seen", "$Junk", "bad flag", "\\Answered"}) == "(\\Seen $Junk \\Answered)");
  CHECK(FormatFlags({}) == "()");
}

}  // namespace
}  // namespace kite::imap
