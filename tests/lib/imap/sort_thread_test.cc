#include "lib/imap/sort_thread.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "lib/imap/mime_search_message.h"
#include "lib/imap/receiver.h"

namespace kite::imap {
namespace {

std::vector<Token> Args(std::string_view line) {
  Receiver r;
  r.Feed(line);
  Receiver::Event e = r.Next();
  INFO(line << " -> " << e.error);
  REQUIRE(e.kind == Receiver::Event::kCommand);
  return e.command.args;
}

TEST_CASE("base subject extraction follows RFC 5256 2.1", "[imap][sort]") {
  struct Case {
    const char* subject;
    const char* base;
    bool reply;
  };
  for (const Case& c : std::vector<Case>{
           {"test", "test", false},
           {"Re: test", "test", true},
           {"RE: Re: re: test", "test", true},
           {"Re:test", "test", true},
           {"Fwd: test", "test", true},
           {"Fw: test", "test", true},
           {"FWD:test", "test", true},
           {"re [bar]: test", "test", true},
           {"Re[2]: test", "test", true},
           {"[list] Re: test", "test", true},
           {"Re: [list] test", "test", true},
           {"[list] test", "test", false},
           {"[list] [tag] test", "test", false},
           {"[list]", "[list]", false},
           {"Re: [list]", "[list]", true},
           {"[a][b]", "[b]", false},
           {"test (fwd)", "test", true},
           {"test (FWD) (fwd)  ", "test", true},
           {"[fwd: test]", "test", true},
           {"[Fwd: Re: test]", "test", true},
           {"Re: [Fwd: [list] test (fwd)]", "test", true},
           {"  test \t  subject  ", "test subject", false},
           {"Reply: test", "Reply: test", false},
           {"Refwd: test", "Refwd: test", false},
           {"Re: ", "", true},
           {"", "", false},
           {"[fwd: ]", "", true},
           {"Re: Re: Fwd: [list] Re: topic (fwd) (fwd)", "topic", true},
           {"R\xC3\xA9: test", "R\xC3\xA9: test", false},  // translations are not removed
       }) {
    INFO(c.subject);
    bool reply = false;
    CHECK(BaseSubject(c.subject, &reply) == c.base);
    CHECK(reply == c.reply);
  }
  CHECK(BaseSubject(std::string(100000, 'x')).size() == kMaxSubjectBytes);
}

TEST_CASE("message ids are normalised", "[imap][thread]") {
  CHECK(ParseMessageIds("<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>") ==
        ParseMessageIds("<01KF8JCEOCBS0045PS@xxx.yyy.com>"));
  CHECK(ParseMessageIds("<a@b> <c@d>\r\n\t<e@f>") == std::vector<std::string>{"a@b", "c@d", "e@f"});
  CHECK(ParseMessageIds("(comment <x@y>) <a@b>") == std::vector<std::string>{"a@b"});
  CHECK(ParseMessageIds("<a@b> (Joe's message of ...) joe@example.test") ==
        std::vector<std::string>{"a@b"});
  CHECK(ParseMessageIds("<no-at-sign> <@x> <x@> <a@b").empty());
  CHECK(ParseMessageIds("<broken <a@b>") == std::vector<std::string>{"a@b"});
  CHECK(ParseMessageIds("< a @ b >") == std::vector<std::string>{"a@b"});
  CHECK(ParseMessageIds("<\"a b\"@x>") == std::vector<std::string>{"a b@x"});
  CHECK(ParseMessageIds("").empty());
}

TEST_CASE("SORT arguments parse", "[imap][sort]") {
  absl::StatusOr<SortCommand> s =
      ParseSort(Args("a SORT (SUBJECT REVERSE DATE displayfrom) UTF-8 SINCE 1-Feb-1994\r\n"), 0);
  REQUIRE(s.ok());
  REQUIRE(s->criteria.size() == 3);
  CHECK(s->criteria[0].key == SortKey::kSubject);
  CHECK_FALSE(s->criteria[0].reverse);
  CHECK(s->criteria[1].key == SortKey::kDate);
  CHECK(s->criteria[1].reverse);
  CHECK(s->criteria[2].key == SortKey::kDisplayFrom);
  CHECK(s->query.charset == "UTF-8");
  CHECK(s->query.root.children[0].kind == SearchKey::kSince);

  struct Case {
    const char* line;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"a SORT\r\n", "SORT needs a list of sort criteria"},
           {"a SORT SUBJECT UTF-8 ALL\r\n", "SORT needs a list"},
           {"a SORT () UTF-8 ALL\r\n", "Empty sort criteria"},
           {"a SORT (SUBJECT REVERSE) UTF-8 ALL\r\n", "REVERSE needs a sort criterion"},
           {"a SORT (REVERSE REVERSE DATE) UTF-8 ALL\r\n", "REVERSE REVERSE"},
           {"a SORT (COLOUR) UTF-8 ALL\r\n", "Unknown sort criterion"},
           {"a SORT (DATE)\r\n", "Missing charset"},
           {"a SORT (DATE) UTF-8\r\n", "Missing search criteria"},
           {"a SORT (DATE) UTF-8 RETURN (MIN) ALL\r\n", "Unknown search key RETURN"},
           {"a SORT (DATE) UTF-8 BOGUS\r\n", "Unknown search key BOGUS"},
       }) {
    INFO(c.line);
    absl::StatusOr<SortCommand> r = ParseSort(Args(c.line), 0);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(r.status().message()), Catch::Contains(c.message));
  }
  absl::StatusOr<SortCommand> bad = ParseSort(Args("a SORT (DATE) KOI8-R ALL\r\n"), 0);
  REQUIRE_FALSE(bad.ok());
  CHECK(IsBadCharset(bad.status()));
}

TEST_CASE("THREAD arguments parse", "[imap][thread]") {
  absl::StatusOr<ThreadCommand> t = ParseThread(Args("a THREAD references us-ascii ALL\r\n"), 0);
  REQUIRE(t.ok());
  CHECK(t->algorithm == ThreadAlgorithm::kReferences);
  CHECK(t->query.charset == "US-ASCII");
  t = ParseThread(Args("a THREAD ORDEREDSUBJECT UTF-8 SEEN FROM x\r\n"), 0);
  REQUIRE(t.ok());
  CHECK(t->algorithm == ThreadAlgorithm::kOrderedSubject);
  CHECK(t->query.root.children.size() == 2);
  CHECK_THAT(std::string(ParseThread(Args("a THREAD JWZ UTF-8 ALL\r\n"), 0).status().message()),
             Catch::Contains("Unknown threading algorithm"));
  CHECK_FALSE(ParseThread(Args("a THREAD\r\n"), 0).ok());
  CHECK_FALSE(ParseThread(Args("a THREAD REFERENCES UTF-8\r\n"), 0).ok());
  CHECK(IsBadCharset(ParseThread(Args("a THREAD REFERENCES X ALL\r\n"), 0).status()));
}

SortFields Msg(uint32_t seq, std::string subject, int64_t sent) {
  SortFields f;
  f.seq = seq;
  f.uid = seq * 10;
  f.sent = sent;
  f.arrival = 1000 - seq;
  f.size = seq * 100;
  f.modseq = seq;
  bool reply = false;
  f.subject = FoldCase(BaseSubject(subject, &reply));
  f.is_reply = reply;
  return f;
}

std::string Sorted(std::vector<SortFields> msgs, std::vector<SortCriterion> criteria) {
  SortMessages(msgs, criteria);
  return FormatSortResponse(msgs, false, false);
}

TEST_CASE("SORT orders by each criterion, ties by sequence number", "[imap][sort]") {
  std::vector<SortFields> msgs = {Msg(1, "Re: beta", 300), Msg(2, "alpha", 100),
                                  Msg(3, "Beta", 200), Msg(4, "alpha", 100)};
  msgs[0].from = "zed";
  msgs[1].from = "";
  msgs[2].from = "amy";
  msgs[3].from = "amy";
  msgs[0].to = "b";
  msgs[1].to = "a";
  msgs[2].to = "c";
  msgs[3].to = "a";
  msgs[0].cc = "y";
  msgs[1].cc = "x";
  msgs[2].cc = "";
  msgs[3].cc = "";
  using K = SortKey;
  CHECK(Sorted(msgs, {{K::kSubject, false}}) == "* SORT 2 4 1 3\r\n");
  CHECK(Sorted(msgs, {{K::kSubject, false}, {K::kDate, true}}) == "* SORT 2 4 1 3\r\n");
  CHECK(Sorted(msgs, {{K::kSubject, false}, {K::kDate, false}}) == "* SORT 2 4 3 1\r\n");
  CHECK(Sorted(msgs, {{K::kSubject, true}}) == "* SORT 1 3 2 4\r\n");  // ties stay ascending
  CHECK(Sorted(msgs, {{K::kDate, false}}) == "* SORT 2 4 3 1\r\n");
  CHECK(Sorted(msgs, {{K::kDate, true}}) == "* SORT 1 3 2 4\r\n");
  CHECK(Sorted(msgs, {{K::kArrival, false}}) == "* SORT 4 3 2 1\r\n");
  CHECK(Sorted(msgs, {{K::kSize, true}}) == "* SORT 4 3 2 1\r\n");
  CHECK(Sorted(msgs, {{K::kFrom, false}}) == "* SORT 2 3 4 1\r\n");  // empty first
  CHECK(Sorted(msgs, {{K::kFrom, false}, {K::kSubject, true}}) == "* SORT 2 3 4 1\r\n");
  CHECK(Sorted(msgs, {{K::kFrom, true}, {K::kDate, true}}) == "* SORT 1 3 4 2\r\n");
  CHECK(Sorted(msgs, {{K::kTo, false}, {K::kSize, true}}) == "* SORT 4 2 1 3\r\n");
  CHECK(Sorted(msgs, {{K::kCc, false}}) == "* SORT 3 4 2 1\r\n");
  CHECK(Sorted({}, {{K::kDate, false}}) == "* SORT\r\n");
  SortMessages(msgs, {{K::kSize, false}});
  CHECK(FormatSortResponse(msgs, true, true) == "* SORT 10 20 30 40 (MODSEQ 4)\r\n");
  CHECK(FormatSortResponse({}, true, true) == "* SORT\r\n");
}

constexpr std::string_view kHeaderA =
    "From: \"Zed Z\" <ZED@example.test>\r\n"
    "To: =?utf-8?q?=C3=84nne?= <anne@example.test>\r\n"
    "Cc: undisclosed:;\r\n"
    "Subject: Re: [list] Hello\r\n"
    "Date: Sun, 31 Dec 2000 16:01:33 -0800\r\n"
    "Message-ID: <a@example.test>\r\n"
    "In-Reply-To: <parent@example.test> (message of yesterday)\r\n"
    "\r\n"
    "body\r\n";
constexpr std::string_view kHeaderB =
    "From: bob@example.test\r\n"
    "Subject: hello\r\n"
    "Date: broken\r\n"
    "Message-ID: <\"b\"@example.test>\r\n"
    "References: <r1@example.test>\r\n"
    " <r2@example.test>\r\n"
    "In-Reply-To: <ignored@example.test>\r\n"
    "\r\n"
    "body\r\n";

TEST_CASE("sort and thread fields come from the message", "[imap][sort]") {
  SearchMetadata meta;
  meta.seq = 1;
  meta.uid = 7;
  meta.internal_date = 12345;
  MimeSearchMessage a(meta, kHeaderA);
  SortFields f = CollectSortFields(a, {{SortKey::kFrom, false},
                                       {SortKey::kDisplayTo, false},
                                       {SortKey::kCc, false},
                                       {SortKey::kDate, false},
                                       {SortKey::kSubject, false},
                                       {SortKey::kDisplayFrom, false},
                                       {SortKey::kTo, false}});
  CHECK(f.uid == 7);
  CHECK(f.from == "zed");
  CHECK(f.display_from == "zed z");
  CHECK(f.to == "anne");
  CHECK(f.display_to == "\xC3\xA4nne");
  CHECK(f.cc.empty());         // a group with no members
  CHECK(f.sent == 978307293);  // 2001-01-01T00:01:33Z
  CHECK(f.subject == "hello");
  CHECK(f.is_reply);
  CHECK(f.message_id.empty());  // not asked for
  SortFields t = CollectThreadFields(a, ThreadAlgorithm::kReferences);
  CHECK(t.message_id == "a@example.test");
  CHECK(t.references == std::vector<std::string>{"parent@example.test"});

  MimeSearchMessage b(meta, kHeaderB);
  SortFields g = CollectThreadFields(b, ThreadAlgorithm::kReferences);
  CHECK(g.sent == 12345);  // no valid Date: the internal date
  CHECK(g.message_id == "b@example.test");
  CHECK(g.references == std::vector<std::string>{"r1@example.test", "r2@example.test"});
  CHECK_FALSE(g.is_reply);
  SortFields o = CollectThreadFields(b, ThreadAlgorithm::kOrderedSubject);
  CHECK(o.references.empty());
  SortFields d = CollectSortFields(b, {{SortKey::kDisplayFrom, false}});
  CHECK(d.display_from == "bob@example.test");  // no display name: the address
}

TEST_CASE("SORT keys: encoded subjects, routes, groups and quoted names (RFC 5256, 5957)",
          "[imap][sort]") {
  SearchMetadata meta;
  meta.seq = 1;
  constexpr std::string_view kHeader =
      "From: \"=?UTF-8?Q?J=C3=B6rg?= \\\"JJ\\\"\" <@relay.test:Joerg.M@example.test>\r\n"
      "To: team: =?ISO-8859-1?Q?Ren=E9?= <rene@example.test>, x@example.test;\r\n"
      "Cc: Carol (the boss) <carol@example.test>\r\n"
      "Subject: =?UTF-8?Q?Re=3A_=5Blist=5D?=  Fwd:  =?UTF-8?B?Q2Fmw6k=?=\r\n"
      "\t  ole  (fwd)\r\n"
      "\r\n";
  MimeSearchMessage m(meta, kHeader);
  SortFields f = CollectSortFields(m, {{SortKey::kSubject, false},
                                       {SortKey::kFrom, false},
                                       {SortKey::kTo, false},
                                       {SortKey::kCc, false},
                                       {SortKey::kDisplayFrom, false},
                                       {SortKey::kDisplayTo, false}});
  CHECK(f.subject == "caf\xC3\xA9 ole");
  CHECK(f.is_reply);
  CHECK(f.from == "joerg.m");  // addr-mailbox, the route is no part of it
  CHECK(f.display_from == "j\xC3\xB6rg \"jj\"");
  CHECK(f.to == "rene");  // the first mailbox inside the group
  CHECK(f.display_to == "ren\xC3\xA9");
  CHECK(f.cc == "carol");
  // The base subject of an encoded subject is taken after decoding.
  CHECK(BaseSubject("Re: [list] Fwd: Caf\xC3\xA9   ol\xC3\xA9 (fwd)") == "Caf\xC3\xA9 ol\xC3\xA9");
}

std::string Threads(const std::vector<SortFields>& msgs, ThreadAlgorithm alg, bool uid = false) {
  return FormatThreadResponse(Thread(msgs, alg, uid));
}

TEST_CASE("THREAD=ORDEREDSUBJECT groups by base subject", "[imap][thread]") {
  std::vector<SortFields> msgs = {Msg(1, "a", 100), Msg(2, "b", 150), Msg(3, "Re: a", 200),
                                  Msg(4, "A", 300), Msg(5, "c", 50),  Msg(6, "Re: b", 400)};
  CHECK(Threads(msgs, ThreadAlgorithm::kOrderedSubject) == "* THREAD (5)(1 (3)(4))(2 6)\r\n");
  CHECK(Threads(msgs, ThreadAlgorithm::kOrderedSubject, true) ==
        "* THREAD (50)(10 (30)(40))(20 60)\r\n");
  CHECK(Threads({}, ThreadAlgorithm::kOrderedSubject) == "* THREAD\r\n");
  // Equal dates: sequence order.
  CHECK(Threads({Msg(2, "x", 5), Msg(1, "x", 5)}, ThreadAlgorithm::kOrderedSubject) ==
        "* THREAD (1 2)\r\n");
}

SortFields Ref(uint32_t seq, std::string subject, int64_t sent, std::string id,
               std::vector<std::string> refs) {
  SortFields f = Msg(seq, std::move(subject), sent);
  f.message_id = std::move(id);
  f.references = std::move(refs);
  return f;
}

constexpr ThreadAlgorithm kRefs = ThreadAlgorithm::kReferences;

TEST_CASE("THREAD=REFERENCES follows References and In-Reply-To", "[imap][thread]") {
  std::vector<SortFields> msgs = {
      Ref(1, "hello", 100, "a", {}),
      Ref(2, "Re: hello", 200, "b", {"a"}),
      Ref(3, "Re: hello", 300, "c", {"a", "b"}),
      Ref(4, "Re: hello", 250, "d", {"a"}),
      Ref(5, "other", 50, "e", {}),
  };
  CHECK(Threads(msgs, kRefs) == "* THREAD (5)(1 (2 3)(4))\r\n");
  // Given in any order, the result is the same.
  std::vector<SortFields> reversed(msgs.rbegin(), msgs.rend());
  CHECK(Threads(reversed, kRefs) == "* THREAD (5)(1 (2 3)(4))\r\n");
  CHECK(Threads(msgs, kRefs, true) == "* THREAD (50)(10 (20 30)(40))\r\n");
}

TEST_CASE("THREAD=REFERENCES keeps dummies for missing parents", "[imap][thread]") {
  // Two replies to a message that is not there: siblings under a dummy.
  CHECK(Threads({Ref(3, "x", 100, "c", {"gone"}), Ref(5, "y", 200, "e", {"gone"})}, kRefs) ==
        "* THREAD ((3)(5))\r\n");
  // One reply to a missing message: the dummy goes, the reply is the thread.
  CHECK(Threads({Ref(1, "x", 100, "a", {"gone"})}, kRefs) == "* THREAD (1)\r\n");
  // A missing message in the middle of a chain is spliced out.
  CHECK(Threads({Ref(1, "x", 100, "a", {}), Ref(2, "y", 200, "c", {"a", "missing"}),
                 Ref(3, "z", 300, "d", {"a", "missing"})},
                kRefs) == "* THREAD (1 (2)(3))\r\n");
  // A dummy root sorts by its first child's date.
  CHECK(Threads({Ref(1, "p", 300, "a", {}), Ref(2, "q", 100, "b", {"gone"}),
                 Ref(3, "r", 200, "c", {"gone"})},
                kRefs) == "* THREAD ((2)(3))(1)\r\n");
}

TEST_CASE("THREAD=REFERENCES survives loops and duplicate ids", "[imap][thread]") {
  // Each names the other as parent: the second link would close a loop.
  CHECK(Threads({Ref(1, "x", 100, "a", {"b"}), Ref(2, "y", 200, "b", {"a"})}, kRefs) ==
        "* THREAD (2 1)\r\n");
  // A message that references itself.
  CHECK(Threads({Ref(1, "x", 100, "a", {"a"})}, kRefs) == "* THREAD (1)\r\n");
  // A References list with a loop in it.
  CHECK(Threads({Ref(1, "x", 100, "a", {"p", "q", "p"}), Ref(2, "y", 200, "b", {"q", "p"})},
                kRefs) == "* THREAD ((1)(2))\r\n");
  // Duplicate Message-ID: only the first (lowest sequence number) owns it.
  CHECK(Threads({Ref(1, "x", 100, "a", {}), Ref(2, "y", 200, "a", {}),
                 Ref(3, "Re: x", 300, "c", {"a"})},
                kRefs) == "* THREAD (1 3)(2)\r\n");
  // Messages without ids are all distinct.
  CHECK(Threads({Ref(1, "x", 100, "", {}), Ref(2, "y", 200, "", {})}, kRefs) ==
        "* THREAD (1)(2)\r\n");
  // A later message's References do not move an earlier established link (1A), but its own
  // last reference does set its parent (1B).
  CHECK(Threads({Ref(1, "r", 100, "a", {}), Ref(2, "s", 200, "b", {}),
                 Ref(3, "t", 300, "c", {"a", "b"}), Ref(4, "u", 400, "d", {"c", "b"})},
                kRefs) == "* THREAD (1 2 (3)(4))\r\n");
}

TEST_CASE("THREAD=REFERENCES groups roots by subject", "[imap][thread]") {
  // A reply without references joins the original.
  CHECK(Threads({Ref(1, "topic", 100, "a", {}), Ref(2, "Re: topic", 200, "b", {})}, kRefs) ==
        "* THREAD (1 2)\r\n");
  // ... also when the reply comes first.
  CHECK(Threads({Ref(1, "Re: topic", 100, "a", {}), Ref(2, "topic", 200, "b", {})}, kRefs) ==
        "* THREAD (2 1)\r\n");
  // Two originals with the same subject: siblings under a new dummy.
  CHECK(Threads({Ref(1, "topic", 100, "a", {}), Ref(2, "Topic", 200, "b", {})}, kRefs) ==
        "* THREAD ((1)(2))\r\n");
  // Two replies: also siblings under a dummy.
  CHECK(Threads({Ref(1, "Re: topic", 100, "a", {}), Ref(2, "Fwd: topic", 200, "b", {})}, kRefs) ==
        "* THREAD ((1)(2))\r\n");
  // A dummy thread absorbs a message with its subject.
  CHECK(Threads({Ref(1, "topic", 100, "a", {"gone"}), Ref(2, "topic", 200, "b", {"gone"}),
                 Ref(3, "Re: topic", 300, "c", {})},
                kRefs) == "* THREAD ((1)(2)(3))\r\n");
  // Two dummies with one subject merge.
  CHECK(Threads({Ref(1, "topic", 100, "a", {"gone1"}), Ref(2, "topic", 200, "b", {"gone1"}),
                 Ref(3, "topic", 300, "c", {"gone2"}), Ref(4, "topic", 400, "d", {"gone2"})},
                kRefs) == "* THREAD ((1)(2)(3)(4))\r\n");
  // Empty subjects never group.
  CHECK(Threads({Ref(1, "", 100, "a", {}), Ref(2, "Re:", 200, "b", {})}, kRefs) ==
        "* THREAD (1)(2)\r\n");
  // Three originals: the first pair makes a dummy that takes the third.
  CHECK(Threads({Ref(1, "t", 100, "a", {}), Ref(2, "t", 200, "b", {}), Ref(3, "t", 300, "c", {})},
                kRefs) == "* THREAD ((1)(2)(3))\r\n");
}

TEST_CASE("THREAD=REFERENCES handles a very deep chain without recursion", "[imap][thread]") {
  constexpr uint32_t kDepth = 20000;
  std::vector<SortFields> msgs;
  std::string expected = "* THREAD (";
  for (uint32_t i = 1; i <= kDepth; ++i) {
    std::vector<std::string> refs;
    if (i > 1) refs.push_back("m" + std::to_string(i - 1) + "@x");
    msgs.push_back(Ref(i, "Re: deep", i, "m" + std::to_string(i) + "@x", refs));
    expected += (i > 1 ? " " : "") + std::to_string(i);
  }
  expected += ")\r\n";
  CHECK(Threads(msgs, kRefs) == expected);
  // Replies numbered before their parents (moved in from elsewhere): the chain runs from
  // the highest sequence number down.
  msgs.clear();
  expected = "* THREAD (";
  for (uint32_t i = 1; i <= kDepth; ++i) {
    std::vector<std::string> refs;
    if (i < kDepth) refs.push_back("m" + std::to_string(i + 1) + "@x");
    msgs.push_back(Ref(i, "Re: deep", kDepth - i, "m" + std::to_string(i) + "@x", refs));
    expected += std::to_string(kDepth + 1 - i) + (i < kDepth ? " " : "");
  }
  expected += ")\r\n";
  CHECK(Threads(msgs, kRefs) == expected);
}

TEST_CASE("thread responses follow the thread-list grammar", "[imap][thread]") {
  ThreadForest f;
  // 3 -> 6 -> {4 -> 23, 44 -> 7 -> 96}; and 2 alone (RFC 5256's example).
  auto add = [&](uint32_t id, std::vector<uint32_t> kids) {
    f.nodes.push_back({id, std::move(kids)});
    return static_cast<uint32_t>(f.nodes.size() - 1);
  };
  uint32_t n96 = add(96, {});
  uint32_t n7 = add(7, {n96});
  uint32_t n44 = add(44, {n7});
  uint32_t n23 = add(23, {});
  uint32_t n4 = add(4, {n23});
  uint32_t n6 = add(6, {n4, n44});
  uint32_t n3 = add(3, {n6});
  uint32_t n2 = add(2, {});
  f.roots = {n2, n3};
  CHECK(FormatThreadResponse(f) == "* THREAD (2)(3 6 (4 23)(44 7 96))\r\n");
  // Out-of-range indexes and cycles in a hand-made forest are skipped, not followed.
  f.nodes[n96].children = {n3, 999};
  CHECK(FormatThreadResponse(f) == "* THREAD (2)(3 6 (4 23)(44 7 96))\r\n");
}

}  // namespace
}  // namespace kite::imap
