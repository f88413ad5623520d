#include "lib/dkim/tag_list.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kite::dkim {
namespace {

bool IsWsp(char c) { return c == ' ' || c == '\t'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
// VALCHAR = %x21-3A / %x3C-7E; bytes >= 0x80 are accepted too (RFC 8616 allows UTF-8).
bool IsValChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return (u >= 0x21 && u <= 0x7e && u != ';') || u >= 0x80;
}

// Skips [FWS] at `pos`: WSP, or CRLF followed by WSP. A CR or LF in any other position is
// a syntax error, reported by returning false.
bool SkipFws(std::string_view in, size_t& pos) {
  while (pos < in.size()) {
    char c = in[pos];
    if (IsWsp(c)) {
      ++pos;
    } else if (c == '\r') {
      if (pos + 2 < in.size() && in[pos + 1] == '\n' && IsWsp(in[pos + 2])) {
        pos += 3;
      } else {
        return false;
      }
    } else if (c == '\n') {
      return false;
    } else {
      break;
    }
  }
  return true;
}

absl::Status Bad(std::string_view what, size_t pos) {
  return absl::InvalidArgumentError(absl::StrCat(
      "DKIM tag-list: ", absl::string_view(what.data(), what.size()), " at offset ", pos));
}

}  // namespace

absl::StatusOr<std::vector<Tag>> ParseTagList(std::string_view in) {
  if (in.size() > kMaxTagListBytes) {
    return absl::InvalidArgumentError("DKIM tag-list: too long");
  }
  std::vector<Tag> tags;
  size_t pos = 0;
  while (true) {
    if (!SkipFws(in, pos)) return Bad("bad line break", pos);
    if (pos == in.size()) {
      // Empty input or a trailing ";" are both fine; ";;" is caught below.
      break;
    }
    if (!IsAlpha(in[pos])) return Bad("tag name expected", pos);
    size_t name_begin = pos;
    while (pos < in.size() && (IsAlpha(in[pos]) || IsDigit(in[pos]) || in[pos] == '_')) ++pos;
    std::string_view name = in.substr(name_begin, pos - name_begin);
    if (!SkipFws(in, pos)) return Bad("bad line break", pos);
    if (pos == in.size() || in[pos] != '=') return Bad("'=' expected", pos);
    ++pos;
    Tag tag;
    tag.name = name;
    tag.value_begin = pos;
    if (!SkipFws(in, pos)) return Bad("bad line break", pos);
    size_t value_begin = pos;
    size_t value_end = pos;
    while (pos < in.size() && in[pos] != ';') {
      if (IsValChar(in[pos])) {
        ++pos;
        value_end = pos;
      } else if (IsWsp(in[pos]) || in[pos] == '\r' || in[pos] == '\n') {
        if (!SkipFws(in, pos)) return Bad("bad line break", pos);
      } else {
        return Bad("invalid character in value", pos);
      }
    }
    tag.value_end = pos;
    tag.value = in.substr(value_begin, value_end - value_begin);
    if (FindTag(tags, name) != nullptr) return Bad("duplicate tag", name_begin);
    if (tags.size() == kMaxTags) return Bad("too many tags", name_begin);
    tags.push_back(tag);
    if (pos == in.size()) break;
    ++pos;  // ';'
  }
  return tags;
}

const Tag* FindTag(const std::vector<Tag>& tags, std::string_view name) {
  for (const Tag& t : tags) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::string RemoveWhiteSpace(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') out.push_back(c);
  }
  return out;
}

}  // namespace kite::dkim
