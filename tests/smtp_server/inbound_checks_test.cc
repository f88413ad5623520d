// InboundChecks (SPF + DKIM + DMARC -> Authentication-Results and a verdict) over a real
// dnsmasq on loopback; DKIM signatures themselves are covered by dkim_test and the e2e test.
#include "smtp_server/inbound_checks.h"

#include <catch2/catch.hpp>

#include "fixtures/dnsmasq.h"
#include "lib/dns/cares_resolver.h"

namespace kite::smtp_server {
namespace {

using kite::testing::Dnsmasq;

std::string Txt(std::string_view name, std::string_view value) {
  return "txt-record=" + std::string(name) + ",\"" + std::string(value) + "\"";
}

Dnsmasq& Dns() {
  static Dnsmasq dns({
      Txt("rej.test", "v=spf1 ip4:192.0.2.1 -all"),
      Txt("_dmarc.rej.test", "v=DMARC1; p=reject"),
      Txt("quar.test", "v=spf1 ip4:192.0.2.1 -all"),
      Txt("_dmarc.quar.test", "v=DMARC1; p=quarantine"),
      Txt("pct.test", "v=spf1 ip4:192.0.2.1 -all"),
      Txt("_dmarc.pct.test", "v=DMARC1; p=reject; pct=50"),
      Txt("ok.test", "v=spf1 ip4:127.0.0.0/8 -all"),
      Txt("_dmarc.ok.test", "v=DMARC1; p=reject"),
  });
  return dns;
}

std::unique_ptr<InboundChecks> Make(DmarcEnforcement enforcement, int random = 0, bool all = true) {
  InboundOptions o;
  o.authserv_id = "mx.example.test";
  o.enforcement = enforcement;
  o.spf = o.dkim = o.dmarc = all;
  dns::ResolverOptions ro;
  ro.servers = {Dns().server()};
  ro.timeout = std::chrono::milliseconds(500);
  ro.tries = 1;
  auto resolver = dns::CaresResolver::Create(ro);
  REQUIRE(resolver.ok());
  auto psl = dmarc::PublicSuffixList::Parse("test\nexample\n");
  REQUIRE(psl.ok());
  return std::make_unique<InboundChecks>(std::move(o), std::move(*resolver), std::move(*psl), nullptr,
                                         [random] { return random; });
}

std::string Message(std::string_view from, std::string_view extra = "") {
  return std::string("From: <") + std::string(from) + ">\r\nTo: <u@example.test>\r\nSubject: t\r\n" +
         std::string(extra) + "\r\nbody\r\n";
}

InboundVerdict Run(InboundChecks& c, std::string_view mail_from, std::string& msg, std::string helo = "client.test") {
  return c.Check(InboundRequest{"127.0.0.1", std::move(helo), std::string(mail_from), "T"}, msg);
}

TEST_CASE("DMARC p=reject failure is refused under full enforcement", "[smtp][mailauth]") {
  auto c = Make(DmarcEnforcement::kFull);
  std::string msg = Message("a@rej.test");
  std::string before = msg;
  auto v = Run(*c, "a@rej.test", msg);
  CHECK(v.reject);
  CHECK_FALSE(v.quarantine);
  CHECK(v.reject_text.find("DMARC") != std::string::npos);
  CHECK(v.spf == "fail");
  CHECK(v.dmarc == "fail");
  CHECK(msg == before);  // nothing prepended to a refused message
  CHECK(v.header.find("dmarc=fail (p=reject dis=reject) header.from=rej.test policy.dmarc=reject") != std::string::npos);
}

TEST_CASE("DMARC p=quarantine failure is quarantined, a pass is neither", "[smtp][mailauth]") {
  auto c = Make(DmarcEnforcement::kFull);
  std::string q = Message("a@quar.test");
  auto v = Run(*c, "a@quar.test", q);
  CHECK_FALSE(v.reject);
  CHECK(v.quarantine);
  CHECK(q.rfind("Authentication-Results: mx.example.test;\r\n\tspf=fail", 0) == 0);
  std::string ok = Message("a@ok.test");
  v = Run(*c, "a@ok.test", ok);
  CHECK_FALSE(v.reject);
  CHECK_FALSE(v.quarantine);
  CHECK(v.spf == "pass");
  CHECK(v.dkim == "none");
  CHECK(v.dmarc == "pass");
  CHECK(ok ==
        "Authentication-Results: mx.example.test;\r\n\tspf=pass smtp.mailfrom=a@ok.test;\r\n\tdkim=none;\r\n"
        "\tdmarc=pass header.from=ok.test policy.dmarc=reject\r\n" +
            Message("a@ok.test"));
}

TEST_CASE("Enforcement quarantine files reject failures into Junk, none only reports", "[smtp][mailauth]") {
  std::string msg = Message("a@rej.test");
  auto v = Run(*Make(DmarcEnforcement::kQuarantine), "a@rej.test", msg);
  CHECK_FALSE(v.reject);
  CHECK(v.quarantine);
  msg = Message("a@rej.test");
  v = Run(*Make(DmarcEnforcement::kNone), "a@rej.test", msg);
  CHECK_FALSE(v.reject);
  CHECK_FALSE(v.quarantine);
  CHECK(v.dmarc == "fail");
}

TEST_CASE("pct outside the sample weakens reject to quarantine", "[smtp][mailauth]") {
  std::string msg = Message("a@pct.test");
  auto in = Run(*Make(DmarcEnforcement::kFull, 10), "a@pct.test", msg);
  CHECK(in.reject);
  msg = Message("a@pct.test");
  auto out = Run(*Make(DmarcEnforcement::kFull, 99), "a@pct.test", msg);
  CHECK_FALSE(out.reject);
  CHECK(out.quarantine);
  CHECK(out.header.find("pct-sampled-out") != std::string::npos);
}

TEST_CASE("Our own Authentication-Results are removed from the message", "[smtp][mailauth]") {
  auto c = Make(DmarcEnforcement::kFull);
  std::string msg = Message("a@ok.test",
                            "Authentication-Results: MX.example.test; dkim=pass header.d=bank.test\r\n"
                            "Authentication-Results: other.test; spf=pass\r\n");
  auto v = Run(*c, "a@ok.test", msg);
  CHECK(v.forged_removed == 1);
  CHECK(msg.find("bank.test") == std::string::npos);
  CHECK(msg.find("Authentication-Results: other.test; spf=pass\r\n") != std::string::npos);
}

TEST_CASE("The null sender is checked by HELO and aligns through it", "[smtp][mailauth]") {
  auto c = Make(DmarcEnforcement::kFull);
  std::string msg = Message("a@ok.test");
  auto v = Run(*c, "", msg, "ok.test");
  CHECK(v.spf == "pass");
  CHECK(v.dmarc == "pass");
  CHECK(v.header.find("spf=pass smtp.helo=ok.test") != std::string::npos);
}

TEST_CASE("Several From domains or none give dmarc=permerror, never a refusal", "[smtp][mailauth]") {
  auto c = Make(DmarcEnforcement::kFull);
  std::string two = "From: a@rej.test, b@ok.test\r\nSubject: x\r\n\r\nbody\r\n";
  auto v = Run(*c, "a@rej.test", two);
  CHECK(v.dmarc == "permerror");
  CHECK_FALSE(v.reject);
  std::string none = "Subject: x\r\n\r\nbody\r\n";
  v = Run(*c, "a@rej.test", none);
  CHECK(v.dmarc == "permerror");
  CHECK_FALSE(v.reject);
}

TEST_CASE("DNS failures give temperror and never refuse", "[smtp][mailauth]") {
  auto c = Make(DmarcEnforcement::kFull);
  std::string msg = Message("a@outside.example");
  auto v = Run(*c, "a@outside.example", msg);
  CHECK(v.spf == "temperror");
  CHECK(v.dmarc == "temperror");
  CHECK_FALSE(v.reject);
  CHECK_FALSE(v.quarantine);
}

TEST_CASE("With every check off the header says none", "[smtp][mailauth]") {
  std::string msg = Message("a@rej.test");
  auto v = Run(*Make(DmarcEnforcement::kFull, 0, false), "a@rej.test", msg);
  CHECK_FALSE(v.reject);
  CHECK(v.header == "Authentication-Results: mx.example.test; none\r\n");
}

}  // namespace
}  // namespace kite::smtp_server
