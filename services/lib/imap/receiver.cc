#include "lib/imap/receiver.h"

#include <algorithm>
#include <utility>

#include "lib/base/ascii.h"

namespace kite::imap {
namespace internal = ::kite::ascii;

namespace {

constexpr size_t kMaxTag = 256;
constexpr size_t kMaxName = 64;
constexpr size_t kTailKeep = 32;  // enough for "~{18446744073709551615+}"

bool IsCtl(unsigned char c) { return c < 0x20 || c == 0x7F; }

// Lenient ATOM-CHAR: anything printable except the specials that start or end other tokens.
// '%', '*', '\\' and ']' are allowed (list wildcards, sequence sets, flags, astrings), as are
// 8-bit bytes (UTF-8 mailbox names sent unquoted by some clients).
bool IsAtomChar(unsigned char c) {
  return c > 0x20 && c != 0x7F && c != '(' && c != ')' && c != '{' && c != '"';
}

// tag = 1*<any ASTRING-CHAR except "+">.
bool IsTagChar(unsigned char c) {
  return c > 0x20 && c < 0x7F && c != '(' && c != ')' && c != '{' && c != '"' && c != '%' &&
         c != '*' && c != '\\' && c != '+';
}

bool IsSectionName(std::string_view name) {
  return internal::EqualsIgnoreCase(name, "BODY") ||
         internal::EqualsIgnoreCase(name, "BODY.PEEK") ||
         internal::EqualsIgnoreCase(name, "BINARY") ||
         internal::EqualsIgnoreCase(name, "BINARY.PEEK") ||
         internal::EqualsIgnoreCase(name, "BINARY.SIZE");
}

// The tag at the start of a line that could not be parsed, when it is recognisable.
std::string TagOf(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && i <= kMaxTag && IsTagChar(line[i])) ++i;
  if (i == 0 || i > kMaxTag || i >= line.size() || line[i] != ' ') return "";
  return std::string(line.substr(0, i));
}

// Recognises "{N}", "{N+}", "~{N}" or "~{N+}" at the end of a line.
bool TrailingLiteral(std::string_view line, uint64_t& size, bool& sync) {
  if (line.empty() || line.back() != '}') return false;
  line.remove_suffix(1);
  sync = true;
  if (!line.empty() && line.back() == '+') {
    sync = false;
    line.remove_suffix(1);
  }
  size_t digits = 0;
  while (digits < line.size() && line[line.size() - 1 - digits] >= '0' &&
         line[line.size() - 1 - digits] <= '9') {
    ++digits;
  }
  if (digits == 0 || digits > 20 || digits == line.size() ||
      line[line.size() - 1 - digits] != '{') {
    return false;
  }
  uint64_t v = 0;
  for (char c : line.substr(line.size() - digits)) {
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) {
      v = UINT64_MAX;  // treated as over any limit
      break;
    }
    v = v * 10 + d;
  }
  size = v;
  return true;
}

}  // namespace

Receiver::Receiver(Limits limits) : limits_(limits) { ResetCommand(); }

void Receiver::Feed(std::string_view bytes) {
  if (state_ == State::kFatal) return;
  buffer_.append(bytes);
}

void Receiver::ResetCommand() {
  started_ = false;
  command_ = Command();
  stack_.clear();
  stack_.emplace_back();
  stack_.back().kind = Token::kList;
  need_separator_ = false;
  tokens_ = 0;
  command_bytes_ = 0;
  line_error_.clear();
  literal_size_ = 0;
  literal_.clear();
}

void Receiver::Compact() {
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
    scan_ = 0;
  } else if (pos_ > 64 * 1024 && pos_ > buffer_.size() / 2) {
    buffer_.erase(0, pos_);
    scan_ -= pos_;
    pos_ = 0;
  }
}

Receiver::Event Receiver::Error(std::string tag, std::string message) {
  Event e;
  e.kind = Event::kError;
  e.tag = std::move(tag);
  e.error = std::move(message);
  return e;
}

Receiver::Event Receiver::Fatal(std::string tag, std::string message) {
  state_ = State::kFatal;
  fatal_tag_ = std::move(tag);
  fatal_error_ = std::move(message);
  std::string().swap(buffer_);
  pos_ = scan_ = 0;
  Event e = Error(fatal_tag_, fatal_error_);
  e.fatal = true;
  return e;
}

Receiver::Event Receiver::SkipAfterBadLine(std::string_view line, Event error) {
  ResetCommand();
  uint64_t size;
  bool sync;
  state_ = State::kLine;
  if (TrailingLiteral(line, size, sync) && !sync) {
    // The client sends these bytes without waiting: they must be skipped, or they would be
    // read as commands. Too many to skip means there is no telling where they end.
    if (size > limits_.max_literal) {
      return Fatal(error.tag, "[TOOBIG] Non-synchronizing literal too big");
    }
    skip_remaining_ = size;
    state_ = State::kSkipLiteral;
  }
  return error;
}

bool Receiver::SetError(std::string message) {
  line_error_ = std::move(message);
  return false;
}

bool Receiver::AddToken(Token token) {
  if (++tokens_ > limits_.max_tokens) return SetError("Too many arguments");
  stack_.back().children.push_back(std::move(token));
  need_separator_ = true;
  return true;
}

bool Receiver::ParseTagAndName(std::string_view line, size_t& i) {
  while (i < line.size() && IsTagChar(line[i])) ++i;
  if (i == 0 || i > kMaxTag) return SetError("Invalid tag");
  command_.tag = std::string(line.substr(0, i));
  if (i == line.size()) return SetError("Missing command");
  if (line[i] != ' ') return SetError("Invalid tag");
  ++i;
  for (int word = 0; word < 2; ++word) {
    size_t start = i;
    while (i < line.size() && IsAtomChar(line[i])) ++i;
    if (i == start) return SetError("Missing command");
    if (i - start > kMaxName) return SetError("Unknown command");
    if (i < line.size() && line[i] != ' ') return SetError("Invalid command name");
    std::string name = internal::ToUpper(line.substr(start, i - start));
    if (word == 0 && name == "UID") {
      command_.uid = true;
      if (i == line.size()) return SetError("Missing command after UID");
      ++i;
      continue;
    }
    command_.name = std::move(name);
    break;
  }
  started_ = true;
  return true;
}

bool Receiver::ParseQuoted(std::string_view line, size_t& i, std::string& out) {
  ++i;  // opening quote
  while (i < line.size()) {
    char c = line[i];
    if (c == '"') {
      ++i;
      return true;
    }
    if (c == '\\') {
      if (i + 1 >= line.size() || (line[i + 1] != '"' && line[i + 1] != '\\')) {
        return SetError("Invalid escape in quoted string");
      }
      out.push_back(line[i + 1]);
      i += 2;
      continue;
    }
    if (c == '\r' || c == '\0') return SetError("Invalid character in quoted string");
    out.push_back(c);
    ++i;
  }
  return SetError("Unterminated quoted string");
}

bool Receiver::ParseAtomOrSection(std::string_view line, size_t& i) {
  size_t start = i;
  bool section = false;
  while (i < line.size()) {
    unsigned char c = line[i];
    if (c == '[' && !section && IsSectionName(line.substr(start, i - start))) {
      // BODY[HEADER.FIELDS (From "X-Spam")]: spaces, parentheses and quoted strings allowed.
      section = true;
      ++i;
      bool quoted = false;
      bool closed = false;
      while (i < line.size()) {
        unsigned char s = line[i];
        if (s == '\0' || s == '\r') return SetError("Invalid character in section");
        if (quoted) {
          if (s == '\\') {
            if (i + 1 >= line.size()) break;
            ++i;
          } else if (s == '"') {
            quoted = false;
          }
        } else if (s == '"') {
          quoted = true;
        } else if (s == '{') {
          return SetError("Literal in section not supported");
        } else if (s == '[') {
          return SetError("Invalid section");
        } else if (s == ']') {
          closed = true;
          ++i;
          break;
        } else if (IsCtl(s)) {
          return SetError("Invalid character in section");
        }
        ++i;
      }
      if (!closed) return SetError("Unterminated section");
      continue;
    }
    if (!IsAtomChar(c)) break;
    ++i;
  }
  if (i == start) return SetError("Invalid character");
  Token token;
  token.value = std::string(line.substr(start, i - start));
  if (section) {
    token.kind = Token::kSection;
  } else if (internal::EqualsIgnoreCase(token.value, "NIL")) {
    token.kind = Token::kNil;
  } else {
    token.kind = Token::kAtom;
  }
  return AddToken(std::move(token));
}

bool Receiver::ParseLiteralSpec(std::string_view line, size_t& i) {
  std::string_view rest = line.substr(i);
  uint64_t size;
  bool sync;
  if (!TrailingLiteral(rest, size, sync)) return SetError("Invalid literal");
  // TrailingLiteral matched a suffix; it must also start exactly here.
  bool binary = rest.front() == '~';
  if (rest[binary ? 1 : 0] != '{') return SetError("Invalid literal");
  size_t digits_len = rest.size() - (binary ? 2 : 1) - (sync ? 1 : 2);
  if (digits_len == 0 || rest.substr(binary ? 2 : 1, digits_len).find_first_not_of("0123456789") !=
                             std::string_view::npos) {
    return SetError("Invalid literal");
  }
  literal_size_ = size;
  literal_sync_ = sync;
  literal_binary_ = binary;
  i = line.size();
  return true;
}

Receiver::LineResult Receiver::ParseLine(std::string_view line) {
  size_t i = 0;
  if (!started_ && !ParseTagAndName(line, i)) return LineResult::kError;
  while (i < line.size()) {
    unsigned char c = line[i];
    if (c == ' ') {
      need_separator_ = false;
      ++i;
      continue;
    }
    if (IsCtl(c)) {
      SetError("Invalid character");
      return LineResult::kError;
    }
    if (c == ')') {
      if (stack_.size() <= 1) {
        SetError("Unexpected )");
        return LineResult::kError;
      }
      Token list = std::move(stack_.back());
      stack_.pop_back();
      stack_.back().children.push_back(std::move(list));
      need_separator_ = true;
      ++i;
      continue;
    }
    if (need_separator_) {
      SetError("Missing space between arguments");
      return LineResult::kError;
    }
    bool ok = true;
    if (c == '(') {
      if (stack_.size() > limits_.max_depth) {
        SetError("Lists nested too deeply");
        return LineResult::kError;
      }
      if (++tokens_ > limits_.max_tokens) {
        SetError("Too many arguments");
        return LineResult::kError;
      }
      stack_.emplace_back();
      stack_.back().kind = Token::kList;
      ++i;
    } else if (c == '"') {
      Token token;
      token.kind = Token::kQuoted;
      ok = ParseQuoted(line, i, token.value) && AddToken(std::move(token));
    } else if (c == '{' || (c == '~' && i + 1 < line.size() && line[i + 1] == '{')) {
      if (!ParseLiteralSpec(line, i)) return LineResult::kError;
      if (++tokens_ > limits_.max_tokens) {
        SetError("Too many arguments");
        return LineResult::kError;
      }
      return LineResult::kLiteral;
    } else {
      ok = ParseAtomOrSection(line, i);
    }
    if (!ok) return LineResult::kError;
  }
  return LineResult::kComplete;
}

Receiver::Event Receiver::Next() {
  for (;;) {
    switch (state_) {
      case State::kFatal: {
        Event e = Error(fatal_tag_, fatal_error_);
        e.fatal = true;
        return e;
      }

      case State::kSkipLiteral: {
        size_t take =
            static_cast<size_t>(std::min<uint64_t>(skip_remaining_, buffer_.size() - pos_));
        pos_ += take;
        scan_ = pos_;
        skip_remaining_ -= take;
        Compact();
        if (skip_remaining_ > 0) return Event{};
        state_ = State::kSkipLine;
        skip_tail_.clear();
        continue;
      }

      case State::kSkipLine: {
        size_t lf = buffer_.find('\n', pos_);
        size_t end = lf == std::string::npos ? buffer_.size() : lf;
        std::string_view chunk(buffer_.data() + pos_, end - pos_);
        if (chunk.size() >= kTailKeep) {
          skip_tail_ = std::string(chunk.substr(chunk.size() - kTailKeep));
        } else {
          skip_tail_.append(chunk);
          if (skip_tail_.size() > kTailKeep) skip_tail_.erase(0, skip_tail_.size() - kTailKeep);
        }
        pos_ = lf == std::string::npos ? end : lf + 1;
        scan_ = pos_;
        Compact();
        if (lf == std::string::npos) return Event{};
        if (!skip_tail_.empty() && skip_tail_.back() == '\r') skip_tail_.pop_back();
        uint64_t size;
        bool sync;
        state_ = State::kLine;
        if (TrailingLiteral(skip_tail_, size, sync) && !sync) {
          if (size > limits_.max_literal) {
            return Fatal("", "[TOOBIG] Non-synchronizing literal too big");
          }
          skip_remaining_ = size;
          state_ = State::kSkipLiteral;
        }
        continue;
      }

      case State::kLiteral: {
        size_t take = static_cast<size_t>(
            std::min<uint64_t>(literal_size_ - literal_.size(), buffer_.size() - pos_));
        literal_.append(buffer_, pos_, take);
        pos_ += take;
        scan_ = pos_;
        Compact();
        if (literal_.size() < literal_size_) return Event{};
        Token token;
        token.kind = Token::kLiteral;
        token.value = std::move(literal_);
        token.binary = literal_binary_;
        literal_.clear();
        stack_.back().children.push_back(std::move(token));  // counted when announced
        need_separator_ = true;
        state_ = State::kLine;
        continue;
      }

      case State::kLine: {
        size_t lf = buffer_.find('\n', scan_);
        if (lf == std::string::npos) {
          scan_ = buffer_.size();
          // +1: the CR of a line of exactly max_line octets may already be here.
          if (buffer_.size() - pos_ > limits_.max_line + 1) {
            // Only the first max_line + 1 bytes, so the tag found does not depend on how
            // much of the line has arrived.
            std::string_view partial(buffer_.data() + pos_, limits_.max_line + 1);
            std::string tag = started_ ? command_.tag : expect_line_ ? "" : TagOf(partial);
            expect_line_ = false;
            ResetCommand();
            state_ = State::kSkipLine;
            skip_tail_.clear();
            return Error(std::move(tag), "Line too long");
          }
          return Event{};
        }
        std::string_view line(buffer_.data() + pos_, lf - pos_);
        size_t consumed = lf + 1 - pos_;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > limits_.max_line) {
          std::string tag = started_       ? command_.tag
                            : expect_line_ ? ""
                                           : TagOf(line.substr(0, limits_.max_line + 1));
          expect_line_ = false;
          ResetCommand();
          state_ = State::kSkipLine;  // consumes this very line, then looks at its end
          skip_tail_.clear();
          return Error(std::move(tag), "Line too long");
        }
        pos_ = lf + 1;
        scan_ = pos_;

        if (expect_line_) {
          expect_line_ = false;
          Event e;
          e.kind = Event::kLine;
          e.line = std::string(line);
          Compact();
          return e;
        }
        if (!started_ && line.empty()) {  // stray CRLF between commands
          Compact();
          continue;
        }
        command_bytes_ += consumed;
        if (command_bytes_ > limits_.max_command) {
          std::string tag = started_ ? command_.tag : TagOf(line);
          Event e = SkipAfterBadLine(line, Error(std::move(tag), "Command too long"));
          Compact();
          return e;
        }
        LineResult result = ParseLine(line);
        if (result == LineResult::kError) {
          Event e = SkipAfterBadLine(line, Error(command_.tag, line_error_));
          Compact();
          return e;
        }
        if (result == LineResult::kLiteral) {
          if (literal_size_ > limits_.max_literal ||
              literal_size_ > limits_.max_command - std::min(limits_.max_command, command_bytes_)) {
            // A synchronizing literal is refused before the client sends it; a
            // non-synchronizing one is skipped if it can be, else fatal.
            Event e = SkipAfterBadLine(line, Error(command_.tag, "[TOOBIG] Literal too big"));
            Compact();
            return e;
          }
          command_bytes_ += literal_size_;
          literal_.clear();
          state_ = State::kLiteral;
          Compact();
          if (literal_sync_) {
            Event e;
            e.kind = Event::kContinuationNeeded;
            e.tag = command_.tag;
            return e;
          }
          continue;
        }
        if (stack_.size() != 1) {
          Event e = SkipAfterBadLine(line, Error(command_.tag, "Unclosed list"));
          Compact();
          return e;
        }
        Event e;
        e.kind = Event::kCommand;
        e.command = std::move(command_);
        e.command.args = std::move(stack_[0].children);
        ResetCommand();
        Compact();
        return e;
      }
    }
  }
}

}  // namespace kite::imap
