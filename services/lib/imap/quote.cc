#include "lib/imap/quote.h"

#include "lib/base/ascii.h"

namespace kite::imap {
namespace internal = ::kite::ascii;

namespace {

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t len = c < 0x80                   ? 1
                 : (c >= 0xC2 && c <= 0xDF) ? 2
                 : (c >= 0xE0 && c <= 0xEF) ? 3
                 : (c >= 0xF0 && c <= 0xF4) ? 4
                                            : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char ck = s[i + k];
      if (ck < 0x80 || ck > 0xBF) return false;
    }
    if (len == 3) {
      unsigned char c1 = s[i + 1];
      if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) return false;
    } else if (len == 4) {
      unsigned char c1 = s[i + 1];
      if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

bool IsAtomChar(char ch) {
  unsigned char c = ch;
  if (c <= 0x20 || c >= 0x7F) return false;
  switch (c) {
    case '(':
    case ')':
    case '{':
    case '%':
    case '*':
    case '"':
    case '\\':
    case ']':
      return false;
    default:
      return true;
  }
}

bool IsAstringChar(char c) { return IsAtomChar(c) || c == ']'; }

std::string QuoteString(std::string_view s, bool utf8) {
  bool quotable = s.size() <= kMaxQuotedLength;
  bool eight_bit = false;
  for (size_t i = 0; quotable && i < s.size(); ++i) {
    unsigned char c = s[i];
    if (c == '\0' || c == '\r' || c == '\n') quotable = false;
    if (c >= 0x80) eight_bit = true;
  }
  if (quotable && eight_bit) quotable = utf8 && IsValidUtf8(s);
  if (!quotable) return "{" + std::to_string(s.size()) + "}\r\n" + std::string(s);
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string AString(std::string_view s, bool utf8) {
  bool atom = !s.empty() && s.size() <= kMaxQuotedLength && !internal::EqualsIgnoreCase(s, "NIL");
  for (size_t i = 0; atom && i < s.size(); ++i) atom = IsAstringChar(s[i]);
  return atom ? std::string(s) : QuoteString(s, utf8);
}

std::string NString(std::optional<std::string_view> s, bool utf8) {
  return s ? QuoteString(*s, utf8) : std::string("NIL");
}

bool IsValidFlag(std::string_view flag) {
  if (!flag.empty() && flag.front() == '\\') flag.remove_prefix(1);
  if (flag.empty()) return false;
  for (char c : flag) {
    if (!IsAtomChar(c)) return false;
  }
  return true;
}

std::string FormatFlags(const std::vector<std::string>& flags) {
  std::string out = "(";
  bool first = true;
  for (const std::string& f : flags) {
    if (!IsValidFlag(f)) continue;
    if (!first) out.push_back(' ');
    out += f;
    first = false;
  }
  out.push_back(')');
  return out;
}

}  // namespace kite::imap
