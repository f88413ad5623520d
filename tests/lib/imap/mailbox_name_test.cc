#include "lib/imap/mailbox_name.h"

#include <catch2/catch.hpp>
#include <string>

namespace kite::imap {
namespace {

TEST_CASE("LIST wildcards: * crosses the hierarchy, % does not", "[imap][parser]") {
  CHECK(MatchMailboxPattern("INBOX", "*"));
  CHECK(MatchMailboxPattern("INBOX", "%"));
  CHECK(MatchMailboxPattern("Shared/team@example.test/INBOX", "*"));
  CHECK_FALSE(MatchMailboxPattern("Shared/team@example.test/INBOX", "%"));
  CHECK(MatchMailboxPattern("Shared", "%"));
  CHECK(MatchMailboxPattern("Shared/team@example.test", "Shared/%"));
  CHECK_FALSE(MatchMailboxPattern("Shared/team@example.test/INBOX", "Shared/%"));
  CHECK(MatchMailboxPattern("Shared/team@example.test/INBOX", "Shared/%/%"));
  CHECK(MatchMailboxPattern("Shared/team@example.test/INBOX", "Shared/*"));
  CHECK(MatchMailboxPattern("Shared/team@example.test/INBOX", "*INBOX"));
  CHECK(MatchMailboxPattern("Sent", "S%t"));
  CHECK_FALSE(MatchMailboxPattern("Sent", "s%t"));  // case-sensitive except INBOX
  CHECK(MatchMailboxPattern("Drafts", "Drafts"));
  CHECK_FALSE(MatchMailboxPattern("Drafts", "Draft"));
  CHECK_FALSE(MatchMailboxPattern("Drafts", ""));
  CHECK(MatchMailboxPattern("", ""));
  CHECK(MatchMailboxPattern("a/b", "a%/%b"));
  CHECK(MatchMailboxPattern("a/b", "%%%/*"));
}

TEST_CASE("LIST patterns with many wildcards stay fast", "[imap][parser]") {
  std::string pattern;
  for (int i = 0; i < 500; ++i) pattern += "*%";
  pattern += "x";
  std::string name(1000, 'a');
  CHECK_FALSE(MatchMailboxPattern(name, pattern));
  CHECK(MatchMailboxPattern(name + "x", pattern));
}

TEST_CASE("ListPattern joins reference and pattern; INBOX in any case", "[imap][parser]") {
  CHECK(ListPattern("", "*") == "*");
  CHECK(ListPattern("Shared/", "%") == "Shared/%");
  CHECK(ListPattern("Shared", "%") == "Shared/%");
  CHECK(ListPattern("Shared/", "/x") == "Shared//x");
  CHECK(ListPattern("", "inbox") == "INBOX");
  CHECK(ListPattern("", "Inbox/%") == "INBOX/%");
  CHECK(ListPattern("", "inboxes") == "inboxes");
  CHECK(NormalizeInbox("iNbOx") == "INBOX");
  CHECK(NormalizeInbox("Sent") == "Sent");
}

TEST_CASE("Shared namespace names", "[imap][parser]") {
  auto a = ParseSharedName("Shared/Team@Example.test/inbox");
  REQUIRE(a);
  CHECK(a->address == "team@example.test");
  CHECK(a->mailbox == "INBOX");
  auto b = ParseSharedName("Shared/team@example.test");
  REQUIRE(b);
  CHECK(b->mailbox.empty());
  auto c = ParseSharedName("Shared/team@example.test/Sent/2024");
  REQUIRE(c);
  CHECK(c->mailbox == "Sent/2024");
  CHECK_FALSE(ParseSharedName("Shared"));
  CHECK_FALSE(ParseSharedName("Shared/"));
  CHECK_FALSE(ParseSharedName("Shared//INBOX"));
  CHECK_FALSE(ParseSharedName("shared/team@example.test/INBOX"));  // the prefix is exact
  CHECK_FALSE(ParseSharedName("INBOX"));
  CHECK(SharedMailboxName("team@example.test", "INBOX") == "Shared/team@example.test/INBOX");
  CHECK(SharedMailboxName("team@example.test", "") == "Shared/team@example.test");
}

}  // namespace
}  // namespace kite::imap
