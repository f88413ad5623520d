// Public Suffix List matching and the organisational domain (RFC 7489 3.2), pure.
#include "lib/dmarc/psl.h"

#include <catch2/catch.hpp>
#include <filesystem>

namespace kite::dmarc {
namespace {

const char kList[] = R"(// ===BEGIN ICANN DOMAINS===
com
uk
co.uk
jp
kawasaki.jp
*.kawasaki.jp
!city.kawasaki.jp
ck
*.ck
!www.ck
// a private section rule
blogspot.com
test   trailing words are ignored
)";

TEST_CASE("Normal rules give the longest matching suffix", "[dmarc][psl]") {
  auto psl = PublicSuffixList::Parse(kList);
  REQUIRE(psl.ok());
  CHECK(psl->PublicSuffix("example.com") == "com");
  CHECK(psl->OrganizationalDomain("mail.example.com") == "example.com");
  CHECK(psl->OrganizationalDomain("a.b.example.co.uk") == "example.co.uk");
  CHECK(psl->OrganizationalDomain("example.co.uk") == "example.co.uk");
  CHECK(psl->OrganizationalDomain("foo.blogspot.com") == "foo.blogspot.com");
  CHECK(psl->OrganizationalDomain("x.foo.blogspot.com") == "foo.blogspot.com");
  CHECK(psl->OrganizationalDomain("mail.example.test") == "example.test");
}

TEST_CASE("Wildcard rules cover one more label", "[dmarc][psl]") {
  auto psl = PublicSuffixList::Parse(kList);
  REQUIRE(psl.ok());
  CHECK(psl->PublicSuffix("foo.ck") == "foo.ck");
  CHECK(psl->OrganizationalDomain("a.b.foo.ck") == "b.foo.ck");
  CHECK(psl->OrganizationalDomain("x.y.kawasaki.jp") == "x.y.kawasaki.jp");
  CHECK(psl->OrganizationalDomain("w.x.y.kawasaki.jp") == "x.y.kawasaki.jp");
}

TEST_CASE("Exception rules win over wildcards", "[dmarc][psl]") {
  auto psl = PublicSuffixList::Parse(kList);
  REQUIRE(psl.ok());
  CHECK(psl->PublicSuffix("www.ck") == "ck");
  CHECK(psl->OrganizationalDomain("www.ck") == "www.ck");
  CHECK(psl->OrganizationalDomain("a.b.www.ck") == "www.ck");
  CHECK(psl->OrganizationalDomain("mail.city.kawasaki.jp") == "city.kawasaki.jp");
}

TEST_CASE("Unlisted TLDs fall back to the implicit * rule", "[dmarc][psl]") {
  auto psl = PublicSuffixList::Parse(kList);
  REQUIRE(psl.ok());
  CHECK(psl->PublicSuffix("a.b.example") == "example");
  CHECK(psl->OrganizationalDomain("a.b.example") == "b.example");
}

TEST_CASE("Domains are normalised and suffixes are their own organisational domain", "[dmarc][psl]") {
  auto psl = PublicSuffixList::Parse(kList);
  REQUIRE(psl.ok());
  CHECK(psl->OrganizationalDomain("Mail.EXAMPLE.Com.") == "example.com");
  CHECK(psl->OrganizationalDomain("com") == "com");
  CHECK(psl->OrganizationalDomain("co.uk") == "co.uk");
  CHECK(psl->OrganizationalDomain("") == "");
  CHECK(psl->OrganizationalDomain("a..com") == "");
  CHECK(psl->OrganizationalDomain(".com") == "");
  CHECK(psl->OrganizationalDomain("a b.com") == "");
  CHECK(psl->OrganizationalDomain(std::string(300, 'a') + ".com") == "");
}

TEST_CASE("Unicode labels are matched in A-label form", "[dmarc][psl]") {
  CHECK(PunycodeLabel("\u516c\u53f8") == "xn--55qx5d");  // 公司
  CHECK(PunycodeLabel("\u0440\u0444") == "xn--p1ai");    // рф
  CHECK(PunycodeLabel("m\u00fcnchen") == "xn--mnchen-3ya");
  CHECK(PunycodeLabel("\u00fc") == "xn--tda");
  CHECK(PunycodeLabel("\u4eac\u90fd") == "xn--1lqs03n");  // 京都
  CHECK(PunycodeLabel("plain") == "plain");
  CHECK(PunycodeLabel("\xc3") == "");      // truncated UTF-8
  CHECK(PunycodeLabel("\xc0\xaf") == "");  // overlong
  auto psl = PublicSuffixList::Parse("cn\n\u516c\u53f8.cn\n\u0440\u0444\n");
  REQUIRE(psl.ok());
  CHECK(psl->OrganizationalDomain("mail.example.xn--55qx5d.cn") == "example.xn--55qx5d.cn");
  CHECK(psl->OrganizationalDomain("mail.example.\u516c\u53f8.cn") == "example.xn--55qx5d.cn");
  CHECK(psl->OrganizationalDomain("a.b.xn--p1ai") == "b.xn--p1ai");
  CHECK(NormalizeDomain("M\u00fcnchen.TEST.") == "xn--mnchen-3ya.test");
}

TEST_CASE("An empty list is refused", "[dmarc][psl]") {
  CHECK_FALSE(PublicSuffixList::Parse("// only a comment\n\n").ok());
  CHECK_FALSE(PublicSuffixList::Load("/nonexistent/public_suffix_list.dat").ok());
}

TEST_CASE("The system list from the publicsuffix package loads", "[dmarc][psl]") {
  const char* path = "/usr/share/publicsuffix/public_suffix_list.dat";
  if (!std::filesystem::exists(path)) {
    WARN("publicsuffix is not installed; skipped");
    return;
  }
  auto psl = PublicSuffixList::Load(path);
  REQUIRE(psl.ok());
  CHECK(psl->rules() > 5000);
  CHECK(psl->OrganizationalDomain("mail.example.co.uk") == "example.co.uk");
  CHECK(psl->OrganizationalDomain("a.b.example.com") == "example.com");
  CHECK(psl->OrganizationalDomain("www.ck") == "www.ck");
  CHECK(psl->OrganizationalDomain("mail.example.test") == "example.test");
  CHECK(psl->OrganizationalDomain("a.b.example.xn--55qx5d.cn") == "example.xn--55qx5d.cn");
  CHECK(psl->OrganizationalDomain("x.y.xn--1lqs03n.jp") == "y.xn--1lqs03n.jp");
}

}  // namespace
}  // namespace kite::dmarc
