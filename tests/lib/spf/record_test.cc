// The pure SPF record parser and macro expander (RFC 7208 4.6, 5, 6, 7).
#include "lib/spf/record.h"

#include <catch2/catch.hpp>

namespace kite::spf {
namespace {

IpAddress Ip(std::string_view s) {
  auto ip = IpAddress::Parse(s);
  REQUIRE(ip.has_value());
  return *ip;
}

TEST_CASE("Version tag is recognised exactly", "[spf][parser]") {
  CHECK(IsSpfRecord("v=spf1"));
  CHECK(IsSpfRecord("v=spf1 -all"));
  CHECK(IsSpfRecord("V=SPF1 -all"));
  CHECK(!IsSpfRecord("v=spf10 -all"));
  CHECK(!IsSpfRecord("v=spf1-all"));
  CHECK(!IsSpfRecord("spf2.0/pra -all"));
  CHECK(!IsSpfRecord(""));
}

TEST_CASE("Every mechanism and modifier parses", "[spf][parser]") {
  auto r = ParseRecord(
      "v=spf1 +all -include:_spf.example.com ~a ?a:mail.example.com/24//64 mx mx:example.org/30 "
      "ptr ptr:example.net ip4:192.0.2.0/24 ip6:2001:db8::/32 exists:%{ir}.%{v}._spf.%{d} "
      "redirect=_spf.example.com exp=explain._spf.%{d} unknown-mod=foo.%{d}");
  REQUIRE(r.ok());
  REQUIRE(r->mechanisms.size() == 11);
  const auto& m = r->mechanisms;
  CHECK(m[0].kind == MechanismKind::kAll);
  CHECK(m[0].qualifier == Qualifier::kPass);
  CHECK(m[1].kind == MechanismKind::kInclude);
  CHECK(m[1].qualifier == Qualifier::kFail);
  CHECK(m[1].domain_spec == "_spf.example.com");
  CHECK(m[2].kind == MechanismKind::kA);
  CHECK(m[2].qualifier == Qualifier::kSoftFail);
  CHECK(m[2].domain_spec.empty());
  CHECK(m[2].cidr4 == 32);
  CHECK(m[2].cidr6 == 128);
  CHECK(m[3].qualifier == Qualifier::kNeutral);
  CHECK(m[3].domain_spec == "mail.example.com");
  CHECK(m[3].cidr4 == 24);
  CHECK(m[3].cidr6 == 64);
  CHECK(m[4].kind == MechanismKind::kMx);
  CHECK(m[5].domain_spec == "example.org");
  CHECK(m[5].cidr4 == 30);
  CHECK(m[6].kind == MechanismKind::kPtr);
  CHECK(m[7].domain_spec == "example.net");
  CHECK(m[8].kind == MechanismKind::kIp4);
  CHECK(m[8].network == Ip("192.0.2.0"));
  CHECK(m[8].cidr4 == 24);
  CHECK(m[9].kind == MechanismKind::kIp6);
  CHECK(m[9].network == Ip("2001:db8::"));
  CHECK(m[9].cidr6 == 32);
  CHECK(m[10].kind == MechanismKind::kExists);
  CHECK(r->redirect == "_spf.example.com");
  CHECK(r->exp == "explain._spf.%{d}");
}

TEST_CASE("Mechanism names are case-insensitive and spaces may repeat", "[spf][parser]") {
  auto r = ParseRecord("v=spf1   IP4:192.0.2.1  MX:Example.COM   -ALL  ");
  REQUIRE(r.ok());
  REQUIRE(r->mechanisms.size() == 3);
  CHECK(r->mechanisms[2].kind == MechanismKind::kAll);
  CHECK(r->mechanisms[2].qualifier == Qualifier::kFail);
}

TEST_CASE("a with only cidr lengths", "[spf][parser]") {
  auto r = ParseRecord("v=spf1 a/24 mx//64 a/0//0");
  REQUIRE(r.ok());
  CHECK(r->mechanisms[0].cidr4 == 24);
  CHECK(r->mechanisms[0].domain_spec.empty());
  CHECK(r->mechanisms[1].cidr6 == 64);
  CHECK(r->mechanisms[1].cidr4 == 32);
  CHECK(r->mechanisms[2].cidr4 == 0);
  CHECK(r->mechanisms[2].cidr6 == 0);
}

TEST_CASE("Syntax errors are rejected", "[spf][parser]") {
  const char* bad[] = {
      "v=spf1 ip4:300.1.1.1",      // bad address
      "v=spf1 ip4:192.0.2.0/33",   // cidr too long
      "v=spf1 ip4:192.0.2.0/024",  // leading zero
      "v=spf1 ip6:2001:db8::/129",
      "v=spf1 ip4:2001:db8::1",  // wrong family
      "v=spf1 ip6:192.0.2.1",
      "v=spf1 ip4",  // missing argument
      "v=spf1 include",
      "v=spf1 include:",
      "v=spf1 exists",
      "v=spf1 a:",
      "v=spf1 all:foo.example.com",
      "v=spf1 -all/24",
      "v=spf1 foo:bar.example.com",  // unknown mechanism
      "v=spf1 +",
      "v=spf1 a:foo.example.com/",
      "v=spf1 mx:example.com//",
      "v=spf1 a:example.123",             // numeric top label
      "v=spf1 a:localhost",               // no top-level label
      "v=spf1 include:%{x}.example.com",  // unknown macro letter
      "v=spf1 include:%{d0}.example.com",
      "v=spf1 include:%{d",
      "v=spf1 exists:%{c}.example.com",  // c only in exp
      "v=spf1 include:50%.example.com",
      "v=spf1 redirect=a.example.com redirect=b.example.com",
      "v=spf1 exp=a.example.com exp=b.example.com",
      "v=spf1 redirect=",
      "v=spf1 unknown=%{z}",
      "v=spf1 -all\tmx",               // TAB is not a separator
      "v=spf1 a:exam\xc3\xa9ple.com",  // non-ASCII
      "v=spf1x",
  };
  for (const char* b : bad) {
    INFO(b);
    CHECK(absl::IsInvalidArgument(ParseRecord(b).status()));
  }
}

TEST_CASE("Records beyond the length and term limits are rejected", "[spf][parser]") {
  std::string many = "v=spf1";
  for (size_t i = 0; i <= kMaxTerms; ++i) many += " ip4:192.0.2.1";
  CHECK(!ParseRecord(many).ok());
  std::string longrec = "v=spf1 " + std::string(kMaxRecordLength, 'a');
  CHECK(!ParseRecord(longrec).ok());
}

TEST_CASE("Every prefix and every byte change of a record is handled", "[spf][parser]") {
  const std::string rec =
      "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a:%{d}/24//64 mx include:_spf.%{o} "
      "exists:%{ir}.%{v}._spf.%{d2} ptr ~all redirect=%{d} exp=%{l1r-}.exp.example.com";
  REQUIRE(ParseRecord(rec).ok());
  for (size_t n = 0; n <= rec.size(); ++n) (void)ParseRecord(rec.substr(0, n));
  for (size_t i = 0; i < rec.size(); ++i) {
    for (int c : {0, 0x20, 0x25, 0x2f, 0x3a, 0x7b, 0x7d, 0x80, 0xff}) {
      std::string mutated = rec;
      mutated[i] = static_cast<char>(c);
      (void)ParseRecord(mutated);
    }
  }
}

TEST_CASE("CIDR matching", "[spf][parser]") {
  CHECK(Ip("192.0.2.77").InPrefix(Ip("192.0.2.0"), 24));
  CHECK(!Ip("192.0.3.77").InPrefix(Ip("192.0.2.0"), 24));
  CHECK(Ip("192.0.2.77").InPrefix(Ip("10.0.0.0"), 0));
  CHECK(Ip("192.0.2.77").InPrefix(Ip("192.0.2.64"), 26));
  CHECK(!Ip("192.0.2.77").InPrefix(Ip("192.0.2.64"), 29));
  CHECK(Ip("2001:db8:1::5").InPrefix(Ip("2001:db8::"), 32));
  CHECK(!Ip("2001:db9::5").InPrefix(Ip("2001:db8::"), 32));
  CHECK(!Ip("192.0.2.1").InPrefix(Ip("::"), 0));  // family never crosses
  CHECK(Ip("::ffff:192.0.2.1").Unmapped() == Ip("192.0.2.1"));
  CHECK(Ip("2001:db8::1").Unmapped() == Ip("2001:db8::1"));
}

MacroContext Rfc7208Context() {
  MacroContext c;
  c.sender = "strong-bad@email.example.com";
  c.local_part = "strong-bad";
  c.sender_domain = "email.example.com";
  c.domain = "email.example.com";
  c.ip = Ip("192.0.2.3");
  c.helo = "mx.example.org";
  c.receiver = "mx.kite.test";
  c.timestamp = 1700000000;
  return c;
}

TEST_CASE("Macro expansion follows the RFC 7208 7.4 examples", "[spf][macro]") {
  MacroContext c = Rfc7208Context();
  auto x = [&](std::string_view s) {
    auto r = ExpandMacros(s, c, false);
    REQUIRE(r.ok());
    return *r;
  };
  CHECK(x("%{s}") == "strong-bad@email.example.com");
  CHECK(x("%{o}") == "email.example.com");
  CHECK(x("%{d}") == "email.example.com");
  CHECK(x("%{d4}") == "email.example.com");
  CHECK(x("%{d3}") == "email.example.com");
  CHECK(x("%{d2}") == "example.com");
  CHECK(x("%{d1}") == "com");
  CHECK(x("%{dr}") == "com.example.email");
  CHECK(x("%{d2r}") == "example.email");
  CHECK(x("%{l}") == "strong-bad");
  CHECK(x("%{l-}") == "strong.bad");
  CHECK(x("%{lr}") == "strong-bad");
  CHECK(x("%{lr-}") == "bad.strong");
  CHECK(x("%{l1r-}") == "strong");
  CHECK(x("%{ir}.%{v}._spf.%{d2}") == "3.2.0.192.in-addr._spf.example.com");
  CHECK(x("%{lr-}.lp._spf.%{d2}") == "bad.strong.lp._spf.example.com");
  CHECK(x("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}") == "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
  CHECK(x("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}") == "3.2.0.192.in-addr.strong.lp._spf.example.com");
  CHECK(x("%{d2}.trusted-domains.example.net") == "example.com.trusted-domains.example.net");
  CHECK(x("%{h}") == "mx.example.org");
  CHECK(x("%{p}") == "unknown");
  CHECK(x("%%%_%-") == "% %20");
  c.ip = Ip("2001:db8::cb01");
  CHECK(x("%{ir}.%{v}._spf.%{d2}") ==
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

TEST_CASE("Uppercase macros are URL-escaped; exp letters only in explanations", "[spf][macro]") {
  MacroContext c = Rfc7208Context();
  c.local_part = "a b/c";
  auto r = ExpandMacros("%{L}", c, false);
  REQUIRE(r.ok());
  CHECK(*r == "a%20b%2Fc");
  CHECK(!ExpandMacros("%{c}", c, false).ok());
  auto e = ExpandMacros("%{c} rejected by %{r} at %{t} for %{d}", c, true);
  REQUIRE(e.ok());
  CHECK(*e == "192.0.2.3 rejected by mx.kite.test at 1700000000 for email.example.com");
  CHECK(!ExpandMacros("%{d", c, false).ok());
  CHECK(!ExpandMacros("%x", c, false).ok());
  CHECK(!ExpandMacros("%", c, false).ok());
}

TEST_CASE("Expanded domain-specs are shortened from the left to 253 characters", "[spf][macro]") {
  MacroContext c = Rfc7208Context();
  c.local_part = std::string(60, 'x') + "." + std::string(60, 'y') + "." + std::string(60, 'z') +
                 "." + std::string(60, 'w');
  auto d = ExpandDomainSpec("%{l}.%{d}", c);
  REQUIRE(d.ok());
  CHECK(d->size() <= 253);
  CHECK(d->substr(0, 1) == "y");
  c.local_part = "a..b";
  CHECK(!ExpandDomainSpec("%{l}.%{d}", c).ok());  // empty label
  auto dot = ExpandDomainSpec("%{d}.", Rfc7208Context());
  REQUIRE(dot.ok());
  CHECK(*dot == "email.example.com");
}

TEST_CASE("Domain validity for check_host", "[spf][macro]") {
  CHECK(IsValidDomain("example.com"));
  CHECK(IsValidDomain("example.com."));
  CHECK(!IsValidDomain("com"));
  CHECK(!IsValidDomain(""));
  CHECK(!IsValidDomain("a..com"));
  CHECK(!IsValidDomain(std::string(64, 'a') + ".com"));
  CHECK(!IsValidDomain("exa mple.com"));
}

}  // namespace
}  // namespace kite::spf
