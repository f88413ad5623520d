// libFuzzer target: the DMARC record parser (kite_dmarc_proto) on untrusted TXT text, and
// Public Suffix List matching of the same bytes taken as a domain.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/dmarc/psl.h"
#include "lib/dmarc/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)kite::dmarc::IsDmarcRecord(in);
  auto rec = kite::dmarc::ParseRecord(in);
  if (rec.ok()) {
    (void)kite::dmarc::PolicyName(rec->Applicable(true));
  }
  static const auto psl = kite::dmarc::PublicSuffixList::Parse("com\nco.uk\n*.ck\n!www.ck\n*.kawasaki.jp\n");
  (void)psl->OrganizationalDomain(in);
  return 0;
}
