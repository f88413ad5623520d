// POP3 command reading and parsing (RFC 1939, RFC 2449, RFC 2595, RFC 5034) and the
// encoding of multi-line responses: pure code, no socket, no clock, no database.
//
// Untrusted input: the whole client byte stream. LineReader splits it into lines with a
// bound known before anything is stored (Limits::max_line); an over-long line is reported
// once (kTooLong), its remaining octets are counted and dropped up to its LF so the session
// stays in sync, and more than max_skip dropped octets of one line is fatal. ParseCommand
// turns one line into a Command or an error whose message is safe to send back (it never
// echoes client bytes). Command lines are held to Limits::max_command (RFC 2449 section 4:
// 255 octets, we allow 512); only AUTH lines (initial response) and SASL responses may use
// the longer max_line (RFC 5034 section 4). Lines end in CRLF; a bare LF is accepted.
//
// Output: EncodeMultiline/EncodeTop build the body of a RETR/TOP answer: line endings
// normalised to CRLF (a bare CR or bare LF becomes CRLF), a final CRLF added when missing,
// lines beginning with "." byte-stuffed, and the terminating ".\r\n". OctetSize is the size
// RFC 1939 reports in STAT/LIST: the normalised message before stuffing, so it equals what
// a client counts after un-stuffing RETR.
#ifndef KITE_SERVICES_POP3_POP3_COMMAND_H_
#define KITE_SERVICES_POP3_POP3_COMMAND_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kite::pop3 {

struct Limits {
  size_t max_command = 512;     // a command line with its CRLF (RFC 2449: 255)
  size_t max_line = 8 * 1024;   // any line: AUTH with an initial response, SASL responses
  size_t max_skip = 1 << 20;    // octets of one over-long line dropped before giving up
};

// Splits the client's bytes into lines.
class LineReader {
 public:
  struct Event {
    enum Kind {
      kNeedMore,  // feed more bytes
      kLine,      // `line`: one line without its CRLF / LF
      kTooLong,   // a line passed max_line: answer -ERR; its rest is dropped up to its LF
      kFatal,     // more than max_skip octets of one line: close the connection
    } kind = kNeedMore;
    std::string line;
  };

  explicit LineReader(Limits limits = {}) : limits_(limits) {}

  void Feed(std::string_view bytes);
  // The next event; after kFatal only kNeedMore.
  Event Next();
  // Octets fed but not yet returned (plaintext pipelined behind STLS is dropped with them).
  size_t buffered() const { return buffer_.size() - pos_; }

 private:
  Limits limits_;
  std::string buffer_;
  size_t pos_ = 0;
  bool skipping_ = false;
  bool fatal_ = false;
  size_t skipped_ = 0;
};

enum class Verb {
  kUser, kPass, kApop, kAuth, kCapa, kStls, kStat, kList, kRetr, kDele, kRset, kTop, kUidl,
  kNoop, kQuit,
};

struct Command {
  Verb verb = Verb::kNoop;
  std::string name;  // the keyword, uppercased ("RETR")
  // LIST, UIDL: 0 when no message is named; RETR, DELE, TOP: the message number (>= 1).
  uint32_t msg = 0;
  uint32_t lines = 0;  // TOP
  // USER: the name; PASS: the whole rest of the line (passwords may hold spaces, RFC 1939
  // section 7); APOP: its arguments.
  std::string text;
  // AUTH: the mechanism, uppercased ("" lists the mechanisms), and the initial response as
  // sent (base64, "=" for an empty one) when there was one.
  std::string mechanism;
  std::optional<std::string> initial_response;
};

// One command line without its line ending. Errors are InvalidArgument with a short reason
// that never contains client bytes. A known keyword with bad arguments says which syntax is
// expected; an unknown keyword gives "Unknown command".
absl::StatusOr<Command> ParseCommand(std::string_view line, const Limits& limits = {});

// The canonical name of a verb ("RETR").
const char* VerbName(Verb verb);

// RFC 1939 message size: the message with every line ending as CRLF and a final CRLF.
size_t OctetSize(std::string_view message);

// RETR: the whole message, normalised and byte-stuffed, with the terminating ".\r\n".
std::string EncodeMultiline(std::string_view message);

// TOP: the header, the empty line that ends it, and the first `lines` lines of the body,
// normalised and byte-stuffed, with the terminating ".\r\n". A message without an empty
// line is all header.
std::string EncodeTop(std::string_view message, uint32_t lines);

}  // namespace kite::pop3

#endif  // KITE_SERVICES_POP3_POP3_COMMAND_H_
