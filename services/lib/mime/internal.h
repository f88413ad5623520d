// Internal helpers shared by the kite_mime sources (not a public interface).
#ifndef KITE_LIB_MIME_INTERNAL_H_
#define KITE_LIB_MIME_INTERNAL_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kite::mime::internal {

std::string Lower(std::string_view s);
std::string Upper(std::string_view s);
bool IEquals(std::string_view a, std::string_view b);
std::string_view Trim(std::string_view s);
std::string Unfold(std::string_view v);

struct HeaderField {
  std::string_view name;
  std::string_view raw_value;  // from after the colon to the end of the last line, folded
  size_t value_offset = 0;
};

// A header block [begin, end) where end is past the blank line (or the end of the entity if
// there is none); body == end. Fields are those within max_bytes of begin.
struct HeaderBlock {
  size_t begin = 0, end = 0, body = 0;
  std::vector<HeaderField> fields;
  const HeaderField* Find(std::string_view name) const;
};

HeaderBlock ScanHeader(std::string_view raw, size_t begin, size_t end, size_t max_bytes);

}  // namespace kite::mime::internal

#endif  // KITE_LIB_MIME_INTERNAL_H_
