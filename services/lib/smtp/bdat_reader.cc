#include "lib/smtp/bdat_reader.h"

namespace kite::smtp {

void BdatReader::Reset() {
  size_ = 0;
  too_big_ = false;
  saw_bare_lf_ = false;
  saw_bare_cr_ = false;
  pending_cr_ = false;
  std::string().swap(message_);
}

void BdatReader::Feed(std::string_view bytes) {
  if (bytes.empty()) return;
  // Bare CR / LF scan, carried across pieces and chunks by pending_cr_.
  for (char c : bytes) {
    if (pending_cr_) {
      if (c != '\n') saw_bare_cr_ = true;
      pending_cr_ = c == '\r';
      continue;
    }
    if (c == '\r') {
      pending_cr_ = true;
    } else if (c == '\n') {
      saw_bare_lf_ = true;
    }
  }
  size_ += bytes.size();
  if (too_big_) return;
  if (size_ > max_size_) {
    too_big_ = true;
    std::string().swap(message_);
    return;
  }
  message_.append(bytes);
}

BdatReader::State BdatReader::Finish() {
  if (pending_cr_) {  // the message ended in a CR without its LF
    saw_bare_cr_ = true;
    pending_cr_ = false;
  }
  if (too_big_) return State::kTooBig;
  if (saw_bare_cr_ || saw_bare_lf_) return State::kBareLineEnding;
  if (!message_.empty() && message_.back() != '\n') {
    if (max_size_ - message_.size() < 2) {
      too_big_ = true;
      std::string().swap(message_);
      return State::kTooBig;
    }
    message_.append("\r\n");
  }
  return State::kDone;
}

}  // namespace kite::smtp
