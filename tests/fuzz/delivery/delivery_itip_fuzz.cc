// libFuzzer target: FindItip (services/delivery/itip.h) on an untrusted message: the iMIP parts
// found must be bounded, carry a known method that matches their object's METHOD, and the
// METHOD scanner must not crash on the raw input either.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "delivery/itip.h"
#include "lib/mime/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  kite::mime::Limits limits;
  limits.max_depth = 16;
  limits.max_parts = 200;
  auto msg = kite::mime::Parse(raw, limits);
  auto parts = kite::delivery::FindItip(raw, msg);
  if (parts.size() > kite::delivery::kMaxItipParts) abort();
  for (const auto& p : parts) {
    if (!kite::delivery::IsItipMethod(p.method)) abort();
    if (p.icalendar.size() > kite::delivery::kMaxItipBytes + 2) abort();
    if (kite::delivery::CalendarMethod(p.icalendar) != p.method) abort();
  }
  (void)kite::delivery::CalendarMethod(raw);
  return 0;
}
