// libFuzzer target: kite-submission's header handling (kite::smtp::ParseFromHeaders and
// RemoveHeaderFields). Invariants: never more than kMaxFromAddresses addresses; no address
// holds whitespace or a line break or is longer than the input; removing fields never grows
// the message, and leaves no From field when From is removed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/smtp/header_from.h"

namespace {
void Check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  kite::smtp::FromHeaders r = kite::smtp::ParseFromHeaders(input);
  Check(r.addresses.size() <= kite::smtp::kMaxFromAddresses);
  for (const auto& a : r.addresses) {
    Check(a.size() <= size);
    for (char c : a) Check(c != ' ' && c != '\t' && c != '\r' && c != '\n');
  }
  std::string without = kite::smtp::RemoveHeaderFields(input, "from");
  Check(without.size() <= size);
  Check(without.size() > kite::smtp::kMaxHeaderScan ||
        kite::smtp::ParseFromHeaders(without).fields == 0);
  return 0;
}
