// MTA-STS (RFC 8461) parsing: the _mta-sts TXT record, the policy file, MX matching.
#include <catch2/catch.hpp>

#include "mta/relay/mta_sts.h"

using namespace kite::relay;

TEST_CASE("The _mta-sts TXT record gives the policy id", "[relay][mta-sts]") {
  CHECK(ParseStsTxt("v=STSv1; id=20160831085700Z;").value() == "20160831085700Z");
  CHECK(ParseStsTxt("v=STSv1;id=abc").value() == "abc");
  CHECK(absl::IsNotFound(ParseStsTxt("v=spf1 -all").status()));
  CHECK(absl::IsInvalidArgument(ParseStsTxt("v=STSv1; id=").status()));
  CHECK(absl::IsInvalidArgument(ParseStsTxt("v=STSv1; id=has-dash").status()));
  CHECK(absl::IsInvalidArgument(ParseStsTxt("v=STSv1; id=" + std::string(33, 'a')).status()));
  CHECK(absl::IsInvalidArgument(ParseStsTxt("v=STSv1; noequals").status()));
  CHECK(StsIdFromRecords({"v=spf1 -all", "v=STSv1; id=1"}).value() == "1");
  CHECK(absl::IsNotFound(StsIdFromRecords({"v=STSv1; id=1", "v=STSv1; id=2"}).status()));
  CHECK(absl::IsNotFound(StsIdFromRecords({}).status()));
}

TEST_CASE("A policy file is parsed with LF or CRLF lines", "[relay][mta-sts]") {
  auto p = ParseStsPolicy("version: STSv1\r\nmode: enforce\r\nmx: MAIL.example.com.\r\nmx: *.example.net\r\nmax_age: 604800\r\nfuture: x\r\n");
  REQUIRE(p.ok());
  CHECK(p->mode == StsPolicy::Mode::kEnforce);
  CHECK(p->max_age == 604800);
  CHECK(p->mx == std::vector<std::string>{"mail.example.com", "*.example.net"});
  CHECK(StsMxMatches(*p, "mail.example.com"));
  CHECK(StsMxMatches(*p, "Mail.Example.Com."));
  CHECK(StsMxMatches(*p, "mx1.example.net"));
  CHECK_FALSE(StsMxMatches(*p, "example.net"));
  CHECK_FALSE(StsMxMatches(*p, "a.b.example.net"));
  CHECK_FALSE(StsMxMatches(*p, "evil.com"));

  auto none = ParseStsPolicy("version: STSv1\nmode: none\nmax_age: 86400\n");
  REQUIRE(none.ok());
  CHECK(none->mode == StsPolicy::Mode::kNone);
  CHECK(ParseStsPolicy("version: STSv1\nmode: testing\nmx: a.test\nmax_age: 99999999999\n").status().code() ==
        absl::StatusCode::kInvalidArgument);  // more than 10 digits
  CHECK(ParseStsPolicy("version: STSv1\nmode: testing\nmx: a.test\nmax_age: 999999999\n")->max_age == kMaxPolicyAge);
}

TEST_CASE("Broken policies are refused", "[relay][mta-sts]") {
  CHECK_FALSE(ParseStsPolicy("").ok());
  CHECK_FALSE(ParseStsPolicy("version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n").ok());
  CHECK_FALSE(ParseStsPolicy("version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n").ok());
  CHECK_FALSE(ParseStsPolicy("version: STSv1\nmode: enforce\nmax_age: 1\n").ok());  // no mx
  CHECK_FALSE(ParseStsPolicy("version: STSv1\nmode: enforce\nmx: a.test\n").ok());  // no max_age
  CHECK_FALSE(ParseStsPolicy("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n").ok());
  CHECK_FALSE(ParseStsPolicy("version: STSv1\ngarbage line\n").ok());
  CHECK_FALSE(ParseStsPolicy(std::string(kMaxPolicySize + 1, 'a')).ok());
}

TEST_CASE("The policy comes only from a 200 text/plain HTTP response", "[relay][mta-sts]") {
  std::string body = "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n";
  auto ok = StsBodyFromHttpResponse("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
                                    std::to_string(body.size()) + "\r\n\r\n" + body);
  REQUIRE(ok.ok());
  CHECK(*ok == body);
  // Close-delimited and chunked bodies.
  CHECK(StsBodyFromHttpResponse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" + body).value() == body);
  CHECK(StsBodyFromHttpResponse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "5\r\nhello\r\n0\r\n\r\n").value() == "hello");
  CHECK(absl::IsNotFound(StsBodyFromHttpResponse("HTTP/1.1 301 Moved\r\nLocation: https://x.test/\r\nContent-Length: 0\r\n\r\n").status()));
  CHECK_FALSE(StsBodyFromHttpResponse("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi").ok());
  CHECK_FALSE(StsBodyFromHttpResponse("garbage").ok());
  CHECK_FALSE(StsBodyFromHttpResponse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\nx").ok());
  CHECK_FALSE(StsBodyFromHttpResponse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nshort").ok());
}

TEST_CASE("An empty or header-only HTTP answer is refused, not asserted on", "[relay][mta-sts]") {
  CHECK_FALSE(StsBodyFromHttpResponse("").ok());
  CHECK_FALSE(StsBodyFromHttpResponse("HTTP/1.1 200 OK\r\nContent-Type: text/pl").ok());
}
