#include "smtp_server/inbound_checks.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "lib/base/strings.h"
#include "lib/dkim/dkim.h"
#include "lib/dmarc/auth_results.h"
#include "lib/dns/cares_resolver.h"
#include "lib/log/log.h"
#include "lib/smtp/command.h"
#include "lib/smtp/header_from.h"

namespace kite::smtp_server {
namespace {

std::string DomainOf(const std::string& address) {
  size_t at = address.rfind('@');
  return at == std::string::npos ? "" : absl::AsciiStrToLower(address.substr(at + 1));
}

dmarc::AuthState SpfState(spf::Result r) {
  if (r == spf::Result::kPass) return dmarc::AuthState::kPass;
  if (r == spf::Result::kTempError) return dmarc::AuthState::kTempError;
  return dmarc::AuthState::kFail;
}

dmarc::AuthState DkimState(dkim::Result r) {
  if (r == dkim::Result::kPass) return dmarc::AuthState::kPass;
  if (r == dkim::Result::kTempError) return dmarc::AuthState::kTempError;
  return dmarc::AuthState::kFail;
}

}  // namespace

absl::StatusOr<std::unique_ptr<InboundChecks>> InboundChecks::Create(daemon::Runtime& rt) {
  const auto& c = rt.config();
  InboundOptions o;
  o.spf = c.Bool("mta", "spf");
  o.dkim = c.Bool("mta", "dkim_verify");
  o.dmarc = c.Bool("mta", "dmarc");
  std::string enforcement = c.String("mta", "dmarc_enforcement");
  o.enforcement = enforcement == "quarantine" ? DmarcEnforcement::kQuarantine
                  : enforcement == "none"     ? DmarcEnforcement::kNone
                                              : DmarcEnforcement::kFull;
  o.authserv_id = c.String("global", "hostname");
  o.spf_limits.max_dns_lookups = static_cast<int>(c.Int("mta", "spf_max_dns_lookups"));
  o.spf_limits.max_void_lookups = static_cast<int>(c.Int("mta", "spf_max_void_lookups"));
  o.dkim_max_signatures = static_cast<size_t>(c.Int("mta", "dkim_max_signatures"));

  dns::ResolverOptions ro;
  ro.servers = c.List("global", "dns_servers");
  ro.timeout = c.Duration("mta", "dns_timeout");
  auto resolver = dns::CaresResolver::Create(ro);
  if (!resolver.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("global.dns_servers: ", resolver.status().message()));
  }
  if ((o.spf || o.dkim || o.dmarc) && ro.servers.empty()) {
    log::Warn("mta.no_dns_servers")
        .Kv("detail", "global.dns_servers is empty: SPF, DKIM and DMARC give temperror for every message");
  }
  std::optional<dmarc::PublicSuffixList> psl;
  if (o.dmarc) {
    std::string path = c.String("mta", "public_suffix_list");
    auto loaded = dmarc::PublicSuffixList::Load(path);
    if (!loaded.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "mta.public_suffix_list: ", loaded.status().message(),
          " (install the publicsuffix package, set the path, or turn DMARC off with mta.dmarc=false)"));
    }
    log::Info("mta.public_suffix_list").Kv("path", path).Kv("rules", static_cast<int64_t>(loaded->rules()));
    psl = std::move(*loaded);
  }
  log::Info("mta.mail_auth").Kv("spf", o.spf || o.dmarc).Kv("dkim", o.dkim || o.dmarc).Kv("dmarc", o.dmarc)
      .Kv("enforcement", enforcement);
  return std::make_unique<InboundChecks>(std::move(o), std::move(*resolver), std::move(psl), &rt.metrics());
}

InboundChecks::InboundChecks(InboundOptions options, std::unique_ptr<dns::Resolver> resolver,
                             std::optional<dmarc::PublicSuffixList> psl, metrics::Metrics* metrics,
                             dmarc::Random random)
    : options_(std::move(options)),
      resolver_(std::move(resolver)),
      psl_(std::move(psl)),
      random_(std::move(random)) {
  if (metrics) {
    results_ = &metrics->Counter("kite_mta_auth_results_total",
                                 "Inbound mail authentication results by method (spf, dkim, dmarc) and result");
    actions_ = &metrics->Counter("kite_mta_dmarc_actions_total",
                                 "Actions taken on DMARC failures: reject (550), quarantine (Junk), none");
  }
  if (options_.dmarc && !psl_) options_.dmarc = false;  // no list, no organisational domains
}

void InboundChecks::Count(const char* method, const std::string& result) {
  if (results_) results_->Add({{"method", method}, {"result", result}}).Increment();
}

InboundVerdict InboundChecks::Check(const InboundRequest& req, std::string& message) {
  InboundVerdict v;
  dmarc::AuthResults ar;
  ar.authserv_id = options_.authserv_id;
  const bool do_spf = options_.spf || options_.dmarc;
  const bool do_dkim = options_.dkim || options_.dmarc;

  // SPF: the MAIL FROM identity (postmaster@HELO for the null sender).
  spf::Outcome spf_outcome;
  if (do_spf) {
    auto ip = spf::IpAddress::Parse(req.client_ip);
    if (!ip) {
      spf_outcome.result = spf::Result::kNone;
      spf_outcome.reason = "client address unknown";
    } else {
      spf::Request sreq;
      sreq.ip = *ip;
      sreq.mail_from = req.mail_from;
      sreq.helo = req.helo;
      sreq.receiver = options_.authserv_id;
      sreq.timestamp = absl::ToUnixSeconds(absl::Now());
      spf_outcome = spf::Evaluate(sreq, *resolver_, options_.spf_limits);
    }
    v.spf = spf::ResultName(spf_outcome.result);
    Count("spf", v.spf);
    if (options_.spf) {
      ar.spf = dmarc::SpfResultInfo{v.spf, req.mail_from, req.helo,
                                    spf_outcome.result == spf::Result::kPass ? "" : spf_outcome.reason};
    }
  }

  // DKIM: every signature, up to the limit (later ones are neutral, "not evaluated").
  std::vector<dkim::SignatureResult> sigs;
  if (do_dkim) {
    dkim::KeyLookup lookup = [this](std::string_view domain, std::string_view selector) -> absl::StatusOr<std::string> {
      auto txt = resolver_->Txt(absl::StrCat(AV(selector), "._domainkey.", AV(domain)));
      if (!txt.ok()) {
        if (dns::IsVoid(txt.status())) return absl::NotFoundError("no key record");
        return absl::UnavailableError(txt.status().message());
      }
      if (txt->empty()) return absl::NotFoundError("no key record");
      return (*txt)[0];
    };
    dkim::VerifyOptions vo;
    vo.now = absl::Now();
    vo.max_signatures = options_.dkim_max_signatures;
    auto verified = dkim::Verify(message, lookup, vo);
    if (verified.ok()) {
      sigs = std::move(*verified);
    } else {
      dkim::SignatureResult bad;
      bad.result = dkim::Result::kPermError;
      bad.reason = "message could not be parsed";
      sigs.push_back(bad);
    }
    std::vector<std::string> names;
    for (const auto& s : sigs) {
      std::string name(dkim::ResultName(s.result));
      Count("dkim", name);
      names.push_back(name);
      if (options_.dkim) ar.dkim.push_back({name, s.domain, s.selector, s.b_prefix, s.reason});
    }
    if (sigs.empty()) Count("dkim", "none");
    v.dkim = sigs.empty() ? "none" : absl::StrJoin(names, ",");
    ar.dkim_checked = options_.dkim;
  }

  // DMARC with the domain of the header From.
  if (options_.dmarc) {
    smtp::FromHeaders from = smtp::ParseFromHeaders(message);
    std::string from_domain;
    std::string problem;
    for (const std::string& a : from.addresses) {
      std::string d = DomainOf(smtp::NormalizeAddress(a));
      if (from_domain.empty()) {
        from_domain = d;
      } else if (d != from_domain) {
        problem = "From addresses in several domains";
      }
    }
    if (from.fields == 0 || from.addresses.empty()) problem = "no From header";
    if (from.fields > 1) problem = "several From fields";
    if (from.truncated) problem = "From header too large";
    if (problem.empty() && from_domain.empty()) problem = "From address without a domain";
    dmarc::DmarcResultInfo info;
    if (!problem.empty()) {
      info = {"permerror", from_domain, "", problem};
      v.dmarc = "permerror";
    } else {
      dmarc::Input in;
      in.from_domain = from_domain;
      in.spf_domain = req.mail_from.empty() ? req.helo : DomainOf(req.mail_from);
      in.spf = SpfState(spf_outcome.result);
      for (const auto& s : sigs) {
        if (!s.domain.empty()) in.dkim.push_back({s.domain, DkimState(s.result)});
      }
      dmarc::Outcome o = dmarc::Evaluate(in, *resolver_, *psl_, random_);
      v.dmarc = dmarc::ResultName(o.result);
      std::string comment;
      if (o.have_policy && o.result == dmarc::Result::kFail) {
        comment = absl::StrCat("p=", dmarc::PolicyName(o.policy), " dis=", dmarc::DispositionName(o.disposition),
                               o.sampled_out ? " pct-sampled-out" : "");
      } else if (o.result != dmarc::Result::kPass) {
        comment = o.reason;
      }
      info = {v.dmarc, o.from_domain, o.have_policy ? dmarc::PolicyName(o.policy) : "", comment};
      if (o.result == dmarc::Result::kFail) {
        dmarc::Disposition d = o.disposition;
        if (d == dmarc::Disposition::kReject && options_.enforcement == DmarcEnforcement::kFull) {
          v.reject = true;
          v.disposition = "reject";
          v.reject_text = absl::StrCat("Message rejected by the DMARC policy of ", o.from_domain,
                                       ": it failed SPF and DKIM alignment (RFC 7489)");
        } else if (d != dmarc::Disposition::kNone && options_.enforcement != DmarcEnforcement::kNone) {
          v.quarantine = true;
          v.disposition = "quarantine";
        }
        if (actions_) actions_->Add({{"action", v.disposition}}).Increment();
      }
    }
    Count("dmarc", v.dmarc);
    ar.dmarc = std::move(info);
  }

  message = dmarc::RemoveOwnAuthResults(message, options_.authserv_id, &v.forged_removed);
  v.header = dmarc::BuildAuthResults(ar);
  if (!v.reject) message.insert(0, v.header);
  log::Info("mta.auth_results").Kv("session", req.session).Kv("spf", v.spf).Kv("dkim", v.dkim).Kv("dmarc", v.dmarc)
      .Kv("disposition", v.disposition).Kv("forged_removed", v.forged_removed);
  return v;
}

}  // namespace kite::smtp_server
