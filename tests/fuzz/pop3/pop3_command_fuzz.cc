// libFuzzer target: the POP3 line reader and command parser (kite::pop3::LineReader,
// ParseCommand) and the RETR/TOP encoders. The first byte picks small limits and a chunk
// size. Invariants: no crash; the events are the same however the stream is chunked; no line
// exceeds max_line; a parsed command respects the limits; error messages never carry client
// bytes; encoded output ends in ".\r\n", has only CRLF line endings and no unstuffed "."
// line, and un-stuffs to OctetSize octets.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pop3/pop3_command.h"

namespace {

using kite::pop3::Command;
using kite::pop3::LineReader;
using kite::pop3::Limits;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

std::string Run(std::string_view input, const Limits& limits, size_t chunk) {
  LineReader reader(limits);
  std::string trace;
  for (size_t pos = 0; pos < input.size(); pos += chunk) {
    reader.Feed(input.substr(pos, chunk));
    for (;;) {
      LineReader::Event e = reader.Next();
      if (e.kind == LineReader::Event::kNeedMore) break;
      trace += std::to_string(static_cast<int>(e.kind));
      if (e.kind == LineReader::Event::kLine) {
        Check(e.line.size() + 1 <= limits.max_line);
        Check(e.line.find('\n') == std::string::npos);
        auto cmd = kite::pop3::ParseCommand(e.line, limits);
        if (cmd.ok()) {
          trace += cmd->name + std::to_string(cmd->msg) + ":" + std::to_string(cmd->lines) + cmd->text +
                   cmd->mechanism + (cmd->initial_response ? *cmd->initial_response : "");
          if (cmd->name != "AUTH") Check(e.line.size() + 2 <= limits.max_command);
        } else {
          // The reason is one of the parser's fixed texts: short, printable, no line break.
          std::string_view msg(cmd.status().message().data(), cmd.status().message().size());
          Check(!msg.empty() && msg.size() < 80);
          for (char c : msg) Check(c >= 0x20 && c < 0x7F);
          trace += msg;
        }
      }
      trace += "\n";
    }
  }
  return trace;
}

// Un-stuffs a multi-line answer: the octets a client stores.
size_t Unstuffed(const std::string& out) {
  Check(out.size() >= 3 && out.compare(out.size() - 3, 3, ".\r\n") == 0);
  size_t n = 0, pos = 0;
  const size_t body_end = out.size() - 3;
  while (pos < body_end) {
    size_t eol = out.find("\r\n", pos);
    Check(eol != std::string::npos && eol + 2 <= body_end);
    std::string_view line(out.data() + pos, eol - pos);
    Check(line.find('\r') == std::string_view::npos && line.find('\n') == std::string_view::npos);
    if (!line.empty() && line[0] == '.') {
      Check(line.size() >= 2 && line[1] == '.');
      line.remove_prefix(1);
    }
    n += line.size() + 2;
    pos = eol + 2;
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Limits limits;
  limits.max_command = 8 + (data[0] & 0x3F) * 4;
  limits.max_line = limits.max_command + (data[0] >> 6) * 64;
  limits.max_skip = 32 + (data[0] & 0x0F) * 16;
  size_t chunk = (data[0] & 0x07) + 1;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::string whole = Run(input, limits, input.size() + 1);
  Check(whole == Run(input, limits, 1));
  Check(whole == Run(input, limits, chunk));

  // The same bytes as a message.
  std::string all = kite::pop3::EncodeMultiline(input);
  Check(Unstuffed(all) == kite::pop3::OctetSize(input));
  std::string top = kite::pop3::EncodeTop(input, data[0] & 0x0F);
  Check(Unstuffed(top) <= kite::pop3::OctetSize(input));
  Check(top.size() <= all.size());
  return 0;
}
