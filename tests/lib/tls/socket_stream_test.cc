// SocketStream against whichever TLS library the build links (OpenSSL or BoringSSL): both ends
// over a non-blocking socketpair, driven step by step with poll(2) in one thread, no Asio.
#include "lib/tls/socket_stream.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "lib/tls/context.h"
#include "lib/tls/self_signed.h"

namespace kite::tls {
namespace {

namespace fs = std::filesystem;
using Want = SocketStream::Want;

class Fixture {
 public:
  Fixture() {
    std::string tmpl = (fs::temp_directory_path() / "kite-tls-stream-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
    Options o;
    o.cert_file = (dir_ / "server.pem").string();
    o.key_file = (dir_ / "server.key").string();
    REQUIRE(WriteSelfSigned(o.cert_file, o.key_file, {"mail.test"}).ok());
    auto server_ctx = ServerContext::Create(o);
    REQUIRE(server_ctx.ok());
    server_ctx_ = (*server_ctx)->Current();
    auto client_ctx = MakeClientContext(Options{});
    REQUIRE(client_ctx.ok());
    client_ctx_ = *client_ctx;
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_) == 0);
    fcntl(fds_[0], F_SETFL, O_NONBLOCK);
    fcntl(fds_[1], F_SETFL, O_NONBLOCK);
    auto s = SocketStream::Server(server_ctx_.get(), fds_[0]);
    auto c = SocketStream::Client(client_ctx_.get(), fds_[1]);
    REQUIRE(s.ok());
    REQUIRE(c.ok());
    server = std::move(*s);
    client = std::move(*c);
  }
  ~Fixture() {
    server.reset();
    client.reset();
    close(fds_[0]);
    close(fds_[1]);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  int server_fd() const { return fds_[0]; }
  int client_fd() const { return fds_[1]; }

  // Waits (bounded) until fd is ready for what the step wants.
  static void WaitFor(int fd, Want want) {
    pollfd p{fd, static_cast<short>(want == Want::kRead ? POLLIN : POLLOUT), 0};
    REQUIRE(poll(&p, 1, 10000) == 1);
  }

  void Handshake() {
    bool s_done = false, c_done = false;
    for (int i = 0; i < 1000 && !(s_done && c_done); ++i) {
      if (!c_done) {
        auto step = client->Handshake();
        REQUIRE(step.ok());
        c_done = step.want == Want::kNothing;
      }
      if (!s_done) {
        auto step = server->Handshake();
        REQUIRE(step.ok());
        s_done = step.want == Want::kNothing;
      }
    }
    REQUIRE(s_done);
    REQUIRE(c_done);
  }

  std::unique_ptr<SocketStream> server;
  std::unique_ptr<SocketStream> client;

 private:
  fs::path dir_;
  int fds_[2] = {-1, -1};
  std::shared_ptr<SSL_CTX> server_ctx_;
  std::shared_ptr<SSL_CTX> client_ctx_;
};

// Moves `data` from `from` to `to` with both sides' steps interleaved (the socket buffer is much
// smaller than the data, so each side waits for the other in turn).
std::string Transfer(SocketStream& from, SocketStream& to, const std::string& data) {
  std::string got;
  size_t sent = 0;
  char buf[5000];
  for (int i = 0; i < 100000 && got.size() < data.size(); ++i) {
    if (sent < data.size()) {
      auto step = from.Write(data.data() + sent, data.size() - sent);
      REQUIRE(step.ok());
      sent += step.bytes;
    }
    auto step = to.Read(buf, sizeof(buf));
    REQUIRE(step.ok());
    got.append(buf, step.bytes);
  }
  return got;
}

TEST_CASE("SocketStream: handshake and data both ways, larger than the socket buffers",
          "[tls][stream]") {
  Fixture f;
  f.Handshake();
  std::string big;
  for (int i = 0; big.size() < 1 << 20; ++i)
    big += "line " + std::to_string(i) + " of a large message\r\n";
  CHECK(Transfer(*f.client, *f.server, big) == big);
  CHECK(Transfer(*f.server, *f.client, big) == big);
  CHECK(Transfer(*f.client, *f.server, "a IDLE\r\n") == "a IDLE\r\n");
}

TEST_CASE("SocketStream: a read with nothing to read waits for the socket", "[tls][stream]") {
  Fixture f;
  f.Handshake();
  char buf[64];
  auto step = f.server->Read(buf, sizeof(buf));
  REQUIRE(step.ok());
  CHECK(step.want == Want::kRead);
  CHECK_FALSE(f.server->HasPending());
}

TEST_CASE("SocketStream: what one read leaves of a record is pending, no socket needed",
          "[tls][stream]") {
  Fixture f;
  f.Handshake();
  REQUIRE(Transfer(*f.client, *f.server, "x").size() == 1);
  auto w = f.client->Write("DONE\r\n", 6);
  REQUIRE(w.ok());
  REQUIRE(w.bytes == 6);
  Fixture::WaitFor(f.server_fd(), Want::kRead);
  char c;
  auto step = f.server->Read(&c, 1);
  REQUIRE(step.ok());
  REQUIRE(step.bytes == 1);
  CHECK(f.server->HasPending());
  char rest[16];
  step = f.server->Read(rest, sizeof(rest));
  REQUIRE(step.bytes == 5);
  CHECK(std::string(1, c) + std::string(rest, 5) == "DONE\r\n");
  CHECK_FALSE(f.server->HasPending());
}

TEST_CASE("SocketStream: end of file without close_notify is reported and writing still works",
          "[tls][stream]") {
  Fixture f;
  f.Handshake();
  // What a read deadline does: shut the receiving side down locally.
  REQUIRE(shutdown(f.server_fd(), SHUT_RD) == 0);
  char buf[16];
  auto step = f.server->Read(buf, sizeof(buf));
  REQUIRE_FALSE(step.ok());
  CHECK(step.status.code() == absl::StatusCode::kUnavailable);
  CHECK(step.status.message() == "connection closed by peer without TLS close_notify");
  // The SSL object is not in a failed state: the goodbye goes out.
  CHECK(Transfer(*f.server, *f.client, "* BYE timeout\r\n") == "* BYE timeout\r\n");
}

TEST_CASE("SocketStream: close_notify from the peer reads as a clean close", "[tls][stream]") {
  Fixture f;
  f.Handshake();
  SSL_shutdown(f.client->native());
  Fixture::WaitFor(f.server_fd(), Want::kRead);
  char buf[16];
  auto step = f.server->Read(buf, sizeof(buf));
  REQUIRE_FALSE(step.ok());
  CHECK(step.status.message() == "connection closed by peer");
}

TEST_CASE("SocketStream: a peer that vanished fails the write, no SIGPIPE", "[tls][stream]") {
  Fixture f;
  f.Handshake();
  f.client.reset();
  REQUIRE(shutdown(f.client_fd(), SHUT_RDWR) == 0);
  std::string data(100000, 'x');
  absl::Status failed;
  for (int i = 0; i < 100 && failed.ok(); ++i)
    failed = f.server->Write(data.data(), data.size()).status;
  CHECK(failed.code() == absl::StatusCode::kUnavailable);
  CHECK(std::string(failed.message()).find("write failed") == 0);
}

TEST_CASE("SocketStream: plaintext instead of a ClientHello fails the handshake cleanly",
          "[tls][stream]") {
  Fixture f;
  const char kHello[] = "a LOGIN user password\r\n";
  REQUIRE(send(f.client_fd(), kHello, sizeof(kHello) - 1, 0) ==
          static_cast<ssize_t>(sizeof(kHello) - 1));
  auto step = f.server->Handshake();
  REQUIRE_FALSE(step.ok());
  CHECK(std::string(step.status.message()).find("TLS handshake failed") == 0);
}

}  // namespace
}  // namespace kite::tls
