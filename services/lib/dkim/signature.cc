#include "lib/dkim/signature.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/base/strings.h"
#include "lib/dkim/tag_list.h"

namespace kite::dkim {
namespace {

absl::Status Invalid(std::string_view why) { return absl::InvalidArgumentError(AV(why)); }

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(AV(s)); }

bool ParseNumber(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 12) return false;  // 12 digits is enough for 3e4 years
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// Splits a colon- or other-separated list, trimming folding white space around items.
std::vector<std::string_view> SplitList(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (absl::string_view part : absl::StrSplit(AV(s), sep)) {
    out.push_back(SV(absl::StripAsciiWhitespace(part)));
  }
  return out;
}

bool IsDomainChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool ValidDomain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.') return false;
  for (char c : d) {
    if (!IsDomainChar(c)) return false;
  }
  return d.find("..") == std::string_view::npos;
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string_view AlgorithmName(Algorithm a) {
  return a == Algorithm::kRsaSha256 ? "rsa-sha256" : "ed25519-sha256";
}

std::string_view CanonName(Canon c) { return c == Canon::kSimple ? "simple" : "relaxed"; }

std::optional<std::string> Base64Decode(std::string_view text) {
  std::string s = RemoveWhiteSpace(text);
  size_t pad = 0;
  while (!s.empty() && s.back() == '=' && pad < 2) {
    s.pop_back();
    ++pad;
  }
  if (pad > 0 && (s.size() + pad) % 4 != 0) return std::nullopt;
  if (s.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(s.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = Base64Value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                 (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

absl::StatusOr<Signature> ParseSignature(std::string_view value) {
  absl::StatusOr<std::vector<Tag>> parsed = ParseTagList(value);
  if (!parsed.ok()) return parsed.status();
  const std::vector<Tag>& tags = *parsed;
  for (std::string_view required : {"v", "a", "b", "bh", "d", "h", "s"}) {
    if (FindTag(tags, required) == nullptr) {
      return Invalid(absl::StrCat("signature missing required tag ", AV(required), "="));
    }
  }
  Signature sig;
  if (FindTag(tags, "v")->value != "1") return Invalid("incompatible signature version");

  std::string a = Lower(FindTag(tags, "a")->value);
  if (a == "rsa-sha256") {
    sig.algorithm = Algorithm::kRsaSha256;
  } else if (a == "ed25519-sha256") {
    sig.algorithm = Algorithm::kEd25519Sha256;
  } else if (a == "rsa-sha1") {
    return Invalid("rsa-sha1 is not accepted (RFC 8301)");
  } else {
    return Invalid("unsupported signature algorithm");
  }

  std::optional<std::string> b = Base64Decode(FindTag(tags, "b")->value);
  if (!b || b->empty()) return Invalid("invalid b= value");
  sig.signature = std::move(*b);
  std::optional<std::string> bh = Base64Decode(FindTag(tags, "bh")->value);
  if (!bh || bh->size() != 32) return Invalid("invalid bh= value");
  sig.body_hash = std::move(*bh);

  if (const Tag* c = FindTag(tags, "c")) {
    std::string text = Lower(c->value);
    std::string_view header = text, body = "simple";
    size_t slash = text.find('/');
    if (slash != std::string::npos) {
      header = std::string_view(text).substr(0, slash);
      body = std::string_view(text).substr(slash + 1);
    }
    auto canon = [](std::string_view s, Canon* out) {
      if (s == "simple") {
        *out = Canon::kSimple;
      } else if (s == "relaxed") {
        *out = Canon::kRelaxed;
      } else {
        return false;
      }
      return true;
    };
    if (!canon(header, &sig.header_canon) || !canon(body, &sig.body_canon)) {
      return Invalid("invalid c= value");
    }
  }

  sig.domain = Lower(FindTag(tags, "d")->value);
  if (!ValidDomain(sig.domain)) return Invalid("invalid d= value");
  sig.selector = Lower(FindTag(tags, "s")->value);
  if (!ValidDomain(sig.selector)) return Invalid("invalid s= value");

  bool has_from = false;
  for (std::string_view h : SplitList(FindTag(tags, "h")->value, ':')) {
    if (h.empty()) return Invalid("empty header name in h=");
    for (char ch : h) {
      unsigned char u = static_cast<unsigned char>(ch);
      if (u <= 0x20 || u >= 0x7f || ch == ':') return Invalid("invalid header name in h=");
    }
    if (Lower(h) == "from") has_from = true;
    sig.signed_headers.emplace_back(h);
  }
  if (!has_from) return Invalid("From field not signed");

  if (const Tag* i = FindTag(tags, "i")) {
    sig.identity = std::string(i->value);
    size_t at = sig.identity.rfind('@');
    if (at == std::string::npos) return Invalid("invalid i= value");
    std::string idomain = Lower(std::string_view(sig.identity).substr(at + 1));
    if (idomain != sig.domain &&
        !(idomain.size() > sig.domain.size() &&
          idomain.compare(idomain.size() - sig.domain.size(), std::string::npos, sig.domain) == 0 &&
          idomain[idomain.size() - sig.domain.size() - 1] == '.')) {
      return Invalid("domain mismatch between i= and d=");
    }
  } else {
    sig.identity = "@" + sig.domain;
  }

  if (const Tag* l = FindTag(tags, "l")) {
    uint64_t n = 0;
    if (!ParseNumber(l->value, &n)) return Invalid("invalid l= value");
    sig.body_length = n;
  }
  if (const Tag* q = FindTag(tags, "q")) {
    bool dns = false;
    for (std::string_view m : SplitList(q->value, ':')) {
      if (Lower(m) == "dns/txt") dns = true;
    }
    if (!dns) return Invalid("unsupported query method");
  }
  if (const Tag* t = FindTag(tags, "t")) {
    uint64_t n = 0;
    if (!ParseNumber(t->value, &n)) return Invalid("invalid t= value");
    sig.timestamp = n;
  }
  if (const Tag* x = FindTag(tags, "x")) {
    uint64_t n = 0;
    if (!ParseNumber(x->value, &n)) return Invalid("invalid x= value");
    sig.expiration = n;
    if (sig.timestamp && n < *sig.timestamp) return Invalid("x= is before t=");
  }
  if (const Tag* z = FindTag(tags, "z")) sig.copied_headers = std::string(z->value);
  return sig;
}

void ExtractDomainAndSelector(std::string_view value, std::string* domain, std::string* selector) {
  domain->clear();
  selector->clear();
  absl::StatusOr<std::vector<Tag>> tags = ParseTagList(value);
  if (!tags.ok()) return;
  if (const Tag* d = FindTag(*tags, "d"); d != nullptr && ValidDomain(d->value)) {
    *domain = Lower(d->value);
  }
  if (const Tag* s = FindTag(*tags, "s"); s != nullptr && ValidDomain(s->value)) {
    *selector = Lower(s->value);
  }
}

absl::StatusOr<std::string> StripSignatureValue(std::string_view field) {
  size_t colon = field.find(':');
  if (colon == std::string_view::npos) return Invalid("header field without colon");
  std::string_view value = field.substr(colon + 1);
  absl::StatusOr<std::vector<Tag>> tags = ParseTagList(value);
  if (!tags.ok()) return tags.status();
  const Tag* b = FindTag(*tags, "b");
  if (b == nullptr) return Invalid("signature missing required tag b=");
  size_t begin = colon + 1 + b->value_begin;
  size_t end = colon + 1 + b->value_end;
  std::string out(field.substr(0, begin));
  out.append(field.substr(end));
  return out;
}

absl::StatusOr<KeyRecord> ParseKeyRecord(std::string_view record) {
  absl::StatusOr<std::vector<Tag>> parsed = ParseTagList(record);
  if (!parsed.ok()) return parsed.status();
  const std::vector<Tag>& tags = *parsed;
  KeyRecord key;
  if (const Tag* v = FindTag(tags, "v")) {
    if (v != &tags.front() || v->value != "DKIM1") return Invalid("invalid key record version");
  }
  if (const Tag* k = FindTag(tags, "k")) {
    std::string kt = Lower(k->value);
    if (kt == "rsa") {
      key.key_type = KeyType::kRsa;
    } else if (kt == "ed25519") {
      key.key_type = KeyType::kEd25519;
    } else {
      return Invalid("unsupported key type");
    }
  }
  if (const Tag* h = FindTag(tags, "h")) {
    bool sha256 = false;
    for (std::string_view alg : SplitList(h->value, ':')) {
      if (Lower(alg) == "sha256") sha256 = true;
    }
    if (!sha256) return Invalid("key does not allow sha256");
  }
  if (const Tag* s = FindTag(tags, "s")) {
    bool email = false;
    for (std::string_view st : SplitList(s->value, ':')) {
      if (st == "*" || Lower(st) == "email") email = true;
    }
    if (!email) return Invalid("key not for email");
  }
  if (const Tag* t = FindTag(tags, "t")) {
    for (std::string_view flag : SplitList(t->value, ':')) {
      if (flag == "y") key.testing = true;
      if (flag == "s") key.strict_identity = true;
    }
  }
  const Tag* p = FindTag(tags, "p");
  if (p == nullptr) return Invalid("key record missing p=");
  std::optional<std::string> pk = Base64Decode(p->value);
  if (!pk) return Invalid("invalid p= value");
  key.public_key = std::move(*pk);
  return key;
}

}  // namespace kite::dkim
