#include "lib/imap/search.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "lib/base/ascii.h"
#include "lib/imap/mime_search_message.h"
#include "lib/imap/receiver.h"

namespace kite::imap {
namespace {

// The argument tokens of one command line, as the session would get them.
std::vector<Token> Args(std::string_view line) {
  Receiver r;
  r.Feed(line);
  for (;;) {
    Receiver::Event e = r.Next();
    if (e.kind == Receiver::Event::kContinuationNeeded) continue;
    INFO(line << " -> " << e.error);
    REQUIRE(e.kind == Receiver::Event::kCommand);
    return e.command.args;
  }
}

absl::StatusOr<SearchQuery> Parse(std::string_view keys) {
  return ParseSearch(Args("a SEARCH " + std::string(keys) + "\r\n"), 0);
}

SearchQuery MustParse(std::string_view keys) {
  absl::StatusOr<SearchQuery> q = Parse(keys);
  INFO(keys << " -> " << q.status().ToString());
  REQUIRE(q.ok());
  return *q;
}

int64_t Day(int y, unsigned m, unsigned d) { return DaysFromCivil(y, m, d) * 86400; }

class FakeMessage : public SearchMessage {
 public:
  uint32_t seq_ = 1, uid_ = 10;
  std::vector<std::string> flags_;
  uint64_t size_ = 1000;
  int64_t internal_date_ = Day(2024, 3, 15) + 12 * 3600;
  uint64_t modseq_ = 5;
  bool recent_ = false;
  std::map<std::string, std::vector<std::string>> headers_;  // lower-case names
  std::string body_;
  int header_loads = 0, body_loads = 0;

  uint32_t seq() const override { return seq_; }
  uint32_t uid() const override { return uid_; }
  const std::vector<std::string>& flags() const override { return flags_; }
  uint64_t size() const override { return size_; }
  int64_t internal_date() const override { return internal_date_; }
  uint64_t modseq() const override { return modseq_; }
  bool recent() const override { return recent_; }
  std::string email_id_ = "E42";
  std::optional<int64_t> save_date_;
  std::string email_id() const override { return email_id_; }
  std::optional<int64_t> save_date() const override { return save_date_; }
  std::vector<std::string> Header(std::string_view name) override {
    ++header_loads;
    auto it = headers_.find(ascii::ToLower(name));
    return it == headers_.end() ? std::vector<std::string>{} : it->second;
  }
  std::string HeaderText() override {
    ++header_loads;
    std::string out;
    for (const auto& [name, values] : headers_) {
      for (const auto& v : values) out += name + ": " + v + "\n";
    }
    return out;
  }
  std::string BodyText() override {
    ++body_loads;
    return body_;
  }
};

FakeMessage Sample() {
  FakeMessage m;
  m.flags_ = {"\\Seen", "\\Flagged", "$Label1"};
  m.headers_["from"] = {"J\xC3\xB6rg M\xC3\xBCller <joerg@example.test>"};
  m.headers_["to"] = {"Ann <ann@example.test>, bob@example.test"};
  m.headers_["cc"] = {"carol@example.test"};
  m.headers_["bcc"] = {"dave@example.test"};
  m.headers_["subject"] = {"Quarterly R\xC3\x89SULTS"};
  m.headers_["date"] = {"Fri, 15 Mar 2024 23:30:00 -0500"};
  m.headers_["x-mailer"] = {"Kite Test 1.0"};
  m.body_ = "Hello world,\nthe numbers are in.\n";
  return m;
}

bool Eval(std::string_view keys, FakeMessage& m, SearchContext ctx = {}) {
  SearchQuery q = MustParse(keys);
  if (ctx.max_seq == 0) ctx.max_seq = 20;
  if (ctx.max_uid == 0) ctx.max_uid = 100;
  return Matches(q, m, ctx);
}

TEST_CASE("every RFC 3501 search key parses", "[imap][search]") {
  for (const char* keys : {"ALL",
                           "ANSWERED",
                           "BCC x",
                           "BEFORE 1-Feb-1994",
                           "BODY \"hello world\"",
                           "CC x",
                           "DELETED",
                           "DRAFT",
                           "FLAGGED",
                           "FROM x",
                           "HEADER X-Mailer kite",
                           "KEYWORD $Label1",
                           "LARGER 100",
                           "NEW",
                           "NOT SEEN",
                           "OLD",
                           "ON 01-Feb-1994",
                           "OR SEEN FLAGGED",
                           "RECENT",
                           "SEEN",
                           "SENTBEFORE 1-feb-1994",
                           "SENTON \"1-Feb-1994\"",
                           "SENTSINCE 1-FEB-1994",
                           "SINCE 1-Feb-1994",
                           "SMALLER 100",
                           "SUBJECT x",
                           "TEXT x",
                           "TO x",
                           "UID 1:*",
                           "UNANSWERED",
                           "UNDELETED",
                           "UNDRAFT",
                           "UNFLAGGED",
                           "UNKEYWORD $Label1",
                           "UNSEEN",
                           "1:3,5",
                           "*",
                           "$",
                           "UID $",
                           "(SEEN FLAGGED)",
                           "OLDER 3600",
                           "YOUNGER 60",
                           "MODSEQ 5",
                           "MODSEQ \"/flags/\\\\draft\" all 620162338",
                           "seen unseen",
                           "subject {3}\r\nabc",
                           "HEADER Subject \"\"",
                           "SUBJECT NIL",
                           "LARGER 9223372036854775807"}) {
    INFO(keys);
    CHECK(Parse(keys).ok());
  }
}

TEST_CASE("parsed keys have the expected shape", "[imap][search]") {
  SearchQuery q = MustParse("OR (SEEN FROM joe) NOT UID 5:* KEYWORD $Junk");
  REQUIRE(q.root.kind == SearchKey::kAnd);
  REQUIRE(q.root.children.size() == 2);
  // Cheap keys first: KEYWORD comes before the OR that reads a header.
  CHECK(q.root.children[0].kind == SearchKey::kFlag);
  CHECK(q.root.children[0].value == "$Junk");
  const SearchKey& ork = q.root.children[1];
  REQUIRE(ork.kind == SearchKey::kOr);
  REQUIRE(ork.children.size() == 2);
  CHECK(ork.children[0].kind == SearchKey::kNot);  // cheaper than the FROM group
  CHECK(ork.children[0].children[0].kind == SearchKey::kUid);
  CHECK(ork.children[0].children[0].set.ToString() == "5:*");
  CHECK(ork.children[1].kind == SearchKey::kAnd);
  CHECK(ork.children[1].children[1].kind == SearchKey::kFrom);
  CHECK(ork.children[1].children[1].value == "joe");
  CHECK_FALSE(q.esearch);
  CHECK_FALSE(q.uses_modseq);

  SearchQuery d = MustParse("SINCE 1-Feb-1994");
  CHECK(d.root.children[0].kind == SearchKey::kSince);
  CHECK(d.root.children[0].number == DaysFromCivil(1994, 2, 1));
  SearchQuery h = MustParse("HEADER \"X-Spam\" {3}\r\nyes");
  CHECK(h.root.children[0].field == "X-Spam");
  CHECK(h.root.children[0].value == "yes");
}

TEST_CASE("malformed search criteria are BAD with a reason", "[imap][search]") {
  struct Case {
    const char* keys;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "Missing search criteria"},
           {"FOO", "Unknown search key FOO"},
           {"\"SEEN\"", "Invalid search key"},
           {"()", "Empty search key list"},
           {"FROM", "FROM needs a string"},
           {"FROM (x)", "FROM needs a string"},
           {"BEFORE 31-Feb-1994", "BEFORE needs a date like 1-Feb-1994"},
           {"ON 1-Foo-1994", "ON needs a date"},
           {"SINCE 1994-02-01", "SINCE needs a date"},
           {"SENTON 1-Feb-94", "SENTON needs a date"},
           {"LARGER x", "LARGER needs a number"},
           {"SMALLER -1", "SMALLER needs a number"},
           {"LARGER 99999999999999999999", "LARGER needs a number"},
           {"UID", "UID needs a sequence set"},
           {"UID 0", "Invalid sequence set"},
           {"1:0", "Invalid sequence set"},
           {"NOT", "NOT needs a search key"},
           {"OR SEEN", "OR needs two search keys"},
           {"KEYWORD", "KEYWORD needs a flag keyword"},
           {"KEYWORD \"a b\"", "KEYWORD needs a flag keyword"},
           {"HEADER \"\" x", "HEADER needs a field name"},
           {"HEADER \"a:b\" x", "Invalid HEADER field name"},
           {"HEADER X-Foo", "HEADER needs a string"},
           {"MODSEQ", "MODSEQ needs a number"},
           {"MODSEQ \"/flags/\\\\seen\" bogus 5", "MODSEQ needs an entry type"},
           {"OLDER 0", "OLDER needs a positive interval"},
           {"RETURN (MIN)", "Missing search criteria"},
           {"RETURN (FOO) ALL", "Unknown RETURN option FOO"},
           {"RETURN MIN ALL", "RETURN needs a list"},
           {"CHARSET", "CHARSET needs a charset"},
           {"ALL RETURN (MIN)", "Unknown search key RETURN"},
       }) {
    INFO(c.keys);
    absl::StatusOr<SearchQuery> q = Parse(c.keys);
    REQUIRE_FALSE(q.ok());
    CHECK(q.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(q.status().message()), Catch::Contains(c.message));
  }
}

TEST_CASE("error messages never echo control characters or long client text", "[imap][search]") {
  std::vector<Token> args(1);
  args[0].kind = Token::kAtom;
  args[0].value = std::string("X\x01\x7F") + std::string(100, 'Z');
  absl::StatusOr<SearchQuery> q = ParseSearch(args, 0);
  REQUIRE_FALSE(q.ok());
  std::string msg(q.status().message());
  CHECK(msg.find('\x01') == std::string::npos);
  CHECK(msg.size() < 80);
}

TEST_CASE("CHARSET accepts UTF-8 and US-ASCII, others are BADCHARSET", "[imap][search]") {
  CHECK(MustParse("CHARSET UTF-8 SUBJECT x").charset == "UTF-8");
  CHECK(MustParse("CHARSET us-ascii SUBJECT x").charset == "US-ASCII");
  CHECK(MustParse("CHARSET \"utf-8\" ALL").charset == "UTF-8");
  CHECK(MustParse("ALL").charset.empty());
  absl::StatusOr<SearchQuery> q = Parse("CHARSET ISO-8859-1 SUBJECT x");
  REQUIRE_FALSE(q.ok());
  CHECK(IsBadCharset(q.status()));
  CHECK(std::string(q.status().message()).rfind("[BADCHARSET (UTF-8 US-ASCII)]", 0) == 0);
  CHECK_FALSE(IsBadCharset(Parse("FOO").status()));
  // A parse error is never mistaken for a charset error.
  CHECK_FALSE(IsBadCharset(Parse("CHARSET (x) ALL").status()));
}

TEST_CASE("depth and key count are bounded", "[imap][search]") {
  std::string deep;
  for (int i = 0; i < 70; ++i) deep += "NOT ";
  deep += "SEEN";
  CHECK_THAT(std::string(Parse(deep).status().message()), Catch::Contains("nested too deeply"));
  std::string ok;
  for (int i = 0; i < 60; ++i) ok += "NOT ";
  CHECK(Parse(ok + "SEEN").ok());

  std::string many;
  for (int i = 0; i < 1001; ++i) many += "SEEN ";
  CHECK_THAT(std::string(Parse(many).status().message()), Catch::Contains("Too many search keys"));

  SearchParseOptions small;
  small.max_string = 4;
  CHECK_FALSE(ParseSearch(Args("a SEARCH SUBJECT hello\r\n"), 0, small).ok());
  CHECK(ParseSearch(Args("a SEARCH SUBJECT hell\r\n"), 0, small).ok());

  // Lists nest too: a token tree deeper than max_depth is refused, not recursed into.
  Token t;
  t.kind = Token::kAtom;
  t.value = "SEEN";
  for (int i = 0; i < 200; ++i) {
    Token list;
    list.kind = Token::kList;
    list.children.push_back(std::move(t));
    t = std::move(list);
  }
  CHECK_FALSE(ParseSearch({t}, 0).ok());
}

TEST_CASE("flag keys match system flags and keywords case-insensitively", "[imap][search]") {
  FakeMessage m = Sample();
  CHECK(Eval("SEEN", m));
  CHECK(Eval("FLAGGED", m));
  CHECK_FALSE(Eval("ANSWERED", m));
  CHECK(Eval("UNANSWERED", m));
  CHECK_FALSE(Eval("DELETED", m));
  CHECK(Eval("UNDELETED", m));
  CHECK_FALSE(Eval("DRAFT", m));
  CHECK(Eval("UNDRAFT", m));
  CHECK_FALSE(Eval("UNFLAGGED", m));
  CHECK_FALSE(Eval("UNSEEN", m));
  CHECK(Eval("KEYWORD $label1", m));
  CHECK_FALSE(Eval("KEYWORD $Label2", m));
  CHECK(Eval("UNKEYWORD $Label2", m));
  CHECK_FALSE(Eval("UNKEYWORD $LABEL1", m));
  CHECK(Eval("ALL", m));
}

TEST_CASE("RECENT, NEW and OLD", "[imap][search]") {
  FakeMessage m = Sample();
  CHECK_FALSE(Eval("RECENT", m));
  CHECK(Eval("OLD", m));
  CHECK_FALSE(Eval("NEW", m));
  m.recent_ = true;
  CHECK(Eval("RECENT", m));
  CHECK_FALSE(Eval("OLD", m));
  CHECK_FALSE(Eval("NEW", m));  // \Seen
  m.flags_.clear();
  CHECK(Eval("NEW", m));
}

TEST_CASE("address and subject keys are case-insensitive substrings of decoded text",
          "[imap][search]") {
  FakeMessage m = Sample();
  CHECK(Eval("FROM joerg@EXAMPLE", m));
  CHECK(Eval("FROM \"J\xC3\x96RG\"", m));  // Ö folds to ö
  CHECK(Eval("FROM m\xC3\xBCller", m));
  CHECK_FALSE(Eval("FROM ann", m));
  CHECK(Eval("TO bob", m));
  CHECK(Eval("TO ANN", m));
  CHECK(Eval("CC carol", m));
  CHECK(Eval("BCC dave", m));
  CHECK_FALSE(Eval("BCC carol", m));
  CHECK(Eval("SUBJECT \"quarterly r\xC3\xa9sults\"", m));
  CHECK_FALSE(Eval("SUBJECT annual", m));
  CHECK(Eval("HEADER x-mailer \"KITE test\"", m));
  CHECK(Eval("HEADER X-Mailer \"\"", m));  // present
  CHECK_FALSE(Eval("HEADER X-Absent \"\"", m));
  CHECK(Eval("SUBJECT \"\"", m));
  m.headers_.erase("subject");
  CHECK_FALSE(Eval("SUBJECT \"\"", m));
}

TEST_CASE("BODY searches the body only, TEXT header and body", "[imap][search]") {
  FakeMessage m = Sample();
  CHECK(Eval("BODY NUMBERS", m));
  CHECK_FALSE(Eval("BODY quarterly", m));
  CHECK(Eval("TEXT quarterly", m));
  CHECK(Eval("TEXT \"numbers are\"", m));
  CHECK(Eval("TEXT x-mailer", m));
  CHECK_FALSE(Eval("TEXT nowhere", m));
  CHECK(Eval("BODY \"\"", m));
}

TEST_CASE("internal date keys compare whole UTC days", "[imap][search]") {
  FakeMessage m = Sample();  // 2024-03-15 12:00 UTC
  CHECK(Eval("ON 15-Mar-2024", m));
  CHECK_FALSE(Eval("ON 14-Mar-2024", m));
  CHECK(Eval("SINCE 15-Mar-2024", m));
  CHECK(Eval("SINCE 1-Mar-2024", m));
  CHECK_FALSE(Eval("SINCE 16-Mar-2024", m));
  CHECK(Eval("BEFORE 16-Mar-2024", m));
  CHECK_FALSE(Eval("BEFORE 15-Mar-2024", m));
  m.internal_date_ = Day(2024, 3, 15);  // midnight exactly
  CHECK(Eval("ON 15-Mar-2024", m));
  m.internal_date_ = Day(2024, 3, 16) - 1;
  CHECK(Eval("ON 15-Mar-2024", m));
  m.internal_date_ = -86400 * 2;  // before 1970
  CHECK(Eval("ON 30-Dec-1969", m));
}

TEST_CASE("sent date keys use the Date header as written, else the internal date",
          "[imap][search]") {
  FakeMessage m = Sample();  // Date: 15 Mar 2024 23:30 -0500 (16 Mar in UTC)
  CHECK(Eval("SENTON 15-Mar-2024", m));
  CHECK_FALSE(Eval("SENTON 16-Mar-2024", m));
  CHECK(Eval("SENTBEFORE 16-Mar-2024", m));
  CHECK(Eval("SENTSINCE 15-Mar-2024", m));
  CHECK_FALSE(Eval("SENTSINCE 16-Mar-2024", m));
  m.headers_["date"] = {"not a date"};
  m.internal_date_ = Day(2020, 1, 2);
  CHECK(Eval("SENTON 2-Jan-2020", m));
  m.headers_.erase("date");
  CHECK(Eval("SENTON 2-Jan-2020", m));
}

TEST_CASE("size, sequence, UID, OLDER/YOUNGER and MODSEQ keys", "[imap][search]") {
  FakeMessage m = Sample();  // size 1000, seq 1, uid 10, modseq 5
  CHECK(Eval("LARGER 999", m));
  CHECK_FALSE(Eval("LARGER 1000", m));
  CHECK(Eval("SMALLER 1001", m));
  CHECK_FALSE(Eval("SMALLER 1000", m));
  CHECK(Eval("1", m));
  CHECK(Eval("1:*", m));
  CHECK_FALSE(Eval("2:5", m));
  CHECK(Eval("UID 10", m));
  CHECK(Eval("UID 5:15", m));
  CHECK_FALSE(Eval("UID 11:*", m));
  SearchContext ctx;
  ctx.max_seq = 1;
  ctx.max_uid = 10;
  CHECK(Eval("*", m, ctx));
  CHECK(Eval("UID *", m, ctx));
  CHECK(Eval("UID 20:*", m, ctx));  // "*" is 10: the range is 10:20
  ctx.now = m.internal_date_ + 100;
  CHECK(Eval("YOUNGER 100", m, ctx));
  CHECK_FALSE(Eval("YOUNGER 99", m, ctx));
  CHECK(Eval("OLDER 99", m, ctx));
  CHECK_FALSE(Eval("OLDER 100", m, ctx));
  CHECK(Eval("MODSEQ 5", m));
  CHECK(Eval("MODSEQ 0", m));
  CHECK_FALSE(Eval("MODSEQ 6", m));
  CHECK(MustParse("MODSEQ \"/flags/\\\\draft\" all 620162338").uses_modseq);
  CHECK(MustParse("OR SEEN MODSEQ 5").uses_modseq);
}

TEST_CASE("$ is the saved result, as UIDs", "[imap][search]") {
  FakeMessage m = Sample();  // uid 10
  CHECK(MustParse("$").uses_saved);
  CHECK(MustParse("NOT UID $").uses_saved);
  std::vector<uint32_t> saved = {3, 10, 12};
  SearchContext ctx;
  ctx.saved = &saved;
  CHECK(Eval("$", m, ctx));
  CHECK(Eval("UID $", m, ctx));
  saved = {3, 12};
  CHECK_FALSE(Eval("$", m, ctx));
  ctx.saved = nullptr;  // nothing saved: "$" is empty
  CHECK_FALSE(Eval("$", m, ctx));
  CHECK(Eval("NOT $", m, ctx));
}

TEST_CASE("OR, NOT and groups nest", "[imap][search]") {
  FakeMessage m = Sample();
  CHECK(Eval("OR ANSWERED SEEN", m));
  CHECK_FALSE(Eval("OR ANSWERED DELETED", m));
  CHECK(Eval("NOT OR ANSWERED DELETED", m));
  CHECK(Eval("OR (ANSWERED FLAGGED) (SEEN FLAGGED)", m));
  CHECK_FALSE(Eval("(SEEN ANSWERED)", m));
  CHECK(Eval("OR OR DELETED DRAFT OR ANSWERED NOT NOT SEEN", m));
  CHECK(Eval("NOT (DELETED OR FROM nobody SUBJECT nothing)", m));
  CHECK(Eval("SEEN FLAGGED FROM joerg", m));
  CHECK_FALSE(Eval("SEEN FLAGGED FROM ann", m));
}

TEST_CASE("cheap keys are evaluated first, and only needed data is loaded", "[imap][search]") {
  FakeMessage m = Sample();
  // BODY comes first on the wire but UNSEEN fails first: no body is read.
  CHECK_FALSE(Eval("BODY numbers UNSEEN", m));
  CHECK(m.body_loads == 0);
  CHECK(Eval("BODY numbers SEEN", m));
  CHECK(m.body_loads == 1);
  CHECK(NeedsHeaders(MustParse("FROM x")));
  CHECK_FALSE(NeedsBody(MustParse("FROM x")));
  CHECK(NeedsHeaders(MustParse("SENTON 1-Jan-2020")));
  CHECK(NeedsBody(MustParse("NOT TEXT x")));
  CHECK(NeedsBody(MustParse("OR SEEN BODY x")));
  CHECK_FALSE(NeedsHeaders(MustParse("SEEN 1:5 UID 3 LARGER 5 ON 1-Jan-2020 MODSEQ 3")));
  CHECK_FALSE(NeedsBody(MustParse("SEEN")));
}

TEST_CASE("FROM, TO, CC, BCC and SUBJECT are answered from the stored fields alone", "[imap][search]") {
  CHECK(UsesOnlyStoredFields(MustParse("FROM x")));
  CHECK(UsesOnlyStoredFields(MustParse("OR (TO x CC y) NOT (BCC z SUBJECT w) UNSEEN 1:5")));
  CHECK(UsesOnlyStoredFields(MustParse("HEADER From x HEADER SUBJECT y")));
  CHECK_FALSE(UsesOnlyStoredFields(MustParse("HEADER Reply-To x")));
  CHECK_FALSE(UsesOnlyStoredFields(MustParse("FROM x SENTSINCE 1-Jan-2020")));
  CHECK_FALSE(UsesOnlyStoredFields(MustParse("OR FROM x BODY y")));
  CHECK_FALSE(UsesOnlyStoredFields(MustParse("NOT TEXT y")));

  // The stored fields give the same answers as the message itself.
  const std::string raw =
      "From: =?UTF-8?Q?Andr=C3=A9?= <andre@example.test>\r\nTo: a@x.example, B <b@y.example>\r\n"
      "Subject: Re: caf=?UTF-8?Q?=C3=A9?=\r\n\r\nbody\r\n";
  StoredSearchFields fields = ComputeStoredSearchFields(raw);
  for (const char* keys : {"FROM andré", "FROM ANDRE@", "TO b@y", "TO \"b <\"", "CC x", "SUBJECT café", "SUBJECT \"re: c\"",
                           "HEADER from andre", "OR BCC x NOT SUBJECT tea", "FROM \"\""}) {
    SearchQuery q = MustParse(keys);
    REQUIRE(UsesOnlyStoredFields(q));
    MimeSearchMessage full(SearchMetadata{1, 1}, raw);
    StoredFieldsMessage stored(SearchMetadata{1, 1}, fields);
    SearchContext ctx{1, 1, nullptr, 0};
    CHECK(Matches(q, stored, ctx) == Matches(q, full, ctx));
  }
}

std::vector<SearchHit> Hits(std::vector<uint32_t> seqs) {
  std::vector<SearchHit> out;
  for (uint32_t s : seqs) out.push_back({s, s * 10, uint64_t{s} * 100});
  return out;
}

TEST_CASE("SEARCH responses", "[imap][search]") {
  SearchQuery q = MustParse("ALL");
  CHECK(FormatSearchResponse(q, Hits({1, 2, 5}), false, "a1") == "* SEARCH 1 2 5\r\n");
  CHECK(FormatSearchResponse(q, Hits({1, 2, 5}), true, "a1") == "* SEARCH 10 20 50\r\n");
  CHECK(FormatSearchResponse(q, {}, false, "a1") == "* SEARCH\r\n");
  SearchQuery mq = MustParse("MODSEQ 100");
  CHECK(FormatSearchResponse(mq, Hits({2, 7, 3}), false, "a1") ==
        "* SEARCH 2 7 3 (MODSEQ 700)\r\n");
  CHECK(FormatSearchResponse(mq, {}, false, "a1") == "* SEARCH\r\n");
}

TEST_CASE("ESEARCH responses", "[imap][search]") {
  SearchQuery q = MustParse("RETURN (MIN MAX COUNT ALL) ALL");
  CHECK(q.esearch);
  CHECK(FormatSearchResponse(q, Hits({2, 4, 5, 6, 7, 8, 9}), true, "a1") ==
        "* ESEARCH (TAG \"a1\") UID MIN 20 MAX 90 COUNT 7 ALL 20,40,50,60,70,80,90\r\n");
  CHECK(FormatSearchResponse(q, Hits({2, 4, 5, 6, 7, 8, 9}), false, "a1") ==
        "* ESEARCH (TAG \"a1\") MIN 2 MAX 9 COUNT 7 ALL 2,4:9\r\n");
  CHECK(FormatSearchResponse(q, {}, false, "a1") == "* ESEARCH (TAG \"a1\") COUNT 0\r\n");
  CHECK(FormatSearchResponse(MustParse("RETURN () SEEN"), Hits({1, 3}), false, "x") ==
        "* ESEARCH (TAG \"x\") ALL 1,3\r\n");
  CHECK(FormatSearchResponse(MustParse("RETURN (MIN) SEEN"), {}, true, "x") ==
        "* ESEARCH (TAG \"x\") UID\r\n");
  CHECK(FormatSearchResponse(MustParse("RETURN (COUNT) CHARSET UTF-8 SEEN"), Hits({1}), false,
                             "t\"q") == "* ESEARCH (TAG \"t\\\"q\") COUNT 1\r\n");
  // SAVE alone: no response at all (RFC 5182).
  CHECK(FormatSearchResponse(MustParse("RETURN (SAVE) SEEN"), Hits({1}), false, "x").empty());
  CHECK(FormatSearchResponse(MustParse("RETURN (SAVE COUNT) SEEN"), Hits({1}), false, "x") ==
        "* ESEARCH (TAG \"x\") COUNT 1\r\n");
  // MODSEQ: the highest of all matches, or of MIN/MAX when only those are returned.
  CHECK(FormatSearchResponse(MustParse("RETURN (COUNT) MODSEQ 1"), Hits({1, 3, 2}), false, "x") ==
        "* ESEARCH (TAG \"x\") COUNT 3 MODSEQ 300\r\n");
  CHECK(FormatSearchResponse(MustParse("RETURN (MIN) MODSEQ 1"), Hits({1, 3, 2}), false, "x") ==
        "* ESEARCH (TAG \"x\") MIN 1 MODSEQ 100\r\n");
}

TEST_CASE("SAVE stores UIDs, only MIN/MAX when those are all that is returned", "[imap][search]") {
  CHECK(SearchResultToSave(MustParse("RETURN (SAVE) SEEN"), Hits({3, 1, 2})) ==
        std::vector<uint32_t>{10, 20, 30});
  CHECK(SearchResultToSave(MustParse("RETURN (SAVE MIN) SEEN"), Hits({3, 1, 2})) ==
        std::vector<uint32_t>{10});
  CHECK(SearchResultToSave(MustParse("RETURN (SAVE MIN MAX) SEEN"), Hits({3, 1, 2})) ==
        std::vector<uint32_t>{10, 30});
  CHECK(SearchResultToSave(MustParse("RETURN (SAVE MIN MAX) SEEN"), Hits({3})) ==
        std::vector<uint32_t>{30});
  CHECK(SearchResultToSave(MustParse("RETURN (SAVE MIN COUNT) SEEN"), Hits({3, 1})) ==
        std::vector<uint32_t>{10, 30});
  CHECK(SearchResultToSave(MustParse("RETURN (SAVE) SEEN"), {}).empty());
}

TEST_CASE("sequence sets compress", "[imap][search]") {
  CHECK(CompressSequenceSet({}) == "");
  CHECK(CompressSequenceSet({1}) == "1");
  CHECK(CompressSequenceSet({1, 2, 3, 5, 7, 8}) == "1:3,5,7:8");
  CHECK(CompressSequenceSet({4294967294u, 4294967295u}) == "4294967294:4294967295");
}

TEST_CASE("dates parse", "[imap][search]") {
  CHECK(ParseSearchDate("1-Feb-1994") == DaysFromCivil(1994, 2, 1));
  CHECK(ParseSearchDate("01-feb-1994") == DaysFromCivil(1994, 2, 1));
  CHECK(ParseSearchDate("29-Feb-2024") == DaysFromCivil(2024, 2, 29));
  CHECK(ParseSearchDate("1-Jan-1970") == 0);
  for (const char* bad : {"29-Feb-2023", "0-Jan-2000", "32-Jan-2000", "1-Feb-94", "1-Febr-1994",
                          "1 Feb 1994", "", "1--1994", "123-Feb-1994", "1-Feb-1994-"}) {
    INFO(bad);
    CHECK_FALSE(ParseSearchDate(bad).has_value());
  }
  auto utc = [](std::string_view s) {
    std::optional<MessageDate> d = ParseMessageDate(s);
    return d ? d->utc : -1;
  };
  CHECK(utc("Sun, 31 Dec 2000 16:01:33 -0800") == Day(2001, 1, 1) + 93);
  CHECK(utc("1 Jan 2001 00:01:33 +0000") == Day(2001, 1, 1) + 93);
  CHECK(utc("Mon, 1 Jan 2001 00:01:33 GMT (comment)") == Day(2001, 1, 1) + 93);
  CHECK(utc("1 Jan 01 00:01 EST") == Day(2001, 1, 1) + 60 + 5 * 3600);
  CHECK(utc("1 Jan 99 00:00:00 +0100") == Day(1999, 1, 1) - 3600);
  CHECK(utc("1 Jan 2001") == Day(2001, 1, 1));
  CHECK(utc("1 Jan 2001 25:00 +0000") == Day(2001, 1, 1));          // bad time: midnight
  CHECK(utc("1 Jan 2001 10:00 +zz00") == Day(2001, 1, 1) + 36000);  // bad zone: UTC
  CHECK(utc("(x) Tue,\r\n 2 Jan 2001 10:00:00 +0000") == Day(2001, 1, 2) + 36000);
  CHECK(utc("garbage") == -1);
  CHECK(utc("") == -1);
  CHECK(utc("31 Feb 2001 10:00 +0000") == -1);
  std::optional<MessageDate> d = ParseMessageDate("Fri, 15 Mar 2024 23:30:00 -0500");
  REQUIRE(d);
  CHECK(d->local_days == DaysFromCivil(2024, 3, 15));
  CHECK(d->utc == Day(2024, 3, 16) + 4 * 3600 + 1800);
}

TEST_CASE("case folding covers ASCII and common scripts", "[imap][search]") {
  CHECK(FoldCase("HeLLo") == "hello");
  CHECK(FoldCase("\xC3\x84\xC3\x96\xC3\x9C") == "\xC3\xA4\xC3\xB6\xC3\xBC");  // ÄÖÜ
  CHECK(FoldCase("\xCE\xA3\xCE\x9F\xCE\xA6") == "\xCF\x83\xCE\xBF\xCF\x86");  // ΣΟΦ
  CHECK(FoldCase("\xD0\x9F\xD0\xA0\xD0\x98") == "\xD0\xBF\xD1\x80\xD0\xB8");  // ПРИ
  CHECK(FoldCase("\xC5\x81\xC3\x93") == "\xC5\x82\xC3\xB3");                  // ŁÓ
  CHECK(FoldCase("a\xFF\xC3") == "a\xFF\xC3");                                // invalid bytes kept
  CHECK(
      ContainsFolded("Gr\xC3\x9C\xC3\x9F"
                     "E",
                     "\xC3\xBC\xC3\x9F"
                     "e"));
  CHECK(ContainsFolded("anything", ""));
  CHECK_FALSE(ContainsFolded("abc", "abcd"));
}

TEST_CASE("the default address parser finds the first mailbox", "[imap][search]") {
  FakeMessage m;
  auto first = [&](std::string value) {
    m.headers_["from"] = {value};
    return m.FirstAddress("From");
  };
  std::optional<SearchAddress> a = first("\"Doe, John\" <John.Doe@Example.test>, x@y.test");
  REQUIRE(a);
  CHECK(a->name == "Doe, John");
  CHECK(a->mailbox == "John.Doe");
  CHECK(a->host == "Example.test");
  a = first("plain@example.test (Plain Person)");
  REQUIRE(a);
  CHECK(a->mailbox == "plain");
  CHECK(a->name.empty());
  a = first("undisclosed-recipients:;");
  CHECK_FALSE(a);
  a = first("Team: a@b.test, c@d.test;");
  REQUIRE(a);
  CHECK(a->mailbox == "a");
  a = first("\"quoted local\"@example.test");
  REQUIRE(a);
  CHECK(a->mailbox == "quoted local");
  CHECK_FALSE(first(""));
  m.headers_.erase("from");
  CHECK_FALSE(m.FirstAddress("From"));
}

constexpr std::string_view kMime =
    "From: =?utf-8?q?J=C3=B6rg?= <joerg@example.test>\r\n"
    "To: \"Doe, Jane\" <jane@example.test>\r\n"
    "Subject: =?iso-8859-1?q?Gr=FC=DFe?= aus\r\n"
    " Berlin\r\n"
    "Date: Tue, 2 Jan 2024 10:00:00 +0100\r\n"
    "Message-ID: <m1@example.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "U3DDpHRlciBtZWhyIMO8YmVyIGRhcyBQcm9qZWt0Lgo=\r\n"
    "--b\r\n"
    "Content-Type: image/png\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "aW1hZ2VzZWNyZXQ=\r\n"
    "--b--\r\n";

TEST_CASE("MimeSearchMessage searches decoded headers and text parts", "[imap][search]") {
  SearchMetadata meta;
  meta.seq = 3;
  meta.uid = 33;
  meta.flags = {"\\Seen"};
  meta.size = kMime.size();
  meta.modseq = 9;
  MimeSearchMessage m(meta, kMime);
  SearchContext ctx{10, 100, nullptr, 0};
  auto eval = [&](std::string_view keys) { return Matches(MustParse(keys), m, ctx); };
  CHECK(eval("FROM j\xC3\xB6rg"));
  CHECK(
      eval("SUBJECT \"gr\xC3\xBC\xC3\x9F"
           "e aus berlin\""));
  CHECK(
      eval("BODY \"\xC3\xBC"
           "ber das\""));                 // base64, UTF-8
  CHECK_FALSE(eval("BODY imagesecret"));  // not a text part
  CHECK(eval("TEXT \"doe, jane\""));
  CHECK(eval("TEXT projekt"));
  CHECK(eval("HEADER message-id m1@"));
  CHECK(eval("SENTON 2-Jan-2024"));
  CHECK(eval("SEEN UID 33 3 MODSEQ 9"));
  CHECK(m.Header("subject") == std::vector<std::string>{"Gr\xC3\xBC\xC3\x9F"
                                                        "e aus Berlin"});
  std::optional<SearchAddress> from = m.FirstAddress("From");
  REQUIRE(from);
  CHECK(from->name == "J\xC3\xB6rg");
  CHECK(from->mailbox == "joerg");
  CHECK(from->host == "example.test");
  std::optional<SearchAddress> to = m.FirstAddress("to");
  REQUIRE(to);
  CHECK(to->name == "Doe, Jane");
  CHECK_FALSE(m.FirstAddress("Cc"));

  // A stored parse without the bytes still answers the envelope fields.
  mime::Message parsed = mime::Parse(kMime);
  MimeSearchMessage bare(meta, "", &parsed);
  CHECK(bare.Header("Date") == std::vector<std::string>{"Tue, 2 Jan 2024 10:00:00 +0100"});
  CHECK(bare.Header("Subject") == std::vector<std::string>{"Gr\xC3\xBC\xC3\x9F"
                                                           "e aus Berlin"});
  CHECK(bare.Header("X-Other").empty());
  CHECK(bare.BodyText().empty());
  REQUIRE(bare.FirstAddress("from"));
  // Only the header block: headers work, the body is empty.
  std::string_view header = kMime.substr(0, kMime.find("\r\n\r\n") + 4);
  MimeSearchMessage head(meta, header);
  CHECK(Matches(MustParse("FROM joerg"), head, ctx));
  CHECK_FALSE(Matches(MustParse("BODY projekt"), head, ctx));
}

TEST_CASE("FROM/TO/CC/BCC match decoded display names and addresses", "[imap][search]") {
  constexpr std::string_view kHeader =
      "From: \"=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=\" <joerg@example.test>\r\n"
      "To: =?ISO-8859-1?Q?Ren=E9?= Dupont <rene@example.test>,\r\n"
      " team: Ann <ann@example.test>;\r\n"
      "Cc: <@relay.test:carol@example.test>\r\n"
      "Bcc: \"Doe, Jane\" <jane@example.test>\r\n"
      "\r\n";
  SearchMetadata meta;
  meta.seq = 1;
  MimeSearchMessage m(meta, kHeader);
  SearchContext ctx{10, 100, nullptr, 0};
  auto eval = [&](std::string_view keys) { return Matches(MustParse(keys), m, ctx); };
  CHECK(eval("FROM \"j\xC3\xB6rg m\xC3\xBCller\""));  // decoded, even inside quotes
  CHECK(eval("FROM J\xC3\x96RG"));                      // case-insensitive beyond ASCII
  CHECK(eval("FROM joerg@example"));
  CHECK_FALSE(eval("FROM =?UTF-8?"));  // the encoded form is not what the user sees
  CHECK(eval("TO \"ren\xC3\xA9 dupont\""));
  CHECK(eval("TO ann@example.test"));
  CHECK(eval("TO team"));
  CHECK(eval("CC carol@example.test"));
  CHECK(eval("BCC \"doe, jane\""));
  CHECK_FALSE(eval("BCC joerg"));
}

TEST_CASE("MimeSearchMessage loads lazily, the header first", "[imap][search]") {
  SearchMetadata meta;
  meta.seq = 1;
  meta.uid = 4;
  meta.size = kMime.size();
  meta.flags = {"\\Seen"};
  SearchContext ctx{10, 100, nullptr, 0};
  std::vector<bool> calls;
  auto loader = [&](bool whole) {
    calls.push_back(whole);
    return std::string(whole ? kMime : kMime.substr(0, kMime.find("\r\n\r\n") + 4));
  };
  auto run = [&](std::string_view keys) {
    calls.clear();
    MimeSearchMessage m(meta, loader);
    return Matches(MustParse(keys), m, ctx);
  };
  CHECK(run("SEEN LARGER 0 OR 1 2"));
  CHECK(calls.empty());
  CHECK_FALSE(run("UNSEEN FROM joerg"));
  CHECK(calls.empty());
  CHECK(run("FROM joerg SUBJECT berlin SENTON 2-Jan-2024"));
  CHECK(calls == std::vector<bool>{false});
  CHECK(run("BODY projekt"));
  CHECK(calls == std::vector<bool>{true});
  CHECK(run("BODY projekt FROM joerg"));
  CHECK(calls == std::vector<bool>{false, true});
  CHECK(run("TEXT projekt"));
  CHECK(calls == std::vector<bool>{true});
  MimeSearchMessage m(meta, loader);
  calls.clear();
  CHECK(m.FirstAddress("from")->mailbox == "joerg");
  CHECK(m.BodyText().find("Projekt") != std::string::npos);
  CHECK(m.Header("Subject").size() == 1);
  CHECK(calls == std::vector<bool>{false, true});
}

TEST_CASE("OBJECTID and SAVEDATE search keys (RFC 8474 6, RFC 8514 4)", "[imap][search]") {
  FakeMessage m;
  CHECK(Eval("EMAILID E42", m));
  CHECK_FALSE(Eval("EMAILID E4", m));
  CHECK_FALSE(Eval("THREADID T1", m));  // no threading: THREADID is NIL for every message
  CHECK(Eval("NOT THREADID T1", m));
  CHECK(Eval("SAVEDATESUPPORTED", m));
  // No save date (stored before they were kept): the internal date (15-Mar-2024) decides.
  CHECK(Eval("SAVEDON 15-Mar-2024", m));
  CHECK(Eval("SAVEDBEFORE 16-Mar-2024", m));
  m.save_date_ = Day(2025, 1, 2) + 60;
  CHECK(Eval("SAVEDON 2-Jan-2025", m));
  CHECK(Eval("SAVEDSINCE 2-Jan-2025", m));
  CHECK_FALSE(Eval("SAVEDSINCE 3-Jan-2025", m));
  CHECK_FALSE(Eval("SAVEDBEFORE 2-Jan-2025", m));
  CHECK(Eval("SAVEDBEFORE 3-Jan-2025", m));
  CHECK(Eval("ON 15-Mar-2024 SAVEDON 2-Jan-2025", m));
  CHECK(Parse("SAVEDON 1-Feb-1994")->uses_save_date);
  CHECK_FALSE(Parse("ON 1-Feb-1994 EMAILID x")->uses_save_date);
  for (const char* bad : {"EMAILID", "EMAILID bad!", "EMAILID \"\"", "THREADID (a)", "SAVEDBEFORE x",
                          "SAVEDON", "EMAILID " }) {
    INFO(bad);
    CHECK_FALSE(Parse(bad).ok());
  }
  CHECK_FALSE(Parse("EMAILID " + std::string(256, 'a')).ok());
  CHECK(Parse("EMAILID " + std::string(255, 'a')).ok());
}

}  // namespace
}  // namespace kite::imap
