// ENVELOPE addresses from raw header text (lib/mime/address.h): names as sent, source
// routes, groups, quoting, and hostile input.
#include "lib/mime/address.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace kite::mime {
namespace {

// The IMAP form of the list, as sent in ENVELOPE.
std::string Imap(std::string_view value) {
  Envelope e;
  e.from = ParseAddressList(value);
  std::string env = ImapEnvelope(e);
  // "(NIL NIL <from> ...": cut out the from list.
  size_t start = std::string_view("(NIL NIL ").size();
  size_t depth = 0, i = start;
  if (env.compare(start, 3, "NIL") == 0) return "NIL";
  for (; i < env.size(); ++i) {
    if (env[i] == '"') {
      for (++i; i < env.size() && env[i] != '"'; ++i) {
        if (env[i] == '\\') ++i;
      }
      continue;
    }
    if (env[i] == '(') ++depth;
    if (env[i] == ')' && --depth == 0) break;
  }
  return env.substr(start, i + 1 - start);
}

TEST_CASE("plain addresses, names and NIL where absent", "[mime][address]") {
  CHECK(Imap("alice@example.test") == "((NIL NIL \"alice\" \"example.test\"))");
  CHECK(Imap("<alice@example.test>") == "((NIL NIL \"alice\" \"example.test\"))");
  CHECK(Imap("Alice Smith <alice@example.test>") ==
        "((\"Alice Smith\" NIL \"alice\" \"example.test\"))");
  CHECK(Imap("  Alice   Q.  Smith\t<alice@example.test> ") ==
        "((\"Alice Q. Smith\" NIL \"alice\" \"example.test\"))");
  CHECK(Imap("a@x.test, B <b@y.test>,, c@z.test") ==
        "((NIL NIL \"a\" \"x.test\")(\"B\" NIL \"b\" \"y.test\")(NIL NIL \"c\" \"z.test\"))");
  CHECK(Imap("") == "NIL");
  CHECK(Imap(" , ") == "NIL");
}

TEST_CASE("quoted names are unquoted, then quoted again for IMAP", "[mime][address]") {
  CHECK(Imap("\"Doe, John\" <john@example.test>") ==
        "((\"Doe, John\" NIL \"john\" \"example.test\"))");
  CHECK(Imap("\"Joe \\\"Q\\\" Public\" <joe@example.test>") ==
        "((\"Joe \\\"Q\\\" Public\" NIL \"joe\" \"example.test\"))");
  CHECK(Imap("\"back\\\\slash\" <b@example.test>") ==
        "((\"back\\\\slash\" NIL \"b\" \"example.test\"))");
  CHECK(Imap("\"\" <e@example.test>") == "((NIL NIL \"e\" \"example.test\"))");
}

TEST_CASE("encoded words and 8-bit names are kept as sent", "[mime][address]") {
  CHECK(Imap("=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>") ==
        "((\"=?ISO-8859-1?Q?Andr=E9?= Pirard\" NIL \"PIRARD\" \"vm1.ulg.ac.be\"))");
  CHECK(Imap("\"=?UTF-8?B?w6k=?=\" <x@example.test>") ==
        "((\"=?UTF-8?B?w6k=?=\" NIL \"x\" \"example.test\"))");
  // 8-bit (RFC 6532): a literal, never re-encoded.
  CHECK(Imap("J\xC3\xB6rg <j@example.test>") ==
        "(({5}\r\nJ\xC3\xB6rg NIL \"j\" \"example.test\"))");
}

TEST_CASE("source routes become the adl", "[mime][address]") {
  CHECK(Imap("<@a.example,@b.example:user@c.example>") ==
        "((NIL \"@a.example,@b.example\" \"user\" \"c.example\"))");
  CHECK(Imap("Route <@a.example:user@c.example>") ==
        "((\"Route\" \"@a.example\" \"user\" \"c.example\"))");
  CHECK(Imap("< @a.example , ,@b.example : user@c.example >") ==
        "((NIL \"@a.example,@b.example\" \"user\" \"c.example\"))");
  CHECK(Imap("<@host.example>") == "((NIL NIL \"MISSING_MAILBOX\" \"host.example\"))");
}

TEST_CASE("groups give start and end markers", "[mime][address]") {
  CHECK(Imap("undisclosed-recipients:;") ==
        "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))");
  CHECK(Imap("team: a@x.test, B <b@y.test>;") ==
        "((NIL NIL \"team\" NIL)(NIL NIL \"a\" \"x.test\")(\"B\" NIL \"b\" \"y.test\")"
        "(NIL NIL NIL NIL))");
  CHECK(Imap("first@x.test, team: a@x.test;, last@x.test") ==
        "((NIL NIL \"first\" \"x.test\")(NIL NIL \"team\" NIL)(NIL NIL \"a\" \"x.test\")"
        "(NIL NIL NIL NIL)(NIL NIL \"last\" \"x.test\"))");
  CHECK(Imap("\"The Team\": a@x.test") ==  // unterminated: closed at the end
        "((NIL NIL \"The Team\" NIL)(NIL NIL \"a\" \"x.test\")(NIL NIL NIL NIL))");
  CHECK(Imap("outer: inner: a@x.test;;") ==  // no nested groups in IMAP
        "((NIL NIL \"outer\" NIL)(NIL NIL \"a\" \"x.test\")(NIL NIL NIL NIL))");
}

TEST_CASE("comments, quoted local parts and missing pieces", "[mime][address]") {
  CHECK(Imap("user@example.test (Real Name)") == "((\"Real Name\" NIL \"user\" \"example.test\"))");
  CHECK(Imap("Name (comment) <user@example.test> (trailing)") ==
        "((\"Name\" NIL \"user\" \"example.test\"))");
  CHECK(Imap("\"john\"@example.test") == "((NIL NIL \"john\" \"example.test\"))");
  CHECK(Imap("\"a b\"@example.test") == "((NIL NIL \"\\\"a b\\\"\" \"example.test\"))");
  CHECK(Imap("user@[192.0.2.1]") == "((NIL NIL \"user\" \"[192.0.2.1]\"))");
  CHECK(Imap("localonly") == "((NIL NIL \"localonly\" \"MISSING_DOMAIN\"))");
  CHECK(Imap("Name <>") == "((\"Name\" NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\"))");
  CHECK(Imap("@example.test") == "((NIL NIL \"MISSING_MAILBOX\" \"example.test\"))");
  CHECK(Imap("Name <user@example.test") == "((\"Name\" NIL \"user\" \"example.test\"))");
}

TEST_CASE("hostile address lists end, bounded", "[mime][address]") {
  for (std::string_view s : {"<<<<", ">>>>", "((((((", "\"unterminated", "a@", "@", ":", ";;;",
                             "<@", "<@a,", "\\", "[", "a@[", "x:<@a:>;", ")))@(("}) {
    INFO(s);
    (void)ParseAddressList(s);
  }
  std::string many;
  for (int i = 0; i < 5000; ++i) many += "a@b,";
  CHECK(ParseAddressList(many, 100).size() == 100);
  std::string groups;
  for (int i = 0; i < 5000; ++i) groups += "g:a@b;";
  auto list = ParseAddressList(groups, 100);
  CHECK(list.size() <= 101);
  CHECK(list.back() == Address{});  // the last group is still closed
}

}  // namespace
}  // namespace kite::mime
