#include "lib/smtp/client_keys.h"

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/base/strings.h"

namespace kite::smtp {
namespace {

// 4 or 16 bytes in network order; 0 when `ip` is no address. ::ffff:a.b.c.d gives 4.
size_t ParseIp(std::string_view ip, std::array<uint8_t, 16>& out) {
  if (ip.size() > 64) return 0;
  std::string text(ip);
  if (inet_pton(AF_INET, text.c_str(), out.data()) == 1) return 4;
  if (inet_pton(AF_INET6, text.c_str(), out.data()) != 1) return 0;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(out.data(), kMapped, sizeof kMapped) == 0) {
    std::memmove(out.data(), out.data() + 12, 4);
    return 4;
  }
  return 16;
}

}  // namespace

std::string GreylistNetwork(std::string_view ip) {
  std::array<uint8_t, 16> b{};
  size_t n = ParseIp(ip, b);
  if (n == 4) return absl::StrFormat("%d.%d.%d.0/24", b[0], b[1], b[2]);
  if (n == 16) {
    std::array<uint8_t, 16> net{};
    std::memcpy(net.data(), b.data(), 8);
    char text[INET6_ADDRSTRLEN];
    if (inet_ntop(AF_INET6, net.data(), text, sizeof text) == nullptr) return "";
    return absl::StrCat(text, "/64");
  }
  return "";
}

std::string DnsblQueryName(std::string_view ip, std::string_view zone) {
  std::array<uint8_t, 16> b{};
  size_t n = ParseIp(ip, b);
  if (n == 4) return absl::StrFormat("%d.%d.%d.%d.%s", b[3], b[2], b[1], b[0], AV(zone));
  if (n == 16) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(64 + zone.size());
    for (int i = 15; i >= 0; --i) {
      out.push_back(kHex[b[i] & 0x0F]);
      out.push_back('.');
      out.push_back(kHex[b[i] >> 4]);
      out.push_back('.');
    }
    out.append(zone);
    return out;
  }
  return "";
}

}  // namespace kite::smtp
