// kite-caldav's HTTP request parser: complete and split requests, pipelining, chunked bodies,
// limits (431, 413), malformed input (400), percent-decoding, and the response writer.
#include "caldav/http.h"

#include <catch2/catch.hpp>
#include <string>

namespace kite::caldav::http {
namespace {

using State = RequestParser::State;

TEST_CASE("A complete request with a Content-Length body", "[caldav][http]") {
  RequestParser p(16384, 1024);
  std::string in =
      "PUT /dav/calendars/a%40b.test/cal/x.ics?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
      "If-None-Match: *\r\n\r\nhelloGET / HTTP/1.1\r\n";
  size_t used = 0;
  REQUIRE(p.Feed(in, &used) == State::kDone);
  Request r = p.Take();
  CHECK(r.method == "PUT");
  CHECK(r.path == "/dav/calendars/a@b.test/cal/x.ics");
  CHECK(r.body == "hello");
  CHECK(r.Header("if-none-match") == "*");
  CHECK(r.keep_alive);
  CHECK(in.substr(used) == "GET / HTTP/1.1\r\n");  // the pipelined request stays
}

TEST_CASE("A request split at every byte", "[caldav][http]") {
  const std::string in = "PROPFIND /dav/ HTTP/1.1\r\nDepth: 1\r\nContent-Length: 3\r\n\r\nabc";
  RequestParser p(16384, 1024);
  std::string buf;
  State s = State::kNeedMore;
  for (char c : in) {
    buf.push_back(c);
    size_t used = 0;
    s = p.Feed(buf, &used);
    buf.erase(0, used);
    if (s != State::kNeedMore) break;
  }
  REQUIRE(s == State::kDone);
  Request r = p.Take();
  CHECK(r.method == "PROPFIND");
  CHECK(r.body == "abc");
  CHECK(r.Header("depth") == "1");
}

TEST_CASE("Chunked bodies", "[caldav][http]") {
  RequestParser p(16384, 1024);
  std::string in = "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  size_t used = 0;
  REQUIRE(p.Feed(in, &used) == State::kDone);
  CHECK(p.Take().body == "abcde");
}

TEST_CASE("Limits and malformed requests", "[caldav][http]") {
  {
    RequestParser p(64, 1024);
    std::string in = "GET / HTTP/1.1\r\nX-Long: " + std::string(200, 'a') + "\r\n\r\n";
    size_t used = 0;
    CHECK(p.Feed(in, &used) == State::kError);
    CHECK(p.error_status() == 431);
  }
  {
    RequestParser p(16384, 10);
    std::string in = "PUT / HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
    size_t used = 0;
    CHECK(p.Feed(in, &used) == State::kError);
    CHECK(p.error_status() == 413);
  }
  {
    RequestParser p(16384, 4);
    std::string in = "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
    size_t used = 0;
    CHECK(p.Feed(in, &used) == State::kError);
    CHECK(p.error_status() == 413);
  }
  {
    RequestParser p(16384, 1024);
    size_t used = 0;
    CHECK(p.Feed("GARBAGE\r\n\r\n", &used) == State::kError);
    CHECK(p.error_status() == 400);
  }
}

TEST_CASE("Expect: 100-continue is visible after the header", "[caldav][http]") {
  RequestParser p(16384, 1024);
  size_t used = 0;
  CHECK(p.Feed("PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", &used) == State::kNeedMore);
  CHECK(p.header_done());
  CHECK(p.expects_continue());
}

TEST_CASE("Percent-decoding and encoding", "[caldav][http]") {
  CHECK(PercentDecode("/a%20b/%40") == "/a b/@");
  CHECK_FALSE(PercentDecode("/a%2").has_value());
  CHECK_FALSE(PercentDecode("/a%zz").has_value());
  CHECK_FALSE(PercentDecode("/a%00").has_value());
  CHECK(PercentEncodeSegment("a b@c/d") == "a%20b@c%2Fd");
}

TEST_CASE("Absolute-form targets keep only the path", "[caldav][http]") {
  RequestParser p(16384, 1024);
  size_t used = 0;
  REQUIRE(p.Feed("GET http://h.test:8080/dav/x?y HTTP/1.1\r\nHost: h\r\n\r\n", &used) == State::kDone);
  CHECK(p.Take().path == "/dav/x");
}

TEST_CASE("Serialize", "[caldav][http]") {
  Response r;
  r.status = 207;
  r.Set("Content-Type", "application/xml");
  r.Set("X-Evil", "a\r\nInjected: yes");
  r.body = "<x/>";
  std::string out = Serialize(r, false, true);
  CHECK(out.rfind("HTTP/1.1 207 Multi-Status\r\n", 0) == 0);
  CHECK(out.find("Content-Length: 4\r\n") != std::string::npos);
  CHECK(out.find("\r\nInjected") == std::string::npos);
  CHECK(out.substr(out.size() - 4) == "<x/>");
  std::string head = Serialize(r, true, false);
  CHECK(head.find("Content-Length: 4\r\n") != std::string::npos);
  CHECK(head.find("Connection: close\r\n") != std::string::npos);
  CHECK(head.substr(head.size() - 4) == "\r\n\r\n");
}

}  // namespace
}  // namespace kite::caldav::http
