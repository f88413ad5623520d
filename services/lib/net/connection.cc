#include "lib/net/connection.h"

#include <utility>

#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <algorithm>

#include <zlib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/net/proxy_protocol.h"

namespace kite::net {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
using Want = tls::SocketStream::Want;

// Per-read sizes: a line read asks for little so the buffer stays near max_len; bulk reads
// (literals, DATA) ask for more to save system calls. Neither depends on what the peer says.
constexpr size_t kLineChunk = 4096;
constexpr size_t kBulkChunk = 64 * 1024;
// COMPRESS=DEFLATE: compressed bytes read at a time, and deflate output written at a time.
constexpr size_t kCompressedChunk = 16 * 1024;
constexpr size_t kDeflateChunk = 64 * 1024;

std::string FormatAddress(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  }
  return address.to_string();
}

}  // namespace

// The zlib state of COMPRESS=DEFLATE. The inflater's input is compressed bytes received but
// not yet inflated; it is refilled only when fully consumed, so it never holds more than one
// transport read.
struct Connection::Compression {
  Compression() = default;
  Compression(const Compression&) = delete;
  Compression& operator=(const Compression&) = delete;
  ~Compression() {
    if (inflate_ready) inflateEnd(&inflater);
    if (deflate_ready) deflateEnd(&deflater);
  }

  z_stream inflater{};
  z_stream deflater{};
  bool inflate_ready = false;
  bool deflate_ready = false;
  std::string input;            // compressed input; inflater.next_in points into it
  bool output_pending = false;  // the last inflate filled its output: more may follow unread
  absl::Status failed;          // sticky: a corrupt or ended input stream
};

// Arms one direction's timer for one public call; when it fires, that direction of the socket
// is shut down (see OnDeadline) and every later operation of the direction fails fast. A
// generation count makes a stale expiry, already queued when the call finished, harmless.
class Connection::DeadlineGuard {
 public:
  DeadlineGuard(Connection* c, Direction direction, std::chrono::milliseconds deadline)
      : c_(c), d_(direction == Direction::kWrite ? &c->write_ : &c->read_), direction_(direction) {
    d_->in_flight = true;
    if (direction_ == Direction::kBoth) c_->write_.in_flight = true;
    uint64_t generation = ++d_->generation;
    d_->timer.expires_after(deadline);
    d_->timer.async_wait(
        [weak = c_->weak_from_this(), direction, generation](const boost::system::error_code& ec) {
          if (ec) return;
          std::shared_ptr<Connection> self = weak.lock();
          if (!self) return;
          Deadline& d = direction == Direction::kWrite ? self->write_ : self->read_;
          if (d.generation != generation) return;
          self->OnDeadline(direction);
        });
  }
  ~DeadlineGuard() {
    d_->in_flight = false;
    if (direction_ == Direction::kBoth) c_->write_.in_flight = false;
    ++d_->generation;
    d_->timer.cancel();
  }
  DeadlineGuard(const DeadlineGuard&) = delete;
  DeadlineGuard& operator=(const DeadlineGuard&) = delete;

 private:
  Connection* c_;
  Deadline* d_;
  Direction direction_;
};

// Asio 1.74 cannot cancel one operation of a socket, only all of them, and cancelling a TLS
// write loses ciphertext. So a deadline shuts down its own direction of the TCP socket, which
// completes just that direction's pending operation (EOF for a read, EPIPE for a write) and
// leaves the other one running. The socket is cancelled as well when the other direction is
// idle, in case the pending operation waits on the other direction internally (a TLS read
// answering a KeyUpdate).
void Connection::OnDeadline(Direction direction) {
  boost::system::error_code ignored;
  switch (direction) {
    case Direction::kRead:
      read_.timed_out = true;
      socket().shutdown(Socket::shutdown_receive, ignored);
      if (!write_.in_flight) socket().cancel(ignored);
      break;
    case Direction::kWrite:
      write_.timed_out = true;
      socket().shutdown(Socket::shutdown_send, ignored);
      if (!read_.in_flight) socket().cancel(ignored);
      break;
    case Direction::kBoth:
      read_.timed_out = true;
      write_.timed_out = true;
      socket().shutdown(Socket::shutdown_both, ignored);
      socket().cancel(ignored);
      break;
  }
}

Connection::Connection(Socket socket, std::shared_ptr<tls::ServerContext> tls)
    : executor_(socket.get_executor()),
      socket_(std::move(socket)),
      tls_(std::move(tls)),
      read_(executor_),
      write_(executor_) {
  boost::system::error_code ec;
  // Every reply is written whole, in one write per flush: Nagle's algorithm only holds back
  // the last segment of a large one until the client's delayed ACK (up to 40 ms on Linux).
  socket_.set_option(boost::asio::ip::tcp::no_delay(true), ec);
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

absl::Status Connection::ErrorStatus(const boost::system::error_code& ec, std::string_view op,
                                     Direction direction) const {
  std::string what(op);
  bool timed_out = direction == Direction::kWrite ? write_.timed_out : read_.timed_out;
  if (direction == Direction::kBoth) timed_out = read_.timed_out || write_.timed_out;
  if (timed_out) return absl::DeadlineExceededError(absl::StrCat(what, " timed out"));
  if (closed_) return absl::CancelledError("connection closed");
  if (ec == asio::error::eof) return absl::UnavailableError("connection closed by peer");
  return absl::UnavailableError(absl::StrCat(what, " failed: ", ec.message()));
}

absl::Status Connection::TlsStatus(const absl::Status& cause, Direction direction) const {
  bool timed_out = direction == Direction::kWrite ? write_.timed_out : read_.timed_out;
  if (direction == Direction::kBoth) timed_out = read_.timed_out || write_.timed_out;
  if (timed_out) {
    return absl::DeadlineExceededError(direction == Direction::kWrite  ? "write timed out"
                                       : direction == Direction::kRead ? "read timed out"
                                                                       : "TLS handshake timed out");
  }
  if (closed_) return absl::CancelledError("connection closed");
  return cause;
}

bool Connection::HasBufferedInput() const {
  if (read_.in_flight) return false;  // the pending read owns the buffer
  if (in_start_ < in_.size()) return true;
  return compression_ != nullptr && (compression_->inflater.avail_in > 0 || compression_->output_pending);
}

size_t Connection::input_capacity() const {
  static const size_t kInline = std::string().capacity();  // no heap memory up to this
  size_t held = in_.capacity() > kInline ? in_.capacity() : 0;
  if (compression_ && compression_->input.capacity() > kInline) held += compression_->input.capacity();
  return held;
}

void Connection::CompactInput() {
  if (in_start_ >= in_.size()) {
    // Drained: give the buffer back, so a connection waiting for its peer holds none.
    std::string().swap(in_);
    in_start_ = 0;
    return;
  }
  if (in_start_ == 0) return;
  in_.erase(0, in_start_);
  in_start_ = 0;
}

awaitable<absl::StatusOr<size_t>> Connection::ReadTransport(char* p, size_t n) {
  if (closed_) co_return absl::CancelledError("connection closed");
  if (read_.timed_out) co_return absl::DeadlineExceededError("read timed out");
  boost::system::error_code ec;
  size_t got = 0;
  if (ssl_) {
    for (;;) {
      tls::SocketStream::Step step = ssl_->Read(p, n);
      if (!step.ok()) co_return TlsStatus(step.status, Direction::kRead);
      if (step.want == Want::kNothing) {
        got = step.bytes;
        break;
      }
      ec = co_await WaitSocket(step.want);
      if (ec || closed_ || read_.timed_out) break;
    }
  } else {
    got = co_await socket_.async_read_some(asio::buffer(p, n), redirect_error(use_awaitable, ec));
  }
  // A read that raced its deadline fails even if bytes came: the receiving side is shut down.
  if (read_.timed_out) co_return absl::DeadlineExceededError("read timed out");
  if (ec || closed_) co_return ErrorStatus(ec, "read", Direction::kRead);
  co_return got;
}

awaitable<boost::system::error_code> Connection::WaitSocket(Want want) {
  boost::system::error_code ec;
  co_await socket_.async_wait(want == Want::kWrite ? Socket::wait_write : Socket::wait_read,
                              redirect_error(use_awaitable, ec));
  co_return ec;
}

awaitable<absl::Status> Connection::WaitReadable() {
  if (compression_) {
    Compression& z = *compression_;
    if (!z.failed.ok() || z.inflater.avail_in > 0 || z.output_pending) co_return absl::OkStatus();
    std::string().swap(z.input);  // all inflated: hold no compressed input while waiting
    z.inflater.next_in = nullptr;
  }
  absl::Status ready = co_await WaitTransportReadable();
  co_return ready;
}

awaitable<absl::Status> Connection::WaitTransportReadable() {
  if (closed_) co_return absl::CancelledError("connection closed");
  if (read_.timed_out) co_return absl::DeadlineExceededError("read timed out");
  // Records the TLS library already holds never make the socket readable again.
  if (ssl_ && ssl_->HasPending()) co_return absl::OkStatus();
  boost::system::error_code ec;
  // Bytes already there (a pipelining client): read at once, no trip through the reactor. An
  // error here is left for the read to report.
  if (socket_.available(ec) > 0 || ec) co_return absl::OkStatus();
  co_await socket_.async_wait(Socket::wait_read, redirect_error(use_awaitable, ec));
  if (read_.timed_out) co_return absl::DeadlineExceededError("read timed out");
  if (ec || closed_) co_return ErrorStatus(ec, "read", Direction::kRead);
  co_return absl::OkStatus();
}

awaitable<absl::StatusOr<size_t>> Connection::ReadInflated(char* p, size_t n) {
  Compression& z = *compression_;
  for (;;) {
    if (!z.failed.ok()) co_return z.failed;
    if (z.inflater.avail_in > 0 || z.output_pending) {
      // Never more output than this read may return: the read's own bound caps inflation.
      z.inflater.next_out = reinterpret_cast<Bytef*>(p);
      z.inflater.avail_out = static_cast<uInt>(n);
      uInt before = z.inflater.avail_in;
      int rc = inflate(&z.inflater, Z_SYNC_FLUSH);
      size_t produced = n - z.inflater.avail_out;
      z.output_pending = z.inflater.avail_out == 0;
      if (rc == Z_STREAM_END) {
        // RFC 4978 never ends the stream; nothing after the final block can be read.
        z.failed = absl::DataLossError("the client ended its compressed stream");
        z.output_pending = false;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        z.failed = absl::DataLossError(absl::StrCat("corrupt compressed input (COMPRESS=DEFLATE): ",
                                                    z.inflater.msg != nullptr ? z.inflater.msg : "inflate failed"));
        z.output_pending = false;
      }
      if (produced > 0) co_return produced;  // a failure is reported by the next read
      if (!z.failed.ok()) co_return z.failed;
      if (z.inflater.avail_in > 0) {
        // Input consumed without output (block headers, a flush marker): go on. No progress
        // at all with input and output space left cannot happen; never spin on it.
        if (z.inflater.avail_in < before) continue;
        z.failed = absl::DataLossError("corrupt compressed input (COMPRESS=DEFLATE): inflate stalled");
        co_return z.failed;
      }
    }
    // Everything received is inflated: read more compressed bytes, once there are some.
    std::string().swap(z.input);
    z.inflater.next_in = nullptr;
    absl::Status ready = co_await WaitTransportReadable();
    if (!ready.ok()) co_return ready;
    z.input.resize(kCompressedChunk);
    absl::StatusOr<size_t> got = co_await ReadTransport(z.input.data(), z.input.size());
    if (!got.ok()) {
      z.input.clear();
      co_return got.status();
    }
    z.input.resize(*got);
    z.inflater.next_in = reinterpret_cast<Bytef*>(z.input.data());
    z.inflater.avail_in = static_cast<uInt>(z.input.size());
  }
}

awaitable<absl::StatusOr<size_t>> Connection::ReadRaw(char* p, size_t n) {
  if (compression_) {
    absl::StatusOr<size_t> inflated = co_await ReadInflated(p, n);
    co_return inflated;
  }
  absl::StatusOr<size_t> got = co_await ReadTransport(p, n);
  co_return got;
}

awaitable<absl::Status> Connection::Fill(size_t chunk) {
  CompactInput();
  // Wait before growing the buffer: an idle connection holds no read buffer.
  absl::Status ready = co_await WaitReadable();
  if (!ready.ok()) co_return ready;
  size_t old = in_.size();
  in_.resize(old + chunk);
  absl::StatusOr<size_t> got = co_await ReadRaw(in_.data() + old, chunk);
  in_.resize(old + (got.ok() ? *got : 0));
  co_return got.status();
}

awaitable<absl::StatusOr<std::string>> Connection::ReadLine(size_t max_len, std::chrono::milliseconds deadline) {
  if (max_len == 0) co_return absl::InvalidArgumentError("ReadLine needs max_len > 0");
  if (read_.in_flight) co_return absl::FailedPreconditionError("another read is in progress");
  DeadlineGuard guard(this, Direction::kRead, deadline);
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
  if (read_.in_flight) co_return absl::FailedPreconditionError("another read is in progress");
  std::string out;
  size_t buffered = std::min(n, in_.size() - in_start_);
  out.append(in_, in_start_, buffered);
  in_start_ += buffered;
  if (out.size() == n) co_return out;
  DeadlineGuard guard(this, Direction::kRead, deadline);
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
  if (read_.in_flight) co_return absl::FailedPreconditionError("another read is in progress");
  if (in_start_ < in_.size()) {
    size_t take = std::min(max, in_.size() - in_start_);
    std::string out(in_, in_start_, take);
    in_start_ += take;
    co_return out;
  }
  CompactInput();  // drained: give the buffer back while we wait
  DeadlineGuard guard(this, Direction::kRead, deadline);
  absl::Status ready = co_await WaitReadable();
  if (!ready.ok()) co_return ready;
  std::string out(std::min(max, read_hint_), '\0');
  absl::StatusOr<size_t> got = co_await ReadRaw(out.data(), out.size());
  if (!got.ok()) co_return got.status();
  if (*got == out.size()) {
    read_hint_ = std::min(kBulkChunk, read_hint_ * 2);
  } else if (*got < read_hint_ / 4) {
    read_hint_ = std::max(kMinReadChunk, read_hint_ / 2);
  }
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

awaitable<absl::Status> Connection::WriteTransport(const char* p, size_t n) {
  boost::system::error_code ec;
  if (ssl_) {
    size_t done = 0;
    while (done < n) {
      if (closed_ || write_.timed_out) {
        co_return TlsStatus(absl::CancelledError("connection closed"), Direction::kWrite);
      }
      tls::SocketStream::Step step = ssl_->Write(p + done, n - done);
      if (!step.ok()) co_return TlsStatus(step.status, Direction::kWrite);
      if (step.want == Want::kNothing) {
        done += step.bytes;
        continue;
      }
      ec = co_await WaitSocket(step.want);
      if (ec) break;
    }
  } else {
    co_await asio::async_write(socket_, asio::buffer(p, n), redirect_error(use_awaitable, ec));
  }
  if (ec) co_return ErrorStatus(ec, "write", Direction::kWrite);
  co_return absl::OkStatus();
}

awaitable<absl::Status> Connection::WriteDeflated(std::string_view data) {
  if (data.empty()) co_return absl::OkStatus();  // a flush of nothing would still cost 5 bytes
  z_stream& z = compression_->deflater;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  // Output goes out chunk by chunk, so a large response needs no second copy of its size.
  std::string out(std::min<size_t>(kDeflateChunk, deflateBound(&z, z.avail_in) + 16), '\0');
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&z, Z_SYNC_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR) co_return absl::InternalError("deflate failed");
    size_t produced = out.size() - z.avail_out;
    // Z_SYNC_FLUSH is complete once deflate returns with output space left.
    bool done = z.avail_in == 0 && z.avail_out != 0;
    if (produced > 0) {
      absl::Status written = co_await WriteTransport(out.data(), produced);
      if (!written.ok()) co_return written;
    }
    if (done) break;
  }
  z.next_in = nullptr;
  co_return absl::OkStatus();
}

awaitable<absl::Status> Connection::Write(std::string_view data, std::chrono::milliseconds deadline) {
  if (closed_) co_return absl::CancelledError("connection closed");
  if (write_.in_flight) co_return absl::FailedPreconditionError("another write is in progress");
  if (write_.timed_out) co_return absl::DeadlineExceededError("write timed out");
  DeadlineGuard guard(this, Direction::kWrite, deadline);
  if (compression_) {
    absl::Status deflated = co_await WriteDeflated(data);
    co_return deflated;
  }
  absl::Status written = co_await WriteTransport(data.data(), data.size());
  co_return written;
}

absl::Status Connection::StartCompression() {
  if (closed_) return absl::CancelledError("connection closed");
  if (compression_) return absl::FailedPreconditionError("compression is already active");
  if (read_.in_flight || write_.in_flight) {
    return absl::FailedPreconditionError("StartCompression with a read or write in flight");
  }
  auto z = std::make_unique<Compression>();
  // RFC 4978: raw deflate. The peer may use a 32 KiB window, so we inflate with one; we
  // deflate with 8 KiB and memLevel 6 (about 64 KiB of state instead of 256 KiB), which any
  // inflater reads, because thousands of idle sessions hold one each.
  if (inflateInit2(&z->inflater, -15) != Z_OK) return absl::InternalError("inflateInit2 failed");
  z->inflate_ready = true;
  if (deflateInit2(&z->deflater, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -13, 6, Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::InternalError("deflateInit2 failed");
  }
  z->deflate_ready = true;
  // Bytes already received were sent after our OK, so they are compressed.
  z->input.assign(in_, in_start_, std::string::npos);
  in_.clear();
  in_start_ = 0;
  z->inflater.next_in = reinterpret_cast<Bytef*>(z->input.data());
  z->inflater.avail_in = static_cast<uInt>(z->input.size());
  compression_ = std::move(z);
  return absl::OkStatus();
}

awaitable<absl::Status> Connection::StartTls(std::chrono::milliseconds deadline) {
  if (!tls_) co_return absl::FailedPreconditionError("TLS is not configured for this listener");
  if (ssl_) co_return absl::FailedPreconditionError("TLS is already active");
  if (compression_) co_return absl::FailedPreconditionError("STARTTLS after COMPRESS");
  if (closed_) co_return absl::CancelledError("connection closed");
  if (read_.in_flight || write_.in_flight) {
    co_return absl::FailedPreconditionError("StartTls with a read or write in flight");
  }
  // CVE-2011-0411: bytes that arrived in plaintext after the STARTTLS command must not be
  // executed as if they came through TLS.
  discarded_on_starttls_ = in_start_ < in_.size();
  in_.clear();
  in_start_ = 0;

  // The SSL holds its own reference to the context current now (certificate reload).
  std::shared_ptr<SSL_CTX> native = tls_->Current();
  boost::system::error_code ec;
  socket_.native_non_blocking(true, ec);  // the TLS library reads and writes the descriptor
  if (ec) co_return absl::UnavailableError(absl::StrCat("TLS handshake failed: ", ec.message()));
  auto stream = tls::SocketStream::Server(native.get(), socket_.native_handle());
  if (!stream.ok()) co_return stream.status();
  ssl_ = std::move(*stream);

  DeadlineGuard guard(this, Direction::kBoth, deadline);
  for (;;) {
    if (closed_ || read_.timed_out || write_.timed_out) break;
    tls::SocketStream::Step step = ssl_->Handshake();
    if (!step.ok()) {
      absl::Status failed = TlsStatus(step.status, Direction::kBoth);
      if (failed.code() != absl::StatusCode::kUnavailable || absl::StartsWith(failed.message(), "TLS handshake")) {
        co_return failed;
      }
      co_return absl::UnavailableError(absl::StrCat("TLS handshake failed: ", failed.message()));
    }
    if (step.want == Want::kNothing) {
      tls_established_ = true;
      co_return absl::OkStatus();
    }
    ec = co_await WaitSocket(step.want);
    if (ec) break;
  }
  if (read_.timed_out || write_.timed_out) co_return absl::DeadlineExceededError("TLS handshake timed out");
  if (closed_) co_return absl::CancelledError("connection closed");
  co_return absl::UnavailableError(absl::StrCat("TLS handshake failed: ", ec.message()));
}

awaitable<absl::Status> Connection::ReadProxyHeader(std::chrono::milliseconds deadline) {
  if (read_.in_flight) co_return absl::FailedPreconditionError("another read is in progress");
  DeadlineGuard guard(this, Direction::kRead, deadline);
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
  return SSL_get_version(ssl_->native());
}

std::string Connection::tls_cipher() const {
  if (!is_tls()) return "";
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_->native());
  return cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "";
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  ++read_.generation;
  read_.timer.cancel();
  ++write_.generation;
  write_.timer.cancel();
  if (ssl_) ssl_->ForgetSocket();  // the descriptor number may be reused once closed
  boost::system::error_code ignored;
  socket().shutdown(Socket::shutdown_both, ignored);
  socket().close(ignored);
}

}  // namespace kite::net
