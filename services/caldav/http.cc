#include "caldav/http.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>

namespace kite::caldav::http {

namespace beast_http = boost::beast::http;

struct RequestParser::Impl {
  beast_http::request_parser<beast_http::string_body> parser;
};

RequestParser::RequestParser(size_t max_header, size_t max_body) : impl_(std::make_unique<Impl>()) {
  impl_->parser.header_limit(static_cast<uint32_t>(max_header));
  impl_->parser.body_limit(max_body);
  impl_->parser.eager(true);
}

RequestParser::~RequestParser() = default;

bool RequestParser::header_done() const { return impl_->parser.is_header_done(); }

bool RequestParser::expects_continue() const {
  if (!impl_->parser.is_header_done()) return false;
  auto it = impl_->parser.get().find(beast_http::field::expect);
  if (it == impl_->parser.get().end()) return false;
  std::string v(it->value());
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v == "100-continue";
}

RequestParser::State RequestParser::Feed(std::string_view data, size_t* used) {
  *used = 0;
  auto& p = impl_->parser;
  while (!p.is_done()) {
    std::string_view rest = data.substr(*used);
    if (rest.empty()) return State::kNeedMore;
    boost::beast::error_code ec;
    size_t n = p.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    *used += n;
    if (ec == beast_http::error::need_more) return State::kNeedMore;
    if (ec) {
      if (ec == beast_http::error::header_limit) {
        error_status_ = 431;
        error_reason_ = "request header too large";
      } else if (ec == beast_http::error::body_limit) {
        error_status_ = 413;
        error_reason_ = "request body too large";
      } else {
        error_status_ = 400;
        error_reason_ = ec.message();
      }
      return State::kError;
    }
    if (n == 0) return State::kNeedMore;
  }
  return State::kDone;
}

std::optional<std::string> Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

Request RequestParser::Take() {
  auto msg = impl_->parser.release();
  Request r;
  r.method = std::string(msg.method_string());
  r.target = std::string(msg.target());
  r.version = msg.version();
  r.keep_alive = msg.keep_alive();
  for (const auto& f : msg) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  r.body = std::move(msg.body());
  std::string_view t = r.target;
  // Absolute-form (RFC 9112 3.2.2): keep only the path.
  if (t.substr(0, 7) == "http://" || t.substr(0, 8) == "https://") {
    size_t scheme_end = t.find("://") + 3;
    size_t slash = t.find('/', scheme_end);
    t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
  }
  size_t q = t.find_first_of("?#");
  if (q != std::string_view::npos) t = t.substr(0, q);
  r.path = PercentDecode(t).value_or("");
  return r;
}

std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex(s[i + 1]);
      int lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      char c = static_cast<char>(hi * 16 + lo);
      if (c == '\0') return std::nullopt;
      out.push_back(c);
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string PercentEncodeSegment(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '@' || c == '+' || c == '=') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

const char* Reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 207: return "Multi-Status";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
  }
}

std::string Serialize(const Response& response, bool head, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " + Reason(response.status) + "\r\n";
  for (const auto& [k, v] : response.headers) {
    out += k;
    out += ": ";
    // Header values are ours; a CR or LF would split the response.
    for (char c : v) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
    out += "\r\n";
  }
  if (response.status != 204 && response.status != 304 && response.status >= 200) {
    out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  }
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head && response.status != 204 && response.status != 304) out += response.body;
  return out;
}

}  // namespace kite::caldav::http
