#include "lib/tls/socket_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "lib/tls/context.h"

namespace kite::tls {
namespace {

using Transport = SocketStream::Transport;

Transport* TransportOf(BIO* bio) { return static_cast<Transport*>(BIO_get_data(bio)); }

// Every failure is reported to the TLS library as "retry later" and kept in Transport for
// SocketStream to report: the library never sees an end of file or a socket error, so neither
// can put the SSL object into a fatal state (see the header).
int BioWrite(BIO* bio, const char* data, int len) {
  BIO_clear_retry_flags(bio);
  if (len <= 0) return 0;
  Transport* t = TransportOf(bio);
  if (t->write_errno == 0) {
    for (;;) {
      // MSG_NOSIGNAL: a peer that went away is an error to report, not a SIGPIPE.
      ssize_t n = ::send(t->fd, data, static_cast<size_t>(len), MSG_NOSIGNAL);
      if (n >= 0) return static_cast<int>(n);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) t->write_errno = errno;
      break;
    }
  }
  BIO_set_retry_write(bio);
  return -1;
}

int BioRead(BIO* bio, char* data, int len) {
  BIO_clear_retry_flags(bio);
  if (len <= 0) return 0;
  Transport* t = TransportOf(bio);
  if (!t->eof && t->read_errno == 0) {
    for (;;) {
      ssize_t n = ::recv(t->fd, data, static_cast<size_t>(len), 0);
      if (n > 0) return static_cast<int>(n);
      if (n == 0) {
        t->eof = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        t->read_errno = errno;
      }
      break;
    }
  }
  BIO_set_retry_read(bio);
  return -1;
}

long BioCtrl(BIO*, int cmd, long, void*) {
  // The TLS library flushes after each handshake flight; there is nothing buffered here.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int BioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* SocketMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "kite socket");
    if (m == nullptr) return static_cast<BIO_METHOD*>(nullptr);
    BIO_meth_set_write(m, BioWrite);
    BIO_meth_set_read(m, BioRead);
    BIO_meth_set_ctrl(m, BioCtrl);
    BIO_meth_set_create(m, BioCreate);
    return m;
  }();
  return method;
}

int Clamp(size_t n) { return n > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(n); }

}  // namespace

SocketStream::SocketStream(SSL* ssl, int fd) : ssl_(ssl) { transport_.fd = fd; }

SocketStream::~SocketStream() { SSL_free(ssl_); }  // frees the BIO too

absl::StatusOr<std::unique_ptr<SocketStream>> SocketStream::Server(SSL_CTX* ctx, int fd) {
  return Make(ctx, fd, true);
}

absl::StatusOr<std::unique_ptr<SocketStream>> SocketStream::Client(SSL_CTX* ctx, int fd) {
  return Make(ctx, fd, false);
}

absl::StatusOr<std::unique_ptr<SocketStream>> SocketStream::Make(SSL_CTX* ctx, int fd,
                                                                 bool server) {
  ERR_clear_error();
  const BIO_METHOD* method = SocketMethod();
  if (method == nullptr) return absl::InternalError("cannot create the socket BIO method");
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return absl::InternalError(absl::StrCat("SSL_new failed: ", LastError()));
  BIO* bio = BIO_new(method);
  if (bio == nullptr) {
    SSL_free(ssl);
    return absl::InternalError("cannot create a socket BIO");
  }
  std::unique_ptr<SocketStream> stream(new SocketStream(ssl, fd));
  BIO_set_data(bio, &stream->transport_);
  SSL_set_bio(ssl, bio, bio);  // one reference for both directions, now the SSL's
  // Partial writes: Write returns after each record, so a large write never needs the whole
  // of it encrypted at once. Release buffers: the record buffers are freed whenever empty (a
  // no-op flag in BoringSSL, which always does so).
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                        SSL_MODE_RELEASE_BUFFERS);
  if (server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  return stream;
}

SocketStream::Step SocketStream::Failed(int ret, const char* op) {
  Step step;
  int err = SSL_get_error(ssl_, ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      if (transport_.read_errno != 0) {
        step.status = absl::UnavailableError(
            absl::StrCat(op, " failed: ", std::strerror(transport_.read_errno)));
      } else if (transport_.eof) {
        step.status = absl::UnavailableError("connection closed by peer without TLS close_notify");
      } else {
        step.want = Want::kRead;
      }
      break;
    case SSL_ERROR_WANT_WRITE:
      if (transport_.write_errno != 0) {
        step.status = absl::UnavailableError(
            absl::StrCat(op, " failed: ", std::strerror(transport_.write_errno)));
      } else {
        step.want = Want::kWrite;
      }
      break;
    case SSL_ERROR_ZERO_RETURN:
      step.status = absl::UnavailableError("connection closed by peer");
      break;
    default: {
      std::string detail = LastError();
      if (detail.empty()) detail = err == SSL_ERROR_SYSCALL ? "I/O error" : "TLS protocol error";
      step.status = absl::UnavailableError(absl::StrCat(op, " failed: ", detail));
      break;
    }
  }
  return step;
}

SocketStream::Step SocketStream::Handshake() {
  ERR_clear_error();
  int ret = SSL_do_handshake(ssl_);
  if (ret == 1) return Step{};
  return Failed(ret, "TLS handshake");
}

SocketStream::Step SocketStream::Read(char* p, size_t n) {
  ERR_clear_error();
  int ret = SSL_read(ssl_, p, Clamp(n));
  if (ret > 0) return Step{static_cast<size_t>(ret)};
  return Failed(ret, "read");
}

SocketStream::Step SocketStream::Write(const char* p, size_t n) {
  ERR_clear_error();
  int ret = SSL_write(ssl_, p, Clamp(n));
  if (ret > 0) return Step{static_cast<size_t>(ret)};
  return Failed(ret, "write");
}

bool SocketStream::HasPending() const {
  return SSL_pending(ssl_) > 0 || SSL_has_pending(ssl_) == 1;
}

}  // namespace kite::tls
