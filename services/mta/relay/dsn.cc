#include "mta/relay/dsn.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"
#include "mta/relay/plan.h"

namespace kite::relay {
namespace {

std::string Rfc5322Date(absl::Time t) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", t, absl::UTCTimeZone());
}

// "rfc822;addr", or "utf-8;addr" for an internationalised address (RFC 6533).
std::string AddressField(std::string_view address) {
  return absl::StrCat(NeedsUtf8(address) ? "utf-8;" : "rfc822;", CleanFieldValue(address, 512));
}

}  // namespace

std::string CleanFieldValue(std::string_view text, size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  for (char c : text) {
    if (out.size() >= max) break;
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string StatusFromReply(int code, std::string_view enhanced) {
  int cls = code / 100;
  if (cls != 4 && cls != 5) cls = 4;
  if (enhanced.size() >= 5 && enhanced[0] - '0' == cls && enhanced[1] == '.') return std::string(enhanced);
  return absl::StrCat(cls, ".0.0");
}

std::string_view HeaderOf(std::string_view message) {
  size_t end = message.find("\r\n\r\n");
  if (end != std::string_view::npos) return message.substr(0, end + 4);
  end = message.find("\n\n");
  if (end != std::string_view::npos) return message.substr(0, end + 2);
  return message;
}

std::string BuildDsn(const DsnInput& in) {
  bool any_failed = false;
  for (const DsnRecipient& r : in.recipients) any_failed |= r.action == "failed";
  // RFC 2046 5.1.1 bchars without space, at most 70 with what may be appended.
  std::string boundary;
  for (char c : in.boundary.substr(0, 50)) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || std::string_view("'()+_,-./:=?").find(c) != std::string_view::npos) {
      boundary += c;
    }
  }
  if (boundary.empty()) boundary = "kite-dsn";
  while (in.original.find(boundary) != std::string_view::npos && boundary.size() < 68) boundary += "=_";

  // RFC 3461 4.3: RET=HDRS asks for the header only; without RET, failures return the
  // message and delay warnings only its header. Big messages are never returned whole.
  bool full = in.ret == "FULL" || (in.ret.empty() && any_failed);
  if (in.original.size() > in.max_returned) full = false;

  const std::string host = CleanFieldValue(in.reporting_mta, 255);
  std::string m;
  absl::StrAppend(&m, "From: Mail Delivery System <MAILER-DAEMON@", host, ">\r\n");
  absl::StrAppend(&m, "To: <", CleanFieldValue(in.to, 512), ">\r\n");
  absl::StrAppend(&m, "Subject: ",
                  any_failed ? "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)", "\r\n");
  absl::StrAppend(&m, "Date: ", Rfc5322Date(in.now), "\r\n");
  absl::StrAppend(&m, "Message-ID: <", CleanFieldValue(in.message_id, 200), ">\r\n");
  absl::StrAppend(&m, "Auto-Submitted: auto-replied\r\n");
  absl::StrAppend(&m, "MIME-Version: 1.0\r\n");
  absl::StrAppend(&m, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"", boundary,
                  "\"\r\n\r\n");
  absl::StrAppend(&m, "This is a MIME-encapsulated message.\r\n\r\n");

  // The human-readable part.
  absl::StrAppend(&m, "--", boundary, "\r\n");
  absl::StrAppend(&m, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
  absl::StrAppend(&m, "This is the mail system at host ", host, ".\r\n\r\n");
  if (any_failed) {
    absl::StrAppend(&m, "I'm sorry to have to inform you that your message could not\r\n",
                    "be delivered to one or more recipients. The details follow.\r\n\r\n");
  } else {
    absl::StrAppend(&m, "Your message could not be delivered yet to one or more recipients.\r\n",
                    "It will be retried until ", Rfc5322Date(in.recipients.empty() ? in.now : in.recipients[0].will_retry_until),
                    "; you do not need to send it again.\r\n\r\n");
  }
  for (const DsnRecipient& r : in.recipients) {
    absl::StrAppend(&m, "<", CleanFieldValue(r.final_recipient, 512), ">: ",
                    CleanFieldValue(r.reason.empty() ? r.diagnostic : r.reason, 900), "\r\n");
  }
  absl::StrAppend(&m, "\r\n");

  // The machine-readable part (RFC 3464 2.2 per-message, 2.3 per-recipient fields).
  absl::StrAppend(&m, "--", boundary, "\r\n");
  absl::StrAppend(&m, "Content-Type: message/delivery-status\r\n\r\n");
  absl::StrAppend(&m, "Reporting-MTA: dns; ", host, "\r\n");
  if (!in.envid.empty()) absl::StrAppend(&m, "Original-Envelope-Id: ", CleanFieldValue(in.envid, 100), "\r\n");
  if (in.arrival != absl::InfinitePast()) absl::StrAppend(&m, "Arrival-Date: ", Rfc5322Date(in.arrival), "\r\n");
  for (const DsnRecipient& r : in.recipients) {
    absl::StrAppend(&m, "\r\n");
    if (!r.original_recipient.empty()) {
      absl::StrAppend(&m, "Original-Recipient: ", CleanFieldValue(r.original_recipient, 600), "\r\n");
    }
    absl::StrAppend(&m, "Final-Recipient: ", AddressField(r.final_recipient), "\r\n");
    absl::StrAppend(&m, "Action: ", r.action == "failed" ? "failed" : "delayed", "\r\n");
    absl::StrAppend(&m, "Status: ", CleanFieldValue(r.status, 16), "\r\n");
    if (!r.remote_mta.empty()) absl::StrAppend(&m, "Remote-MTA: dns; ", CleanFieldValue(r.remote_mta, 255), "\r\n");
    if (!r.diagnostic.empty()) absl::StrAppend(&m, "Diagnostic-Code: smtp; ", CleanFieldValue(r.diagnostic, 900), "\r\n");
    if (r.last_attempt != absl::InfinitePast()) {
      absl::StrAppend(&m, "Last-Attempt-Date: ", Rfc5322Date(r.last_attempt), "\r\n");
    }
    if (r.action != "failed" && r.will_retry_until != absl::InfinitePast()) {
      absl::StrAppend(&m, "Will-Retry-Until: ", Rfc5322Date(r.will_retry_until), "\r\n");
    }
  }
  absl::StrAppend(&m, "\r\n");

  // The returned message (RFC 3462 text/rfc822-headers for the header alone).
  absl::StrAppend(&m, "--", boundary, "\r\n");
  std::string_view returned = full ? in.original : HeaderOf(in.original);
  absl::StrAppend(&m, "Content-Type: ", full ? "message/rfc822" : "text/rfc822-headers", "\r\n");
  if (Has8Bit(returned)) absl::StrAppend(&m, "Content-Transfer-Encoding: 8bit\r\n");
  absl::StrAppend(&m, "\r\n");
  absl::StrAppend(&m, AV(returned));
  if (!returned.empty() && returned.back() != '\n') absl::StrAppend(&m, "\r\n");
  absl::StrAppend(&m, "\r\n--", boundary, "--\r\n");
  return m;
}

}  // namespace kite::relay
