// IMAP command receiver: a state machine the session pushes client bytes into and pulls
// commands out of. No I/O, no clock; the session sends whatever the events ask for.
//
// Standards: RFC 3501 section 9 (IMAP4rev1 grammar: tag, atoms, quoted strings, literals,
// parenthesised lists, NIL), RFC 9051 (IMAP4rev2), RFC 7888 (LITERAL+ / LITERAL-:
// non-synchronizing literals "{N+}"), RFC 3516 (literal8 "~{N}"), RFC 4959 / RFC 3501 6.2.2
// (AUTHENTICATE continuation lines), RFC 2177 (IDLE's "DONE").
//
// Untrusted input: the whole client byte stream. Every line, literal, command, token count
// and list depth is bounded (Limits) and checked before anything is allocated for it. A
// malformed command yields a kError event (the session answers "tag BAD ..."), after which
// the receiver skips the rest of that command — including any non-synchronizing literal it
// announced — so the next command parses normally (Postfix's "skip, don't lose sync"). Only
// a non-synchronizing literal over the limits is fatal: its bytes are already on the way and
// cannot be told apart from commands, so the session must answer BAD and close.
//
// The generic tokeniser knows one piece of FETCH syntax: "BODY[...]<...>", "BODY.PEEK[...]",
// "BINARY[...]", "BINARY.PEEK[...]" and "BINARY.SIZE[...]" are kept as one kSection token with
// their raw text (the section may contain spaces, parentheses and quoted strings, but no
// literals); fetch_items.h parses it.
#ifndef KITE_SERVICES_LIB_IMAP_RECEIVER_H_
#define KITE_SERVICES_LIB_IMAP_RECEIVER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kite::imap {

struct Token {
  enum Kind {
    kAtom,     // value as sent, e.g. "1:*", "\\Seen", "FLAGS", "[Gmail]/Sent"
    kQuoted,   // value unescaped
    kLiteral,  // value is the literal's bytes; binary for literal8 ("~{N}")
    kList,     // children; value empty
    kNil,      // atom NIL (any case); value keeps the text as sent, for astring positions
    kSection,  // BODY[...]<...> and friends: value is the raw text, e.g. "BODY.PEEK[HEADER]<0.10>"
  };
  Kind kind = kAtom;
  std::string value;
  std::vector<Token> children;
  bool binary = false;  // kLiteral from literal8

  // An astring view: the value of an atom, quoted string, literal or NIL. Where the grammar
  // takes an astring (mailbox names, LIST patterns, LOGIN), NIL is the four characters
  // "NIL" (RFC 3501 9: astring includes atom, and NIL is an atom there); callers that
  // accept nil itself (ID, nstring) test kind == kNil first.
  bool IsString() const { return kind == kAtom || kind == kQuoted || kind == kLiteral || kind == kNil; }
};

struct Command {
  std::string tag;
  std::string name;  // uppercased; "UID FETCH" gives name FETCH with uid = true
  bool uid = false;
  std::vector<Token> args;
};

class Receiver {
 public:
  struct Limits {
    size_t max_line = 64 * 1024;            // one line of a command, without literals
    size_t max_literal = 50 * 1024 * 1024;  // one literal
    size_t max_command = 64 * 1024 * 1024;  // a whole command: its lines and literals
    size_t max_tokens = 100000;             // tokens of one command, list tokens included
    size_t max_depth = 32;                  // parenthesised list nesting
  };

  struct Event {
    enum Kind {
      kNeedMore,
      kCommand,
      // A synchronizing literal was announced: send "+ Ready\r\n". Emitted once per literal.
      kContinuationNeeded,
      // Answer "tag BAD error" ("* BAD" when tag is empty). Unless fatal, the receiver skips
      // the rest of the bad command by itself and is ready for the next one.
      kError,
      // The raw line requested with ExpectLine(), CRLF removed.
      kLine,
    } kind = kNeedMore;
    Command command;     // kCommand
    std::string tag;     // kError (empty when unknown), kContinuationNeeded
    std::string error;   // kError; may start with a response code, e.g. "[TOOBIG] ..."
    bool fatal = false;  // kError: send the BAD, then close the connection
    std::string line;    // kLine
  };

  Receiver() : Receiver(Limits{}) {}
  explicit Receiver(Limits limits);

  // Appends bytes received from the client.
  void Feed(std::string_view bytes);

  // Parses as far as the buffered bytes allow and reports one event. Never parses past the
  // command it returns, so the session can switch modes (ExpectLine, TLS) between calls.
  Event Next();

  // The next Next() returns the next line raw (kLine) instead of parsing a command: the
  // client's SASL responses during AUTHENTICATE and the "DONE" that ends IDLE. Call it
  // between commands only. A line over max_line gives a non-fatal kError (skipped).
  void ExpectLine() { expect_line_ = true; }

  // Bytes fed but not yet consumed. After STARTTLS (or COMPRESS) the session must refuse
  // plaintext the client pipelined behind the command (CVE-2011-0411 style injection).
  size_t buffered() const { return buffer_.size() - pos_; }

 private:
  enum class State { kLine, kLiteral, kSkipLine, kSkipLiteral, kFatal };
  enum class LineResult { kComplete, kLiteral, kError };

  Event Error(std::string tag, std::string message);
  Event Fatal(std::string tag, std::string message);
  void ResetCommand();
  void Compact();
  // Where a bad line ends decides what follows it: a "{N+}" means N literal bytes to skip.
  Event SkipAfterBadLine(std::string_view line, Event error);

  // Tokenises one line (CRLF removed) into the command being built.
  LineResult ParseLine(std::string_view line);
  bool ParseTagAndName(std::string_view line, size_t& i);
  bool ParseQuoted(std::string_view line, size_t& i, std::string& out);
  bool ParseAtomOrSection(std::string_view line, size_t& i);
  bool ParseLiteralSpec(std::string_view line, size_t& i);
  bool AddToken(Token token);
  bool SetError(std::string message);

  Limits limits_;
  std::string buffer_;
  size_t pos_ = 0;
  size_t scan_ = 0;  // where the search for LF resumes, so lines are scanned once
  State state_ = State::kLine;
  bool expect_line_ = false;
  std::string fatal_tag_;
  std::string fatal_error_;

  // The command being assembled.
  bool started_ = false;  // tag and name parsed
  Command command_;
  std::vector<Token> stack_;     // open lists; stack_[0] holds the arguments
  bool need_separator_ = false;  // a token just ended: next must be SP, ')' or end of line
  size_t tokens_ = 0;
  size_t command_bytes_ = 0;
  std::string line_error_;
  // The literal announced at the end of the last line.
  uint64_t literal_size_ = 0;
  bool literal_sync_ = false;
  bool literal_binary_ = false;
  std::string literal_;
  // Skipping.
  uint64_t skip_remaining_ = 0;
  std::string skip_tail_;  // the last bytes of the line being skipped
};

}  // namespace kite::imap

#endif  // KITE_SERVICES_LIB_IMAP_RECEIVER_H_
