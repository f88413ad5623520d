// The messages kite-delivery writes itself: Sieve vacation replies (RFC 5230), Sieve reject
// notices (RFC 5429, as an RFC 3798 MDN), quota warnings; and the RFC 3834 rules that decide
// whether an automatic reply may be sent at all.
//
// Untrusted input: every value taken from the incoming message or a user's script (subject,
// reason, addresses, Message-ID) goes into a header field only through CleanField (controls
// including CR and LF removed, bounded) or RFC 2047 encoding, so no one can add header fields
// or MIME parts to a generated message. Pure: no I/O; the time and unique tokens are inputs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace kite::delivery {

// Every value of a header field of the incoming message (unfolded, decoded), in order.
using HeaderLookup = std::function<std::vector<std::string>(std::string_view name)>;

struct AutoReplyDecision {
  bool allowed = false;
  std::string reason;  // why not, for the log ("auto-submitted", "list", ...)
};

// RFC 3834 section 2 and RFC 5230 section 4.5: no automatic reply to the null sender, to
// mailer daemons and list software, to mail marked Auto-Submitted (other than "no"),
// Precedence bulk/list/junk, or carrying List-* fields; and only when one of `own` (the
// user's addresses and :addresses, lower case) appears in To, Cc, Bcc or Resent-To/Cc/Bcc.
AutoReplyDecision MayAutoReply(std::string_view envelope_from, const HeaderLookup& headers,
                               const std::vector<std::string>& own);

// The addr-specs in an address-list header value, lower case ("A <a@x>, b@y" -> a@x, b@y).
std::vector<std::string> ExtractAddresses(std::string_view value);

// A header field value made safe: controls become spaces, runs collapsed, at most `max`.
std::string CleanField(std::string_view text, size_t max = 900);
// The value as is when printable ASCII, else one or more RFC 2047 B-encoded UTF-8 words.
std::string EncodeWord(std::string_view text);
// "Mon, 23 Nov 2026 05:48:23 +0000"
std::string RfcDate(absl::Time t);

struct VacationReply {
  std::string from;           // the user's address, or :from (an address or "Name <addr>")
  std::string to;             // the envelope sender
  std::string subject;        // :subject, or "" for "Auto: <original subject>"
  std::string original_subject;
  std::string original_message_id;  // with <>, or ""
  std::string original_references;
  std::string reason;  // the text, or with mime=true a MIME entity (header, blank line, body)
  bool mime = false;
  std::string message_id;  // without <>
  absl::Time date;
};
// The complete reply (CRLF), to be spooled with the null sender (RFC 5230 5.7 / RFC 3834).
std::string BuildVacationReply(const VacationReply& in);

struct RejectNotice {
  std::string reporting_host;  // global.hostname
  std::string postmaster;      // From: address
  std::string to;              // the envelope sender
  std::string final_recipient;
  std::string reason;  // from the script
  std::string original_message_id;
  std::string_view original;  // the whole message; its header is returned
  std::string message_id;
  std::string boundary;
  absl::Time date;
};
// RFC 5429 2.1: a message/disposition-notification (RFC 3798) with disposition
// "automatic-action/MDN-sent-automatically; deleted".
std::string BuildRejectNotice(const RejectNotice& in);

struct QuotaWarning {
  std::string postmaster;  // From:
  std::string to;          // the account
  int64_t used_bytes = 0;
  int64_t limit_bytes = 0;
  int percent = 80;  // the threshold crossed
  std::string message_id;
  absl::Time date;
};
std::string BuildQuotaWarning(const QuotaWarning& in);

// Sizes for people: "1.5 MiB".
std::string HumanBytes(int64_t bytes);

}  // namespace kite::delivery
