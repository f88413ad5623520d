// libFuzzer target: the BDAT chunk accumulator (kite::smtp::BdatReader). The first byte
// picks the size limit and the piece size. Invariants: however the input is split the
// outcome is the same; a clean message has CRLF line endings only, is exactly the input
// (plus a final CRLF when missing) and never exceeds the limit.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/smtp/bdat_reader.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Outcome {
  kite::smtp::BdatReader::State state;
  std::string message;
  uint64_t size;
};

Outcome Run(std::string_view input, size_t max_size, size_t piece) {
  kite::smtp::BdatReader reader(max_size);
  for (size_t pos = 0; pos < input.size(); pos += piece) reader.Feed(input.substr(pos, piece));
  auto state = reader.Finish();
  uint64_t size = reader.size();
  return Outcome{state, reader.TakeMessage(), size};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t max_size = (data[0] & 0x0F) * 16 + 1;
  size_t piece = (data[0] >> 4) + 1;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  Outcome whole = Run(input, max_size, input.size() + 1);
  Outcome pieces = Run(input, max_size, piece);
  Outcome bytes = Run(input, max_size, 1);
  for (const Outcome* o : {&pieces, &bytes}) {
    Check(o->state == whole.state && o->message == whole.message && o->size == whole.size);
  }
  Check(whole.size == input.size());
  Check(whole.message.size() <= max_size);
  if (whole.state == kite::smtp::BdatReader::State::kDone) {
    const std::string& m = whole.message;
    Check(m.substr(0, input.size()) == input);
    for (size_t i = 0; i < m.size(); ++i) {
      if (m[i] == '\r') Check(i + 1 < m.size() && m[i + 1] == '\n');
      if (m[i] == '\n') Check(i > 0 && m[i - 1] == '\r');
    }
    Check(m.empty() || m.substr(m.size() - 2) == "\r\n");
  } else {
    Check(whole.message.empty() || whole.state == kite::smtp::BdatReader::State::kBareLineEnding);
  }
  return 0;
}
