// libFuzzer target: LIST pattern matching and shared-namespace names (lib/imap/mailbox_name),
// and METADATA entry names (lib/imap/metadata).
// Input: "<reference>\n<pattern>\n<name>" (missing parts are empty). Invariants: no crash;
// the bounded matcher agrees with a naive backtracking one on short inputs; "*" matches
// every name; a parsed shared name prints back to a name that parses the same; a
// normalized METADATA entry normalizes to itself, matches itself at every depth, and its
// parent (when it has one below /private or /shared) matches it at infinite depth.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/imap/mailbox_name.h"
#include "lib/imap/metadata.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool Naive(std::string_view name, std::string_view pattern) {
  if (pattern.empty()) return name.empty();
  char p = pattern[0];
  if (p == '*' || p == '%') {
    for (size_t k = 0; k <= name.size(); ++k) {
      if (k > 0 && p == '%' && name[k - 1] == kite::imap::kHierarchyDelimiter) break;
      if (Naive(name.substr(k), pattern.substr(1))) return true;
    }
    return false;
  }
  return !name.empty() && name[0] == p && Naive(name.substr(1), pattern.substr(1));
}

std::string_view Next(std::string_view& in) {
  size_t nl = in.find('\n');
  std::string_view part = in.substr(0, nl);
  in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  return part;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view reference = Next(in);
  std::string_view pattern = Next(in);
  std::string_view name = in;
  std::string joined = kite::imap::ListPattern(reference, pattern);
  bool match = kite::imap::MatchMailboxPattern(name, joined);
  if (joined.size() <= 12 && name.size() <= 24) Check(match == Naive(name, joined));
  Check(kite::imap::MatchMailboxPattern(name, "*"));
  if (auto shared = kite::imap::ParseSharedName(name)) {
    Check(!shared->address.empty());
    auto again = kite::imap::ParseSharedName(
        kite::imap::SharedMailboxName(shared->address, shared->mailbox));
    Check(again.has_value() && again->address == shared->address &&
          again->mailbox == shared->mailbox);
  }
  for (std::string_view candidate : {pattern, name}) {
    auto entry = kite::imap::NormalizeMetadataEntry(candidate);
    if (!entry) continue;
    Check(kite::imap::NormalizeMetadataEntry(*entry) == entry);
    for (int depth : {0, 1, kite::imap::kInfiniteDepth}) Check(kite::imap::MetadataEntryMatches(*entry, *entry, depth));
    const size_t slash = entry->rfind('/');
    const std::string parent = entry->substr(0, slash);
    if (kite::imap::NormalizeMetadataEntry(parent)) {
      Check(kite::imap::MetadataEntryMatches(parent, *entry, kite::imap::kInfiniteDepth));
      Check(kite::imap::MetadataEntryMatches(parent, *entry, 1));
    }
  }
  return 0;
}
