#include "lib/net/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace kite::net {
namespace {

constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Parses a textual address into 4 or 16 bytes; returns the size, 0 if not an address.
size_t ParseIp(std::string_view text, uint8_t out[16]) {
  char buf[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof(buf)) return 0;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (inet_pton(AF_INET, buf, out) == 1) return 4;
  if (inet_pton(AF_INET6, buf, out) == 1) return 16;
  return 0;
}

bool PrefixEqual(const uint8_t* a, const uint8_t* b, int bits) {
  int whole = bits / 8;
  if (std::memcmp(a, b, static_cast<size_t>(whole)) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

absl::StatusOr<Cidr> Cidr::Parse(std::string_view text) {
  std::string_view addr = text;
  std::string_view len_text;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    len_text = text.substr(slash + 1);
  }
  Cidr c;
  size_t size = ParseIp(addr, c.network_.data());
  if (size == 0) return absl::InvalidArgumentError(absl::StrCat("invalid address range \"", std::string(text), "\""));
  c.v6_ = size == 16;
  int max = c.v6_ ? 128 : 32;
  c.prefix_ = max;
  if (text.find('/') != std::string_view::npos) {
    if (len_text.empty() || len_text.size() > 3) {
      return absl::InvalidArgumentError(absl::StrCat("invalid prefix length in \"", std::string(text), "\""));
    }
    int v = 0;
    for (char ch : len_text) {
      if (ch < '0' || ch > '9') {
        return absl::InvalidArgumentError(absl::StrCat("invalid prefix length in \"", std::string(text), "\""));
      }
      v = v * 10 + (ch - '0');
    }
    if (v > max) return absl::InvalidArgumentError(absl::StrCat("prefix length too long in \"", std::string(text), "\""));
    c.prefix_ = v;
  }
  // Host bits must be zero.
  for (int bit = c.prefix_; bit < max; ++bit) {
    if (c.network_[bit / 8] & (0x80 >> (bit % 8))) {
      return absl::InvalidArgumentError(
          absl::StrCat("address range \"", std::string(text), "\" has host bits set below the prefix"));
    }
  }
  return c;
}

bool Cidr::Contains(const uint8_t* bytes, size_t size) const {
  if (size == 16 && !v6_ && std::memcmp(bytes, kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
    return PrefixEqual(bytes + 12, network_.data(), prefix_);
  }
  if (size != (v6_ ? 16u : 4u)) return false;
  return PrefixEqual(bytes, network_.data(), prefix_);
}

bool Cidr::Contains(std::string_view address) const {
  uint8_t bytes[16];
  size_t size = ParseIp(address, bytes);
  return size != 0 && Contains(bytes, size);
}

std::string Cidr::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v6_ ? AF_INET6 : AF_INET, network_.data(), buf, sizeof(buf));
  return absl::StrCat(buf, "/", prefix_);
}

absl::StatusOr<std::vector<Cidr>> ParseCidrList(std::string_view list) {
  std::vector<Cidr> out;
  size_t i = 0;
  auto is_sep = [](char c) { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (i < list.size()) {
    while (i < list.size() && is_sep(list[i])) ++i;
    size_t start = i;
    while (i < list.size() && !is_sep(list[i])) ++i;
    if (i == start) break;
    auto c = Cidr::Parse(list.substr(start, i - start));
    if (!c.ok()) return c.status();
    out.push_back(*c);
  }
  return out;
}

bool AnyContains(const std::vector<Cidr>& ranges, std::string_view address) {
  uint8_t bytes[16];
  size_t size = ParseIp(address, bytes);
  if (size == 0) return false;
  for (const Cidr& c : ranges) {
    if (c.Contains(bytes, size)) return true;
  }
  return false;
}

}  // namespace kite::net
