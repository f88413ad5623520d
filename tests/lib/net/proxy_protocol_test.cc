// PROXY protocol parser: whole headers, headers fed one byte at a time, and hostile input.
#include "lib/net/proxy_protocol.h"

#include <catch2/catch.hpp>
#include <string>

namespace kite::net {
namespace {

const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string V2(unsigned char ver_cmd, unsigned char fam, const std::string& body) {
  std::string h = kSig;
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(fam);
  h += static_cast<char>((body.size() >> 8) & 0xff);
  h += static_cast<char>(body.size() & 0xff);
  return h + body;
}

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s += static_cast<char>(x);
  return s;
}

std::string V2Inet4() {
  // 192.0.2.1:4242 -> 198.51.100.7:25
  return V2(0x21, 0x11, Bytes({192, 0, 2, 1, 198, 51, 100, 7, 0x10, 0x92, 0, 25}));
}

std::string V2Inet6(const std::string& tlvs = "") {
  std::string body = Bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  body += Bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 9});  // v4-mapped
  body += Bytes({0xc3, 0x50, 0x03, 0xe1});                                     // 50000 -> 993
  return V2(0x21, 0x21, body + tlvs);
}

// Feeds `header + trailer` one byte at a time; until the header is complete the parser must
// say kNeedMore, and ProxyHeaderBytesWanted must never ask beyond the header.
ProxyParse FeedByteByByte(const std::string& header, const std::string& trailer = "") {
  std::string all = header + trailer;
  std::string seen;
  for (size_t i = 0; i < header.size(); ++i) {
    size_t wanted = ProxyHeaderBytesWanted(seen);
    REQUIRE(wanted >= 1);
    REQUIRE(seen.size() + wanted <= header.size());
    ProxyParse p = ParseProxyHeader(seen);
    REQUIRE(p.kind == ProxyParse::kNeedMore);
    seen += all[i];
  }
  CHECK(ProxyHeaderBytesWanted(seen) == 0);
  ProxyParse done = ParseProxyHeader(all);
  CHECK(done.consumed == header.size());
  return done;
}

TEST_CASE("PROXY v2 over IPv4 gives the client and server addresses", "[net][proxy]") {
  ProxyParse p = FeedByteByByte(V2Inet4(), "EHLO x\r\n");
  REQUIRE(p.kind == ProxyParse::kDone);
  CHECK_FALSE(p.info.local);
  CHECK(p.info.src_addr == "192.0.2.1");
  CHECK(p.info.src_port == 4242);
  CHECK(p.info.dst_addr == "198.51.100.7");
  CHECK(p.info.dst_port == 25);
}

TEST_CASE("PROXY v2 over IPv6 skips TLVs and gives mapped IPv4 addresses in IPv4 form", "[net][proxy]") {
  std::string tlvs = Bytes({0x01, 0x00, 0x02, 'h', '2'}) + Bytes({0x04, 0x00, 0x00});
  ProxyParse p = FeedByteByByte(V2Inet6(tlvs), "\x16\x03\x01");
  REQUIRE(p.kind == ProxyParse::kDone);
  CHECK(p.info.src_addr == "2001:db8::1");
  CHECK(p.info.src_port == 50000);
  CHECK(p.info.dst_addr == "203.0.113.9");
  CHECK(p.info.dst_port == 993);
}

TEST_CASE("PROXY v2 LOCAL means use the socket's addresses", "[net][proxy]") {
  ProxyParse p = FeedByteByByte(V2(0x20, 0x00, ""));
  REQUIRE(p.kind == ProxyParse::kDone);
  CHECK(p.info.local);
  // LOCAL with an address block: the block is ignored.
  ProxyParse q = ParseProxyHeader(V2(0x20, 0x11, Bytes({1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2})));
  REQUIRE(q.kind == ProxyParse::kDone);
  CHECK(q.info.local);
  CHECK(q.info.src_addr.empty());
  // AF_UNIX carries no IP: treated like LOCAL.
  ProxyParse u = ParseProxyHeader(V2(0x21, 0x31, std::string(216, '\0')));
  REQUIRE(u.kind == ProxyParse::kDone);
  CHECK(u.info.local);
}

TEST_CASE("PROXY v1 TCP4 TCP6 and UNKNOWN headers", "[net][proxy]") {
  ProxyParse p = FeedByteByByte("PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\r\n", "EHLO");
  REQUIRE(p.kind == ProxyParse::kDone);
  CHECK(p.info.src_addr == "192.0.2.1");
  CHECK(p.info.src_port == 56324);
  CHECK(p.info.dst_addr == "198.51.100.7");
  CHECK(p.info.dst_port == 25);

  ProxyParse q = FeedByteByByte("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n");
  REQUIRE(q.kind == ProxyParse::kDone);
  CHECK(q.info.src_addr == "2001:db8::1");
  CHECK(q.info.dst_port == 65535);

  ProxyParse u = FeedByteByByte("PROXY UNKNOWN\r\n");
  REQUIRE(u.kind == ProxyParse::kDone);
  CHECK(u.info.local);
  ProxyParse u2 = ParseProxyHeader("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n");
  CHECK(u2.kind == ProxyParse::kDone);
}

TEST_CASE("a bad PROXY signature is an error as soon as it can be seen", "[net][proxy]") {
  CHECK(ParseProxyHeader("E").kind == ProxyParse::kError);
  CHECK(ParseProxyHeader("PROXX").kind == ProxyParse::kError);
  CHECK(ParseProxyHeader("\r\n\r\n\x01").kind == ProxyParse::kError);
  CHECK(ParseProxyHeader("EHLO mail.example\r\n").kind == ProxyParse::kError);
  CHECK(ProxyHeaderBytesWanted("EHLO") == 0);
  CHECK(ParseProxyHeader("").kind == ProxyParse::kNeedMore);
  CHECK(ParseProxyHeader("PRO").kind == ProxyParse::kNeedMore);
  CHECK(ParseProxyHeader(kSig.substr(0, 5)).kind == ProxyParse::kNeedMore);
}

TEST_CASE("malformed PROXY headers are rejected", "[net][proxy]") {
  const char* bad_v1[] = {
      "PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\n",          // bare LF
      "PROXY TCP4 192.0.2.1 198.51.100.7 56324\r\n",           // missing port
      "PROXY TCP4 192.0.2.1 198.51.100.7 56324 25 9\r\n",      // extra field
      "PROXY TCP4 192.0.2.1  198.51.100.7 56324 25\r\n",       // double space
      "PROXY TCP4 2001:db8::1 198.51.100.7 56324 25\r\n",      // family mismatch
      "PROXY TCP6 192.0.2.1 198.51.100.7 1 2\r\n",             // family mismatch
      "PROXY TCP4 192.0.2.1 198.51.100.7 65536 25\r\n",        // port range
      "PROXY TCP4 192.0.2.1 198.51.100.7 -1 25\r\n",           // sign
      "PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n",             // protocol
      "PROXY TCP4 192.0.2.256 198.51.100.7 1 2\r\n",           // address
  };
  for (const char* h : bad_v1) {
    INFO(h);
    CHECK(ParseProxyHeader(h).kind == ProxyParse::kError);
  }
  // v2: version 1, command 2, DGRAM, truncated address block, unknown family.
  CHECK(ParseProxyHeader(V2(0x11, 0x11, std::string(12, '\0'))).kind == ProxyParse::kError);
  CHECK(ParseProxyHeader(V2(0x22, 0x11, std::string(12, '\0'))).kind == ProxyParse::kError);
  CHECK(ParseProxyHeader(V2(0x21, 0x12, std::string(12, '\0'))).kind == ProxyParse::kError);
  CHECK(ParseProxyHeader(V2(0x21, 0x21, std::string(12, '\0'))).kind == ProxyParse::kError);
  CHECK(ParseProxyHeader(V2(0x21, 0x41, std::string(12, '\0'))).kind == ProxyParse::kError);
}

TEST_CASE("a truncated PROXY header asks for more", "[net][proxy]") {
  std::string h = V2Inet4();
  for (size_t n = 0; n < h.size(); ++n) CHECK(ParseProxyHeader(h.substr(0, n)).kind == ProxyParse::kNeedMore);
  std::string v1 = "PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\r\n";
  for (size_t n = 0; n < v1.size(); ++n) CHECK(ParseProxyHeader(v1.substr(0, n)).kind == ProxyParse::kNeedMore);
}

TEST_CASE("oversize PROXY headers are refused before they are buffered", "[net][proxy]") {
  // v2: the length field alone (16 bytes in) is enough to refuse.
  std::string huge = kSig + Bytes({0x21, 0x11, 0xff, 0xff});
  ProxyParse p = ParseProxyHeader(huge);
  CHECK(p.kind == ProxyParse::kError);
  CHECK(ProxyHeaderBytesWanted(huge) == 0);
  // 12 address bytes + 512 TLV bytes is the most accepted.
  std::string max_ok = V2(0x21, 0x11, std::string(12 + kProxyV2MaxTlvBytes, '\0'));
  CHECK(ParseProxyHeader(max_ok).kind == ProxyParse::kDone);
  std::string too_much = V2(0x21, 0x11, std::string(12 + kProxyV2MaxTlvBytes + 1, '\0'));
  CHECK(ParseProxyHeader(too_much.substr(0, 16)).kind == ProxyParse::kError);
  // v1: no LF within 107 bytes.
  std::string long_v1 = "PROXY UNKNOWN " + std::string(200, 'a');
  CHECK(ParseProxyHeader(long_v1.substr(0, 106)).kind == ProxyParse::kNeedMore);
  CHECK(ParseProxyHeader(long_v1.substr(0, 107)).kind == ProxyParse::kError);
  std::string exact = "PROXY UNKNOWN " + std::string(107 - 16, 'a') + "\r\n";
  REQUIRE(exact.size() == 107);
  CHECK(ParseProxyHeader(exact).kind == ProxyParse::kDone);
}

}  // namespace
}  // namespace kite::net
