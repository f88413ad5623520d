// The ManageSieve command parser: every input is fed whole and one byte at a time, and both
// must give the same events.
#include "delivery/managesieve_parser.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace kite::managesieve {
namespace {

using Event = Parser::Event;

std::string Describe(const Event& e) {
  switch (e.kind) {
    case Event::kNeedMore:
      return "more";
    case Event::kError:
      return std::string(e.fatal ? "FATAL" : "ERR") + (e.too_big ? "+big" : "") + "[" + e.name +
             "] " + e.error;
    case Event::kCommand: {
      std::string out = "CMD " + e.command.name;
      for (const Argument& a : e.command.args) {
        out += a.kind == Argument::kAtom ? " a:" : a.kind == Argument::kQuoted ? " q:" : " l:";
        out += a.value;
      }
      return out;
    }
  }
  return "?";
}

// Feeds `input` in chunks of `chunk` bytes and collects every event but kNeedMore.
std::vector<std::string> Run(std::string_view input, size_t chunk, Parser::Limits limits = {}) {
  Parser p(limits);
  std::vector<std::string> out;
  for (size_t pos = 0; pos < input.size(); pos += chunk) {
    p.Feed(input.substr(pos, chunk));
    for (;;) {
      Event e = p.Next();
      if (e.kind == Event::kNeedMore) break;
      out.push_back(Describe(e));
    }
  }
  return out;
}

// Whole and byte by byte agree; returns the events.
std::vector<std::string> Parse(std::string_view input, Parser::Limits limits = {}) {
  std::vector<std::string> whole = Run(input, input.size() + 1, limits);
  CHECK(Run(input, 1, limits) == whole);
  CHECK(Run(input, 3, limits) == whole);
  return whole;
}

using V = std::vector<std::string>;

TEST_CASE("Commands with atoms, quoted strings and numbers", "[managesieve][parser]") {
  CHECK(Parse("CAPABILITY\r\n") == V{"CMD CAPABILITY"});
  CHECK(Parse("noop\r\nLogout\n") == V{"CMD NOOP", "CMD LOGOUT"});
  CHECK(Parse("HAVESPACE \"myscript\" 999999\r\n") == V{"CMD HAVESPACE q:myscript a:999999"});
  CHECK(Parse("PUTSCRIPT \"a \\\"b\\\" \\\\c\" \"keep;\"\r\n") ==
        V{"CMD PUTSCRIPT q:a \"b\" \\c q:keep;"});
  CHECK(Parse("SETACTIVE \"\"\r\n") == V{"CMD SETACTIVE q:"});
  CHECK(Parse("\r\n\r\nNOOP\r\n") == V{"CMD NOOP"});  // blank lines between commands are ignored
  CHECK(Parse("GETSCRIPT \"caf\xc3\xa9\"\r\n") == V{"CMD GETSCRIPT q:caf\xc3\xa9"});
}

TEST_CASE("Literals {N+} and {N} carry arbitrary octets", "[managesieve][parser]") {
  CHECK(Parse("PUTSCRIPT \"s\" {7+}\r\nkeep;\r\n\r\n") == V{"CMD PUTSCRIPT q:s l:keep;\r\n"});
  CHECK(Parse("PUTSCRIPT \"s\" {5}\r\nkeep;\r\n") == V{"CMD PUTSCRIPT q:s l:keep;"});
  CHECK(Parse("CHECKSCRIPT {0+}\r\n\r\nNOOP\r\n") == V{"CMD CHECKSCRIPT l:", "CMD NOOP"});
  // Two literals, and a literal followed by more arguments on its closing line.
  CHECK(Parse("RENAMESCRIPT {1+}\r\na {1+}\r\nb\r\n") == V{"CMD RENAMESCRIPT l:a l:b"});
  CHECK(Parse("RENAMESCRIPT {1+}\r\na \"b\"\r\n") == V{"CMD RENAMESCRIPT l:a q:b"});
  // Literal octets that look like commands are data.
  CHECK(Parse("CHECKSCRIPT {13+}\r\nLOGOUT\r\n{3}\r\n\r\n") ==
        V{"CMD CHECKSCRIPT l:LOGOUT\r\n{3}\r\n"});
}

TEST_CASE("SASL responses are lines of arguments without a command name", "[managesieve][parser]") {
  Parser p;
  p.Feed("AUTHENTICATE \"PLAIN\"\r\n\"AGEAYg==\"\r\n\"*\"\r\n");
  CHECK(Describe(p.Next()) == "CMD AUTHENTICATE q:PLAIN");
  p.ExpectResponse();
  CHECK(Describe(p.Next()) == "CMD  q:AGEAYg==");
  CHECK(Describe(p.Next()) == "ERR[] invalid command name");  // "*" is not a command
  p.Feed("{4+}\r\nAGE=\r\n");
  p.ExpectResponse();
  CHECK(Describe(p.Next()) == "CMD  l:AGE=");
  p.Feed("\r\n");
  p.ExpectResponse();
  CHECK(Describe(p.Next()) == "CMD ");  // an empty line is an empty response
  p.Feed("AGE=\r\n");
  p.ExpectResponse();
  CHECK(Describe(p.Next()) == "CMD  a:AGE=");
}

TEST_CASE("Malformed commands are reported and the next command parses", "[managesieve][parser]") {
  CHECK(Parse("PUTSCRIPT \"unterminated\r\nNOOP\r\n") ==
        V{"ERR[PUTSCRIPT] unterminated quoted string", "CMD NOOP"});
  CHECK(Parse("GETSCRIPT \"a\\x\"\r\nNOOP\r\n") ==
        V{"ERR[GETSCRIPT] invalid escape in a quoted string", "CMD NOOP"});
  CHECK(Parse("GETSCRIPT \"a\"\"b\"\r\nNOOP\r\n") ==
        V{"ERR[GETSCRIPT] expected a space between arguments", "CMD NOOP"});
  CHECK(Parse("1NOOP\r\nNOOP\r\n") == V{"ERR[] invalid command name", "CMD NOOP"});
  CHECK(Parse("NO-OP\r\n") == V{"ERR[] invalid command name"});
  CHECK(Parse("GETSCRIPT \x01\r\n") == V{"ERR[GETSCRIPT] invalid character in an atom"});
  CHECK(Parse("GETSCRIPT {5+} x\r\nNOOP\r\n") ==
        V{"ERR[GETSCRIPT] a literal must end the line", "CMD NOOP"});
  CHECK(Parse("GETSCRIPT {x}\r\nNOOP\r\n") == V{"ERR[GETSCRIPT] invalid literal", "CMD NOOP"});
  CHECK(Parse("GETSCRIPT {12345678901+}\r\nNOOP\r\n") ==
        V{"ERR[GETSCRIPT] invalid literal", "CMD NOOP"});
  // After a literal the line must go on with a space or end.
  CHECK(Parse("PUTSCRIPT {1+}\r\nax\r\nNOOP\r\n") ==
        V{"ERR[PUTSCRIPT] expected a space or the end of the line after a literal", "CMD NOOP"});
}

TEST_CASE("A bad command's literals are skipped, not parsed as commands", "[managesieve][parser]") {
  // The bad line announces a literal: its octets (which look like a command) are skipped.
  CHECK(Parse("GETSCRIPT \"a\\q\" {8+}\r\nLOGOUT\r\n\r\nNOOP\r\n") ==
        V{"ERR[GETSCRIPT] invalid escape in a quoted string", "CMD NOOP"});
  // An error in the line after a literal: the next literal is skipped as well.
  CHECK(Parse("PUTSCRIPT {1+}\r\na \x01 {8+}\r\nLOGOUT\r\n\r\nNOOP\r\n") ==
        V{"ERR[PUTSCRIPT] invalid character in an atom", "CMD NOOP"});
}

TEST_CASE("Limits: line, quoted string, literal, arguments, command", "[managesieve][parser]") {
  Parser::Limits l;
  l.max_line = 40;
  l.max_quoted = 8;
  l.max_literal = 10;
  l.max_command = 50;
  l.max_args = 3;
  l.max_skip = 100;
  CHECK(Parse("GETSCRIPT \"12345678\"\r\n", l) == V{"CMD GETSCRIPT q:12345678"});
  CHECK(Parse("GETSCRIPT \"123456789\"\r\nNOOP\r\n", l) ==
        V{"ERR+big[GETSCRIPT] quoted string too long", "CMD NOOP"});
  CHECK(Parse("NOOP " + std::string(36, 'x') + "\r\n", l) == V{"ERR+big[] line too long"});
  CHECK(Parse("NOOP " + std::string(35, 'x') + "\r\nNOOP\r\n", l) ==
        V{"ERR+big[NOOP] atom too long", "CMD NOOP"});
  CHECK(Parse("NOOP " + std::string(50, 'x') + " {5+}\r\nNOOP\r\nNOOP\r\n", l) ==
        V{"ERR+big[] line too long", "CMD NOOP"});
  CHECK(Parse("X a b c\r\nX a b c d\r\n", l) ==
        V{"CMD X a:a a:b a:c", "ERR[X] too many arguments"});
  CHECK(Parse("PUTSCRIPT \"s\" {10+}\r\n0123456789\r\n", l) == V{"CMD PUTSCRIPT q:s l:0123456789"});
  // Over max_literal: refused (QUOTA/MAXSIZE) and its octets skipped.
  CHECK(Parse("PUTSCRIPT \"s\" {11+}\r\nLOGOUT\r\nxyz\r\nNOOP\r\n", l) ==
        V{"ERR+big[PUTSCRIPT] literal too large", "CMD NOOP"});
  // Over max_command through several literals.
  CHECK(Parse("X {10+}\r\n0123456789 {10+}\r\n0123456789 {10+}\r\n0123456789\r\nNOOP\r\n", l) ==
        V{"ERR+big[X] literal too large", "CMD NOOP"});
  // Over max_skip: fatal, nothing after it is parsed.
  CHECK(Parse("PUTSCRIPT \"s\" {101+}\r\nNOOP\r\n", l) ==
        V{"FATAL+big[PUTSCRIPT] literal too large"});
  CHECK(Parse("NOOP " + std::string(200, 'x') + "\r\nNOOP\r\n", l) ==
        V{"FATAL+big[] command too long"});
}

TEST_CASE("set_limits applies from the next command on", "[managesieve][parser]") {
  Parser::Limits small;
  small.max_literal = 4;
  Parser p(small);
  p.Feed("PUTSCRIPT \"s\" {5+}\r\nkeep;\r\nPUTSCRIPT \"s\" {5+}\r\nkeep;\r\n");
  CHECK(Describe(p.Next()) == "ERR+big[PUTSCRIPT] literal too large");
  p.set_limits(Parser::Limits{});
  CHECK(Describe(p.Next()) == "CMD PUTSCRIPT q:s l:keep;");
}

TEST_CASE("Number accepts 0 to 4294967295 only", "[managesieve][parser]") {
  CHECK(Argument{Argument::kAtom, "0"}.Number() == 0u);
  CHECK(Argument{Argument::kAtom, "4294967295"}.Number() == 4294967295u);
  CHECK_FALSE(Argument{Argument::kAtom, "4294967296"}.Number());
  CHECK_FALSE(Argument{Argument::kAtom, "12a"}.Number());
  CHECK_FALSE(Argument{Argument::kAtom, ""}.Number());
  CHECK_FALSE(Argument{Argument::kQuoted, "12"}.Number());
}

TEST_CASE("EncodeString quotes short printable strings and uses literals otherwise",
          "[managesieve][parser]") {
  CHECK(EncodeString("abc") == "\"abc\"");
  CHECK(EncodeString("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(EncodeString("line 3: x\r\ny") == "{12}\r\nline 3: x\r\ny");
  CHECK(EncodeString(std::string(1025, 'a')).rfind("{1025}\r\n", 0) == 0);
  CHECK(EncodeString("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
}

}  // namespace
}  // namespace kite::managesieve
