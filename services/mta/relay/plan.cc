#include "mta/relay/plan.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "lib/base/strings.h"

namespace kite::relay {

Route PlanRoute(std::string_view domain, const std::vector<dns::MxRecord>& mx, bool mx_void) {
  Route route;
  std::vector<dns::MxRecord> sorted;
  bool has_null = false;
  for (const dns::MxRecord& r : mx) {
    std::string host = absl::AsciiStrToLower(AV(r.host));
    while (!host.empty() && host.back() == '.') host.pop_back();
    if (host.empty()) {
      has_null = true;
      continue;
    }
    sorted.push_back({r.preference, host});
  }
  if (has_null && sorted.empty()) {
    route.null_mx = true;
    return route;
  }
  if (sorted.empty()) {
    // RFC 5321 5.1: no MX records (NODATA) means the domain itself is the host. Anything
    // else (an empty but successful answer) is treated the same way.
    (void)mx_void;
    route.implicit = true;
    std::string host = absl::AsciiStrToLower(AV(domain));
    while (!host.empty() && host.back() == '.') host.pop_back();
    route.hosts.push_back(host);
    return route;
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const dns::MxRecord& a, const dns::MxRecord& b) { return a.preference < b.preference; });
  for (const dns::MxRecord& r : sorted) {
    if (std::find(route.hosts.begin(), route.hosts.end(), r.host) == route.hosts.end()) route.hosts.push_back(r.host);
  }
  return route;
}

Capabilities ParseEhlo(const std::vector<std::string>& lines) {
  Capabilities c;
  c.esmtp = true;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> words = absl::StrSplit(AV(lines[i]), ' ', absl::SkipEmpty());
    if (words.empty()) continue;
    std::string kw = absl::AsciiStrToUpper(words[0]);
    if (kw == "STARTTLS") c.starttls = true;
    else if (kw == "DSN") c.dsn = true;
    else if (kw == "PIPELINING") c.pipelining = true;
    else if (kw == "8BITMIME") c.eightbitmime = true;
    else if (kw == "SMTPUTF8") c.smtputf8 = true;
    else if (kw == "SIZE") {
      c.has_size = true;
      uint64_t n = 0;
      if (words.size() > 1 && absl::SimpleAtoi(words[1], &n)) c.size = n;
    } else if (kw == "AUTH" || kw.rfind("AUTH=", 0) == 0) {
      // "AUTH PLAIN LOGIN" and the old "AUTH=PLAIN LOGIN" form.
      if (kw.size() > 5) c.auth.push_back(kw.substr(5));
      for (size_t w = 1; w < words.size(); ++w) c.auth.push_back(absl::AsciiStrToUpper(words[w]));
    }
  }
  return c;
}

std::chrono::seconds Backoff(int attempts, const std::vector<std::chrono::seconds>& schedule) {
  if (schedule.empty()) return std::chrono::minutes(5);
  size_t i = attempts <= 1 ? 0 : static_cast<size_t>(attempts - 1);
  return schedule[std::min(i, schedule.size() - 1)];
}

bool NotifyAllows(std::string_view notify, std::string_view kind) {
  if (notify.empty()) return kind == "FAILURE" || kind == "DELAY";
  if (notify == "NEVER") return false;
  for (absl::string_view k : absl::StrSplit(AV(notify), ',')) {
    if (SV(k) == kind) return true;
  }
  return false;
}

std::string DotStuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 8);
  bool line_start = true;
  for (size_t i = 0; i < message.size(); ++i) {
    char c = message[i];
    if (line_start && c == '.') out += '.';
    if (c == '\n' && (i == 0 || message[i - 1] != '\r')) out += '\r';
    out += c;
    line_start = c == '\n';
  }
  if (!out.empty() && !line_start) out += "\r\n";
  out += ".\r\n";
  return out;
}

std::string EncodeXtext(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 33 || c > 126 || c == '+' || c == '=') {
      absl::StrAppendFormat(&out, "+%02X", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string DomainOf(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return "";
  return absl::AsciiStrToLower(AV(address.substr(at + 1)));
}

bool NeedsUtf8(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool Has8Bit(std::string_view message) { return NeedsUtf8(message); }

}  // namespace kite::relay
