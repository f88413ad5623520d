// libFuzzer target: SMTP command lines (kite::smtp::ParseCommand) and server replies
// (kite::smtp::ReplyParser) — the two places SMTP text from strangers is parsed.
// Invariants: no crash, every rejection is a well-formed 4xx/5xx reply, every formatted
// reply is CRLF-terminated lines, and the reply parser agrees with itself however it is fed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/smtp/command.h"
#include "lib/smtp/reply_parser.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckFormatted(const std::string& text) {
  Check(text.size() >= 5 && text.substr(text.size() - 2) == "\r\n");
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = text[i];
    if (c == '\r') Check(i + 1 < text.size() && text[i + 1] == '\n');
    if (c == '\n') Check(i > 0 && text[i - 1] == '\r');
    if (c != '\r' && c != '\n') Check(c >= 0x20 && c != 0x7F);
  }
}

std::string ParseAllReplies(std::string_view input, size_t chunk) {
  kite::smtp::ReplyParser parser;
  std::string trace;
  for (size_t pos = 0; pos < input.size(); pos += chunk) {
    parser.Feed(input.substr(pos, chunk));
    for (;;) {
      kite::smtp::ReplyParser::Result r = parser.Next();
      if (r.kind == kite::smtp::ReplyParser::Result::kNeedMore) break;
      if (r.kind == kite::smtp::ReplyParser::Result::kError) return trace + "ERR";
      trace += std::to_string(r.reply.code) + r.reply.enhanced + "|" + r.reply.text + "\n";
    }
  }
  return trace;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<kite::smtp::Command> cmd = kite::smtp::ParseCommand(input);
  if (cmd.ok()) {
    if (cmd->verb == kite::smtp::Verb::kMail || cmd->verb == kite::smtp::Verb::kRcpt) {
      std::string normal = kite::smtp::NormalizeAddress(cmd->address);
      Check(normal.size() <= cmd->address.size());
    }
    for (const auto& [key, value] : cmd->params) Check(!key.empty());
    kite::smtp::Reply echo{250, "2.0.0", cmd->argument};
    CheckFormatted(echo.Format());
  } else {
    kite::smtp::Reply reply = kite::smtp::ErrorReply(cmd.status());
    Check(reply.code >= 500 && reply.code <= 555);
    CheckFormatted(reply.Format());
  }
  (void)kite::smtp::IsValidDomain(input);
  (void)kite::smtp::IsValidMailbox(input, true);
  (void)kite::smtp::DecodeXtext(input);

  std::string whole = ParseAllReplies(input, input.size() + 1);
  Check(whole == ParseAllReplies(input, 1));
  Check(whole == ParseAllReplies(input, 7));
  return 0;
}
