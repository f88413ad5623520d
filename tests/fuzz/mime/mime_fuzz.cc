// libFuzzer target: the MIME parse-once library (lib/mime) on an untrusted message: parse,
// ENVELOPE / BODY / BODYSTRUCTURE, storage round trip, section lookup, SEARCH text; the
// input is also fed to the storage decoder as a (corrupt) blob.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/mime/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  kite::mime::Limits limits;
  limits.max_depth = 16;
  limits.max_parts = 200;
  auto msg = kite::mime::Parse(raw, limits);
  (void)kite::mime::ImapEnvelope(msg.envelope);
  (void)kite::mime::ImapBody(msg.root, false);
  std::string bs = kite::mime::ImapBody(msg.root, true);
  std::string blob = kite::mime::EncodeStorage(msg);
  auto back = kite::mime::DecodeStorage(blob, limits);
  if (!back.ok() || !(*back == msg) || kite::mime::ImapBody(back->root, true) != bs) abort();
  for (const char* s : {"1", "1.1", "2", "1.2.1"}) {
    if (const auto* p = kite::mime::FindPart(msg, s)) {
      if (p->body_offset + p->body_size > size || p->header_offset + p->header_size > size) abort();
    }
  }
  (void)kite::mime::HeaderValues(raw, msg.root, "subject", 1 << 16);
  (void)kite::mime::BodyText(raw, msg, 1 << 16);
  auto corrupt = kite::mime::DecodeStorage(raw, limits);
  if (corrupt.ok()) (void)kite::mime::ImapBody(corrupt->root, true);
  return 0;
}
