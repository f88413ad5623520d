// libFuzzer target for the DKIM message splitter and canonicalisation
// (services/lib/dkim/canon.h). Checks: every field and the body are views inside the input,
// in order, within the limits; a field never ends in CRLF; canonical forms keep their shape
// (relaxed header "name:value\r\n" with a lower-case name, body empty or ending in CRLF).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/dkim/canon.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite::dkim;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  MessageLimits limits;
  limits.max_header_fields = 64;
  limits.max_header_bytes = 8192;
  limits.max_field_bytes = 1024;
  auto msg = Split(input, limits);
  if (!msg.ok()) return 0;
  Check(msg->headers.size() <= limits.max_header_fields);
  const char* last = input.data();
  for (const HeaderField& f : msg->headers) {
    Check(f.raw.data() >= last && f.raw.data() + f.raw.size() <= input.data() + size);
    Check(f.raw.size() <= limits.max_field_bytes && !f.name.empty());
    Check(f.name.data() == f.raw.data());
    Check(f.raw.size() < 2 || f.raw.substr(f.raw.size() - 2) != "\r\n");
    last = f.raw.data() + f.raw.size();
    std::string relaxed = CanonicalizeHeader(f.raw, Canon::kRelaxed);
    Check(relaxed.size() >= 3 && relaxed.substr(relaxed.size() - 2) == "\r\n");
    for (char c : relaxed.substr(0, relaxed.find(':'))) Check(!(c >= 'A' && c <= 'Z'));
    Check(CanonicalizeHeader(f.raw, Canon::kSimple) == std::string(f.raw) + "\r\n");
  }
  Check(msg->body.empty() || msg->body.data() + msg->body.size() == input.data() + size);
  std::string simple = CanonicalizeBody(msg->body, Canon::kSimple);
  Check(simple.size() >= 2 && simple.substr(simple.size() - 2) == "\r\n");
  std::string relaxed = CanonicalizeBody(msg->body, Canon::kRelaxed);
  Check(relaxed.empty() || relaxed.substr(relaxed.size() - 2) == "\r\n");
  Check(relaxed.size() <= simple.size());
  return 0;
}
