#include "lib/dmarc/record.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::dmarc {
namespace {

bool IsWsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsWsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWsp(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(AV(s)); }

std::optional<Policy> ParsePolicy(std::string_view v) {
  std::string l = Lower(v);
  if (l == "none") return Policy::kNone;
  if (l == "quarantine") return Policy::kQuarantine;
  if (l == "reject") return Policy::kReject;
  return std::nullopt;
}

std::optional<Alignment> ParseAlignment(std::string_view v) {
  std::string l = Lower(v);
  if (l == "r") return Alignment::kRelaxed;
  if (l == "s") return Alignment::kStrict;
  return std::nullopt;
}

// dmarc-uri *(*WSP "," *WSP dmarc-uri); a URI is a scheme ":" and no white space or comma.
// An invalid list yields nullopt (the tag is then ignored).
std::optional<std::vector<std::string>> ParseUris(std::string_view v) {
  std::vector<std::string> out;
  while (true) {
    size_t comma = v.find(',');
    std::string_view uri = Trim(v.substr(0, comma));
    if (uri.empty() || uri.size() > kMaxUriBytes || out.size() >= kMaxUris) return std::nullopt;
    size_t colon = uri.find(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    if (!absl::ascii_isalpha(static_cast<unsigned char>(uri[0]))) return std::nullopt;
    for (char c : uri) {
      if (IsWsp(c) || static_cast<unsigned char>(c) < 0x21 || c == 0x7f) return std::nullopt;
    }
    out.emplace_back(uri);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

const char* PolicyName(Policy p) {
  switch (p) {
    case Policy::kNone:
      return "none";
    case Policy::kQuarantine:
      return "quarantine";
    case Policy::kReject:
      return "reject";
  }
  return "none";
}

bool IsDmarcRecord(std::string_view txt) {
  txt = Trim(txt);
  size_t semi = txt.find(';');
  std::string_view first = Trim(txt.substr(0, semi));
  size_t eq = first.find('=');
  if (eq == std::string_view::npos) return false;
  // RFC 7489 6.4: "v" then "=" then "DMARC1" (case-sensitive value), optional WSP between.
  return Trim(first.substr(0, eq)) == "v" && Trim(first.substr(eq + 1)) == "DMARC1";
}

absl::StatusOr<Record> ParseRecord(std::string_view txt) {
  if (txt.size() > kMaxRecordBytes) return absl::InvalidArgumentError("DMARC record too long");
  if (!IsDmarcRecord(txt)) return absl::InvalidArgumentError("not a DMARC record (no leading v=DMARC1)");
  Record r;
  bool have_p = false;
  bool rua_valid = false;
  size_t tags = 0;
  std::string_view rest = txt;
  bool first = true;
  while (!rest.empty()) {
    size_t semi = rest.find(';');
    std::string_view spec = Trim(rest.substr(0, semi));
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    if (spec.empty()) continue;  // ";;" or a trailing ";"
    if (++tags > kMaxTags) return absl::InvalidArgumentError("DMARC record has too many tags");
    size_t eq = spec.find('=');
    if (first) {  // v=DMARC1, checked above
      first = false;
      continue;
    }
    if (eq == std::string_view::npos) continue;  // not a tag: ignored like an unknown one
    std::string name = Lower(Trim(spec.substr(0, eq)));
    std::string_view value = Trim(spec.substr(eq + 1));
    if (name == "p") {
      if (auto p = ParsePolicy(value)) {
        r.p = *p;
        have_p = true;
      }
    } else if (name == "sp") {
      if (auto p = ParsePolicy(value)) r.sp = *p;
    } else if (name == "pct") {
      int pct = 0;
      if (value.size() <= 3 && absl::SimpleAtoi(AV(value), &pct) && pct >= 0 && pct <= 100 &&
          absl::ascii_isdigit(static_cast<unsigned char>(value[0]))) {
        r.pct = pct;
      }
    } else if (name == "adkim") {
      if (auto a = ParseAlignment(value)) r.adkim = *a;
    } else if (name == "aspf") {
      if (auto a = ParseAlignment(value)) r.aspf = *a;
    } else if (name == "rua") {
      if (auto u = ParseUris(value)) {
        r.rua = std::move(*u);
        rua_valid = true;
      }
    } else if (name == "ruf") {
      if (auto u = ParseUris(value)) r.ruf = std::move(*u);
    } else if (name == "fo") {
      // 0 / 1 / d / s separated by ":".
      bool ok = !value.empty();
      for (char c : value) ok = ok && (c == '0' || c == '1' || c == 'd' || c == 's' || c == ':');
      if (ok) r.fo = std::string(value);
    } else if (name == "rf") {
      bool ok = !value.empty() && value.size() <= 64;
      for (char c : value) ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '-');
      if (ok) r.rf = Lower(value);
    } else if (name == "ri") {
      uint32_t ri = 0;
      if (!value.empty() && value.size() <= 10 && absl::ascii_isdigit(static_cast<unsigned char>(value[0])) &&
          absl::SimpleAtoi(AV(value), &ri)) {
        r.ri = ri;
      }
    }
    // Unknown tags are ignored (RFC 7489 6.3).
  }
  if (!have_p) {
    if (!rua_valid) return absl::InvalidArgumentError("DMARC record has no valid p= tag");
    r.p = Policy::kNone;
    r.p_assumed = true;
  }
  return r;
}

}  // namespace kite::dmarc
