// TLS over a connected non-blocking socket that its owner polls: the TLS library reads and
// writes the descriptor directly, so an idle connection holds no buffers of ours.
//
// What: a thin driver of one SSL object, step by step: each call does what it can without
// blocking and says what it waits for (the socket readable or writable). The owner (lib/net's
// Connection, with Asio) waits and calls again. Unlike a stream that shuttles ciphertext through
// memory BIOs (Asio's ssl::stream keeps two 17 KiB vectors and a 2 x 17 KiB BIO pair per
// connection, about 68 KiB whether the connection is busy or idle), nothing is kept between
// calls: OpenSSL allocates its record buffers per record and frees them once empty
// (SSL_MODE_RELEASE_BUFFERS, set by lib/tls's contexts; BoringSSL always does), so an idle
// TLS connection costs the SSL object and its session, a few KiB.
// Standards: TLS 1.2 (RFC 5246) and 1.3 (RFC 8446) as the SSL_CTX allows; the records are the
// TLS library's.
// Untrusted input: the peer's TLS records, parsed by the TLS library. End of file from the
// socket is reported to the caller but never shown to the TLS library, so a peer that closes
// its side (or a local shutdown(SHUT_RD) after a read deadline) leaves the SSL object usable for
// a last write ("BYE"), and socket errors likewise never put it in a fatal state.
//
// Written to the API that OpenSSL 3 and BoringSSL share (built and tested with both).
// Concurrency: one Read and one Write may be outstanding at the same time (a read waiting for
// the socket while a write goes on), as the TLS library allows on one thread; never two of a
// kind. Not thread-safe.
#ifndef KITE_SERVICES_LIB_TLS_SOCKET_STREAM_H_
#define KITE_SERVICES_LIB_TLS_SOCKET_STREAM_H_

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kite::tls {

class SocketStream {
 public:
  // What a step waits for before it can be retried.
  enum class Want { kNothing, kRead, kWrite };
  struct Step {
    size_t bytes = 0;            // Read/Write: bytes done (> 0 when ok and want is kNothing)
    Want want = Want::kNothing;  // retry the same call once the socket is ready for this
    absl::Status status;         // not ok: failed for good (want is kNothing then)
    bool ok() const { return status.ok(); }
  };

  // The TLS side of `fd` (a connected stream socket, which must be non-blocking; not owned, the
  // caller closes it after destroying this). The SSL takes its own reference to ctx.
  static absl::StatusOr<std::unique_ptr<SocketStream>> Server(SSL_CTX* ctx, int fd);
  static absl::StatusOr<std::unique_ptr<SocketStream>> Client(SSL_CTX* ctx, int fd);
  ~SocketStream();
  SocketStream(const SocketStream&) = delete;
  SocketStream& operator=(const SocketStream&) = delete;

  Step Handshake();
  // At most n bytes of application data (n > 0). Failures, all kUnavailable:
  // "connection closed by peer" (close_notify), "connection closed by peer without TLS
  // close_notify" (end of file), "read failed: <errno text>", "TLS error: <library text>".
  Step Read(char* p, size_t n);
  // Up to n bytes (n > 0), at least one record's worth unless it waits: call again with the
  // rest. After kWrite, call again with the same bytes (at least as many).
  Step Write(const char* p, size_t n);
  // Decrypted or received-but-unprocessed input inside the TLS library: Read may return data
  // without the socket becoming readable, so check this before waiting for it.
  bool HasPending() const;

  SSL* native() const { return ssl_; }

  // The socket is about to be closed: from now on every step fails instead of touching a
  // descriptor number the process may reuse for another connection.
  void ForgetSocket() { transport_.fd = -1; }

  // The state the socket BIO keeps (public for the BIO's callbacks in the .cc).
  struct Transport {
    int fd = -1;
    bool eof = false;     // the peer (or a local shutdown) ended the input
    int read_errno = 0;   // a failed recv
    int write_errno = 0;  // a failed send
  };

 private:
  SocketStream(SSL* ssl, int fd);
  static absl::StatusOr<std::unique_ptr<SocketStream>> Make(SSL_CTX* ctx, int fd, bool server);
  // Turns a failed SSL call's result into a Step.
  Step Failed(int ret, const char* op);

  SSL* ssl_;
  Transport transport_;
};

}  // namespace kite::tls

#endif  // KITE_SERVICES_LIB_TLS_SOCKET_STREAM_H_
