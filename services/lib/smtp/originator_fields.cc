#include "lib/smtp/originator_fields.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"
#include "lib/smtp/header_from.h"

namespace kite::smtp {

bool HasHeaderField(std::string_view message, std::string_view name) {
  std::string_view head = message.substr(0, kMaxHeaderScan);
  size_t pos = 0;
  while (pos < head.size()) {
    size_t eol = head.find('\n', pos);
    size_t next = eol == std::string_view::npos ? head.size() : eol + 1;
    std::string_view line = head.substr(pos, next - pos);
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return false;  // end of the header block
    pos = next;
    if (line.front() == ' ' || line.front() == '\t') continue;  // continuation
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view field = line.substr(0, colon);
    while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.remove_suffix(1);
    if (absl::EqualsIgnoreCase(AV(field), AV(name))) return true;
  }
  return false;
}

std::string Rfc5322Date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  // %a and %b are locale-dependent: spell them out.
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string MissingOriginatorFields(std::string_view message, std::string_view hostname,
                                    std::time_t now, std::string_view unique) {
  std::string out;
  if (!HasHeaderField(message, "Message-ID")) {
    absl::StrAppend(&out, "Message-ID: <", AV(unique), "@", AV(hostname), ">\r\n");
  }
  if (!HasHeaderField(message, "Date")) absl::StrAppend(&out, "Date: ", Rfc5322Date(now), "\r\n");
  return out;
}

}  // namespace kite::smtp
