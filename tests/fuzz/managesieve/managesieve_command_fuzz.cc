// libFuzzer target: the ManageSieve command parser (kite::managesieve::Parser) and
// EncodeString. The first two bytes pick small limits and a chunk size. Invariants: no crash,
// the event sequence is the same however the stream is chunked, no command exceeds the
// limits, and every string EncodeString writes parses back to itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "delivery/managesieve_parser.h"

namespace {

using kite::managesieve::Argument;
using kite::managesieve::Parser;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void RoundTrip(const std::string& value) {
  Parser::Limits limits;
  limits.max_literal = value.size() + 1;
  limits.max_command = value.size() + 1024;
  Parser p(limits);
  p.Feed("X " + kite::managesieve::EncodeString(value) + "\r\n");
  Parser::Event e = p.Next();
  Check(e.kind == Parser::Event::kCommand);
  Check(e.command.args.size() == 1 && e.command.args[0].IsString() &&
        e.command.args[0].value == value);
}

std::string Run(std::string_view input, const Parser::Limits& limits, size_t chunk,
                bool round_trip) {
  Parser parser(limits);
  std::string trace;
  for (size_t pos = 0; pos < input.size(); pos += chunk) {
    parser.Feed(input.substr(pos, chunk));
    for (;;) {
      Parser::Event e = parser.Next();
      if (e.kind == Parser::Event::kNeedMore) break;
      trace += std::to_string(static_cast<int>(e.kind)) + "[" + e.name + "]" + e.error +
               (e.too_big ? "B" : "") + " ";
      if (e.kind == Parser::Event::kCommand) {
        Check(e.command.args.size() <= limits.max_args);
        trace += e.command.name;
        size_t total = 0;
        for (const Argument& a : e.command.args) {
          total += a.value.size();
          if (a.kind == Argument::kLiteral) Check(a.value.size() <= limits.max_literal);
          if (a.kind != Argument::kLiteral) Check(a.value.size() <= limits.max_quoted);
          trace += " " + std::to_string(static_cast<int>(a.kind)) + ":" +
                   std::to_string(a.value.size()) + ":" + a.value;
          (void)a.Number();
          if (round_trip) RoundTrip(a.value);
        }
        Check(total <= limits.max_command);
        // As the session does: AUTHENTICATE is followed by a SASL response line.
        if (e.command.name == "AUTHENTICATE") parser.ExpectResponse();
      }
      trace += "\n";
      if (e.fatal) return trace;
    }
  }
  return trace;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Parser::Limits limits;
  limits.max_line = 8 + data[0] * 2;
  limits.max_quoted = 4 + (data[0] & 0x3F);
  limits.max_literal = data[1] & 0x3F;
  limits.max_command = 32 + (data[1] >> 6) * 128;
  limits.max_args = 1 + (data[0] >> 6);
  limits.max_skip = 64 + (data[1] & 0xC0);
  size_t chunk = (data[1] & 0x07) + 1;
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  std::string whole = Run(input, limits, input.size() + 1, true);
  Check(whole == Run(input, limits, 1, false));
  Check(whole == Run(input, limits, chunk, false));
  return 0;
}
