#include "lib/net/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace kite::net {
namespace {

constexpr char kV2Signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
constexpr std::string_view kV2Sig(kV2Signature, sizeof(kV2Signature));
constexpr std::string_view kV1Prefix = "PROXY ";
constexpr size_t kV1MinLength = 15;  // "PROXY UNKNOWN\r\n"

ProxyParse Error(std::string reason) {
  ProxyParse p;
  p.kind = ProxyParse::kError;
  p.error = std::move(reason);
  return p;
}

ProxyParse NeedMore() { return ProxyParse{}; }

// IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes a.b.c.d.
std::string FormatIp6(const unsigned char* bytes) {
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN];
  if (std::memcmp(bytes, kMapped, sizeof(kMapped)) == 0) {
    inet_ntop(AF_INET, bytes + 12, buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, bytes, buf, sizeof(buf));
  }
  return buf;
}

std::string FormatIp4(const unsigned char* bytes) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, bytes, buf, sizeof(buf));
  return buf;
}

uint16_t Be16(const unsigned char* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// Decimal 0..65535, digits only.
bool ParsePort(std::string_view s, uint16_t* out) {
  if (s.empty() || s.size() > 5) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

bool ParseAddress(std::string_view s, int family, std::string* out) {
  if (s.empty() || s.size() >= INET6_ADDRSTRLEN) return false;
  char text[INET6_ADDRSTRLEN];
  std::memcpy(text, s.data(), s.size());
  text[s.size()] = '\0';
  unsigned char bytes[16];
  if (inet_pton(family, text, bytes) != 1) return false;
  *out = family == AF_INET ? FormatIp4(bytes) : FormatIp6(bytes);
  return true;
}

ProxyParse ParseV1(std::string_view data) {
  size_t window = std::min(data.size(), kProxyV1MaxLength);
  size_t lf = data.substr(0, window).find('\n');
  if (lf == std::string_view::npos) {
    if (data.size() >= kProxyV1MaxLength) return Error("PROXY v1 header longer than 107 bytes");
    return NeedMore();
  }
  if (lf == 0 || data[lf - 1] != '\r') return Error("PROXY v1 header does not end in CRLF");
  std::string_view line = data.substr(0, lf - 1);  // without CRLF

  std::vector<std::string_view> fields;
  size_t start = 0;
  while (fields.size() < 7) {
    size_t sp = line.find(' ', start);
    fields.push_back(line.substr(start, sp == std::string_view::npos ? std::string_view::npos : sp - start));
    if (sp == std::string_view::npos) break;
    start = sp + 1;
  }
  ProxyParse p;
  p.consumed = lf + 1;
  if (fields.size() >= 2 && fields[1] == "UNKNOWN") {
    // The sender could not tell the addresses; the rest of the line is to be ignored.
    p.kind = ProxyParse::kDone;
    p.info.local = true;
    return p;
  }
  if (fields.size() != 6) return Error("PROXY v1 header has the wrong number of fields");
  int family;
  if (fields[1] == "TCP4") {
    family = AF_INET;
  } else if (fields[1] == "TCP6") {
    family = AF_INET6;
  } else {
    return Error("PROXY v1 header names an unknown protocol");
  }
  if (!ParseAddress(fields[2], family, &p.info.src_addr) || !ParseAddress(fields[3], family, &p.info.dst_addr)) {
    return Error("PROXY v1 header has an invalid address");
  }
  if (!ParsePort(fields[4], &p.info.src_port) || !ParsePort(fields[5], &p.info.dst_port)) {
    return Error("PROXY v1 header has an invalid port");
  }
  p.kind = ProxyParse::kDone;
  return p;
}

ProxyParse ParseV2(std::string_view data) {
  if (data.size() < kProxyV2HeaderLength) return NeedMore();
  const auto* b = reinterpret_cast<const unsigned char*>(data.data());
  if ((b[12] >> 4) != 2) return Error("PROXY v2 header has an unsupported version");
  int command = b[12] & 0x0f;
  if (command > 1) return Error("PROXY v2 header has an unknown command");
  int family = b[13] >> 4;
  int transport = b[13] & 0x0f;
  size_t length = Be16(b + 14);

  size_t address_length = 0;
  switch (family) {
    case 0: address_length = 0; break;    // AF_UNSPEC
    case 1: address_length = 12; break;   // AF_INET
    case 2: address_length = 36; break;   // AF_INET6
    case 3: address_length = 216; break;  // AF_UNIX
    default:
      if (command == 1) return Error("PROXY v2 header has an unknown address family");
  }
  // Checked before waiting for the body, so a huge length never makes the caller buffer.
  if (length > address_length + kProxyV2MaxTlvBytes) return Error("PROXY v2 header too long");
  if (data.size() < kProxyV2HeaderLength + length) return NeedMore();

  ProxyParse p;
  p.consumed = kProxyV2HeaderLength + length;
  p.kind = ProxyParse::kDone;
  // LOCAL: the balancer speaking for itself (health checks); the address block is ignored.
  if (command == 0 || family == 0 || family == 3) {
    p.info.local = true;
    return p;
  }
  if (transport != 1) return Error("PROXY v2 header is not for a stream connection");
  if (length < address_length) return Error("PROXY v2 address block truncated");
  const unsigned char* a = b + kProxyV2HeaderLength;
  if (family == 1) {
    p.info.src_addr = FormatIp4(a);
    p.info.dst_addr = FormatIp4(a + 4);
    p.info.src_port = Be16(a + 8);
    p.info.dst_port = Be16(a + 10);
  } else {
    p.info.src_addr = FormatIp6(a);
    p.info.dst_addr = FormatIp6(a + 16);
    p.info.src_port = Be16(a + 32);
    p.info.dst_port = Be16(a + 34);
  }
  return p;
}

bool IsPrefixOf(std::string_view data, std::string_view signature) {
  size_t n = std::min(data.size(), signature.size());
  return data.substr(0, n) == signature.substr(0, n);
}

}  // namespace

ProxyParse ParseProxyHeader(std::string_view data) {
  if (data.empty()) return NeedMore();
  if (data[0] == '\r') {
    if (!IsPrefixOf(data, kV2Sig)) return Error("not a PROXY protocol header");
    return ParseV2(data);
  }
  if (!IsPrefixOf(data, kV1Prefix)) return Error("not a PROXY protocol header");
  if (data.size() < kV1Prefix.size()) return NeedMore();
  return ParseV1(data);
}

size_t ProxyHeaderBytesWanted(std::string_view data) {
  if (ParseProxyHeader(data).kind != ProxyParse::kNeedMore) return 0;
  // Both versions are at least this long, so reading this much never overshoots.
  if (data.size() < 8) return 8 - data.size();
  if (data[0] == '\r') {
    if (data.size() < kProxyV2HeaderLength) return kProxyV2HeaderLength - data.size();
    size_t total = kProxyV2HeaderLength + Be16(reinterpret_cast<const unsigned char*>(data.data()) + 14);
    return total - data.size();
  }
  // v1: the end is the LF, which could be any next byte once the shortest header is reached.
  return data.size() < kV1MinLength ? kV1MinLength - data.size() : 1;
}

}  // namespace kite::net
