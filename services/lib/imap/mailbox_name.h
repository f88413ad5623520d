// Mailbox names as IMAP clients see them: LIST wildcard matching and the shared namespace.
//
// Standards: RFC 3501 6.3.8 (LIST: reference and mailbox name with the wildcards '*' and
// '%'; INBOX is case-insensitive), RFC 2342 (NAMESPACE: personal "" and shared "Shared/",
// both with the "/" hierarchy delimiter).
//
// Input: patterns and names a client sent. Matching is a bounded dynamic programme
// (O(|name| * |pattern|) time, O(|name|) memory, no recursion), so a pattern such as
// "*%*%*%..." cannot blow up; callers still cap the pattern length (kMaxPatternLength).
#ifndef KITE_SERVICES_LIB_IMAP_MAILBOX_NAME_H_
#define KITE_SERVICES_LIB_IMAP_MAILBOX_NAME_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kite::imap {

inline constexpr char kHierarchyDelimiter = '/';
// The shared namespace (RFC 2342): "Shared/<shared mailbox address>/<mailbox>".
inline constexpr std::string_view kSharedRoot = "Shared";
inline constexpr std::string_view kSharedPrefix = "Shared/";
inline constexpr size_t kMaxPatternLength = 1024;

// "INBOX" for any case of "inbox" (RFC 3501 5.1), else the name unchanged.
std::string NormalizeInbox(std::string_view name);

// The pattern LIST matches names against: reference and pattern joined (RFC 3501 6.3.8
// leaves the interpretation to the server; this is the usual concatenation, with one
// delimiter between them), and a leading "inbox" in any case written "INBOX".
std::string ListPattern(std::string_view reference, std::string_view pattern);

// Does `name` match `pattern`? '*' matches any run of characters, '%' any run without the
// hierarchy delimiter; everything else matches itself (case-sensitively).
bool MatchMailboxPattern(std::string_view name, std::string_view pattern);

// A name in the shared namespace: "Shared/<address>" (mailbox empty: the \Noselect level
// of one shared mailbox) or "Shared/<address>/<mailbox>" (mailbox "INBOX" normalised).
// `address` is lower-cased and never empty.
struct SharedName {
  std::string address;
  std::string mailbox;
};
// nullopt for a name outside the shared namespace (a personal mailbox, or "Shared" itself).
std::optional<SharedName> ParseSharedName(std::string_view name);
// "Shared/<address>/<mailbox>", or "Shared/<address>" when mailbox is empty.
std::string SharedMailboxName(std::string_view address, std::string_view mailbox);

}  // namespace kite::imap

#endif  // KITE_SERVICES_LIB_IMAP_MAILBOX_NAME_H_
