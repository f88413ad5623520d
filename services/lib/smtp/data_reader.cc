#include "lib/smtp/data_reader.h"

#include <algorithm>

namespace kite::smtp {

DataReader::DataReader(size_t max_size) : max_size_(max_size) {}

void DataReader::Reset() {
  scan_ = Scan::kLineStart;
  done_ = false;
  too_big_ = false;
  saw_bare_lf_ = false;
  saw_bare_cr_ = false;
  size_ = 0;
  line_len_ = 0;
  longest_line_ = 0;
  message_.clear();
}

DataReader::State DataReader::state() const {
  if (!done_) return State::kNeedMore;
  if (too_big_) return State::kTooBig;
  if (saw_bare_lf_ || saw_bare_cr_) return State::kBareLineEnding;
  return State::kDone;
}

void DataReader::Append(std::string_view bytes) {
  size_ += bytes.size();
  if (too_big_) return;
  if (size_ > max_size_) {
    // Stop storing, but keep scanning for the end so the session stays in sync.
    too_big_ = true;
    std::string().swap(message_);
    return;
  }
  message_.append(bytes);
}

size_t DataReader::Feed(std::string_view bytes) {
  size_t n = Process(bytes);
  // Line lengths of what was consumed (memchr-fast; lines may span calls).
  std::string_view used = bytes.substr(0, n);
  for (size_t lf; (lf = used.find('\n')) != std::string_view::npos; used.remove_prefix(lf + 1)) {
    longest_line_ = std::max(longest_line_, line_len_ + lf + 1);
    line_len_ = 0;
  }
  line_len_ += used.size();
  longest_line_ = std::max(longest_line_, line_len_);
  return n;
}

size_t DataReader::Process(std::string_view bytes) {
  if (done_) return 0;
  size_t i = 0;
  while (i < bytes.size()) {
    char c = bytes[i];
    switch (scan_) {
      case Scan::kMid: {
        // Fast path: copy the run up to the next CR or LF in one go.
        size_t end = i;
        while (end < bytes.size() && bytes[end] != '\r' && bytes[end] != '\n') ++end;
        if (end > i) {
          Append(bytes.substr(i, end - i));
          i = end;
          continue;
        }
        if (c == '\r') {
          scan_ = Scan::kCr;
        } else {  // bare LF
          saw_bare_lf_ = true;
          Append('\n');
        }
        ++i;
        break;
      }
      case Scan::kLineStart:
        if (c == '.') {
          scan_ = Scan::kDot;  // either the end or a stuffed dot; it is never stored
          ++i;
        } else {
          scan_ = Scan::kMid;  // reprocess c
        }
        break;
      case Scan::kDot:
        if (c == '\r') {
          scan_ = Scan::kDotCr;
          ++i;
        } else {
          scan_ = Scan::kMid;  // the leading dot is removed; c is content
        }
        break;
      case Scan::kDotCr:
        if (c == '\n') {
          done_ = true;
          return i + 1;
        }
        saw_bare_cr_ = true;  // ".\r" then something other than LF
        Append('\r');
        scan_ = Scan::kMid;
        break;
      case Scan::kCr:
        if (c == '\n') {
          Append("\r\n");
          scan_ = Scan::kLineStart;
          ++i;
        } else {
          saw_bare_cr_ = true;
          Append('\r');
          scan_ = Scan::kMid;
        }
        break;
    }
  }
  return i;
}

}  // namespace kite::smtp
