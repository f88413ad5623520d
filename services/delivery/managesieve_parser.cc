#include "delivery/managesieve_parser.h"

#include <algorithm>

namespace kite::managesieve {
namespace {

constexpr size_t kMaxCommandName = 32;
constexpr size_t kTailSize = 32;  // enough for "{4294967295+}" and a CR

bool IsAlpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "{N}" or "{N+}" at the very end of `line` (CR already removed): N, else nullopt.
std::optional<uint64_t> TrailingLiteral(std::string_view line) {
  if (line.empty() || line.back() != '}') return std::nullopt;
  line.remove_suffix(1);
  if (!line.empty() && line.back() == '+') line.remove_suffix(1);
  size_t digits = 0;
  while (digits < line.size() && IsDigit(line[line.size() - 1 - digits])) ++digits;
  if (digits == 0 || digits > 10 || digits == line.size() ||
      line[line.size() - 1 - digits] != '{') {
    return std::nullopt;
  }
  uint64_t n = 0;
  for (char c : line.substr(line.size() - digits)) n = n * 10 + static_cast<uint64_t>(c - '0');
  return n;
}

// Exactly "{N}" or "{N+}" (the whole of `s`): N, else nullopt.
std::optional<uint64_t> LiteralSpec(std::string_view s) {
  if (s.empty() || s[0] != '{') return std::nullopt;
  size_t j = 1;
  uint64_t n = 0;
  while (j < s.size() && IsDigit(s[j]) && j <= 10) n = n * 10 + static_cast<uint64_t>(s[j++] - '0');
  if (j == 1 || j > 11) return std::nullopt;
  if (j < s.size() && s[j] == '+') ++j;
  if (j + 1 != s.size() || s[j] != '}') return std::nullopt;
  return n;
}

}  // namespace

std::optional<uint32_t> Argument::Number() const {
  if (kind != kAtom || value.empty() || value.size() > 10) return std::nullopt;
  uint64_t n = 0;
  for (char c : value) {
    if (!IsDigit(c)) return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (n > 4294967295ULL) return std::nullopt;
  return static_cast<uint32_t>(n);
}

Parser::Parser(Limits limits) : limits_(limits) {}

void Parser::Feed(std::string_view bytes) {
  if (state_ == State::kFatal) return;
  buffer_.append(bytes.data(), bytes.size());
}

void Parser::Compact() {
  if (pos_ == 0) return;
  buffer_.erase(0, pos_);
  pos_ = 0;
}

void Parser::ResetCommand() {
  command_ = Command{};
  started_ = false;
  expect_response_ = false;
  command_size_ = 0;
  literal_remaining_ = 0;
  error_.clear();
  error_name_.clear();
  error_too_big_ = false;
  skipped_ = 0;
  skip_tail_.clear();
}

Parser::Event Parser::Fatal(std::string message) {
  Event e;
  e.kind = Event::kError;
  e.name = error_name_.empty() ? command_.name : error_name_;
  e.error = std::move(message);
  e.fatal = true;
  e.too_big = true;
  state_ = State::kFatal;
  buffer_.clear();
  pos_ = 0;
  return e;
}

Parser::Event Parser::TakeError() {
  Event e;
  e.kind = Event::kError;
  e.name = error_name_;
  e.error = error_;
  e.too_big = error_too_big_;
  ResetCommand();
  state_ = State::kLine;
  return e;
}

// After a bad line: when it announced a literal, those octets are on their way and are
// skipped first (then the line that follows them, which continues the command); otherwise the
// command ends here and the error is reported.
std::optional<Parser::Event> Parser::StartSkipping(std::string_view line_tail) {
  if (!line_tail.empty() && line_tail.back() == '\r') line_tail.remove_suffix(1);
  std::optional<uint64_t> n = TrailingLiteral(line_tail);
  if (!n) return TakeError();
  if (*n > limits_.max_skip || skipped_ + *n > limits_.max_skip) return Fatal("literal too large");
  literal_remaining_ = static_cast<size_t>(*n);
  state_ = State::kSkipLiteral;
  return std::nullopt;
}

void Parser::SetError(std::string message, bool too_big) {
  if (!error_.empty()) return;  // the first reason wins
  error_ = std::move(message);
  error_name_ = command_.name;
  error_too_big_ = too_big;
}

Parser::LineResult Parser::ParseLine(std::string_view line) {
  size_t i = 0;
  bool need_space = true;
  if (!started_) {
    started_ = true;
    if (expect_response_) {
      need_space = false;
    } else {
      while (i < line.size() && IsAlpha(line[i])) ++i;
      if (i == 0 || i > kMaxCommandName || (i < line.size() && line[i] != ' ')) {
        SetError("invalid command name", false);
        return LineResult::kError;
      }
      command_.name.reserve(i);
      for (size_t k = 0; k < i; ++k) {
        char c = line[k];
        command_.name += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
      }
    }
  } else if (!line.empty() && line[0] != ' ') {
    SetError("expected a space or the end of the line after a literal", false);
    return LineResult::kError;
  }
  for (;;) {
    size_t before = i;
    while (i < line.size() && line[i] == ' ') ++i;
    if (i == line.size()) return LineResult::kComplete;
    if (i == before && need_space) {
      SetError("expected a space between arguments", false);
      return LineResult::kError;
    }
    need_space = true;
    if (command_.args.size() >= limits_.max_args) {
      SetError("too many arguments", false);
      return LineResult::kError;
    }
    char c = line[i];
    if (c == '"') {
      Argument arg{Argument::kQuoted, {}};
      ++i;
      bool closed = false;
      while (i < line.size()) {
        char q = line[i++];
        if (q == '"') {
          closed = true;
          break;
        }
        if (q == '\\') {
          if (i == line.size() || (line[i] != '"' && line[i] != '\\')) {
            SetError("invalid escape in a quoted string", false);
            return LineResult::kError;
          }
          q = line[i++];
        } else if (q == '\0' || q == '\r') {
          SetError("invalid character in a quoted string", false);
          return LineResult::kError;
        }
        if (arg.value.size() >= limits_.max_quoted) {
          SetError("quoted string too long", true);
          return LineResult::kError;
        }
        arg.value += q;
      }
      if (!closed) {
        SetError("unterminated quoted string", false);
        return LineResult::kError;
      }
      command_.args.push_back(std::move(arg));
    } else if (c == '{') {
      std::optional<uint64_t> n = LiteralSpec(line.substr(i));
      if (!n) {
        SetError(line.back() == '}' ? "invalid literal" : "a literal must end the line", false);
        return LineResult::kError;
      }
      if (*n > limits_.max_literal || command_size_ + *n > limits_.max_command) {
        SetError("literal too large", true);
        return LineResult::kError;
      }
      command_.args.push_back(Argument{Argument::kLiteral, {}});
      literal_remaining_ = static_cast<size_t>(*n);
      command_size_ += literal_remaining_;
      return LineResult::kLiteral;
    } else {
      Argument arg{Argument::kAtom, {}};
      while (i < line.size() && line[i] != ' ') {
        auto a = static_cast<unsigned char>(line[i]);
        if (a <= 0x20 || a >= 0x7F || a == '"') {
          SetError("invalid character in an atom", false);
          return LineResult::kError;
        }
        if (arg.value.size() >= limits_.max_quoted) {
          SetError("atom too long", true);
          return LineResult::kError;
        }
        arg.value += line[i++];
      }
      command_.args.push_back(std::move(arg));
    }
  }
}

Parser::Event Parser::Next() {
  for (;;) {
    switch (state_) {
      case State::kFatal:
        return Event{};

      case State::kLiteral: {
        size_t n = std::min(buffered(), literal_remaining_);
        command_.args.back().value.append(buffer_, pos_, n);
        pos_ += n;
        literal_remaining_ -= n;
        if (literal_remaining_ > 0) {
          Compact();
          return Event{};
        }
        state_ = State::kLine;
        continue;
      }

      case State::kSkipLiteral: {
        size_t n = std::min(buffered(), literal_remaining_);
        pos_ += n;
        literal_remaining_ -= n;
        skipped_ += n;
        if (literal_remaining_ > 0) {
          Compact();
          return Event{};
        }
        state_ = State::kSkipLine;
        skip_tail_.clear();
        continue;
      }

      case State::kSkipLine: {
        size_t lf = buffer_.find('\n', pos_);
        size_t end = lf == std::string::npos ? buffer_.size() : lf;
        std::string_view part(buffer_.data() + pos_, end - pos_);
        skipped_ += part.size() + (lf == std::string::npos ? 0 : 1);
        skip_tail_.append(part.substr(part.size() > kTailSize ? part.size() - kTailSize : 0));
        if (skip_tail_.size() > kTailSize) skip_tail_.erase(0, skip_tail_.size() - kTailSize);
        pos_ = lf == std::string::npos ? end : lf + 1;
        if (skipped_ > limits_.max_skip) return Fatal("command too long");
        if (lf == std::string::npos) {
          Compact();
          return Event{};
        }
        std::string tail = std::move(skip_tail_);
        skip_tail_.clear();
        if (std::optional<Event> e = StartSkipping(tail)) return *e;
        continue;
      }

      case State::kLine: {
        size_t lf = buffer_.find('\n', pos_);
        if (lf == std::string::npos) {
          if (buffered() > limits_.max_line + 1) {  // + 1: a CR may still be followed by LF
            SetError("line too long", true);
            state_ = State::kSkipLine;
            skip_tail_.clear();
            continue;
          }
          Compact();
          return Event{};
        }
        std::string_view raw(buffer_.data() + pos_,
                             lf - pos_);  // StartSkipping removes the CR itself
        std::string_view line = raw;
        pos_ = lf + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!started_ && !expect_response_ && line.empty())
          continue;  // blank lines between commands
        if (line.size() > limits_.max_line) {
          SetError("line too long", true);
          skipped_ += raw.size() + 1;
          if (skipped_ > limits_.max_skip) return Fatal("command too long");
          if (std::optional<Event> e = StartSkipping(raw)) return *e;
          continue;
        }
        command_size_ += line.size() + 2;
        LineResult r = command_size_ > limits_.max_command ? LineResult::kError : ParseLine(line);
        if (command_size_ > limits_.max_command) SetError("command too long", true);
        if (r == LineResult::kComplete) {
          Event e;
          e.kind = Event::kCommand;
          e.command = std::move(command_);
          ResetCommand();
          return e;
        }
        if (r == LineResult::kLiteral) {
          state_ = State::kLiteral;
          continue;
        }
        if (std::optional<Event> e = StartSkipping(raw)) return *e;
        continue;
      }
    }
  }
}

std::string EncodeString(std::string_view s) {
  bool quotable = s.size() <= 1024;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      quotable = false;
      break;
    }
  }
  if (!quotable) {
    std::string out = "{" + std::to_string(s.size()) + "}\r\n";
    out.append(s.data(), s.size());
    return out;
  }
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace kite::managesieve
