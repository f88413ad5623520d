// The Authentication-Results header field (RFC 8601) that kite-mta puts on inbound mail,
// and the removal of fields that claim to come from us (RFC 8601 section 5).
//
// Building is pure: every value is emitted as a token or a domain / local@domain when it is
// one, and as a quoted-string otherwise (control characters, CR and LF are dropped, so
// nothing the sender chose can start a new header line). Removal reads only the header
// block of an untrusted message; a field whose authserv-id (after CFWS, comments nested at
// most kMaxCommentDepth deep) equals ours, case-insensitively, is removed with its
// continuation lines. No I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kite::dmarc {

inline constexpr int kMaxCommentDepth = 8;

struct SpfResultInfo {
  std::string result;    // "pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"
  std::string mailfrom;  // MAIL FROM address; empty for the null sender (then smtp.helo)
  std::string helo;
  std::string comment;   // optional, e.g. the matching mechanism
};

struct DkimResultInfo {
  std::string result;  // "pass", "fail", "neutral", "temperror", "permerror"
  std::string domain;  // header.d
  std::string selector;  // header.s
  std::string b_prefix;  // header.b (first 8 characters of b=)
  std::string comment;
};

struct DmarcResultInfo {
  std::string result;       // "pass", "fail", "none", "temperror", "permerror"
  std::string from_domain;  // header.from
  std::string policy;       // policy.dmarc: "none", "quarantine", "reject"; "" to omit
  std::string comment;
};

struct AuthResults {
  std::string authserv_id;  // our host name
  std::optional<SpfResultInfo> spf;
  bool dkim_checked = false;  // with no signatures: dkim=none
  std::vector<DkimResultInfo> dkim;
  std::optional<DmarcResultInfo> dmarc;
};

// A pvalue (RFC 8601 2.2): as is when it is a MIME token or [local-part "@"] domain-name,
// else a quoted-string.
std::string FormatValue(std::string_view v);

// "Authentication-Results: <id>;\r\n\tspf=...;\r\n\tdkim=...\r\n" (folded, CRLF at the end).
// With no method at all: "Authentication-Results: <id>; none".
std::string BuildAuthResults(const AuthResults& ar);

// The authserv-id of an Authentication-Results field value (after the colon), or "" when
// there is none to be found.
std::string AuthservId(std::string_view field_value);

// `message` with every Authentication-Results field whose authserv-id equals `authserv_id`
// (case-insensitive) removed from the header block; `removed` (if given) gets the count.
std::string RemoveOwnAuthResults(std::string_view message, std::string_view authserv_id, int* removed = nullptr);

}  // namespace kite::dmarc
