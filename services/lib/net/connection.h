// One client connection of a Kite listener: bounded, deadline-driven reads and writes over TCP
// or TLS, with STARTTLS and COMPRESS=DEFLATE.
//
// What: the byte-level I/O every line protocol daemon (SMTP, IMAP, POP3) shares, written as
// Boost.Asio C++20 coroutines (Boost 1.74).
// Standards: STARTTLS as in RFC 3207 (SMTP), RFC 3501 section 6.2.1 (IMAP), RFC 2595 (POP3):
// plaintext received after the STARTTLS command and before the handshake is discarded, the fix
// for CVE-2011-0411 (command injection into the TLS session). Implicit TLS per RFC 8314.
// IMAP COMPRESS=DEFLATE (RFC 4978): raw deflate (RFC 1951) in both directions, inside TLS,
// every write ending in a sync flush.
// Untrusted input: everything read from the peer. Every read has a deadline; every buffer has a
// bound known before anything is allocated (line reads hold at most max_len + 4 KiB; exact and
// partial reads grow only as bytes arrive, never by a size the peer announced). Compressed input
// is inflated into the same bounds (a read never inflates more than it may return), so a
// decompression bomb costs CPU per byte returned, never memory.
//
// Memory: an idle connection (waiting for the peer, e.g. in IMAP IDLE) holds no read buffer:
// reads first wait for the socket to become readable (unless input is already buffered, in the
// TLS library or the inflater) and only then allocate. TLS is driven straight over the socket
// (lib/tls/socket_stream.h), so it adds no buffers of its own either: what stays is the SSL
// object, and with COMPRESS the zlib state.
//
// Concurrency: everything runs on executor(). At most ONE read (ReadLine, ReadExact, ReadSome,
// ReadProxyHeader) and ONE write (Write) may be in flight at the same time, e.g. an IMAP IDLE
// loop waiting in ReadSome for "DONE" while another coroutine writes untagged updates. A second
// read while one is pending (or a second write) fails with kFailedPrecondition. Each direction
// has its own deadline: when a read's deadline passes only the receiving side is shut down
// (shutdown(SHUT_RD)), so a pending or later Write still works (to send "BYE timeout"); when a
// write's deadline passes only the sending side is shut down and a pending read is untouched.
// StartTls and StartCompression need both directions idle.
#ifndef KITE_SERVICES_LIB_NET_CONNECTION_H_
#define KITE_SERVICES_LIB_NET_CONNECTION_H_

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/tls/context.h"
#include "lib/tls/socket_stream.h"

namespace kite::net {

// Status codes every read or write may return, so sessions can answer and log precisely:
//   kDeadlineExceeded  the deadline passed (the session should say so and close: after a
//                      timed-out TLS read the stream's state is unspecified);
//   kOutOfRange        ReadLine only: the line was longer than max_len (it was skipped, the
//                      connection is still usable and in sync);
//   kUnavailable       the peer closed the connection or it failed (reset, TLS alert);
//   kCancelled         Close() was called, e.g. by Listener::Drain;
//   kDataLoss          the peer's compressed (COMPRESS=DEFLATE) stream is corrupt: close;
//   kFailedPrecondition misuse (STARTTLS without a TLS context or twice, COMPRESS twice, two
//                      reads or two writes at once).
// A deadline that passed is final for its direction: later reads (or writes) fail at once with
// kDeadlineExceeded.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Socket = boost::asio::ip::tcp::socket;

  // Takes the accepted socket. `tls` may be null (no STARTTLS then). Normally only the Listener
  // creates connections; tests may too. Must be owned by a shared_ptr.
  Connection(Socket socket, std::shared_ptr<tls::ServerContext> tls);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Reads one line ending in LF and returns it with its terminator exactly as received ("\r\n"
  // or a bare "\n"): whether bare LF is acceptable is the protocol's decision, not ours. The
  // line, terminator included, may be at most max_len bytes. A longer line yields kOutOfRange
  // after the input up to and including its LF has been read and dropped (Postfix's
  // smtp_get: the session stays in sync); the dropping is bounded by the same deadline. The
  // deadline covers the whole call, so a peer trickling one byte a second cannot hold it open.
  boost::asio::awaitable<absl::StatusOr<std::string>> ReadLine(size_t max_len, std::chrono::milliseconds deadline);

  // Exactly n bytes (IMAP literals, SMTP BDAT chunks). The caller checks n against its own
  // limit first; memory grows only as the bytes arrive.
  boost::asio::awaitable<absl::StatusOr<std::string>> ReadExact(size_t n, std::chrono::milliseconds deadline);

  // Whatever is available, at least 1 and at most max bytes (streaming parsers: SMTP DATA).
  boost::asio::awaitable<absl::StatusOr<std::string>> ReadSome(size_t max, std::chrono::milliseconds deadline);
  // Puts bytes a streaming parser read but did not use (what follows SMTP's end of data:
  // pipelined commands) back in front of the buffered input, for the next read.
  void Unread(std::string_view bytes);

  // Writes all of data (compressed and flushed with Z_SYNC_FLUSH once compression is on, so
  // the peer can decode everything written so far).
  boost::asio::awaitable<absl::Status> Write(std::string_view data, std::chrono::milliseconds deadline);

  // Starts TLS as a server on this connection (STARTTLS after the protocol's "go ahead" reply,
  // or at once for implicit TLS). Plaintext already buffered beyond the STARTTLS command is
  // discarded (CVE-2011-0411); HadBufferedInput() then reports it so the session can log or
  // penalise the client. Takes the TLS context current at this moment (certificate reload).
  // On failure the connection is unusable: close it.
  boost::asio::awaitable<absl::Status> StartTls(std::chrono::milliseconds deadline);

  // IMAP COMPRESS=DEFLATE (RFC 4978 section 3): call right after the tagged OK of COMPRESS has
  // been written (that OK goes out uncompressed), with no read or write in flight. From then
  // on every byte read is inflated and every Write deflated (raw deflate, RFC 1951), below
  // TLS's encryption when TLS is on. Input already buffered is taken as compressed: a client
  // may only send it after our OK (RFC 4978 says it waits for the OK), so it is compressed
  // data, or garbage that fails with kDataLoss. kFailedPrecondition when already compressing
  // (the caller answers NO [COMPRESSIONACTIVE]), kCancelled after Close().
  absl::Status StartCompression();
  bool is_compressed() const { return compression_ != nullptr; }

  // Input received but not yet returned by a read (a pipelining client), including compressed
  // bytes not inflated yet.
  bool HasBufferedInput() const;
  // Whether StartTls discarded buffered plaintext.
  bool HadBufferedInput() const { return discarded_on_starttls_; }
  // Bytes of memory the connection holds for input right now (its read buffer and, with
  // COMPRESS, the compressed input), not counting the TLS library or zlib: 0 while it waits
  // for the peer with nothing buffered.
  size_t input_capacity() const;

  bool is_tls() const { return tls_established_; }
  bool tls_available() const { return tls_ != nullptr; }
  std::string tls_version() const;  // "TLSv1.3", "" without TLS
  std::string tls_cipher() const;   // "TLS_AES_256_GCM_SHA384", "" without TLS

  // The real client: from a trusted PROXY header, else the socket's peer. IPv4 clients of a
  // dual-stack socket appear as IPv4 ("192.0.2.1", not "::ffff:192.0.2.1").
  const std::string& peer_address() const { return peer_address_; }
  uint16_t peer_port() const { return peer_port_; }
  // The address the client connected to (from the PROXY header when trusted).
  const std::string& local_address() const { return local_address_; }
  uint16_t local_port() const { return local_port_; }
  bool via_proxy() const { return via_proxy_; }

  // Closes the socket at once (no TLS close_notify: the peer may be gone or hostile). Pending
  // operations complete with kCancelled. Call on executor() (post there from elsewhere).
  void Close();
  bool closed() const { return closed_; }

  // The connection's strand: everything touching this object runs there.
  boost::asio::any_io_executor executor() const { return executor_; }

  // Reads a PROXY v1/v2 header, byte-exact so no protocol byte (e.g. a TLS ClientHello) is
  // consumed, and adopts its addresses. For the Listener, and only for trusted sources.
  boost::asio::awaitable<absl::Status> ReadProxyHeader(std::chrono::milliseconds deadline);

 private:
  class DeadlineGuard;
  struct Compression;  // zlib state, in connection.cc
  enum class Direction { kRead, kWrite, kBoth };
  // The deadline state of one direction.
  struct Deadline {
    explicit Deadline(const boost::asio::any_io_executor& ex) : timer(ex) {}
    boost::asio::steady_timer timer;
    uint64_t generation = 0;  // makes an expiry queued before the call ended harmless
    bool in_flight = false;   // an operation of this direction is running
    bool timed_out = false;   // sticky: the direction is shut down
  };

  Socket& socket() { return socket_; }
  // One read of at most n bytes into p (inflated when compressing), with the call's deadline
  // armed.
  boost::asio::awaitable<absl::StatusOr<size_t>> ReadRaw(char* p, size_t n);
  // One read of at most n bytes from TLS or TCP.
  boost::asio::awaitable<absl::StatusOr<size_t>> ReadTransport(char* p, size_t n);
  // Returns once a read can make progress without waiting: input buffered in the TLS library,
  // or the socket readable (or closed, shut down, failed: the read then reports it). Lets an
  // idle connection wait without a read buffer.
  boost::asio::awaitable<absl::Status> WaitReadable();
  // The same for the transport alone (TLS or TCP), below the inflater.
  boost::asio::awaitable<absl::Status> WaitTransportReadable();
  // Waits until the socket is ready for what a TLS step wants.
  boost::asio::awaitable<boost::system::error_code> WaitSocket(tls::SocketStream::Want want);
  boost::asio::awaitable<absl::StatusOr<size_t>> ReadInflated(char* p, size_t n);
  // Writes all of [p, p + n) to TLS or TCP.
  boost::asio::awaitable<absl::Status> WriteTransport(const char* p, size_t n);
  boost::asio::awaitable<absl::Status> WriteDeflated(std::string_view data);
  // Appends up to `chunk` bytes from the peer to in_.
  boost::asio::awaitable<absl::Status> Fill(size_t chunk);
  absl::Status ErrorStatus(const boost::system::error_code& ec, std::string_view op, Direction direction) const;
  // A failure of a TLS step, or of waiting for the socket, as the status a caller sees.
  absl::Status TlsStatus(const absl::Status& cause, Direction direction) const;
  void CompactInput();
  void OnDeadline(Direction direction);

  boost::asio::any_io_executor executor_;
  Socket socket_;
  std::unique_ptr<tls::SocketStream> ssl_;  // set once TLS starts; reads and writes socket_
  std::shared_ptr<tls::ServerContext> tls_;
  Deadline read_;
  Deadline write_;
  std::unique_ptr<Compression> compression_;  // set once COMPRESS starts
  bool closed_ = false;
  bool discarded_on_starttls_ = false;
  bool tls_established_ = false;
  bool via_proxy_ = false;

  std::string in_;        // received, not yet returned: in_[in_start_, size); freed when drained
  size_t in_start_ = 0;
  // ReadSome's next buffer (allocated once the socket is readable): small while the peer sends
  // little, doubled after each read that filled it, halved after small ones.
  size_t read_hint_ = kMinReadChunk;
  static constexpr size_t kMinReadChunk = 4 * 1024;

  std::string peer_address_;
  uint16_t peer_port_ = 0;
  std::string local_address_;
  uint16_t local_port_ = 0;
};

}  // namespace kite::net

#endif  // KITE_SERVICES_LIB_NET_CONNECTION_H_
