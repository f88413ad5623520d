#include "lib/imap/sequence_set.h"

#include <catch2/catch.hpp>

namespace kite::imap {
namespace {

TEST_CASE("sequence sets parse and round-trip", "[imap][parser]") {
  for (const char* text : {"1", "1:3", "1:3,5,7:*", "*", "*:4", "4294967295", "3:1"}) {
    absl::StatusOr<SequenceSet> set = SequenceSet::Parse(text);
    REQUIRE(set.ok());
    CHECK(set->ToString() == text);
  }
  absl::StatusOr<SequenceSet> saved = SequenceSet::Parse("$");
  REQUIRE(saved.ok());
  CHECK(saved->is_saved());
}

TEST_CASE("bad sequence sets are rejected", "[imap][parser]") {
  for (const char* text : {"", "0", "1:0", "01", ",", "1,", ",1", "1::2", "1:", ":1", "a",
                           "4294967296", "1:2:3", "$,1", " 1", "-1"}) {
    INFO(text);
    CHECK_FALSE(SequenceSet::Parse(text).ok());
  }
}

TEST_CASE("Contains resolves * against the maximum", "[imap][parser]") {
  SequenceSet set = *SequenceSet::Parse("1:3,5,7:*");
  CHECK(set.Contains(1, 10));
  CHECK(set.Contains(3, 10));
  CHECK_FALSE(set.Contains(4, 10));
  CHECK(set.Contains(5, 10));
  CHECK(set.Contains(10, 10));
  CHECK_FALSE(set.Contains(0, 10));
  SequenceSet reversed = *SequenceSet::Parse("5:2");
  CHECK(reversed.Contains(3, 10));
  // "n:*" with n past the end still includes the last message (RFC 3501 6.4.8).
  SequenceSet past = *SequenceSet::Parse("20:*");
  CHECK(past.Contains(10, 10));
  CHECK_FALSE(SequenceSet::Parse("*")->Contains(1, 0));
}

TEST_CASE("Expand clips, sorts, dedups and caps", "[imap][parser]") {
  SequenceSet set = *SequenceSet::Parse("5,1:3,2,7:*");
  CHECK(*set.Expand(8, 100) == std::vector<uint32_t>{1, 2, 3, 5, 7, 8});
  CHECK(*SequenceSet::Parse("1:20")->Expand(4, 100) == std::vector<uint32_t>{1, 2, 3, 4});
  CHECK(SequenceSet::Parse("*")->Expand(0, 100)->empty());
  absl::StatusOr<std::vector<uint32_t>> huge =
      SequenceSet::Parse("1:4294967295")->Expand(UINT32_MAX, 1000);
  CHECK(huge.status().code() == absl::StatusCode::kResourceExhausted);
}

TEST_CASE("IsWithin checks explicit numbers only", "[imap][parser]") {
  CHECK(SequenceSet::Parse("1:3,*")->IsWithin(3));
  CHECK_FALSE(SequenceSet::Parse("1:4")->IsWithin(3));
}

}  // namespace
}  // namespace kite::imap
