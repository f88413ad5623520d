#include "lib/net/connection.h"

#include <utility>

#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "lib/net/proxy_protocol.h"

namespace kite::net {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;

// Per-read sizes: a line read asks for little so the buffer stays near max_len; bulk reads
// (literals, DATA) ask for more to save system calls. Neither depends on what the peer says.
constexpr size_t kLineChunk = 4096;
constexpr size_t kBulkChunk = 64 * 1024;
// A buffer that grew for one long line is given back once drained.
constexpr size_t kKeepCapacity = 64 * 1024;

std::string FormatAddress(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  }
  return address.to_string();
}

}  // namespace

// Arms the connection's timer for one public call; when it fires, the socket's pending
// operation is cancelled and every later read in the same call fails fast. A generation count
// makes a stale expiry, already queued when the call finished, harmless.
class Connection::DeadlineGuard {
 public:
  DeadlineGuard(Connection* c, std::chrono::milliseconds deadline) : c_(c) {
    c_->timed_out_ = false;
    uint64_t generation = ++c_->timer_generation_;
    c_->timer_.expires_after(deadline);
    c_->timer_.async_wait([weak = c_->weak_from_this(), generation](const boost::system::error_code& ec) {
      if (ec) return;
      std::shared_ptr<Connection> self = weak.lock();
      if (!self || self->timer_generation_ != generation) return;
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->socket().cancel(ignored);
    });
  }
  ~DeadlineGuard() {
    ++c_->timer_generation_;
    c_->timer_.cancel();
  }
  DeadlineGuard(const DeadlineGuard&) = delete;
  DeadlineGuard& operator=(const DeadlineGuard&) = delete;

 private:
  Connection* c_;
};

Connection::Connection(Socket socket, std::shared_ptr<tls::ServerContext> tls)
    : executor_(socket.get_executor()), socket_(std::move(socket)), tls_(std::move(tls)), timer_(executor_) {
  boost::system::error_code ec;
  auto remote = socket_.remote_endpoint(ec);
  if (!ec) {
    peer_address_ = FormatAddress(remote.address());
    peer_port_ = remote.port();
  }
  auto local = socket_.local_endpoint(ec);
  if (!ec) {
    local_address_ = FormatAddress(local.address());
    local_port_ = local.port();
  }
}

Connection::~Connection() = default;

absl::Status Connection::ErrorStatus(const boost::system::error_code& ec, std::string_view op) const {
  std::string what(op);
  if (timed_out_) return absl::DeadlineExceededError(absl::StrCat(what, " timed out"));
  if (closed_) return absl::CancelledError("connection closed");
  if (ec == asio::error::eof) return absl::UnavailableError("connection closed by peer");
  if (ec == asio::ssl::error::stream_truncated) {
    return absl::UnavailableError("connection closed by peer without TLS close_notify");
  }
  return absl::UnavailableError(absl::StrCat(what, " failed: ", ec.message()));
}

void Connection::CompactInput() {
  if (in_start_ == 0) return;
  if (in_start_ >= in_.size()) {
    in_.clear();
    if (in_.capacity() > kKeepCapacity) in_.shrink_to_fit();
  } else {
    in_.erase(0, in_start_);
  }
  in_start_ = 0;
}

awaitable<absl::StatusOr<size_t>> Connection::ReadRaw(char* p, size_t n) {
  if (closed_) co_return absl::CancelledError("connection closed");
  if (timed_out_) co_return absl::DeadlineExceededError("read timed out");
  boost::system::error_code ec;
  size_t got;
  if (tls_stream_) {
    got = co_await tls_stream_->async_read_some(asio::buffer(p, n), redirect_error(use_awaitable, ec));
  } else {
    got = co_await socket_.async_read_some(asio::buffer(p, n), redirect_error(use_awaitable, ec));
  }
  if (ec) co_return ErrorStatus(ec, "read");
  co_return got;
}

awaitable<absl::Status> Connection::Fill(size_t chunk) {
  CompactInput();
  size_t old = in_.size();
  in_.resize(old + chunk);
  absl::StatusOr<size_t> got = co_await ReadRaw(in_.data() + old, chunk);
  in_.resize(old + (got.ok() ? *got : 0));
  co_return got.status();
}

awaitable<absl::StatusOr<std::string>> Connection::ReadLine(size_t max_len, std::chrono::milliseconds deadline) {
  if (max_len == 0) co_return absl::InvalidArgumentError("ReadLine needs max_len > 0");
  DeadlineGuard guard(this, deadline);
  bool skipping = false;
  for (;;) {
    std::string_view avail(in_.data() + in_start_, in_.size() - in_start_);
    if (!skipping) {
      size_t lf = avail.substr(0, std::min(avail.size(), max_len)).find('\n');
      if (lf != std::string_view::npos) {
        std::string line(avail.substr(0, lf + 1));
        in_start_ += lf + 1;
        co_return line;
      }
      // max_len bytes and no LF among them: whatever follows, the line is too long.
      if (avail.size() >= max_len) skipping = true;
    }
    if (skipping) {
      size_t lf = avail.find('\n');
      if (lf != std::string_view::npos) {
        in_start_ += lf + 1;
        co_return absl::OutOfRangeError("line too long");
      }
      in_.clear();
      in_start_ = 0;
    }
    absl::Status filled = co_await Fill(kLineChunk);
    if (!filled.ok()) co_return filled;
  }
}

awaitable<absl::StatusOr<std::string>> Connection::ReadExact(size_t n, std::chrono::milliseconds deadline) {
  std::string out;
  size_t buffered = std::min(n, in_.size() - in_start_);
  out.append(in_, in_start_, buffered);
  in_start_ += buffered;
  if (out.size() == n) co_return out;
  DeadlineGuard guard(this, deadline);
  while (out.size() < n) {
    size_t chunk = std::min(n - out.size(), kBulkChunk);
    size_t old = out.size();
    out.resize(old + chunk);
    absl::StatusOr<size_t> got = co_await ReadRaw(out.data() + old, chunk);
    if (!got.ok()) co_return got.status();
    out.resize(old + *got);
  }
  co_return out;
}

awaitable<absl::StatusOr<std::string>> Connection::ReadSome(size_t max, std::chrono::milliseconds deadline) {
  if (max == 0) co_return absl::InvalidArgumentError("ReadSome needs max > 0");
  if (HasBufferedInput()) {
    size_t take = std::min(max, in_.size() - in_start_);
    std::string out(in_, in_start_, take);
    in_start_ += take;
    co_return out;
  }
  DeadlineGuard guard(this, deadline);
  std::string out(std::min(max, kBulkChunk), '\0');
  absl::StatusOr<size_t> got = co_await ReadRaw(out.data(), out.size());
  if (!got.ok()) co_return got.status();
  out.resize(*got);
  co_return out;
}

void Connection::Unread(std::string_view bytes) {
  if (bytes.empty()) return;
  if (in_start_ >= bytes.size() && std::string_view(in_).substr(in_start_ - bytes.size(), bytes.size()) == bytes) {
    in_start_ -= bytes.size();  // they came from the buffer and are still there
    return;
  }
  in_.replace(0, in_start_, bytes);
  in_start_ = 0;
}

awaitable<absl::Status> Connection::Write(std::string_view data, std::chrono::milliseconds deadline) {
  if (closed_) co_return absl::CancelledError("connection closed");
  DeadlineGuard guard(this, deadline);
  boost::system::error_code ec;
  if (tls_stream_) {
    co_await asio::async_write(*tls_stream_, asio::buffer(data), redirect_error(use_awaitable, ec));
  } else {
    co_await asio::async_write(socket_, asio::buffer(data), redirect_error(use_awaitable, ec));
  }
  if (ec) co_return ErrorStatus(ec, "write");
  co_return absl::OkStatus();
}

awaitable<absl::Status> Connection::StartTls(std::chrono::milliseconds deadline) {
  if (!tls_) co_return absl::FailedPreconditionError("TLS is not configured for this listener");
  if (tls_stream_) co_return absl::FailedPreconditionError("TLS is already active");
  if (closed_) co_return absl::CancelledError("connection closed");
  // CVE-2011-0411: bytes that arrived in plaintext after the STARTTLS command must not be
  // executed as if they came through TLS.
  discarded_on_starttls_ = HasBufferedInput();
  in_.clear();
  in_start_ = 0;

  std::shared_ptr<SSL_CTX> native = tls_->Current();
  // asio's context adopts a native handle and frees it when destroyed; the SSL it creates
  // holds its own reference, so the temporary context only needs one of its own.
  SSL_CTX_up_ref(native.get());
  asio::ssl::context context(native.get());
  tls_stream_ = std::make_unique<TlsStream>(std::move(socket_), context);

  DeadlineGuard guard(this, deadline);
  boost::system::error_code ec;
  co_await tls_stream_->async_handshake(asio::ssl::stream_base::server, redirect_error(use_awaitable, ec));
  if (ec) {
    if (timed_out_) co_return absl::DeadlineExceededError("TLS handshake timed out");
    if (closed_) co_return absl::CancelledError("connection closed");
    co_return absl::UnavailableError(absl::StrCat("TLS handshake failed: ", ec.message()));
  }
  tls_established_ = true;
  co_return absl::OkStatus();
}

awaitable<absl::Status> Connection::ReadProxyHeader(std::chrono::milliseconds deadline) {
  DeadlineGuard guard(this, deadline);
  // Bounded by the parser: ProxyHeaderBytesWanted asks for nothing beyond the longest header
  // it accepts.
  std::string header;
  for (size_t want = ProxyHeaderBytesWanted(header); want > 0; want = ProxyHeaderBytesWanted(header)) {
    size_t old = header.size();
    header.resize(old + want);
    absl::StatusOr<size_t> got = co_await ReadRaw(header.data() + old, want);
    if (!got.ok()) co_return absl::Status(got.status().code(), absl::StrCat("PROXY header: ", got.status().message()));
    header.resize(old + *got);
  }
  ProxyParse parsed = ParseProxyHeader(header);
  if (parsed.kind != ProxyParse::kDone) {
    co_return absl::InvalidArgumentError(absl::StrCat("bad PROXY header: ", parsed.error));
  }
  if (!parsed.info.local) {
    peer_address_ = parsed.info.src_addr;
    peer_port_ = parsed.info.src_port;
    local_address_ = parsed.info.dst_addr;
    local_port_ = parsed.info.dst_port;
    via_proxy_ = true;
  }
  co_return absl::OkStatus();
}

std::string Connection::tls_version() const {
  if (!is_tls()) return "";
  return SSL_get_version(tls_stream_->native_handle());
}

std::string Connection::tls_cipher() const {
  if (!is_tls()) return "";
  const SSL_CIPHER* cipher = SSL_get_current_cipher(tls_stream_->native_handle());
  return cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "";
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  ++timer_generation_;
  timer_.cancel();
  boost::system::error_code ignored;
  socket().shutdown(Socket::shutdown_both, ignored);
  socket().close(ignored);
}

}  // namespace kite::net
