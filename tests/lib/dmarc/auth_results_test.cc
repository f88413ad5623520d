// The Authentication-Results builder and the removal of forged fields (RFC 8601), pure.
#include "lib/dmarc/auth_results.h"

#include <catch2/catch.hpp>

namespace kite::dmarc {
namespace {

TEST_CASE("Values are tokens, addresses or quoted strings", "[dmarc][authres]") {
  CHECK(FormatValue("pass") == "pass");
  CHECK(FormatValue("example.test") == "example.test");
  CHECK(FormatValue("user@example.test") == "user@example.test");
  CHECK(FormatValue("first.last+tag@example.test") == "first.last+tag@example.test");
  CHECK(FormatValue("abc/def+") == "\"abc/def+\"");
  CHECK(FormatValue("a b") == "\"a b\"");
  CHECK(FormatValue("say \"hi\"\\") == "\"say \\\"hi\\\"\\\\\"");
  CHECK(FormatValue("evil\r\nX-Injected: 1") == "\"evilX-Injected: 1\"");
  CHECK(FormatValue("") == "\"\"");
  CHECK(FormatValue("a..b@example.test") == "\"a..b@example.test\"");
}

TEST_CASE("The header lists every method, one per line", "[dmarc][authres]") {
  AuthResults ar;
  ar.authserv_id = "mail.example.test";
  ar.spf = SpfResultInfo{"pass", "alice@sender.test", "client.test", ""};
  ar.dkim_checked = true;
  ar.dkim.push_back({"pass", "sender.test", "s1", "abc/+12=", ""});
  ar.dkim.push_back({"fail", "other.test", "sel", "ZZZZZZZZ", "body hash did not verify"});
  ar.dmarc = DmarcResultInfo{"pass", "sender.test", "reject", ""};
  CHECK(BuildAuthResults(ar) ==
        "Authentication-Results: mail.example.test;\r\n"
        "\tspf=pass smtp.mailfrom=alice@sender.test;\r\n"
        "\tdkim=pass header.d=sender.test header.s=s1 header.b=\"abc/+12=\";\r\n"
        "\tdkim=fail (body hash did not verify) header.d=other.test header.s=sel header.b=ZZZZZZZZ;\r\n"
        "\tdmarc=pass header.from=sender.test policy.dmarc=reject\r\n");
}

TEST_CASE("The null sender is reported by HELO, no signature is dkim=none", "[dmarc][authres]") {
  AuthResults ar;
  ar.authserv_id = "mx.example.test";
  ar.spf = SpfResultInfo{"none", "", "client.test", ""};
  ar.dkim_checked = true;
  CHECK(BuildAuthResults(ar) ==
        "Authentication-Results: mx.example.test;\r\n\tspf=none smtp.helo=client.test;\r\n\tdkim=none\r\n");
  AuthResults empty;
  empty.authserv_id = "mx.example.test";
  CHECK(BuildAuthResults(empty) == "Authentication-Results: mx.example.test; none\r\n");
}

TEST_CASE("Comments cannot break out of their parentheses", "[dmarc][authres]") {
  AuthResults ar;
  ar.authserv_id = "mx.example.test";
  ar.dmarc = DmarcResultInfo{"fail", "x.test", "", "p=reject) evil=(\r\n"};
  CHECK(BuildAuthResults(ar) ==
        "Authentication-Results: mx.example.test;\r\n\tdmarc=fail (p=reject\\) evil=\\() header.from=x.test\r\n");
}

TEST_CASE("The authserv-id is read past comments and quotes", "[dmarc][authres]") {
  CHECK(AuthservId(" mail.example.test; spf=pass") == "mail.example.test");
  CHECK(AuthservId(" (c (nested)) mail.example.test/1 ; none") == "mail.example.test");
  CHECK(AuthservId(" \"mail.example.test\"; none") == "mail.example.test");
  CHECK(AuthservId("\r\n\tmail.example.test;") == "mail.example.test");
  CHECK(AuthservId(" (unterminated") == "");
  CHECK(AuthservId("") == "");
}

TEST_CASE("Forged fields with our authserv-id are removed, others kept", "[dmarc][authres]") {
  std::string msg =
      "Received: from x\r\n"
      "Authentication-Results: MAIL.example.test;\r\n"
      "\tdkim=pass header.d=bank.test\r\n"
      "authentication-results : (forged) \"mail.example.test\"; spf=pass\r\n"
      "Authentication-Results: relay.other.test; spf=fail\r\n"
      "Subject: hello\r\n"
      "\r\n"
      "Authentication-Results: mail.example.test; in the body stays\r\n";
  int removed = 0;
  std::string out = RemoveOwnAuthResults(msg, "mail.example.test", &removed);
  CHECK(removed == 2);
  CHECK(out ==
        "Received: from x\r\n"
        "Authentication-Results: relay.other.test; spf=fail\r\n"
        "Subject: hello\r\n"
        "\r\n"
        "Authentication-Results: mail.example.test; in the body stays\r\n");
  // Not a prefix match: mail.example.test.evil is somebody else.
  std::string other = "Authentication-Results: mail.example.test.evil; none\r\n\r\nx";
  CHECK(RemoveOwnAuthResults(other, "mail.example.test") == other);
  // A message without a body separator, and one with LF line ends.
  CHECK(RemoveOwnAuthResults("Authentication-Results: mail.example.test; none", "mail.example.test").empty());
  CHECK(RemoveOwnAuthResults("Authentication-Results: mail.example.test; x\n\tmore\nA: b\n\nbody", "mail.example.test") ==
        "A: b\n\nbody");
}

}  // namespace
}  // namespace kite::dmarc
