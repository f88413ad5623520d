#include "delivery/autoreply.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/base/strings.h"

namespace kite::delivery {
namespace {

bool Printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// Local parts of senders that never get automatic replies (RFC 3834 2, RFC 5230 4.6 and
// what Sieve implementations add: list software and no-reply robots).
bool RobotLocalPart(std::string_view local) {
  static constexpr std::string_view kExact[] = {"mailer-daemon", "listserv", "majordomo", "noreply",
                                                "no-reply",      "donotreply", "do-not-reply", "postmaster"};
  for (auto e : kExact) {
    if (local == e) return true;
  }
  return absl::StartsWith(AV(local), "owner-") || absl::EndsWith(AV(local), "-request") ||
         absl::EndsWith(AV(local), "-owner") || absl::EndsWith(AV(local), "-bounces") ||
         absl::EndsWith(AV(local), "-bounce");
}

std::string Base64Lines(std::string_view data) {
  std::string b64 = absl::Base64Escape(AV(data));
  std::string out;
  for (size_t i = 0; i < b64.size(); i += 76) absl::StrAppend(&out, b64.substr(i, 76), "\r\n");
  return out;
}

// Text with any line ending made CRLF; a body part.
std::string CrlfText(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (out.size() < 2 || out.substr(out.size() - 2) != "\r\n") out += "\r\n";
  return out;
}

// A text/plain body part: 7bit when ASCII, else base64 UTF-8.
std::string TextPart(std::string_view text) {
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return absl::StrCat("Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
                        CrlfText(text));
  }
  return absl::StrCat("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
                      Base64Lines(CrlfText(text)));
}

// A header field line of a :mime reason that may be copied: a name of printable ASCII up to
// the colon, and no control character but tab anywhere (no NUL, no stray CR).
bool WellFormedField(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  for (char c : line.substr(0, colon)) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return std::none_of(line.begin(), line.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

bool CleanContinuation(std::string_view line) {
  return std::none_of(line.begin(), line.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

// A Message-ID value: "<...>" with only the printable characters allowed in msg-id.
std::string CleanMsgId(std::string_view id) {
  std::string v = CleanField(id, 250);
  if (v.size() < 3 || v.front() != '<' || v.back() != '>' || v.find(' ') != std::string::npos) return "";
  return v;
}

}  // namespace

std::string CleanField(std::string_view text, size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  bool space = false;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      space = true;
      continue;
    }
    if (c == ' ') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    if (out.size() >= max) break;
    out += c;
  }
  if (out.size() > max) out.resize(max);
  return out;
}

std::string EncodeWord(std::string_view text) {
  if (Printable(text)) return std::string(text);
  // RFC 2047: encoded words of at most 75 characters; split the UTF-8 between characters.
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t n = std::min<size_t>(45, text.size() - i);
    while (i + n < text.size() && n > 0 && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) --n;
    if (n == 0) n = std::min<size_t>(45, text.size() - i);
    if (!out.empty()) out += "\r\n ";
    absl::StrAppend(&out, "=?UTF-8?B?", absl::Base64Escape(AV(text.substr(i, n))), "?=");
    i += n;
  }
  return out;
}

std::string RfcDate(absl::Time t) { return absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", t, absl::UTCTimeZone()); }

std::vector<std::string> ExtractAddresses(std::string_view value) {
  std::vector<std::string> out;
  // Angle-bracketed addresses first; then bare tokens with an '@' outside any <>.
  std::string rest;
  size_t i = 0;
  bool quoted = false;
  while (i < value.size()) {
    char c = value[i];
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '<') {
      size_t end = value.find('>', i);
      if (end == std::string_view::npos) break;
      std::string_view a = value.substr(i + 1, end - i - 1);
      if (a.find('@') != std::string_view::npos) out.push_back(absl::AsciiStrToLower(AV(a)));
      i = end + 1;
      rest += ' ';
      continue;
    }
    rest += quoted ? ' ' : c;
    ++i;
  }
  for (absl::string_view tok : absl::StrSplit(rest, absl::ByAnyChar(" ,;:\t()"), absl::SkipEmpty())) {
    if (tok.find('@') != absl::string_view::npos) out.push_back(absl::AsciiStrToLower(tok));
  }
  return out;
}

AutoReplyDecision MayAutoReply(std::string_view envelope_from, const HeaderLookup& headers,
                               const std::vector<std::string>& own) {
  if (envelope_from.empty()) return {false, "null sender"};
  std::string sender = absl::AsciiStrToLower(AV(envelope_from));
  size_t at = sender.rfind('@');
  if (RobotLocalPart(sender.substr(0, at))) return {false, "robot sender"};
  for (const std::string& v : headers("Auto-Submitted")) {
    std::string token = absl::AsciiStrToLower(absl::StripAsciiWhitespace(v.substr(0, v.find(';'))));
    if (token != "no") return {false, "auto-submitted"};
  }
  for (const std::string& v : headers("Precedence")) {
    std::string p = absl::AsciiStrToLower(absl::StripAsciiWhitespace(v));
    if (p == "bulk" || p == "list" || p == "junk") return {false, "precedence " + p};
  }
  for (const char* f : {"List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Post", "List-Owner",
                        "List-Archive"}) {
    if (!headers(f).empty()) return {false, "list"};
  }
  for (const std::string& v : headers("X-Auto-Response-Suppress")) {
    std::string l = absl::AsciiStrToLower(v);
    if (absl::StrContains(l, "all") || absl::StrContains(l, "oof")) return {false, "auto-response suppressed"};
  }
  if (own.empty()) return {true, ""};
  for (const char* f : {"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"}) {
    for (const std::string& v : headers(f)) {
      for (const std::string& a : ExtractAddresses(v)) {
        // user+tag@domain is the user too.
        std::string base = a;
        if (size_t plus = a.find('+'), at2 = a.rfind('@'); plus != std::string::npos && at2 != std::string::npos &&
                                                             plus < at2) {
          base = a.substr(0, plus) + a.substr(at2);
        }
        if (std::find(own.begin(), own.end(), a) != own.end() || std::find(own.begin(), own.end(), base) != own.end()) {
          return {true, ""};
        }
      }
    }
  }
  return {false, "not addressed to the user"};
}

std::string BuildVacationReply(const VacationReply& in) {
  std::string subject = in.subject.empty() ? absl::StrCat("Auto: ", in.original_subject) : in.subject;
  subject = CleanField(subject, 500);
  std::string from = CleanField(in.from, 500);
  std::string to = CleanField(in.to, 500);
  std::string out;
  absl::StrAppend(&out, "From: ", from.find('<') == std::string::npos ? absl::StrCat("<", from, ">") : from, "\r\n");
  absl::StrAppend(&out, "To: <", to, ">\r\n");
  absl::StrAppend(&out, "Subject: ", EncodeWord(subject), "\r\n");
  absl::StrAppend(&out, "Date: ", RfcDate(in.date), "\r\n");
  absl::StrAppend(&out, "Message-ID: <", CleanField(in.message_id, 250), ">\r\n");
  std::string orig = CleanMsgId(in.original_message_id);
  if (!orig.empty()) {
    absl::StrAppend(&out, "In-Reply-To: ", orig, "\r\n");
    std::string refs = CleanField(in.original_references, 900);
    absl::StrAppend(&out, "References: ", refs.empty() ? orig : absl::StrCat(refs, " ", orig), "\r\n");
  }
  absl::StrAppend(&out, "Auto-Submitted: auto-replied (vacation)\r\n");
  absl::StrAppend(&out, "MIME-Version: 1.0\r\n");
  if (in.mime) {
    // :mime: the reason is a MIME entity, header included. Its header is checked line by
    // line: only well-formed Content-* fields (and their clean continuations) are taken, so
    // it cannot set From, To or Subject nor break the header with a line that is no field.
    std::string entity = CrlfText(in.reason);
    size_t split = entity.find("\r\n\r\n");
    std::string_view head = split == std::string::npos ? std::string_view() : std::string_view(entity).substr(0, split + 2);
    std::string_view body = split == std::string::npos ? std::string_view(entity) : std::string_view(entity).substr(split + 4);
    bool any = false;
    bool keep = false;
    for (absl::string_view line : absl::StrSplit(AV(head), "\r\n", absl::SkipEmpty())) {
      bool continuation = line[0] == ' ' || line[0] == '\t';
      if (!continuation) keep = absl::StartsWithIgnoreCase(line, "content-") && WellFormedField(SV(line));
      if (keep && (!continuation || CleanContinuation(SV(line)))) {
        absl::StrAppend(&out, line, "\r\n");
        any = true;
      }
    }
    if (!any) absl::StrAppend(&out, "Content-Type: text/plain; charset=us-ascii\r\n");
    absl::StrAppend(&out, "\r\n", AV(body));
  } else {
    absl::StrAppend(&out, TextPart(in.reason));
  }
  return out;
}

std::string BuildRejectNotice(const RejectNotice& in) {
  std::string_view original = in.original;
  size_t end = original.find("\r\n\r\n");
  size_t end_lf = original.find("\n\n");
  std::string_view header = original;
  if (end != std::string_view::npos) {
    header = original.substr(0, end + 2);
  } else if (end_lf != std::string_view::npos) {
    header = original.substr(0, end_lf + 1);
  }
  std::string boundary = CleanField(in.boundary, 70);
  std::string out;
  absl::StrAppend(&out, "From: Mail Delivery System <", CleanField(in.postmaster, 300), ">\r\n");
  absl::StrAppend(&out, "To: <", CleanField(in.to, 500), ">\r\n");
  absl::StrAppend(&out, "Subject: Automatically rejected mail\r\n");
  absl::StrAppend(&out, "Date: ", RfcDate(in.date), "\r\n");
  absl::StrAppend(&out, "Message-ID: <", CleanField(in.message_id, 250), ">\r\n");
  absl::StrAppend(&out, "Auto-Submitted: auto-replied (rejected)\r\n");
  absl::StrAppend(&out, "MIME-Version: 1.0\r\n");
  absl::StrAppend(&out, "Content-Type: multipart/report; report-type=disposition-notification;\r\n\tboundary=\"",
                  boundary, "\"\r\n\r\n");
  absl::StrAppend(&out, "This is a MIME-encapsulated message.\r\n\r\n");
  absl::StrAppend(&out, "--", boundary, "\r\n");
  absl::StrAppend(&out, TextPart(absl::StrCat("Your message to <", CleanField(in.final_recipient, 500),
                                              "> was automatically rejected:\n\n", in.reason, "\n")));
  absl::StrAppend(&out, "--", boundary, "\r\n");
  absl::StrAppend(&out, "Content-Type: message/disposition-notification\r\n\r\n");
  absl::StrAppend(&out, "Reporting-UA: ", CleanField(in.reporting_host, 255), "; Kite Sieve\r\n");
  absl::StrAppend(&out, "Final-Recipient: rfc822; ", CleanField(in.final_recipient, 500), "\r\n");
  std::string orig = CleanMsgId(in.original_message_id);
  if (!orig.empty()) absl::StrAppend(&out, "Original-Message-ID: ", orig, "\r\n");
  absl::StrAppend(&out, "Disposition: automatic-action/MDN-sent-automatically; deleted\r\n\r\n");
  absl::StrAppend(&out, "--", boundary, "\r\n");
  absl::StrAppend(&out, "Content-Type: text/rfc822-headers\r\n\r\n", CrlfText(header.substr(0, 64 * 1024)));
  absl::StrAppend(&out, "--", boundary, "--\r\n");
  return out;
}

std::string HumanBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrCat(bytes, " bytes") : absl::StrFormat("%.1f %s", v, kUnits[u]);
}

std::string BuildQuotaWarning(const QuotaWarning& in) {
  int used_percent = in.limit_bytes > 0 ? static_cast<int>(in.used_bytes * 100 / in.limit_bytes) : 0;
  std::string out;
  absl::StrAppend(&out, "From: Postmaster <", CleanField(in.postmaster, 300), ">\r\n");
  absl::StrAppend(&out, "To: <", CleanField(in.to, 500), ">\r\n");
  absl::StrAppend(&out, "Subject: Your mailbox is ", used_percent, "% full\r\n");
  absl::StrAppend(&out, "Date: ", RfcDate(in.date), "\r\n");
  absl::StrAppend(&out, "Message-ID: <", CleanField(in.message_id, 250), ">\r\n");
  absl::StrAppend(&out, "Auto-Submitted: auto-generated (quota warning)\r\n");
  absl::StrAppend(&out, "MIME-Version: 1.0\r\n");
  absl::StrAppend(
      &out, TextPart(absl::StrCat(
                "Your mailbox ", CleanField(in.to, 500), " now uses ", HumanBytes(in.used_bytes), " of its ",
                HumanBytes(in.limit_bytes), " (", used_percent, "%), above the warning level of ", in.percent,
                "%.\n\nWhen it is full, new messages cannot be delivered: senders' servers keep retrying\n"
                "for a while and then return the messages to them.\n\nPlease delete messages you no longer "
                "need, and empty the Trash and Junk folders.\n")));
  return out;
}

}  // namespace kite::delivery
