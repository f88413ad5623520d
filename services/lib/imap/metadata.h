// METADATA (RFC 5464) entry names: the pure rules, no store. An entry is "/private/..." (the
// user's own value) or "/shared/..." (one value everyone with access sees); names compare
// case-insensitively (RFC 5464 3.2), so they are kept lower-cased.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kite::imap {

inline constexpr size_t kMaxMetadataEntryName = 1024;

// The entry name lower-cased, or nullopt when it is not one (RFC 5464 3.2 and its grammar:
// starts with /private/ or /shared/, followed by at least one component; printable ASCII
// without "*" and "%"; no empty component, so no "//" and no trailing "/"; at most
// kMaxMetadataEntryName bytes).
std::optional<std::string> NormalizeMetadataEntry(std::string_view name);

bool IsPrivateEntry(std::string_view normalized);

// GETMETADATA DEPTH (RFC 5464 4.2.2): 0 the entry itself, 1 also its children, infinity
// (kInfiniteDepth) every entry below it.
inline constexpr int kInfiniteDepth = -1;
// Whether the stored entry answers a request for `requested` at `depth` (both normalized).
bool MetadataEntryMatches(std::string_view requested, std::string_view stored, int depth);

}  // namespace kite::imap
