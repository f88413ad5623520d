#include "lib/store/url.h"

#include <libpq-fe.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kite::store {
namespace {

// Redacts `password=VALUE` (key=value conninfo, possibly quoted, or a URL query parameter).
std::string RedactPasswordParams(std::string s, bool url_query) {
  static constexpr std::string_view kKey = "password=";
  size_t pos = 0;
  while (true) {
    std::string lower = absl::AsciiStrToLower(s);
    pos = lower.find(kKey, pos);
    if (pos == std::string::npos) return s;
    // Only a whole key: start of string or after a separator.
    if (pos > 0) {
      char before = s[pos - 1];
      bool separator = url_query ? (before == '?' || before == '&')
                                 : absl::ascii_isspace(static_cast<unsigned char>(before));
      if (!separator) {
        pos += kKey.size();
        continue;
      }
    }
    size_t value_start = pos + kKey.size();
    size_t value_end = value_start;
    if (!url_query && value_end < s.size() && s[value_end] == '\'') {
      ++value_end;
      while (value_end < s.size() && s[value_end] != '\'') {
        if (s[value_end] == '\\') ++value_end;
        ++value_end;
      }
      if (value_end < s.size()) ++value_end;
    } else {
      while (value_end < s.size() &&
             (url_query ? s[value_end] != '&' && s[value_end] != '#'
                        : !absl::ascii_isspace(static_cast<unsigned char>(s[value_end])))) {
        ++value_end;
      }
    }
    s.replace(value_start, value_end - value_start, "***");
    pos = value_start + 3;
  }
}

}  // namespace

std::string RedactUrl(std::string_view url) {
  std::string s(url);
  size_t scheme = s.find("://");
  bool is_url = absl::StartsWithIgnoreCase(s, "postgresql://") ||
                absl::StartsWithIgnoreCase(s, "postgres://");
  if (!is_url) return RedactPasswordParams(std::move(s), /*url_query=*/false);

  size_t authority_start = scheme + 3;
  size_t authority_end = s.find_first_of("/?#", authority_start);
  if (authority_end == std::string::npos) authority_end = s.size();
  // The userinfo ends at the LAST '@' of the authority (a password may contain '@').
  size_t at = s.rfind('@', authority_end == 0 ? 0 : authority_end - 1);
  if (at != std::string::npos && at >= authority_start) {
    size_t colon = s.find(':', authority_start);
    if (colon != std::string::npos && colon < at) {
      s.replace(colon + 1, at - colon - 1, "***");
    }
  }
  size_t query = s.find('?');
  if (query == std::string::npos) return s;
  return s.substr(0, query) + RedactPasswordParams(s.substr(query), /*url_query=*/true);
}

std::string ServerAddress(std::string_view url) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
      PQconninfoParse(std::string(url).c_str(), &error), &PQconninfoFree);
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) return "";
  std::string host, hostaddr, port;
  for (PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string_view keyword = o->keyword;
    if (keyword == "host") host = o->val;
    if (keyword == "hostaddr") hostaddr = o->val;
    if (keyword == "port") port = o->val;
  }
  if (host.empty()) host = hostaddr;
  if (host.empty()) host = "localhost";
  if (port.empty()) port = "5432";
  return absl::StrCat(host, ":", port);
}

}  // namespace kite::store
