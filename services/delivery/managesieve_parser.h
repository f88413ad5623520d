// ManageSieve command parser (RFC 5804): a state machine the session pushes client bytes into
// and pulls commands out of. No I/O, no clock, no database.
//
// Grammar (RFC 5804 section 4): command = command-name *(SP argument) CRLF, where an
// argument is a quoted string (at most 1024 octets, escapes \" and \\ only), a literal
// "{N+}" CRLF N-octets (the non-synchronizing literal-c2s; "{N}" is accepted the same way,
// since ManageSieve has no continuation response to wait for) or a number / atom. During
// AUTHENTICATE the client's SASL responses are lines holding one string (ExpectResponse).
// Lines may end in CRLF or a bare LF.
//
// Untrusted input: the whole client byte stream. Lines, quoted strings, literals, the
// argument count and a whole command are bounded (Limits), checked before anything is
// allocated for them; literal bytes are kept only as they arrive. A malformed command gives
// a kError event (the session answers NO and goes on) once the parser has skipped the whole
// command, including the literals it announced, so the next command parses in sync. Skipping
// is bounded too: a literal announced beyond max_skip, or more than max_skip octets of one bad
// command, is fatal (the session answers BYE and closes), because those bytes cannot be told
// apart from commands without reading them.
#ifndef KITE_SERVICES_DELIVERY_MANAGESIEVE_PARSER_H_
#define KITE_SERVICES_DELIVERY_MANAGESIEVE_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kite::managesieve {

struct Argument {
  enum Kind { kAtom, kQuoted, kLiteral };
  Kind kind = kAtom;
  std::string value;  // quoted: unescaped; literal: the octets

  bool IsString() const { return kind == kQuoted || kind == kLiteral; }
  // RFC 5804 number: 1*DIGIT up to 4294967295, as an atom.
  std::optional<uint32_t> Number() const;
};

struct Command {
  std::string name;  // uppercased; empty for a SASL response (ExpectResponse)
  std::vector<Argument> args;
};

class Parser {
 public:
  struct Limits {
    size_t max_line = 8 * 1024;            // one line of a command, without its literals
    size_t max_quoted = 1024;              // RFC 5804: quoted strings are at most 1024 octets
    size_t max_literal = 1024 * 1024;      // one literal (the session: the script size limit)
    size_t max_command = 2 * 1024 * 1024;  // a whole command: lines and literals
    size_t max_args = 8;                   // no ManageSieve command takes more than 2
    size_t max_skip = 16 * 1024 * 1024;    // octets skipped for one bad command before giving up
  };

  struct Event {
    enum Kind { kNeedMore, kCommand, kError } kind = kNeedMore;
    Command command;       // kCommand
    std::string name;      // kError: the command name when it was read (uppercased), else ""
    std::string error;     // kError: a short reason, safe to send back (no client bytes)
    bool too_big = false;  // kError: a literal or the command was over the limits (QUOTA/MAXSIZE)
    bool fatal = false;    // kError: answer BYE and close; the parser returns kNeedMore from now on
  };

  Parser() : Parser(Limits{}) {}
  explicit Parser(Limits limits);

  void Feed(std::string_view bytes);

  // Parses as far as the buffered bytes allow and reports one event. Never parses past the
  // command it returns, so the session can switch modes (ExpectResponse, TLS) between calls.
  Event Next();

  // The next command is a SASL client response: a line of arguments without a command name.
  // Call between commands only.
  void ExpectResponse() { expect_response_ = true; }

  // New limits from the next command on (a session allows larger literals once the user
  // is authenticated). Call between commands only.
  void set_limits(const Limits& limits) { limits_ = limits; }

  // Bytes fed but not yet consumed (plaintext pipelined behind STARTTLS must be dropped).
  size_t buffered() const { return buffer_.size() - pos_; }

 private:
  enum class State { kLine, kLiteral, kSkipLine, kSkipLiteral, kFatal };
  enum class LineResult { kComplete, kLiteral, kError };

  LineResult ParseLine(std::string_view line);
  void SetError(std::string message, bool too_big);
  std::optional<Event> StartSkipping(std::string_view line_tail);
  Event Fatal(std::string message);
  Event TakeError();
  void ResetCommand();
  void Compact();

  Limits limits_;
  State state_ = State::kLine;
  std::string buffer_;
  size_t pos_ = 0;

  // The command being built.
  Command command_;
  bool started_ = false;  // the command name (or the first line of a response) was read
  bool expect_response_ = false;
  size_t command_size_ = 0;
  size_t literal_remaining_ = 0;

  // A bad command being skipped.
  std::string error_;
  std::string error_name_;
  bool error_too_big_ = false;
  size_t skipped_ = 0;
  std::string skip_tail_;  // the last octets of the line being skipped (a "{N+}" at its end)
};

// Encodes a string for a response: a quoted string when it is short, printable and has no
// CR/LF, else a literal "{N}" CRLF octets (literal-s2c).
std::string EncodeString(std::string_view s);

}  // namespace kite::managesieve

#endif  // KITE_SERVICES_DELIVERY_MANAGESIEVE_PARSER_H_
