#include "lib/dkim/dkim.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/base/strings.h"

namespace kite::dkim {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

constexpr int kMinRsaBits = 1024;  // RFC 8301 section 3.2

std::string Sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

// Converts bare LF line ends to CRLF when the message has any; wire-form input is left alone.
std::string_view ToWireForm(std::string_view message, std::string& storage) {
  bool bare_lf = false;
  for (size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) {
      bare_lf = true;
      break;
    }
  }
  if (!bare_lf) return message;
  storage.reserve(message.size() + message.size() / 32);
  for (size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) storage.push_back('\r');
    storage.push_back(message[i]);
  }
  return storage;
}

absl::StatusOr<Pkey> LoadPrivateKey(std::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::InternalError("BIO_new_mem_buf failed");
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return absl::InvalidArgumentError("cannot read the DKIM private key PEM");
  int id = EVP_PKEY_get_base_id(key.get());
  if (id == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(key.get()) < kMinRsaBits) {
      return absl::InvalidArgumentError("RSA key shorter than 1024 bits (RFC 8301)");
    }
  } else if (id != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError("DKIM key must be RSA or Ed25519");
  }
  return key;
}

// Picks the header fields named in h=, each name taking the last not yet used instance
// (RFC 6376 5.4.2), canonicalised; a name with no instance left contributes nothing.
std::string HashedHeaders(const std::vector<HeaderField>& fields,
                          const std::vector<std::string>& names, Canon canon) {
  std::vector<bool> used(fields.size(), false);
  std::string out;
  for (const std::string& name : names) {
    for (size_t i = fields.size(); i-- > 0;) {
      if (!used[i] && HeaderNameEquals(fields[i].name, name)) {
        used[i] = true;
        out += CanonicalizeHeader(fields[i].raw, canon);
        break;
      }
    }
  }
  return out;
}

// The signature field canonicalised as hashed: without its final CRLF.
std::string CanonicalSignatureField(std::string_view stripped_field, Canon canon) {
  std::string c = CanonicalizeHeader(stripped_field, canon);
  c.resize(c.size() - 2);
  return c;
}

absl::StatusOr<std::string> SignData(EVP_PKEY* key, Algorithm alg, std::string_view data) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return absl::InternalError("EVP_MD_CTX_new failed");
  std::string input;
  const EVP_MD* md = nullptr;
  if (alg == Algorithm::kRsaSha256) {
    md = EVP_sha256();
    input = std::string(data);
  } else {
    // RFC 8463 section 3: Ed25519 signs the SHA-256 hash of the data (PureEdDSA on the hash).
    input = Sha256(data);
  }
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1) {
    return absl::InternalError("EVP_DigestSignInit failed");
  }
  size_t len = 0;
  auto* in = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()) != 1) {
    return absl::InternalError("EVP_DigestSign failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                     input.size()) != 1) {
    return absl::InternalError("EVP_DigestSign failed");
  }
  sig.resize(len);
  return sig;
}

bool VerifyData(EVP_PKEY* key, Algorithm alg, std::string_view data, std::string_view sig) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  std::string input;
  const EVP_MD* md = nullptr;
  if (alg == Algorithm::kRsaSha256) {
    md = EVP_sha256();
    input = std::string(data);
  } else {
    input = Sha256(data);
  }
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

// Appends `piece` to a folded header, starting a continuation line when the current line
// would pass 76 characters.
void AppendFolded(std::string& out, size_t& line_len, std::string_view piece) {
  if (line_len > 1 && line_len + piece.size() + 1 > 76) {
    out += "\r\n\t";
    line_len = 1;
  } else if (line_len > 0) {
    out += ' ';
    ++line_len;
  }
  out.append(piece);
  line_len += piece.size();
}

}  // namespace

std::vector<std::string> DefaultSignedHeaders() {
  return {"From",       "To",           "Cc",           "Subject",
          "Date",       "Message-ID",   "Reply-To",     "In-Reply-To",
          "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
          "From"};
}

std::string_view ResultName(Result r) {
  switch (r) {
    case Result::kPass:
      return "pass";
    case Result::kFail:
      return "fail";
    case Result::kNeutral:
      return "neutral";
    case Result::kTempError:
      return "temperror";
    case Result::kPermError:
      return "permerror";
  }
  return "permerror";
}

absl::StatusOr<std::string> PublicKeyRecord(std::string_view private_key_pem) {
  absl::StatusOr<Pkey> key = LoadPrivateKey(private_key_pem);
  if (!key.ok()) return key.status();
  if (EVP_PKEY_get_base_id(key->get()) == EVP_PKEY_ED25519) {
    unsigned char raw[32];
    size_t len = sizeof(raw);
    if (EVP_PKEY_get_raw_public_key(key->get(), raw, &len) != 1 || len != 32) {
      return absl::InternalError("cannot extract the Ed25519 public key");
    }
    return absl::StrCat("v=DKIM1; k=ed25519; p=",
                        AV(Base64Encode(std::string_view(reinterpret_cast<char*>(raw), len))));
  }
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key->get(), &der);
  if (len <= 0) return absl::InternalError("cannot encode the RSA public key");
  std::string spki(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return absl::StrCat("v=DKIM1; k=rsa; p=", AV(Base64Encode(spki)));
}

absl::StatusOr<std::string> Sign(std::string_view message_in, const SignOptions& options) {
  std::string domain = absl::AsciiStrToLower(AV(options.domain));
  std::string selector = absl::AsciiStrToLower(AV(options.selector));
  if (domain.empty() || selector.empty()) {
    return absl::InvalidArgumentError("DKIM signing needs a domain and a selector");
  }
  absl::StatusOr<Pkey> key = LoadPrivateKey(options.private_key_pem);
  if (!key.ok()) return key.status();
  Algorithm alg = EVP_PKEY_get_base_id(key->get()) == EVP_PKEY_ED25519 ? Algorithm::kEd25519Sha256
                                                                       : Algorithm::kRsaSha256;
  std::string storage;
  std::string_view message = ToWireForm(message_in, storage);
  absl::StatusOr<SplitMessage> split = Split(message);
  if (!split.ok()) return split.status();

  std::vector<std::string> names =
      options.headers.empty() ? DefaultSignedHeaders() : options.headers;
  bool has_from = false;
  for (const std::string& n : names) {
    if (n.empty() || n.find_first_of(":; \t\r\n") != std::string::npos) {
      return absl::InvalidArgumentError("invalid header name to sign");
    }
    if (HeaderNameEquals(n, "from")) has_from = true;
  }
  if (!has_from) return absl::InvalidArgumentError("the From field must be signed");

  std::string body_hash = Sha256(CanonicalizeBody(split->body, options.body_canon));

  std::vector<std::string> tags = {
      "v=1;",
      absl::StrCat("a=", AV(AlgorithmName(alg)), ";"),
      absl::StrCat("c=", AV(CanonName(options.header_canon)), "/",
                   AV(CanonName(options.body_canon)), ";"),
      absl::StrCat("d=", domain, ";"),
      absl::StrCat("s=", selector, ";"),
  };
  if (!options.identity.empty()) tags.push_back(absl::StrCat("i=", options.identity, ";"));
  if (options.timestamp) {
    int64_t t = absl::ToUnixSeconds(*options.timestamp);
    tags.push_back(absl::StrCat("t=", t, ";"));
    if (options.lifetime) {
      tags.push_back(absl::StrCat("x=", t + absl::ToInt64Seconds(*options.lifetime), ";"));
    }
  }
  // h= split over lines at colons, which relaxed and simple canonicalisation both keep.
  std::string lowered;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string piece = absl::AsciiStrToLower(names[i]);
    tags.push_back(absl::StrCat(i == 0 ? "h=" : "", piece, i + 1 == names.size() ? ";" : ":"));
  }
  tags.push_back(absl::StrCat("bh=", AV(Base64Encode(body_hash)), ";"));

  std::string field = "DKIM-Signature:";
  size_t line_len = field.size();
  for (size_t i = 0; i < tags.size(); ++i) {
    // Pieces of h= after the first join without a space.
    bool h_continuation = i > 0 && tags[i - 1].back() == ':';
    if (h_continuation && line_len + tags[i].size() <= 76) {
      field += tags[i];
      line_len += tags[i].size();
    } else if (h_continuation) {
      field += "\r\n\t";
      field += tags[i];
      line_len = 1 + tags[i].size();
    } else {
      AppendFolded(field, line_len, tags[i]);
    }
  }
  AppendFolded(field, line_len, "b=");

  std::string data = HashedHeaders(split->headers, names, options.header_canon);
  data += CanonicalSignatureField(field, options.header_canon);
  absl::StatusOr<std::string> sig = SignData(key->get(), alg, data);
  if (!sig.ok()) return sig.status();
  std::string b = Base64Encode(*sig);
  for (size_t i = 0; i < b.size(); i += 64) {
    if (line_len + std::min<size_t>(64, b.size() - i) > 76) {
      field += "\r\n\t";
      line_len = 1;
    }
    std::string_view chunk = std::string_view(b).substr(i, 64);
    field.append(chunk);
    line_len += chunk.size();
  }
  // What we emit must be what a verifier accepts (d=, s=, i= and header names included).
  absl::StatusOr<Signature> self_check = ParseSignature(std::string_view(field).substr(15));
  if (!self_check.ok()) return self_check.status();
  field += "\r\n";
  return field;
}

namespace {

// Canonical bodies, computed once per canonicalisation however many signatures use them.
struct BodyCache {
  std::string_view body;
  std::optional<std::string> canonical[2];
  std::string_view Get(Canon c) {
    std::optional<std::string>& slot = canonical[c == Canon::kSimple ? 0 : 1];
    if (!slot) slot = CanonicalizeBody(body, c);
    return *slot;
  }
};

SignatureResult VerifyOne(const SplitMessage& msg, const HeaderField& field,
                          const KeyLookup& lookup, const VerifyOptions& options,
                          BodyCache& bodies) {
  SignatureResult r;
  std::string_view value = field.raw.substr(field.raw.find(':') + 1);
  ExtractDomainAndSelector(value, &r.domain, &r.selector);
  auto done = [&r](Result res, std::string_view reason) {
    r.result = res;
    r.reason = std::string(reason);
    return r;
  };
  absl::StatusOr<Signature> sig = ParseSignature(value);
  if (!sig.ok()) return done(Result::kPermError, SV(sig.status().message()));
  r.algorithm = std::string(AlgorithmName(sig->algorithm));
  r.identity = sig->identity;
  r.b_prefix = Base64Encode(sig->signature).substr(0, 8);

  if (sig->expiration &&
      absl::FromUnixSeconds(static_cast<int64_t>(*sig->expiration)) < options.now) {
    return done(Result::kFail, "signature expired");
  }

  absl::StatusOr<std::string> txt = lookup(sig->domain, sig->selector);
  if (!txt.ok()) {
    if (absl::IsNotFound(txt.status())) return done(Result::kPermError, "no key for signature");
    return done(Result::kTempError, "key unavailable");
  }
  absl::StatusOr<KeyRecord> record = ParseKeyRecord(*txt);
  if (!record.ok()) return done(Result::kPermError, SV(record.status().message()));
  r.testing = record->testing;
  if (record->public_key.empty()) return done(Result::kPermError, "key revoked");
  KeyType wanted = sig->algorithm == Algorithm::kRsaSha256 ? KeyType::kRsa : KeyType::kEd25519;
  if (record->key_type != wanted) return done(Result::kPermError, "key type does not match a=");
  if (record->strict_identity) {
    std::string_view id = sig->identity;
    std::string_view idomain = id.substr(id.rfind('@') + 1);
    if (!HeaderNameEquals(idomain, sig->domain)) {
      return done(Result::kPermError, "key requires i= domain equal to d= (t=s)");
    }
  }

  Pkey key;
  const auto* der = reinterpret_cast<const unsigned char*>(record->public_key.data());
  long der_len = static_cast<long>(record->public_key.size());
  if (wanted == KeyType::kEd25519) {
    if (record->public_key.size() != 32) return done(Result::kPermError, "invalid Ed25519 key");
    key.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, der, 32));
  } else {
    key.reset(d2i_PUBKEY(nullptr, &der, der_len));
    if (!key) {
      // Some publishers put the bare RSAPublicKey (PKCS#1) in p=.
      der = reinterpret_cast<const unsigned char*>(record->public_key.data());
      key.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &der, der_len));
    }
    if (key && EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) key.reset();
  }
  if (!key) return done(Result::kPermError, "invalid public key");
  if (wanted == KeyType::kRsa && EVP_PKEY_get_bits(key.get()) < kMinRsaBits) {
    return done(Result::kPermError, "RSA key shorter than 1024 bits (RFC 8301)");
  }

  std::string_view body = bodies.Get(sig->body_canon);
  if (sig->body_length) {
    if (*sig->body_length > body.size()) {
      return done(Result::kPermError, "l= is longer than the body");
    }
    r.unsigned_body_bytes = body.size() - *sig->body_length;
    body = body.substr(0, *sig->body_length);
  }
  if (Sha256(body) != sig->body_hash) return done(Result::kFail, "body hash did not verify");

  absl::StatusOr<std::string> stripped = StripSignatureValue(field.raw);
  if (!stripped.ok()) return done(Result::kPermError, SV(stripped.status().message()));
  std::string data = HashedHeaders(msg.headers, sig->signed_headers, sig->header_canon);
  data += CanonicalSignatureField(*stripped, sig->header_canon);
  if (!VerifyData(key.get(), sig->algorithm, data, sig->signature)) {
    return done(Result::kFail, "signature did not verify");
  }
  r.result = Result::kPass;
  return r;
}

}  // namespace

absl::StatusOr<std::vector<SignatureResult>> Verify(std::string_view message_in,
                                                    const KeyLookup& lookup,
                                                    const VerifyOptions& options) {
  std::string storage;
  std::string_view message = ToWireForm(message_in, storage);
  absl::StatusOr<SplitMessage> split = Split(message, options.limits);
  if (!split.ok()) return split.status();
  std::vector<SignatureResult> results;
  BodyCache bodies{split->body, {}};
  for (const HeaderField& field : split->headers) {
    if (!HeaderNameEquals(field.name, "DKIM-Signature")) continue;
    if (results.size() >= options.max_signatures) {
      SignatureResult r;
      ExtractDomainAndSelector(field.raw.substr(field.raw.find(':') + 1), &r.domain, &r.selector);
      r.result = Result::kNeutral;
      r.reason = "not evaluated: too many signatures";
      results.push_back(std::move(r));
      continue;
    }
    results.push_back(VerifyOne(*split, field, lookup, options, bodies));
  }
  return results;
}

}  // namespace kite::dkim
