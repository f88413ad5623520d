#include "lib/dmarc/psl.h"

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

}  // namespace

std::string NormalizeDomain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty() || domain.size() > kMaxDomainBytes) return "";
  std::string out = absl::AsciiStrToLower(AV(domain));
  char prev = '.';
  for (char c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return "";
    if (c == '.' && prev == '.') return "";  // empty label (or a leading dot)
    prev = c;
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
