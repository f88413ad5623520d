#include "lib/imap/mailbox_name.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::imap {

std::string NormalizeInbox(std::string_view name) {
  if (absl::EqualsIgnoreCase(AV(name), "INBOX")) return "INBOX";
  return std::string(name);
}

std::string ListPattern(std::string_view reference, std::string_view pattern) {
  std::string joined(reference);
  if (!joined.empty() && !pattern.empty() && joined.back() != kHierarchyDelimiter &&
      pattern.front() != kHierarchyDelimiter) {
    joined += kHierarchyDelimiter;
  }
  joined.append(pattern);
  if (joined.size() >= 5 &&
      absl::EqualsIgnoreCase(AV(std::string_view(joined).substr(0, 5)), "INBOX") &&
      (joined.size() == 5 || joined[5] == kHierarchyDelimiter)) {
    joined.replace(0, 5, "INBOX");
  }
  return joined;
}

bool MatchMailboxPattern(std::string_view name, std::string_view pattern) {
  const size_t n = name.size();
  // at[j]: name[0, j) matches the pattern read so far.
  std::vector<char> at(n + 1, 0), next(n + 1, 0);
  at[0] = 1;
  for (char p : pattern) {
    if (p == '*') {
      char run = 0;
      for (size_t j = 0; j <= n; ++j) {
        run = run || at[j];
        next[j] = run;
      }
    } else if (p == '%') {
      char run = 0;
      for (size_t j = 0; j <= n; ++j) {
        if (j > 0 && name[j - 1] == kHierarchyDelimiter) run = 0;
        run = run || at[j];
        next[j] = run;
      }
    } else {
      next[0] = 0;
      for (size_t j = 1; j <= n; ++j) next[j] = at[j - 1] && name[j - 1] == p;
    }
    at.swap(next);
  }
  return at[n] != 0;
}

std::optional<SharedName> ParseSharedName(std::string_view name) {
  if (!absl::StartsWith(AV(name), AV(kSharedPrefix))) return std::nullopt;
  std::string_view rest = name.substr(kSharedPrefix.size());
  size_t slash = rest.find(kHierarchyDelimiter);
  std::string_view address = rest.substr(0, slash);
  if (address.empty()) return std::nullopt;
  SharedName out{absl::AsciiStrToLower(AV(address)), ""};
  if (slash != std::string_view::npos) out.mailbox = NormalizeInbox(rest.substr(slash + 1));
  return out;
}

std::string SharedMailboxName(std::string_view address, std::string_view mailbox) {
  if (mailbox.empty()) return absl::StrCat(AV(kSharedPrefix), AV(address));
  return absl::StrCat(AV(kSharedPrefix), AV(address), "/", AV(mailbox));
}

}  // namespace kite::imap
