// libFuzzer target: removal of our own Authentication-Results fields from an untrusted
// header block, the authserv-id reader, and value formatting.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/dmarc/auth_results.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  int removed = 0;
  std::string out = kite::dmarc::RemoveOwnAuthResults(in, "mail.example.test", &removed);
  if (out.size() > in.size()) __builtin_trap();
  (void)kite::dmarc::AuthservId(in);
  std::string v = kite::dmarc::FormatValue(in);
  if (v.find('\n') != std::string::npos || v.find('\r') != std::string::npos) __builtin_trap();
  return 0;
}
