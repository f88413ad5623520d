// The POP3 line reader, command parser and multi-line encoder (pure): every input is fed
// whole and in small chunks, and both must give the same events.
#include "pop3/pop3_command.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace kite::pop3 {
namespace {

using Event = LineReader::Event;
using V = std::vector<std::string>;

std::string Describe(const Event& e) {
  switch (e.kind) {
    case Event::kNeedMore: return "more";
    case Event::kLine: return "L:" + e.line;
    case Event::kTooLong: return "TOOLONG";
    case Event::kFatal: return "FATAL";
  }
  return "?";
}

V Run(std::string_view input, size_t chunk, Limits limits) {
  LineReader r(limits);
  V out;
  for (size_t pos = 0; pos < input.size(); pos += chunk) {
    r.Feed(input.substr(pos, chunk));
    for (;;) {
      Event e = r.Next();
      if (e.kind == Event::kNeedMore) break;
      out.push_back(Describe(e));
    }
  }
  return out;
}

V Lines(std::string_view input, Limits limits = {}) {
  V whole = Run(input, input.size() + 1, limits);
  CHECK(Run(input, 1, limits) == whole);
  CHECK(Run(input, 3, limits) == whole);
  CHECK(Run(input, 7, limits) == whole);
  return whole;
}

// The parse of one line: "VERB msg lines text|mechanism|ir" or "ERR reason".
std::string P(std::string_view line) {
  auto c = ParseCommand(line);
  if (!c.ok()) return "ERR " + std::string(c.status().message());
  std::string out = c->name;
  if (c->msg) out += " m" + std::to_string(c->msg);
  if (c->verb == Verb::kTop) out += " l" + std::to_string(c->lines);
  if (!c->text.empty()) out += " t[" + c->text + "]";
  if (!c->mechanism.empty()) out += " " + c->mechanism;
  if (c->initial_response) out += " ir[" + *c->initial_response + "]";
  return out;
}

TEST_CASE("Lines end in CRLF or a bare LF and are returned without it", "[pop3][parser]") {
  CHECK(Lines("STAT\r\nLIST 1\nQUIT\r\n") == V{"L:STAT", "L:LIST 1", "L:QUIT"});
  CHECK(Lines("\r\n") == V{"L:"});
  CHECK(Lines("NOOP") == V{});  // no line ending yet: need more
  CHECK(Lines("a\rb\r\n") == V{"L:a\rb"});  // a bare CR inside is kept (the parser refuses it)
}

TEST_CASE("A line longer than max_line is reported once and skipped up to its LF", "[pop3][parser]") {
  Limits limits;
  limits.max_line = 16;
  limits.max_skip = 100;
  // 15 octets + LF = 16: fits exactly.
  CHECK(Lines(std::string(15, 'a') + "\nNOOP\r\n", limits) == V{"L:" + std::string(15, 'a'), "L:NOOP"});
  CHECK(Lines(std::string(14, 'a') + "\r\n", limits) == V{"L:" + std::string(14, 'a')});
  // 16 octets without LF: too long; the rest of the line is dropped and the next one parses.
  CHECK(Lines(std::string(16, 'a') + "\r\nNOOP\r\n", limits) == V{"TOOLONG", "L:NOOP"});
  CHECK(Lines(std::string(60, 'b') + "\nSTAT\n", limits) == V{"TOOLONG", "L:STAT"});
  // More than max_skip octets of one line: fatal, nothing after it is read.
  CHECK(Lines(std::string(16 + 101, 'c') + "\nSTAT\n", limits) == V{"TOOLONG", "FATAL"});
  CHECK(Lines(std::string(16 + 100, 'c') + "\nSTAT\n", limits) == V{"TOOLONG", "L:STAT"});
}

TEST_CASE("Pipelined commands stay buffered until asked for", "[pop3][parser]") {
  LineReader r;
  r.Feed("STLS\r\nUSER injected\r\n");
  CHECK(Describe(r.Next()) == "L:STLS");
  CHECK(r.buffered() == 15);  // what STLS must drop
}

TEST_CASE("Commands without arguments", "[pop3][parser]") {
  CHECK(P("STAT") == "STAT");
  CHECK(P("stat") == "STAT");
  CHECK(P("Capa") == "CAPA");
  CHECK(P("NOOP") == "NOOP");
  CHECK(P("RSET") == "RSET");
  CHECK(P("QUIT") == "QUIT");
  CHECK(P("STLS") == "STLS");
  CHECK(P("QUIT ") == "QUIT");  // a trailing space is tolerated
  CHECK(P("STAT 1") == "ERR Syntax: STAT takes no arguments");
}

TEST_CASE("Message numbers are positive decimal numbers", "[pop3][parser]") {
  CHECK(P("LIST") == "LIST");
  CHECK(P("LIST 3") == "LIST m3");
  CHECK(P("UIDL") == "UIDL");
  CHECK(P("uidl 12") == "UIDL m12");
  CHECK(P("RETR 1") == "RETR m1");
  CHECK(P("DELE 2") == "DELE m2");
  CHECK(P("TOP 1 0") == "TOP m1 l0");
  CHECK(P("TOP 2 10") == "TOP m2 l10");
  CHECK(P("RETR 0") == "ERR Invalid message number");
  CHECK(P("RETR -1") == "ERR Invalid message number");
  CHECK(P("RETR 1x") == "ERR Invalid message number");
  CHECK(P("RETR") == "ERR Syntax: RETR message");
  CHECK(P("RETR 1 2") == "ERR Syntax: RETR message");
  CHECK(P("LIST 1 2") == "ERR Syntax: LIST [message]");
  CHECK(P("TOP 1") == "ERR Syntax: TOP message lines");
  CHECK(P("TOP 1 x") == "ERR Invalid number of lines");
  // Huge numbers saturate (they name no message) instead of overflowing.
  CHECK(P("RETR 99999999999999999999") == "RETR m4294967295");
  CHECK(P("RETR " + std::string(41, '9')) == "ERR Argument too long");
}

TEST_CASE("USER and PASS", "[pop3][parser]") {
  CHECK(P("USER alice@example.test") == "USER t[alice@example.test]");
  CHECK(P("USER  bob@example.test ") == "USER t[bob@example.test]");
  CHECK(P("USER") == "ERR Syntax: USER name");
  CHECK(P("USER ") == "ERR Syntax: USER name");
  // RFC 1939 section 7: the password is the rest of the line, spaces included.
  CHECK(P("PASS secret with  spaces ") == "PASS t[secret with  spaces ]");
  CHECK(P("PASS") == "ERR Syntax: PASS password");
  CHECK(P("PASS ") == "ERR Syntax: PASS password");
  CHECK(P("PASS caf\xc3\xa9") == "PASS t[caf\xc3\xa9]");
}

TEST_CASE("AUTH with and without an initial response", "[pop3][parser]") {
  CHECK(P("AUTH") == "AUTH");
  CHECK(P("AUTH plain") == "AUTH PLAIN");
  CHECK(P("AUTH PLAIN AGFsaWNlAHNlY3JldA==") == "AUTH PLAIN ir[AGFsaWNlAHNlY3JldA==]");
  CHECK(P("AUTH PLAIN =") == "AUTH PLAIN ir[=]");
  CHECK(P("AUTH SCRAM-SHA-256") == "AUTH SCRAM-SHA-256");
  CHECK(P("AUTH PL(AIN") == "ERR Invalid mechanism name");
  CHECK(P("AUTH PLAIN a b") == "ERR Syntax: AUTH mechanism [initial-response]");
  // RFC 5034: an initial response may take the line past 255 octets.
  std::string ir(2000, 'A');
  CHECK(P("AUTH PLAIN " + ir) == "AUTH PLAIN ir[" + ir + "]");
  CHECK(P("AUTH PLAIN " + std::string(9000, 'A')) == "ERR Initial response too long");
}

TEST_CASE("Bad commands get a reason that never echoes client bytes", "[pop3][parser]") {
  CHECK(P("") == "ERR Empty command");
  CHECK(P(" STAT") == "ERR Empty command");
  CHECK(P("XYZZY") == "ERR Unknown command");
  CHECK(P("<script>") == "ERR Unknown command");
  CHECK(P("STAT\x01") == "ERR Invalid characters in command");
  CHECK(P(std::string("RETR 1\0", 7)) == "ERR Invalid characters in command");
  CHECK(P("LIST " + std::string(600, '1')) == "ERR Command line too long");
  CHECK(P("APOP alice 0123456789abcdef") == "APOP t[alice 0123456789abcdef]");
}

TEST_CASE("RETR normalises line endings, stuffs dots and terminates", "[pop3][encode]") {
  CHECK(EncodeMultiline("") == ".\r\n");
  CHECK(EncodeMultiline("a\r\nb\r\n") == "a\r\nb\r\n.\r\n");
  CHECK(EncodeMultiline("a\nb") == "a\r\nb\r\n.\r\n");  // bare LF, no final line ending
  CHECK(EncodeMultiline("a\rb\r\n") == "a\r\nb\r\n.\r\n");  // bare CR
  CHECK(EncodeMultiline(".\r\n..x\r\n.y\r\nz.\r\n") == "..\r\n...x\r\n..y\r\nz.\r\n.\r\n");
  CHECK(EncodeMultiline("\r\n\r\n") == "\r\n\r\n.\r\n");
  CHECK(OctetSize("") == 0);
  CHECK(OctetSize("a\r\nb\r\n") == 6);
  CHECK(OctetSize("a\nb") == 6);
  CHECK(OctetSize(".x\r\n") == 4);  // before stuffing
}

TEST_CASE("TOP sends the header, the empty line and n body lines", "[pop3][encode]") {
  const std::string msg = "Subject: x\r\nFrom: a@b.test\r\n\r\nline 1\r\n.line 2\r\nline 3\r\n";
  CHECK(EncodeTop(msg, 0) == "Subject: x\r\nFrom: a@b.test\r\n\r\n.\r\n");
  CHECK(EncodeTop(msg, 2) == "Subject: x\r\nFrom: a@b.test\r\n\r\nline 1\r\n..line 2\r\n.\r\n");
  CHECK(EncodeTop(msg, 100) == EncodeMultiline(msg));
  // No empty line: all header.
  CHECK(EncodeTop("Subject: only\r\n", 5) == "Subject: only\r\n.\r\n");
  CHECK(EncodeTop("Subject: x\n\nbody\n", 1) == "Subject: x\r\n\r\nbody\r\n.\r\n");
}

}  // namespace
}  // namespace kite::pop3
