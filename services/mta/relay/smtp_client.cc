#include "mta/relay/smtp_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/base/strings.h"
#include "lib/tls/context.h"

namespace kite::relay {

namespace asio = boost::asio;
using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;

std::string SmtpReply::OneLine() const {
  std::string out = absl::StrCat(code);
  for (const std::string& l : lines) absl::StrAppend(&out, " ", l);
  return out;
}

// Cancels the socket's operations when the deadline passes. The generation check makes a
// timer callback that was already queued when the operation finished a no-op.
class SmtpClient::Deadline {
 public:
  Deadline(SmtpClient* c, std::chrono::milliseconds d) : c_(c) {
    c_->timed_out_ = false;
    uint64_t generation = ++c_->generation_;
    c_->timer_.expires_after(d);
    c_->timer_.async_wait([weak = c_->weak_from_this(), generation](const boost::system::error_code& ec) {
      if (ec) return;
      std::shared_ptr<SmtpClient> self = weak.lock();
      if (!self || self->generation_ != generation) return;
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->socket().cancel(ignored);
    });
  }
  ~Deadline() {
    ++c_->generation_;
    c_->timer_.cancel();
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

 private:
  SmtpClient* c_;
};

SmtpClient::SmtpClient(asio::any_io_executor executor)
    : executor_(executor), socket_(executor), timer_(executor) {}

SmtpClient::~SmtpClient() = default;

absl::Status SmtpClient::Error(const boost::system::error_code& ec, std::string_view op) const {
  if (timed_out_) return absl::DeadlineExceededError(absl::StrCat(AV(op), " timed out"));
  if (ec == asio::error::eof) return absl::UnavailableError(absl::StrCat("connection closed by peer during ", AV(op)));
  return absl::UnavailableError(absl::StrCat(AV(op), ": ", ec.message()));
}

awaitable<absl::Status> SmtpClient::Connect(const tcp::endpoint& endpoint, std::chrono::milliseconds deadline) {
  peer_ = endpoint.address().to_string();
  Deadline guard(this, deadline);
  boost::system::error_code ec;
  co_await socket_.async_connect(endpoint, redirect_error(use_awaitable, ec));
  if (ec) co_return Error(ec, "connect");
  co_return absl::OkStatus();
}

awaitable<absl::StatusOr<SmtpReply>> SmtpClient::ReadReply(std::chrono::milliseconds deadline) {
  Deadline guard(this, deadline);
  for (;;) {
    smtp::ReplyParser::Result r = parser_.Next();
    if (r.kind == smtp::ReplyParser::Result::kReply) {
      SmtpReply out;
      out.code = r.reply.code;
      out.enhanced = r.reply.enhanced;
      out.lines = std::move(r.lines);
      co_return out;
    }
    if (r.kind == smtp::ReplyParser::Result::kError) {
      co_return absl::DataLossError(absl::StrCat("malformed reply: ", r.error));
    }
    char buf[4096];
    boost::system::error_code ec;
    size_t n = 0;
    if (tls_) {
      n = co_await tls_->async_read_some(asio::buffer(buf), redirect_error(use_awaitable, ec));
    } else {
      n = co_await socket_.async_read_some(asio::buffer(buf), redirect_error(use_awaitable, ec));
    }
    if (ec) co_return Error(ec, "read");
    parser_.Feed(std::string_view(buf, n));
  }
}

awaitable<absl::Status> SmtpClient::Write(std::string_view data, std::chrono::milliseconds deadline) {
  Deadline guard(this, deadline);
  boost::system::error_code ec;
  if (tls_) {
    co_await asio::async_write(*tls_, asio::buffer(data.data(), data.size()), redirect_error(use_awaitable, ec));
  } else {
    co_await asio::async_write(socket_, asio::buffer(data.data(), data.size()), redirect_error(use_awaitable, ec));
  }
  if (ec) co_return Error(ec, "write");
  co_return absl::OkStatus();
}

awaitable<absl::StatusOr<std::string>> SmtpClient::ReadToEnd(size_t max, std::chrono::milliseconds deadline) {
  Deadline guard(this, deadline);
  std::string out;
  for (;;) {
    char buf[8192];
    boost::system::error_code ec;
    size_t n = 0;
    if (tls_) {
      n = co_await tls_->async_read_some(asio::buffer(buf), redirect_error(use_awaitable, ec));
    } else {
      n = co_await socket_.async_read_some(asio::buffer(buf), redirect_error(use_awaitable, ec));
    }
    out.append(buf, n);
    if (out.size() > max) co_return absl::ResourceExhaustedError("response too large");
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) co_return out;
    if (ec) co_return Error(ec, "read");
  }
}

awaitable<absl::Status> SmtpClient::StartTls(std::shared_ptr<SSL_CTX> ctx, std::string host, bool verify,
                                             std::chrono::milliseconds deadline) {
  if (tls_) co_return absl::FailedPreconditionError("TLS is already active");
  if (parser_.buffered() > 0) {
    // RFC 3207 / CVE-2011-0411 in reverse: a server that pipelines plaintext after its 220.
    co_return absl::DataLossError("server sent data after its STARTTLS reply");
  }
  // asio's context adopts the handle and frees it; give it a reference of its own.
  SSL_CTX_up_ref(ctx.get());
  asio::ssl::context context(ctx.get());
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(socket_), context);
  if (auto s = tls::SetExpectedHost(tls_->native_handle(), host); !s.ok() && verify) co_return s;
  if (verify) {
    SSL_set_verify(tls_->native_handle(), SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_set_verify(tls_->native_handle(), SSL_VERIFY_NONE, nullptr);
  }
  Deadline guard(this, deadline);
  boost::system::error_code ec;
  co_await tls_->async_handshake(asio::ssl::stream_base::client, redirect_error(use_awaitable, ec));
  if (ec) {
    if (timed_out_) co_return absl::DeadlineExceededError("TLS handshake timed out");
    co_return absl::UnavailableError(absl::StrCat("TLS handshake failed: ", ec.message()));
  }
  co_return absl::OkStatus();
}

std::string SmtpClient::tls_version() const {
  if (!tls_) return "";
  return SSL_get_version(const_cast<SSL*>(tls_->native_handle()));
}

void SmtpClient::Close() {
  boost::system::error_code ignored;
  socket().close(ignored);
  timer_.cancel();
}

}  // namespace kite::relay
