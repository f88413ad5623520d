#include <catch2/catch.hpp>
#include <string>

#include "lib/sieve/sieve.h"

namespace kite::sieve {
namespace {

std::string Error(std::string_view script) {
  CompileError e;
  auto s = Compile(script, Limits{}, &e);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.status().message()) == e.ToString());
  return e.ToString();
}

TEST_CASE("valid scripts with every supported extension compile", "[sieve][compiler]") {
  auto s = Compile(R"(require ["fileinto", "reject", "envelope", "imap4flags", "vacation",
                              "mailbox", "copy", "comparator-i;octet",
                              "comparator-i;ascii-casemap"];
require "ereject";
if envelope :domain :is "from" "example.org" { fileinto :create :copy :flags "\\Seen" "Org"; }
elsif address :comparator "i;octet" :localpart :matches ["to", "cc"] "list-*" { discard; }
elsif mailboxexists "Spam" { addflag "$Junk"; keep; }
else { vacation :days 3 :subject "away" :from "me@example.com"
         :addresses ["alias@example.com"] :mime :handle "h1" "I am away"; }
)");
  INFO(s.status());
  REQUIRE(s.ok());
  CHECK(s->extensions.size() == 10);
  REQUIRE(s->commands.size() == 1);
  CHECK(s->commands[0].branches.size() == 4);
  const CommandNode& f = s->commands[0].branches[0].block[0];
  CHECK(f.kind == CommandNode::Kind::kFileInto);
  CHECK(f.create);
  CHECK(f.copy);
  CHECK(f.flags == std::vector<std::string>{"\\Seen"});
  const TestNode& a = s->commands[0].branches[1].test;
  CHECK(a.comparator == Comparator::kOctet);
  CHECK(a.address_part == AddressPart::kLocalPart);
  CHECK(a.match == MatchType::kMatches);
  const VacationParams& v = s->commands[0].branches[3].block[0].vacation;
  CHECK(v.seconds == 3 * 86400);
  CHECK(v.subject == "away");
  CHECK(v.from == "me@example.com");
  CHECK(v.addresses == std::vector<std::string>{"alias@example.com"});
  CHECK(v.mime);
  CHECK(v.handle == "h1");
  CHECK(v.reason == "I am away");
}

TEST_CASE("an empty script and a comment-only script compile", "[sieve][compiler]") {
  CHECK(Compile("").ok());
  CHECK(Compile("# nothing\n/* here */\n").ok());
}

TEST_CASE("bad scripts are refused with the line and the reason", "[sieve][compiler]") {
  CHECK(Error("require \"fileinto\";\nif true {\n  keep;\n  fileino \"x\";\n}") ==
        "line 4: unknown command \"fileino\"");
  CHECK(Error("keep;\nrequire \"fileinto\";") ==
        "line 2: \"require\" must come before any other command");
  CHECK(Error("require \"foo\";") == "line 1: unsupported extension \"foo\"");
  CHECK(Error("\nfileinto \"x\";") ==
        "line 2: command \"fileinto\" requires the \"fileinto\" extension (require "
        "\"fileinto\";)");
  CHECK(Error("if header :is \"to\" { keep; }") ==
        "line 1: test \"header\" takes 2 arguments, found 1");
  CHECK(Error("if header \"to\" :is \"x\" { keep; }") ==
        "line 1: tag :is must come before the other arguments of test \"header\"");
  CHECK(Error("if header :is :contains \"to\" \"x\" { keep; }") ==
        "line 1: tags :is and :contains cannot be used together (one match type)");
  CHECK(Error("if header :bogus \"to\" \"x\" { keep; }") ==
        "line 1: unknown tag :bogus for test \"header\"");
  CHECK(Error("if size 100 { keep; }") == "line 1: test \"size\" takes 0 arguments, found 1");
  CHECK(Error("if size :over \"100\" { keep; }") == "line 1: tag :over needs a number");
  CHECK(Error("if size { keep; }") == "line 1: test \"size\" needs :over or :under and a number");
  CHECK(Error("if frob { keep; }") == "line 1: unknown test \"frob\"");
  CHECK(Error("else { keep; }") == "line 1: \"else\" without a preceding \"if\"");
  CHECK(Error("if true { keep; }\nstop;\nelsif true { keep; }") ==
        "line 3: \"elsif\" without a preceding \"if\"");
  CHECK(Error("if true;") == "line 1: \"if\" needs a block");
  CHECK(Error("if true keep;") == "line 1: test \"true\" takes no tests");
  CHECK(Error("keep { stop; }") == "line 1: command \"keep\" takes no block");
  CHECK(Error("redirect [\"a@b.test\", \"c@d.test\"];") ==
        "line 1: argument 1 of command \"redirect\" must be a string");
  CHECK(Error("redirect \"not an address\";") ==
        "line 1: invalid redirect address \"not an address\"");
  CHECK(Error("if true {\n require \"fileinto\"; }") ==
        "line 2: \"require\" is only allowed at the top");
  CHECK(Error("if address :is \"subject\" \"x\" { keep; }") ==
        "line 1: header \"subject\" does not hold addresses (address test)");
  CHECK(Error("require \"envelope\";\nif envelope :is \"body\" \"x\" { keep; }") ==
        "line 2: unknown envelope part \"body\" (\"from\" or \"to\")");
  CHECK(Error("if header :comparator \"i;unicode-casemap\" \"to\" \"x\" { keep; }") ==
        "line 1: unsupported comparator \"i;unicode-casemap\"");
  CHECK(Error("require \"fileinto\";\nfileinto :flags \"\\\\Seen\" \"x\";") ==
        "line 2: tag :flags requires the \"imap4flags\" extension (require \"imap4flags\";)");
  CHECK(Error("require \"fileinto\";\nfileinto :create \"x\";") ==
        "line 2: tag :create requires the \"mailbox\" extension (require \"mailbox\";)");
  CHECK(Error("redirect :copy \"a@b.test\";") ==
        "line 1: tag :copy requires the \"copy\" extension (require \"copy\";)");
  CHECK(Error("if hasflag \"x\" { keep; }") ==
        "line 1: test \"hasflag\" requires the \"imap4flags\" extension (require "
        "\"imap4flags\";)");
  CHECK(Error("require \"vacation\";\nvacation :days 1 :days 2 \"x\";") ==
        "line 2: tag :days given twice");
  CHECK(Error("require \"vacation\";\nvacation :subject 5 \"x\";") ==
        "line 2: tag :subject needs a string");
  CHECK(Error("require \"vacation\";\nvacation :seconds 5 \"x\";") ==
        "line 2: tag :seconds requires the \"vacation-seconds\" extension (require "
        "\"vacation-seconds\";)");
  CHECK(Error("require \"vacation\";\nvacation :subject \"a\r\nBcc: x@y.test\" \"r\";") ==
        "line 2: vacation :subject must be a single line");
  CHECK(Error("require \"vacation\";\nvacation :from \"nobody\" \"r\";") ==
        "line 2: vacation :from \"nobody\" is not one address");
  CHECK(Error("require \"vacation\";\nvacation :addresses [\"a@b.test\", \"c\"] \"r\";") ==
        "line 2: vacation :addresses holds an invalid address \"c\"");
  CHECK(Compile("require \"vacation\";\nvacation :from \"Me <me@example.com>\" \"r\";").ok());
  CHECK(Error("require \"fileinto\";\nfileinto \"\";") == "line 2: invalid mailbox name \"\"");
  CHECK(Error("require \"fileinto\";\nfileinto \"a\xFF\";") ==
        "line 2: invalid mailbox name \"a\\xFF\"");
  CHECK(Error("require \"fileinto\";\nfileinto \"a\nb\";") ==
        "line 2: invalid mailbox name \"a\\x0Ab\"");
  CHECK(Compile("require \"fileinto\";\nfileinto \"Entw\xC3\xBCrfe/2026\";").ok());
  CHECK(Error("if not (true, false) { keep; }") == "line 1: test \"not\" needs exactly one test");
  CHECK(Error("if allof true { keep; }") == "line 1: test \"allof\" needs a test list");
  CHECK(Error("if exists \"bad name:\" { keep; }") == "line 1: invalid header name \"bad name:\"");
  CHECK(Error("discard \"x\";") == "line 1: command \"discard\" takes 0 arguments, found 1");
  CHECK(Error("require \"reject\";\nreject;") ==
        "line 2: command \"reject\" takes 1 argument, found 0");
  CHECK(Error("keep true;") == "line 1: command \"keep\" takes no test");
  CHECK(Error("stop;\n\n  \"x\" ;") == "line 3: unexpected string");
}

TEST_CASE("client text in error messages is escaped", "[sieve][compiler]") {
  CHECK(Error("require \"a\x01\\\"b\";") == "line 1: unsupported extension \"a\\x01\\x22b\"");
}

TEST_CASE("the compile error carries the column", "[sieve][compiler]") {
  CompileError e;
  CHECK_FALSE(Compile("keep;\n   frob;", Limits{}, &e).ok());
  CHECK(e.line == 2);
  CHECK(e.column == 4);
  CHECK(e.message == "unknown command \"frob\"");
}

TEST_CASE("vacation periods are clamped and a default handle is derived",
          "[sieve][compiler][vacation]") {
  auto period = [](std::string_view args) {
    auto s = Compile(std::string("require [\"vacation\", \"vacation-seconds\"];\nvacation ") +
                     std::string(args) + " \"r\";");
    REQUIRE(s.ok());
    return s->commands[0].vacation;
  };
  CHECK(period("").seconds == 7 * 86400);
  CHECK(period(":days 0").seconds == 86400);
  CHECK(period(":days 10000").seconds == 365 * 86400);
  CHECK(period(":seconds 0").seconds == 0);
  CHECK(period(":seconds 3600").seconds == 3600);
  CHECK(period("").handle == period("").handle);
  CHECK(period("").handle != period(":subject \"x\"").handle);
  CHECK(period("").handle.rfind("auto-", 0) == 0);
  CompileError e;
  CHECK_FALSE(Compile("require [\"vacation\", \"vacation-seconds\"];\n"
                      "vacation :days 1 :seconds 2 \"r\";",
                      Limits{}, &e)
                  .ok());
  CHECK(e.ToString() == "line 2: tags :days and :seconds cannot be used together (one period)");
}

TEST_CASE("the script size limit is configurable", "[sieve][compiler][limits]") {
  std::string big(70 * 1024, ' ');
  CHECK(Error(big + "keep;") == "line 1: script larger than 65536 octets");
  Limits l;
  l.max_script_size = 128 * 1024;
  CHECK(Compile(big + "keep;", l).ok());
}

}  // namespace
}  // namespace kite::sieve
