// libFuzzer target: the SPF record parser and macro expander (kite_spf_proto) on untrusted
// TXT text. The first line of the input is used as the local part of the sender for macro
// expansion; the rest is the record.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lib/spf/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view local = "user";
  size_t nl = in.find('\n');
  if (nl != std::string_view::npos && nl < 256) {
    local = in.substr(0, nl);
    in = in.substr(nl + 1);
  }
  (void)kite::spf::IsSpfRecord(in);
  auto rec = kite::spf::ParseRecord(in);
  kite::spf::MacroContext ctx;
  ctx.local_part = std::string(local);
  ctx.sender_domain = "example.com";
  ctx.sender = ctx.local_part + "@example.com";
  ctx.domain = "example.com";
  ctx.helo = "mx.example.org";
  ctx.ip = *kite::spf::IpAddress::Parse(size % 2 ? "2001:db8::1" : "192.0.2.1");
  if (rec.ok()) {
    for (const auto& m : rec->mechanisms) {
      if (!m.domain_spec.empty()) (void)kite::spf::ExpandDomainSpec(m.domain_spec, ctx);
    }
    if (rec->redirect) (void)kite::spf::ExpandDomainSpec(*rec->redirect, ctx);
    if (rec->exp) (void)kite::spf::ExpandDomainSpec(*rec->exp, ctx);
  }
  // Explanation strings are arbitrary TXT text expanded with the exp letters.
  (void)kite::spf::ExpandMacros(in, ctx, true);
  return 0;
}
