// SMTP command parser and reply formatter: the pure protocol part of the SMTP server.
//
// Standards: RFC 5321 (SMTP, 4.1.1 commands, 4.1.2 syntax, 4.5.3.1 size limits), RFC 1869 /
// RFC 5321 3.3 ESMTP parameters, RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 3030 (BDAT,
// BINARYMIME), RFC 3461 (DSN: RET, ENVID, NOTIFY, ORCPT, xtext), RFC 4954 (AUTH), RFC 6531
// (SMTPUTF8), RFC 3463 / RFC 5248 (enhanced status codes).
//
// Untrusted input: one command line exactly as the client sent it, without the CRLF. Lines
// with control characters, invalid UTF-8 or more than kMaxCommandLength octets
// (kMaxAuthCommandLength for AUTH) are rejected before any further work. Every failure is an
// absl::InvalidArgumentError whose message is the complete SMTP reply to send
// ("501 5.5.4 Syntax: MAIL FROM:<address>"); ErrorReply() turns it into a Reply.
//
// Nothing here does I/O; the session owns the socket, the line reader and the state machine
// (which command is allowed when).
#ifndef KITE_SERVICES_LIB_SMTP_COMMAND_H_
#define KITE_SERVICES_LIB_SMTP_COMMAND_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kite::smtp {

// RFC 5321 4.5.3.1.4 says 512 octets; ESMTP parameters (RFC 1869, DSN ORCPT and ENVID)
// legitimately push MAIL and RCPT past that, so use Postfix's line_length_limit default.
inline constexpr size_t kMaxCommandLength = 2048;
// RFC 4954 4: the AUTH command line (with its initial response) may be up to 12288 octets.
inline constexpr size_t kMaxAuthCommandLength = 12288;
// RFC 5321 4.5.3.1.
inline constexpr size_t kMaxLocalPartLength = 64;
inline constexpr size_t kMaxDomainLength = 255;
inline constexpr size_t kMaxPathLength = 256;  // including the angle brackets

enum class Verb {
  kHelo,
  kEhlo,
  kMail,
  kRcpt,
  kData,
  kBdat,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kExpn,
  kHelp,
  kStartTls,
  kAuth,
  kUnknown
};

struct Command {
  Verb verb = Verb::kUnknown;
  std::string verb_text;  // as sent, e.g. "mail"
  std::string argument;   // everything after the verb, raw, trimmed of surrounding spaces
  // MAIL/RCPT: the path without <>, source route stripped, not normalised (see
  // NormalizeAddress). "" is the null reverse path <> (MAIL only). RCPT TO:<Postmaster>
  // yields "Postmaster" without a domain.
  std::string address;
  // True when address contains non-ASCII (RFC 6531). MAIL accepts that only with SMTPUTF8 in
  // the same command; for RCPT the session must check that the transaction's MAIL had
  // SMTPUTF8 and otherwise reply 553 5.6.7.
  bool utf8_address = false;
  // ESMTP parameters in the order sent, keyword uppercased. Values are raw (xtext still
  // encoded, see DecodeXtext) except BODY, RET and NOTIFY whose values are uppercased.
  // SMTPUTF8 has an empty value. Only parameters Kite knows are accepted: MAIL takes SIZE,
  // BODY, SMTPUTF8, RET, ENVID, AUTH; RCPT takes NOTIFY, ORCPT.
  std::vector<std::pair<std::string, std::string>> params;
  // BDAT (RFC 3030).
  uint64_t bdat_size = 0;
  bool bdat_last = false;
  // AUTH (RFC 4954): mechanism uppercased; the initial response as sent ("=" means an empty
  // response), present only when has_initial_response.
  std::string auth_mechanism;
  std::string auth_initial_response;
  bool has_initial_response = false;

  // The value of an ESMTP parameter, or nullptr when absent.
  const std::string* Param(std::string_view keyword) const;
};

struct Reply {
  int code = 0;
  std::string enhanced;  // "2.1.0", or empty for replies without an enhanced code (greeting)
  std::string text;      // lines separated by '\n'

  // "250-first\r\n250 last\r\n" with the enhanced code on every line. Control characters in
  // the text (client-supplied text echoed back) are replaced by '?', so a reply is always
  // well-formed however it was built.
  std::string Format() const;
};

// Parses one command line (without CRLF).
absl::StatusOr<Command> ParseCommand(std::string_view line);

// The reply for a ParseCommand error. A status whose message is not a reply (never from
// ParseCommand) becomes "451 4.3.0 Internal error".
Reply ErrorReply(const absl::Status& status);

// The verb for a command name (case-insensitive), kUnknown for anything else.
Verb LookupVerb(std::string_view name);

// RFC 5321 Domain: sub-domain *("." sub-domain), LDH labels of at most 63 octets, at most
// 255 octets in all. With allow_utf8, labels may also hold UTF-8 (U-labels, RFC 6531).
bool IsValidDomain(std::string_view domain, bool allow_utf8 = false);

// RFC 5321 address-literal: "[" IPv4 / "IPv6:" IPv6 / General-address-literal "]".
bool IsValidAddressLiteral(std::string_view literal);

// RFC 5321 Mailbox: Local-part "@" (Domain / address-literal), with the length limits.
bool IsValidMailbox(std::string_view mailbox, bool allow_utf8 = false);

// Canonical form for lookups: the domain (ASCII letters) lowercased, the local part kept as
// sent except that a quoted local part which needs no quoting is unquoted
// ("\"john\"@Example.COM" -> "john@example.com").
std::string NormalizeAddress(std::string_view address);

// RFC 3461 4: xtext ("+2B" -> "+"). Fails on malformed hex escapes or bytes outside xchar.
absl::StatusOr<std::string> DecodeXtext(std::string_view xtext);

}  // namespace kite::smtp

#endif  // KITE_SERVICES_LIB_SMTP_COMMAND_H_
