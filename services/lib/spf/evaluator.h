// SPF evaluation: check_host() of RFC 7208 section 4, over a dns::Resolver.
//
// Enforces the processing limits of RFC 7208 4.6.4: at most 10 mechanisms and modifiers
// that query DNS (include, a, mx, ptr, exists, redirect) per evaluation, at most 10 MX
// names per mx mechanism, at most 10 PTR names per ptr, and at most 2 "void" lookups
// (NXDOMAIN or no answer); going over any of them is a permerror. DNS timeouts and server
// failures give temperror. Untrusted input: every DNS answer and the SMTP client's MAIL
// FROM and HELO values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/dns/resolver.h"
#include "lib/spf/record.h"

namespace kite::spf {

enum class Result { kNone, kNeutral, kPass, kFail, kSoftFail, kTempError, kPermError };

// "pass", "fail", ... as used in Received-SPF and Authentication-Results.
const char* ResultName(Result r);

struct Outcome {
  Result result = Result::kNone;
  // For kFail: the explanation (exp= modifier or a default text) to put in the 550 reply.
  std::string explanation;
  // Why this result: the mechanism that matched or the error, for logs and headers.
  std::string reason;
  int dns_lookups = 0;   // mechanisms/modifiers that counted toward the limit of 10
  int void_lookups = 0;  // NXDOMAIN / empty answers
};

struct Request {
  IpAddress ip;                      // the SMTP client's address
  std::string mail_from;             // reverse-path without <>; empty for the null sender
  std::string helo;                  // EHLO/HELO argument
  std::string receiver = "unknown";  // our host name, for %{r} in explanations
  int64_t timestamp = 0;             // for %{t} in explanations
};

struct Limits {
  int max_dns_lookups = 10;
  int max_void_lookups = 2;
  int max_mx_names = 10;
  int max_ptr_names = 10;
  int max_depth = 20;  // include/redirect nesting, a safety net beyond the lookup limit
};

// The MAIL FROM identity (RFC 7208 2.4): the domain of mail_from, or "postmaster@<helo>"
// when mail_from is empty.
Outcome Evaluate(const Request& req, dns::Resolver& resolver, const Limits& limits = {});

// The HELO identity (RFC 7208 2.3): check_host with <domain> = helo.
Outcome EvaluateHelo(const Request& req, dns::Resolver& resolver, const Limits& limits = {});

// check_host(ip, domain, sender) itself.
Outcome CheckHost(const IpAddress& ip, std::string_view domain, std::string_view sender,
                  std::string_view helo, dns::Resolver& resolver, const Limits& limits = {},
                  std::string_view receiver = "unknown", int64_t timestamp = 0);

}  // namespace kite::spf
