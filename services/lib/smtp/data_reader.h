// Streaming reader for the SMTP DATA phase: finds the end of data, undoes dot-stuffing and
// enforces the message size limit without ever buffering more than the limit.
//
// Standards: RFC 5321 4.1.1.4 (DATA), 4.5.2 (transparency), 2.3.8 (lines end in CRLF only);
// RFC 1870 (SIZE, 552 when exceeded).
//
// Untrusted input: the raw bytes a client sends after "354". Only CRLF "." CRLF (or "." CRLF
// as the very first line) ends the data. "\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r" and every
// other bare-CR / bare-LF variant are message content, never an end: that is what makes the
// reader safe against SMTP smuggling (a second message hidden behind an end-of-data that
// another MTA would see differently). Any bare CR or bare LF sets a flag so the session can
// refuse the message (550 5.6.11, like Postfix's smtpd_forbid_bare_newline) once the real
// end has been read.
#ifndef KITE_SERVICES_LIB_SMTP_DATA_READER_H_
#define KITE_SERVICES_LIB_SMTP_DATA_READER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace kite::smtp {

class DataReader {
 public:
  // max_size bounds the dot-unstuffed message (RFC 1870 SIZE as advertised).
  explicit DataReader(size_t max_size);

  enum class State {
    kNeedMore,
    kDone,
    kTooBig,          // the end was found; the message was over max_size: reply 552 5.3.4
    kBareLineEnding,  // the end was found; a bare CR or LF was seen: reply 550 5.6.11
  };

  // Feeds bytes as they arrive. Returns how many were consumed: all of them while the end
  // has not been seen, otherwise up to and including the LF of the terminating ".\r\n", so
  // that pipelined commands after it stay with the caller. Returns 0 once finished.
  size_t Feed(std::string_view bytes);

  // kNeedMore until the end of data has been consumed; then kTooBig if the message was over
  // the limit, else kBareLineEnding if a bare CR/LF was seen, else kDone.
  State state() const;

  // The message as sent, dot-unstuffed, without the final ".\r\n". Empty (and released) when
  // the message is too big.
  const std::string& message() const { return message_; }
  std::string TakeMessage() { return std::move(message_); }

  bool saw_bare_lf() const { return saw_bare_lf_; }
  bool saw_bare_cr() const { return saw_bare_cr_; }
  bool too_big() const { return too_big_; }
  // Octets of dot-unstuffed message seen so far, counted even past the limit.
  size_t size() const { return size_; }
  // The longest line consumed so far, in raw octets with its line ending (bounded only by
  // what was fed: callers compare it with their line limit).
  size_t longest_line() const { return longest_line_; }

  // Ready for the next transaction.
  void Reset();

 private:
  enum class Scan { kLineStart, kDot, kDotCr, kMid, kCr };

  size_t Process(std::string_view bytes);
  void Append(std::string_view bytes);
  void Append(char c) { Append(std::string_view(&c, 1)); }

  size_t max_size_;
  Scan scan_ = Scan::kLineStart;
  bool done_ = false;
  bool too_big_ = false;
  bool saw_bare_lf_ = false;
  bool saw_bare_cr_ = false;
  size_t size_ = 0;
  size_t line_len_ = 0;
  size_t longest_line_ = 0;
  std::string message_;
};

}  // namespace kite::smtp

#endif  // KITE_SERVICES_LIB_SMTP_DATA_READER_H_
