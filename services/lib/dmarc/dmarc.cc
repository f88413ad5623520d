#include "lib/dmarc/dmarc.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::dmarc {
namespace {

enum class Lookup { kFound, kNone, kTempError, kPermError };

// TXT at _dmarc.<domain>: the DMARC record, if exactly one.
Lookup FindRecord(std::string_view domain, dns::Resolver& resolver, Record* out, std::string* reason) {
  std::string name = absl::StrCat("_dmarc.", AV(domain));
  auto txt = resolver.Txt(name);
  if (!txt.ok()) {
    if (dns::IsVoid(txt.status())) return Lookup::kNone;
    *reason = absl::StrCat("DNS error for ", name, ": ", txt.status().message());
    return Lookup::kTempError;
  }
  const std::string* found = nullptr;
  int n = 0;
  for (const std::string& t : *txt) {
    if (IsDmarcRecord(t)) {
      found = &t;
      ++n;
    }
  }
  if (n == 0) return Lookup::kNone;
  if (n > 1) {
    *reason = absl::StrCat("multiple DMARC records at ", name);
    return Lookup::kPermError;
  }
  auto rec = ParseRecord(*found);
  if (!rec.ok()) {
    *reason = absl::StrCat("invalid DMARC record at ", name, ": ", rec.status().message());
    return Lookup::kPermError;
  }
  *out = std::move(*rec);
  return Lookup::kFound;
}

Disposition Weaker(Disposition d) {
  return d == Disposition::kReject ? Disposition::kQuarantine : Disposition::kNone;
}

}  // namespace

const char* ResultName(Result r) {
  switch (r) {
    case Result::kNone:
      return "none";
    case Result::kPass:
      return "pass";
    case Result::kFail:
      return "fail";
    case Result::kTempError:
      return "temperror";
    case Result::kPermError:
      return "permerror";
  }
  return "none";
}

const char* DispositionName(Disposition d) {
  switch (d) {
    case Disposition::kNone:
      return "none";
    case Disposition::kQuarantine:
      return "quarantine";
    case Disposition::kReject:
      return "reject";
  }
  return "none";
}

Random DefaultRandom() {
  return [] {
    thread_local std::mt19937 gen{std::random_device{}()};
    return static_cast<int>(std::uniform_int_distribution<int>(0, 99)(gen));
  };
}

bool Aligned(std::string_view a, std::string_view b, Alignment mode, const PublicSuffixList& psl) {
  std::string na = NormalizeDomain(a), nb = NormalizeDomain(b);
  if (na.empty() || nb.empty()) return false;
  if (mode == Alignment::kStrict) return na == nb;
  return psl.OrganizationalDomain(na) == psl.OrganizationalDomain(nb);
}

Outcome Apply(const Input& in, const Record& record, bool subdomain, const PublicSuffixList& psl,
              const Random& random) {
  Outcome o;
  o.from_domain = NormalizeDomain(in.from_domain);
  o.org_domain = psl.OrganizationalDomain(o.from_domain);
  o.have_policy = true;
  o.policy = record.Applicable(subdomain);
  bool temp = false;
  if (Aligned(in.spf_domain, o.from_domain, record.aspf, psl)) {
    if (in.spf == AuthState::kPass) o.spf_aligned = true;
    if (in.spf == AuthState::kTempError) temp = true;
  }
  for (const DkimIdentity& d : in.dkim) {
    if (!Aligned(d.domain, o.from_domain, record.adkim, psl)) continue;
    if (d.state == AuthState::kPass) o.dkim_aligned = true;
    if (d.state == AuthState::kTempError) temp = true;
  }
  if (o.spf_aligned || o.dkim_aligned) {
    o.result = Result::kPass;
    o.reason = o.dkim_aligned ? (o.spf_aligned ? "DKIM and SPF aligned" : "DKIM aligned") : "SPF aligned";
    return o;
  }
  if (temp) {
    o.result = Result::kTempError;
    o.reason = "no aligned pass; an aligned identifier had a temporary error";
    return o;
  }
  o.result = Result::kFail;
  o.reason = "no aligned SPF or DKIM pass";
  Disposition d = o.policy == Policy::kReject       ? Disposition::kReject
                  : o.policy == Policy::kQuarantine ? Disposition::kQuarantine
                                                    : Disposition::kNone;
  if (d != Disposition::kNone && record.pct < 100) {
    int draw = random ? random() : 0;
    if (draw >= record.pct) {
      o.sampled_out = true;
      d = Weaker(d);
    }
  }
  o.disposition = d;
  return o;
}

Outcome Evaluate(const Input& in, dns::Resolver& resolver, const PublicSuffixList& psl, const Random& random) {
  Outcome none;
  none.from_domain = NormalizeDomain(in.from_domain);
  if (none.from_domain.empty()) {
    none.result = Result::kPermError;
    none.reason = "no usable From domain";
    return none;
  }
  none.org_domain = psl.OrganizationalDomain(none.from_domain);
  Record record;
  std::string reason;
  bool subdomain = false;
  std::string where = none.from_domain;
  Lookup l = FindRecord(none.from_domain, resolver, &record, &reason);
  if (l == Lookup::kNone && none.org_domain != none.from_domain) {
    where = none.org_domain;
    subdomain = true;
    l = FindRecord(none.org_domain, resolver, &record, &reason);
  }
  switch (l) {
    case Lookup::kNone:
      none.result = Result::kNone;
      none.reason = "no DMARC record";
      return none;
    case Lookup::kTempError:
      none.result = Result::kTempError;
      none.reason = reason;
      return none;
    case Lookup::kPermError:
      none.result = Result::kPermError;
      none.reason = reason;
      return none;
    case Lookup::kFound:
      break;
  }
  Outcome o = Apply(in, record, subdomain, psl, random);
  o.record_domain = where;
  return o;
}

}  // namespace kite::dmarc
