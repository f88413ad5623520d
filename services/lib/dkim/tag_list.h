// DKIM tag=value lists (RFC 6376 section 3.2), the syntax shared by the DKIM-Signature header
// field and the DKIM key record published in DNS.
//
// Untrusted input: both the header field (from any sender) and the TXT record (from any DNS
// server). The parser is bounded (kMaxTagListBytes, kMaxTags), never allocates in proportion
// to anything but the input it accepted, and returns InvalidArgument on any syntax error.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kite::dkim {

inline constexpr size_t kMaxTagListBytes = 16 * 1024;
inline constexpr size_t kMaxTags = 64;

// One tag-spec. name and value are views into the parsed input; value has its leading and
// trailing folding white space removed (inner white space is kept, RFC 6376 3.2).
// value_begin/value_end delimit the whole tag-value area in the input, from just after "="
// to just before ";" or the end, surrounding white space included: what RFC 6376 3.5 means
// by "the value of the b= tag (including all surrounding whitespace)".
struct Tag {
  std::string_view name;
  std::string_view value;
  size_t value_begin = 0;
  size_t value_end = 0;
};

// Parses a tag-list. Duplicate tag names are an error (RFC 6376 3.2). A trailing ";" is
// allowed. Tag names are case-sensitive.
absl::StatusOr<std::vector<Tag>> ParseTagList(std::string_view input);

// The tag named `name`, if present.
const Tag* FindTag(const std::vector<Tag>& tags, std::string_view name);

// Removes all folding white space (SP, HTAB, CR, LF) from a value, as needed for the
// base64 tags b=, bh= and p=.
std::string RemoveWhiteSpace(std::string_view value);

}  // namespace kite::dkim
