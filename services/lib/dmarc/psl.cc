#include "lib/dmarc/psl.h"

#include <cstdint>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::dmarc {
namespace {

// Label start offsets of a normalised domain: "a.b.c" -> {0, 2, 4}.
std::vector<size_t> LabelStarts(std::string_view d) {
  std::vector<size_t> starts = {0};
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] == '.') starts.push_back(i + 1);
  }
  return starts;
}

// UTF-8 to code points; false on malformed input (overlong forms, surrogates, > U+10FFFF).
bool DecodeUtf8(std::string_view s, std::vector<uint32_t>* out) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t n;
    if (c < 0x80) {
      cp = c;
      n = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      n = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      n = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      n = 4;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    out->push_back(cp);
    i += n;
  }
  return true;
}

// RFC 3492 bias adaptation.
uint32_t Adapt(uint64_t delta, uint64_t points, bool first) {
  constexpr uint64_t kBase = 36, kTMin = 1, kTMax = 26, kSkew = 38, kDamp = 700;
  delta = first ? delta / kDamp : delta / 2;
  delta += delta / points;
  uint64_t k = 0;
  while (delta > ((kBase - kTMin) * kTMax) / 2) {
    delta /= kBase - kTMin;
    k += kBase;
  }
  return static_cast<uint32_t>(k + (kBase - kTMin + 1) * delta / (delta + kSkew));
}

}  // namespace

std::string PunycodeLabel(std::string_view label) {
  bool ascii = true;
  for (char c : label) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(label);
  std::vector<uint32_t> cps;
  if (!DecodeUtf8(label, &cps) || cps.size() > 63) return "";
  constexpr uint64_t kBase = 36, kTMin = 1, kTMax = 26;
  auto digit = [](uint64_t d) { return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26)); };
  std::string out;
  for (uint32_t cp : cps) {
    if (cp < 0x80) out += static_cast<char>(cp);
  }
  const uint64_t basic = out.size();
  uint64_t h = basic;
  if (basic > 0) out += '-';
  uint64_t n = 0x80, delta = 0;
  uint32_t bias = 72;
  while (h < cps.size()) {
    uint64_t m = UINT64_MAX;
    for (uint32_t cp : cps) {
      if (cp >= n && cp < m) m = cp;
    }
    delta += (m - n) * (h + 1);
    n = m;
    for (uint32_t cp : cps) {
      if (cp < n) ++delta;
      if (cp == n) {
        uint64_t q = delta;
        for (uint64_t k = kBase;; k += kBase) {
          uint64_t t = k <= bias ? kTMin : (k >= bias + kTMax ? kTMax : k - bias);
          if (q < t) break;
          out += digit(t + (q - t) % (kBase - t));
          q = (q - t) / (kBase - t);
        }
        out += digit(q);
        bias = Adapt(delta, h + 1, h == basic);
        delta = 0;
        ++h;
      }
    }
    ++delta;
    ++n;
  }
  return "xn--" + out;
}

std::string NormalizeDomain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty() || domain.size() > kMaxDomainBytes) return "";
  std::string lower = absl::AsciiStrToLower(AV(domain));
  // Non-ASCII labels (U-labels) become A-labels, so both forms compare equal.
  std::string out;
  size_t start = 0;
  while (true) {
    size_t dot = lower.find('.', start);
    std::string_view label = std::string_view(lower).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty()) return "";  // empty label (or a leading dot)
    std::string a = PunycodeLabel(label);
    if (a.empty()) return "";
    if (!out.empty()) out += '.';
    out += a;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (out.size() > kMaxDomainBytes) return "";
  for (char c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return "";
  }
  return out;
}

absl::StatusOr<PublicSuffixList> PublicSuffixList::Parse(std::string_view text) {
  if (text.size() > kMaxListBytes) return absl::InvalidArgumentError("public suffix list too large");
  PublicSuffixList psl;
  size_t n = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    size_t b = 0;
    while (b < line.size() && (line[b] == ' ' || line[b] == '\t' || line[b] == '\r')) ++b;
    size_t e = b;
    while (e < line.size() && line[e] != ' ' && line[e] != '\t' && line[e] != '\r') ++e;
    std::string_view rule = line.substr(b, e - b);
    if (rule.empty() || rule.substr(0, 2) == "//") continue;
    if (++n > kMaxRules) return absl::InvalidArgumentError("public suffix list has too many rules");
    if (rule[0] == '!') {
      std::string d = NormalizeDomain(rule.substr(1));
      if (!d.empty()) psl.exceptions_.insert(std::move(d));
    } else if (rule.substr(0, 2) == "*.") {
      std::string d = NormalizeDomain(rule.substr(2));
      if (!d.empty()) psl.wildcards_.insert(std::move(d));
    } else {
      std::string d = NormalizeDomain(rule);
      if (!d.empty()) psl.rules_.insert(std::move(d));
    }
  }
  if (psl.rules() == 0) return absl::InvalidArgumentError("public suffix list holds no rules");
  return psl;
}

absl::StatusOr<PublicSuffixList> PublicSuffixList::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open public suffix list ", path));
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxListBytes) return absl::InvalidArgumentError(absl::StrCat(path, ": public suffix list too large"));
  }
  auto psl = Parse(text);
  if (!psl.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", psl.status().message()));
  return psl;
}

std::string PublicSuffixList::PublicSuffix(std::string_view domain) const {
  std::string d = NormalizeDomain(domain);
  if (d.empty()) return "";
  std::vector<size_t> starts = LabelStarts(d);
  const size_t labels = starts.size();
  // An exception rule wins: the public suffix is the rule minus its leftmost label.
  for (size_t i = 0; i < labels; ++i) {
    std::string_view suffix = std::string_view(d).substr(starts[i]);
    if (exceptions_.count(std::string(suffix))) {
      return i + 1 < labels ? std::string(d.substr(starts[i + 1])) : std::string(suffix);
    }
  }
  // Otherwise the longest matching rule (normal, or a wildcard matching one more label).
  for (size_t i = 0; i < labels; ++i) {
    std::string suffix = d.substr(starts[i]);
    if (rules_.count(suffix)) return suffix;
    if (i + 1 < labels && wildcards_.count(d.substr(starts[i + 1]))) return suffix;
  }
  // The implicit "*" rule: the last label.
  return d.substr(starts.back());
}

std::string PublicSuffixList::OrganizationalDomain(std::string_view domain) const {
  std::string d = NormalizeDomain(domain);
  if (d.empty()) return "";
  std::string suffix = PublicSuffix(d);
  if (suffix.size() >= d.size()) return d;
  // One more label to the left of the suffix.
  size_t end = d.size() - suffix.size() - 1;  // the dot before the suffix
  size_t begin = d.rfind('.', end - 1);
  return begin == std::string::npos ? d : d.substr(begin + 1);
}

}  // namespace kite::dmarc
