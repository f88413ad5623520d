// libFuzzer target: the IMAP command receiver (kite::imap::Receiver) and the parsers that
// run on its output (SequenceSet, FETCH items, string encoders). The first bytes pick small
// limits and a chunk size. Invariants: no crash, the event sequence is the same however the
// stream is chunked, and no command exceeds the limits.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/imap/fetch_items.h"
#include "lib/imap/quote.h"
#include "lib/imap/receiver.h"
#include "lib/imap/sequence_set.h"

namespace {

using kite::imap::Receiver;
using kite::imap::Token;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

size_t Depth(const Token& t) {
  size_t d = 0;
  for (const Token& c : t.children) d = std::max(d, Depth(c));
  return t.kind == Token::kList ? d + 1 : d;
}

void Describe(const Token& t, std::string& out) {
  out += std::to_string(static_cast<int>(t.kind)) + ":" + std::to_string(t.value.size()) + ":" +
         t.value + (t.binary ? "b" : "") + "(";
  for (const Token& c : t.children) Describe(c, out);
  out += ")";
}

void Exercise(const kite::imap::Command& cmd, const Receiver::Limits& limits) {
  size_t depth = 0;
  for (const Token& t : cmd.args) depth = std::max(depth, Depth(t));
  Check(depth <= limits.max_depth);
  for (const Token& t : cmd.args) {
    if (t.kind == Token::kLiteral) Check(t.value.size() <= limits.max_literal);
    if (t.kind == Token::kAtom) {
      absl::StatusOr<kite::imap::SequenceSet> set = kite::imap::SequenceSet::Parse(t.value);
      if (set.ok()) {
        (void)set->Contains(5, 10);
        absl::StatusOr<std::vector<uint32_t>> expanded = set->Expand(1000, 5000);
        if (expanded.ok()) Check(expanded->size() <= 1000);
        Check(kite::imap::SequenceSet::Parse(set->ToString()).ok());
      }
    }
    if (t.IsString()) {
      std::string q = kite::imap::QuoteString(t.value);
      Check(!q.empty());
      (void)kite::imap::AString(t.value, true);
    }
  }
  if (cmd.name == "FETCH" && cmd.args.size() >= 2) {
    absl::StatusOr<std::vector<kite::imap::FetchItem>> items =
        kite::imap::ParseFetchItems(cmd.args[1]);
    if (items.ok()) {
      for (const auto& item : *items) Check(!item.ResponseName().empty());
    }
    if (cmd.args.size() >= 3 && kite::imap::IsPreviewWithModifiers(cmd.args[1], cmd.args[2])) {
      kite::imap::FetchItem preview;
      if (kite::imap::ParsePreviewModifiers(cmd.args[2], preview).ok()) Check(preview.lazy);
    }
  }
}

std::string Run(std::string_view input, const Receiver::Limits& limits, size_t chunk) {
  Receiver receiver(limits);
  std::string trace;
  for (size_t pos = 0; pos < input.size(); pos += chunk) {
    receiver.Feed(input.substr(pos, chunk));
    for (;;) {
      Receiver::Event e = receiver.Next();
      if (e.kind == Receiver::Event::kNeedMore) break;
      trace += std::to_string(static_cast<int>(e.kind)) + "[" + e.tag + "]" + e.error;
      if (e.kind == Receiver::Event::kCommand) {
        trace += e.command.tag + " " + e.command.name + (e.command.uid ? "U" : "");
        for (const Token& t : e.command.args) Describe(t, trace);
        Exercise(e.command, limits);
        // Pretend AUTHENTICATE wants the next line, as the session would.
        if (e.command.name == "AUTHENTICATE" || e.command.name == "IDLE") receiver.ExpectLine();
      }
      if (e.kind == Receiver::Event::kLine) trace += "L:" + e.line;
      trace += "\n";
      if (e.fatal) return trace;
    }
  }
  return trace;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Receiver::Limits limits;
  limits.max_line = 16 + data[0] * 4;
  limits.max_literal = data[1] & 0x3F;
  limits.max_command = 64 + (data[1] >> 6) * 256;
  limits.max_tokens = 4 + (data[0] & 0x1F);
  limits.max_depth = 1 + (data[0] >> 5);
  size_t chunk = (data[1] & 0x07) + 1;
  std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  std::string whole = Run(input, limits, input.size() + 1);
  Check(whole == Run(input, limits, 1));
  Check(whole == Run(input, limits, chunk));
  return 0;
}
