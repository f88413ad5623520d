// libFuzzer target: the SMTP DATA reader (kite::smtp::DataReader). The first byte picks the
// size limit and a chunk size. Invariants: however the bytes are chunked the outcome is the
// same; the end is only ever right after "\r\n.\r\n" (or a leading ".\r\n"); the stored
// message never exceeds the limit.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/smtp/data_reader.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Outcome {
  kite::smtp::DataReader::State state;
  std::string message;
  size_t consumed;
  bool lf, cr;
  size_t size;
};

Outcome Run(std::string_view input, size_t max_size, size_t chunk) {
  kite::smtp::DataReader reader(max_size);
  size_t pos = 0;
  while (pos < input.size() && reader.state() == kite::smtp::DataReader::State::kNeedMore) {
    std::string_view piece = input.substr(pos, chunk);
    size_t used = reader.Feed(piece);
    Check(used <= piece.size());
    if (reader.state() == kite::smtp::DataReader::State::kNeedMore) Check(used == piece.size());
    pos += used;
  }
  return Outcome{reader.state(),       reader.message(),     pos,
                 reader.saw_bare_lf(), reader.saw_bare_cr(), reader.size()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t max_size = (data[0] & 0x0F) * 16 + 1;
  size_t chunk = (data[0] >> 4) + 1;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  Outcome whole = Run(input, max_size, input.size() + 1);
  Outcome pieces = Run(input, max_size, chunk);
  Outcome bytes = Run(input, max_size, 1);
  for (const Outcome* o : {&pieces, &bytes}) {
    Check(o->state == whole.state && o->message == whole.message && o->consumed == whole.consumed &&
          o->lf == whole.lf && o->cr == whole.cr && o->size == whole.size);
  }
  Check(whole.message.size() <= max_size);
  if (whole.state != kite::smtp::DataReader::State::kNeedMore) {
    std::string_view done = input.substr(0, whole.consumed);
    Check(done == ".\r\n" || (done.size() >= 5 && done.substr(done.size() - 5) == "\r\n.\r\n"));
    if (whole.state == kite::smtp::DataReader::State::kDone) {
      // No bare line endings reached a clean message: every CR and LF is part of a CRLF.
      const std::string& m = whole.message;
      for (size_t i = 0; i < m.size(); ++i) {
        if (m[i] == '\r') Check(i + 1 < m.size() && m[i + 1] == '\n');
        if (m[i] == '\n') Check(i > 0 && m[i - 1] == '\r');
      }
      Check(m.empty() || m.substr(m.size() - 2) == "\r\n");
    }
  } else {
    Check(whole.consumed == input.size());
  }
  return 0;
}
