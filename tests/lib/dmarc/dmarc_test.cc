// DMARC alignment and policy (pure), and discovery against a real dnsmasq on loopback.
#include "lib/dmarc/dmarc.h"

#include <catch2/catch.hpp>

#include "fixtures/dnsmasq.h"
#include "lib/dns/cares_resolver.h"

namespace kite::dmarc {
namespace {

using kite::testing::Dnsmasq;

const PublicSuffixList& Psl() {
  static const PublicSuffixList psl = *PublicSuffixList::Parse("test\ncom\nco.uk\nexample\n");
  return psl;
}

Random Fixed(int v) {
  return [v] { return v; };
}

Input In(std::string from, std::string spf_domain, AuthState spf, std::vector<DkimIdentity> dkim = {}) {
  return Input{std::move(from), std::move(spf_domain), spf, std::move(dkim)};
}

TEST_CASE("Relaxed alignment compares organisational domains, strict the exact ones", "[dmarc][align]") {
  CHECK(Aligned("mail.example.test", "example.test", Alignment::kRelaxed, Psl()));
  CHECK(Aligned("a.example.test", "b.example.test", Alignment::kRelaxed, Psl()));
  CHECK_FALSE(Aligned("example.test", "other.test", Alignment::kRelaxed, Psl()));
  CHECK_FALSE(Aligned("mail.example.test", "example.test", Alignment::kStrict, Psl()));
  CHECK(Aligned("Example.TEST", "example.test.", Alignment::kStrict, Psl()));
  CHECK_FALSE(Aligned("", "example.test", Alignment::kRelaxed, Psl()));
  CHECK_FALSE(Aligned("a.co.uk", "b.co.uk", Alignment::kRelaxed, Psl()));
}

TEST_CASE("An aligned SPF or DKIM pass is a DMARC pass", "[dmarc][policy]") {
  Record rec = *ParseRecord("v=DMARC1; p=reject");
  auto o = Apply(In("example.test", "bounce.example.test", AuthState::kPass), rec, false, Psl(), Fixed(0));
  CHECK(o.result == Result::kPass);
  CHECK(o.spf_aligned);
  CHECK(o.disposition == Disposition::kNone);
  o = Apply(In("example.test", "other.test", AuthState::kPass, {{"other.test", AuthState::kPass}, {"example.test", AuthState::kPass}}),
            rec, false, Psl(), Fixed(0));
  CHECK(o.result == Result::kPass);
  CHECK(o.dkim_aligned);
  CHECK_FALSE(o.spf_aligned);
}

TEST_CASE("Strict alignment modes are honoured", "[dmarc][policy]") {
  Record rec = *ParseRecord("v=DMARC1; p=reject; aspf=s; adkim=s");
  auto o = Apply(In("example.test", "bounce.example.test", AuthState::kPass, {{"mail.example.test", AuthState::kPass}}),
                 rec, false, Psl(), Fixed(0));
  CHECK(o.result == Result::kFail);
  CHECK(o.disposition == Disposition::kReject);
  CHECK(o.policy == Policy::kReject);
}

TEST_CASE("A failed or unaligned check fails and gets the policy", "[dmarc][policy]") {
  Record q = *ParseRecord("v=DMARC1; p=quarantine");
  auto o = Apply(In("example.test", "example.test", AuthState::kFail, {{"example.test", AuthState::kFail}}), q, false,
                 Psl(), Fixed(0));
  CHECK(o.result == Result::kFail);
  CHECK(o.disposition == Disposition::kQuarantine);
  Record none = *ParseRecord("v=DMARC1; p=none");
  o = Apply(In("example.test", "other.test", AuthState::kPass), none, false, Psl(), Fixed(0));
  CHECK(o.result == Result::kFail);
  CHECK(o.disposition == Disposition::kNone);
}

TEST_CASE("A temporary error of an aligned identifier is temperror, not fail", "[dmarc][policy]") {
  Record rec = *ParseRecord("v=DMARC1; p=reject");
  auto o = Apply(In("example.test", "example.test", AuthState::kTempError), rec, false, Psl(), Fixed(0));
  CHECK(o.result == Result::kTempError);
  CHECK(o.disposition == Disposition::kNone);
  o = Apply(In("example.test", "other.test", AuthState::kTempError, {{"example.test", AuthState::kTempError}}), rec,
            false, Psl(), Fixed(0));
  CHECK(o.result == Result::kTempError);
  // An unaligned temporary error does not save the message.
  o = Apply(In("example.test", "other.test", AuthState::kTempError), rec, false, Psl(), Fixed(0));
  CHECK(o.result == Result::kFail);
}

TEST_CASE("sp applies to subdomains found through the organisational domain", "[dmarc][policy]") {
  Record rec = *ParseRecord("v=DMARC1; p=reject; sp=quarantine");
  auto in = In("sub.example.test", "x.test", AuthState::kFail);
  CHECK(Apply(in, rec, true, Psl(), Fixed(0)).disposition == Disposition::kQuarantine);
  CHECK(Apply(in, rec, false, Psl(), Fixed(0)).disposition == Disposition::kReject);
  Record nosp = *ParseRecord("v=DMARC1; p=reject");
  CHECK(Apply(in, nosp, true, Psl(), Fixed(0)).disposition == Disposition::kReject);
}

TEST_CASE("pct samples with the injected random source, the rest gets the next weaker policy", "[dmarc][policy]") {
  Record rec = *ParseRecord("v=DMARC1; p=reject; pct=30");
  auto in = In("example.test", "x.test", AuthState::kFail);
  auto in_sample = Apply(in, rec, false, Psl(), Fixed(29));
  CHECK(in_sample.disposition == Disposition::kReject);
  CHECK_FALSE(in_sample.sampled_out);
  auto out = Apply(in, rec, false, Psl(), Fixed(30));
  CHECK(out.disposition == Disposition::kQuarantine);
  CHECK(out.sampled_out);
  CHECK(out.result == Result::kFail);
  Record q = *ParseRecord("v=DMARC1; p=quarantine; pct=0");
  CHECK(Apply(in, q, false, Psl(), Fixed(0)).disposition == Disposition::kNone);
  // The default source stays within [0, 100).
  Random r = DefaultRandom();
  for (int i = 0; i < 1000; ++i) {
    int v = r();
    REQUIRE(v >= 0);
    REQUIRE(v < 100);
  }
}

std::string Txt(std::string_view name, std::string_view value) {
  return "txt-record=" + std::string(name) + ",\"" + std::string(value) + "\"";
}

struct Fixture {
  Fixture()
      : dns_({
            Txt("_dmarc.reject.test", "v=DMARC1; p=reject"),
            Txt("_dmarc.quar.test", "v=DMARC1; p=quarantine; sp=none"),
            Txt("_dmarc.sub.quar.test", "v=DMARC1; p=reject"),
            Txt("_dmarc.two.test", "v=DMARC1; p=none"),
            Txt("_dmarc.two.test", "v=DMARC1; p=reject"),
            Txt("_dmarc.bad.test", "v=DMARC1; p=whatever"),
            Txt("_dmarc.other.test", "v=spf1 -all"),
            Txt("_dmarc.mixed.test", "some text"),
            Txt("_dmarc.mixed.test", "v=DMARC1; p=quarantine"),
        }) {
    dns::ResolverOptions o;
    o.servers = {dns_.server()};
    o.timeout = std::chrono::milliseconds(500);
    o.tries = 1;
    resolver_ = *dns::CaresResolver::Create(o);
  }
  Dnsmasq dns_;
  std::unique_ptr<dns::CaresResolver> resolver_;
};

Fixture& F() {
  static Fixture f;
  return f;
}

TEST_CASE("Discovery uses the From domain's record first", "[dmarc][dns]") {
  auto o = Evaluate(In("reject.test", "reject.test", AuthState::kFail), *F().resolver_, Psl(), Fixed(0));
  CHECK(o.result == Result::kFail);
  CHECK(o.disposition == Disposition::kReject);
  CHECK(o.record_domain == "reject.test");
  auto sub = Evaluate(In("sub.quar.test", "x.test", AuthState::kFail), *F().resolver_, Psl(), Fixed(0));
  CHECK(sub.record_domain == "sub.quar.test");
  CHECK(sub.policy == Policy::kReject);
  CHECK(sub.disposition == Disposition::kReject);
}

TEST_CASE("Discovery falls back to the organisational domain, where sp applies", "[dmarc][dns]") {
  auto o = Evaluate(In("a.b.quar.test", "x.test", AuthState::kFail), *F().resolver_, Psl(), Fixed(0));
  CHECK(o.record_domain == "quar.test");
  CHECK(o.org_domain == "quar.test");
  CHECK(o.policy == Policy::kNone);
  CHECK(o.result == Result::kFail);
  CHECK(o.disposition == Disposition::kNone);
  auto r = Evaluate(In("mail.reject.test", "mail.reject.test", AuthState::kPass), *F().resolver_, Psl(), Fixed(0));
  CHECK(r.result == Result::kPass);
  CHECK(r.record_domain == "reject.test");
}

TEST_CASE("No record, several records, bad records and DNS failures", "[dmarc][dns]") {
  auto none = Evaluate(In("nothing.test", "nothing.test", AuthState::kFail), *F().resolver_, Psl(), Fixed(0));
  CHECK(none.result == Result::kNone);
  CHECK(none.disposition == Disposition::kNone);
  CHECK(Evaluate(In("other.test", "x.test", AuthState::kFail), *F().resolver_, Psl(), Fixed(0)).result == Result::kNone);
  CHECK(Evaluate(In("two.test", "x.test", AuthState::kFail), *F().resolver_, Psl(), Fixed(0)).result ==
        Result::kPermError);
  CHECK(Evaluate(In("bad.test", "x.test", AuthState::kFail), *F().resolver_, Psl(), Fixed(0)).result ==
        Result::kPermError);
  auto mixed = Evaluate(In("mixed.test", "x.test", AuthState::kFail), *F().resolver_, Psl(), Fixed(0));
  CHECK(mixed.result == Result::kFail);
  CHECK(mixed.disposition == Disposition::kQuarantine);
  // dnsmasq refuses names outside .test: a temporary error, never a failure.
  auto temp = Evaluate(In("outside.example", "x.test", AuthState::kFail), *F().resolver_, Psl(), Fixed(0));
  CHECK(temp.result == Result::kTempError);
  CHECK(temp.disposition == Disposition::kNone);
  CHECK(Evaluate(In("", "x.test", AuthState::kFail), *F().resolver_, Psl(), Fixed(0)).result == Result::kPermError);
}

}  // namespace
}  // namespace kite::dmarc
