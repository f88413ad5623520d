// Small ASCII and string_view helpers shared by the protocol codecs (kite_smtp, kite_imap_proto).
//
// Debian's Abseil is built with its own absl::string_view (see lib/base/strings.h), so absl's
// string functions do not take std::string_view; the parsers use these instead and convert
// (kite::AV / kite::SV) only at the absl::Status boundary. No input policy lives here.
#ifndef KITE_SERVICES_LIB_BASE_ASCII_H_
#define KITE_SERVICES_LIB_BASE_ASCII_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kite::ascii {

inline char ToUpper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c; }
inline char ToLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

inline std::string ToUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToUpper(c);
  return out;
}

inline std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToLower(c);
  return out;
}

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

inline std::vector<std::string_view> Split(std::string_view s, char sep, bool skip_empty = false) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    std::string_view piece = s.substr(start, end == std::string_view::npos ? end : end - start);
    if (!skip_empty || !piece.empty()) out.push_back(piece);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

// 1*DIGIT into out; false on anything else or on overflow.
inline bool ParseDecimal(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

}  // namespace kite::ascii

#endif  // KITE_SERVICES_LIB_BASE_ASCII_H_
