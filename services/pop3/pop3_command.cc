#include "pop3/pop3_command.h"

#include <vector>

#include "absl/status/status.h"
#include "lib/base/ascii.h"

namespace kite::pop3 {
namespace {

struct VerbInfo {
  const char* name;
  Verb verb;
};
constexpr VerbInfo kVerbs[] = {
    {"USER", Verb::kUser}, {"PASS", Verb::kPass}, {"APOP", Verb::kApop}, {"AUTH", Verb::kAuth},
    {"CAPA", Verb::kCapa}, {"STLS", Verb::kStls}, {"STAT", Verb::kStat}, {"LIST", Verb::kList},
    {"RETR", Verb::kRetr}, {"DELE", Verb::kDele}, {"RSET", Verb::kRset}, {"TOP", Verb::kTop},
    {"UIDL", Verb::kUidl}, {"NOOP", Verb::kNoop}, {"QUIT", Verb::kQuit},
};

// RFC 2449 section 4: arguments are at most 40 octets. User names are addresses: longer.
constexpr size_t kMaxArgument = 40;
constexpr size_t kMaxUserName = 255;

absl::Status Syntax(const char* usage) { return absl::InvalidArgumentError(usage); }

bool IsDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// 1*DIGIT, saturating at UINT32_MAX (a message number that large names no message anyway).
std::optional<uint32_t> Number(std::string_view s) {
  if (!IsDigits(s) || s.size() > kMaxArgument) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > UINT32_MAX) v = UINT32_MAX;
  }
  return static_cast<uint32_t>(v);
}

// Calls fn(line) for each line of `message` without its ending (CRLF, LF or a bare CR); a
// final line without an ending counts. Stops when fn returns false.
template <typename Fn>
void ForEachLine(std::string_view message, Fn fn) {
  size_t start = 0;
  size_t i = 0;
  while (i < message.size()) {
    char c = message[i];
    if (c == '\r' || c == '\n') {
      if (!fn(message.substr(start, i - start))) return;
      i += (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n') ? 2 : 1;
      start = i;
    } else {
      ++i;
    }
  }
  if (start < message.size()) fn(message.substr(start));
}

void AppendStuffed(std::string& out, std::string_view line) {
  if (!line.empty() && line[0] == '.') out += '.';
  out.append(line);
  out += "\r\n";
}

}  // namespace

void LineReader::Feed(std::string_view bytes) {
  if (fatal_) return;
  if (pos_ > 0 && pos_ >= buffer_.size() / 2) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  buffer_.append(bytes);
}

LineReader::Event LineReader::Next() {
  Event ev;
  if (fatal_) return ev;
  if (skipping_) {
    size_t lf = buffer_.find('\n', pos_);
    size_t dropped = (lf == std::string::npos ? buffer_.size() : lf) - pos_;
    skipped_ += dropped;
    if (skipped_ > limits_.max_skip) {
      fatal_ = true;
      buffer_.clear();
      pos_ = 0;
      ev.kind = Event::kFatal;
      return ev;
    }
    if (lf == std::string::npos) {
      buffer_.clear();
      pos_ = 0;
      return ev;
    }
    pos_ = lf + 1;
    skipping_ = false;
    skipped_ = 0;
  }
  // A line with its LF is at most max_line octets: its LF is among the next max_line octets.
  size_t window = std::min(buffer_.size() - pos_, limits_.max_line);
  std::string_view head(buffer_.data() + pos_, window);
  size_t lf = head.find('\n');
  if (lf == std::string_view::npos) {
    if (window < limits_.max_line) return ev;
    pos_ += window;
    skipping_ = true;
    skipped_ = 0;
    ev.kind = Event::kTooLong;
    return ev;
  }
  std::string_view line = head.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  ev.kind = Event::kLine;
  ev.line = std::string(line);
  pos_ += lf + 1;
  return ev;
}

const char* VerbName(Verb verb) {
  for (const auto& v : kVerbs) {
    if (v.verb == verb) return v.name;
  }
  return "?";
}

absl::StatusOr<Command> ParseCommand(std::string_view line, const Limits& limits) {
  for (char c : line) {
    // No control characters but TAB in a command; bytes >= 0x80 may be in a password.
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F) {
      return Syntax("Invalid characters in command");
    }
  }
  size_t sp = line.find(' ');
  std::string_view keyword = line.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  if (keyword.empty()) return Syntax("Empty command");
  Command cmd;
  bool known = false;
  for (const auto& v : kVerbs) {
    if (ascii::EqualsIgnoreCase(keyword, v.name)) {
      cmd.verb = v.verb;
      cmd.name = v.name;
      known = true;
    }
  }
  if (!known) return Syntax("Unknown command");
  if (cmd.verb != Verb::kAuth && line.size() + 2 > limits.max_command) return Syntax("Command line too long");

  if (cmd.verb == Verb::kPass) {
    // RFC 1939 section 7: the one argument may hold spaces; it is taken as sent.
    if (sp == std::string_view::npos || rest.empty()) return Syntax("Syntax: PASS password");
    cmd.text = std::string(rest);
    return cmd;
  }
  if (cmd.verb == Verb::kUser) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
    if (rest.empty() || rest.size() > kMaxUserName) return Syntax("Syntax: USER name");
    cmd.text = std::string(rest);
    return cmd;
  }

  // Every other command: arguments separated by spaces (runs of spaces tolerated).
  std::vector<std::string_view> args = ascii::Split(rest, ' ', true);
  for (std::string_view a : args) {
    if (a.size() > kMaxArgument && cmd.verb != Verb::kAuth) return Syntax("Argument too long");
  }
  switch (cmd.verb) {
    case Verb::kCapa:
    case Verb::kStls:
    case Verb::kStat:
    case Verb::kRset:
    case Verb::kNoop:
    case Verb::kQuit:
      if (!args.empty()) return absl::InvalidArgumentError("Syntax: " + cmd.name + " takes no arguments");
      return cmd;
    case Verb::kList:
    case Verb::kUidl:
      if (args.size() > 1) return absl::InvalidArgumentError("Syntax: " + cmd.name + " [message]");
      if (args.size() == 1) {
        auto n = Number(args[0]);
        if (!n || *n == 0) return Syntax("Invalid message number");
        cmd.msg = *n;
      }
      return cmd;
    case Verb::kRetr:
    case Verb::kDele: {
      if (args.size() != 1) return absl::InvalidArgumentError("Syntax: " + cmd.name + " message");
      auto n = Number(args[0]);
      if (!n || *n == 0) return Syntax("Invalid message number");
      cmd.msg = *n;
      return cmd;
    }
    case Verb::kTop: {
      if (args.size() != 2) return Syntax("Syntax: TOP message lines");
      auto n = Number(args[0]);
      if (!n || *n == 0) return Syntax("Invalid message number");
      auto lines = Number(args[1]);
      if (!lines) return Syntax("Invalid number of lines");
      cmd.msg = *n;
      cmd.lines = *lines;
      return cmd;
    }
    case Verb::kAuth: {
      if (args.size() > 2) return Syntax("Syntax: AUTH mechanism [initial-response]");
      if (!args.empty()) {
        if (args[0].size() > 20) return Syntax("Invalid mechanism name");
        for (char c : args[0]) {
          bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_';
          if (!ok) return Syntax("Invalid mechanism name");
        }
        cmd.mechanism = ascii::ToUpper(args[0]);
      }
      if (args.size() == 2) {
        if (args[1].size() + 16 > limits.max_line) return Syntax("Initial response too long");
        cmd.initial_response = std::string(args[1]);
      } else if (line.size() + 2 > limits.max_command) {
        return Syntax("Command line too long");
      }
      return cmd;
    }
    case Verb::kApop:
      cmd.text = std::string(rest);
      return cmd;
    case Verb::kUser:
    case Verb::kPass:
      break;
  }
  return cmd;
}

size_t OctetSize(std::string_view message) {
  size_t n = 0;
  ForEachLine(message, [&](std::string_view line) {
    n += line.size() + 2;
    return true;
  });
  return n;
}

std::string EncodeMultiline(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 8);
  ForEachLine(message, [&](std::string_view line) {
    AppendStuffed(out, line);
    return true;
  });
  out += ".\r\n";
  return out;
}

std::string EncodeTop(std::string_view message, uint32_t lines) {
  std::string out;
  bool in_header = true;
  uint32_t body_lines = 0;
  ForEachLine(message, [&](std::string_view line) {
    if (in_header) {
      AppendStuffed(out, line);
      if (line.empty()) in_header = false;
      return true;
    }
    if (body_lines >= lines) return false;
    AppendStuffed(out, line);
    ++body_lines;
    return true;
  });
  out += ".\r\n";
  return out;
}

}  // namespace kite::pop3
