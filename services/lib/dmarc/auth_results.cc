#include "lib/dmarc/auth_results.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::dmarc {
namespace {

bool IsTSpecial(char c) {
  switch (c) {
    case '(': case ')': case '<': case '>': case '@': case ',': case ';': case ':':
    case '\\': case '"': case '/': case '[': case ']': case '?': case '=':
      return true;
    default:
      return false;
  }
}

bool IsTokenChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && !IsTSpecial(c);
}

bool IsToken(std::string_view v) {
  if (v.empty()) return false;
  for (char c : v) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// RFC 5322 atext.
bool IsAtext(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool IsDotAtom(std::string_view v) {
  if (v.empty() || v.front() == '.' || v.back() == '.') return false;
  char prev = 0;
  for (char c : v) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!IsAtext(c)) {
      return false;
    }
    prev = c;
  }
  return true;
}

bool IsDomainName(std::string_view v) {
  if (v.empty() || v.size() > 253 || v.front() == '.' || v.back() == '.') return false;
  char prev = 0;
  for (char c : v) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return false;
    }
    prev = c;
  }
  return true;
}

std::string Comment(std::string_view text) {
  std::string out = " (";
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    out += c;
    if (out.size() > 200) {
      out += "...";
      break;
    }
  }
  out += ")";
  return out;
}

bool IsWsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Skips CFWS from `pos`; false on an unterminated or too deeply nested comment.
bool SkipCfws(std::string_view s, size_t& pos) {
  while (pos < s.size()) {
    if (IsWsp(s[pos])) {
      ++pos;
    } else if (s[pos] == '(') {
      int depth = 0;
      while (pos < s.size()) {
        char c = s[pos++];
        if (c == '\\') {
          ++pos;
        } else if (c == '(') {
          if (++depth > kMaxCommentDepth) return false;
        } else if (c == ')') {
          if (--depth == 0) break;
        }
      }
      if (depth != 0) return false;
    } else {
      break;
    }
  }
  return true;
}

}  // namespace

std::string FormatValue(std::string_view v) {
  if (IsToken(v) || IsDomainName(v)) return std::string(v);
  size_t at = v.rfind('@');
  if (at != std::string_view::npos && IsDomainName(v.substr(at + 1)) && (at == 0 || IsDotAtom(v.substr(0, at)))) {
    return std::string(v);
  }
  std::string out = "\"";
  for (char c : v) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) continue;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += "\"";
  return out;
}

std::string BuildAuthResults(const AuthResults& ar) {
  std::vector<std::string> parts;
  if (ar.spf) {
    const SpfResultInfo& s = *ar.spf;
    std::string p = absl::StrCat("spf=", FormatValue(s.result));
    if (!s.comment.empty()) absl::StrAppend(&p, Comment(s.comment));
    if (!s.mailfrom.empty()) {
      absl::StrAppend(&p, " smtp.mailfrom=", FormatValue(s.mailfrom));
    } else if (!s.helo.empty()) {
      absl::StrAppend(&p, " smtp.helo=", FormatValue(s.helo));
    }
    parts.push_back(std::move(p));
  }
  if (ar.dkim_checked && ar.dkim.empty()) parts.push_back("dkim=none");
  for (const DkimResultInfo& d : ar.dkim) {
    std::string p = absl::StrCat("dkim=", FormatValue(d.result));
    if (!d.comment.empty()) absl::StrAppend(&p, Comment(d.comment));
    if (!d.domain.empty()) absl::StrAppend(&p, " header.d=", FormatValue(d.domain));
    if (!d.selector.empty()) absl::StrAppend(&p, " header.s=", FormatValue(d.selector));
    if (!d.b_prefix.empty()) absl::StrAppend(&p, " header.b=", FormatValue(d.b_prefix));
    parts.push_back(std::move(p));
  }
  if (ar.dmarc) {
    const DmarcResultInfo& m = *ar.dmarc;
    std::string p = absl::StrCat("dmarc=", FormatValue(m.result));
    if (!m.comment.empty()) absl::StrAppend(&p, Comment(m.comment));
    if (!m.from_domain.empty()) absl::StrAppend(&p, " header.from=", FormatValue(m.from_domain));
    if (!m.policy.empty()) absl::StrAppend(&p, " policy.dmarc=", FormatValue(m.policy));
    parts.push_back(std::move(p));
  }
  std::string out = absl::StrCat("Authentication-Results: ", FormatValue(ar.authserv_id), ";");
  if (parts.empty()) return absl::StrCat(out, " none\r\n");
  for (size_t i = 0; i < parts.size(); ++i) {
    absl::StrAppend(&out, "\r\n\t", parts[i], i + 1 < parts.size() ? ";" : "");
  }
  absl::StrAppend(&out, "\r\n");
  return out;
}

std::string AuthservId(std::string_view v) {
  size_t pos = 0;
  if (!SkipCfws(v, pos) || pos >= v.size()) return "";
  if (v[pos] == '"') {
    std::string out;
    for (++pos; pos < v.size(); ++pos) {
      char c = v[pos];
      if (c == '\\' && pos + 1 < v.size()) {
        out += v[++pos];
      } else if (c == '"') {
        return out;
      } else {
        out += c;
      }
    }
    return "";  // unterminated
  }
  size_t start = pos;
  while (pos < v.size() && IsTokenChar(v[pos])) ++pos;
  // A token (RFC 8601 2.5); an optional "/version" after it is not part of the id.
  return std::string(v.substr(start, pos - start));
}

std::string RemoveOwnAuthResults(std::string_view message, std::string_view authserv_id, int* removed) {
  int count = 0;
  std::string out;
  out.reserve(message.size());
  size_t pos = 0;
  std::string id = absl::AsciiStrToLower(AV(authserv_id));
  constexpr std::string_view kName = "authentication-results";
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    size_t line_end = eol == std::string_view::npos ? message.size() : eol + 1;
    std::string_view line = message.substr(pos, line_end - pos);
    if (line == "\r\n" || line == "\n") break;  // end of the header block
    // One field: the first line plus continuation lines (starting with SP or HTAB).
    size_t field_end = line_end;
    while (field_end < message.size() && (message[field_end] == ' ' || message[field_end] == '\t')) {
      size_t e = message.find('\n', field_end);
      field_end = e == std::string_view::npos ? message.size() : e + 1;
    }
    std::string_view field = message.substr(pos, field_end - pos);
    bool drop = false;
    size_t colon = field.find(':');
    if (colon != std::string_view::npos) {
      std::string_view name = field.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      if (absl::EqualsIgnoreCase(AV(name), AV(kName))) {
        std::string fid = absl::AsciiStrToLower(AuthservId(field.substr(colon + 1)));
        drop = !fid.empty() && fid == id;
      }
    }
    if (drop) {
      ++count;
    } else {
      out.append(field);
    }
    pos = field_end;
  }
  out.append(message.substr(pos));
  if (removed) *removed = count;
  return out;
}

}  // namespace kite::dmarc
