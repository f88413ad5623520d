#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "lib/metrics/metrics.h"

namespace {
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::string Get(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  std::string req = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
  REQUIRE(write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}
}  // namespace

TEST_CASE("The metrics endpoint serves the standard and the daemon's metrics", "[metrics]") {
  int port = FreePort();
  auto m = kite::metrics::Metrics::Start("kite-test", "127.0.0.1:" + std::to_string(port));
  REQUIRE(m.ok());
  (*m)->Counter("kite_test_things_total", "Things").Add({{"kind", "a"}}).Increment(3);
  std::string page = Get(port);
  CHECK(page.find("200 OK") != std::string::npos);
  CHECK(page.find("kite_build_info{daemon=\"kite-test\"") != std::string::npos);
  CHECK(page.find("kite_test_things_total{kind=\"a\"} 3") != std::string::npos);
  CHECK(page.find("kite_up 1") != std::string::npos);
}

TEST_CASE("A taken metrics port is a clear error", "[metrics]") {
  int port = FreePort();
  auto first = kite::metrics::Metrics::Start("kite-test", "127.0.0.1:" + std::to_string(port));
  REQUIRE(first.ok());
  auto second = kite::metrics::Metrics::Start("kite-test", "127.0.0.1:" + std::to_string(port));
  REQUIRE_FALSE(second.ok());
  CHECK(std::string(second.status().message()).find("cannot serve metrics on 127.0.0.1:") != std::string::npos);
}
