#include "lib/smtp/command.h"

#include <catch2/catch.hpp>
#include <string>

namespace kite::smtp {
namespace {

Command Parse(std::string_view line) {
  absl::StatusOr<Command> cmd = ParseCommand(line);
  INFO(line << " -> " << cmd.status().ToString());
  REQUIRE(cmd.ok());
  return *cmd;
}

// The reply a bad line gets, "501 5.5.4 ..." style, as code + enhanced code.
std::string Rejection(std::string_view line) {
  absl::StatusOr<Command> cmd = ParseCommand(line);
  INFO(line);
  REQUIRE_FALSE(cmd.ok());
  Reply r = ErrorReply(cmd.status());
  return std::to_string(r.code) + " " + r.enhanced;
}

TEST_CASE("every verb is recognised, case-insensitively", "[smtp][parser]") {
  CHECK(Parse("HELO mx.example.com").verb == Verb::kHelo);
  CHECK(Parse("ehlo [192.0.2.1]").verb == Verb::kEhlo);
  CHECK(Parse("MAIL FROM:<a@example.com>").verb == Verb::kMail);
  CHECK(Parse("rcpt to:<b@example.com>").verb == Verb::kRcpt);
  CHECK(Parse("DATA").verb == Verb::kData);
  CHECK(Parse("BDAT 10").verb == Verb::kBdat);
  CHECK(Parse("RSET").verb == Verb::kRset);
  CHECK(Parse("NOOP").verb == Verb::kNoop);
  CHECK(Parse("noop anything goes").verb == Verb::kNoop);
  CHECK(Parse("QUIT").verb == Verb::kQuit);
  CHECK(Parse("VRFY postmaster").verb == Verb::kVrfy);
  CHECK(Parse("EXPN staff").verb == Verb::kExpn);
  CHECK(Parse("HELP").verb == Verb::kHelp);
  CHECK(Parse("HELP MAIL").verb == Verb::kHelp);
  CHECK(Parse("StartTLS").verb == Verb::kStartTls);
  CHECK(Parse("AUTH PLAIN").verb == Verb::kAuth);
  Command c = Parse("eHlO client.example.org");
  CHECK(c.verb_text == "eHlO");
  CHECK(c.argument == "client.example.org");
}

TEST_CASE("unknown commands get 500 5.5.2", "[smtp][parser]") {
  CHECK(Rejection("FOO bar") == "500 5.5.2");
  CHECK(Rejection("GET / HTTP/1.1") == "500 5.5.2");
  CHECK(Rejection("") == "500 5.5.2");
  CHECK(Rejection("MAILFROM:<a@b.c>") == "500 5.5.2");
}

TEST_CASE("MAIL FROM accepts the forms real clients send", "[smtp][parser]") {
  CHECK(Parse("MAIL FROM:<user@example.com>").address == "user@example.com");
  CHECK(Parse("MAIL FROM: <user@example.com>").address == "user@example.com");
  CHECK(Parse("mail from:<user@example.com>").address == "user@example.com");
  CHECK(Parse("MAIL FROM:user@example.com").address == "user@example.com");
  CHECK(Parse("MAIL FROM:<user@example.com>   ").address == "user@example.com");
  CHECK(Parse("MAIL FROM:<>").address.empty());
  CHECK(Parse("MAIL FROM:<@relay1.example,@relay2.example:user@example.com>").address ==
        "user@example.com");
  CHECK(Parse("MAIL FROM:<\"john doe\"@example.com>").address == "\"john doe\"@example.com");
  CHECK(Parse("MAIL FROM:<\"a>b\"@example.com>").address == "\"a>b\"@example.com");
  CHECK(Parse("MAIL FROM:<user@[192.0.2.1]>").address == "user@[192.0.2.1]");
  CHECK(Parse("MAIL FROM:<user@[IPv6:2001:db8::1]>").address == "user@[IPv6:2001:db8::1]");
  CHECK(Parse("MAIL FROM:<o'brien+tag@sub.example.co.uk>").address ==
        "o'brien+tag@sub.example.co.uk");
}

TEST_CASE("MAIL FROM parameters", "[smtp][parser]") {
  Command c = Parse(
      "MAIL FROM:<a@example.com> SIZE=12345 body=8bitmime RET=hdrs ENVID=QQ+2B1 "
      "AUTH=<>");
  REQUIRE(c.params.size() == 5);
  CHECK(c.params[0] == std::make_pair(std::string("SIZE"), std::string("12345")));
  CHECK(c.params[1] == std::make_pair(std::string("BODY"), std::string("8BITMIME")));
  CHECK(*c.Param("ret") == "HDRS");
  CHECK(*c.Param("ENVID") == "QQ+2B1");
  CHECK(c.Param("SMTPUTF8") == nullptr);
  CHECK(Parse("MAIL FROM:<a@example.com> SMTPUTF8").Param("SMTPUTF8")->empty());
  CHECK(Parse("MAIL FROM:<a@example.com>  SIZE=1").params.size() == 1);

  CHECK(Rejection("MAIL FROM:<a@example.com> FOO=bar") == "555 5.5.4");
  CHECK(Rejection("MAIL FROM:<a@example.com> NOTIFY=NEVER") == "555 5.5.4");
  CHECK(Rejection("MAIL FROM:<a@example.com> SIZE=abc") == "501 5.5.4");
  CHECK(Rejection("MAIL FROM:<a@example.com> SIZE=99999999999999999999999") == "501 5.5.4");
  CHECK(Rejection("MAIL FROM:<a@example.com> SIZE") == "501 5.5.4");
  CHECK(Rejection("MAIL FROM:<a@example.com> SIZE=1 SIZE=2") == "501 5.5.4");
  CHECK(Rejection("MAIL FROM:<a@example.com> BODY=9BIT") == "501 5.5.4");
  CHECK(Rejection("MAIL FROM:<a@example.com> SMTPUTF8=yes") == "501 5.5.4");
  CHECK(Rejection("MAIL FROM:<a@example.com> ENVID=a+zz") == "501 5.5.4");
  CHECK(Rejection("MAIL FROM:<a@example.com> SIZE=") == "501 5.5.4");
  CHECK(Rejection("MAIL FROM:<a@example.com> -X=1") == "501 5.5.4");
}

TEST_CASE("RCPT TO forms and parameters", "[smtp][parser]") {
  CHECK(Parse("RCPT TO:<b@example.com>").address == "b@example.com");
  CHECK(Parse("RCPT TO: <b@example.com>").address == "b@example.com");
  CHECK(Parse("RCPT TO:<Postmaster>").address == "Postmaster");
  Command c = Parse("RCPT TO:<b@example.com> NOTIFY=success,delay ORCPT=rfc822;b+40example.com");
  CHECK(*c.Param("NOTIFY") == "SUCCESS,DELAY");
  CHECK(*c.Param("ORCPT") == "rfc822;b+40example.com");
  CHECK(Parse("RCPT TO:<b@example.com> NOTIFY=NEVER").params.size() == 1);

  CHECK(Rejection("RCPT TO:<b@example.com> NOTIFY=NEVER,SUCCESS") == "501 5.5.4");
  CHECK(Rejection("RCPT TO:<b@example.com> NOTIFY=SUCCESS,SUCCESS") == "501 5.5.4");
  CHECK(Rejection("RCPT TO:<b@example.com> ORCPT=rfc822") == "501 5.5.4");
  CHECK(Rejection("RCPT TO:<b@example.com> SIZE=10") == "555 5.5.4");
}

TEST_CASE("bad MAIL and RCPT syntax gets 501 with the right enhanced code", "[smtp][parser]") {
  CHECK(Rejection("MAIL") == "501 5.5.4");
  CHECK(Rejection("MAIL TO:<a@example.com>") == "501 5.5.4");
  CHECK(Rejection("MAIL FROM:") == "501 5.5.4");
  CHECK(Rejection("RCPT FROM:<a@example.com>") == "501 5.5.4");
  CHECK(Rejection("RCPT TO:") == "501 5.5.4");

  CHECK(Rejection("MAIL FROM:<a@example.com") == "501 5.1.7");
  CHECK(Rejection("MAIL FROM:<a@@example.com>") == "501 5.1.7");
  CHECK(Rejection("MAIL FROM:<a..b@example.com>") == "501 5.1.7");
  CHECK(Rejection("MAIL FROM:<.a@example.com>") == "501 5.1.7");
  CHECK(Rejection("MAIL FROM:<a@-example.com>") == "501 5.1.7");
  CHECK(Rejection("MAIL FROM:<a@example..com>") == "501 5.1.7");
  CHECK(Rejection("MAIL FROM:<a@[300.1.1.1]>") == "501 5.1.7");
  CHECK(Rejection("MAIL FROM:<a@[IPv6:zz::1]>") == "501 5.1.7");
  CHECK(Rejection("MAIL FROM:<a b@example.com>") == "501 5.1.7");
  CHECK(Rejection("MAIL FROM:<nodomain>") == "501 5.1.7");
  CHECK(Rejection("MAIL FROM:<a@example.com>x") == "501 5.1.7");
  CHECK(Rejection("MAIL FROM:<\"unterminated@example.com>") == "501 5.1.7");

  CHECK(Rejection("RCPT TO:<>") == "501 5.1.3");
  CHECK(Rejection("RCPT TO:<nodomain>") == "501 5.1.3");
  CHECK(Rejection("RCPT TO:<a@b@example.com>") == "501 5.1.3");
  CHECK(Rejection("RCPT TO:<@relay:a@example.com") == "501 5.1.3");
  CHECK(Rejection("RCPT TO:<@:a@example.com>") == "501 5.1.3");
}

TEST_CASE("address length limits are RFC 5321's", "[smtp][parser]") {
  std::string local64(64, 'a');
  CHECK(Parse("RCPT TO:<" + local64 + "@example.com>").address == local64 + "@example.com");
  CHECK(Rejection("RCPT TO:<" + local64 + "a@example.com>") == "501 5.1.3");
  std::string label(63, 'b');
  std::string domain = label + "." + label + "." + label + "." + std::string(57, 'c');  // 249
  CHECK(IsValidDomain(domain));
  CHECK_FALSE(IsValidDomain(domain + ".comxyz"));  // 256
  CHECK_FALSE(IsValidDomain(std::string(64, 'x') + ".com"));
  // Path over 256 octets with the brackets.
  std::string path = std::string(60, 'a') + "@" + domain.substr(0, 200);
  CHECK(Rejection("MAIL FROM:<" + path + ">") == "501 5.1.7");
}

TEST_CASE("SMTPUTF8 governs non-ASCII addresses", "[smtp][parser]") {
  CHECK(Rejection("MAIL FROM:<j\xC3\xB6rg@example.com>") == "553 5.6.7");
  Command c = Parse(
      "MAIL FROM:<j\xC3\xB6rg@b\xC3\xBC"
      "cher.example> SMTPUTF8");
  CHECK(c.utf8_address);
  Command r = Parse("RCPT TO:<j\xC3\xB6rg@example.com>");
  CHECK(r.utf8_address);
  CHECK_FALSE(Parse("RCPT TO:<jorg@example.com>").utf8_address);
  CHECK(Rejection("RCPT TO:<j\xC3@example.com>") == "500 5.5.2");  // invalid UTF-8
}

TEST_CASE("control characters and over-long lines are refused", "[smtp][parser]") {
  CHECK(Rejection(std::string("MAIL FROM:<a@example.com>\0", 26)) == "500 5.5.2");
  CHECK(Rejection("NOOP \x01") == "500 5.5.2");
  CHECK(Rejection("NOOP \x7F") == "500 5.5.2");
  CHECK(Rejection("HELO a\tb") == "500 5.5.2");
  CHECK(Rejection("NOOP " + std::string(kMaxCommandLength, 'x')) == "500 5.5.2");
  // AUTH may be longer (RFC 4954).
  std::string b64(4000, 'A');
  CHECK(Parse("AUTH PLAIN " + b64).auth_initial_response == b64);
  CHECK(Rejection("AUTH PLAIN " + std::string(kMaxAuthCommandLength, 'A')) == "500 5.5.2");
}

TEST_CASE("commands without arguments reject arguments", "[smtp][parser]") {
  CHECK(Rejection("DATA now") == "501 5.5.4");
  CHECK(Rejection("RSET x") == "501 5.5.4");
  CHECK(Rejection("QUIT bye") == "501 5.5.4");
  CHECK(Rejection("STARTTLS x") == "501 5.5.4");
  CHECK(Rejection("HELO") == "501 5.5.4");
  CHECK(Rejection("EHLO   ") == "501 5.5.4");
  CHECK(Rejection("VRFY") == "501 5.5.4");
  CHECK(Rejection("EXPN") == "501 5.5.4");
  CHECK(ErrorReply(ParseCommand("DATA x").status()).text == "Syntax: DATA");
}

TEST_CASE("BDAT chunk size and LAST", "[smtp][parser]") {
  Command c = Parse("BDAT 1000");
  CHECK(c.bdat_size == 1000);
  CHECK_FALSE(c.bdat_last);
  c = Parse("bdat 0 last");
  CHECK(c.bdat_size == 0);
  CHECK(c.bdat_last);
  CHECK(Parse("BDAT 18446744073709551615 LAST").bdat_size == UINT64_MAX);
  CHECK(Rejection("BDAT") == "501 5.5.4");
  CHECK(Rejection("BDAT -1") == "501 5.5.4");
  CHECK(Rejection("BDAT 18446744073709551616") == "501 5.5.4");
  CHECK(Rejection("BDAT 10 FIRST") == "501 5.5.4");
  CHECK(Rejection("BDAT 10 LAST more") == "501 5.5.4");
}

TEST_CASE("AUTH mechanism and initial response", "[smtp][parser]") {
  Command c = Parse("AUTH plain AGFsaWNlAHNlY3JldA==");
  CHECK(c.auth_mechanism == "PLAIN");
  CHECK(c.has_initial_response);
  CHECK(c.auth_initial_response == "AGFsaWNlAHNlY3JldA==");
  c = Parse("AUTH LOGIN");
  CHECK_FALSE(c.has_initial_response);
  c = Parse("AUTH PLAIN =");
  CHECK(c.has_initial_response);
  CHECK(c.auth_initial_response == "=");
  CHECK(Rejection("AUTH") == "501 5.5.4");
  CHECK(Rejection("AUTH PL@IN") == "501 5.5.4");
  CHECK(Rejection("AUTH PLAIN abc") == "501 5.5.2");
  CHECK(Rejection("AUTH PLAIN a=bc") == "501 5.5.2");
  CHECK(Rejection("AUTH PLAIN AAAA BBBB") == "501 5.5.4");
}

TEST_CASE("domain and address literal validation", "[smtp][parser]") {
  CHECK(IsValidDomain("example.com"));
  CHECK(IsValidDomain("a-b.c0m"));
  CHECK(IsValidDomain("localhost"));
  CHECK_FALSE(IsValidDomain(""));
  CHECK_FALSE(IsValidDomain("example.com."));
  CHECK_FALSE(IsValidDomain("a_b.com"));
  CHECK_FALSE(IsValidDomain("ab-.com"));
  CHECK_FALSE(
      IsValidDomain("b\xC3\xBC"
                    "cher.example"));
  CHECK(
      IsValidDomain("b\xC3\xBC"
                    "cher.example",
                    /*allow_utf8=*/true));
  CHECK(IsValidAddressLiteral("[127.0.0.1]"));
  CHECK(IsValidAddressLiteral("[IPv6:::1]"));
  CHECK(IsValidAddressLiteral("[ipv6:2001:db8::192.0.2.1]"));
  CHECK(IsValidAddressLiteral("[x-tag:something]"));
  CHECK_FALSE(IsValidAddressLiteral("[1.2.3]"));
  CHECK_FALSE(IsValidAddressLiteral("[256.1.1.1]"));
  CHECK_FALSE(IsValidAddressLiteral("127.0.0.1"));
  CHECK_FALSE(IsValidAddressLiteral("[IPv6:1:2:3]"));
}

TEST_CASE("NormalizeAddress lowercases the domain only", "[smtp][parser]") {
  CHECK(NormalizeAddress("John.Doe@Example.COM") == "John.Doe@example.com");
  CHECK(NormalizeAddress("\"john\"@Example.com") == "john@example.com");
  CHECK(NormalizeAddress("\"john doe\"@Example.com") == "\"john doe\"@example.com");
  CHECK(NormalizeAddress("") == "");
  CHECK(NormalizeAddress("Postmaster") == "Postmaster");
}

TEST_CASE("xtext decoding", "[smtp][parser]") {
  CHECK(*DecodeXtext("a+2Bb+3Dc") == "a+b=c");
  CHECK_FALSE(DecodeXtext("a+2").ok());
  CHECK_FALSE(DecodeXtext("a+").ok());
  CHECK_FALSE(DecodeXtext("a+G0").ok());
  CHECK_FALSE(DecodeXtext("a=b").ok());
}

TEST_CASE("replies format as single and multi-line", "[smtp][parser]") {
  CHECK(Reply{250, "2.1.0", "Ok"}.Format() == "250 2.1.0 Ok\r\n");
  CHECK(Reply{250, "", "mx.example.com\nPIPELINING\nSIZE 10240000"}.Format() ==
        "250-mx.example.com\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n");
  CHECK(Reply{550, "5.1.1", "No such user\nreally"}.Format() ==
        "550-5.1.1 No such user\r\n550 5.1.1 really\r\n");
  CHECK(Reply{354, "", "End data with <CR><LF>.<CR><LF>"}.Format() ==
        "354 End data with <CR><LF>.<CR><LF>\r\n");
  CHECK(Reply{221, "2.0.0", ""}.Format() == "221 2.0.0\r\n");
  // Client text echoed back cannot break the reply.
  CHECK(Reply{501, "5.5.4", "bad\rinjected"}.Format() == "501 5.5.4 bad?injected\r\n");
}

TEST_CASE("ErrorReply parses a parse error into a Reply", "[smtp][parser]") {
  Reply r = ErrorReply(ParseCommand("MAIL FROM:<a@@b>").status());
  CHECK(r.code == 501);
  CHECK(r.enhanced == "5.1.7");
  CHECK(r.Format() == "501 5.1.7 Bad sender address syntax\r\n");
  CHECK(ErrorReply(absl::InternalError("boom")).code == 451);
}

}  // namespace
}  // namespace kite::smtp
