#include "lib/smtp/client_keys.h"

#include <catch2/catch.hpp>

namespace kite::smtp {
namespace {

TEST_CASE("Greylisting keys on the client's /24 or /64", "[smtp][policy]") {
  CHECK(GreylistNetwork("192.0.2.77") == "192.0.2.0/24");
  CHECK(GreylistNetwork("::ffff:192.0.2.77") == "192.0.2.0/24");
  CHECK(GreylistNetwork("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
  CHECK(GreylistNetwork("::1") == "::/64");
  CHECK(GreylistNetwork("not an address").empty());
  CHECK(GreylistNetwork("").empty());
}

TEST_CASE("DNSBL query names are the reversed address under the zone", "[smtp][policy]") {
  CHECK(DnsblQueryName("127.0.0.2", "bl.test") == "2.0.0.127.bl.test");
  CHECK(DnsblQueryName("::ffff:10.1.2.3", "bl.test") == "3.2.1.10.bl.test");
  // RFC 5782 2.4's example.
  CHECK(DnsblQueryName("2001:db8:1:2:3:4:567:89ab", "bl.test") ==
        "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test");
  CHECK(DnsblQueryName("bogus", "bl.test").empty());
}

}  // namespace
}  // namespace kite::smtp
