// libFuzzer target for the DKIM tag-list, DKIM-Signature and key record parsers and the b=
// stripping (services/lib/dkim/tag_list.h, signature.h). Checks their promises on arbitrary
// input: views and offsets stay inside the input, a parsed signature satisfies the
// validation it claims (From signed, bh= of SHA-256 size, i= within d=), and stripping b=
// leaves a field that still parses with an empty b=.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lib/dkim/canon.h"
#include "lib/dkim/signature.h"
#include "lib/dkim/tag_list.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Inside(std::string_view outer, std::string_view inner) {
  return inner.empty() || (inner.data() >= outer.data() &&
                           inner.data() + inner.size() <= outer.data() + outer.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kite::dkim;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  auto tags = ParseTagList(input);
  if (tags.ok()) {
    Check(tags->size() <= kMaxTags);
    for (const Tag& t : *tags) {
      Check(!t.name.empty() && Inside(input, t.name) && Inside(input, t.value));
      Check(t.value_begin <= t.value_end && t.value_end <= input.size());
      Check(FindTag(*tags, t.name) == &t);
    }
  }

  auto sig = ParseSignature(input);
  if (sig.ok()) {
    Check(tags.ok());
    Check(sig->body_hash.size() == 32 && !sig->signature.empty());
    bool from = false;
    for (const std::string& h : sig->signed_headers) from = from || HeaderNameEquals(h, "from");
    Check(from);
    Check(sig->identity.find('@') != std::string::npos);
    if (sig->timestamp && sig->expiration) Check(*sig->expiration >= *sig->timestamp);
  }

  std::string field = "DKIM-Signature:" + std::string(input);
  auto stripped = StripSignatureValue(field);
  if (stripped.ok()) {
    Check(stripped->size() <= field.size());
    auto again = ParseTagList(std::string_view(*stripped).substr(15));
    Check(again.ok());
    const Tag* b = FindTag(*again, "b");
    Check(b != nullptr && b->value.empty());
  }

  auto key = ParseKeyRecord(input);
  if (key.ok()) Check(tags.ok());

  // The header canonicalisers on the same bytes: relaxed output never grows past the input
  // plus the CRLF.
  Check(CanonicalizeHeader(input, Canon::kRelaxed).size() <= size + 3);
  Check(CanonicalizeBody(input, Canon::kRelaxed).size() <= size + 2);
  return 0;
}
