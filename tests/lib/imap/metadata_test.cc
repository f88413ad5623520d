#include "lib/imap/metadata.h"

#include <catch2/catch.hpp>
#include <string>

namespace kite::imap {
namespace {

TEST_CASE("METADATA entry names: /private or /shared, no wildcards, no empty component", "[imap][parser]") {
  CHECK(NormalizeMetadataEntry("/private/comment") == "/private/comment");
  CHECK(NormalizeMetadataEntry("/Shared/Vendor/Kite/Color") == "/shared/vendor/kite/color");
  CHECK(NormalizeMetadataEntry("/PRIVATE/a/b/c") == "/private/a/b/c");
  for (const char* bad : {"", "/", "/private", "/private/", "/shared/", "private/comment", "/public/x", "/private//x",
                          "/private/x/", "/private/x*", "/private/%", "/private/a b", "/private/\x7f", "/private/\xc3\xa9",
                          "//private/x"}) {
    CAPTURE(bad);
    CHECK_FALSE(NormalizeMetadataEntry(bad).has_value());
  }
  CHECK(NormalizeMetadataEntry("/private/" + std::string(kMaxMetadataEntryName - 9, 'a')).has_value());
  CHECK_FALSE(NormalizeMetadataEntry("/private/" + std::string(kMaxMetadataEntryName - 8, 'a')).has_value());
  CHECK(IsPrivateEntry("/private/comment"));
  CHECK_FALSE(IsPrivateEntry("/shared/comment"));
}

TEST_CASE("GETMETADATA DEPTH: 0 the entry, 1 its children, infinity everything below", "[imap]") {
  CHECK(MetadataEntryMatches("/private/a", "/private/a", 0));
  CHECK_FALSE(MetadataEntryMatches("/private/a", "/private/a/b", 0));
  CHECK(MetadataEntryMatches("/private/a", "/private/a/b", 1));
  CHECK_FALSE(MetadataEntryMatches("/private/a", "/private/a/b/c", 1));
  CHECK(MetadataEntryMatches("/private/a", "/private/a/b/c", kInfiniteDepth));
  CHECK_FALSE(MetadataEntryMatches("/private/a", "/private/ab", kInfiniteDepth));
  CHECK_FALSE(MetadataEntryMatches("/private/a", "/shared/a", kInfiniteDepth));
}

}  // namespace
}  // namespace kite::imap
