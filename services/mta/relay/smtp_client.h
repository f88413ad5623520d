// The outbound relay's client connection (SMTP, and HTTPS for MTA-STS policies): TCP connect, reply reading, writes and
// STARTTLS, each bounded by a deadline, as Boost.Asio C++20 coroutines (Boost 1.74).
//
// Standards: RFC 5321 (replies, 4.5.3.2 timeouts), RFC 3207 (STARTTLS: nothing the server
// sent before the handshake is kept).
// Untrusted input: everything the remote server sends. Replies go through
// smtp::ReplyParser (bounded lines, line count and size); a malformed reply is an error
// after which the connection must be dropped.
// Must be owned by a shared_ptr (deadline timers hold weak references).
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp needs it first

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/smtp/reply_parser.h"

namespace kite::relay {

struct SmtpReply {
  int code = 0;
  std::string enhanced;
  std::vector<std::string> lines;
  // The reply on one line, as for logs and Diagnostic-Code: "550 5.1.1 No such user".
  std::string OneLine() const;
};

class SmtpClient : public std::enable_shared_from_this<SmtpClient> {
 public:
  using tcp = boost::asio::ip::tcp;
  explicit SmtpClient(boost::asio::any_io_executor executor);
  ~SmtpClient();

  boost::asio::awaitable<absl::Status> Connect(const tcp::endpoint& endpoint, std::chrono::milliseconds deadline);
  boost::asio::awaitable<absl::StatusOr<SmtpReply>> ReadReply(std::chrono::milliseconds deadline);
  boost::asio::awaitable<absl::Status> Write(std::string_view data, std::chrono::milliseconds deadline);
  // Everything until the peer closes (HTTP/1.1 with Connection: close), at most `max`
  // bytes (more is an error), bounded by one deadline.
  boost::asio::awaitable<absl::StatusOr<std::string>> ReadToEnd(size_t max, std::chrono::milliseconds deadline);
  // Client handshake with SNI `host`; with `verify` the certificate must verify for `host`
  // against the context's trust anchors (MTA-STS enforce, smarthosts).
  boost::asio::awaitable<absl::Status> StartTls(std::shared_ptr<SSL_CTX> ctx, std::string host, bool verify,
                                                std::chrono::milliseconds deadline);
  void Close();

  bool is_tls() const { return tls_ != nullptr; }
  std::string tls_version() const;
  std::string peer() const { return peer_; }

 private:
  class Deadline;
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : socket_; }
  absl::Status Error(const boost::system::error_code& ec, std::string_view op) const;

  boost::asio::any_io_executor executor_;
  tcp::socket socket_;
  std::unique_ptr<boost::asio::ssl::stream<tcp::socket>> tls_;
  boost::asio::steady_timer timer_;
  uint64_t generation_ = 0;
  bool timed_out_ = false;
  smtp::ReplyParser parser_;
  std::string peer_;
};

}  // namespace kite::relay
