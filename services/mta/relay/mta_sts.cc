#include "mta/relay/mta_sts.h"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/base/strings.h"

namespace kite::relay {
namespace {

std::string Lower(std::string_view s) {
  std::string out = absl::AsciiStrToLower(AV(s));
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool IsIdChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

}  // namespace

absl::StatusOr<std::string> ParseStsTxt(std::string_view txt) {
  if (txt.size() > kMaxTxtSize) return absl::InvalidArgumentError("MTA-STS TXT record too long");
  std::vector<absl::string_view> fields = absl::StrSplit(AV(txt), ';');
  if (fields.empty() || absl::StripAsciiWhitespace(fields[0]) != "v=STSv1") {
    return absl::NotFoundError("not an STSv1 record");
  }
  std::string id;
  for (size_t i = 1; i < fields.size(); ++i) {
    absl::string_view f = absl::StripAsciiWhitespace(fields[i]);
    if (f.empty()) continue;
    size_t eq = f.find('=');
    if (eq == absl::string_view::npos) return absl::InvalidArgumentError("MTA-STS TXT field without '='");
    absl::string_view key = f.substr(0, eq), value = f.substr(eq + 1);
    if (key == "id") {
      if (value.empty() || value.size() > 32) return absl::InvalidArgumentError("MTA-STS id must be 1 to 32 characters");
      for (char c : value) {
        if (!IsIdChar(c)) return absl::InvalidArgumentError("MTA-STS id must be alphanumeric");
      }
      id = std::string(value);
    }
  }
  if (id.empty()) return absl::InvalidArgumentError("MTA-STS TXT record without id");
  return id;
}

absl::StatusOr<std::string> StsIdFromRecords(const std::vector<std::string>& records) {
  std::string id;
  int found = 0;
  for (const std::string& r : records) {
    auto parsed = ParseStsTxt(r);
    if (absl::IsNotFound(parsed.status())) continue;
    ++found;
    if (!parsed.ok()) return parsed.status();
    id = *parsed;
  }
  if (found != 1) return absl::NotFoundError(found == 0 ? "no STSv1 record" : "several STSv1 records");
  return id;
}

const char* StsModeName(StsPolicy::Mode mode) {
  switch (mode) {
    case StsPolicy::Mode::kEnforce:
      return "enforce";
    case StsPolicy::Mode::kTesting:
      return "testing";
    case StsPolicy::Mode::kNone:
      return "none";
  }
  return "none";
}

absl::StatusOr<StsPolicy> ParseStsPolicy(std::string_view body) {
  if (body.size() > kMaxPolicySize) return absl::InvalidArgumentError("MTA-STS policy too large");
  StsPolicy p;
  bool version = false, mode = false, max_age = false;
  for (absl::string_view line : absl::StrSplit(AV(body), '\n')) {
    absl::ConsumeSuffix(&line, "\r");
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) return absl::InvalidArgumentError("MTA-STS policy line without ':'");
    absl::string_view key = absl::StripAsciiWhitespace(line.substr(0, colon));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (key == "version") {
      if (value != "STSv1") return absl::InvalidArgumentError("MTA-STS policy version is not STSv1");
      version = true;
    } else if (key == "mode") {
      if (value == "enforce") p.mode = StsPolicy::Mode::kEnforce;
      else if (value == "testing") p.mode = StsPolicy::Mode::kTesting;
      else if (value == "none") p.mode = StsPolicy::Mode::kNone;
      else return absl::InvalidArgumentError("MTA-STS policy mode is not enforce, testing or none");
      mode = true;
    } else if (key == "max_age") {
      int64_t n = 0;
      if (value.empty() || value.size() > 10 || !absl::SimpleAtoi(value, &n) || n < 0 || value[0] == '-' ||
          value[0] == '+') {
        return absl::InvalidArgumentError("MTA-STS policy max_age is not a number of seconds");
      }
      p.max_age = std::min(n, kMaxPolicyAge);
      max_age = true;
    } else if (key == "mx") {
      if (value.empty() || value.size() > 255) return absl::InvalidArgumentError("MTA-STS policy mx is empty or too long");
      if (p.mx.size() >= 256) return absl::InvalidArgumentError("MTA-STS policy lists too many mx patterns");
      p.mx.push_back(Lower(SV(value)));
    }
  }
  if (!version || !mode || !max_age) return absl::InvalidArgumentError("MTA-STS policy lacks version, mode or max_age");
  if (p.mode != StsPolicy::Mode::kNone && p.mx.empty()) return absl::InvalidArgumentError("MTA-STS policy lists no mx");
  return p;
}

absl::StatusOr<std::string> StsBodyFromHttpResponse(std::string_view raw) {
  namespace http = boost::beast::http;
  http::response_parser<http::string_body> parser;
  parser.header_limit(8192);
  parser.body_limit(kMaxPolicySize);
  parser.eager(true);
  boost::beast::error_code ec;
  std::string_view rest = raw;
  while (!rest.empty() && !parser.is_done()) {
    size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    if (ec == http::error::need_more) break;
    if (ec) return absl::InvalidArgumentError(absl::StrCat("bad HTTP response: ", ec.message()));
    if (used == 0) break;
    rest.remove_prefix(used);
  }
  if (!parser.is_done()) {
    // put_eof asserts that something was parsed (Beast): an empty answer is just truncated.
    if (!parser.got_some()) return absl::InvalidArgumentError("empty HTTP response");
    ec = {};
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return absl::InvalidArgumentError("truncated HTTP response");
  }
  const auto& res = parser.get();
  if (res.result_int() != 200) return absl::NotFoundError(absl::StrCat("HTTP status ", res.result_int()));
  std::string type = absl::AsciiStrToLower(std::string(res[http::field::content_type]));
  if (type.rfind("text/plain", 0) != 0) return absl::InvalidArgumentError("policy is not text/plain");
  return res.body();
}

bool StsMxMatches(const StsPolicy& policy, std::string_view host) {
  std::string h = Lower(host);
  for (const std::string& pattern : policy.mx) {
    if (pattern.size() > 2 && pattern[0] == '*' && pattern[1] == '.') {
      size_t dot = h.find('.');
      if (dot != std::string::npos && dot > 0 && h.substr(dot + 1) == pattern.substr(2)) return true;
    } else if (h == pattern) {
      return true;
    }
  }
  return false;
}

}  // namespace kite::relay
