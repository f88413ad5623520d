#include "caldav/imip.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "caldav/itip.h"
#include "lib/base/strings.h"

namespace kite::caldav {
namespace {

bool PlainAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

std::string Base64Lines(std::string_view data) {
  std::string b64 = absl::Base64Escape(AV(data));
  std::string out;
  out.reserve(b64.size() + b64.size() / 76 * 2 + 2);
  for (size_t i = 0; i < b64.size(); i += 76) absl::StrAppend(&out, b64.substr(i, 76), "\r\n");
  return out;
}

// Any line end made CRLF, ending with one.
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
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

bool SafeMessageId(std::string_view id) {
  if (id.empty() || id.size() > 250 || id.find('@') == std::string_view::npos) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return c > 0x20 && c < 0x7f && c != '<' && c != '>' && c != '"' && c != '\\' && c != '(' &&
           c != ')';
  });
}

// A boundary that cannot occur in base64 text ("=_" never does) nor in our header lines.
std::string Boundary(std::string_view message_id) {
  std::string b = "=_kite_";
  for (char c : message_id) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) b += c;
    if (b.size() >= 60) break;
  }
  return b;
}

std::string CommonHeader(std::string_view from_name, std::string_view from,
                         std::string_view to_name, std::string_view to, std::string_view subject,
                         int64_t date, std::string_view message_id) {
  std::string out;
  absl::StrAppend(&out, "From: ", FormatMailbox(from_name, from), "\r\n");
  absl::StrAppend(&out, "To: ", FormatMailbox(to_name, to), "\r\n");
  absl::StrAppend(&out, "Subject: ", EncodeUnstructured(subject), "\r\n");
  absl::StrAppend(&out, "Date: ", RfcDate(date), "\r\n");
  absl::StrAppend(&out, "Message-ID: <", AV(message_id), ">\r\n");
  absl::StrAppend(&out, "MIME-Version: 1.0\r\n");
  absl::StrAppend(&out, "Auto-Submitted: auto-generated\r\n");
  return out;
}

}  // namespace

bool SafeMailAddress(std::string_view a) {
  if (a.empty() || a.size() > 254) return false;
  size_t at = a.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 >= a.size() ||
      a.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  for (char c : a) {
    if (c <= 0x20 || c >= 0x7f) return false;
    if (std::string_view("<>()[],;:\\\"").find(c) != std::string_view::npos) return false;
  }
  std::string_view domain = a.substr(at + 1);
  return domain.front() != '.' && domain.back() != '.' &&
         domain.find("..") == std::string_view::npos;
}

std::string CleanHeaderText(std::string_view text, size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  bool space = false;
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    auto u = static_cast<unsigned char>(text[i]);
    if (u < 0x20 || u == 0x7f || u == ' ') {
      space = true;
      continue;
    }
    bool lead = (u & 0xC0) != 0x80;  // the first byte of a UTF-8 character
    if (lead) {
      if (chars >= max) break;
      if (space && !out.empty()) {
        out += ' ';
        ++chars;
        if (chars >= max) break;
      }
      ++chars;
    }
    space = false;
    out += text[i];
  }
  if (!ValidUtf8(out)) {  // a broken sequence from the client: keep the ASCII only
    std::string ascii;
    for (char c : out) {
      if (static_cast<unsigned char>(c) < 0x80) ascii += c;
    }
    return ascii;
  }
  return out;
}

std::string EncodeUnstructured(std::string_view raw) {
  std::string text = CleanHeaderText(raw);
  if (PlainAscii(text) && text.find("=?") == std::string::npos) return text;
  // RFC 2047: encoded words of at most 75 characters; the UTF-8 split between characters.
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t n = std::min<size_t>(45, text.size() - i);
    while (i + n < text.size() && n > 0 && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80)
      --n;
    if (n == 0) n = std::min<size_t>(45, text.size() - i);
    if (!out.empty()) out += "\r\n ";
    absl::StrAppend(&out, "=?UTF-8?B?", absl::Base64Escape(AV(std::string_view(text).substr(i, n))),
                    "?=");
    i += n;
  }
  return out;
}

std::string FormatMailbox(std::string_view raw_name, std::string_view address) {
  std::string name = CleanHeaderText(raw_name);
  if (name.empty()) return absl::StrCat("<", AV(address), ">");
  if (PlainAscii(name) && name.find("=?") == std::string::npos) {
    std::string quoted = "\"";
    for (char c : name) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    quoted += '"';
    return absl::StrCat(quoted, " <", AV(address), ">");
  }
  return absl::StrCat(EncodeUnstructured(name), " <", AV(address), ">");
}

std::string RfcDate(int64_t t) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", absl::FromUnixSeconds(t),
                          absl::UTCTimeZone());
}

absl::StatusOr<std::string> ComposeImip(const ImipMail& m) {
  if (!SafeMailAddress(m.from) || !SafeMailAddress(m.to))
    return absl::InvalidArgumentError("unsafe mail address");
  if (!SafeMessageId(m.message_id)) return absl::InvalidArgumentError("unsafe Message-ID");
  if (!IsItipMethod(m.method)) return absl::InvalidArgumentError("not an iTIP method");
  std::string boundary = Boundary(m.message_id);
  std::string out =
      CommonHeader(m.from_name, m.from, m.to_name, m.to, m.subject, m.date, m.message_id);
  absl::StrAppend(&out, "Content-Type: multipart/alternative; boundary=\"", boundary, "\"\r\n\r\n");
  absl::StrAppend(&out, "This is a calendar message in MIME format.\r\n");
  absl::StrAppend(&out, "--", boundary, "\r\n");
  absl::StrAppend(
      &out, "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
      Base64Lines(CrlfText(m.text)));
  absl::StrAppend(&out, "--", boundary, "\r\n");
  absl::StrAppend(&out, "Content-Type: text/calendar; charset=UTF-8; method=", m.method,
                  "\r\nContent-Transfer-Encoding: base64\r\n\r\n", Base64Lines(CrlfText(m.ical)));
  absl::StrAppend(&out, "--", boundary, "--\r\n");
  return out;
}

absl::StatusOr<std::string> ComposeNotice(const NoticeMail& m) {
  if (!SafeMailAddress(m.from) || !SafeMailAddress(m.to))
    return absl::InvalidArgumentError("unsafe mail address");
  if (!SafeMessageId(m.message_id)) return absl::InvalidArgumentError("unsafe Message-ID");
  std::string out = CommonHeader(m.from_name, m.from, "", m.to, m.subject, m.date, m.message_id);
  absl::StrAppend(
      &out, "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
      Base64Lines(CrlfText(m.text)));
  return out;
}

}  // namespace kite::caldav
