// The outbound relay's pure decisions: MX ordering, EHLO keywords, backoff, NOTIFY,
// dot-stuffing and xtext, and the RFC 3464 report builder.
#include <catch2/catch.hpp>

#include "mta/relay/dsn.h"
#include "mta/relay/plan.h"

using kite::dns::MxRecord;
using namespace kite::relay;

TEST_CASE("MX hosts are tried lowest preference first, duplicates once", "[relay][plan]") {
  Route r = PlanRoute("dest.test", {{20, "mx2.dest.test."}, {10, "MX1.dest.test"}, {20, "mx3.dest.test"}, {30, "mx1.dest.test"}},
                      false);
  CHECK_FALSE(r.null_mx);
  CHECK_FALSE(r.implicit);
  CHECK(r.hosts == std::vector<std::string>{"mx1.dest.test", "mx2.dest.test", "mx3.dest.test"});
}

TEST_CASE("No MX records means the domain itself (implicit MX)", "[relay][plan]") {
  Route r = PlanRoute("Implicit.TEST.", {}, true);
  CHECK(r.implicit);
  CHECK(r.hosts == std::vector<std::string>{"implicit.test"});
}

TEST_CASE("A lone MX of \".\" is a null MX (RFC 7505); mixed with real ones it is ignored", "[relay][plan]") {
  CHECK(PlanRoute("none.test", {{0, ""}}, false).null_mx);
  CHECK(PlanRoute("none.test", {{0, "."}}, false).null_mx);
  Route mixed = PlanRoute("mixed.test", {{0, ""}, {10, "mx.mixed.test"}}, false);
  CHECK_FALSE(mixed.null_mx);
  CHECK(mixed.hosts == std::vector<std::string>{"mx.mixed.test"});
}

TEST_CASE("EHLO keywords are read case-insensitively", "[relay][plan]") {
  Capabilities c = ParseEhlo({"mx.dest.test greets you", "pipelining", "SIZE 1000", "STARTTLS", "DSN", "8BITMIME",
                              "SMTPUTF8", "AUTH PLAIN login", "AUTH=CRAM-MD5"});
  CHECK(c.starttls);
  CHECK(c.dsn);
  CHECK(c.pipelining);
  CHECK(c.eightbitmime);
  CHECK(c.smtputf8);
  CHECK(c.has_size);
  CHECK(c.size == 1000);
  CHECK(c.auth == std::vector<std::string>{"PLAIN", "LOGIN", "CRAM-MD5"});
  Capabilities bare = ParseEhlo({"mx.dest.test", "SIZE"});
  CHECK(bare.has_size);
  CHECK(bare.size == 0);
  CHECK_FALSE(bare.starttls);
  CHECK_FALSE(ParseEhlo({"STARTTLS only on the greeting line"}).starttls);
}

TEST_CASE("Backoff follows the schedule and repeats its last step", "[relay][plan]") {
  using std::chrono::seconds;
  std::vector<seconds> s = {seconds(60), seconds(600), seconds(3600)};
  CHECK(Backoff(1, s) == seconds(60));
  CHECK(Backoff(2, s) == seconds(600));
  CHECK(Backoff(3, s) == seconds(3600));
  CHECK(Backoff(50, s) == seconds(3600));
  CHECK(Backoff(0, s) == seconds(60));
  CHECK(Backoff(3, {}) == seconds(300));
}

TEST_CASE("NOTIFY decides which reports go out", "[relay][plan][dsn]") {
  CHECK(NotifyAllows("", "FAILURE"));
  CHECK(NotifyAllows("", "DELAY"));
  CHECK_FALSE(NotifyAllows("", "SUCCESS"));
  CHECK_FALSE(NotifyAllows("NEVER", "FAILURE"));
  CHECK_FALSE(NotifyAllows("NEVER", "DELAY"));
  CHECK(NotifyAllows("SUCCESS,FAILURE", "FAILURE"));
  CHECK_FALSE(NotifyAllows("SUCCESS,FAILURE", "DELAY"));
  CHECK(NotifyAllows("DELAY", "DELAY"));
  CHECK_FALSE(NotifyAllows("DELAY", "FAILURE"));
}

TEST_CASE("DATA content is dot-stuffed and CRLF-terminated", "[relay][plan]") {
  CHECK(DotStuff("a\r\n.b\r\n..c\r\n") == "a\r\n..b\r\n...c\r\n.\r\n");
  CHECK(DotStuff(".first") == "..first\r\n.\r\n");
  CHECK(DotStuff("bare\nlf\n") == "bare\r\nlf\r\n.\r\n");
  CHECK(DotStuff("") == ".\r\n");
  CHECK(DotStuff("x\r\n.\r\ny\r\n") == "x\r\n..\r\ny\r\n.\r\n");
}

TEST_CASE("xtext encodes '+', '=', controls and non-ASCII", "[relay][plan]") {
  CHECK(EncodeXtext("abc") == "abc");
  CHECK(EncodeXtext("a+b=c d") == "a+2Bb+3Dc+20d");
  CHECK(EncodeXtext("\xc3\xa9") == "+C3+A9");
  CHECK(DomainOf("User@Dest.TEST") == "dest.test");
  CHECK(DomainOf("postmaster") == "");
}

namespace {
DsnInput Input() {
  DsnInput in;
  in.reporting_mta = "mail.example.test";
  in.to = "sender@example.test";
  in.envid = "env-1";
  in.message_id = "dsn.1.abc@mail.example.test";
  in.boundary = "1.abc/mail.example.test";
  in.arrival = absl::FromUnixSeconds(1700000000);
  in.now = absl::FromUnixSeconds(1700003600);
  in.original = "From: sender@example.test\r\nSubject: hello\r\n\r\nthe body\r\n";
  DsnRecipient r;
  r.final_recipient = "user@dest.test";
  r.original_recipient = "rfc822;User@Dest.test";
  r.action = "failed";
  r.status = "5.1.1";
  r.diagnostic = "550 5.1.1 No such user";
  r.remote_mta = "mx1.dest.test";
  r.last_attempt = in.now;
  in.recipients.push_back(r);
  return in;
}
}  // namespace

TEST_CASE("A failure report is a multipart/report with the RFC 3464 fields and the message", "[relay][dsn]") {
  std::string m = BuildDsn(Input());
  CHECK_THAT(m, Catch::StartsWith("From: Mail Delivery System <MAILER-DAEMON@mail.example.test>\r\n"));
  CHECK_THAT(m, Catch::Contains("To: <sender@example.test>\r\n"));
  CHECK_THAT(m, Catch::Contains("Auto-Submitted: auto-replied\r\n"));
  CHECK_THAT(m, Catch::Contains("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"1.abc/mail.example.test\""));
  CHECK_THAT(m, Catch::Contains("Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.example.test\r\n"
                                "Original-Envelope-Id: env-1\r\nArrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\n"
                                "Original-Recipient: rfc822;User@Dest.test\r\nFinal-Recipient: rfc822;user@dest.test\r\n"
                                "Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx1.dest.test\r\n"
                                "Diagnostic-Code: smtp; 550 5.1.1 No such user\r\n"
                                "Last-Attempt-Date: Tue, 14 Nov 2023 23:13:20 +0000\r\n"));
  CHECK_THAT(m, Catch::Contains("Content-Type: message/rfc822\r\n\r\nFrom: sender@example.test\r\nSubject: hello\r\n\r\nthe body\r\n"));
  CHECK_THAT(m, Catch::EndsWith("\r\n--1.abc/mail.example.test--\r\n"));
  // Every line ends in CRLF.
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') REQUIRE((i > 0 && m[i - 1] == '\r'));
  }
}

TEST_CASE("RET=HDRS returns only the header; delay warnings too unless RET=FULL", "[relay][dsn]") {
  DsnInput in = Input();
  in.ret = "HDRS";
  std::string m = BuildDsn(in);
  CHECK_THAT(m, Catch::Contains("Content-Type: text/rfc822-headers\r\n\r\nFrom: sender@example.test\r\nSubject: hello\r\n\r\n"));
  CHECK_THAT(m, !Catch::Contains("the body"));

  DsnInput delay = Input();
  delay.recipients[0].action = "delayed";
  delay.recipients[0].status = "4.4.1";
  delay.recipients[0].will_retry_until = absl::FromUnixSeconds(1700432000);
  std::string d = BuildDsn(delay);
  CHECK_THAT(d, Catch::Contains("Subject: Delayed Mail (still being retried)\r\n"));
  CHECK_THAT(d, Catch::Contains("Action: delayed\r\nStatus: 4.4.1\r\n"));
  CHECK_THAT(d, Catch::Contains("Will-Retry-Until: "));
  CHECK_THAT(d, !Catch::Contains("the body"));
  delay.ret = "FULL";
  CHECK_THAT(BuildDsn(delay), Catch::Contains("the body"));
}

TEST_CASE("Remote reply text cannot inject fields, and the boundary avoids the message", "[relay][dsn]") {
  DsnInput in = Input();
  in.recipients[0].diagnostic = "550 nope\r\nX-Injected: yes";
  in.original = "Subject: x\r\n\r\n--1.abc/mail.example.test--\r\n";
  std::string m = BuildDsn(in);
  CHECK_THAT(m, Catch::Contains("Diagnostic-Code: smtp; 550 nope  X-Injected: yes\r\n"));
  CHECK_THAT(m, !Catch::Contains("\r\nX-Injected"));
  CHECK_THAT(m, Catch::Contains("boundary=\"1.abc/mail.example.test=_\""));
  CHECK_THAT(m, Catch::EndsWith("--1.abc/mail.example.test=_--\r\n"));
}

TEST_CASE("Big messages are returned as headers only; status falls back to the reply class", "[relay][dsn]") {
  DsnInput in = Input();
  in.max_returned = 10;
  CHECK_THAT(BuildDsn(in), Catch::Contains("text/rfc822-headers"));
  CHECK(StatusFromReply(550, "5.7.1") == "5.7.1");
  CHECK(StatusFromReply(550, "") == "5.0.0");
  CHECK(StatusFromReply(451, "5.7.1") == "4.0.0");
  CHECK(StatusFromReply(421, "4.4.2") == "4.4.2");
  CHECK(std::string(HeaderOf("A: b\r\n\r\nbody")) == "A: b\r\n\r\n");
}
