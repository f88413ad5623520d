// Encoders for strings the IMAP server sends: quoted strings, literals, astrings, nstrings,
// flag lists.
//
// Standards: RFC 3501 4.3 (string: quoted / literal), 9 (astring, nstring, flag-list,
// ATOM-CHAR), RFC 9051 / RFC 6855 (UTF-8 in quoted strings once UTF8=ACCEPT is enabled).
//
// Input: data that may have come from anyone (mailbox names, header fields, flags a client
// set). The encoders always produce well-formed IMAP: anything that cannot be quoted (CR, LF,
// NUL, 8-bit without UTF-8 enabled, very long values) becomes a literal, so no value can
// inject a response line.
#ifndef KITE_SERVICES_LIB_IMAP_QUOTE_H_
#define KITE_SERVICES_LIB_IMAP_QUOTE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kite::imap {

// Longer values are sent as literals: they read better and dodge client line limits.
inline constexpr size_t kMaxQuotedLength = 1024;

// RFC 3501 ATOM-CHAR (7-bit, not atom-specials).
bool IsAtomChar(char c);
// ATOM-CHAR or resp-specials ("]").
bool IsAstringChar(char c);

// "\"text\"" with '"' and '\\' escaped, or "{N}\r\ntext" when quoting is impossible.
// utf8 allows valid 8-bit bytes in the quoted form (after ENABLE UTF8=ACCEPT).
std::string QuoteString(std::string_view s, bool utf8 = false);

// The string itself when it is a non-empty run of ASTRING-CHARs other than NIL, else
// QuoteString.
std::string AString(std::string_view s, bool utf8 = false);

// NIL when absent, else QuoteString.
std::string NString(std::optional<std::string_view> s, bool utf8 = false);

// flag = "\" atom (system flags) / atom (keywords).
bool IsValidFlag(std::string_view flag);

// "(\Seen \Answered $Label)". Flags that are not valid are left out rather than risk a
// malformed response; callers validate flags when they are stored.
std::string FormatFlags(const std::vector<std::string>& flags);

}  // namespace kite::imap

#endif  // KITE_SERVICES_LIB_IMAP_QUOTE_H_
