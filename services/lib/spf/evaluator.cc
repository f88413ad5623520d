#include "lib/spf/evaluator.h"

#include <utility>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::spf {
namespace {

struct Step {
  Result result = Result::kNone;
  std::string reason;
  std::string explanation;
};

Result FromQualifier(Qualifier q) {
  switch (q) {
    case Qualifier::kPass:
      return Result::kPass;
    case Qualifier::kFail:
      return Result::kFail;
    case Qualifier::kSoftFail:
      return Result::kSoftFail;
    case Qualifier::kNeutral:
      return Result::kNeutral;
  }
  return Result::kNeutral;
}

std::string Describe(const Mechanism& m) {
  std::string out;
  if (m.qualifier != Qualifier::kPass) out.push_back(static_cast<char>(m.qualifier));
  out += MechanismName(m.kind);
  if (m.kind == MechanismKind::kIp4 || m.kind == MechanismKind::kIp6) {
    absl::StrAppend(&out, ":", m.network.ToString(), "/",
                    m.kind == MechanismKind::kIp4 ? m.cidr4 : m.cidr6);
  } else if (!m.domain_spec.empty()) {
    absl::StrAppend(&out, ":", m.domain_spec);
  }
  return out;
}

bool DomainMatches(std::string_view name, std::string_view target) {
  if (absl::EqualsIgnoreCase(AV(name), AV(target))) return true;
  return name.size() > target.size() && name[name.size() - target.size() - 1] == '.' &&
         absl::EqualsIgnoreCase(AV(name.substr(name.size() - target.size())), AV(target));
}

// A mechanism either matches, does not, or ends evaluation with an error result.
using Match = std::variant<bool, Step>;

class Evaluator {
 public:
  Evaluator(dns::Resolver& resolver, const Limits& limits, MacroContext ctx)
      : resolver_(resolver), limits_(limits), ctx_(std::move(ctx)) {}

  Outcome Run(std::string_view domain) {
    Step s;
    if (!IsValidDomain(domain)) {
      s = Step{Result::kNone,
               absl::StrCat("'", AV(domain.substr(0, 80)), "' is not a valid domain name"), ""};
    } else {
      s = Check(domain, 0, /*allow_exp=*/true);
    }
    Outcome o;
    o.result = s.result;
    o.reason = std::move(s.reason);
    o.explanation = std::move(s.explanation);
    o.dns_lookups = lookups_;
    o.void_lookups = voids_;
    return o;
  }

 private:
  static Step Perm(std::string reason) { return Step{Result::kPermError, std::move(reason), ""}; }
  static Step Temp(std::string reason) { return Step{Result::kTempError, std::move(reason), ""}; }

  std::optional<Step> CountLookup() {
    if (++lookups_ > limits_.max_dns_lookups) {
      return Perm(absl::StrCat("more than ", limits_.max_dns_lookups, " DNS lookups"));
    }
    return std::nullopt;
  }

  // After a lookup: a void answer counts toward the void limit; other errors are temperror
  // (or permerror for a name that cannot be queried). nullopt: go on (with no data if void).
  std::optional<Step> CheckLookup(const absl::Status& st, std::string_view what) {
    if (st.ok()) return std::nullopt;
    if (dns::IsVoid(st)) {
      if (++voids_ > limits_.max_void_lookups) {
        return Perm(absl::StrCat("more than ", limits_.max_void_lookups,
                                 " void DNS lookups (last: ", AV(what), ")"));
      }
      return std::nullopt;
    }
    if (absl::IsInvalidArgument(st)) return Perm(absl::StrCat(AV(what), ": ", st.message()));
    return Temp(absl::StrCat(AV(what), ": ", st.message()));
  }

  absl::StatusOr<std::vector<std::string>> Addresses(std::string_view name, bool v6) {
    return v6 ? resolver_.Aaaa(name) : resolver_.A(name);
  }

  bool AnyInPrefix(const std::vector<std::string>& addrs, const Mechanism& m) {
    const IpAddress& ip = ctx_.ip;
    for (const std::string& a : addrs) {
      std::optional<IpAddress> p = IpAddress::Parse(a);
      if (p.has_value() && ip.InPrefix(*p, ip.v6 ? m.cidr6 : m.cidr4)) return true;
    }
    return false;
  }

  absl::StatusOr<std::string> Target(const Mechanism& m, std::string_view domain) {
    if (m.domain_spec.empty()) return std::string(domain);
    MacroContext c = ctx_;
    c.domain = std::string(domain);
    return ExpandDomainSpec(m.domain_spec, c);
  }

  Match Matches(const Mechanism& m, std::string_view domain, int depth) {
    const IpAddress& ip = ctx_.ip;
    switch (m.kind) {
      case MechanismKind::kAll:
        return true;
      case MechanismKind::kIp4:
        return !ip.v6 && ip.InPrefix(m.network, m.cidr4);
      case MechanismKind::kIp6:
        return ip.v6 && ip.InPrefix(m.network, m.cidr6);
      default:
        break;
    }
    if (std::optional<Step> s = CountLookup()) return *s;
    absl::StatusOr<std::string> target = Target(m, domain);
    if (!target.ok()) return Perm(absl::StrCat(Describe(m), ": ", target.status().message()));

    switch (m.kind) {
      case MechanismKind::kInclude: {
        Step sub = Check(*target, depth + 1, /*allow_exp=*/false);
        switch (sub.result) {
          case Result::kPass:
            return true;
          case Result::kFail:
          case Result::kSoftFail:
          case Result::kNeutral:
            return false;
          case Result::kTempError:
            return sub;
          case Result::kPermError:
            return sub;
          case Result::kNone:
            return Perm(absl::StrCat("include:", *target, " has no SPF record"));
        }
        return false;
      }
      case MechanismKind::kA: {
        auto addrs = Addresses(*target, ip.v6);
        if (auto s = CheckLookup(addrs.status(), Describe(m))) return *s;
        return addrs.ok() && AnyInPrefix(*addrs, m);
      }
      case MechanismKind::kMx: {
        auto mx = resolver_.Mx(*target);
        if (auto s = CheckLookup(mx.status(), Describe(m))) return *s;
        if (!mx.ok()) return false;
        if (static_cast<int>(mx->size()) > limits_.max_mx_names) {
          return Perm(
              absl::StrCat(Describe(m), ": more than ", limits_.max_mx_names, " MX records"));
        }
        for (const dns::MxRecord& r : *mx) {
          if (r.host.empty()) continue;  // null MX
          auto addrs = Addresses(r.host, ip.v6);
          if (!addrs.ok()) {
            if (dns::IsVoid(addrs.status())) continue;
            if (absl::IsInvalidArgument(addrs.status())) continue;
            return Temp(absl::StrCat(Describe(m), ": ", addrs.status().message()));
          }
          if (AnyInPrefix(*addrs, m)) return true;
        }
        return false;
      }
      case MechanismKind::kPtr: {
        auto names = resolver_.Ptr(ip.ToString());
        if (!names.ok()) {
          // RFC 7208 5.5: a DNS error in the PTR lookup means no match.
          if (dns::IsVoid(names.status())) {
            if (auto s = CheckLookup(names.status(), Describe(m))) return *s;
          }
          return false;
        }
        int checked = 0;
        for (const std::string& name : *names) {
          if (checked++ >= limits_.max_ptr_names) break;
          if (!DomainMatches(name, *target)) continue;
          auto addrs = Addresses(name, ip.v6);
          if (!addrs.ok()) continue;
          for (const std::string& a : *addrs) {
            std::optional<IpAddress> p = IpAddress::Parse(a);
            if (p.has_value() && *p == ip) return true;
          }
        }
        return false;
      }
      case MechanismKind::kExists: {
        auto addrs = resolver_.A(*target);  // always A, whatever the client's family
        if (auto s = CheckLookup(addrs.status(), Describe(m))) return *s;
        return addrs.ok() && !addrs->empty();
      }
      default:
        return false;
    }
  }

  std::string Explanation(const Record& rec, std::string_view domain) {
    std::string fallback =
        absl::StrCat(ctx_.ip.ToString(), " is not allowed to send mail for ", AV(domain));
    if (!rec.exp.has_value()) return fallback;
    MacroContext c = ctx_;
    c.domain = std::string(domain);
    absl::StatusOr<std::string> name = ExpandDomainSpec(*rec.exp, c);
    if (!name.ok()) return fallback;
    auto txt = resolver_.Txt(*name);  // not counted (RFC 7208 4.6.4)
    if (!txt.ok() || txt->size() != 1) return fallback;
    absl::StatusOr<std::string> text = ExpandMacros((*txt)[0], c, /*exp=*/true);
    if (!text.ok() || text->empty()) return fallback;
    return *std::move(text);
  }

  Step Check(std::string_view domain, int depth, bool allow_exp) {
    if (depth > limits_.max_depth) return Perm("include/redirect nesting too deep");
    auto txt = resolver_.Txt(domain);
    if (!txt.ok()) {
      if (dns::IsVoid(txt.status()))
        return Step{Result::kNone, absl::StrCat("no SPF record for ", AV(domain)), ""};
      if (absl::IsInvalidArgument(txt.status())) {
        return Step{Result::kNone, absl::StrCat("cannot query ", AV(domain)), ""};
      }
      return Temp(absl::StrCat("TXT ", AV(domain), ": ", txt.status().message()));
    }
    const std::string* record = nullptr;
    for (const std::string& t : *txt) {
      if (!IsSpfRecord(t)) continue;
      if (record != nullptr) return Perm(absl::StrCat("more than one SPF record for ", AV(domain)));
      record = &t;
    }
    if (record == nullptr)
      return Step{Result::kNone, absl::StrCat("no SPF record for ", AV(domain)), ""};
    absl::StatusOr<Record> rec = ParseRecord(*record);
    if (!rec.ok()) return Perm(absl::StrCat(AV(domain), ": ", rec.status().message()));

    for (const Mechanism& m : rec->mechanisms) {
      Match match = Matches(m, domain, depth);
      if (Step* s = std::get_if<Step>(&match)) return std::move(*s);
      if (!std::get<bool>(match)) continue;
      Step s{FromQualifier(m.qualifier), absl::StrCat("matched ", Describe(m), " in ", AV(domain)),
             ""};
      if (s.result == Result::kFail && allow_exp) s.explanation = Explanation(*rec, domain);
      return s;
    }
    if (rec->redirect.has_value()) {
      if (std::optional<Step> s = CountLookup()) return *s;
      MacroContext c = ctx_;
      c.domain = std::string(domain);
      absl::StatusOr<std::string> target = ExpandDomainSpec(*rec->redirect, c);
      if (!target.ok()) return Perm(absl::StrCat("redirect: ", target.status().message()));
      Step sub = Check(*target, depth + 1, allow_exp);
      if (sub.result == Result::kNone)
        return Perm(absl::StrCat("redirect=", *target, " has no SPF record"));
      return sub;
    }
    return Step{Result::kNeutral, absl::StrCat("no mechanism matched in ", AV(domain)), ""};
  }

  dns::Resolver& resolver_;
  const Limits& limits_;
  MacroContext ctx_;
  int lookups_ = 0;
  int voids_ = 0;
};

MacroContext BaseContext(const IpAddress& ip, std::string_view sender, std::string_view helo,
                         std::string_view receiver, int64_t timestamp) {
  MacroContext c;
  c.ip = ip.Unmapped();
  c.sender = std::string(sender);
  size_t at = sender.rfind('@');
  if (at == std::string_view::npos) {
    c.local_part = "postmaster";
    c.sender_domain = std::string(sender);
    c.sender = absl::StrCat("postmaster@", AV(sender));
  } else {
    c.local_part = std::string(sender.substr(0, at));
    c.sender_domain = std::string(sender.substr(at + 1));
    if (c.local_part.empty()) {
      c.local_part = "postmaster";
      c.sender = absl::StrCat("postmaster", c.sender);
    }
  }
  c.helo = std::string(helo);
  c.validated = "unknown";  // %{p} is discouraged (RFC 7208 7.3); we do not validate
  c.receiver = std::string(receiver);
  c.timestamp = timestamp;
  return c;
}

}  // namespace

const char* ResultName(Result r) {
  switch (r) {
    case Result::kNone:
      return "none";
    case Result::kNeutral:
      return "neutral";
    case Result::kPass:
      return "pass";
    case Result::kFail:
      return "fail";
    case Result::kSoftFail:
      return "softfail";
    case Result::kTempError:
      return "temperror";
    case Result::kPermError:
      return "permerror";
  }
  return "?";
}

Outcome CheckHost(const IpAddress& ip, std::string_view domain, std::string_view sender,
                  std::string_view helo, dns::Resolver& resolver, const Limits& limits,
                  std::string_view receiver, int64_t timestamp) {
  std::string d(domain);
  if (!d.empty() && d.back() == '.') d.pop_back();
  Evaluator ev(resolver, limits, BaseContext(ip, sender, helo, receiver, timestamp));
  return ev.Run(d);
}

Outcome Evaluate(const Request& req, dns::Resolver& resolver, const Limits& limits) {
  std::string sender =
      req.mail_from.empty() ? absl::StrCat("postmaster@", req.helo) : req.mail_from;
  size_t at = sender.rfind('@');
  std::string domain = at == std::string::npos ? sender : sender.substr(at + 1);
  return CheckHost(req.ip, domain, sender, req.helo, resolver, limits, req.receiver, req.timestamp);
}

Outcome EvaluateHelo(const Request& req, dns::Resolver& resolver, const Limits& limits) {
  std::string sender = absl::StrCat("postmaster@", req.helo);
  return CheckHost(req.ip, req.helo, sender, req.helo, resolver, limits, req.receiver,
                   req.timestamp);
}

}  // namespace kite::spf
