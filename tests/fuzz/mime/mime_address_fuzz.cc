// libFuzzer target: the raw address-list parser (lib/mime/address.h) on an untrusted header
// value: it must end, stay within its bound, balance group markers and serialise.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lib/mime/address.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view value(reinterpret_cast<const char*>(data), size);
  auto list = kite::mime::ParseAddressList(value, 64);
  if (list.size() > 65) abort();
  int open = 0;
  for (const auto& a : list) {
    if (!a.host && a.mailbox) {
      if (open) abort();  // no group inside a group
      open = 1;
    } else if (!a.host && !a.mailbox) {
      if (!open) abort();  // an end marker closes a group
      open = 0;
    } else if (!a.mailbox || a.mailbox->empty() || a.host->empty()) {
      abort();  // a mailbox always has both parts (MISSING_* when absent)
    }
  }
  if (open) abort();
  kite::mime::Envelope e;
  e.to = std::move(list);
  (void)kite::mime::ImapEnvelope(e);
  return 0;
}
