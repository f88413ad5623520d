// Incremental parser of SMTP server replies, for Kite's SMTP client (the outbound relay).
//
// Standards: RFC 5321 4.2 (reply lines, multi-line replies "250-..." ending in "250 ..."),
// 4.5.3.1.5 (reply line length), RFC 2034 / RFC 3463 (enhanced status codes).
//
// Untrusted input: whatever a remote MX sends. Lines, the number of lines and the total size
// of a reply are bounded; a malformed reply is a protocol error after which the connection
// must be dropped (there is no way to resynchronise with a server that breaks the grammar).
// Bare LF line endings are accepted, as Postfix's smtp client does.
#ifndef KITE_SERVICES_LIB_SMTP_REPLY_PARSER_H_
#define KITE_SERVICES_LIB_SMTP_REPLY_PARSER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "lib/smtp/command.h"

namespace kite::smtp {

class ReplyParser {
 public:
  struct Limits {
    size_t max_line = 4096;  // RFC 5321 says 512; real servers send longer EHLO lines
    size_t max_lines = 256;
    size_t max_total = 64 * 1024;
  };

  struct Result {
    enum Kind { kNeedMore, kReply, kError } kind = kNeedMore;
    // kReply: code, the enhanced code when every line carries the same one (RFC 2034) and
    // its class matches the reply, and the text lines joined with '\n'.
    Reply reply;
    std::vector<std::string> lines;  // kReply: the text of each line, enhanced code included
    std::string error;               // kError
  };

  ReplyParser() : ReplyParser(Limits{}) {}
  explicit ReplyParser(Limits limits);

  void Feed(std::string_view bytes);
  // The next complete reply, kNeedMore, or kError (terminal: every later call repeats it).
  Result Next();
  // Bytes received but not yet part of a returned reply (after STARTTLS these must be none).
  size_t buffered() const { return buffer_.size() - pos_; }

 private:
  Result Error(std::string message);

  Limits limits_;
  std::string buffer_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace kite::smtp

#endif  // KITE_SERVICES_LIB_SMTP_REPLY_PARSER_H_
