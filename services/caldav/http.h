// kite-caldav's HTTP/1.1 layer (RFC 9110, 9112): a pure, bounded request parser (Boost.Beast
// fed with bytes the caller read) and the response writer. No I/O here: the connection loop
// lives in server.cc, so this file is fuzzed alone (tests/fuzz/caldav/caldav_http_fuzz.cc).
//
// Untrusted input: every byte. The header block is bounded by max_header (431 beyond), the
// body by max_body (413 beyond, checked on Content-Length before the body arrives and while
// chunks arrive); chunked and Content-Length bodies both work; a malformed request is 400.
#ifndef KITE_SERVICES_CALDAV_HTTP_H_
#define KITE_SERVICES_CALDAV_HTTP_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kite::caldav::http {

struct Request {
  std::string method;  // as sent ("PROPFIND")
  std::string target;  // request-target as sent ("/dav/calendars/a%40b/x.ics?y")
  std::string path;    // target without query, percent-decoded; "" when it does not decode
  int version = 11;    // 10 or 11
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased, in order
  std::string body;
  bool keep_alive = true;

  // The first header of that (lowercase) name.
  std::optional<std::string> Header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  void Set(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

// Incremental parser of one request. Feed() everything received that was not yet consumed;
// it returns how many bytes it used (keep the rest for the next call or the next request).
class RequestParser {
 public:
  enum class State { kNeedMore, kDone, kError };
  RequestParser(size_t max_header, size_t max_body);
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  State Feed(std::string_view data, size_t* used);
  // The peer closed its side: a request ending at EOF is not complete (kError) unless done.
  bool header_done() const;
  // After the header: whether the client sent "Expect: 100-continue".
  bool expects_continue() const;
  // After kError: the status to answer (400, 413, 431, 501) and a short reason.
  int error_status() const { return error_status_; }
  const std::string& error_reason() const { return error_reason_; }
  // After kDone.
  Request Take();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int error_status_ = 400;
  std::string error_reason_;
};

// Decodes %XX escapes of a URL path; nullopt for a bad escape or a decoded NUL.
std::optional<std::string> PercentDecode(std::string_view s);
// Encodes a path segment for an href (unreserved characters and "@" stay).
std::string PercentEncodeSegment(std::string_view s);

const char* Reason(int status);

// The response as bytes: status line, the headers given, Content-Length (the body's length
// also for HEAD, whose body is left out), Connection: close when !keep_alive.
std::string Serialize(const Response& response, bool head, bool keep_alive);

}  // namespace kite::caldav::http

#endif  // KITE_SERVICES_CALDAV_HTTP_H_
