#include "lib/sieve/lexer.h"

#include <cstdio>
#include <utility>

namespace kite::sieve {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  Lexer(std::string_view in, const Limits& limits, std::vector<Token>& out, CompileError& err)
      : in_(in), limits_(limits), out_(out), err_(err) {}

  bool Run() {
    while (true) {
      if (!SkipWhitespaceAndComments()) return false;
      if (pos_ >= in_.size()) break;
      if (out_.size() >= limits_.max_tokens) return Fail("script has too many tokens");
      Token t;
      t.line = line_;
      t.column = Column();
      char c = in_[pos_];
      if (IsAlpha(c)) {
        size_t start = pos_;
        while (pos_ < in_.size() && (IsAlpha(in_[pos_]) || IsDigit(in_[pos_]))) ++pos_;
        // Identifiers are case-insensitive (RFC 5228 section 9 writes "NOT", ":DOMAIN").
        std::string word(in_.substr(start, pos_ - start));
        for (char& ch : word) {
          if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
        }
        if (word == "text" && pos_ < in_.size() && in_[pos_] == ':') {
          ++pos_;
          t.kind = TokenKind::kString;
          if (!MultiLine(t)) return false;
        } else {
          t.kind = TokenKind::kIdentifier;
          t.text = std::move(word);
        }
      } else if (c == ':') {
        ++pos_;
        if (pos_ >= in_.size() || !IsAlpha(in_[pos_])) return Fail("\":\" must start a tag name");
        size_t start = pos_;
        while (pos_ < in_.size() && (IsAlpha(in_[pos_]) || IsDigit(in_[pos_]))) ++pos_;
        t.kind = TokenKind::kTag;
        t.text = std::string(in_.substr(start, pos_ - start));
        for (char& ch : t.text) {
          if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
        }
      } else if (IsDigit(c)) {
        t.kind = TokenKind::kNumber;
        if (!Number(t)) return false;
      } else if (c == '"') {
        ++pos_;
        t.kind = TokenKind::kString;
        if (!Quoted(t)) return false;
      } else {
        ++pos_;
        switch (c) {
          case '[':
            t.kind = TokenKind::kLeftBracket;
            break;
          case ']':
            t.kind = TokenKind::kRightBracket;
            break;
          case '{':
            t.kind = TokenKind::kLeftBrace;
            break;
          case '}':
            t.kind = TokenKind::kRightBrace;
            break;
          case '(':
            t.kind = TokenKind::kLeftParen;
            break;
          case ')':
            t.kind = TokenKind::kRightParen;
            break;
          case ',':
            t.kind = TokenKind::kComma;
            break;
          case ';':
            t.kind = TokenKind::kSemicolon;
            break;
          default:
            --pos_;
            return Fail("unexpected character \"" + Printable(in_.substr(pos_, 1)) + "\"");
        }
      }
      out_.push_back(std::move(t));
    }
    Token end;
    end.kind = TokenKind::kEnd;
    end.line = line_;
    end.column = Column();
    out_.push_back(std::move(end));
    return true;
  }

 private:
  int Column() const { return static_cast<int>(pos_ - line_start_) + 1; }

  bool Fail(std::string message) {
    err_.line = line_;
    err_.column = Column();
    err_.message = std::move(message);
    return false;
  }

  void NewLine() {
    ++line_;
    line_start_ = pos_;
  }

  bool SkipWhitespaceAndComments() {
    while (pos_ < in_.size()) {
      char c = in_[pos_];
      if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '\n') {
        ++pos_;
        NewLine();
      } else if (c == '#') {
        while (pos_ < in_.size() && in_[pos_] != '\n') ++pos_;
      } else if (c == '/' && pos_ + 1 < in_.size() && in_[pos_ + 1] == '*') {
        int line = line_;
        int column = Column();
        pos_ += 2;
        bool closed = false;
        while (pos_ < in_.size()) {
          if (in_[pos_] == '*' && pos_ + 1 < in_.size() && in_[pos_ + 1] == '/') {
            pos_ += 2;
            closed = true;
            break;
          }
          if (in_[pos_++] == '\n') NewLine();
        }
        if (!closed) {
          err_.line = line;
          err_.column = column;
          err_.message = "unterminated /* comment";
          return false;
        }
      } else {
        break;
      }
    }
    return true;
  }

  bool Number(Token& t) {
    uint64_t value = 0;
    while (pos_ < in_.size() && IsDigit(in_[pos_])) {
      uint64_t digit = static_cast<uint64_t>(in_[pos_] - '0');
      if (value > (UINT64_MAX - digit) / 10) return Fail("number too large");
      value = value * 10 + digit;
      ++pos_;
    }
    if (pos_ < in_.size()) {
      int shift = 0;
      switch (in_[pos_]) {
        case 'K':
        case 'k':
          shift = 10;
          break;
        case 'M':
        case 'm':
          shift = 20;
          break;
        case 'G':
        case 'g':
          shift = 30;
          break;
        default:
          break;
      }
      if (shift != 0) {
        ++pos_;
        if (value > (UINT64_MAX >> shift)) return Fail("number too large");
        value <<= shift;
      }
    }
    if (pos_ < in_.size() && (IsAlpha(in_[pos_]) || IsDigit(in_[pos_]))) {
      return Fail("invalid number");
    }
    t.number = value;
    return true;
  }

  bool Append(Token& t, char c) {
    if (t.text.size() >= limits_.max_string_length) {
      err_.line = t.line;
      err_.column = t.column;
      err_.message = "string longer than " + std::to_string(limits_.max_string_length) + " octets";
      return false;
    }
    t.text.push_back(c);
    return true;
  }

  bool Quoted(Token& t) {
    while (pos_ < in_.size()) {
      char c = in_[pos_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (pos_ >= in_.size()) break;
        c = in_[pos_++];  // \\ and \" are the defined escapes; others drop the backslash
      }
      if (c == '\n') NewLine();
      if (!Append(t, c)) return false;
    }
    err_.line = t.line;
    err_.column = t.column;
    err_.message = "unterminated quoted string";
    return false;
  }

  bool MultiLine(Token& t) {
    // text: *(SP / HTAB) (hash-comment / CRLF)
    while (pos_ < in_.size() && (in_[pos_] == ' ' || in_[pos_] == '\t')) ++pos_;
    if (pos_ < in_.size() && in_[pos_] == '#') {
      while (pos_ < in_.size() && in_[pos_] != '\n') ++pos_;
    }
    if (pos_ < in_.size() && in_[pos_] == '\r') ++pos_;
    if (pos_ >= in_.size() || in_[pos_] != '\n')
      return Fail("\"text:\" must be followed by a line break");
    ++pos_;
    NewLine();
    while (pos_ < in_.size()) {
      size_t eol = in_.find('\n', pos_);
      std::string_view line =
          in_.substr(pos_, eol == std::string_view::npos ? std::string_view::npos : eol - pos_);
      std::string_view content = line;
      if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
      if (content == ".") {
        pos_ = eol == std::string_view::npos ? in_.size() : eol + 1;
        if (eol != std::string_view::npos) NewLine();
        return true;
      }
      if (eol == std::string_view::npos) break;
      if (!content.empty() && content[0] == '.') content.remove_prefix(1);  // dot-stuffing
      for (char c : content) {
        if (!Append(t, c)) return false;
      }
      if (!Append(t, '\r') || !Append(t, '\n')) return false;
      pos_ = eol + 1;
      NewLine();
    }
    err_.line = t.line;
    err_.column = t.column;
    err_.message = "unterminated multi-line string (missing \".\" line)";
    return false;
  }

  std::string_view in_;
  const Limits& limits_;
  std::vector<Token>& out_;
  CompileError& err_;
  size_t pos_ = 0;
  size_t line_start_ = 0;
  int line_ = 1;
};

}  // namespace

bool Lex(std::string_view script, const Limits& limits, std::vector<Token>& tokens,
         CompileError& error) {
  tokens.clear();
  return Lexer(script, limits, tokens, error).Run();
}

std::string Printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (out.size() >= 64) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

const char* TokenKindName(TokenKind kind) {
  switch (kind) {
    case TokenKind::kIdentifier:
      return "identifier";
    case TokenKind::kTag:
      return "tag";
    case TokenKind::kNumber:
      return "number";
    case TokenKind::kString:
      return "string";
    case TokenKind::kLeftBracket:
      return "\"[\"";
    case TokenKind::kRightBracket:
      return "\"]\"";
    case TokenKind::kLeftBrace:
      return "\"{\"";
    case TokenKind::kRightBrace:
      return "\"}\"";
    case TokenKind::kLeftParen:
      return "\"(\"";
    case TokenKind::kRightParen:
      return "\")\"";
    case TokenKind::kComma:
      return "\",\"";
    case TokenKind::kSemicolon:
      return "\";\"";
    case TokenKind::kEnd:
      return "end of script";
  }
  return "token";
}

}  // namespace kite::sieve
