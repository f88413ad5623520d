#include "lib/sieve/match.h"

#include <string>
#include <vector>

namespace kite::sieve {
namespace {

char Fold(char c, Comparator comparator) {
  if (comparator == Comparator::kAsciiCasemap && c >= 'A' && c <= 'Z') {
    return static_cast<char>(c - 'A' + 'a');
  }
  return c;
}

bool Equal(std::string_view a, std::string_view b, Comparator comparator) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Fold(a[i], comparator) != Fold(b[i], comparator)) return false;
  }
  return true;
}

bool Contains(std::string_view value, std::string_view key, Comparator comparator) {
  if (key.empty()) return true;
  if (key.size() > value.size()) return false;
  for (size_t i = 0; i + key.size() <= value.size(); ++i) {
    if (Equal(value.substr(i, key.size()), key, comparator)) return true;
  }
  return false;
}

// Length of the character at value[i]: one octet for i;octet, a UTF-8 sequence otherwise.
size_t CharLength(std::string_view value, size_t i, Comparator comparator) {
  if (comparator == Comparator::kOctet) return 1;
  unsigned char c = static_cast<unsigned char>(value[i]);
  size_t n = 1;
  if (c >= 0xF0) {
    n = 4;
  } else if (c >= 0xE0) {
    n = 3;
  } else if (c >= 0xC0) {
    n = 2;
  }
  if (i + n > value.size()) return 1;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(value[i + k]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

struct Piece {
  enum Kind { kLiteral, kOne, kAny } kind;
  char c;
};

// Glob match with backtracking to the last "*" only: O(|value| * |pattern|) at worst.
bool Glob(std::string_view value, std::string_view key, Comparator comparator) {
  std::vector<Piece> pattern;
  pattern.reserve(key.size());
  for (size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    if (c == '\\' && i + 1 < key.size()) {
      pattern.push_back({Piece::kLiteral, key[++i]});
    } else if (c == '*') {
      if (pattern.empty() || pattern.back().kind != Piece::kAny) {
        pattern.push_back({Piece::kAny, 0});
      }
    } else if (c == '?') {
      pattern.push_back({Piece::kOne, 0});
    } else {
      pattern.push_back({Piece::kLiteral, c});
    }
  }
  size_t v = 0;
  size_t p = 0;
  size_t star_p = std::string_view::npos;
  size_t star_v = 0;
  while (v < value.size()) {
    if (p < pattern.size() && pattern[p].kind == Piece::kAny) {
      star_p = p++;
      star_v = v;
      continue;
    }
    if (p < pattern.size() && pattern[p].kind == Piece::kOne) {
      v += CharLength(value, v, comparator);
      ++p;
      continue;
    }
    if (p < pattern.size() && Fold(pattern[p].c, comparator) == Fold(value[v], comparator)) {
      ++v;
      ++p;
      continue;
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p + 1;
    star_v += CharLength(value, star_v, comparator);
    v = star_v;
  }
  while (p < pattern.size() && pattern[p].kind == Piece::kAny) ++p;
  return p == pattern.size();
}

}  // namespace

bool Matches(std::string_view value, std::string_view key, MatchType match, Comparator comparator) {
  switch (match) {
    case MatchType::kIs:
      return Equal(value, key, comparator);
    case MatchType::kContains:
      return Contains(value, key, comparator);
    case MatchType::kMatches:
      return Glob(value, key, comparator);
  }
  return false;
}

}  // namespace kite::sieve
