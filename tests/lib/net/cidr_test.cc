// CIDR ranges for trusted PROXY sources.
#include "lib/net/cidr.h"

#include <catch2/catch.hpp>

namespace kite::net {
namespace {

TEST_CASE("IPv4 and IPv6 ranges contain what they should", "[net][cidr]") {
  auto loopback = Cidr::Parse("127.0.0.0/8");
  REQUIRE(loopback.ok());
  CHECK(loopback->Contains("127.0.0.1"));
  CHECK(loopback->Contains("127.255.255.255"));
  CHECK_FALSE(loopback->Contains("128.0.0.1"));
  CHECK(loopback->Contains("::ffff:127.0.0.1"));  // what a dual-stack socket reports
  CHECK_FALSE(loopback->Contains("::1"));
  CHECK_FALSE(loopback->Contains("not an address"));

  auto v6 = Cidr::Parse("2001:db8::/32");
  REQUIRE(v6.ok());
  CHECK(v6->Contains("2001:db8:ffff::1"));
  CHECK_FALSE(v6->Contains("2001:db9::1"));
  CHECK_FALSE(v6->Contains("192.0.2.1"));

  auto odd = Cidr::Parse("10.128.0.0/9");
  REQUIRE(odd.ok());
  CHECK(odd->Contains("10.200.1.1"));
  CHECK_FALSE(odd->Contains("10.127.1.1"));

  auto host = Cidr::Parse("::1");
  REQUIRE(host.ok());
  CHECK(host->prefix_length() == 128);
  CHECK(host->ToString() == "::1/128");
  auto all = Cidr::Parse("0.0.0.0/0");
  REQUIRE(all.ok());
  CHECK(all->Contains("203.0.113.5"));
}

TEST_CASE("invalid ranges are refused with the entry named", "[net][cidr]") {
  for (const char* bad : {"10.0.0.1/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "example.test/8", "",
                          "10.0.0.0/08a"}) {
    INFO(bad);
    CHECK_FALSE(Cidr::Parse(bad).ok());
  }
  auto list = ParseCidrList("127.0.0.0/8, ::1/128 10.0.0.1/8");
  REQUIRE_FALSE(list.ok());
  CHECK(std::string(list.status().message()).find("10.0.0.1/8") != std::string::npos);
}

TEST_CASE("a list of ranges", "[net][cidr]") {
  auto list = ParseCidrList(" 127.0.0.0/8,::1/128\t10.0.0.0/8 ");
  REQUIRE(list.ok());
  REQUIRE(list->size() == 3);
  CHECK(AnyContains(*list, "10.1.2.3"));
  CHECK(AnyContains(*list, "::1"));
  CHECK_FALSE(AnyContains(*list, "192.0.2.1"));
  auto empty = ParseCidrList("");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

}  // namespace
}  // namespace kite::net
