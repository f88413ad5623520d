// DMARC evaluation (RFC 7489): policy discovery, identifier alignment and the policy to
// apply, from the results of SPF and DKIM that the caller already has.
//
//   - Discovery (6.6.3): TXT at _dmarc.<From domain>; when that has no DMARC record,
//     _dmarc.<organisational domain>. Exactly one record must start with v=DMARC1 (several:
//     permerror, as does an unusable one). A DNS temporary failure is temperror.
//   - Alignment (3.1): relaxed compares organisational domains, strict the exact domains.
//     SPF: the MAIL FROM domain (the HELO name for the null sender) against the From
//     domain, if SPF passed; DKIM: the d= of every signature that passed.
//   - Result: pass when either aligns; otherwise fail, unless an identifier that could
//     have aligned ended in temperror (then temperror: the message is not failed because
//     of a DNS problem).
//   - Policy (6.6.4): on fail, p (or sp for a From domain below the organisational domain
//     whose record was found there), then pct sampling: a message outside the sample gets
//     the next weaker disposition (reject -> quarantine -> none). The random source is
//     injectable for tests.
//
// Untrusted input: the From domain, the identifiers and every DNS answer (parsed by
// record.h with its limits).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lib/dmarc/psl.h"
#include "lib/dmarc/record.h"
#include "lib/dns/resolver.h"

namespace kite::dmarc {

enum class Result { kNone, kPass, kFail, kTempError, kPermError };
const char* ResultName(Result r);  // RFC 7489 11.2 words: "none", "pass", ...

enum class Disposition { kNone, kQuarantine, kReject };
const char* DispositionName(Disposition d);  // "none", "quarantine", "reject"

// Outcome of one authentication method for alignment.
enum class AuthState { kPass, kFail, kTempError };

struct DkimIdentity {
  std::string domain;  // d=
  AuthState state = AuthState::kFail;
};

struct Input {
  std::string from_domain;  // RFC5322.From domain
  std::string spf_domain;   // MAIL FROM domain, or the HELO name for the null sender
  AuthState spf = AuthState::kFail;
  std::vector<DkimIdentity> dkim;
};

struct Outcome {
  Result result = Result::kNone;
  Disposition disposition = Disposition::kNone;
  std::string from_domain;    // normalised
  std::string org_domain;     // of from_domain
  std::string record_domain;  // where the record was found ("" for none)
  bool have_policy = false;
  Policy policy = Policy::kNone;  // p or sp, whichever applied (policy.dmarc)
  bool spf_aligned = false;
  bool dkim_aligned = false;
  bool sampled_out = false;  // fail, but pct excluded the message from the policy
  std::string reason;        // for logs and the header comment
};

// A number in [0, 100): a message is in the sample when it is < pct.
using Random = std::function<int()>;
// The default source: a thread-local Mersenne Twister seeded from std::random_device.
Random DefaultRandom();

// True when `a` and `b` align in the given mode.
bool Aligned(std::string_view a, std::string_view b, Alignment mode, const PublicSuffixList& psl);

// The pure part: given the record found (or none) and the identifiers, the outcome.
// `subdomain` is true when the record came from the organisational domain and the From
// domain lies below it.
Outcome Apply(const Input& in, const Record& record, bool subdomain, const PublicSuffixList& psl,
              const Random& random);

// Discovery through `resolver`, then Apply().
Outcome Evaluate(const Input& in, dns::Resolver& resolver, const PublicSuffixList& psl,
                 const Random& random = DefaultRandom());

}  // namespace kite::dmarc
