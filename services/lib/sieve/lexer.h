// The Sieve lexer (RFC 5228 section 8.1): identifiers, tags, numbers with K/M/G quantifiers,
// quoted strings with backslash escapes, multi-line `text:` strings with dot-stuffing,
// `#` and `/* */` comments, and the punctuation of the grammar.
//
// Untrusted input: a user's script. The caller bounds the script size; the lexer bounds each
// string (Limits::max_string_length) and the number of tokens, and reports the line and
// column of the first error. Nothing here does I/O.
#ifndef KITE_SERVICES_LIB_SIEVE_LEXER_H_
#define KITE_SERVICES_LIB_SIEVE_LEXER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "lib/sieve/sieve.h"

namespace kite::sieve {

enum class TokenKind {
  kIdentifier,
  kTag,     // text holds the name without the colon
  kNumber,  // number holds the value with the quantifier applied
  kString,  // quoted or multi-line; text holds the decoded value
  kLeftBracket,
  kRightBracket,
  kLeftBrace,
  kRightBrace,
  kLeftParen,
  kRightParen,
  kComma,
  kSemicolon,
  kEnd,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  uint64_t number = 0;
  int line = 1;
  int column = 1;
};

// Fills `tokens` (ending with a kEnd token) or returns false with `error` set.
bool Lex(std::string_view script, const Limits& limits, std::vector<Token>& tokens,
         CompileError& error);

// A short printable rendering of client text for error messages: non-printable octets as
// \xNN, at most 64 characters.
std::string Printable(std::string_view text);

const char* TokenKindName(TokenKind kind);

// Small string helpers (Debian's Abseil has its own string_view, so absl::StrCat and friends
// do not take std::string_view).
std::string Lower(std::string_view s);
bool EqualsNoCase(std::string_view a, std::string_view b);

inline void AppendPiece(std::string& out, std::string_view s) { out.append(s); }
inline void AppendPiece(std::string& out, const char* s) { out.append(s); }
inline void AppendPiece(std::string& out, const std::string& s) { out.append(s); }
template <typename T>
requires std::is_integral_v<T>
void AppendPiece(std::string& out, T value) { out += std::to_string(value); }
template <typename... Pieces>
std::string Cat(const Pieces&... pieces) {
  std::string out;
  (AppendPiece(out, pieces), ...);
  return out;
}

}  // namespace kite::sieve

#endif  // KITE_SERVICES_LIB_SIEVE_LEXER_H_
