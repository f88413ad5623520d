// Accumulates the chunks of one RFC 3030 BDAT transaction: the pure part of CHUNKING.
//
// Standards: RFC 3030 (CHUNKING; BINARYMIME is NOT offered, so every message is 7bit or
// 8bitmime text whose lines end in CRLF), RFC 5321 2.3.8 (lines end in CRLF only), RFC 1870
// (SIZE: 552 5.3.4 beyond the limit).
//
// Untrusted input: the raw octets of each chunk, exactly as many as the client announced
// (the session reads them with Connection::ReadExact in bounded pieces). Nothing in a chunk
// is interpreted: no dot-unstuffing, no end-of-data search; a chunk ends by its size alone,
// so BDAT cannot be desynchronised the way DATA can be smuggled through.
//
// Bare line endings: a bare CR or bare LF anywhere in the message, including a CR at the
// end of one chunk that is not followed by LF at the start of the next, makes the message
// refused at LAST (550 5.6.11), the same policy as DATA (smtp::DataReader). Nothing is
// rewritten: inbound DKIM signatures stay verifiable, and delivery, IMAP and a later relay
// over DATA all receive CRLF-only text. A message that does not end in CRLF (allowed by
// BDAT, impossible with DATA) gets a final CRLF added, so the stored message has the same
// shape as one received with DATA.
//
// Size: the total over all chunks is bounded by max_size. Once exceeded, nothing more is
// stored (the buffer is released) and the rest is only counted; the session replies 552 and
// must still read and drop the remaining octets of the chunk so the connection stays in
// sync.
#ifndef KITE_SERVICES_LIB_SMTP_BDAT_READER_H_
#define KITE_SERVICES_LIB_SMTP_BDAT_READER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace kite::smtp {

class BdatReader {
 public:
  explicit BdatReader(size_t max_size) : max_size_(max_size) {}

  // Whether a chunk of `size` octets would take the message past max_size (check before
  // reading it: the session may then skip storing it).
  bool WouldExceed(uint64_t size) const { return size > max_size_ || size_ > max_size_ - size; }

  // Content octets of the current chunk, in any pieces.
  void Feed(std::string_view bytes);

  enum class State {
    kDone,            // a clean message: TakeMessage()
    kTooBig,          // over max_size: reply 552 5.3.4
    kBareLineEnding,  // a bare CR or LF was seen: reply 550 5.6.11
  };
  // After the LAST chunk: the outcome; on kDone the message ends in CRLF (or is empty).
  State Finish();

  bool too_big() const { return too_big_; }
  bool saw_bare_lf() const { return saw_bare_lf_; }
  bool saw_bare_cr() const { return saw_bare_cr_; }
  // Octets received so far over all chunks, counted even past the limit.
  uint64_t size() const { return size_; }
  std::string TakeMessage() { return std::move(message_); }

  void Reset();

 private:
  size_t max_size_;
  uint64_t size_ = 0;
  bool too_big_ = false;
  bool saw_bare_lf_ = false;
  bool saw_bare_cr_ = false;
  bool pending_cr_ = false;  // the last octet seen was CR: the next must be LF
  std::string message_;
};

}  // namespace kite::smtp

#endif  // KITE_SERVICES_LIB_SMTP_BDAT_READER_H_
