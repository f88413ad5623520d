// Delivery status notifications: the bounce and delay-warning messages the outbound relay
// sends to an envelope sender.
//
// Standards: RFC 3464 (message/delivery-status), RFC 6522 (multipart/report), RFC 3461
// (RET, ENVID, ORCPT), RFC 3463 (status codes), RFC 3834 (Auto-Submitted), RFC 5322.
// Untrusted input: the original message and the remote server's reply text (Diagnostic-Code)
// are copied in; every value put into a header field is stripped of CR, LF and other
// controls and bounded, so a remote reply cannot add fields or parts. The MIME boundary is
// chosen so it does not occur in the original message. Pure: no I/O, the time is an input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace kite::relay {

struct DsnRecipient {
  std::string final_recipient;     // the address we tried
  std::string original_recipient;  // ORCPT "rfc822;addr" as given, or ""
  std::string action;              // "failed" or "delayed"
  std::string status;              // "5.1.1"; see StatusFromReply
  std::string diagnostic;          // the remote reply ("550 5.1.1 No such user"), or ""
  std::string remote_mta;          // the host that answered, or ""
  std::string reason;              // a human sentence for the text part
  absl::Time last_attempt = absl::InfinitePast();
  absl::Time will_retry_until = absl::InfinitePast();  // "delayed" only
};

struct DsnInput {
  std::string reporting_mta;  // our host name (global.hostname)
  std::string to;             // the envelope sender that gets the report
  std::string envid;          // ENVID as given, or ""
  std::string ret;            // "FULL", "HDRS" or "" (not given)
  std::string message_id;     // for the Message-ID field, without <>
  std::string boundary;       // a unique token; extended if it occurs in the original
  absl::Time arrival = absl::InfinitePast();
  absl::Time now = absl::InfinitePast();
  std::vector<DsnRecipient> recipients;
  std::string_view original;  // the message as spooled
  // RET=FULL (or RET not given, for failures) returns the whole message only up to this
  // size; beyond it, and for delay warnings without RET=FULL, only the header.
  size_t max_returned = 1 << 20;
};

// The complete report message (CRLF line ends), to be spooled with the null sender.
std::string BuildDsn(const DsnInput& in);

// The RFC 3463 status for a reply: its enhanced code when it has one of the right class,
// else "4.0.0" / "5.0.0" from the basic code (other codes: "4.0.0").
std::string StatusFromReply(int code, std::string_view enhanced);

// The header of a message (up to and including the empty line, or all of it).
std::string_view HeaderOf(std::string_view message);

// A header field value made safe: controls (CR, LF included) become spaces, at most `max`.
std::string CleanFieldValue(std::string_view text, size_t max = 900);

}  // namespace kite::relay
