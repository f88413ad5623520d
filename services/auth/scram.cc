#include "auth/scram.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/base/strings.h"
#include "lib/password/scram.h"

namespace kite::auth::scram {
namespace {

constexpr std::string_view kTokenMagic = "KSCRAM1";

absl::Status Bad(std::string_view why) { return absl::InvalidArgumentError(absl::StrCat("SCRAM: ", AV(why))); }

// saslname: =2C is ',', =3D is '=', any other '=' is an error (RFC 5802 section 5.1).
absl::StatusOr<std::string> DecodeSaslName(std::string_view s) {
  if (s.empty()) return Bad("empty name");
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\0' || c == ',') return Bad("invalid character in name");
    if (c == '=') {
      std::string_view esc = s.substr(i, 3);
      if (esc == "=2C") {
        out += ',';
      } else if (esc == "=3D") {
        out += '=';
      } else {
        return Bad("invalid escape in name");
      }
      i += 2;
      continue;
    }
    out += c;
  }
  return out;
}

bool PrintableNonce(std::string_view n) {
  if (n.empty() || n.size() > kMaxNonce) return false;
  for (char c : n) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

bool StrictBase64(std::string_view in, std::string* out) {
  if (in.size() % 4 != 0) return false;
  for (char c : in) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) return false;
  }
  return absl::Base64Unescape(AV(in), out);
}

}  // namespace

absl::StatusOr<ClientFirst> ParseClientFirst(std::string_view m) {
  if (m.size() > kMaxClientMessage) return Bad("message too long");
  if (m.find('\0') != std::string_view::npos) return Bad("NUL in message");
  ClientFirst out;
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  if (m.substr(0, 2) == "p=") return Bad("channel binding is not supported (no SCRAM-SHA-256-PLUS)");
  if (m.size() < 3 || (m[0] != 'n' && m[0] != 'y') || m[1] != ',') return Bad("bad gs2 header");
  size_t second = m.find(',', 2);
  if (second == std::string_view::npos) return Bad("bad gs2 header");
  std::string_view authz = m.substr(2, second - 2);
  if (!authz.empty()) {
    if (authz.substr(0, 2) != "a=") return Bad("bad authzid");
    auto a = DecodeSaslName(authz.substr(2));
    if (!a.ok()) return a.status();
    out.authzid = *a;
  }
  out.gs2_header = std::string(m.substr(0, second + 1));
  std::string_view bare = m.substr(second + 1);
  out.bare = std::string(bare);
  std::vector<absl::string_view> attrs = absl::StrSplit(AV(bare), ',');
  if (!attrs.empty() && attrs[0].substr(0, 2) == "m=") return Bad("mandatory extensions are not supported");
  if (attrs.size() < 2 || attrs[0].substr(0, 2) != "n=" || attrs[1].substr(0, 2) != "r=") {
    return Bad("expected n=,r=");
  }
  auto user = DecodeSaslName(SV(attrs[0].substr(2)));
  if (!user.ok()) return user.status();
  out.username = *user;
  out.nonce = std::string(attrs[1].substr(2));
  if (!PrintableNonce(out.nonce)) return Bad("bad nonce");
  for (size_t i = 2; i < attrs.size(); ++i) {
    if (attrs[i].size() < 2 || attrs[i][1] != '=') return Bad("bad attribute");
  }
  return out;
}

absl::StatusOr<ClientFinal> ParseClientFinal(std::string_view m) {
  if (m.size() > kMaxClientMessage) return Bad("message too long");
  if (m.find('\0') != std::string_view::npos) return Bad("NUL in message");
  size_t p = m.rfind(",p=");
  if (p == std::string_view::npos) return Bad("missing proof");
  ClientFinal out;
  out.without_proof = std::string(m.substr(0, p));
  if (!StrictBase64(m.substr(p + 3), &out.proof) || out.proof.size() != 32) return Bad("bad proof");
  std::vector<absl::string_view> attrs = absl::StrSplit(AV(out.without_proof), ',');
  if (attrs.size() < 2 || attrs[0].substr(0, 2) != "c=" || attrs[1].substr(0, 2) != "r=") {
    return Bad("expected c=,r=");
  }
  if (!StrictBase64(SV(attrs[0].substr(2)), &out.channel_binding)) return Bad("bad channel binding");
  out.nonce = std::string(attrs[1].substr(2));
  if (!PrintableNonce(out.nonce)) return Bad("bad nonce");
  for (size_t i = 2; i < attrs.size(); ++i) {
    if (attrs[i].size() < 2 || attrs[i][1] != '=') return Bad("bad attribute");
  }
  return out;
}

std::string ServerFirst(std::string_view nonce, std::string_view salt, int iterations) {
  return absl::StrCat("r=", AV(nonce), ",s=", absl::Base64Escape(AV(salt)), ",i=", iterations);
}

bool IsStateToken(std::string_view token) {
  return token.size() > kTokenMagic.size() && token.substr(0, kTokenMagic.size()) == kTokenMagic &&
         token[kTokenMagic.size()] == '\0';
}

namespace {
std::string Mac(std::string_view body, std::string_view key, std::string_view binding) {
  std::string input = absl::StrCat(AV(body), std::string(1, '\0'), AV(binding));
  return std::string(password::scram::View(password::scram::Hmac(key, input)));
}
}  // namespace

std::string Seal(const State& s, std::string_view key, std::string_view binding) {
  // Fields never contain NUL (the parsers refuse it), so NUL separates them unambiguously.
  std::string body = absl::StrJoin({std::string(kTokenMagic), absl::StrCat(s.stage), absl::StrCat(s.expires_unix),
                                    absl::StrCat(s.account_id), s.username, s.gs2_header, s.client_first_bare,
                                    s.server_first},
                                   std::string(1, '\0'));
  body += '\0';
  return body + Mac(body, key, binding);
}

absl::StatusOr<State> Open(std::string_view token, std::string_view key, std::string_view binding, int64_t now_unix) {
  if (!IsStateToken(token) || token.size() < 32 + 8) return Bad("invalid state");
  std::string_view body = token.substr(0, token.size() - 32);
  std::string_view mac = token.substr(token.size() - 32);
  if (!password::scram::ConstantTimeEqual(mac, Mac(body, key, binding))) return Bad("invalid state");
  std::vector<absl::string_view> f = absl::StrSplit(AV(body.substr(0, body.size() - 1)), '\0');
  State s;
  if (f.size() != 8 || !absl::SimpleAtoi(f[1], &s.stage) || !absl::SimpleAtoi(f[2], &s.expires_unix) ||
      !absl::SimpleAtoi(f[3], &s.account_id)) {
    return Bad("invalid state");
  }
  if (s.expires_unix < now_unix) return absl::DeadlineExceededError("SCRAM: exchange expired");
  s.username = std::string(f[4]);
  s.gs2_header = std::string(f[5]);
  s.client_first_bare = std::string(f[6]);
  s.server_first = std::string(f[7]);
  return s;
}

}  // namespace kite::auth::scram
