#include "lib/imap/receiver.h"

#include <catch2/catch.hpp>
#include <random>
#include <sstream>
#include <string>

namespace kite::imap {
namespace {

// A printable trace of events, kNeedMore left out, so different feedings can be compared.
std::string Describe(const Token& t) {
  std::ostringstream out;
  switch (t.kind) {
    case Token::kAtom:
      out << "A:" << t.value;
      break;
    case Token::kQuoted:
      out << "Q:" << t.value;
      break;
    case Token::kLiteral:
      out << (t.binary ? "L8:" : "L:") << t.value;
      break;
    case Token::kNil:
      out << "NIL";
      break;
    case Token::kSection:
      out << "S:" << t.value;
      break;
    case Token::kList:
      out << "(";
      for (size_t i = 0; i < t.children.size(); ++i)
        out << (i ? " " : "") << Describe(t.children[i]);
      out << ")";
      break;
  }
  return out.str();
}

std::string Describe(const Receiver::Event& e) {
  std::ostringstream out;
  switch (e.kind) {
    case Receiver::Event::kNeedMore:
      return "";
    case Receiver::Event::kContinuationNeeded:
      out << "+" << e.tag;
      break;
    case Receiver::Event::kError:
      out << "BAD[" << e.tag << "]" << e.error << (e.fatal ? "!" : "");
      break;
    case Receiver::Event::kLine:
      out << "LINE:" << e.line;
      break;
    case Receiver::Event::kCommand:
      out << e.command.tag << " " << (e.command.uid ? "UID " : "") << e.command.name;
      for (const Token& t : e.command.args) out << " " << Describe(t);
      break;
  }
  return out.str() + "\n";
}

// Drains the receiver after feeding; returns the trace.
std::string Drain(Receiver& r, std::vector<Receiver::Event>* events = nullptr) {
  std::string trace;
  for (int guard = 0; guard < 100000; ++guard) {
    Receiver::Event e = r.Next();
    if (e.kind == Receiver::Event::kNeedMore) return trace;
    trace += Describe(e);
    if (events) events->push_back(e);
    if (e.fatal) return trace;
  }
  FAIL("receiver did not settle");
  return trace;
}

std::string FeedChunks(std::string_view input, const std::vector<size_t>& chunks,
                       Receiver::Limits limits = {}) {
  Receiver r(limits);
  std::string trace;
  size_t pos = 0, k = 0;
  while (pos < input.size()) {
    size_t n = std::min(chunks[k++ % chunks.size()], input.size() - pos);
    r.Feed(input.substr(pos, n));
    pos += n;
    trace += Drain(r);
    if (!trace.empty() && trace.size() >= 2 && trace[trace.size() - 2] == '!') break;  // fatal
  }
  return trace;
}

// The trace of feeding all at once, which byte-by-byte and random chunks must equal.
std::string FeedAllWays(std::string_view input, Receiver::Limits limits = {}) {
  std::string whole = FeedChunks(input, {input.size() + 1}, limits);
  CHECK(whole == FeedChunks(input, {1}, limits));
  std::mt19937 rng(1234);
  for (int round = 0; round < 10; ++round) {
    std::vector<size_t> chunks;
    for (int i = 0; i < 8; ++i) chunks.push_back(1 + rng() % 9);
    CHECK(whole == FeedChunks(input, chunks, limits));
  }
  return whole;
}

TEST_CASE("simple commands, case-folded names and UID", "[imap][parser]") {
  CHECK(FeedAllWays("a1 noop\r\na2 CAPABILITY\r\n") == "a1 NOOP\na2 CAPABILITY\n");
  CHECK(FeedAllWays("a3 uid fetch 1:* (FLAGS UID)\r\n") == "a3 UID FETCH A:1:* (A:FLAGS A:UID)\n");
  CHECK(FeedAllWays("a4 LOGIN \"us\\\"er\" {4+}\r\np\\ss\r\n") == "a4 LOGIN Q:us\"er L:p\\ss\n");
  CHECK(FeedAllWays("a5 SELECT [Gmail]/Sent\r\n") == "a5 SELECT A:[Gmail]/Sent\n");
  CHECK(FeedAllWays("a6 STORE 1 +FLAGS.SILENT (\\Seen $Junk)\r\n") ==
        "a6 STORE A:1 A:+FLAGS.SILENT (A:\\Seen A:$Junk)\n");
  CHECK(FeedAllWays("a7 LIST \"\" %\r\n") == "a7 LIST Q: A:%\n");
  CHECK(FeedAllWays("a8 STATUS nil (MESSAGES)\r\n") == "a8 STATUS NIL (A:MESSAGES)\n");
  CHECK(FeedAllWays("a9 noop\n") == "a9 NOOP\n");              // bare LF tolerated
  CHECK(FeedAllWays("\r\n\r\na10 NOOP\r\n") == "a10 NOOP\n");  // stray empty lines ignored
}

TEST_CASE("FETCH sections stay one token", "[imap][parser]") {
  CHECK(FeedAllWays("f1 FETCH 1 (BODY.PEEK[HEADER.FIELDS (From \"To\" X-A)]<0.100> BODY[])\r\n") ==
        "f1 FETCH A:1 (S:BODY.PEEK[HEADER.FIELDS (From \"To\" X-A)]<0.100> S:BODY[])\n");
  CHECK(FeedAllWays("f2 FETCH 1 body[1.2.MIME]\r\n") == "f2 FETCH A:1 S:body[1.2.MIME]\n");
  CHECK(FeedAllWays("f3 FETCH 1 BINARY.SIZE[1]\r\n") == "f3 FETCH A:1 S:BINARY.SIZE[1]\n");
  CHECK(FeedAllWays("f4 FETCH 1 BODY[HEADER.FIELDS (\"a]b\")]\r\n") ==
        "f4 FETCH A:1 S:BODY[HEADER.FIELDS (\"a]b\")]\n");
  CHECK(FeedAllWays("f5 FETCH 1 BODY[HEADER\r\nf6 NOOP\r\n") ==
        "BAD[f5]Unterminated section\nf6 NOOP\n");
}

TEST_CASE("synchronizing literals ask for continuation once", "[imap][parser]") {
  std::string input =
      "a1 APPEND INBOX (\\Seen) {5}\r\nhello\r\na2 LOGIN {3}\r\nbob {4}\r\npass\r\n";
  CHECK(FeedAllWays(input) ==
        "+a1\na1 APPEND A:INBOX (A:\\Seen) L:hello\n+a2\n+a2\na2 LOGIN L:bob L:pass\n");
  // The continuation comes before the literal bytes arrive.
  Receiver r;
  r.Feed("a1 APPEND INBOX {5}\r\n");
  CHECK(r.Next().kind == Receiver::Event::kContinuationNeeded);
  CHECK(r.Next().kind == Receiver::Event::kNeedMore);
  r.Feed("hel");
  CHECK(r.Next().kind == Receiver::Event::kNeedMore);
  r.Feed("lo\r\n");
  Receiver::Event e = r.Next();
  REQUIRE(e.kind == Receiver::Event::kCommand);
  CHECK(e.command.args[1].value == "hello");
}

TEST_CASE("non-synchronizing and binary literals", "[imap][parser]") {
  CHECK(FeedAllWays("a1 APPEND INBOX {5+}\r\nhello\r\n") == "a1 APPEND A:INBOX L:hello\n");
  std::string bin = std::string("a2 APPEND INBOX ~{3+}\r\n") + std::string("\0\r\n", 3) + "\r\n";
  CHECK(FeedAllWays(bin) == std::string("a2 APPEND A:INBOX L8:") + std::string("\0\r\n", 3) + "\n");
  CHECK(FeedAllWays("a3 X ({0}\r\n)\r\n") == "+a3\na3 X (L:)\n");
  CHECK(FeedAllWays("a4 X {2}\r\nab{2}\r\n") == "+a4\nBAD[a4]Missing space between arguments\n");
}

TEST_CASE("literal limits", "[imap][parser]") {
  Receiver::Limits limits;
  limits.max_literal = 10;
  // A synchronizing literal over the limit is refused before the client sends it.
  CHECK(FeedAllWays("a1 APPEND INBOX {11}\r\na2 NOOP\r\n", limits) ==
        "BAD[a1][TOOBIG] Literal too big\na2 NOOP\n");
  // A non-synchronizing one over the limit cannot be skipped: fatal.
  CHECK(FeedAllWays("a1 APPEND INBOX {11+}\r\nhello world\r\na2 NOOP\r\n", limits) ==
        "BAD[a1][TOOBIG] Non-synchronizing literal too big!\n");
  // Over the command limit but within the literal limit: skipped, next command fine.
  limits.max_literal = 100;
  limits.max_command = 40;
  CHECK(FeedAllWays("a1 APPEND INBOX {30+}\r\n123456789012345678901234567890\r\na2 NOOP\r\n",
                    limits) == "BAD[a1][TOOBIG] Literal too big\na2 NOOP\n");
}

TEST_CASE("bad commands get BAD and the next command parses", "[imap][parser]") {
  CHECK(FeedAllWays("a1 FETCH (1\r\na2 NOOP\r\n") == "BAD[a1]Unclosed list\na2 NOOP\n");
  CHECK(FeedAllWays("a1 FETCH 1)\r\na2 NOOP\r\n") == "BAD[a1]Unexpected )\na2 NOOP\n");
  CHECK(FeedAllWays("a1 LOGIN \"unterminated\r\na2 NOOP\r\n") ==
        "BAD[a1]Unterminated quoted string\na2 NOOP\n");
  CHECK(FeedAllWays("a1 LOGIN \"bad\\escape\"\r\na2 NOOP\r\n") ==
        "BAD[a1]Invalid escape in quoted string\na2 NOOP\n");
  CHECK(FeedAllWays("+tag NOOP\r\na2 NOOP\r\n") == "BAD[]Invalid tag\na2 NOOP\n");
  CHECK(FeedAllWays("a1\r\na2 NOOP\r\n") == "BAD[a1]Missing command\na2 NOOP\n");
  CHECK(FeedAllWays("a1 UID\r\n") == "BAD[a1]Missing command after UID\n");
  CHECK(FeedAllWays("a1 NOOP\x01\r\na2 NOOP\r\n") == "BAD[a1]Invalid command name\na2 NOOP\n");
  CHECK(FeedAllWays("a1 X a\x01\r\na2 NOOP\r\n") == "BAD[a1]Invalid character\na2 NOOP\n");
  CHECK(FeedAllWays("a1 X \"a\"b\r\na2 NOOP\r\n") ==
        "BAD[a1]Missing space between arguments\na2 NOOP\n");
  CHECK(FeedAllWays("a1 X {abc}\r\na2 NOOP\r\n") == "BAD[a1]Invalid literal\na2 NOOP\n");
  CHECK(FeedAllWays("a1 X {3} more\r\na2 NOOP\r\n") == "BAD[a1]Invalid literal\na2 NOOP\n");
  // A bad line ending in a non-synchronizing literal: the literal is skipped too.
  CHECK(FeedAllWays("a1 X ) {5+}\r\na2 NO\r\na3 NOOP\r\n") == "BAD[a1]Unexpected )\na3 NOOP\n");
  // ... and so is a literal announced after the bad part, with its continuation line.
  CHECK(FeedAllWays("a1 X ) {3+}\r\nabc rest {2+}\r\nxy\r\na3 NOOP\r\n") ==
        "BAD[a1]Unexpected )\na3 NOOP\n");
  // An error on a continuation line carries the tag.
  CHECK(FeedAllWays("a1 X {1+}\r\nx (\r\na2 NOOP\r\n") == "BAD[a1]Unclosed list\na2 NOOP\n");
}

TEST_CASE("line limit skips the long line without losing sync", "[imap][parser]") {
  Receiver::Limits limits;
  limits.max_line = 20;
  CHECK(FeedAllWays("a1 NOOP " + std::string(100, 'x') + "\r\na2 NOOP\r\n", limits) ==
        "BAD[a1]Line too long\na2 NOOP\n");
  CHECK(FeedAllWays(std::string(100, 'x') + "\r\na2 NOOP\r\n", limits) ==
        "BAD[]Line too long\na2 NOOP\n");
  // Exactly max_line is fine, CRLF or LF.
  CHECK(FeedAllWays("a1 X " + std::string(15, 'y') + "\r\n", limits) ==
        "a1 X A:" + std::string(15, 'y') + "\n");
  CHECK(FeedAllWays("a1 X " + std::string(16, 'y') + "\n", limits) == "BAD[a1]Line too long\n");
  // A long line announcing a non-synchronizing literal: the literal is skipped as well.
  CHECK(FeedAllWays("a1 X " + std::string(30, 'y') + " {3+}\r\nabc\r\na2 NOOP\r\n", limits) ==
        "BAD[a1]Line too long\na2 NOOP\n");
}

TEST_CASE("nested lists and the depth limit", "[imap][parser]") {
  CHECK(FeedAllWays("a1 X (a (b (c)) ()) d\r\n") == "a1 X (A:a (A:b (A:c)) ()) A:d\n");
  Receiver::Limits limits;
  limits.max_depth = 3;
  CHECK(FeedAllWays("a1 X (((a)))\r\n", limits) == "a1 X (((A:a)))\n");
  CHECK(FeedAllWays("a1 X ((((a))))\r\na2 NOOP\r\n", limits) ==
        "BAD[a1]Lists nested too deeply\na2 NOOP\n");
}

TEST_CASE("token limit", "[imap][parser]") {
  Receiver::Limits limits;
  limits.max_tokens = 4;
  CHECK(FeedAllWays("a1 X a b c d\r\n", limits) == "a1 X A:a A:b A:c A:d\n");
  CHECK(FeedAllWays("a1 X a b c d e\r\na2 NOOP\r\n", limits) ==
        "BAD[a1]Too many arguments\na2 NOOP\n");
  CHECK(FeedAllWays("a1 X (a b c) d\r\n", limits) == "BAD[a1]Too many arguments\n");
}

TEST_CASE("ExpectLine returns raw lines for AUTHENTICATE and IDLE", "[imap][parser]") {
  Receiver r;
  r.Feed("a1 AUTHENTICATE PLAIN\r\nAGJvYgBwYXNz\r\na2 IDLE\r\nDONE\r\na3 NOOP\r\n");
  Receiver::Event e = r.Next();
  REQUIRE(e.kind == Receiver::Event::kCommand);
  CHECK(e.command.name == "AUTHENTICATE");
  r.ExpectLine();
  e = r.Next();
  REQUIRE(e.kind == Receiver::Event::kLine);
  CHECK(e.line == "AGJvYgBwYXNz");
  e = r.Next();
  REQUIRE(e.kind == Receiver::Event::kCommand);
  CHECK(e.command.name == "IDLE");
  r.ExpectLine();
  e = r.Next();
  REQUIRE(e.kind == Receiver::Event::kLine);
  CHECK(e.line == "DONE");
  e = r.Next();
  REQUIRE(e.kind == Receiver::Event::kCommand);
  CHECK(e.command.tag == "a3");
  CHECK(r.buffered() == 0);
}

TEST_CASE("buffered() exposes bytes pipelined after STARTTLS", "[imap][parser]") {
  Receiver r;
  r.Feed("a1 STARTTLS\r\na2 LOGIN x y\r\n");
  CHECK(r.Next().command.name == "STARTTLS");
  CHECK(r.buffered() == 14);
}

TEST_CASE("random inputs agree however they are chunked", "[imap][parser]") {
  std::mt19937 rng(99);
  const std::vector<std::string> pieces = {
      "a1 ", "FETCH ", "(", ")",     " ",    "\"q\\\"\"", "{3}\r\n",  "{2+}\r\n", "abc",  "\r\n",
      "\n",  "BODY[",  "]", "<1.2>", "UID ", "*",         "~{1}\r\n", "NIL",      "\x01", "\""};
  Receiver::Limits limits;
  limits.max_line = 40;
  limits.max_literal = 3;
  limits.max_depth = 3;
  limits.max_tokens = 8;
  for (int round = 0; round < 300; ++round) {
    std::string input;
    size_t n = rng() % 20;
    for (size_t i = 0; i < n; ++i) input += pieces[rng() % pieces.size()];
    FeedAllWays(input, limits);
  }
}

}  // namespace
}  // namespace kite::imap

namespace kite::imap {
namespace {

TEST_CASE("NIL where an astring goes is the string as sent", "[imap][parser]") {
  Receiver r;
  r.Feed("n1 LIST \"\" NIL\r\nn2 SELECT nil\r\n");
  Receiver::Event list = r.Next();
  REQUIRE(list.kind == Receiver::Event::kCommand);
  REQUIRE(list.command.args.size() == 2);
  CHECK(list.command.args[1].kind == Token::kNil);  // nil itself stays visible (ID, nstring)
  CHECK(list.command.args[1].IsString());
  CHECK(list.command.args[1].value == "NIL");
  Receiver::Event select = r.Next();
  REQUIRE(select.kind == Receiver::Event::kCommand);
  CHECK(select.command.args[0].IsString());
  CHECK(select.command.args[0].value == "nil");
}

}  // namespace
}  // namespace kite::imap
