// The pure decisions of the outbound relay: where to connect (MX ordering, implicit MX,
// null MX), what the peer offers (EHLO keywords), when to try again (backoff), whom to tell
// (RFC 3461 NOTIFY), and how the message goes on the wire (dot-stuffing, xtext).
//
// Standards: RFC 5321 5.1 (MX preference, implicit MX), RFC 7505 (null MX), RFC 5321 4.5.2
// (transparency), RFC 1869 / 5321 4.1.1.1 (EHLO keywords), RFC 1870 (SIZE), RFC 3461
// (NOTIFY, ORCPT, ENVID, xtext).
// Untrusted input: MX answers from DNS and EHLO replies from remote servers (both bounded by
// their parsers upstream: lib/dns and lib/smtp/reply_parser). No I/O, no clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/dns/resolver.h"

namespace kite::relay {

// The hosts to try for a destination domain, best first.
struct Route {
  bool null_mx = false;    // RFC 7505: the domain accepts no mail (permanent failure)
  bool implicit = false;   // no MX: the domain itself (its A/AAAA), RFC 5321 5.1
  std::vector<std::string> hosts;  // lowercase, no trailing dot
};

// From the MX answer (`mx` as returned by Resolver::Mx; `mx_void` when the answer was
// NODATA, i.e. the domain exists but has no MX). Lowest preference first; equal preferences
// keep the resolver's order; duplicate hosts are dropped. A lone MX "." (empty host) with
// any preference is a null MX; a null MX mixed with real ones is ignored (RFC 7505 3).
Route PlanRoute(std::string_view domain, const std::vector<dns::MxRecord>& mx, bool mx_void);

// What an EHLO reply offers (keywords upper-cased; the first line is the greeting name).
struct Capabilities {
  bool esmtp = false;
  bool starttls = false;
  bool dsn = false;
  bool pipelining = false;
  bool eightbitmime = false;
  bool smtputf8 = false;
  bool has_size = false;
  uint64_t size = 0;  // 0 with has_size: no fixed limit announced
  std::vector<std::string> auth;  // SASL mechanisms, upper case
};
Capabilities ParseEhlo(const std::vector<std::string>& lines);

// The delay before attempt `attempts + 1` after `attempts` failed ones (attempts >= 1):
// schedule[attempts - 1], the last entry repeating. An empty schedule means 5 minutes.
std::chrono::seconds Backoff(int attempts, const std::vector<std::chrono::seconds>& schedule);

// RFC 3461 4.1: may a DSN of `kind` ("FAILURE", "DELAY", "SUCCESS") be sent for a recipient
// whose NOTIFY was `notify` ("" = not given: failures and delays, as Postfix does)?
bool NotifyAllows(std::string_view notify, std::string_view kind);

// RFC 5321 4.5.2: the message as DATA content: lines starting with "." get another ".",
// bare LF becomes CRLF, a missing final CRLF is added, and ".\r\n" ends it.
std::string DotStuff(std::string_view message);

// RFC 3461 4: xtext-encodes '+', '=', controls, space and non-ASCII bytes as "+HH".
std::string EncodeXtext(std::string_view text);

// The domain of an address ("user@Example.ORG" -> "example.org"); "" without '@'.
std::string DomainOf(std::string_view address);

// True when the text needs SMTPUTF8 (any byte >= 0x80).
bool NeedsUtf8(std::string_view text);
bool Has8Bit(std::string_view message);

}  // namespace kite::relay
