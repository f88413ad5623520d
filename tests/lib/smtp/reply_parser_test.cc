#include "lib/smtp/reply_parser.h"

#include <catch2/catch.hpp>
#include <string>

namespace kite::smtp {
namespace {

TEST_CASE("a single-line reply with an enhanced code", "[smtp][parser]") {
  ReplyParser p;
  p.Feed("250 2.1.0 Ok\r\n");
  ReplyParser::Result r = p.Next();
  REQUIRE(r.kind == ReplyParser::Result::kReply);
  CHECK(r.reply.code == 250);
  CHECK(r.reply.enhanced == "2.1.0");
  CHECK(r.reply.text == "Ok");
  CHECK(p.Next().kind == ReplyParser::Result::kNeedMore);
}

TEST_CASE("multi-line EHLO reply fed byte by byte", "[smtp][parser]") {
  std::string input = "250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n220 next\r\n";
  ReplyParser p;
  std::vector<ReplyParser::Result> replies;
  for (char c : input) {
    p.Feed(std::string_view(&c, 1));
    for (;;) {
      ReplyParser::Result r = p.Next();
      if (r.kind != ReplyParser::Result::kReply) {
        REQUIRE(r.kind == ReplyParser::Result::kNeedMore);
        break;
      }
      replies.push_back(r);
    }
  }
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].reply.code == 250);
  CHECK(replies[0].reply.enhanced.empty());
  CHECK(replies[0].lines == std::vector<std::string>{"mx.example.com", "PIPELINING", "8BITMIME"});
  CHECK(replies[0].reply.text == "mx.example.com\nPIPELINING\n8BITMIME");
  CHECK(replies[1].reply.code == 220);
}

TEST_CASE("bare LF, bare code and mixed enhanced codes", "[smtp][parser]") {
  ReplyParser p;
  p.Feed("354\n550-5.1.1 no\r\n550 5.1.2 mixed\r\n");
  ReplyParser::Result a = p.Next();
  REQUIRE(a.kind == ReplyParser::Result::kReply);
  CHECK(a.reply.code == 354);
  CHECK(a.reply.text.empty());
  ReplyParser::Result b = p.Next();
  REQUIRE(b.kind == ReplyParser::Result::kReply);
  CHECK(b.reply.enhanced.empty());
  CHECK(b.reply.text == "5.1.1 no\n5.1.2 mixed");
}

TEST_CASE("malformed replies are terminal errors", "[smtp][parser]") {
  for (const char* bad :
       {"25 ok\r\n", "abc ok\r\n", "250-a\r\n251 b\r\n", "250_x\r\n", "650 bad class\r\n",
        "250 a\x01"
        "b\r\n"}) {
    ReplyParser p;
    p.Feed(bad);
    ReplyParser::Result r = p.Next();
    INFO(bad);
    CHECK(r.kind == ReplyParser::Result::kError);
    p.Feed("250 ok\r\n");
    CHECK(p.Next().kind == ReplyParser::Result::kError);
  }
}

TEST_CASE("reply limits", "[smtp][parser]") {
  ReplyParser::Limits limits;
  limits.max_line = 100;
  limits.max_lines = 3;
  limits.max_total = 1000;
  ReplyParser long_line(limits);
  long_line.Feed("250 " + std::string(200, 'x'));
  CHECK(long_line.Next().kind == ReplyParser::Result::kError);
  ReplyParser many(limits);
  many.Feed("250-a\r\n250-b\r\n250-c\r\n250 d\r\n");
  CHECK(many.Next().kind == ReplyParser::Result::kError);
  ReplyParser ok(limits);
  ok.Feed("250-a\r\n250-b\r\n250 c\r\n");
  CHECK(ok.Next().kind == ReplyParser::Result::kReply);
}

}  // namespace
}  // namespace kite::smtp
