// The DMARC record parser (RFC 7489 6.3), pure.
#include "lib/dmarc/record.h"

#include <catch2/catch.hpp>
#include <string>

namespace kite::dmarc {
namespace {

TEST_CASE("A full record is parsed tag by tag", "[dmarc][record]") {
  auto r = ParseRecord(
      "v=DMARC1; p=quarantine; sp=reject; pct=25; adkim=s; aspf=s; "
      "rua=mailto:agg@example.test,mailto:b@example.test!10m; ruf=mailto:f@example.test; fo=1:d; rf=afrf; ri=3600");
  REQUIRE(r.ok());
  CHECK(r->p == Policy::kQuarantine);
  REQUIRE(r->sp.has_value());
  CHECK(*r->sp == Policy::kReject);
  CHECK(r->pct == 25);
  CHECK(r->adkim == Alignment::kStrict);
  CHECK(r->aspf == Alignment::kStrict);
  CHECK(r->rua == std::vector<std::string>{"mailto:agg@example.test", "mailto:b@example.test!10m"});
  CHECK(r->ruf == std::vector<std::string>{"mailto:f@example.test"});
  CHECK(r->fo == "1:d");
  CHECK(r->ri == 3600);
  CHECK(r->Applicable(true) == Policy::kReject);
  CHECK(r->Applicable(false) == Policy::kQuarantine);
}

TEST_CASE("Defaults apply to a minimal record", "[dmarc][record]") {
  auto r = ParseRecord("v=DMARC1; p=none");
  REQUIRE(r.ok());
  CHECK(r->p == Policy::kNone);
  CHECK_FALSE(r->sp.has_value());
  CHECK(r->Applicable(true) == Policy::kNone);
  CHECK(r->pct == 100);
  CHECK(r->adkim == Alignment::kRelaxed);
  CHECK(r->aspf == Alignment::kRelaxed);
  CHECK(r->fo == "0");
  CHECK(r->rf == "afrf");
  CHECK(r->ri == 86400);
}

TEST_CASE("Tag names and keywords are case-insensitive, white space is allowed", "[dmarc][record]") {
  auto r = ParseRecord("v = DMARC1 ;  P = REJECT ; ADKIM=S;;");
  REQUIRE(r.ok());
  CHECK(r->p == Policy::kReject);
  CHECK(r->adkim == Alignment::kStrict);
}

TEST_CASE("Only records that start with v=DMARC1 count", "[dmarc][record]") {
  CHECK(IsDmarcRecord("v=DMARC1; p=none"));
  CHECK(IsDmarcRecord("v=DMARC1"));
  CHECK_FALSE(IsDmarcRecord("v=dmarc1; p=none"));  // the value is case-sensitive
  CHECK_FALSE(IsDmarcRecord("p=none; v=DMARC1"));
  CHECK_FALSE(IsDmarcRecord("v=spf1 -all"));
  CHECK_FALSE(IsDmarcRecord(""));
  CHECK_FALSE(ParseRecord("v=spf1 -all").ok());
}

TEST_CASE("A missing or invalid p= is an error unless rua= is valid", "[dmarc][record]") {
  CHECK_FALSE(ParseRecord("v=DMARC1").ok());
  CHECK_FALSE(ParseRecord("v=DMARC1; p=bogus").ok());
  auto r = ParseRecord("v=DMARC1; p=bogus; rua=mailto:a@example.test");
  REQUIRE(r.ok());
  CHECK(r->p == Policy::kNone);
  CHECK(r->p_assumed);
  CHECK_FALSE(ParseRecord("v=DMARC1; rua=not a uri").ok());
}

TEST_CASE("Invalid optional values fall back to their defaults", "[dmarc][record]") {
  auto r = ParseRecord("v=DMARC1; p=reject; sp=maybe; pct=101; adkim=x; aspf=; ri=-5; fo=9; unknown=tag; noequals");
  REQUIRE(r.ok());
  CHECK(r->p == Policy::kReject);
  CHECK_FALSE(r->sp.has_value());
  CHECK(r->pct == 100);
  CHECK(r->adkim == Alignment::kRelaxed);
  CHECK(r->aspf == Alignment::kRelaxed);
  CHECK(r->ri == 86400);
  CHECK(r->fo == "0");
  auto pct0 = ParseRecord("v=DMARC1; p=reject; pct=0");
  REQUIRE(pct0.ok());
  CHECK(pct0->pct == 0);
  CHECK(ParseRecord("v=DMARC1; p=reject; pct=+5")->pct == 100);
}

TEST_CASE("Records beyond the limits are refused", "[dmarc][record]") {
  std::string big = "v=DMARC1; p=none; x=" + std::string(kMaxRecordBytes, 'a');
  CHECK_FALSE(ParseRecord(big).ok());
  std::string many = "v=DMARC1; p=none";
  for (size_t i = 0; i < kMaxTags; ++i) many += "; t" + std::to_string(i) + "=1";
  CHECK_FALSE(ParseRecord(many).ok());
  std::string uris = "v=DMARC1; p=none; rua=";
  for (size_t i = 0; i <= kMaxUris; ++i) uris += (i ? ",mailto:a@b.test" : "mailto:a@b.test");
  auto r = ParseRecord(uris);
  REQUIRE(r.ok());
  CHECK(r->rua.empty());  // an over-long list is ignored, not truncated
}

TEST_CASE("Every prefix of a record parses without crashing", "[dmarc][record]") {
  std::string rec = "v=DMARC1; p=quarantine; sp=reject; pct=25; rua=mailto:a@example.test; ri=60";
  for (size_t i = 0; i <= rec.size(); ++i) (void)ParseRecord(std::string_view(rec).substr(0, i));
}

}  // namespace
}  // namespace kite::dmarc
