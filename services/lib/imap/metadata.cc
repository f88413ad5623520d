#include "lib/imap/metadata.h"

#include <algorithm>

namespace kite::imap {

std::optional<std::string> NormalizeMetadataEntry(std::string_view name) {
  if (name.size() > kMaxMetadataEntryName) return std::nullopt;
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  std::string_view rest;
  if (lower.starts_with("/private/")) {
    rest = std::string_view(lower).substr(9);
  } else if (lower.starts_with("/shared/")) {
    rest = std::string_view(lower).substr(8);
  } else {
    return std::nullopt;
  }
  if (rest.empty() || rest.front() == '/' || rest.back() == '/') return std::nullopt;
  char prev = 0;
  for (char c : rest) {
    if (c < 0x21 || c > 0x7e || c == '*' || c == '%') return std::nullopt;
    if (c == '/' && prev == '/') return std::nullopt;
    prev = c;
  }
  return lower;
}

bool IsPrivateEntry(std::string_view normalized) { return normalized.starts_with("/private/"); }

bool MetadataEntryMatches(std::string_view requested, std::string_view stored, int depth) {
  if (stored == requested) return true;
  if (depth == 0 || stored.size() <= requested.size() + 1 || !stored.starts_with(requested) ||
      stored[requested.size()] != '/') {
    return false;
  }
  if (depth == kInfiniteDepth) return true;
  // depth 1: a child, no deeper.
  return stored.substr(requested.size() + 1).find('/') == std::string_view::npos;
}

}  // namespace kite::imap
