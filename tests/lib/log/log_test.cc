#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "lib/log/log.h"

namespace {
std::string Capture(bool json, void (*emit)()) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* mem = open_memstream(&buf, &len);
  kite::log::Init({.daemon = "kite-test", .level = kite::log::Level::kInfo, .json = json, .out = mem});
  emit();
  std::fclose(mem);
  std::string out(buf, len);
  std::free(buf);
  kite::log::Init({});
  return out;
}
}  // namespace

TEST_CASE("A JSON log line carries the event and escaped fields", "[log]") {
  std::string out = Capture(true, [] {
    kite::log::Info("smtp.command").Kv("line", "EVIL\r\n{\"level\":\"error\"}").Kv("n", 3).Kv("tls", true);
  });
  CHECK(out.find("\"event\":\"smtp.command\"") != std::string::npos);
  CHECK(out.find("\"daemon\":\"kite-test\"") != std::string::npos);
  CHECK(out.find("EVIL\\r\\n{\\\"level\\\"") != std::string::npos);  // a client cannot forge a line
  CHECK(out.find("\"n\":3") != std::string::npos);
  CHECK(out.find("\"tls\":true") != std::string::npos);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
}

TEST_CASE("Lines below the level are dropped", "[log]") {
  std::string out = Capture(true, [] { kite::log::Debug("noise").Kv("x", 1); });
  CHECK(out.empty());
}

TEST_CASE("Text format is key=value", "[log]") {
  std::string out = Capture(false, [] { kite::log::Warn("auth.throttled").Kv("client", "127.0.0.1"); });
  CHECK(out.find("warn kite-test auth.throttled client=\"127.0.0.1\"") != std::string::npos);
}

TEST_CASE("Truncate marks long client text", "[log]") {
  std::string t = kite::log::Truncate(std::string(500, 'a'), 10);
  CHECK(t == "aaaaaaaaaa...(500 bytes)");
}
