#include "lib/spf/record.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::spf {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(AV(a), AV(b));
}

absl::Status SyntaxError(std::string_view term, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("SPF syntax error in '", AV(term.substr(0, 80)), "': ", AV(why)));
}

bool IsMacroLetter(char c, bool exp) {
  switch (absl::ascii_tolower(static_cast<unsigned char>(c))) {
    case 's':
    case 'l':
    case 'o':
    case 'd':
    case 'i':
    case 'p':
    case 'h':
    case 'v':
      return true;
    case 'c':
    case 'r':
    case 't':
      return exp;
    default:
      return false;
  }
}

bool IsDelimiter(char c) {
  return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

// One parsed "%{...}" expression.
struct MacroExpr {
  char letter = 0;  // as written (case tells URL-escaping)
  int digits = 0;   // 0: keep all
  bool reverse = false;
  std::string delimiters;
};

// Parses the inside of "%{" ... "}" starting at s[pos] (the letter). On success, pos is
// after the closing brace.
absl::StatusOr<MacroExpr> ParseMacroExpr(std::string_view s, size_t& pos, bool exp) {
  MacroExpr m;
  if (pos >= s.size() || !IsMacroLetter(s[pos], exp)) {
    return absl::InvalidArgumentError("bad macro letter");
  }
  m.letter = s[pos++];
  size_t digit_start = pos;
  while (pos < s.size() && IsDigit(s[pos])) {
    if (pos - digit_start >= 3)
      return absl::InvalidArgumentError("macro digit transformer too long");
    m.digits = m.digits * 10 + (s[pos] - '0');
    ++pos;
  }
  if (pos > digit_start && m.digits == 0) {
    return absl::InvalidArgumentError("macro digit transformer must be at least 1");
  }
  if (pos < s.size() && (s[pos] == 'r' || s[pos] == 'R')) {
    m.reverse = true;
    ++pos;
  }
  while (pos < s.size() && IsDelimiter(s[pos])) m.delimiters.push_back(s[pos++]);
  if (pos >= s.size() || s[pos] != '}') return absl::InvalidArgumentError("unterminated macro");
  ++pos;
  return m;
}

// Validates a domain-spec: a macro string with a proper domain-end (RFC 7208 7.1).
absl::Status ValidateDomainSpec(std::string_view term, std::string_view spec) {
  if (spec.empty()) return SyntaxError(term, "empty domain-spec");
  if (absl::Status s = ValidateMacroString(spec, false); !s.ok()) {
    return SyntaxError(term, SV(s.message()));
  }
  std::string_view d = spec;
  if (d.back() == '.') d.remove_suffix(1);
  if (d.empty()) return SyntaxError(term, "domain-spec is only a dot");
  if (d.back() == '}') return absl::OkStatus();  // ends with a macro-expand
  if (absl::EndsWith(AV(d), "%%") || absl::EndsWith(AV(d), "%_") || absl::EndsWith(AV(d), "%-")) {
    return absl::OkStatus();
  }
  size_t dot = d.rfind('.');
  if (dot == std::string_view::npos) return SyntaxError(term, "domain-spec has no top-level label");
  std::string_view top = d.substr(dot + 1);
  if (top.empty() || top.size() > 63) return SyntaxError(term, "bad top-level label");
  bool has_alpha = false;
  for (char c : top) {
    if (!IsAlnum(c) && c != '-') return SyntaxError(term, "bad character in top-level label");
    if (IsAlpha(c)) has_alpha = true;
  }
  if (top.front() == '-' || top.back() == '-')
    return SyntaxError(term, "top-level label starts or ends with '-'");
  if (!has_alpha && top.find('-') == std::string_view::npos) {
    return SyntaxError(term, "top-level label is all digits");
  }
  return absl::OkStatus();
}

// "/N" with no leading zero and N <= max.
bool ParseCidr(std::string_view digits, int max, int& out) {
  if (digits.empty() || digits.size() > 3) return false;
  if (digits.size() > 1 && digits[0] == '0') return false;
  int v = 0;
  for (char c : digits) {
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  if (v > max) return false;
  out = v;
  return true;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsDigit);
}

// Splits "domain-spec/24//64" style suffixes off `rest` (a, mx).
absl::Status ParseDualCidr(std::string_view term, std::string_view& rest, Mechanism& m) {
  size_t dd = rest.rfind("//");
  if (dd != std::string_view::npos && AllDigits(rest.substr(dd + 2))) {
    if (!ParseCidr(rest.substr(dd + 2), 128, m.cidr6))
      return SyntaxError(term, "bad ip6 cidr length");
    rest = rest.substr(0, dd);
  } else if (dd != std::string_view::npos && dd + 2 == rest.size()) {
    return SyntaxError(term, "empty ip6 cidr length");
  }
  size_t sl = rest.rfind('/');
  if (sl != std::string_view::npos && AllDigits(rest.substr(sl + 1))) {
    if (!ParseCidr(rest.substr(sl + 1), 32, m.cidr4))
      return SyntaxError(term, "bad ip4 cidr length");
    rest = rest.substr(0, sl);
  } else if (sl != std::string_view::npos && sl + 1 == rest.size()) {
    return SyntaxError(term, "empty cidr length");
  }
  return absl::OkStatus();
}

absl::Status ParseDirective(std::string_view term, Record& rec) {
  Mechanism m;
  std::string_view t = term;
  switch (t.front()) {
    case '+':
      m.qualifier = Qualifier::kPass;
      t.remove_prefix(1);
      break;
    case '-':
      m.qualifier = Qualifier::kFail;
      t.remove_prefix(1);
      break;
    case '~':
      m.qualifier = Qualifier::kSoftFail;
      t.remove_prefix(1);
      break;
    case '?':
      m.qualifier = Qualifier::kNeutral;
      t.remove_prefix(1);
      break;
    default:
      break;
  }
  size_t name_end = 0;
  while (name_end < t.size() && IsAlnum(t[name_end])) ++name_end;
  std::string_view name = t.substr(0, name_end);
  std::string_view rest = t.substr(name_end);
  auto arg = [&](bool required) -> absl::StatusOr<std::string_view> {
    if (rest.empty()) {
      if (required) return SyntaxError(term, "missing ':' domain-spec");
      return std::string_view();
    }
    if (rest.front() != ':') return SyntaxError(term, "expected ':'");
    return rest.substr(1);
  };

  if (EqualsIgnoreCase(name, "all")) {
    if (!rest.empty()) return SyntaxError(term, "'all' takes no argument");
    m.kind = MechanismKind::kAll;
  } else if (EqualsIgnoreCase(name, "include") || EqualsIgnoreCase(name, "exists")) {
    m.kind = EqualsIgnoreCase(name, "include") ? MechanismKind::kInclude : MechanismKind::kExists;
    absl::StatusOr<std::string_view> a = arg(true);
    if (!a.ok()) return a.status();
    if (absl::Status s = ValidateDomainSpec(term, *a); !s.ok()) return s;
    m.domain_spec = std::string(*a);
  } else if (EqualsIgnoreCase(name, "a") || EqualsIgnoreCase(name, "mx")) {
    m.kind = EqualsIgnoreCase(name, "a") ? MechanismKind::kA : MechanismKind::kMx;
    if (absl::Status s = ParseDualCidr(term, rest, m); !s.ok()) return s;
    absl::StatusOr<std::string_view> a = arg(false);
    if (!a.ok()) return a.status();
    if (!rest.empty()) {
      if (absl::Status s = ValidateDomainSpec(term, *a); !s.ok()) return s;
      m.domain_spec = std::string(*a);
    }
  } else if (EqualsIgnoreCase(name, "ptr")) {
    m.kind = MechanismKind::kPtr;
    absl::StatusOr<std::string_view> a = arg(false);
    if (!a.ok()) return a.status();
    if (!rest.empty()) {
      if (absl::Status s = ValidateDomainSpec(term, *a); !s.ok()) return s;
      m.domain_spec = std::string(*a);
    }
  } else if (EqualsIgnoreCase(name, "ip4") || EqualsIgnoreCase(name, "ip6")) {
    bool v6 = EqualsIgnoreCase(name, "ip6");
    m.kind = v6 ? MechanismKind::kIp6 : MechanismKind::kIp4;
    absl::StatusOr<std::string_view> a = arg(true);
    if (!a.ok()) return a.status();
    std::string_view addr = *a;
    size_t sl = addr.find('/');
    if (sl != std::string_view::npos) {
      if (!ParseCidr(addr.substr(sl + 1), v6 ? 128 : 32, v6 ? m.cidr6 : m.cidr4)) {
        return SyntaxError(term, "bad cidr length");
      }
      addr = addr.substr(0, sl);
    }
    std::optional<IpAddress> ip = IpAddress::Parse(addr);
    if (!ip.has_value() || ip->v6 != v6) return SyntaxError(term, "bad IP address");
    m.network = *ip;
  } else {
    return SyntaxError(term, "unknown mechanism");
  }
  rec.mechanisms.push_back(std::move(m));
  return absl::OkStatus();
}

}  // namespace

// --- IpAddress ---

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);
  IpAddress ip;
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
    return ip;
  }
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  ip.v6 = true;
  return ip;
}

IpAddress IpAddress::Unmapped() const {
  if (!v6) return *this;
  for (int i = 0; i < 10; ++i) {
    if (bytes[i] != 0) return *this;
  }
  if (bytes[10] != 0xff || bytes[11] != 0xff) return *this;
  IpAddress out;
  std::copy(bytes.begin() + 12, bytes.end(), out.bytes.begin());
  return out;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf));
  return buf;
}

bool IpAddress::InPrefix(const IpAddress& other, int prefix) const {
  if (v6 != other.v6) return false;
  int max = v6 ? 128 : 32;
  prefix = std::clamp(prefix, 0, max);
  int full = prefix / 8;
  for (int i = 0; i < full; ++i) {
    if (bytes[i] != other.bytes[i]) return false;
  }
  int bits = prefix % 8;
  if (bits == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits));
  return (bytes[full] & mask) == (other.bytes[full] & mask);
}

// --- Records ---

bool IsSpfRecord(std::string_view txt) {
  if (txt.size() < 6 || !EqualsIgnoreCase(txt.substr(0, 6), "v=spf1")) return false;
  return txt.size() == 6 || txt[6] == ' ';
}

const char* MechanismName(MechanismKind k) {
  switch (k) {
    case MechanismKind::kAll:
      return "all";
    case MechanismKind::kInclude:
      return "include";
    case MechanismKind::kA:
      return "a";
    case MechanismKind::kMx:
      return "mx";
    case MechanismKind::kPtr:
      return "ptr";
    case MechanismKind::kIp4:
      return "ip4";
    case MechanismKind::kIp6:
      return "ip6";
    case MechanismKind::kExists:
      return "exists";
  }
  return "?";
}

absl::StatusOr<Record> ParseRecord(std::string_view txt) {
  if (txt.size() > kMaxRecordLength) return absl::InvalidArgumentError("SPF record too long");
  if (!IsSpfRecord(txt)) return absl::InvalidArgumentError("not an SPF record (no v=spf1)");
  for (char c : txt) {
    // Only printable ASCII and SP (RFC 7208 4.6.1 / 7.1).
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
      return absl::InvalidArgumentError("SPF record with a control or non-ASCII byte");
    }
  }
  Record rec;
  size_t terms = 0;
  size_t pos = 6;
  while (pos < txt.size()) {
    while (pos < txt.size() && txt[pos] == ' ') ++pos;
    if (pos >= txt.size()) break;
    size_t end = txt.find(' ', pos);
    if (end == std::string_view::npos) end = txt.size();
    std::string_view term = txt.substr(pos, end - pos);
    pos = end;
    if (++terms > kMaxTerms) return absl::InvalidArgumentError("SPF record has too many terms");

    // A modifier is name "=" macro-string, name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
    size_t n = 0;
    if (IsAlpha(term[0])) {
      n = 1;
      while (n < term.size() &&
             (IsAlnum(term[n]) || term[n] == '-' || term[n] == '_' || term[n] == '.'))
        ++n;
    }
    if (n > 0 && n < term.size() && term[n] == '=') {
      std::string_view name = term.substr(0, n);
      std::string_view value = term.substr(n + 1);
      if (EqualsIgnoreCase(name, "redirect") || EqualsIgnoreCase(name, "exp")) {
        bool redirect = EqualsIgnoreCase(name, "redirect");
        std::optional<std::string>& slot = redirect ? rec.redirect : rec.exp;
        if (slot.has_value()) return SyntaxError(term, "modifier given twice");
        if (absl::Status s = ValidateDomainSpec(term, value); !s.ok()) return s;
        slot = std::string(value);
      } else {
        // Unknown modifiers are ignored, but must be well-formed (RFC 7208 6).
        if (absl::Status s = ValidateMacroString(value, false); !s.ok()) {
          return SyntaxError(term, "bad macro string in unknown modifier");
        }
      }
      continue;
    }
    if (absl::Status s = ParseDirective(term, rec); !s.ok()) return s;
  }
  return rec;
}

// --- Macros ---

absl::Status ValidateMacroString(std::string_view s, bool exp) {
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c != '%') {
      // macro-literal: %x21-24 / %x26-7E; exp strings allow SP too.
      unsigned char u = static_cast<unsigned char>(c);
      if (!(u >= 0x21 && u <= 0x7e) && !(exp && u == 0x20)) {
        return absl::InvalidArgumentError("bad character in macro string");
      }
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) return absl::InvalidArgumentError("'%' at end of macro string");
    char next = s[i + 1];
    if (next == '%' || next == '_' || next == '-') {
      i += 2;
      continue;
    }
    if (next != '{') return absl::InvalidArgumentError("'%' not followed by {, %, _ or -");
    size_t pos = i + 2;
    absl::StatusOr<MacroExpr> m = ParseMacroExpr(s, pos, exp);
    if (!m.ok()) return m.status();
    i = pos;
  }
  return absl::OkStatus();
}

namespace {

std::string MacroValue(char letter, const MacroContext& ctx) {
  switch (absl::ascii_tolower(static_cast<unsigned char>(letter))) {
    case 's':
      return ctx.sender;
    case 'l':
      return ctx.local_part;
    case 'o':
      return ctx.sender_domain;
    case 'd':
      return ctx.domain;
    case 'h':
      return ctx.helo;
    case 'p':
      return ctx.validated.empty() ? "unknown" : ctx.validated;
    case 'r':
      return ctx.receiver.empty() ? "unknown" : ctx.receiver;
    case 't':
      return absl::StrCat(ctx.timestamp);
    case 'c':
      return ctx.ip.ToString();
    case 'v':
      return ctx.ip.v6 ? "ip6" : "in-addr";
    case 'i': {
      if (!ctx.ip.v6) return ctx.ip.ToString();
      static constexpr char kHex[] = "0123456789abcdef";
      std::string out;
      for (int b = 0; b < 16; ++b) {
        if (b > 0) out.push_back('.');
        out.push_back(kHex[ctx.ip.bytes[b] >> 4]);
        out.push_back('.');
        out.push_back(kHex[ctx.ip.bytes[b] & 0xf]);
      }
      return out;
    }
    default:
      return "";
  }
}

// RFC 3986 unreserved characters stay; everything else is %XX.
std::string UrlEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (IsAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      unsigned char u = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

std::string ApplyTransformers(const std::string& value, const MacroExpr& m) {
  std::string delims = m.delimiters.empty() ? std::string(".") : m.delimiters;
  std::vector<std::string_view> parts;
  std::string_view v = value;
  size_t start = 0;
  for (size_t i = 0; i <= v.size(); ++i) {
    if (i == v.size() || delims.find(v[i]) != std::string::npos) {
      parts.push_back(v.substr(start, i - start));
      start = i + 1;
    }
  }
  if (m.reverse) std::reverse(parts.begin(), parts.end());
  size_t first = 0;
  if (m.digits > 0 && static_cast<size_t>(m.digits) < parts.size()) first = parts.size() - m.digits;
  std::string out;
  for (size_t i = first; i < parts.size(); ++i) {
    if (i > first) out.push_back('.');
    out.append(parts[i]);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> ExpandMacros(std::string_view s, const MacroContext& ctx, bool exp) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (out.size() > kMaxExpansion) return absl::InvalidArgumentError("macro expansion too long");
    char c = s[i];
    if (c != '%') {
      unsigned char u = static_cast<unsigned char>(c);
      if (!(u >= 0x21 && u <= 0x7e) && !(exp && u == 0x20)) {
        return absl::InvalidArgumentError("bad character in macro string");
      }
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) return absl::InvalidArgumentError("'%' at end of macro string");
    char next = s[i + 1];
    if (next == '%') {
      out.push_back('%');
      i += 2;
      continue;
    }
    if (next == '_') {
      out.push_back(' ');
      i += 2;
      continue;
    }
    if (next == '-') {
      out.append("%20");
      i += 2;
      continue;
    }
    if (next != '{') return absl::InvalidArgumentError("'%' not followed by {, %, _ or -");
    size_t pos = i + 2;
    absl::StatusOr<MacroExpr> m = ParseMacroExpr(s, pos, exp);
    if (!m.ok()) return m.status();
    std::string value = ApplyTransformers(MacroValue(m->letter, ctx), *m);
    if (absl::ascii_isupper(static_cast<unsigned char>(m->letter))) value = UrlEscape(value);
    out.append(value);
    i = pos;
  }
  if (out.size() > kMaxExpansion) return absl::InvalidArgumentError("macro expansion too long");
  return out;
}

bool IsValidDomain(std::string_view d) {
  if (!d.empty() && d.back() == '.') d.remove_suffix(1);
  if (d.empty() || d.size() > kMaxDomainLength) return false;
  size_t labels = 0;
  size_t start = 0;
  for (size_t i = 0; i <= d.size(); ++i) {
    if (i == d.size() || d[i] == '.') {
      size_t len = i - start;
      if (len == 0 || len > 63) return false;
      ++labels;
      start = i + 1;
    } else {
      unsigned char u = static_cast<unsigned char>(d[i]);
      if (u <= 0x20 || u >= 0x7f) return false;
    }
  }
  return labels >= 2;
}

absl::StatusOr<std::string> ExpandDomainSpec(std::string_view s, const MacroContext& ctx) {
  absl::StatusOr<std::string> e = ExpandMacros(s, ctx, false);
  if (!e.ok()) return e.status();
  std::string d = *std::move(e);
  if (!d.empty() && d.back() == '.') d.pop_back();
  while (d.size() > kMaxDomainLength) {
    size_t dot = d.find('.');
    if (dot == std::string::npos) return absl::InvalidArgumentError("expanded domain too long");
    d.erase(0, dot + 1);
  }
  if (!IsValidDomain(d)) {
    return absl::InvalidArgumentError(
        absl::StrCat("expanded domain-spec is not a valid name: ", d.substr(0, 80)));
  }
  return d;
}

}  // namespace kite::spf
