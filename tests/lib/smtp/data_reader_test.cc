#include "lib/smtp/data_reader.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>

namespace kite::smtp {
namespace {

struct Outcome {
  DataReader::State state;
  std::string message;
  size_t consumed;
  bool bare_lf;
  bool bare_cr;
  size_t size;
  bool operator==(const Outcome& o) const {
    return state == o.state && message == o.message && consumed == o.consumed &&
           bare_lf == o.bare_lf && bare_cr == o.bare_cr && size == o.size;
  }
};

// Feeds `input` in chunks of the given sizes (cycled), stopping when the reader is done.
Outcome FeedChunks(std::string_view input, size_t max_size, const std::vector<size_t>& chunks) {
  DataReader reader(max_size);
  size_t pos = 0, k = 0;
  while (pos < input.size() && reader.state() == DataReader::State::kNeedMore) {
    size_t n = std::min(chunks[k++ % chunks.size()], input.size() - pos);
    size_t used = reader.Feed(input.substr(pos, n));
    REQUIRE(used <= n);
    if (reader.state() == DataReader::State::kNeedMore) REQUIRE(used == n);
    pos += used;
  }
  return Outcome{reader.state(),       reader.message(),     pos,
                 reader.saw_bare_lf(), reader.saw_bare_cr(), reader.size()};
}

Outcome FeedWhole(std::string_view input, size_t max_size = 1 << 20) {
  return FeedChunks(input, max_size, {input.size() + 1});
}

// Whole, byte by byte and random chunks all agree.
Outcome FeedAllWays(std::string_view input, size_t max_size = 1 << 20) {
  Outcome whole = FeedWhole(input, max_size);
  Outcome bytes = FeedChunks(input, max_size, {1});
  CHECK(whole == bytes);
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    std::vector<size_t> chunks;
    for (int i = 0; i < 16; ++i) chunks.push_back(1 + rng() % 7);
    CHECK(whole == FeedChunks(input, max_size, chunks));
  }
  return whole;
}

TEST_CASE("DATA ends only at CRLF.CRLF and keeps what follows", "[smtp][parser]") {
  std::string input = "Subject: hi\r\n\r\nbody\r\n.\r\nMAIL FROM:<a@b.c>\r\n";
  Outcome o = FeedAllWays(input);
  CHECK(o.state == DataReader::State::kDone);
  CHECK(o.message == "Subject: hi\r\n\r\nbody\r\n");
  CHECK(input.substr(o.consumed) == "MAIL FROM:<a@b.c>\r\n");
  CHECK(o.size == o.message.size());
}

TEST_CASE("the longest line is measured across chunks, in raw octets", "[smtp][parser]") {
  DataReader r(1 << 20);
  std::string body = "short\r\n" + std::string(3000, 'x') + "\r\n..stuffed\r\n.\r\nQUIT\r\n";
  size_t used = 0;
  for (size_t i = 0; i < body.size() && r.state() == DataReader::State::kNeedMore; i += 7) {
    used += r.Feed(std::string_view(body).substr(i, std::min<size_t>(7, body.size() - i)));
  }
  CHECK(r.state() == DataReader::State::kDone);
  CHECK(r.longest_line() == 3002);
  CHECK(body.substr(used) == "QUIT\r\n");  // what follows the end stays with the caller
  r.Reset();
  CHECK(r.longest_line() == 0);
}

TEST_CASE("an empty message ends at a leading .CRLF", "[smtp][parser]") {
  Outcome o = FeedAllWays(".\r\nQUIT\r\n");
  CHECK(o.state == DataReader::State::kDone);
  CHECK(o.message.empty());
  CHECK(o.consumed == 3);
}

TEST_CASE("dot-stuffing is undone at line starts only", "[smtp][parser]") {
  Outcome o = FeedAllWays("..leading\r\na.b\r\n...\r\n..\r\n.x\r\n.\r\n");
  CHECK(o.state == DataReader::State::kDone);
  CHECK(o.message == ".leading\r\na.b\r\n..\r\n.\r\nx\r\n");
}

TEST_CASE("no smuggling variant ends DATA", "[smtp][parser]") {
  // Each bogus end is followed by a smuggled command and then the real end.
  const char* bogus[] = {"\n.\n",   "\r\n.\n",  "\n.\r\n", "\r.\r", "\r.\r\n",
                         "\r\n.\r", "\r\n.\rX", "\n.\r",   ".\n",   "\r\n. \r\n"};
  for (const char* b : bogus) {
    std::string input = std::string("line") + b + "MAIL FROM:<evil@x.y>\r\n.\r\nNEXT";
    INFO("variant " << ::Catch::Detail::stringify(std::string(b)));
    Outcome o = FeedAllWays(input);
    CHECK(input.substr(o.consumed) == "NEXT");
    if (std::string(b) == "\r\n. \r\n") {
      CHECK(o.state == DataReader::State::kDone);  // ". " is an ordinary line
    } else {
      CHECK(o.state == DataReader::State::kBareLineEnding);
      CHECK((o.bare_lf || o.bare_cr));
    }
    CHECK(o.message.find("MAIL FROM:<evil@x.y>") != std::string::npos);
  }
}

TEST_CASE("bare LF and bare CR are flagged separately", "[smtp][parser]") {
  Outcome lf = FeedAllWays("a\nb\r\n.\r\n");
  CHECK(lf.bare_lf);
  CHECK_FALSE(lf.bare_cr);
  CHECK(lf.message == "a\nb\r\n");
  Outcome cr = FeedAllWays("a\rb\r\n.\r\n");
  CHECK(cr.bare_cr);
  CHECK_FALSE(cr.bare_lf);
  CHECK(cr.message == "a\rb\r\n");
  Outcome crcr = FeedAllWays("a\r\r\n.\r\n");
  CHECK(crcr.bare_cr);
  CHECK(crcr.message == "a\r\r\n");
  CHECK(crcr.state == DataReader::State::kBareLineEnding);
}

TEST_CASE("too big messages are consumed to the end, then reported", "[smtp][parser]") {
  std::string body(100, 'x');
  std::string input = body + "\r\n" + body + "\r\n.\r\nRSET\r\n";
  Outcome o = FeedAllWays(input, 150);
  CHECK(o.state == DataReader::State::kTooBig);
  CHECK(o.message.empty());
  CHECK(o.size == 204);
  CHECK(input.substr(o.consumed) == "RSET\r\n");
  // Exactly at the limit is fine.
  Outcome exact = FeedAllWays(body + "\r\n.\r\n", 102);
  CHECK(exact.state == DataReader::State::kDone);
  // Too big beats bare line endings in the report.
  CHECK(FeedAllWays(body + "\n" + body + "\r\n.\r\n", 50).state == DataReader::State::kTooBig);
}

TEST_CASE("Feed after the end consumes nothing, Reset starts over", "[smtp][parser]") {
  DataReader reader(1000);
  CHECK(reader.Feed("x\r\n.\r\n") == 6);
  CHECK(reader.Feed("more") == 0);
  CHECK(reader.state() == DataReader::State::kDone);
  reader.Reset();
  CHECK(reader.state() == DataReader::State::kNeedMore);
  CHECK(reader.Feed("y\r\n.\r\n") == 6);
  CHECK(reader.message() == "y\r\n");
}

TEST_CASE("random data agrees however it is chunked", "[smtp][parser]") {
  std::mt19937 rng(7);
  const char alphabet[] = {'a', '.', '\r', '\n', 'b', '.'};
  for (int round = 0; round < 200; ++round) {
    std::string input;
    size_t len = rng() % 60;
    for (size_t i = 0; i < len; ++i) input.push_back(alphabet[rng() % sizeof(alphabet)]);
    input += "\r\n.\r\ntail";
    FeedAllWays(input, 1 + rng() % 64);
  }
}

}  // namespace
}  // namespace kite::smtp
