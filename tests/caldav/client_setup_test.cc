// Client setup on kite-caldav's HTTP front (services/caldav/client_setup.h): Thunderbird
// autoconfig, Outlook Autodiscover POX, MTA-STS policy hosting; unknown domains, methods,
// malformed and hostile input; everything XML-escaped. Pure: no server.
#include "caldav/client_setup.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <catch2/catch.hpp>
#include <string>

namespace {

using kite::caldav::ClientSetup;
using kite::caldav::ClientSetupRequest;
using kite::caldav::ClientSetupSettings;

ClientSetupSettings Settings() {
  ClientSetupSettings s;
  s.hostname = "mail.example.test";
  s.local_domains = {"example.test", "second.test"};
  return s;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The document parses as XML (what the client will do).
bool WellFormed(const std::string& xml) {
  xmlDoc* doc = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "x.xml", nullptr,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == nullptr) return false;
  xmlFreeDoc(doc);
  return true;
}

std::string PoxRequest(const std::string& email) {
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n"
         "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\r\n"
         "  <Request>\r\n"
         "    <EMailAddress>" +
         email +
         "</EMailAddress>\r\n"
         "    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/"
         "2006a</AcceptableResponseSchema>\r\n"
         "  </Request>\r\n"
         "</Autodiscover>\r\n";
}

}  // namespace

TEST_CASE("other paths are not client setup's", "[caldav][client_setup]") {
  auto s = Settings();
  for (const char* path : {"/", "/.well-known/caldav", "/calendars/x/", "/mail/config-v1.1.xml/x",
                           "/.well-known/mta-sts.txt.bak", "/autodiscover/autodiscover.json"}) {
    INFO(path);
    CHECK_FALSE(ClientSetup({"GET", path, "", "mail.example.test", ""}, s).has_value());
  }
}

TEST_CASE("Thunderbird autoconfig gives IMAP, POP3, SMTP and CalDAV for a local domain", "[caldav][client_setup]") {
  auto s = Settings();
  for (const char* path : {"/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"}) {
    INFO(path);
    auto a = ClientSetup({"GET", path, "emailaddress=jane.doe%40Example.TEST", "autoconfig.example.test", ""}, s);
    REQUIRE(a.has_value());
    CHECK(a->status == 200);
    CHECK(Contains(a->content_type, "xml"));
    const std::string& b = a->body;
    CHECK(WellFormed(b));
    CHECK(Contains(b, "<clientConfig version=\"1.1\">"));
    CHECK(Contains(b, "<emailProvider id=\"example.test\">"));
    CHECK(Contains(b, "<domain>example.test</domain>"));
    CHECK(Contains(b,
                   "<incomingServer type=\"imap\">\n      <hostname>mail.example.test</hostname>\n      <port>993</port>\n"
                   "      <socketType>SSL</socketType>"));
    CHECK(Contains(b, "<port>143</port>\n      <socketType>STARTTLS</socketType>"));
    CHECK(Contains(b, "<incomingServer type=\"pop3\">"));
    CHECK(Contains(b, "<port>995</port>\n      <socketType>SSL</socketType>"));
    CHECK(Contains(b, "<port>110</port>\n      <socketType>STARTTLS</socketType>"));
    CHECK(Contains(b, "<outgoingServer type=\"smtp\">\n      <hostname>mail.example.test</hostname>\n      "
                      "<port>465</port>\n      <socketType>SSL</socketType>"));
    CHECK(Contains(b, "<port>587</port>\n      <socketType>STARTTLS</socketType>"));
    CHECK(Contains(b, "<username>%EMAILADDRESS%</username>"));
    CHECK(Contains(b, "<authentication>password-cleartext</authentication>"));
    CHECK(Contains(b, "<serverURL>https://mail.example.test:8443/.well-known/caldav</serverURL>"));
    // The user's address is not echoed (the placeholder is): nothing to inject.
    CHECK_FALSE(Contains(b, "jane.doe"));
  }
}

TEST_CASE("autoconfig: the ports configured are the ports announced", "[caldav][client_setup]") {
  auto s = Settings();
  s.imap_port = 10993;
  s.submission_starttls_port = 10587;
  s.https_port = 443;
  auto a = ClientSetup({"GET", "/mail/config-v1.1.xml", "emailaddress=a@second.test", "", ""}, s);
  REQUIRE(a.has_value());
  CHECK(a->status == 200);
  CHECK(Contains(a->body, "<port>10993</port>"));
  CHECK(Contains(a->body, "<port>10587</port>"));
  CHECK(Contains(a->body, "<serverURL>https://mail.example.test/.well-known/caldav</serverURL>"));
  CHECK(Contains(a->body, "<emailProvider id=\"second.test\">"));
}

TEST_CASE("autoconfig without an address takes the domain from the Host", "[caldav][client_setup]") {
  auto s = Settings();
  auto a = ClientSetup({"GET", "/mail/config-v1.1.xml", "", "autoconfig.second.test:8443", ""}, s);
  REQUIRE(a.has_value());
  CHECK(a->status == 200);
  CHECK(Contains(a->body, "<domain>second.test</domain>"));
  a = ClientSetup({"GET", "/mail/config-v1.1.xml", "", "Example.Test.", ""}, s);
  CHECK(a->status == 200);
  a = ClientSetup({"GET", "/mail/config-v1.1.xml", "", "autoconfig.other.test", ""}, s);
  CHECK(a->status == 404);
  a = ClientSetup({"GET", "/mail/config-v1.1.xml", "", "[::1]:8443", ""}, s);
  CHECK(a->status == 404);
}

TEST_CASE("autoconfig refuses unknown domains, bad addresses and other methods", "[caldav][client_setup]") {
  auto s = Settings();
  auto a = ClientSetup({"GET", "/mail/config-v1.1.xml", "emailaddress=bob%40elsewhere.test", "autoconfig.example.test", ""}, s);
  CHECK(a->status == 404);
  for (const char* q : {"emailaddress=bob", "emailaddress=%40example.test", "emailaddress=bob%40",
                        "emailaddress=a%3Cb%3E%40example.test", "emailaddress=a%00%40example.test",
                        "emailaddress=a%4", "emailaddress=a%zz%40example.test"}) {
    INFO(q);
    a = ClientSetup({"GET", "/mail/config-v1.1.xml", q, "autoconfig.example.test", ""}, s);
    CHECK((a->status == 400 || a->status == 404));
    CHECK(a->status != 200);
  }
  a = ClientSetup({"POST", "/mail/config-v1.1.xml", "", "autoconfig.example.test", "x"}, s);
  CHECK(a->status == 405);
  REQUIRE(a->headers.size() == 1);
  CHECK(a->headers[0].first == "Allow");
  a = ClientSetup({"GET", "/mail/config-v1.1.xml", std::string(5000, 'a'), "autoconfig.example.test", ""}, s);
  CHECK(a->status == 414);
}

TEST_CASE("Outlook Autodiscover POX answers a POST with the user's settings", "[caldav][client_setup]") {
  auto s = Settings();
  for (const char* path : {"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"}) {
    INFO(path);
    auto a = ClientSetup({"POST", path, "", "autodiscover.example.test", PoxRequest("Jane@Example.test")}, s);
    REQUIRE(a.has_value());
    CHECK(a->status == 200);
    const std::string& b = a->body;
    CHECK(WellFormed(b));
    CHECK(Contains(b, "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">"));
    CHECK(Contains(b, "<Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">"));
    CHECK(Contains(b, "<AccountType>email</AccountType>"));
    CHECK(Contains(b, "<Action>settings</Action>"));
    CHECK(Contains(b, "<Type>IMAP</Type>\n        <Server>mail.example.test</Server>\n        <Port>993</Port>"));
    CHECK(Contains(b, "<Type>POP3</Type>\n        <Server>mail.example.test</Server>\n        <Port>995</Port>"));
    CHECK(Contains(b, "<Type>SMTP</Type>\n        <Server>mail.example.test</Server>\n        <Port>465</Port>"));
    CHECK(Contains(b, "<LoginName>jane@example.test</LoginName>"));
    CHECK(Contains(b, "<SSL>on</SSL>"));
  }
}

TEST_CASE("Autodiscover: GET is tolerated, unknown domains get 404, bad bodies 400", "[caldav][client_setup]") {
  auto s = Settings();
  auto a = ClientSetup({"GET", "/autodiscover/autodiscover.xml", "emailaddress=x%40second.test", "", ""}, s);
  CHECK(a->status == 200);
  CHECK(Contains(a->body, "<LoginName>x@second.test</LoginName>"));
  a = ClientSetup({"GET", "/autodiscover/autodiscover.xml", "", "autodiscover.example.test", ""}, s);
  CHECK(a->status == 200);
  CHECK_FALSE(Contains(a->body, "<LoginName>"));
  a = ClientSetup({"POST", "/autodiscover/autodiscover.xml", "", "", PoxRequest("x@elsewhere.test")}, s);
  CHECK(a->status == 404);
  a = ClientSetup({"POST", "/autodiscover/autodiscover.xml", "", "", "not xml"}, s);
  CHECK(a->status == 400);
  a = ClientSetup({"POST", "/autodiscover/autodiscover.xml", "", "", "<Autodiscover><Request/></Autodiscover>"}, s);
  CHECK(a->status == 400);
  a = ClientSetup({"POST", "/autodiscover/autodiscover.xml", "", "", PoxRequest("a&amp;b@example.test")}, s);
  CHECK(a->status == 400);  // '&' is not taken into an address
  a = ClientSetup({"POST", "/autodiscover/autodiscover.xml", "", "", std::string(70000, ' ')}, s);
  CHECK(a->status == 413);
  a = ClientSetup({"PUT", "/autodiscover/autodiscover.xml", "", "", ""}, s);
  CHECK(a->status == 405);
}

TEST_CASE("Autodiscover refuses DTDs, entities and non-UTF-8 tricks", "[caldav][client_setup]") {
  using kite::caldav::AutodiscoverEmail;
  CHECK(AutodiscoverEmail(PoxRequest("a@example.test")) == std::optional<std::string>("a@example.test"));
  CHECK(AutodiscoverEmail("<a><EMailAddress>  b@example.test\n</EMailAddress></a>") ==
        std::optional<std::string>("b@example.test"));
  // Billion laughs and external entities never reach the parser.
  std::string laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>"
      "<Autodiscover><Request><EMailAddress>&lol2;@example.test</EMailAddress></Request></Autodiscover>";
  CHECK_FALSE(AutodiscoverEmail(laughs).has_value());
  std::string xxe =
      "<?xml version=\"1.0\"?><!doctype a SYSTEM \"file:///etc/passwd\"><a><EMailAddress>x@example.test</EMailAddress></a>";
  CHECK_FALSE(AutodiscoverEmail(xxe).has_value());
  CHECK_FALSE(AutodiscoverEmail(std::string("<\0a>", 4)).has_value());
  CHECK_FALSE(AutodiscoverEmail("<a><EMailAddress>" + std::string(400, 'x') + "@example.test</EMailAddress></a>")
                  .has_value());
  CHECK_FALSE(AutodiscoverEmail("").has_value());
  CHECK_FALSE(AutodiscoverEmail("<a><b>").has_value());
}

TEST_CASE("MTA-STS policy is served in the RFC 8461 format on mta-sts.<local domain> only", "[caldav][client_setup]") {
  auto s = Settings();
  auto a = ClientSetup({"GET", "/.well-known/mta-sts.txt", "", "mta-sts.example.test", ""}, s);
  REQUIRE(a.has_value());
  CHECK(a->status == 200);
  CHECK(a->content_type == "text/plain");
  CHECK(a->body == "version: STSv1\nmode: testing\nmx: mail.example.test\nmax_age: 604800\n");
  s.mta_sts_mode = "enforce";
  s.mta_sts_mx = {"mx1.example.test", "*.mx.example.test"};
  s.mta_sts_max_age = 86400;
  a = ClientSetup({"HEAD", "/.well-known/mta-sts.txt", "", "MTA-STS.second.test:443", ""}, s);
  CHECK(a->status == 200);
  CHECK(a->body == "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmx: *.mx.example.test\nmax_age: 86400\n");
  for (const char* host : {"mail.example.test", "example.test", "mta-sts.other.test", "mta-sts.", "", "mta-sts.example.test.evil.test"}) {
    INFO(host);
    CHECK(ClientSetup({"GET", "/.well-known/mta-sts.txt", "", host, ""}, s)->status == 404);
  }
  CHECK(ClientSetup({"POST", "/.well-known/mta-sts.txt", "", "mta-sts.example.test", ""}, s)->status == 405);
}

TEST_CASE("everything written into XML is escaped", "[caldav][client_setup]") {
  using kite::caldav::XmlEscape;
  CHECK(XmlEscape("a<b>&\"'c") == "a&lt;b&gt;&amp;&quot;&apos;c");
  CHECK(XmlEscape(std::string("x\x01y\tz", 5)) == "xy\tz");
  auto s = Settings();
  s.hostname = "mail.example.test\"><evil/>";
  auto a = ClientSetup({"GET", "/mail/config-v1.1.xml", "emailaddress=a%40example.test", "", ""}, s);
  CHECK(WellFormed(a->body));
  CHECK_FALSE(Contains(a->body, "<evil/>"));
  a = ClientSetup({"POST", "/autodiscover/autodiscover.xml", "", "", PoxRequest("a@example.test")}, s);
  CHECK(WellFormed(a->body));
  CHECK_FALSE(Contains(a->body, "<evil/>"));
}

TEST_CASE("query parameters are decoded as forms", "[caldav][client_setup]") {
  using kite::caldav::QueryParam;
  CHECK(QueryParam("a=1&emailaddress=x%40y.test&b=2", "emailaddress") == std::optional<std::string>("x@y.test"));
  CHECK(QueryParam("EmailAddress=a+b", "emailaddress") == std::optional<std::string>("a b"));
  CHECK_FALSE(QueryParam("a=1", "emailaddress").has_value());
  CHECK(QueryParam("emailaddress", "emailaddress") == std::optional<std::string>(""));
  CHECK_FALSE(QueryParam("emailaddress=%", "emailaddress").has_value());
}
