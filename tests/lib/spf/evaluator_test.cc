// check_host() against a real dnsmasq on loopback started by the test.
#include "lib/spf/evaluator.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <sstream>

#include "fixtures/dnsmasq.h"
#include "lib/dns/cares_resolver.h"

namespace kite::spf {
namespace {

using kite::testing::Dnsmasq;

std::string Txt(std::string_view name, std::string_view value) {
  return "txt-record=" + std::string(name) + ",\"" + std::string(value) + "\"";
}

std::vector<std::string> Zone() {
  std::vector<std::string> z = {
      Txt("ip4.spf.test", "v=spf1 ip4:192.0.2.0/24 -all"),
      Txt("ip6.spf.test", "v=spf1 ip6:2001:db8::/32 ~all"),
      Txt("a.spf.test", "v=spf1 a -all"),
      "host-record=a.spf.test,198.51.100.10,2001:db8:a::10",
      Txt("acidr.spf.test", "v=spf1 a:host.spf.test/24//64 -all"),
      "host-record=host.spf.test,198.51.100.1,2001:db8:1::1",
      Txt("mx.spf.test", "v=spf1 mx -all"),
      "mx-host=mx.spf.test,mx1.spf.test,10",
      "mx-host=mx.spf.test,mx2.spf.test,20",
      "host-record=mx1.spf.test,203.0.113.5",
      "host-record=mx2.spf.test,203.0.113.6,2001:db8:2::6",
      Txt("mxcidr.spf.test", "v=spf1 mx:mx.spf.test/28 -all"),
      Txt("ptr.spf.test", "v=spf1 ptr -all"),
      "host-record=mail.ptr.spf.test,127.0.0.77",
      "host-record=other.elsewhere.test,127.0.0.78",
      Txt("exists.spf.test", "v=spf1 exists:%{ir}.allow.spf.test -all"),
      "host-record=1.2.0.192.allow.spf.test,127.0.0.2",
      Txt("incl.spf.test", "v=spf1 include:ip4.spf.test ?all"),
      Txt("inclsoft.spf.test", "v=spf1 include:ip6.spf.test -all"),
      Txt("inclnone.spf.test", "v=spf1 include:nospf.spf.test -all"),
      Txt("nospf.spf.test", "hello world"),
      Txt("inclbad.spf.test", "v=spf1 include:bad.spf.test -all"),
      Txt("bad.spf.test", "v=spf1 foo:bar.spf.test -all"),
      Txt("incltemp.spf.test", "v=spf1 include:outside.example -all"),
      Txt("macinc.spf.test", "v=spf1 include:_spf.%{d} -all"),
      Txt("_spf.macinc.spf.test", "v=spf1 ip4:192.0.2.0/24 -all"),
      Txt("redir.spf.test", "v=spf1 redirect=ip4.spf.test"),
      Txt("macredir.spf.test", "v=spf1 redirect=_r.%{d}"),
      Txt("_r.macredir.spf.test", "v=spf1 ip4:192.0.2.0/24 -all"),
      Txt("redirnone.spf.test", "v=spf1 redirect=nonexistent.spf.test"),
      Txt("redirall.spf.test", "v=spf1 ?all redirect=ip4.spf.test"),
      Txt("syntax.spf.test", "v=spf1 ip4:300.1.1.1 -all"),
      Txt("two.spf.test", "v=spf1 -all"),
      Txt("two.spf.test", "v=spf1 +all"),
      Txt("default.spf.test", "v=spf1 ip4:192.0.2.1"),
      Txt("void2.spf.test", "v=spf1 a:nx1.spf.test a:nx2.spf.test -all"),
      Txt("void3.spf.test", "v=spf1 a:nx1.spf.test a:nx2.spf.test a:nx3.spf.test -all"),
      Txt("exp.spf.test", "v=spf1 -all exp=explain.spf.test"),
      Txt("explain.spf.test", "%{i} is not one of %{d}'s designated mail servers."),
      Txt("inclexp.spf.test", "v=spf1 include:exp.spf.test -all"),
      "host-record=nospfhost.test,192.0.2.200",
  };
  // 10 lookups is allowed, 11 is a permerror.
  std::string ten = "v=spf1", eleven = "v=spf1";
  for (int i = 0; i < 10; ++i) ten += " a:host.spf.test";
  for (int i = 0; i < 11; ++i) eleven += " a:host.spf.test";
  z.push_back(Txt("ten.spf.test", ten + " -all"));
  z.push_back(Txt("eleven.spf.test", eleven + " -all"));
  // A chain of includes, each one lookup: l0 -> l1 -> ... -> l11.
  for (int i = 0; i < 11; ++i) {
    z.push_back(Txt("l" + std::to_string(i) + ".spf.test",
                    "v=spf1 include:l" + std::to_string(i + 1) + ".spf.test -all"));
  }
  z.push_back(Txt("l11.spf.test", "v=spf1 +all"));
  // An mx mechanism may look at 10 exchanges, not 11.
  z.push_back(Txt("manymx.spf.test", "v=spf1 mx -all"));
  z.push_back(Txt("tenmx.spf.test", "v=spf1 mx -all"));
  for (int i = 0; i < 11; ++i) {
    std::string host = "mx" + std::to_string(i) + ".many.spf.test";
    z.push_back("mx-host=manymx.spf.test," + host + "," + std::to_string(i));
    if (i < 10) z.push_back("mx-host=tenmx.spf.test," + host + "," + std::to_string(i));
    z.push_back("host-record=" + host + ",203.0.114." + std::to_string(i + 1));
  }
  // Loops end on the lookup limit.
  z.push_back(Txt("loop.spf.test", "v=spf1 include:loop.spf.test -all"));
  return z;
}

class Fixture {
 public:
  Fixture() : dns_(Zone()) {
    dns::ResolverOptions o;
    o.servers = {dns_.server()};
    o.timeout = std::chrono::milliseconds(500);
    o.tries = 2;
    resolver_ = *dns::CaresResolver::Create(o);
  }

  Outcome Check(std::string_view ip, std::string_view domain, std::string_view local = "user") {
    auto addr = IpAddress::Parse(ip);
    REQUIRE(addr.has_value());
    return CheckHost(*addr, domain, std::string(local) + "@" + std::string(domain), "helo.test",
                     *resolver_);
  }

  Result R(std::string_view ip, std::string_view domain) {
    Outcome o = Check(ip, domain);
    UNSCOPED_INFO(domain << " " << ip << " -> " << ResultName(o.result) << " (" << o.reason << ")");
    return o.result;
  }

  dns::Resolver& resolver() { return *resolver_; }
  int port() const { return dns_.port(); }

 private:
  Dnsmasq dns_;
  std::unique_ptr<dns::CaresResolver> resolver_;
};

Fixture& F() {
  static Fixture f;
  return f;
}

TEST_CASE("ip4 and ip6 mechanisms", "[spf][eval]") {
  CHECK(F().R("192.0.2.55", "ip4.spf.test") == Result::kPass);
  CHECK(F().R("192.0.3.55", "ip4.spf.test") == Result::kFail);
  CHECK(F().R("::ffff:192.0.2.55", "ip4.spf.test") == Result::kPass);  // mapped IPv4
  CHECK(F().R("2001:db8:5::1", "ip6.spf.test") == Result::kPass);
  CHECK(F().R("2001:db9::1", "ip6.spf.test") == Result::kSoftFail);
  CHECK(F().R("192.0.2.1", "ip6.spf.test") == Result::kSoftFail);
}

TEST_CASE("a mechanism with the current domain, IPv4 and IPv6, and CIDR lengths", "[spf][eval]") {
  CHECK(F().R("198.51.100.10", "a.spf.test") == Result::kPass);
  CHECK(F().R("198.51.100.11", "a.spf.test") == Result::kFail);
  CHECK(F().R("2001:db8:a::10", "a.spf.test") == Result::kPass);
  CHECK(F().R("198.51.100.200", "acidr.spf.test") == Result::kPass);  // /24
  CHECK(F().R("198.51.101.1", "acidr.spf.test") == Result::kFail);
  CHECK(F().R("2001:db8:1::ffff", "acidr.spf.test") == Result::kPass);  // //64
  CHECK(F().R("2001:db8:1:1::1", "acidr.spf.test") == Result::kFail);
}

TEST_CASE("mx mechanism looks up every exchange", "[spf][eval]") {
  CHECK(F().R("203.0.113.5", "mx.spf.test") == Result::kPass);
  CHECK(F().R("203.0.113.6", "mx.spf.test") == Result::kPass);
  CHECK(F().R("2001:db8:2::6", "mx.spf.test") == Result::kPass);
  CHECK(F().R("203.0.113.7", "mx.spf.test") == Result::kFail);
  CHECK(F().R("203.0.113.14", "mxcidr.spf.test") == Result::kPass);
  CHECK(F().R("203.0.113.17", "mxcidr.spf.test") == Result::kFail);
}

TEST_CASE("ptr mechanism needs a validated name under the domain", "[spf][eval]") {
  CHECK(F().R("127.0.0.77", "ptr.spf.test") == Result::kPass);
  CHECK(F().R("127.0.0.78", "ptr.spf.test") == Result::kFail);  // name elsewhere
  CHECK(F().R("127.0.0.79", "ptr.spf.test") == Result::kFail);  // no PTR
}

TEST_CASE("exists mechanism with macros", "[spf][eval]") {
  CHECK(F().R("192.0.2.1", "exists.spf.test") == Result::kPass);
  CHECK(F().R("192.0.2.2", "exists.spf.test") == Result::kFail);
}

TEST_CASE("include passes on pass only; errors propagate", "[spf][eval]") {
  CHECK(F().R("192.0.2.5", "incl.spf.test") == Result::kPass);
  CHECK(F().R("10.0.0.1", "incl.spf.test") == Result::kNeutral);         // inner fail: no match
  CHECK(F().R("192.0.2.5", "inclsoft.spf.test") == Result::kFail);       // inner softfail: no match
  CHECK(F().R("192.0.2.5", "inclnone.spf.test") == Result::kPermError);  // inner none
  CHECK(F().R("192.0.2.5", "inclbad.spf.test") == Result::kPermError);
  CHECK(F().R("192.0.2.5", "incltemp.spf.test") == Result::kTempError);  // REFUSED upstream
  CHECK(F().R("192.0.2.5", "macinc.spf.test") == Result::kPass);
  CHECK(F().R("10.0.0.1", "macinc.spf.test") == Result::kFail);
}

TEST_CASE("redirect", "[spf][eval]") {
  CHECK(F().R("192.0.2.5", "redir.spf.test") == Result::kPass);
  CHECK(F().R("10.0.0.1", "redir.spf.test") == Result::kFail);
  CHECK(F().R("192.0.2.5", "macredir.spf.test") == Result::kPass);
  CHECK(F().R("10.0.0.1", "redirnone.spf.test") == Result::kPermError);
  CHECK(F().R("10.0.0.1", "redirall.spf.test") == Result::kNeutral);  // all wins over redirect
}

TEST_CASE("No record, no match, more than one record", "[spf][eval]") {
  CHECK(F().R("192.0.2.5", "nospf.spf.test") == Result::kNone);
  CHECK(F().R("192.0.2.5", "nonexistent.spf.test") == Result::kNone);
  CHECK(F().R("192.0.2.5", "nospfhost.test") == Result::kNone);
  CHECK(F().R("192.0.2.5", "localhost") == Result::kNone);  // not a multi-label name
  CHECK(F().R("192.0.2.9", "default.spf.test") == Result::kNeutral);
  CHECK(F().R("192.0.2.1", "two.spf.test") == Result::kPermError);
}

TEST_CASE("Syntax errors are permerror", "[spf][eval]") {
  CHECK(F().R("192.0.2.5", "syntax.spf.test") == Result::kPermError);
}

TEST_CASE("The 10-lookup limit", "[spf][eval]") {
  Outcome ten = F().Check("10.0.0.1", "ten.spf.test");
  CHECK(ten.result == Result::kFail);
  CHECK(ten.dns_lookups == 10);
  CHECK(F().R("10.0.0.1", "eleven.spf.test") == Result::kPermError);
  // l0 .. l9 are 10 includes; l10's include of l11 is the 11th.
  Outcome chain = F().Check("10.0.0.1", "l0.spf.test");
  CHECK(chain.result == Result::kPermError);
  CHECK(F().R("10.0.0.1", "l1.spf.test") == Result::kPass);  // 10 includes: fine
  CHECK(F().R("10.0.0.1", "loop.spf.test") == Result::kPermError);
}

TEST_CASE("More than 10 MX names is a permerror", "[spf][eval]") {
  CHECK(F().R("203.0.114.10", "tenmx.spf.test") == Result::kPass);
  CHECK(F().R("203.0.114.1", "manymx.spf.test") == Result::kPermError);
}

TEST_CASE("The void-lookup limit", "[spf][eval]") {
  Outcome two = F().Check("10.0.0.1", "void2.spf.test");
  CHECK(two.result == Result::kFail);
  CHECK(two.void_lookups == 2);
  CHECK(F().R("10.0.0.1", "void3.spf.test") == Result::kPermError);
}

TEST_CASE("Explanations come from exp= at the top level only", "[spf][eval]") {
  Outcome o = F().Check("192.0.2.99", "exp.spf.test");
  CHECK(o.result == Result::kFail);
  CHECK(o.explanation == "192.0.2.99 is not one of exp.spf.test's designated mail servers.");
  Outcome inner = F().Check("192.0.2.99", "inclexp.spf.test");
  CHECK(inner.result == Result::kFail);
  CHECK(inner.explanation.find("designated") == std::string::npos);
}

TEST_CASE("MAIL FROM and HELO identities", "[spf][eval]") {
  Request req;
  req.ip = *IpAddress::Parse("192.0.2.5");
  req.mail_from = "someone@ip4.spf.test";
  req.helo = "a.spf.test";
  CHECK(Evaluate(req, F().resolver()).result == Result::kPass);
  CHECK(EvaluateHelo(req, F().resolver()).result == Result::kFail);
  req.mail_from.clear();  // null sender: postmaster@helo
  req.helo = "ip4.spf.test";
  CHECK(Evaluate(req, F().resolver()).result == Result::kPass);
}

TEST_CASE("An unreachable DNS server gives temperror", "[spf][eval]") {
  dns::ResolverOptions o;
  o.servers = {"127.0.0.1:" + std::to_string(Dnsmasq::FreePort())};
  o.timeout = std::chrono::milliseconds(200);
  o.tries = 1;
  auto r = dns::CaresResolver::Create(o);
  REQUIRE(r.ok());
  Outcome out =
      CheckHost(*IpAddress::Parse("192.0.2.5"), "ip4.spf.test", "u@ip4.spf.test", "h.test", **r);
  CHECK(out.result == Result::kTempError);
  auto none = dns::CaresResolver::Create({});
  REQUIRE(none.ok());
  CHECK(
      CheckHost(*IpAddress::Parse("192.0.2.5"), "ip4.spf.test", "u@ip4.spf.test", "h.test", **none)
          .result == Result::kTempError);
}

TEST_CASE("Results match pyspf on the same records", "[spf][eval][pyspf]") {
  if (std::system("/usr/bin/python3 -c 'import spf, dns.resolver' 2>/dev/null") != 0) {
    WARN("python3-spf not installed: cross-check skipped");
    return;
  }
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"192.0.2.55", "ip4.spf.test"},        {"192.0.3.55", "ip4.spf.test"},
      {"2001:db8:5::1", "ip6.spf.test"},     {"2001:db9::1", "ip6.spf.test"},
      {"198.51.100.10", "a.spf.test"},       {"2001:db8:a::10", "a.spf.test"},
      {"198.51.100.200", "acidr.spf.test"},  {"2001:db8:1:1::1", "acidr.spf.test"},
      {"203.0.113.6", "mx.spf.test"},        {"203.0.113.7", "mx.spf.test"},
      {"203.0.113.14", "mxcidr.spf.test"},   {"127.0.0.77", "ptr.spf.test"},
      {"127.0.0.78", "ptr.spf.test"},        {"192.0.2.1", "exists.spf.test"},
      {"192.0.2.2", "exists.spf.test"},      {"192.0.2.5", "incl.spf.test"},
      {"10.0.0.1", "incl.spf.test"},         {"192.0.2.5", "inclsoft.spf.test"},
      {"192.0.2.5", "inclnone.spf.test"},    {"192.0.2.5", "inclbad.spf.test"},
      {"192.0.2.5", "macinc.spf.test"},      {"10.0.0.1", "redir.spf.test"},
      {"192.0.2.5", "macredir.spf.test"},    {"10.0.0.1", "redirnone.spf.test"},
      {"10.0.0.1", "redirall.spf.test"},     {"192.0.2.5", "nospf.spf.test"},
      {"192.0.2.5", "nonexistent.spf.test"}, {"192.0.2.9", "default.spf.test"},
      {"192.0.2.1", "two.spf.test"},         {"192.0.2.5", "syntax.spf.test"},
      {"10.0.0.1", "ten.spf.test"},          {"10.0.0.1", "eleven.spf.test"},
      {"10.0.0.1", "l0.spf.test"},           {"10.0.0.1", "l1.spf.test"},
      {"10.0.0.1", "void2.spf.test"},        {"10.0.0.1", "void3.spf.test"},
      {"192.0.2.99", "exp.spf.test"},        {"203.0.114.10", "tenmx.spf.test"},
      {"203.0.114.1", "manymx.spf.test"},
  };
  std::string cmd =
      std::string("/usr/bin/python3 ") + KITE_PYSPF_CHECK + " " + std::to_string(F().port());
  for (const auto& [ip, domain] : cases) cmd += " " + ip + " " + domain;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  REQUIRE(pclose(p) == 0);
  std::istringstream lines(out);
  for (const auto& [ip, domain] : cases) {
    std::string reference;
    std::getline(lines, reference);
    Outcome o = F().Check(ip, domain);
    INFO(domain << " " << ip << ": kite " << ResultName(o.result) << " (" << o.reason << "), pyspf "
                << reference);
    CHECK(reference == ResultName(o.result));
  }
}

}  // namespace
}  // namespace kite::spf
