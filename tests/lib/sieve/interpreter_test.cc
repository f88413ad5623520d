#include <catch2/catch.hpp>
#include <string>

#include "lib/sieve/address.h"
#include "lib/sieve/fake_message.h"
#include "lib/sieve/match.h"
#include "lib/sieve/sieve.h"

namespace kite::sieve {
namespace {

using testing::FakeMessage;
using testing::Render;
using testing::StandardMessage;

constexpr const char* kAll =
    "require [\"fileinto\", \"reject\", \"ereject\", \"envelope\", \"imap4flags\", "
    "\"vacation\", \"mailbox\", \"copy\"];\n";

absl::StatusOr<Result> Run(std::string_view body, const Message& m,
                           const ExecuteOptions& options = {}) {
  auto script = Compile(std::string(kAll) + std::string(body));
  INFO(script.status());
  REQUIRE(script.ok());
  return Execute(*script, m, options);
}

std::string Actions(std::string_view body, const Message& m = StandardMessage()) {
  auto r = Run(body, m);
  INFO(r.status());
  REQUIRE(r.ok());
  return Render(*r);
}

std::string RuntimeError(std::string_view body, const Message& m = StandardMessage()) {
  auto r = Run(body, m);
  REQUIRE_FALSE(r.ok());
  return std::string(r.status().message());
}

// A test expression evaluated on the standard message.
bool Is(std::string_view test, const Message& m = StandardMessage()) {
  std::string out = Actions("if " + std::string(test) + " { fileinto \"yes\"; }", m);
  return out == "fileinto:yes";
}

TEST_CASE("an empty script keeps the message", "[sieve][interpreter]") {
  CHECK(Actions("") == "keep(implicit)");
}

TEST_CASE("RFC 5228 2.10.2: fileinto and redirect cancel the implicit keep",
          "[sieve][interpreter]") {
  CHECK(Actions("fileinto \"A\";") == "fileinto:A");
  CHECK(Actions("redirect \"b@example.net\";") == "redirect:b@example.net");
  CHECK(Actions("discard;") == "discard");
  CHECK(Actions("keep;") == "keep");
  CHECK(Actions("keep; discard;") == "keep discard");
  CHECK(Actions("fileinto :copy \"A\";") == "fileinto:A(copy) keep(implicit)");
  CHECK(Actions("redirect :copy \"b@example.net\";") ==
        "redirect:b@example.net(copy) keep(implicit)");
  CHECK(Actions("fileinto :create \"New\";") == "fileinto:New(create)");
}

TEST_CASE("stop ends the script; if/elsif/else choose one branch", "[sieve][interpreter]") {
  CHECK(Actions("fileinto \"A\"; stop; fileinto \"B\";") == "fileinto:A");
  CHECK(Actions("if false { fileinto \"A\"; } elsif true { fileinto \"B\"; } "
                "elsif true { fileinto \"C\"; } else { fileinto \"D\"; }") == "fileinto:B");
  CHECK(Actions("if false { fileinto \"A\"; } else { fileinto \"D\"; }") == "fileinto:D");
  CHECK(Actions("if true { stop; } fileinto \"A\";") == "keep(implicit)");
}

TEST_CASE("RFC 5228 section 9 example script", "[sieve][interpreter][rfc5228]") {
  const char* script = R"(
     if header :contains "from" "coyote" {
        discard;
     } elsif header :contains ["subject"] ["$$$"] {
        discard;
     } else {
        fileinto "INBOX";
     }
)";
  CHECK(Actions(script) == "discard");
  FakeMessage other;
  other.Header("From", "friend@example.org").Header("Subject", "Make $$$ fast");
  CHECK(Actions(script, other) == "discard");
  FakeMessage ok;
  ok.Header("From", "friend@example.org").Header("Subject", "hello");
  CHECK(Actions(script, ok) == "fileinto:INBOX");
}

TEST_CASE("RFC 5228 section 9 second example", "[sieve][interpreter][rfc5228]") {
  const char* script = R"(
     # Declare any optional features or extension used by the script
     require ["fileinto"];

     # Handle messages from known mailing lists
     # Move messages from IETF filter discussion list to filter mailbox
     if header :is "Sender" "owner-ietf-mta-filters@imc.org"
             {
             fileinto "filter";  # move to "filter" mailbox
             }
     #
     # Keep all messages to or from people in my company
     #
     elsif address :DOMAIN :is ["From", "To"] "example.com"
             {
             keep;               # keep in "In" mailbox
             }

     #
     # Try and catch unsolicited email.  If a message is not to me,
     # or it contains a subject known to be spam, file it away.
     #
     elsif anyof (NOT address :all :contains
                    ["To", "Cc", "Bcc"] "me@example.com",
                  header :matches "subject"
                    ["*make*money*fast*", "*university*dipl*mas*"])
             {
             fileinto "spam";   # move to "spam" mailbox
             }
     else
             {
             # Move all other (non-company) mail to "personal"
             # mailbox.
             fileinto "personal";
             }
)";
  // Identifiers and tags are case-insensitive (":DOMAIN", "NOT" as in the RFC).
  FakeMessage company;
  company.Header("From", "Boss <boss@EXAMPLE.com>");
  CHECK(Actions(script, company) == "keep");
  FakeMessage spam;
  spam.Header("To", "x@example.net")
      .Header("Cc", "me@example.com")
      .Header("Subject", "University diplomas");
  CHECK(Actions(script, spam) == "fileinto:spam");
}

TEST_CASE("RFC 5228 section 9 second example, lower case", "[sieve][interpreter][rfc5228]") {
  const char* script = R"(
     if header :is "Sender" "owner-ietf-mta-filters@imc.org" { fileinto "filter"; }
     elsif address :domain :is ["From", "To"] "example.com" { keep; }
     elsif anyof (not address :all :contains ["To", "Cc", "Bcc"] "me@example.com",
                  header :matches "subject" ["*make*money*fast*", "*university*dipl*mas*"])
             { fileinto "spam"; }
     else { fileinto "personal"; }
)";
  FakeMessage list;
  list.Header("Sender", "owner-ietf-mta-filters@imc.org");
  CHECK(Actions(script, list) == "fileinto:filter");
  FakeMessage company;
  company.Header("From", "Boss <boss@EXAMPLE.com>");
  CHECK(Actions(script, company) == "keep");
  FakeMessage spam;
  spam.Header("To", "x@example.net")
      .Header("Cc", "me@example.com")
      .Header("Subject", "How to MAKE big money FAST");
  CHECK(Actions(script, spam) == "fileinto:spam");
  FakeMessage not_me;
  not_me.Header("To", "other@example.net");
  CHECK(Actions(script, not_me) == "fileinto:spam");
  FakeMessage personal;
  personal.Header("To", "x@example.net")
      .Header("Cc", "<me@example.com>")
      .Header("Subject", "lunch");
  CHECK(Actions(script, personal) == "fileinto:personal");
}

TEST_CASE("header test with each match type and comparator", "[sieve][interpreter][match]") {
  CHECK(Is("header :is \"subject\" \"I have a present for you\""));
  CHECK(Is("header :is \"subject\" \"i have a PRESENT for you\""));
  CHECK_FALSE(Is("header :comparator \"i;octet\" :is \"subject\" \"i have a PRESENT for you\""));
  CHECK(Is("header \"subject\" \"I have a present for you\""));  // :is is the default
  CHECK(Is("header :contains \"subject\" \"PRESENT\""));
  CHECK_FALSE(Is("header :contains :comparator \"i;octet\" \"subject\" \"PRESENT\""));
  CHECK(Is("header :contains \"subject\" \"\""));
  CHECK_FALSE(Is("header :contains \"x-missing\" \"\""));
  CHECK(Is("header :matches \"subject\" \"I have*\""));
  CHECK(Is("header :matches \"subject\" \"*for you\""));
  CHECK(Is("header :matches \"subject\" \"I ha?e a*f?r*\""));
  CHECK_FALSE(Is("header :matches \"subject\" \"I have\""));
  CHECK(Is("header :matches \"x-caffeine\" \"C8H10N4O?\""));
  CHECK(Is("header :matches [\"to\", \"subject\"] [\"nothing\", \"*present*\"]"));
  CHECK(Is("header :is \"X-CAFFEINE\" \"c8h10n4o2\""));
}

TEST_CASE(":matches wildcards and escapes", "[sieve][match]") {
  auto m = [](std::string_view v, std::string_view k, Comparator c = Comparator::kOctet) {
    return Matches(v, k, MatchType::kMatches, c);
  };
  CHECK(m("", ""));
  CHECK(m("", "*"));
  CHECK_FALSE(m("", "?"));
  CHECK(m("abc", "a*"));
  CHECK(m("abc", "*c"));
  CHECK(m("abc", "a?c"));
  CHECK(m("abc", "***"));
  CHECK_FALSE(m("abc", "a?"));
  CHECK(m("a*c", "a\\*c"));
  CHECK_FALSE(m("abc", "a\\*c"));
  CHECK(m("a?c", "a\\?c"));
  CHECK_FALSE(m("abc", "a\\?c"));
  CHECK(m("a\\c", "a\\\\c"));
  CHECK(m("mississippi", "*sip*"));
  CHECK(m("mississippi", "m*iss*ppi"));
  CHECK_FALSE(m("mississippi", "m*iss*ppx"));
  CHECK(m("ABC", "a*", Comparator::kAsciiCasemap));
  CHECK_FALSE(m("ABC", "a*", Comparator::kOctet));
  // "?" is one UTF-8 character for i;ascii-casemap and one octet for i;octet.
  CHECK(m("\xC3\xA9t\xC3\xA9", "?t?", Comparator::kAsciiCasemap));
  CHECK_FALSE(m("\xC3\xA9t\xC3\xA9", "?t?", Comparator::kOctet));
  CHECK(m("\xC3\xA9t\xC3\xA9", "??t??", Comparator::kOctet));
  // Many stars on a long value stay cheap (no exponential backtracking).
  std::string value(10000, 'a');
  CHECK_FALSE(m(value, "*a*a*a*a*a*a*a*a*a*b"));
  CHECK(Matches("Hello", "hello", MatchType::kIs, Comparator::kAsciiCasemap));
  CHECK_FALSE(Matches("Hello", "hello", MatchType::kIs, Comparator::kOctet));
  CHECK(Matches("Hello", "", MatchType::kContains, Comparator::kOctet));
  CHECK_FALSE(Matches("", "x", MatchType::kContains, Comparator::kOctet));
}

TEST_CASE("address test with address parts", "[sieve][interpreter][address]") {
  CHECK(Is("address :is \"from\" \"coyote@desert.example.org\""));
  CHECK(Is("address :all :is \"from\" \"COYOTE@desert.example.org\""));
  CHECK(Is("address :localpart :is \"from\" \"coyote\""));
  CHECK(Is("address :domain :is \"from\" \"desert.example.org\""));
  CHECK_FALSE(Is("address :domain :is \"from\" \"coyote\""));
  CHECK(Is("address :domain :is \"to\" \"acme.example.com\""));  // Boss <boss@Acme...>
  CHECK(Is("address :localpart :is \"to\" \"boss\""));
  CHECK(Is("address :localpart :is \"cc\" \"b\""));  // group syntax
  CHECK_FALSE(Is("address :is \"from\" \"Coyote, Wile E.\""));
  CHECK(Is("address :matches :domain \"to\" \"*.example.com\""));
  CHECK(Is("address :comparator \"i;octet\" :domain :is \"to\" \"Acme.Example.com\""));
  CHECK_FALSE(Is("address :comparator \"i;octet\" :domain :is \"to\" \"acme.example.COM\""));
  CHECK_FALSE(Is("address :contains \"bcc\" \"\""));
}

TEST_CASE("the address-list parser handles names, quotes, comments and groups",
          "[sieve][address]") {
  auto list = ParseAddressList(
      "\"Doe, John\" <john@example.com>, (comment) jane@example.org (Jane), "
      "undisclosed-recipients:;, grp: a@x.test, \"quoted local\"@y.test;, <@route:r@z.test>, "
      "<>, nodomain");
  REQUIRE(list.size() == 6);
  CHECK(list[0].all == "john@example.com");
  CHECK(list[1].all == "jane@example.org");
  CHECK(list[2].all == "a@x.test");
  CHECK(list[3].local_part == "quoted local");
  CHECK(list[3].domain == "y.test");
  CHECK(list[4].all == "r@z.test");
  CHECK(list[5].local_part == "nodomain");
  CHECK(list[5].domain.empty());
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "a@b.test,";
  CHECK(ParseAddressList(many).size() == kMaxAddresses);
}

TEST_CASE("envelope test", "[sieve][interpreter][envelope]") {
  CHECK(Is("envelope :is \"from\" \"coyote@desert.example.org\""));
  CHECK(Is("envelope :domain :is \"to\" \"ACME.example.com\""));
  CHECK(Is("envelope :localpart :matches \"to\" \"road*\""));
  CHECK_FALSE(Is("envelope :is \"to\" \"coyote@desert.example.org\""));
  FakeMessage bounce;
  bounce.Envelope("", "user@example.com");
  CHECK(Is("envelope :is \"from\" \"\"", bounce));
  CHECK(Is("envelope :localpart :is \"from\" \"\"", bounce));
  CHECK(Is("envelope :domain :is \"from\" \"\"", bounce));
}

TEST_CASE("exists, size, true, false, not, allof, anyof", "[sieve][interpreter]") {
  CHECK(Is("exists \"subject\""));
  CHECK(Is("exists [\"subject\", \"from\"]"));
  CHECK_FALSE(Is("exists [\"subject\", \"x-nothere\"]"));
  CHECK(Is("size :over 1K"));  // 2000 > 1024
  CHECK_FALSE(Is("size :over 2000"));
  CHECK_FALSE(Is("size :under 2000"));
  CHECK(Is("size :under 2001"));
  CHECK(Is("true"));
  CHECK_FALSE(Is("false"));
  CHECK(Is("not false"));
  CHECK(Is("allof (true, true)"));
  CHECK_FALSE(Is("allof (true, false)"));
  CHECK(Is("anyof (false, true)"));
  CHECK_FALSE(Is("anyof (false, false)"));
}

TEST_CASE("mailboxexists asks the caller", "[sieve][interpreter][mailbox]") {
  ExecuteOptions opts;
  opts.mailbox_exists = [](std::string_view name) { return name == "Spam" || name == "A"; };
  auto r = Run("if mailboxexists \"Spam\" { fileinto \"Spam\"; }", StandardMessage(), opts);
  REQUIRE(r.ok());
  CHECK(Render(*r) == "fileinto:Spam");
  r = Run("if mailboxexists [\"Spam\", \"B\"] { fileinto \"Spam\"; }", StandardMessage(), opts);
  REQUIRE(r.ok());
  CHECK(Render(*r) == "keep(implicit)");
  CHECK(Actions("if mailboxexists \"Spam\" { fileinto \"Spam\"; }") == "keep(implicit)");
}

TEST_CASE("imap4flags: setflag, addflag, removeflag and hasflag", "[sieve][interpreter][flags]") {
  CHECK(Actions("addflag \"\\\\Seen\"; keep;") == "keep[\\Seen]");
  CHECK(Actions("addflag \"\\\\Seen\";") == "keep(implicit)[\\Seen]");
  CHECK(Actions("addflag [\"A\", \"B C\"]; removeflag \"b\"; fileinto \"X\";") ==
        "fileinto:X[A C]");
  CHECK(Actions("addflag \"A\"; setflag \"Z\"; keep;") == "keep[Z]");
  CHECK(Actions("addflag \"A\"; addflag \"a\"; keep;") == "keep[A]");
  CHECK(Actions("addflag \"A\"; fileinto :flags \"\\\\Flagged\" \"X\";") ==
        "fileinto:X[\\Flagged]");
  CHECK(Actions("addflag \"A\"; keep :flags \"B\";") == "keep[B]");
  CHECK(Actions("setflag \"\\\\Seen $Junk\"; if hasflag \"$junk\" { fileinto \"J\"; }") ==
        "fileinto:J[\\Seen $Junk]");
  CHECK(Actions("if hasflag \"x\" { discard; }") == "keep(implicit)");
  CHECK(Actions("addflag \"$Label1\"; if hasflag :matches \"$label*\" { discard; }") == "discard");
  CHECK(Actions("addflag \"$Label1\"; if hasflag :comparator \"i;octet\" :is \"$label1\" "
                "{ discard; }") == "keep(implicit)[$Label1]");
  // Flags apply to the actions that follow them only.
  CHECK(Actions("fileinto \"A\"; addflag \"F\"; fileinto \"B\";") == "fileinto:A fileinto:B[F]");
}

TEST_CASE("duplicate actions are collapsed", "[sieve][interpreter][conflicts]") {
  CHECK(Actions("fileinto \"A\"; fileinto \"A\";") == "fileinto:A");
  CHECK(Actions("fileinto \"A\"; fileinto \"B\"; fileinto \"A\";") == "fileinto:A fileinto:B");
  CHECK(Actions("fileinto :flags \"X\" \"A\"; fileinto :flags \"Y\" \"A\";") == "fileinto:A[X Y]");
  CHECK(Actions("keep; keep;") == "keep");
  CHECK(Actions("keep; fileinto \"INBOX\";") == "keep");
  CHECK(Actions("fileinto \"INBOX\";") == "fileinto:INBOX");
  CHECK(Actions("redirect \"a@b.test\"; redirect \"A@B.test\";") == "redirect:a@b.test");
  CHECK(Actions("discard; discard;") == "discard");
  CHECK(Actions("fileinto :copy \"A\"; fileinto \"A\";") == "fileinto:A");
}

TEST_CASE("reject and ereject conflicts (RFC 5429)", "[sieve][interpreter][conflicts]") {
  CHECK(Actions("reject \"no\";") == "reject:no");
  CHECK(Actions("ereject \"no\";") == "ereject:no");
  CHECK(Actions("reject \"no\"; discard;") == "reject:no discard");
  CHECK(Actions("redirect \"a@b.test\"; reject \"no\";") == "redirect:a@b.test reject:no");
  CHECK(RuntimeError("\nkeep;\nreject \"no\";") == "line 4: reject conflicts with keep at line 3");
  CHECK(RuntimeError("reject \"no\";\nfileinto \"A\";") ==
        "line 3: fileinto conflicts with reject at line 2");
  CHECK(RuntimeError("reject \"a\";\nereject \"b\";") ==
        "line 3: ereject conflicts with reject at line 2");
  CHECK(RuntimeError("vacation \"away\";\nreject \"no\";") ==
        "line 3: reject conflicts with vacation at line 2");
  CHECK(RuntimeError("ereject \"no\";\nvacation \"away\";") ==
        "line 3: vacation conflicts with ereject at line 2");
  CHECK(RuntimeError("fileinto :copy \"A\";\nreject \"no\";") ==
        "line 3: reject conflicts with fileinto at line 2");
}

TEST_CASE("vacation produces its parameters once per run", "[sieve][interpreter][vacation]") {
  auto r =
      Run("vacation :days 14 :subject \"Out\" :from \"me@example.com\" "
          ":addresses [\"a@example.com\", \"b@example.com\"] :mime :handle \"trip\" "
          "text:\r\nContent-Type: text/plain\r\n\r\nAway.\r\n.\r\n;",
          StandardMessage());
  REQUIRE(r.ok());
  REQUIRE(r->actions.size() == 2);
  const Action& v = r->actions[0];
  CHECK(v.kind == Action::Kind::kVacation);
  CHECK(v.vacation.seconds == 14 * 86400);
  CHECK(v.vacation.subject == "Out");
  CHECK(v.vacation.from == "me@example.com");
  CHECK(v.vacation.addresses.size() == 2);
  CHECK(v.vacation.mime);
  CHECK(v.vacation.handle == "trip");
  CHECK(v.vacation.reason == "Content-Type: text/plain\r\n\r\nAway.\r\n");
  CHECK(r->actions[1].implicit);  // vacation does not cancel the implicit keep
  CHECK(RuntimeError("vacation \"a\";\nvacation \"b\";") ==
        "line 3: vacation conflicts with vacation at line 2");
  auto seconds = Compile("require [\"vacation-seconds\"];\nvacation :seconds 60 \"x\";");
  REQUIRE(seconds.ok());
  auto rs = Execute(*seconds, StandardMessage());
  REQUIRE(rs.ok());
  CHECK(rs->actions[0].vacation.seconds == 60);
}

TEST_CASE("runtime limits: redirects and actions", "[sieve][interpreter][limits]") {
  CHECK(Actions("redirect \"a@b.test\"; redirect \"c@b.test\"; redirect \"d@b.test\"; "
                "redirect \"e@b.test\";") ==
        "redirect:a@b.test redirect:c@b.test redirect:d@b.test redirect:e@b.test");
  CHECK(RuntimeError("redirect \"a@b.test\"; redirect \"c@b.test\"; redirect \"d@b.test\"; "
                     "redirect \"e@b.test\";\nredirect \"f@b.test\";") ==
        "line 3: more than 4 redirects");
  ExecuteOptions opts;
  opts.limits.max_actions = 2;
  auto r = Run("fileinto \"A\"; fileinto \"B\"; fileinto \"C\";", StandardMessage(), opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "line 2: more than 2 actions");
}

TEST_CASE("the match cost budget stops hostile scripts", "[sieve][interpreter][limits]") {
  FakeMessage big;
  big.Header("Subject", std::string(100000, 'a'));
  ExecuteOptions opts;
  opts.limits.max_match_cost = 10'000'000;
  std::string keys = "[";
  for (int i = 0; i < 200; ++i) keys += std::string(i ? "," : "") + "\"*a*a*a*a*a*b\"";
  keys += "]";
  auto r = Run("if header :matches \"subject\" " + keys + " { discard; }", big, opts);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(r.status().message() ==
        "line 2: the tests compare too much text (more than 10000000 units)");
  // An ordinary script on the same message stays well inside the default budget.
  CHECK(Actions("if header :contains \"subject\" \"aaa\" { discard; }", big) == "discard");
}

TEST_CASE("extension RFC examples", "[sieve][interpreter][rfc]") {
  auto run = [](std::string_view script, const Message& m) {
    auto compiled = Compile(script);
    INFO(compiled.status());
    REQUIRE(compiled.ok());
    auto r = Execute(*compiled, m);
    INFO(r.status());
    REQUIRE(r.ok());
    return Render(*r);
  };
  // RFC 5232 section 7 (first example).
  FakeMessage boss;
  boss.Header("From", "boss@frobnitzm.example.edu");
  CHECK(run(R"(require ["imap4flags", "fileinto"];
    if header :contains "from" "boss@frobnitzm.example.edu" {
      setflag "\\Flagged";
      fileinto "INBOX.From Boss";
    })",
            boss) == "fileinto:INBOX.From Boss[\\Flagged]");
  // RFC 5230 section 4.8 (shortened).
  FakeMessage mail;
  mail.Header("Subject", "hello");
  auto vac = Compile(R"(require "vacation";
    if header :contains "subject" "cyrus" {
      vacation "I'm out -- send mail to cyrus-bugs";
    } else {
      vacation "I'm out -- call me at +1 304 555 0123";
    })");
  REQUIRE(vac.ok());
  auto vr = Execute(*vac, mail);
  REQUIRE(vr.ok());
  REQUIRE(vr->actions.size() == 2);
  CHECK(vr->actions[0].vacation.reason == "I'm out -- call me at +1 304 555 0123");
  CHECK(vr->actions[0].vacation.seconds == 7 * 86400);
  // RFC 5429 section 2.2 example.
  FakeMessage spam;
  spam.Header("Subject", "Cheap Viagra");
  CHECK(run(R"(require ["ereject"];
    if header :contains "subject" "viagra" { ereject "I don't want to read this"; })",
            spam) == "ereject:I don't want to read this");
  // RFC 3894 section 4: copy to another address and keep.
  CHECK(run("require [\"copy\"];\nredirect :copy \"joe@example.com\";", mail) ==
        "redirect:joe@example.com(copy) keep(implicit)");
  // RFC 5490 section 3.2: fileinto :create.
  CHECK(run("require [\"fileinto\", \"mailbox\"];\nfileinto :create \"INBOX.Archive\";", mail) ==
        "fileinto:INBOX.Archive(create)");
}

}  // namespace
}  // namespace kite::sieve
