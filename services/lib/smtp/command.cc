#include "lib/smtp/command.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <optional>

#include "lib/base/strings.h"
#include "lib/base/ascii.h"

namespace kite::smtp {
namespace internal = ::kite::ascii;

namespace {

using internal::EqualsIgnoreCase;
using internal::ParseDecimal;
using internal::Split;
using internal::ToUpper;

absl::Status Fail(std::string_view reply) {
  return absl::InvalidArgumentError(AV(reply));
}

bool IsAlpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(unsigned char c) { return IsAlpha(c) || IsDigit(c); }

// RFC 5322 atext.
bool IsAtext(unsigned char c, bool allow_utf8) {
  if (IsAlnum(c)) return true;
  if (c >= 0x80) return allow_utf8;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

bool HasNonAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return true;
  }
  return false;
}

// Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    unsigned char c1 = s[i + 1];
    if (c1 < lo || c1 > hi) return false;
    for (size_t k = 2; k < len; ++k) {
      unsigned char ck = s[i + k];
      if (ck < 0x80 || ck > 0xBF) return false;
    }
    i += len;
  }
  return true;
}

bool IsDotString(std::string_view s, bool allow_utf8) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char ch : s) {
    if (ch == '.') {
      if (prev == '.') return false;
    } else if (!IsAtext(static_cast<unsigned char>(ch), allow_utf8)) {
      return false;
    }
    prev = ch;
  }
  return true;
}

// Parses a Local-part at the start of s; returns its length or nullopt.
std::optional<size_t> LocalPartLength(std::string_view s, bool allow_utf8) {
  if (s.empty()) return std::nullopt;
  if (s.front() == '"') {
    size_t i = 1;
    while (i < s.size()) {
      unsigned char c = s[i];
      if (c == '"') return i + 1;
      if (c == '\\') {
        if (i + 1 >= s.size()) return std::nullopt;
        unsigned char n = s[i + 1];
        if (n < 32 || n > 126) return std::nullopt;
        i += 2;
        continue;
      }
      bool qtext = (c >= 32 && c <= 33) || (c >= 35 && c <= 91) || (c >= 93 && c <= 126) ||
                   (c >= 0x80 && allow_utf8);
      if (!qtext) return std::nullopt;
      ++i;
    }
    return std::nullopt;
  }
  size_t at = s.find('@');
  std::string_view local = s.substr(0, at);
  if (!IsDotString(local, allow_utf8)) return std::nullopt;
  return local.size();
}

bool IsIpv4(std::string_view s) {
  std::vector<std::string_view> parts = Split(s, '.');
  if (parts.size() != 4) return false;
  for (std::string_view p : parts) {
    if (p.empty() || p.size() > 3) return false;
    int v = 0;
    for (char ch : p) {
      if (!IsDigit(static_cast<unsigned char>(ch))) return false;
      v = v * 10 + (ch - '0');
    }
    if (v > 255) return false;
  }
  return true;
}

// Ldh-str as in RFC 5321 (letters, digits, hyphens; not ending in a hyphen).
bool IsLdhStr(std::string_view s) {
  if (s.empty() || s.back() == '-') return false;
  for (unsigned char c : s) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  return true;
}

// Returns the index of the '>' closing a path that starts at s[0] == '<', honouring quoted
// local parts (which may contain '>').
std::optional<size_t> FindPathEnd(std::string_view s) {
  bool quoted = false;
  for (size_t i = 1; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == '>') {
      return i;
    }
  }
  return std::nullopt;
}

bool IsXtext(std::string_view s) { return DecodeXtext(s).ok(); }

struct PathRules {
  bool is_mail;
  bool smtputf8;
};

// The syntax reply for a bad address of MAIL (5.1.7) or RCPT (5.1.3).
absl::Status AddressError(bool is_mail, std::string_view what) {
  return Fail(
      std::string(is_mail ? "501 5.1.7 Bad sender address " : "501 5.1.3 Bad recipient address ") +
      std::string(what));
}

// Parses "<path>" or a bare address; on success fills cmd.address and returns the rest of
// the argument (the parameters).
absl::StatusOr<std::string_view> ParsePath(std::string_view s, const PathRules& rules,
                                           Command& cmd) {
  std::string_view path;
  std::string_view rest;
  size_t path_octets;
  if (!s.empty() && s.front() == '<') {
    std::optional<size_t> end = FindPathEnd(s);
    if (!end) return AddressError(rules.is_mail, "syntax");
    path = s.substr(1, *end - 1);
    rest = s.substr(*end + 1);
    path_octets = *end + 1;
    if (!rest.empty() && rest.front() != ' ') return AddressError(rules.is_mail, "syntax");
  } else {
    // Lenient, as Postfix with strict_rfc821_envelopes=no: MAIL FROM:user@example.com.
    size_t sp = s.find(' ');
    path = s.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view() : s.substr(sp);
    path_octets = path.size() + 2;
    if (path.empty()) return AddressError(rules.is_mail, "syntax");
  }
  if (path_octets > kMaxPathLength) return AddressError(rules.is_mail, "too long");
  if (path.empty()) {
    if (!rules.is_mail) return AddressError(false, "syntax");
    cmd.address.clear();
    return rest;
  }
  // A-d-l ":" — the source route is ignored (RFC 5321 4.1.1.3, C.).
  if (path.front() == '@') {
    size_t colon = path.find(':');
    if (colon == std::string_view::npos) return AddressError(rules.is_mail, "syntax");
    for (std::string_view hop : Split(path.substr(0, colon), ',')) {
      if (hop.size() < 2 || hop.front() != '@' || !IsValidDomain(hop.substr(1))) {
        return AddressError(rules.is_mail, "syntax");
      }
    }
    path = path.substr(colon + 1);
  }
  bool non_ascii = HasNonAscii(path);
  if (!rules.is_mail && EqualsIgnoreCase(path, "postmaster")) {
    cmd.address = std::string(path);
    return rest;
  }
  if (!IsValidMailbox(path, /*allow_utf8=*/true)) {
    std::optional<size_t> local = LocalPartLength(path, true);
    if (local && *local > kMaxLocalPartLength) return AddressError(rules.is_mail, "too long");
    return AddressError(rules.is_mail, "syntax");
  }
  if (non_ascii && rules.is_mail && !rules.smtputf8) {
    return Fail("553 5.6.7 SMTPUTF8 is required for a non-ASCII address");
  }
  cmd.address = std::string(path);
  cmd.utf8_address = non_ascii;
  return rest;
}

bool IsEsmtpKeyword(std::string_view k) {
  if (k.empty() || !IsAlnum(static_cast<unsigned char>(k.front()))) return false;
  for (unsigned char c : k) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  return true;
}

bool IsEsmtpValue(std::string_view v) {
  if (v.empty()) return false;
  for (unsigned char c : v) {
    if (c >= 0x80) continue;  // UTF-8, RFC 6531; the line was checked to be valid UTF-8.
    if (c < 33 || c > 126 || c == '=') return false;
  }
  return true;
}

bool IsAllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

absl::Status CheckParamValue(const std::string& key, std::string& value, bool has_value) {
  auto bad = [&key]() { return Fail("501 5.5.4 Bad " + key + " value"); };
  if (key == "SMTPUTF8") {
    if (has_value) return Fail("501 5.5.4 SMTPUTF8 takes no value");
    return absl::OkStatus();
  }
  if (!has_value) return bad();
  if (key == "SIZE") {
    uint64_t size;
    if (!ParseDecimal(value, size)) return bad();
  } else if (key == "BODY") {
    value = ToUpper(value);
    if (value != "7BIT" && value != "8BITMIME" && value != "BINARYMIME") return bad();
  } else if (key == "RET") {
    value = ToUpper(value);
    if (value != "FULL" && value != "HDRS") return bad();
  } else if (key == "ENVID") {
    absl::StatusOr<std::string> decoded = DecodeXtext(value);
    if (!decoded.ok() || decoded->size() > 100) return bad();  // RFC 3461 4.4
  } else if (key == "AUTH") {
    if (!IsXtext(value)) return bad();
  } else if (key == "NOTIFY") {
    value = ToUpper(value);
    if (value != "NEVER") {
      bool seen[3] = {false, false, false};
      for (std::string_view v : Split(value, ',')) {
        int i = v == "SUCCESS" ? 0 : v == "FAILURE" ? 1 : v == "DELAY" ? 2 : -1;
        if (i < 0 || seen[i]) return bad();
        seen[i] = true;
      }
    }
  } else if (key == "ORCPT") {
    size_t semi = value.find(';');
    if (semi == std::string::npos || !IsEsmtpKeyword(value.substr(0, semi)) ||
        !IsXtext(std::string_view(value).substr(semi + 1)) || semi + 1 == value.size()) {
      return bad();
    }
  }
  return absl::OkStatus();
}

absl::Status ParseParams(std::string_view s, Verb verb, Command& cmd) {
  static constexpr std::array<std::string_view, 6> kMailParams = {"SIZE", "BODY",  "SMTPUTF8",
                                                                  "RET",  "ENVID", "AUTH"};
  static constexpr std::array<std::string_view, 2> kRcptParams = {"NOTIFY", "ORCPT"};
  for (std::string_view p : Split(s, ' ', true)) {
    size_t eq = p.find('=');
    std::string key(p.substr(0, eq));
    bool has_value = eq != std::string_view::npos;
    std::string value(has_value ? p.substr(eq + 1) : std::string_view());
    if (!IsEsmtpKeyword(key) || (has_value && !IsEsmtpValue(value))) {
      return Fail("501 5.5.4 Bad parameter syntax");
    }
    key = ToUpper(key);
    bool known = false;
    if (verb == Verb::kMail) {
      for (std::string_view k : kMailParams) known |= k == key;
    } else {
      for (std::string_view k : kRcptParams) known |= k == key;
    }
    if (!known) {
      // The keyword passed IsEsmtpKeyword, so it is safe to echo.
      return Fail("555 5.5.4 Unsupported parameter: " + key);
    }
    for (const auto& [k, v] : cmd.params) {
      if (k == key) return Fail("501 5.5.4 Duplicate parameter: " + key);
    }
    if (absl::Status st = CheckParamValue(key, value, has_value); !st.ok()) return st;
    cmd.params.emplace_back(std::move(key), std::move(value));
  }
  return absl::OkStatus();
}

bool HasSmtpUtf8Param(std::string_view params) {
  for (std::string_view p : Split(params, ' ', true)) {
    if (EqualsIgnoreCase(p, "SMTPUTF8")) return true;
  }
  return false;
}

absl::Status ParseMailOrRcpt(Command& cmd) {
  bool is_mail = cmd.verb == Verb::kMail;
  std::string_view prefix = is_mail ? "FROM:" : "TO:";
  std::string_view syntax =
      is_mail ? "501 5.5.4 Syntax: MAIL FROM:<address>" : "501 5.5.4 Syntax: RCPT TO:<address>";
  std::string_view arg = cmd.argument;
  if (arg.size() < prefix.size() || !EqualsIgnoreCase(arg.substr(0, prefix.size()), prefix)) {
    return Fail(syntax);
  }
  arg.remove_prefix(prefix.size());
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);  // "MAIL FROM: <a@b>"
  if (arg.empty()) return Fail(syntax);
  // SMTPUTF8 governs what the path may hold, so look for it before parsing the path. A
  // bare path ends at the first space; a bracketed one may hold quoted spaces.
  std::string_view after_path;
  if (arg.front() == '<') {
    std::optional<size_t> end = FindPathEnd(arg);
    after_path = end ? arg.substr(*end + 1) : std::string_view();
  } else {
    size_t sp = arg.find(' ');
    after_path = sp == std::string_view::npos ? std::string_view() : arg.substr(sp);
  }
  PathRules rules{is_mail, HasSmtpUtf8Param(after_path)};
  absl::StatusOr<std::string_view> rest = ParsePath(arg, rules, cmd);
  if (!rest.ok()) return rest.status();
  return ParseParams(*rest, cmd.verb, cmd);
}

bool IsBase64(std::string_view s) {
  if (s.empty() || s.size() % 4 != 0) return false;
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0) return false;  // data after padding
    if (!IsAlnum(c) && c != '+' && c != '/') return false;
  }
  return pad <= 2;
}

absl::Status ParseAuth(Command& cmd) {
  static constexpr std::string_view kSyntax = "501 5.5.4 Syntax: AUTH mechanism [initial-response]";
  std::vector<std::string_view> parts = Split(cmd.argument, ' ', true);
  if (parts.empty() || parts.size() > 2) return Fail(kSyntax);
  std::string_view mech = parts[0];
  if (mech.size() > 20) return Fail(kSyntax);
  for (unsigned char c : mech) {
    if (!IsAlnum(c) && c != '-' && c != '_') return Fail(kSyntax);
  }
  cmd.auth_mechanism = ToUpper(mech);
  if (parts.size() == 2) {
    if (parts[1] != "=" && !IsBase64(parts[1])) return Fail("501 5.5.2 Cannot decode base64");
    cmd.auth_initial_response = std::string(parts[1]);
    cmd.has_initial_response = true;
  }
  return absl::OkStatus();
}

absl::Status ParseBdat(Command& cmd) {
  static constexpr std::string_view kSyntax = "501 5.5.4 Syntax: BDAT chunk-size [LAST]";
  std::vector<std::string_view> parts = Split(cmd.argument, ' ', true);
  if (parts.empty() || parts.size() > 2) return Fail(kSyntax);
  if (!ParseDecimal(parts[0], cmd.bdat_size)) {
    return Fail(kSyntax);
  }
  if (parts.size() == 2) {
    if (!EqualsIgnoreCase(parts[1], "LAST")) return Fail(kSyntax);
    cmd.bdat_last = true;
  }
  return absl::OkStatus();
}

void AppendSanitized(std::string& out, std::string_view text) {
  for (char ch : text) {
    unsigned char c = ch;
    out.push_back(c < 0x20 || c == 0x7F ? '?' : ch);
  }
}

}  // namespace

const std::string* Command::Param(std::string_view keyword) const {
  for (const auto& [k, v] : params) {
    if (EqualsIgnoreCase(k, keyword)) return &v;
  }
  return nullptr;
}

Verb LookupVerb(std::string_view name) {
  struct Entry {
    std::string_view name;
    Verb verb;
  };
  static constexpr Entry kVerbs[] = {
      {"HELO", Verb::kHelo},         {"EHLO", Verb::kEhlo}, {"MAIL", Verb::kMail},
      {"RCPT", Verb::kRcpt},         {"DATA", Verb::kData}, {"BDAT", Verb::kBdat},
      {"RSET", Verb::kRset},         {"NOOP", Verb::kNoop}, {"QUIT", Verb::kQuit},
      {"VRFY", Verb::kVrfy},         {"EXPN", Verb::kExpn}, {"HELP", Verb::kHelp},
      {"STARTTLS", Verb::kStartTls}, {"AUTH", Verb::kAuth},
  };
  for (const Entry& e : kVerbs) {
    if (EqualsIgnoreCase(name, e.name)) return e.verb;
  }
  return Verb::kUnknown;
}

absl::StatusOr<Command> ParseCommand(std::string_view line) {
  if (line.size() > kMaxAuthCommandLength) return Fail("500 5.5.2 Error: line too long");
  for (unsigned char c : line) {
    if (c < 0x20 || c == 0x7F) return Fail("500 5.5.2 Error: bad character in command");
  }
  if (!IsValidUtf8(line)) return Fail("500 5.5.2 Error: invalid UTF-8 in command");
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  while (!line.empty() && line.back() == ' ') line.remove_suffix(1);

  Command cmd;
  size_t sp = line.find(' ');
  std::string_view verb = line.substr(0, sp);
  std::string_view arg = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  cmd.verb = LookupVerb(verb);
  if (cmd.verb == Verb::kUnknown) return Fail("500 5.5.2 Error: command not recognized");
  if (cmd.verb != Verb::kAuth && line.size() > kMaxCommandLength) {
    return Fail("500 5.5.2 Error: line too long");
  }
  cmd.verb_text = std::string(verb);
  cmd.argument = std::string(arg);

  absl::Status status;
  switch (cmd.verb) {
    case Verb::kHelo:
      if (arg.empty()) return Fail("501 5.5.4 Syntax: HELO hostname");
      break;
    case Verb::kEhlo:
      if (arg.empty()) return Fail("501 5.5.4 Syntax: EHLO hostname");
      break;
    case Verb::kMail:
    case Verb::kRcpt:
      status = ParseMailOrRcpt(cmd);
      break;
    case Verb::kData:
    case Verb::kRset:
    case Verb::kQuit:
    case Verb::kStartTls:
      if (!arg.empty()) {
        return Fail("501 5.5.4 Syntax: " + ToUpper(verb));
      }
      break;
    case Verb::kVrfy:
    case Verb::kExpn:
      if (arg.empty()) {
        return Fail("501 5.5.4 Syntax: " + ToUpper(verb) + " address");
      }
      break;
    case Verb::kNoop:
    case Verb::kHelp:
      break;
    case Verb::kBdat:
      status = ParseBdat(cmd);
      break;
    case Verb::kAuth:
      status = ParseAuth(cmd);
      break;
    case Verb::kUnknown:
      break;
  }
  if (!status.ok()) return status;
  return cmd;
}

Reply ErrorReply(const absl::Status& status) {
  std::string_view msg = SV(status.message());
  Reply reply;
  if (status.ok() || msg.size() < 4 || !IsDigit(msg[0]) || !IsDigit(msg[1]) || !IsDigit(msg[2]) ||
      msg[3] != ' ' || (msg[0] != '4' && msg[0] != '5')) {
    return Reply{451, "4.3.0", "Internal error"};
  }
  reply.code = (msg[0] - '0') * 100 + (msg[1] - '0') * 10 + (msg[2] - '0');
  char reply_class = msg[0];
  msg.remove_prefix(4);
  size_t sp = msg.find(' ');
  std::string_view first = msg.substr(0, sp);
  // class.subject.detail, RFC 3463.
  std::vector<std::string_view> parts = Split(first, '.');
  bool enhanced = parts.size() == 3 && first.size() >= 5 && first[0] == reply_class;
  for (std::string_view p : parts) enhanced = enhanced && IsAllDigits(p) && p.size() <= 3;
  if (enhanced) {
    reply.enhanced = std::string(first);
    msg = sp == std::string_view::npos ? std::string_view() : msg.substr(sp + 1);
  }
  reply.text = std::string(msg);
  return reply;
}

std::string Reply::Format() const {
  std::string out;
  std::string code_text = std::to_string(code);
  std::vector<std::string_view> lines = Split(text, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out += code_text;
    bool last = i + 1 == lines.size();
    if (enhanced.empty() && line.empty()) {
      if (!last) out.push_back('-');
    } else {
      out.push_back(last ? ' ' : '-');
      if (!enhanced.empty()) {
        AppendSanitized(out, enhanced);
        if (!line.empty()) out.push_back(' ');
      }
      AppendSanitized(out, line);
    }
    out += "\r\n";
  }
  return out;
}

bool IsValidDomain(std::string_view domain, bool allow_utf8) {
  if (domain.empty() || domain.size() > kMaxDomainLength) return false;
  for (std::string_view label : Split(domain, '.')) {
    if (label.empty() || label.size() > 63) return false;
    auto let_dig = [allow_utf8](unsigned char c) {
      return IsAlnum(c) || (allow_utf8 && c >= 0x80);
    };
    if (!let_dig(label.front()) || !let_dig(label.back())) return false;
    for (unsigned char c : label) {
      if (!let_dig(c) && c != '-') return false;
    }
  }
  return true;
}

bool IsValidAddressLiteral(std::string_view literal) {
  if (literal.size() < 3 || literal.front() != '[' || literal.back() != ']') return false;
  std::string_view inner = literal.substr(1, literal.size() - 2);
  if (IsIpv4(inner)) return true;
  size_t colon = inner.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view tag = inner.substr(0, colon);
  std::string_view content = inner.substr(colon + 1);
  if (EqualsIgnoreCase(tag, "IPv6")) {
    if (content.size() > 45) return false;
    std::string text(content);
    in6_addr addr;
    return inet_pton(AF_INET6, text.c_str(), &addr) == 1;
  }
  // General-address-literal: Standardized-tag ":" 1*dcontent.
  if (!IsLdhStr(tag) || content.empty()) return false;
  for (unsigned char c : content) {
    if (!((c >= 33 && c <= 90) || (c >= 94 && c <= 126))) return false;
  }
  return true;
}

bool IsValidMailbox(std::string_view mailbox, bool allow_utf8) {
  std::optional<size_t> local = LocalPartLength(mailbox, allow_utf8);
  if (!local || *local > kMaxLocalPartLength) return false;
  if (*local >= mailbox.size() || mailbox[*local] != '@') return false;
  std::string_view domain = mailbox.substr(*local + 1);
  if (domain.size() > kMaxDomainLength) return false;
  if (!domain.empty() && domain.front() == '[') return IsValidAddressLiteral(domain);
  return IsValidDomain(domain, allow_utf8);
}

std::string NormalizeAddress(std::string_view address) {
  size_t at = address.rfind('@');
  std::string_view local = address.substr(0, at);
  std::string out;
  if (local.size() >= 2 && local.front() == '"' && local.back() == '"') {
    std::string unquoted;
    std::string_view inner = local.substr(1, local.size() - 2);
    for (size_t i = 0; i < inner.size(); ++i) {
      if (inner[i] == '\\' && i + 1 < inner.size()) ++i;
      unquoted.push_back(inner[i]);
    }
    out = IsDotString(unquoted, true) ? unquoted : std::string(local);
  } else {
    out = std::string(local);
  }
  if (at != std::string_view::npos) {
    out.push_back('@');
    out += internal::ToLower(address.substr(at + 1));
  }
  return out;
}

absl::StatusOr<std::string> DecodeXtext(std::string_view xtext) {
  std::string out;
  out.reserve(xtext.size());
  for (size_t i = 0; i < xtext.size(); ++i) {
    unsigned char c = xtext[i];
    if (c == '+') {
      if (i + 2 >= xtext.size()) {
        return absl::InvalidArgumentError("truncated xtext escape");
      }
      int v = 0;
      for (size_t k = 1; k <= 2; ++k) {
        char h = ToUpper(xtext[i + k]);
        if (IsDigit(h)) {
          v = v * 16 + (h - '0');
        } else if (h >= 'A' && h <= 'F') {
          v = v * 16 + (h - 'A' + 10);
        } else {
          return absl::InvalidArgumentError("bad xtext escape");
        }
      }
      out.push_back(static_cast<char>(v));
      i += 2;
    } else if (c >= 33 && c <= 126 && c != '=') {
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x80) {
      out.push_back(static_cast<char>(c));  // UTF-8 in xtext is allowed with SMTPUTF8.
    } else {
      return absl::InvalidArgumentError("bad xtext character");
    }
  }
  return out;
}

}  // namespace kite::smtp
