// The stored search text (lib/imap/search_text.h) against lib/imap's in-memory evaluation:
// for every tricky message, field and string, the stored rule says what Matches says.
#include "lib/imap/search_text.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "fixtures/search_text_cases.h"
#include "lib/imap/mime_search_message.h"
#include "lib/imap/receiver.h"
#include "lib/imap/search.h"

namespace kite::imap {
namespace {

constexpr TextField kFields[] = {TextField::kFrom, TextField::kTo,      TextField::kCc,
                                 TextField::kBcc,  TextField::kSubject, TextField::kBody,
                                 TextField::kText};

SearchKey KeyFor(TextField field, const std::string& value) {
  SearchKey k;
  static constexpr SearchKey::Kind kinds[] = {
      SearchKey::kFrom,    SearchKey::kTo,   SearchKey::kCc,  SearchKey::kBcc,
      SearchKey::kSubject, SearchKey::kBody, SearchKey::kText};
  k.kind = kinds[static_cast<size_t>(field)];
  k.value = value;
  return k;
}

SearchQuery MustParse(std::string_view keys) {
  Receiver r;
  r.Feed("a SEARCH " + std::string(keys) + "\r\n");
  Receiver::Event e = r.Next();
  REQUIRE(e.kind == Receiver::Event::kCommand);
  auto q = ParseSearch(e.command.args, 0);
  REQUIRE(q.ok());
  return std::move(*q);
}

TEST_CASE("The stored search text answers every text key as the in-memory evaluation does",
          "[imap][search]") {
  const auto messages = testing::SearchTextMessages();
  int stored_header = 0, stored_text = 0;
  for (const std::string& raw : messages) {
    const StoredSearchText stored = ComputeStoredSearchText(raw);
    stored_header += stored.header.has_value();
    stored_text += stored.text.has_value();
    for (TextField field : kFields) {
      if (IsHeaderField(field) ? !stored.header : !stored.text) continue;
      for (const std::string& needle : testing::SearchTextNeedles()) {
        MimeSearchMessage m(SearchMetadata{}, raw);
        const bool expected = Matches(KeyFor(field, needle), m, SearchContext{});
        INFO("message: " << raw.substr(0, 60) << "\nfield " << static_cast<int>(field)
                         << " needle: " << needle);
        CHECK(StoredTextMatches(stored, field, FoldCase(needle)) == expected);
      }
    }
  }
  // Every message stores its header fields; the one with a U+0001 in its body has no text.
  CHECK(stored_header == static_cast<int>(messages.size()));
  CHECK(stored_text == static_cast<int>(messages.size()) - 1);
}

TEST_CASE("Stored search text is folded by lib/imap, tagged per field, and bounded",
          "[imap][search]") {
  const StoredSearchText s = ComputeStoredSearchText(
      "From: =?UTF-8?Q?Andr=C3=A9?= <A@X.test>\r\nTo: b@x.test, C@x.test\r\nSubject: Hi "
      "\xce\xa3\r\n\r\nBODY\r\n");
  REQUIRE(s.header);
  CHECK(*s.header ==
        "\x01"
        "fandr\xc3\xa9 <a@x.test>\x01tb@x.test, c@x.test\x01shi \xcf\x83");
  REQUIRE(s.text);
  CHECK(s.text->find("\x01"
                     "body") != std::string::npos);
  // Larger than the bound: not stored, so SEARCH reads the message.
  const std::string big = "Subject: big\r\n\r\n" + std::string(kMaxStoredSearchText, 'a') + "\r\n";
  CHECK_FALSE(ComputeStoredSearchText(big).text.has_value());
  CHECK(ComputeStoredSearchText(big).header.has_value());
  CHECK_FALSE(IsStorableText(std::string("a\0b", 3)));
  CHECK_FALSE(IsStorableText("\xc3("));
  CHECK(IsStorableText("caf\xc3\xa9"));
}

TEST_CASE("StoreTextLeaves lists the text keys, or refuses when another key needs the message",
          "[imap][search]") {
  auto q = MustParse("UNSEEN OR FROM alice NOT BODY \"x y\" HEADER SUBJECT hi");
  auto leaves = StoreTextLeaves(q);
  REQUIRE(leaves);
  REQUIRE(leaves->size() == 3);
  std::vector<TextField> fields;
  for (const auto& l : *leaves) fields.push_back(l.field);
  CHECK(std::count(fields.begin(), fields.end(), TextField::kFrom) == 1);
  CHECK(std::count(fields.begin(), fields.end(), TextField::kBody) == 1);
  CHECK(std::count(fields.begin(), fields.end(), TextField::kSubject) == 1);
  CHECK(StoreTextLeaves(MustParse("SEEN"))->empty());
  CHECK_FALSE(StoreTextLeaves(MustParse("FROM a SENTSINCE 1-Jan-2020")));
  CHECK_FALSE(StoreTextLeaves(MustParse("HEADER X-Spam yes")));
  CHECK_FALSE(StoreTextLeaves(MustParse("FROM a"), 0));
  // A string that does not fold to storable text (invalid UTF-8) stays in the daemon.
  SearchQuery bad = MustParse("FROM a");
  bad.root.children[0].value = "\xff";
  CHECK_FALSE(StoreTextLeaves(bad));
}

TEST_CASE("A message with store-decided text keys evaluates NOT and OR around them",
          "[imap][search]") {
  auto q = MustParse("OR FROM alice NOT SUBJECT hi");
  auto leaves = StoreTextLeaves(q);
  REQUIRE(leaves);
  REQUIRE(leaves->size() == 2);
  const size_t from = (*leaves)[0].field == TextField::kFrom ? 0 : 1, subject = 1 - from;
  auto eval = [&](bool from_hit, bool subject_hit) {
    uint64_t bits =
        (from_hit ? uint64_t{1} << from : 0) | (subject_hit ? uint64_t{1} << subject : 0);
    DecidedTextMessage m(SearchMetadata{}, *leaves, bits);
    return Matches(q, m, SearchContext{});
  };
  CHECK(eval(true, true));
  CHECK(eval(false, false));
  CHECK_FALSE(eval(false, true));
  CHECK(eval(true, false));
}

}  // namespace
}  // namespace kite::imap
