// Byte-level tests of the pure DKIM part: tag-lists, DKIM-Signature and key record parsing,
// canonicalisation and the header splitter.
#include <catch2/catch.hpp>
#include <string>

#include "lib/dkim/canon.h"
#include "lib/dkim/signature.h"
#include "lib/dkim/tag_list.h"

using namespace kite::dkim;

namespace {

constexpr std::string_view kBh = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";  // sha256("")

std::string Sig(std::string_view extra) {
  return std::string("v=1; a=rsa-sha256; d=example.test; s=sel; h=from:to; bh=") +
         std::string(kBh) + "; b=AAAA" + std::string(extra);
}

}  // namespace

TEST_CASE("A tag-list keeps values with inner white space and trims the rest", "[dkim][proto]") {
  auto tags = ParseTagList(" a = 1 ;b=x y\r\n\tz ; c= ;");
  REQUIRE(tags.ok());
  REQUIRE(tags->size() == 3);
  CHECK((*tags)[0].name == "a");
  CHECK((*tags)[0].value == "1");
  CHECK((*tags)[1].value == "x y\r\n\tz");
  CHECK((*tags)[2].value.empty());
  CHECK(RemoveWhiteSpace((*tags)[1].value) == "xyz");
}

TEST_CASE("A tag-list records where each value area begins and ends", "[dkim][proto]") {
  std::string_view in = "a=1; b= xy ;c=2";
  auto tags = ParseTagList(in);
  REQUIRE(tags.ok());
  const Tag* b = FindTag(*tags, "b");
  REQUIRE(b != nullptr);
  CHECK(in.substr(b->value_begin, b->value_end - b->value_begin) == " xy ");
}

TEST_CASE("Malformed tag-lists are rejected", "[dkim][proto]") {
  CHECK_FALSE(ParseTagList("a=1; a=2").ok());    // duplicate
  CHECK_FALSE(ParseTagList("a=1;;b=2").ok());    // empty tag-spec
  CHECK_FALSE(ParseTagList("=1").ok());          // no name
  CHECK_FALSE(ParseTagList("1a=1").ok());        // name starts with a digit
  CHECK_FALSE(ParseTagList("a 1").ok());         // no '='
  CHECK_FALSE(ParseTagList("a=1\r\nb=2").ok());  // CRLF not followed by WSP
  CHECK_FALSE(ParseTagList("a=1\nb=2").ok());    // bare LF
  CHECK_FALSE(ParseTagList("a=1\rb").ok());      // bare CR
  CHECK_FALSE(ParseTagList(std::string("a=\0", 3)).ok());
  CHECK_FALSE(ParseTagList(std::string(kMaxTagListBytes + 1, 'a')).ok());
  std::string many;
  for (size_t i = 0; i <= kMaxTags; ++i) many += "t" + std::to_string(i) + "=1;";
  CHECK_FALSE(ParseTagList(many).ok());
  CHECK(ParseTagList("").ok());
  CHECK(ParseTagList("a=1;").ok());
}

TEST_CASE("A DKIM-Signature parses into its fields", "[dkim][proto]") {
  auto sig = ParseSignature(
      "v=1; a=ed25519-sha256; c=relaxed/simple; d=Example.TEST; s=Sel;\r\n"
      "\th=From : To:subject; i=user@mail.example.test; l=10; q=dns/txt; t=100; x=200;\r\n"
      "\tz=From:a@b; bh=" +
      std::string(kBh) + ";\r\n\tb=AAEC AwQ=");
  REQUIRE(sig.ok());
  CHECK(sig->algorithm == Algorithm::kEd25519Sha256);
  CHECK(sig->header_canon == Canon::kRelaxed);
  CHECK(sig->body_canon == Canon::kSimple);
  CHECK(sig->domain == "example.test");
  CHECK(sig->selector == "sel");
  CHECK(sig->signed_headers == std::vector<std::string>{"From", "To", "subject"});
  CHECK(sig->identity == "user@mail.example.test");
  CHECK(sig->body_length == 10u);
  CHECK(sig->timestamp == 100u);
  CHECK(sig->expiration == 200u);
  CHECK(sig->copied_headers == "From:a@b");
  CHECK(sig->signature == std::string("\x00\x01\x02\x03\x04", 5));
  CHECK(sig->body_hash.size() == 32);
}

TEST_CASE("DKIM-Signature defaults: c=simple/simple, i=@d", "[dkim][proto]") {
  auto sig = ParseSignature(Sig(""));
  REQUIRE(sig.ok());
  CHECK(sig->header_canon == Canon::kSimple);
  CHECK(sig->body_canon == Canon::kSimple);
  CHECK(sig->identity == "@example.test");
  CHECK_FALSE(sig->body_length.has_value());
  auto c = ParseSignature(Sig("; c=relaxed"));
  REQUIRE(c.ok());
  CHECK(c->header_canon == Canon::kRelaxed);
  CHECK(c->body_canon == Canon::kSimple);
}

TEST_CASE("Invalid DKIM-Signatures are rejected with a reason", "[dkim][proto]") {
  auto reason = [](const std::string& v) {
    auto s = ParseSignature(v);
    return s.ok() ? std::string("ok") : std::string(s.status().message());
  };
  CHECK(reason("v=1; a=rsa-sha256").find("missing required tag") != std::string::npos);
  CHECK(reason(Sig("; v=2")).find("duplicate") != std::string::npos);
  std::string base =
      "a=rsa-sha256; d=example.test; s=sel; h=from; bh=" + std::string(kBh) + "; b=AAAA; v=";
  CHECK(reason(base + "2") == "incompatible signature version");
  CHECK(
      reason("v=1; a=rsa-sha1; d=example.test; s=sel; h=from; bh=" + std::string(kBh) + "; b=AAAA")
          .find("RFC 8301") != std::string::npos);
  CHECK(reason("v=1; a=rsa-md5; d=example.test; s=sel; h=from; bh=" + std::string(kBh) +
               "; b=AAAA") == "unsupported signature algorithm");
  CHECK(reason("v=1; a=rsa-sha256; d=example.test; s=sel; h=to:subject; bh=" + std::string(kBh) +
               "; b=AAAA") == "From field not signed");
  CHECK(reason(Sig("; i=user@other.test")) == "domain mismatch between i= and d=");
  CHECK(reason(Sig("; i=user@badexample.test")) == "domain mismatch between i= and d=");
  CHECK(reason(Sig("; i=user@sub.example.test")) == "ok");
  CHECK(reason(Sig("; l=-1")) == "invalid l= value");
  CHECK(reason(Sig("; l=1234567890123")) == "invalid l= value");
  CHECK(reason(Sig("; t=20; x=10")) == "x= is before t=");
  CHECK(reason(Sig("; q=http")) == "unsupported query method");
  CHECK(reason(Sig("; c=fancy/simple")) == "invalid c= value");
  CHECK(reason("v=1; a=rsa-sha256; d=example.test; s=sel; h=from; bh=AAAA; b=AAAA") ==
        "invalid bh= value");
  CHECK(reason("v=1; a=rsa-sha256; d=example.test; s=sel; h=from; bh=" + std::string(kBh) +
               "; b=A") == "invalid b= value");
  CHECK(reason("v=1; a=rsa-sha256; d=exa mple; s=sel; h=from; bh=" + std::string(kBh) +
               "; b=AAAA") == "invalid d= value");
}

TEST_CASE("The b= value is removed with its surrounding white space", "[dkim][proto]") {
  auto s = StripSignatureValue("DKIM-Signature: v=1; b= ab\r\n\tcd ; bh=xyz");
  REQUIRE(s.ok());
  CHECK(*s == "DKIM-Signature: v=1; b=; bh=xyz");
  auto t = StripSignatureValue("DKIM-Signature: v=1; bh=xyz; b=abcd\r\n\tef");
  REQUIRE(t.ok());
  CHECK(*t == "DKIM-Signature: v=1; bh=xyz; b=");
}

TEST_CASE("Key records parse, with the RFC 6376 defaults", "[dkim][proto]") {
  auto k = ParseKeyRecord("v=DKIM1; p=AAEC");
  REQUIRE(k.ok());
  CHECK(k->key_type == KeyType::kRsa);
  CHECK(k->public_key == std::string("\x00\x01\x02", 3));
  CHECK_FALSE(k->testing);
  auto e = ParseKeyRecord("v=DKIM1; k=ed25519; t=y:s; h=sha1:sha256; s=email; p=AAEC");
  REQUIRE(e.ok());
  CHECK(e->key_type == KeyType::kEd25519);
  CHECK(e->testing);
  CHECK(e->strict_identity);
  auto revoked = ParseKeyRecord("v=DKIM1; p=");
  REQUIRE(revoked.ok());
  CHECK(revoked->public_key.empty());
}

TEST_CASE("Invalid key records are rejected", "[dkim][proto]") {
  CHECK_FALSE(ParseKeyRecord("k=rsa; v=DKIM1; p=AAEC").ok());  // v= not first
  CHECK_FALSE(ParseKeyRecord("v=DKIM2; p=AAEC").ok());
  CHECK_FALSE(ParseKeyRecord("v=DKIM1; k=dsa; p=AAEC").ok());
  CHECK_FALSE(ParseKeyRecord("v=DKIM1; h=sha1; p=AAEC").ok());
  CHECK_FALSE(ParseKeyRecord("v=DKIM1; s=other; p=AAEC").ok());
  CHECK_FALSE(ParseKeyRecord("v=DKIM1; k=rsa").ok());
  CHECK_FALSE(ParseKeyRecord("v=DKIM1; p=!!!!").ok());
}

TEST_CASE("Base64 round trips and rejects bad input", "[dkim][proto]") {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\xff\x00\x10", 3)}) {
    CHECK(Base64Decode(Base64Encode(s)) == s);
  }
  CHECK(Base64Encode("abcd") == "YWJjZA==");
  CHECK(Base64Decode("YW Jj\r\n\tZA==") == std::string("abcd"));
  CHECK_FALSE(Base64Decode("YWJjZA=").has_value());
  CHECK_FALSE(Base64Decode("Y").has_value());
  CHECK_FALSE(Base64Decode("YW*j").has_value());
}

// RFC 6376 section 3.4.5.
constexpr std::string_view kRfcExample =
    "A: X\r\n"
    "B : Y\t\r\n"
    "\tZ  \r\n"
    "\r\n"
    " C \r\n"
    "D \t E\r\n"
    "\r\n"
    "\r\n";

TEST_CASE("RFC 6376 3.4.5 example, relaxed", "[dkim][proto][canon]") {
  auto msg = Split(kRfcExample);
  REQUIRE(msg.ok());
  REQUIRE(msg->headers.size() == 2);
  CHECK(CanonicalizeHeader(msg->headers[0].raw, Canon::kRelaxed) == "a:X\r\n");
  CHECK(CanonicalizeHeader(msg->headers[1].raw, Canon::kRelaxed) == "b:Y Z\r\n");
  CHECK(CanonicalizeBody(msg->body, Canon::kRelaxed) == " C\r\nD E\r\n");
}

TEST_CASE("RFC 6376 3.4.5 example, simple", "[dkim][proto][canon]") {
  auto msg = Split(kRfcExample);
  REQUIRE(msg.ok());
  CHECK(CanonicalizeHeader(msg->headers[0].raw, Canon::kSimple) == "A: X\r\n");
  CHECK(CanonicalizeHeader(msg->headers[1].raw, Canon::kSimple) == "B : Y\t\r\n\tZ  \r\n");
  CHECK(CanonicalizeBody(msg->body, Canon::kSimple) == " C \r\nD \t E\r\n");
}

TEST_CASE("Empty and unterminated bodies canonicalise as RFC 6376 says", "[dkim][proto][canon]") {
  CHECK(CanonicalizeBody("", Canon::kSimple) == "\r\n");
  CHECK(CanonicalizeBody("\r\n\r\n", Canon::kSimple) == "\r\n");
  CHECK(CanonicalizeBody("", Canon::kRelaxed) == "");
  CHECK(CanonicalizeBody(" \t\r\n\r\n", Canon::kRelaxed) == "");
  CHECK(CanonicalizeBody("abc", Canon::kSimple) == "abc\r\n");
  CHECK(CanonicalizeBody("abc  ", Canon::kRelaxed) == "abc\r\n");
  CHECK(CanonicalizeBody("a\r\n\r\nb\r\n\r\n", Canon::kSimple) == "a\r\n\r\nb\r\n");
  // A bare LF is not a line end for canonicalisation.
  CHECK(CanonicalizeBody("a \nb", Canon::kRelaxed) == "a \nb\r\n");
}

TEST_CASE("The splitter keeps folded fields whole and finds the body", "[dkim][proto]") {
  auto msg = Split("From: a@b\r\nSubject: one\r\n two\r\nX-Empty:\r\n\r\nbody\r\n");
  REQUIRE(msg.ok());
  REQUIRE(msg->headers.size() == 3);
  CHECK(msg->headers[1].name == "Subject");
  CHECK(msg->headers[1].raw == "Subject: one\r\n two");
  CHECK(msg->headers[2].raw == "X-Empty:");
  CHECK(msg->body == "body\r\n");
  auto no_body = Split("From: a@b\r\n");
  REQUIRE(no_body.ok());
  CHECK(no_body->headers.size() == 1);
  CHECK(no_body->body.empty());
}

TEST_CASE("The splitter rejects broken headers and enforces its limits", "[dkim][proto]") {
  CHECK_FALSE(Split(" folded: first\r\n\r\n").ok());
  CHECK_FALSE(Split("no colon here\r\n\r\n").ok());
  CHECK_FALSE(Split(": empty name\r\n\r\n").ok());
  MessageLimits limits;
  limits.max_header_fields = 2;
  CHECK_FALSE(Split("A: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits).ok());
  limits = MessageLimits{};
  limits.max_field_bytes = 10;
  CHECK_FALSE(Split("A: 1234567890\r\n\r\n", limits).ok());
  CHECK_FALSE(Split("A: 12\r\n 34567890\r\n\r\n", limits).ok());
  limits = MessageLimits{};
  limits.max_header_bytes = 8;
  CHECK_FALSE(Split("A: 1\r\nB: 2\r\n\r\n", limits).ok());
}

TEST_CASE("The splitter gives the same fields whatever the prefix it is cut at", "[dkim][proto]") {
  // Every prefix either splits or fails cleanly; the full message is the only one with this body.
  std::string m = "From: a@b\r\nTo: c@d,\r\n\te@f\r\n\r\nhello\r\n";
  for (size_t i = 0; i <= m.size(); ++i) {
    auto part = Split(std::string_view(m).substr(0, i));
    if (part.ok()) CHECK(part->headers.size() <= 2);
  }
}
