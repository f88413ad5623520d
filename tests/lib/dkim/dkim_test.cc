// Signing and verification: round trips with RSA and Ed25519 keys, tampering, key record
// policy (RFC 8301), l=, x=, several signatures, and cross-checks with dkimpy
// (/usr/bin/python3, python3-dkim) in both directions. dkimpy gets the key record through
// its dnsfunc: no DNS query is made.
#include "lib/dkim/dkim.h"

#include <openssl/bio.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_replace.h"

using namespace kite::dkim;

namespace {

struct TestKey {
  std::string pem;     // PKCS#8
  std::string dkimpy;  // what dkimpy's sign() takes: PKCS#1 PEM, or the base64 Ed25519 seed
  std::string record;  // v=DKIM1; k=...; p=...
};

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

TestKey MakeKey(bool ed25519, size_t rsa_bits = 2048) {
  EVP_PKEY* pkey = ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", rsa_bits);
  REQUIRE(pkey != nullptr);
  TestKey key;
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  key.pem = BioString(bio);
  BIO_free(bio);
  if (ed25519) {
    unsigned char seed[32];
    size_t len = sizeof(seed);
    REQUIRE(EVP_PKEY_get_raw_private_key(pkey, seed, &len) == 1);
    key.dkimpy = Base64Encode(std::string_view(reinterpret_cast<char*>(seed), len));
  } else {
    OSSL_ENCODER_CTX* ctx = OSSL_ENCODER_CTX_new_for_pkey(pkey, OSSL_KEYMGMT_SELECT_KEYPAIR, "PEM",
                                                          "type-specific", nullptr);
    REQUIRE(ctx != nullptr);
    unsigned char* out = nullptr;
    size_t out_len = 0;
    REQUIRE(OSSL_ENCODER_to_data(ctx, &out, &out_len) == 1);
    key.dkimpy = std::string(reinterpret_cast<char*>(out), out_len);
    OPENSSL_free(out);
    OSSL_ENCODER_CTX_free(ctx);
  }
  EVP_PKEY_free(pkey);
  if (rsa_bits >= 1024 || ed25519) {
    auto record = PublicKeyRecord(key.pem);
    REQUIRE(record.ok());
    key.record = *record;
  }
  return key;
}

const TestKey& RsaKey() {
  static const TestKey key = MakeKey(false);
  return key;
}
const TestKey& EdKey() {
  static const TestKey key = MakeKey(true);
  return key;
}

const std::string kMessage =
    "From: Alice <alice@example.test>\r\n"
    "To: bob@example.test\r\n"
    "Subject:  Hello\r\n"
    "   there\t\r\n"
    "Date: Mon, 23 Nov 2026 01:00:00 +0000\r\n"
    "Message-ID: <1@example.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Hi Bob,\r\n"
    "  trailing space here   \r\n"
    "\r\n"
    "-- \r\n"
    "Alice\r\n"
    "\r\n"
    "\r\n";

SignOptions Options(const TestKey& key) {
  SignOptions o;
  o.domain = "example.test";
  o.selector = "sel";
  o.private_key_pem = key.pem;
  o.timestamp = absl::FromUnixSeconds(1'790'000'000);
  return o;
}

KeyLookup LookupFrom(std::map<std::string, std::string> records) {
  return
      [records](std::string_view domain, std::string_view selector) -> absl::StatusOr<std::string> {
        auto it = records.find(std::string(selector) + "._domainkey." + std::string(domain));
        if (it == records.end()) return absl::NotFoundError("no such record");
        return it->second;
      };
}

KeyLookup LookupOne(const TestKey& key) {
  return LookupFrom({{"sel._domainkey.example.test", key.record}});
}

std::vector<SignatureResult> Check(const std::string& message, const KeyLookup& lookup) {
  VerifyOptions opts;
  opts.now = absl::FromUnixSeconds(1'790'000'100);
  auto results = Verify(message, lookup, opts);
  REQUIRE(results.ok());
  return *results;
}

std::string SignedMessage(const std::string& message, const SignOptions& o) {
  auto header = Sign(message, o);
  REQUIRE(header.ok());
  return *header + message;
}

// A temporary folder removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kite-dkim-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  void Write(const std::string& name, const std::string& data) const {
    std::ofstream f(path / name, std::ios::binary);
    f << data;
  }
  std::string Read(const std::string& name) const {
    std::ifstream f(path / name, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
};

// Runs /usr/bin/python3 on a script in `dir`; returns its exit status.
int RunPython(const TempDir& dir, const std::string& script) {
  dir.Write("script.py", script);
  std::string cmd = "/usr/bin/python3 " + (dir.path / "script.py").string() + " " +
                    dir.path.string() + " >" + (dir.path / "out.txt").string() + " 2>&1";
  int rc = std::system(cmd.c_str());
  UNSCOPED_INFO("python output: " << dir.Read("out.txt"));
  return rc;
}

constexpr std::string_view kPyVerify = R"PY(
import sys, dkim
d = sys.argv[1]
msg = open(d + '/msg', 'rb').read()
record = open(d + '/record', 'rb').read()
def dnsfunc(name, timeout=5):
    assert name in (b'sel._domainkey.example.test.', b'sel._domainkey.example.test'), name
    return record
v = dkim.DKIM(msg)
ok = v.verify(dnsfunc=dnsfunc)
print('verify', ok)
sys.exit(0 if ok else 1)
)PY";

constexpr std::string_view kPySign = R"PY(
import sys, dkim
d = sys.argv[1]
alg, canon, length = open(d + '/params', 'r').read().split()
msg = open(d + '/msg', 'rb').read()
key = open(d + '/key', 'rb').read()
h, b = canon.split('/')
sig = dkim.sign(msg, b'sel', b'example.test', key,
                canonicalize=(h.encode(), b.encode()), signature_algorithm=alg.encode(),
                include_headers=[b'from', b'to', b'subject', b'date', b'message-id'],
                length=(length == 'yes'))
open(d + '/signed', 'wb').write(sig + msg)
)PY";

}  // namespace

TEST_CASE("A message signed with RSA verifies", "[dkim]") {
  std::string signed_msg = SignedMessage(kMessage, Options(RsaKey()));
  CHECK(signed_msg.rfind("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.test;",
                         0) == 0);
  auto r = Check(signed_msg, LookupOne(RsaKey()));
  REQUIRE(r.size() == 1);
  CHECK(r[0].reason == "");
  CHECK(r[0].result == Result::kPass);
  CHECK(r[0].domain == "example.test");
  CHECK(r[0].selector == "sel");
  CHECK(r[0].algorithm == "rsa-sha256");
  CHECK(r[0].b_prefix.size() == 8);
}

TEST_CASE("A message signed with Ed25519 verifies", "[dkim]") {
  std::string signed_msg = SignedMessage(kMessage, Options(EdKey()));
  auto r = Check(signed_msg, LookupOne(EdKey()));
  REQUIRE(r.size() == 1);
  CHECK(r[0].result == Result::kPass);
  CHECK(r[0].algorithm == "ed25519-sha256");
}

TEST_CASE("Signed header lines stay within 78 characters", "[dkim]") {
  auto header = Sign(kMessage, Options(RsaKey()));
  REQUIRE(header.ok());
  std::string_view h = *header;
  size_t pos = 0;
  while (pos < h.size()) {
    size_t e = h.find("\r\n", pos);
    REQUIRE(e != std::string_view::npos);
    CHECK(e - pos <= 78);
    pos = e + 2;
  }
}

TEST_CASE("Every canonicalisation pair round trips", "[dkim]") {
  for (Canon hc : {Canon::kSimple, Canon::kRelaxed}) {
    for (Canon bc : {Canon::kSimple, Canon::kRelaxed}) {
      SignOptions o = Options(EdKey());
      o.header_canon = hc;
      o.body_canon = bc;
      auto r = Check(SignedMessage(kMessage, o), LookupOne(EdKey()));
      REQUIRE(r.size() == 1);
      CHECK(r[0].result == Result::kPass);
    }
  }
}

TEST_CASE("A tampered body fails with a body hash mismatch", "[dkim]") {
  for (const TestKey* key : {&RsaKey(), &EdKey()}) {
    std::string m = SignedMessage(kMessage, Options(*key));
    m.replace(m.find("Hi Bob"), 6, "Hi Eve");
    auto r = Check(m, LookupOne(*key));
    REQUIRE(r.size() == 1);
    CHECK(r[0].result == Result::kFail);
    CHECK(r[0].reason == "body hash did not verify");
  }
}

TEST_CASE("A tampered signed header fails; relaxed tolerates refolding", "[dkim]") {
  std::string m = SignedMessage(kMessage, Options(RsaKey()));
  std::string tampered = m;
  tampered.replace(tampered.find("Subject:  Hello"), 15, "Subject:  Hellx");
  auto r = Check(tampered, LookupOne(RsaKey()));
  REQUIRE(r.size() == 1);
  CHECK(r[0].result == Result::kFail);
  CHECK(r[0].reason == "signature did not verify");

  std::string refolded = m;
  refolded.replace(refolded.find("Subject:  Hello\r\n   there"), 26, "Subject: Hello there");
  CHECK(Check(refolded, LookupOne(RsaKey()))[0].result == Result::kPass);
}

TEST_CASE("An added From header breaks the oversigned signature", "[dkim]") {
  std::string m = SignedMessage(kMessage, Options(EdKey()));
  size_t body = m.find("\r\n\r\n");
  std::string added = m.substr(0, body) + "\r\nFrom: mallory@evil.test" + m.substr(body);
  CHECK(Check(added, LookupOne(EdKey()))[0].result == Result::kFail);
  // An unsigned header may be added freely.
  std::string other = m.substr(0, body) + "\r\nX-Extra: 1" + m.substr(body);
  CHECK(Check(other, LookupOne(EdKey()))[0].result == Result::kPass);
}

TEST_CASE("Messages with bare LF line ends are signed and verified in wire form", "[dkim]") {
  std::string lf = absl::StrReplaceAll(kMessage, {{"\r\n", "\n"}});
  auto header = Sign(lf, Options(EdKey()));
  REQUIRE(header.ok());
  CHECK(Check(*header + kMessage, LookupOne(EdKey()))[0].result == Result::kPass);
}

TEST_CASE("Key problems give permerror or temperror", "[dkim]") {
  std::string m = SignedMessage(kMessage, Options(RsaKey()));
  CHECK(Check(m, LookupFrom({}))[0].result == Result::kPermError);
  KeyLookup unavailable = [](std::string_view, std::string_view) -> absl::StatusOr<std::string> {
    return absl::UnavailableError("timeout");
  };
  CHECK(Check(m, unavailable)[0].result == Result::kTempError);
  auto with = [&](std::string record) {
    return Check(m, LookupFrom({{"sel._domainkey.example.test", record}}))[0];
  };
  CHECK(with("v=DKIM1; p=").reason == "key revoked");
  CHECK(with("v=DKIM1; k=rsa; p=AAAA").reason == "invalid public key");
  CHECK(with(EdKey().record).reason == "key type does not match a=");
  CHECK(with("garbage").result == Result::kPermError);
  CHECK(with(RsaKey().record + "; t=y").testing);
  CHECK(with(RsaKey().record + "; t=y").result == Result::kPass);
  // Another key of the right type: the signature does not verify.
  CHECK(with(MakeKey(false, 1024).record).reason == "signature did not verify");
}

TEST_CASE("RSA keys under 1024 bits neither sign nor verify (RFC 8301)", "[dkim]") {
  TestKey small = MakeKey(false, 512);
  SignOptions o = Options(small);
  CHECK_FALSE(Sign(kMessage, o).ok());
  // Our own PublicKeyRecord refuses it too; build the record by hand.
  CHECK_FALSE(PublicKeyRecord(small.pem).ok());
  BIO* bio = BIO_new_mem_buf(small.pem.data(), static_cast<int>(small.pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(pkey != nullptr);
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey, &der);
  REQUIRE(len > 0);
  std::string record =
      "v=DKIM1; k=rsa; p=" + Base64Encode(std::string_view(reinterpret_cast<char*>(der), len));
  OPENSSL_free(der);
  EVP_PKEY_free(pkey);
  // Whatever the signature, a short key never passes.
  std::string m = SignedMessage(kMessage, Options(RsaKey()));
  auto r = Check(m, LookupFrom({{"sel._domainkey.example.test", record}}));
  REQUIRE(r.size() == 1);
  CHECK(r[0].result == Result::kPermError);
  CHECK(r[0].reason == "RSA key shorter than 1024 bits (RFC 8301)");
}

TEST_CASE("rsa-sha1 signatures are rejected", "[dkim]") {
  std::string m = SignedMessage(kMessage, Options(RsaKey()));
  m.replace(m.find("a=rsa-sha256"), 12, "a=rsa-sha1");
  auto r = Check(m, LookupOne(RsaKey()));
  REQUIRE(r.size() == 1);
  CHECK(r[0].result == Result::kPermError);
  CHECK(r[0].domain == "example.test");
}

TEST_CASE("An expired signature fails", "[dkim]") {
  SignOptions o = Options(EdKey());
  o.lifetime = absl::Seconds(50);
  std::string m = SignedMessage(kMessage, o);
  auto r = Check(m, LookupOne(EdKey()));  // now = t + 100
  REQUIRE(r.size() == 1);
  CHECK(r[0].result == Result::kFail);
  CHECK(r[0].reason == "signature expired");
  o.lifetime = absl::Seconds(500);
  CHECK(Check(SignedMessage(kMessage, o), LookupOne(EdKey()))[0].result == Result::kPass);
}

TEST_CASE("Several signatures are each reported, top to bottom", "[dkim]") {
  std::string m = SignedMessage(kMessage, Options(RsaKey()));
  SignOptions o = Options(EdKey());
  o.domain = "other.test";
  o.selector = "ed";
  m = SignedMessage(m, o);
  auto lookup = LookupFrom({{"sel._domainkey.example.test", RsaKey().record},
                            {"ed._domainkey.other.test", EdKey().record}});
  auto r = Check(m, lookup);
  REQUIRE(r.size() == 2);
  CHECK(r[0].domain == "other.test");
  CHECK(r[0].result == Result::kPass);
  CHECK(r[1].domain == "example.test");
  CHECK(r[1].result == Result::kPass);

  VerifyOptions opts;
  opts.now = absl::FromUnixSeconds(1'790'000'100);
  opts.max_signatures = 1;
  auto limited = Verify(m, lookup, opts);
  REQUIRE(limited.ok());
  REQUIRE(limited->size() == 2);
  CHECK((*limited)[1].result == Result::kNeutral);
}

TEST_CASE("Signing refuses an identity outside the domain and bad header names", "[dkim]") {
  SignOptions o = Options(EdKey());
  o.identity = "user@other.test";
  CHECK_FALSE(Sign(kMessage, o).ok());
  o.identity = "user@mail.example.test";
  auto r = Check(SignedMessage(kMessage, o), LookupOne(EdKey()));
  CHECK(r[0].identity == "user@mail.example.test");
  CHECK(r[0].result == Result::kPass);
  o = Options(EdKey());
  o.headers = {"To", "Subject"};
  CHECK_FALSE(Sign(kMessage, o).ok());
  o.headers = {"From", "Bad Name"};
  CHECK_FALSE(Sign(kMessage, o).ok());
  o = Options(EdKey());
  o.private_key_pem = "not a key";
  CHECK_FALSE(Sign(kMessage, o).ok());
}

TEST_CASE("A message without signatures gives no results", "[dkim]") {
  CHECK(Check(kMessage, LookupFrom({})).empty());
}

TEST_CASE("dkimpy verifies our signatures", "[dkim][interop]") {
  for (const TestKey* key : {&RsaKey(), &EdKey()}) {
    for (Canon c : {Canon::kSimple, Canon::kRelaxed}) {
      SignOptions o = Options(*key);
      o.header_canon = c;
      o.body_canon = c;
      TempDir dir;
      dir.Write("msg", SignedMessage(kMessage, o));
      dir.Write("record", key->record);
      INFO("key " << key->record.substr(0, 20) << " canon " << CanonName(c));
      CHECK(RunPython(dir, std::string(kPyVerify)) == 0);
    }
  }
}

TEST_CASE("dkimpy rejects our signature on a tampered body", "[dkim][interop]") {
  std::string m = SignedMessage(kMessage, Options(EdKey()));
  m.replace(m.find("Hi Bob"), 6, "Hi Eve");
  TempDir dir;
  dir.Write("msg", m);
  dir.Write("record", EdKey().record);
  CHECK(RunPython(dir, std::string(kPyVerify)) != 0);
}

TEST_CASE("We verify dkimpy's signatures", "[dkim][interop]") {
  struct Case {
    const TestKey* key;
    std::string alg, canon, length;
  };
  for (const Case& c : {Case{&RsaKey(), "rsa-sha256", "relaxed/relaxed", "no"},
                        Case{&RsaKey(), "rsa-sha256", "simple/simple", "no"},
                        Case{&EdKey(), "ed25519-sha256", "relaxed/relaxed", "no"},
                        Case{&EdKey(), "ed25519-sha256", "simple/relaxed", "yes"}}) {
    INFO(c.alg << " " << c.canon << " l=" << c.length);
    TempDir dir;
    dir.Write("msg", kMessage);
    dir.Write("key", c.key->dkimpy);
    dir.Write("params", c.alg + " " + c.canon + " " + c.length);
    REQUIRE(RunPython(dir, std::string(kPySign)) == 0);
    std::string signed_msg = dir.Read("signed");
    auto r = Check(signed_msg, LookupOne(*c.key));
    REQUIRE(r.size() == 1);
    CHECK(r[0].reason == "");
    CHECK(r[0].result == Result::kPass);
    CHECK(r[0].algorithm == c.alg);

    std::string tampered = signed_msg;
    tampered.replace(tampered.find("Hi Bob"), 6, "Hi Eve");
    CHECK(Check(tampered, LookupOne(*c.key))[0].result == Result::kFail);

    if (c.length == "yes") {
      // l= covers the signed body; appended text still passes but is reported.
      auto appended = Check(signed_msg + "Appended by someone else\r\n", LookupOne(*c.key));
      CHECK(appended[0].result == Result::kPass);
      // The two empty lines that ended the signed body are no longer trailing: 4 + 26 bytes.
      CHECK(appended[0].unsigned_body_bytes == 30);
    }
  }
}
