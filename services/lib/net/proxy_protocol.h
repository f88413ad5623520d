// PROXY protocol header parser (HAProxy's "PROXY protocol" versions 1 and 2).
//
// What: turns the bytes a load balancer sends before the client's own first byte into the real
// client and server addresses, so the daemons behind a Kubernetes LoadBalancer (design.md,
// Deployment) log, throttle and check SPF against the real client.
// Standard: https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt (v2 binary, v1 text).
// Untrusted input: yes. The header itself is only honoured from configured trusted sources (see
// Listener), but the parser treats every byte as hostile: it is a pure function with no I/O,
// never reads past `data`, and bounds its input (v1 line <= 107 bytes, v2 TLVs <= 512 bytes)
// before asking for more.
#ifndef KITE_SERVICES_LIB_NET_PROXY_PROTOCOL_H_
#define KITE_SERVICES_LIB_NET_PROXY_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kite::net {

// Longest v1 header, CRLF included (proxy-protocol.txt section 2.1).
inline constexpr size_t kProxyV1MaxLength = 107;
// TLV bytes (after the address block) a v2 header may carry; the rest of the 64 KiB the length
// field allows would only be a way to make us buffer. TLVs are skipped, not interpreted.
inline constexpr size_t kProxyV2MaxTlvBytes = 512;
inline constexpr size_t kProxyV2HeaderLength = 16;

struct ProxyInfo {
  // LOCAL command (health checks from the balancer itself), v1 "UNKNOWN", or a family with no
  // IP addresses (AF_UNSPEC, AF_UNIX): use the socket's own addresses.
  bool local = false;
  // Textual addresses ("192.0.2.1", "2001:db8::1"). IPv4-mapped IPv6 addresses are given in
  // IPv4 form so that logs, throttles and SPF see one spelling per client (RFC 7208 section 5).
  std::string src_addr;
  uint16_t src_port = 0;
  std::string dst_addr;
  uint16_t dst_port = 0;
};

struct ProxyParse {
  enum Kind { kNeedMore, kDone, kError };
  Kind kind = kNeedMore;
  size_t consumed = 0;  // with kDone: bytes of `data` the header used; the rest is protocol data
  ProxyInfo info;       // with kDone
  std::string error;    // with kError: a short reason, safe to log (no input bytes in it)
};

// Parses a PROXY header at the start of `data`, which holds everything received so far.
// kNeedMore: call again with more bytes appended. The caller must stop waiting at some point
// (deadline); the parser guarantees kNeedMore is never returned once `data` is longer than the
// longest acceptable header.
ProxyParse ParseProxyHeader(std::string_view data);

// How many more bytes the header needs at least, given what has arrived (0 if `data` already
// holds a complete or invalid header). Lets an implicit-TLS listener read exactly the header
// and not a byte of the TLS ClientHello behind it.
size_t ProxyHeaderBytesWanted(std::string_view data);

}  // namespace kite::net

#endif  // KITE_SERVICES_LIB_NET_PROXY_PROTOCOL_H_
