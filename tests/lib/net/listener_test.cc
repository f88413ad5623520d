// Listener and Connection over real loopback sockets, with blocking POSIX/OpenSSL clients
// (every client socket has a receive timeout, so a broken server fails a test, never hangs it).
#include "lib/net/listener.h"

#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <future>
#include <stdexcept>
#include <thread>

#include "lib/tls/self_signed.h"

namespace kite::net {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Generous: only there so a broken server cannot hang the suite.
constexpr milliseconds kLong{10000};

bool WaitFor(const std::function<bool()>& done, milliseconds limit = milliseconds(10000)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{20, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ::close(fd_);
  }
  bool connected() const { return connected_; }

  void Send(std::string_view data) {
    if (ssl_ != nullptr) {
      REQUIRE(SSL_write(ssl_, data.data(), static_cast<int>(data.size())) == static_cast<int>(data.size()));
    } else {
      REQUIRE(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size()));
    }
  }

  // Up to and including LF; whatever arrived before EOF (or "" at EOF / on timeout).
  std::string ReadLine() {
    std::string line;
    char c;
    while (ReadByte(&c)) {
      line += c;
      if (c == '\n') break;
    }
    return line;
  }

  bool AtEof() {
    char c;
    return !ReadByte(&c);
  }

  bool StartTls(SSL_CTX* ctx, const std::string& host) {
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    REQUIRE(tls::SetExpectedHost(ssl_, host).ok());
    return SSL_connect(ssl_) == 1;
  }

 private:
  bool ReadByte(char* c) {
    if (ssl_ != nullptr) return SSL_read(ssl_, c, 1) == 1;
    return ::recv(fd_, c, 1, 0) == 1;
  }
  int fd_ = -1;
  bool connected_ = false;
  SSL* ssl_ = nullptr;
};

// A small line protocol, enough to exercise every Connection call.
Handler LineHandler(milliseconds line_deadline = kLong) {
  return [line_deadline](std::shared_ptr<Connection> c) -> asio::awaitable<void> {
    if (!(co_await c->Write("220 ready\r\n", kLong)).ok()) co_return;
    for (;;) {
      absl::StatusOr<std::string> line = co_await c->ReadLine(64, line_deadline);
      if (!line.ok()) {
        if (absl::IsOutOfRange(line.status())) {
          co_await c->Write("500 line too long\r\n", kLong);
          continue;
        }
        if (absl::IsDeadlineExceeded(line.status())) co_await c->Write("421 timeout\r\n", kLong);
        co_return;
      }
      const std::string& cmd = *line;
      std::string reply;
      if (cmd == "QUIT\r\n") {
        co_await c->Write("221 bye\r\n", kLong);
        co_return;
      } else if (cmd == "PEER\r\n") {
        reply = "250 " + c->peer_address() + " " + std::to_string(c->peer_port()) + " " + c->local_address() + "\r\n";
      } else if (cmd == "STARTTLS\r\n") {
        co_await c->Write("220 go ahead\r\n", kLong);
        if (!(co_await c->StartTls(kLong)).ok()) co_return;
        continue;
      } else if (cmd == "TLS\r\n") {
        reply = "250 " + (c->is_tls() ? c->tls_version() : std::string("none")) +
                " discarded=" + (c->HadBufferedInput() ? "1" : "0") + "\r\n";
      } else if (cmd.rfind("EXACT ", 0) == 0) {
        absl::StatusOr<std::string> data = co_await c->ReadExact(std::stoul(cmd.substr(6)), kLong);
        if (!data.ok()) co_return;
        reply = "250 got " + *data + "\r\n";
      } else if (cmd == "SOME\r\n") {
        absl::StatusOr<std::string> data = co_await c->ReadSome(4, kLong);
        if (!data.ok()) co_return;
        reply = "250 some " + *data + "\r\n";
      } else if (cmd == "THROW\r\n") {
        throw std::runtime_error("handler failure for the test");
      } else {
        reply = "250 echo " + cmd;  // the line keeps its own terminator
      }
      if (!(co_await c->Write(reply, kLong)).ok()) co_return;
    }
  };
}

class Server {
 public:
  explicit Server(ListenerOptions options, Handler handler = LineHandler()) {
    auto started = Listener::Start(io_, std::move(options), std::move(handler));
    REQUIRE(started.ok());
    listener_ = *std::move(started);
    // Two threads: sessions run on their own strands, and that must hold under concurrency.
    for (auto& t : threads_) t = std::thread([this] { io_.run(); });
  }
  ~Server() {
    listener_->Stop();
    Drain(milliseconds(0));
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
    listener_.reset();
  }
  Listener& listener() { return *listener_; }
  uint16_t port() const { return listener_->port(); }
  asio::io_context& io() { return io_; }

  // Runs Listener::Drain on the io thread; false if it did not finish within `limit`.
  bool Drain(milliseconds deadline, milliseconds limit = milliseconds(30000)) {
    std::future<void> done = asio::co_spawn(io_, listener_->Drain(deadline), asio::use_future);
    return done.wait_for(limit) == std::future_status::ready;
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<Listener> listener_;
  std::thread threads_[2];
};

ListenerOptions Options(std::string name = "test") {
  ListenerOptions o;
  o.name = std::move(name);
  return o;
}

class Certificates {
 public:
  Certificates() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kite-net-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
    REQUIRE(tls::WriteSelfSigned(cert(), key(), {"mail.test", "127.0.0.1"}).ok());
    tls::Options o;
    o.cert_file = cert();
    o.key_file = key();
    auto server = tls::ServerContext::Create(o);
    REQUIRE(server.ok());
    server_ = *server;
    tls::Options c;
    c.ca_file = cert();
    c.verify_peer = true;
    auto client = tls::MakeClientContext(c);
    REQUIRE(client.ok());
    client_ = *client;
  }
  ~Certificates() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string cert() const { return (dir_ / "cert.pem").string(); }
  std::string key() const { return (dir_ / "key.pem").string(); }
  std::shared_ptr<tls::ServerContext> server() const { return server_; }
  SSL_CTX* client() const { return client_.get(); }

 private:
  std::filesystem::path dir_;
  std::shared_ptr<tls::ServerContext> server_;
  std::shared_ptr<SSL_CTX> client_;
};

std::string ProxyV2(const std::string& src, uint16_t src_port, const std::string& dst, uint16_t dst_port) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += '\x21';
  h += '\x11';
  h += '\0';
  h += '\x0c';
  in_addr a, b;
  inet_pton(AF_INET, src.c_str(), &a);
  inet_pton(AF_INET, dst.c_str(), &b);
  h.append(reinterpret_cast<const char*>(&a), 4);
  h.append(reinterpret_cast<const char*>(&b), 4);
  h += static_cast<char>(src_port >> 8);
  h += static_cast<char>(src_port & 0xff);
  h += static_cast<char>(dst_port >> 8);
  h += static_cast<char>(dst_port & 0xff);
  return h;
}

TEST_CASE("lines are read with their own terminators whether pipelined or not", "[net]") {
  Server server(Options());
  Client c(server.port());
  REQUIRE(c.connected());
  CHECK(c.ReadLine() == "220 ready\r\n");
  c.Send("HELLO\r\n");
  CHECK(c.ReadLine() == "250 echo HELLO\r\n");
  c.Send("bare\n");
  CHECK(c.ReadLine() == "250 echo bare\n");
  c.Send("ONE\r\nTWO\r\nTH");
  CHECK(c.ReadLine() == "250 echo ONE\r\n");
  CHECK(c.ReadLine() == "250 echo TWO\r\n");
  c.Send("REE\r\n");
  CHECK(c.ReadLine() == "250 echo THREE\r\n");
  c.Send("EXACT 13\r\nhello\r\nworld!");
  CHECK(c.ReadLine() == "250 got hello\r\n");
  CHECK(c.ReadLine() == "world!\r\n");
  c.Send("SOME\r\nabcdefg\r\n");
  CHECK(c.ReadLine() == "250 some abcd\r\n");
  CHECK(c.ReadLine() == "250 echo efg\r\n");
  c.Send("PEER\r\n");
  CHECK(c.ReadLine().rfind("250 127.0.0.1 ", 0) == 0);
  c.Send("QUIT\r\n");
  CHECK(c.ReadLine() == "221 bye\r\n");
  CHECK(c.AtEof());
  CHECK(WaitFor([&] { return server.listener().active_connections() == 0; }));
  CHECK(server.listener().accepted_total() == 1);
}

TEST_CASE("a line that is too long is skipped and the next line is read in sync", "[net]") {
  Server server(Options());
  Client c(server.port());
  CHECK(c.ReadLine() == "220 ready\r\n");
  c.Send(std::string(62, 'y') + "\r\n");  // 64 bytes with CRLF: the limit
  CHECK(c.ReadLine() == "250 echo " + std::string(62, 'y') + "\r\n");
  c.Send(std::string(63, 'z') + "\r\n");  // 65
  CHECK(c.ReadLine() == "500 line too long\r\n");
  // Long and split across writes, with the next command in the same write as its end.
  c.Send(std::string(5000, 'x'));
  c.Send(std::string(3000, 'x') + "\r\nNEXT\r\n");
  CHECK(c.ReadLine() == "500 line too long\r\n");
  CHECK(c.ReadLine() == "250 echo NEXT\r\n");
}

TEST_CASE("a read deadline ends an idle session", "[net]") {
  Server server(Options(), LineHandler(milliseconds(200)));
  Client c(server.port());
  CHECK(c.ReadLine() == "220 ready\r\n");
  c.Send("part of a line");  // a slow client: the deadline covers the whole line
  CHECK(c.ReadLine() == "421 timeout\r\n");
  CHECK(c.AtEof());
}

TEST_CASE("connections beyond max_connections get the busy banner and are closed", "[net]") {
  ListenerOptions o = Options();
  o.max_connections = 2;
  o.busy_banner = "421 4.3.2 Too many connections\r\n";
  Server server(o);
  Client c1(server.port()), c2(server.port());
  CHECK(c1.ReadLine() == "220 ready\r\n");
  CHECK(c2.ReadLine() == "220 ready\r\n");
  Client c3(server.port());
  CHECK(c3.ReadLine() == "421 4.3.2 Too many connections\r\n");
  CHECK(c3.AtEof());
  CHECK(server.listener().rejected_total() == 1);
  CHECK(server.listener().accepted_total() == 3);
  CHECK(server.listener().active_connections() == 2);

  c1.Send("QUIT\r\n");
  CHECK(c1.ReadLine() == "221 bye\r\n");
  REQUIRE(WaitFor([&] { return server.listener().active_connections() == 1; }));
  Client c4(server.port());
  CHECK(c4.ReadLine() == "220 ready\r\n");
}

TEST_CASE("a PROXY header from a trusted source sets the client address", "[net]") {
  ListenerOptions o = Options();
  auto trusted = ParseCidrList("127.0.0.0/8, ::1/128");
  REQUIRE(trusted.ok());
  o.proxy_trusted = *trusted;
  Server server(o);

  SECTION("v2") {
    Client c(server.port());
    c.Send(ProxyV2("203.0.113.7", 4242, "198.51.100.1", 25));
    CHECK(c.ReadLine() == "220 ready\r\n");
    c.Send("PEER\r\n");
    CHECK(c.ReadLine() == "250 203.0.113.7 4242 198.51.100.1\r\n");
  }
  SECTION("v1, with the first command in the same packet") {
    Client c(server.port());
    c.Send("PROXY TCP6 2001:db8::5 2001:db8::1 5555 587\r\nPEER\r\n");
    CHECK(c.ReadLine() == "220 ready\r\n");
    CHECK(c.ReadLine() == "250 2001:db8::5 5555 2001:db8::1\r\n");
  }
  SECTION("LOCAL keeps the socket address") {
    Client c(server.port());
    c.Send(std::string("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16));
    CHECK(c.ReadLine() == "220 ready\r\n");
    c.Send("PEER\r\n");
    CHECK(c.ReadLine().rfind("250 127.0.0.1 ", 0) == 0);
  }
  SECTION("a trusted source without a header is dropped") {
    Client c(server.port());
    c.Send("EHLO client.test\r\n");
    CHECK(c.AtEof());
  }
}

TEST_CASE("a PROXY header from an untrusted source is ordinary protocol data", "[net]") {
  ListenerOptions o = Options();
  auto trusted = ParseCidrList("10.0.0.0/8");
  REQUIRE(trusted.ok());
  o.proxy_trusted = *trusted;
  Server server(o);
  Client c(server.port());
  CHECK(c.ReadLine() == "220 ready\r\n");
  c.Send("PROXY TCP4 203.0.113.7 198.51.100.1 4242 25\r\n");
  CHECK(c.ReadLine() == "250 echo PROXY TCP4 203.0.113.7 198.51.100.1 4242 25\r\n");
  c.Send("PEER\r\n");
  CHECK(c.ReadLine().rfind("250 127.0.0.1 ", 0) == 0);
}

TEST_CASE("implicit TLS handshakes before the handler runs", "[net][tls]") {
  Certificates certs;
  ListenerOptions o = Options("imaps");
  o.tls = certs.server();
  o.implicit_tls = true;

  SECTION("direct") {
    Server server(o);
    Client c(server.port());
    REQUIRE(c.StartTls(certs.client(), "mail.test"));
    CHECK(c.ReadLine() == "220 ready\r\n");
    c.Send("TLS\r\n");
    CHECK(c.ReadLine() == "250 TLSv1.3 discarded=0\r\n");
  }
  SECTION("behind a PROXY v2 header: not a byte of the ClientHello is lost") {
    auto trusted = ParseCidrList("127.0.0.1");
    REQUIRE(trusted.ok());
    o.proxy_trusted = *trusted;
    Server server(o);
    Client c(server.port());
    c.Send(ProxyV2("192.0.2.44", 1234, "192.0.2.1", 993));
    REQUIRE(c.StartTls(certs.client(), "127.0.0.1"));
    CHECK(c.ReadLine() == "220 ready\r\n");
    c.Send("PEER\r\n");
    CHECK(c.ReadLine() == "250 192.0.2.44 1234 192.0.2.1\r\n");
  }
  SECTION("a plaintext client is dropped") {
    Server server(o);
    Client c(server.port());
    c.Send("a001 CAPABILITY\r\n");
    CHECK(c.AtEof());
    CHECK(WaitFor([&] { return server.listener().active_connections() == 0; }));
  }
}

TEST_CASE("STARTTLS upgrades the session and discards pipelined plaintext", "[net][tls]") {
  Certificates certs;
  ListenerOptions o = Options("submission");
  o.tls = certs.server();
  Server server(o);

  SECTION("plain") {
    Client c(server.port());
    CHECK(c.ReadLine() == "220 ready\r\n");
    c.Send("TLS\r\n");
    CHECK(c.ReadLine() == "250 none discarded=0\r\n");
    c.Send("STARTTLS\r\n");
    CHECK(c.ReadLine() == "220 go ahead\r\n");
    REQUIRE(c.StartTls(certs.client(), "mail.test"));
    c.Send("TLS\r\n");
    CHECK(c.ReadLine() == "250 TLSv1.3 discarded=0\r\n");
  }
  SECTION("CVE-2011-0411: a command sent in plaintext with STARTTLS is not run inside TLS") {
    Client c(server.port());
    CHECK(c.ReadLine() == "220 ready\r\n");
    c.Send("STARTTLS\r\nPEER\r\n");
    CHECK(c.ReadLine() == "220 go ahead\r\n");
    REQUIRE(c.StartTls(certs.client(), "mail.test"));
    c.Send("TLS\r\n");
    // The first reply inside TLS answers TLS; no reply to the injected PEER comes first.
    CHECK(c.ReadLine() == "250 TLSv1.3 discarded=1\r\n");
  }
}

TEST_CASE("an exception in a handler ends only that connection", "[net]") {
  Server server(Options());
  {
    Client c(server.port());
    CHECK(c.ReadLine() == "220 ready\r\n");
    c.Send("THROW\r\n");
    CHECK(c.AtEof());
  }
  CHECK(WaitFor([&] { return server.listener().active_connections() == 0; }));
  Client again(server.port());
  CHECK(again.ReadLine() == "220 ready\r\n");
}

TEST_CASE("Stop refuses new connections and Drain ends the rest", "[net]") {
  Server server(Options());
  Client idle(server.port());
  Client leaving(server.port());
  CHECK(idle.ReadLine() == "220 ready\r\n");
  CHECK(leaving.ReadLine() == "220 ready\r\n");
  server.listener().Stop();
  CHECK(WaitFor([&] { return !Client(server.port()).connected(); }));

  // Existing sessions go on after Stop.
  leaving.Send("HELLO\r\n");
  CHECK(leaving.ReadLine() == "250 echo HELLO\r\n");

  std::future<void> drained = asio::co_spawn(server.io(), server.listener().Drain(milliseconds(60000)), asio::use_future);
  leaving.Send("QUIT\r\n");
  CHECK(leaving.ReadLine() == "221 bye\r\n");
  CHECK(WaitFor([&] { return server.listener().active_connections() == 1; }));
  // The idle one holds Drain until its deadline; a short Drain closes it.
  CHECK(server.Drain(milliseconds(50)));
  CHECK(server.listener().active_connections() == 0);
  CHECK(idle.AtEof());
  CHECK(drained.wait_for(seconds(30)) == std::future_status::ready);
}

TEST_CASE("binding errors are clear", "[net]") {
  Server server(Options());
  asio::io_context io;
  ListenerOptions o = Options();
  o.port = server.port();
  auto taken = Listener::Start(io, o, LineHandler());
  REQUIRE_FALSE(taken.ok());
  CHECK(std::string(taken.status().message()) ==
        "cannot listen on 127.0.0.1:" + std::to_string(server.port()) + ": Address already in use");
  o.address = "not-an-address";
  CHECK(Listener::Start(io, o, LineHandler()).status().code() == absl::StatusCode::kInvalidArgument);
  ListenerOptions tls_without_cert = Options();
  tls_without_cert.implicit_tls = true;
  CHECK_FALSE(Listener::Start(io, tls_without_cert, LineHandler()).ok());
}

}  // namespace
}  // namespace kite::net
