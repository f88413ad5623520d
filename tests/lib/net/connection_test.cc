// Connection over real loopback sockets: COMPRESS=DEFLATE (RFC 4978) over TCP and TLS, and one
// read and one write in flight at once (IMAP IDLE), with per-direction deadlines. The client
// side is blocking POSIX/OpenSSL with zlib (raw deflate, as IMAP clients use it); every client
// socket has a receive timeout, so a broken server fails a test, never hangs it.
#include "lib/net/connection.h"

#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "lib/net/listener.h"
#include "lib/tls/self_signed.h"

namespace kite::net {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

constexpr milliseconds kLong{20000};  // only there so a broken server cannot hang the suite

bool WaitFor(const std::function<bool()>& done, milliseconds limit = milliseconds(20000)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

// A blocking client that can switch on raw deflate in both directions, like an IMAP client
// after "a COMPRESS DEFLATE" / "a OK".
class Peer {
 public:
  explicit Peer(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{20, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  ~Peer() {
    if (deflating_) deflateEnd(&deflater_);
    if (inflating_) inflateEnd(&inflater_);
    if (ssl_ != nullptr) SSL_free(ssl_);
    ::close(fd_);
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  bool StartTls(SSL_CTX* ctx) {
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    REQUIRE(tls::SetExpectedHost(ssl_, "mail.test").ok());
    return SSL_connect(ssl_) == 1;
  }

  // What we send from now on is compressed.
  void StartDeflate() {
    REQUIRE(deflateInit2(&deflater_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    deflating_ = true;
  }
  // What we receive from now on is compressed.
  void StartInflate() {
    REQUIRE(decoded_.empty());  // the server's OK was read byte by byte: nothing beyond it
    REQUIRE(inflateInit2(&inflater_, -15) == Z_OK);
    inflating_ = true;
  }

  // Raw deflate of data with a sync flush at the end (what Send transmits when compressing).
  std::string Deflate(std::string_view data) {
    std::string out;
    deflater_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    deflater_.avail_in = static_cast<uInt>(data.size());
    char buf[16384];
    do {
      deflater_.next_out = reinterpret_cast<Bytef*>(buf);
      deflater_.avail_out = sizeof(buf);
      int rc = deflate(&deflater_, Z_SYNC_FLUSH);
      REQUIRE((rc == Z_OK || rc == Z_BUF_ERROR));
      out.append(buf, sizeof(buf) - deflater_.avail_out);
    } while (deflater_.avail_in > 0 || deflater_.avail_out == 0);
    return out;
  }

  void SendRaw(std::string_view data) {
    size_t done = 0;
    while (done < data.size()) {
      size_t n = std::min<size_t>(data.size() - done, 1 << 20);
      ssize_t sent = ssl_ != nullptr ? SSL_write(ssl_, data.data() + done, static_cast<int>(n))
                                     : ::send(fd_, data.data() + done, n, MSG_NOSIGNAL);
      REQUIRE(sent > 0);
      done += static_cast<size_t>(sent);
    }
  }
  void Send(std::string_view data) {
    if (deflating_) {
      SendRaw(Deflate(data));
    } else {
      SendRaw(data);
    }
  }

  // Up to and including LF (decompressed when compressing); "" at EOF or on a timeout.
  std::string ReadLine() {
    for (;;) {
      size_t lf = decoded_.find('\n');
      if (lf != std::string::npos) {
        std::string line = decoded_.substr(0, lf + 1);
        decoded_.erase(0, lf + 1);
        return line;
      }
      if (!ReadMore()) {
        std::string rest = std::move(decoded_);
        decoded_.clear();
        return rest;
      }
    }
  }

  // Exactly n decoded bytes (fewer at EOF).
  std::string ReadBytes(size_t n) {
    while (decoded_.size() < n && ReadMore()) {
    }
    std::string out = decoded_.substr(0, n);
    decoded_.erase(0, out.size());
    return out;
  }

  bool AtEof() { return decoded_.empty() && !ReadMore(); }

 private:
  // Uncompressed, one byte at a time so nothing beyond a line is consumed before
  // StartCompression; compressed, whole chunks, inflated.
  bool ReadMore() {
    char buf[16384];
    size_t want = inflating_ ? sizeof(buf) : 1;
    ssize_t got = ssl_ != nullptr ? SSL_read(ssl_, buf, static_cast<int>(want)) : ::recv(fd_, buf, want, 0);
    if (got <= 0) return false;
    if (!inflating_) {
      decoded_.append(buf, static_cast<size_t>(got));
      return true;
    }
    inflater_.next_in = reinterpret_cast<Bytef*>(buf);
    inflater_.avail_in = static_cast<uInt>(got);
    char out[65536];
    do {
      inflater_.next_out = reinterpret_cast<Bytef*>(out);
      inflater_.avail_out = sizeof(out);
      int rc = inflate(&inflater_, Z_SYNC_FLUSH);
      REQUIRE((rc == Z_OK || rc == Z_BUF_ERROR));
      decoded_.append(out, sizeof(out) - inflater_.avail_out);
    } while (inflater_.avail_in > 0 || inflater_.avail_out == 0);
    return true;
  }

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool deflating_ = false;
  bool inflating_ = false;
  z_stream deflater_{};
  z_stream inflater_{};
  std::string decoded_;
};

std::string Pattern(size_t n) {
  std::string s;
  s.reserve(n);
  uint32_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245 + 12345;
    // Half random, half repetitive: compresses, but not to nothing.
    s += (i / 512) % 2 == 0 ? static_cast<char>('a' + (x >> 16) % 26) : static_cast<char>('a' + i % 7);
  }
  return s;
}

// What the handler of one test connection saw, for the test thread.
struct Observed {
  std::mutex mu;
  std::string idle_read;        // what the concurrent ReadSome returned (or its error)
  std::string second_read;      // the status of a read started while another was pending
  std::atomic<bool> write_timed_out{false};
  std::atomic<bool> done{false};
};

std::string Code(const absl::Status& s) { return absl::StatusCodeToString(s.code()); }

asio::awaitable<void> Pause(const std::shared_ptr<Connection>& c, milliseconds d) {
  asio::steady_timer timer(c->executor(), d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// A line protocol that exercises compression and concurrent reads and writes.
Handler TestHandler(std::shared_ptr<Observed> seen, milliseconds line_deadline = kLong) {
  return [seen, line_deadline](std::shared_ptr<Connection> c) -> asio::awaitable<void> {
    absl::Status hello = co_await c->Write("220 ready\r\n", kLong);
    if (!hello.ok()) co_return;
    for (;;) {
      absl::StatusOr<std::string> line = co_await c->ReadLine(64, line_deadline);
      if (!line.ok()) {
        std::string err = "ERR " + Code(line.status()) + "\r\n";
        if (absl::IsOutOfRange(line.status())) {
          absl::Status wrote = co_await c->Write(err, kLong);
          if (!wrote.ok()) co_return;
          continue;
        }
        co_await c->Write(err, kLong);
        co_return;
      }
      const std::string& cmd = *line;
      std::string reply;
      if (cmd == "COMPRESS\r\n") {
        if (c->is_compressed()) {
          reply = "NO " + Code(c->StartCompression()) + "\r\n";
        } else {
          absl::Status ok = co_await c->Write("OK compress\r\n", kLong);
          if (!ok.ok()) co_return;
          absl::Status started = c->StartCompression();
          if (!started.ok()) co_return;
          continue;
        }
      } else if (cmd == "STARTTLS\r\n") {
        absl::Status ok = co_await c->Write("OK tls\r\n", kLong);
        if (!ok.ok()) co_return;
        absl::Status started = co_await c->StartTls(kLong);
        if (!started.ok()) {
          reply = "NO " + Code(started) + "\r\n";
        } else {
          continue;
        }
      } else if (cmd.rfind("BIG ", 0) == 0) {
        std::string big = Pattern(std::stoul(cmd.substr(4))) + "\r\n";
        absl::Status wrote = co_await c->Write(big, kLong);
        if (!wrote.ok()) co_return;
        reply = "OK big\r\n";
      } else if (cmd.rfind("EXACT ", 0) == 0) {
        absl::StatusOr<std::string> data = co_await c->ReadExact(std::stoul(cmd.substr(6)), kLong);
        if (!data.ok()) co_return;
        reply = *data == Pattern(data->size()) ? "OK exact\r\n" : "NO exact differs\r\n";
      } else if (cmd == "SOME\r\n") {
        absl::StatusOr<std::string> data = co_await c->ReadSome(4, kLong);
        if (!data.ok()) co_return;
        reply = "OK some " + *data + "\r\n";
      } else if (cmd == "IDLE\r\n" || cmd == "STALL\r\n" || cmd == "SHORTIDLE\r\n") {
        // One coroutine waits for the client's DONE while this one writes.
        std::shared_ptr<bool> read_done = std::make_shared<bool>(false);
        milliseconds read_deadline = cmd == "SHORTIDLE\r\n" ? milliseconds(300) : kLong;
        asio::co_spawn(
            c->executor(),
            [c, seen, read_done, read_deadline]() -> asio::awaitable<void> {
              absl::StatusOr<std::string> got = co_await c->ReadSome(64, read_deadline);
              std::lock_guard<std::mutex> lock(seen->mu);
              seen->idle_read = got.ok() ? *got : "error " + Code(got.status());
              *read_done = true;
            },
            asio::detached);
        co_await Pause(c, milliseconds(1));  // the reader is waiting now
        // A second read while one is pending is refused, and disturbs nothing.
        absl::StatusOr<std::string> second = co_await c->ReadSome(64, kLong);
        {
          std::lock_guard<std::mutex> lock(seen->mu);
          seen->second_read = Code(second.status());
        }
        if (cmd != "STALL\r\n") {
          for (int i = 1; i <= 20; ++i) {
            std::string update = "* " + std::to_string(i) + " EXISTS\r\n";
            absl::Status wrote = co_await c->Write(update, milliseconds(5000));
            if (!wrote.ok()) co_return;
            co_await Pause(c, milliseconds(2));
          }
        } else {
          // The client reads nothing: this write's deadline passes, the pending read's not.
          std::string flood(32 << 20, 'x');
          absl::Status wrote = co_await c->Write(flood, milliseconds(300));
          seen->write_timed_out = absl::IsDeadlineExceeded(wrote);
        }
        while (!*read_done) co_await Pause(c, milliseconds(5));
        std::string got;
        {
          std::lock_guard<std::mutex> lock(seen->mu);
          got = seen->idle_read;
        }
        if (cmd == "STALL\r\n") {
          seen->done = true;
          co_return;
        }
        reply = "OK read " + got;
        if (cmd == "SHORTIDLE\r\n") reply += "\r\n";
      } else if (cmd == "WAITING\r\n") {
        // How much input buffering a connection holds while a read waits for the peer.
        auto got = std::make_shared<std::optional<absl::StatusOr<std::string>>>();
        asio::co_spawn(
            c->executor(), [c, got]() -> asio::awaitable<void> { *got = co_await c->ReadSome(4096, kLong); },
            asio::detached);
        co_await Pause(c, milliseconds(20));  // the reader is waiting now
        absl::Status wrote = co_await c->Write("HELD " + std::to_string(c->input_capacity()) + "\r\n", kLong);
        if (!wrote.ok()) co_return;
        while (!got->has_value()) co_await Pause(c, milliseconds(5));
        reply = "OK read " + (got->value().ok() ? *got->value() : Code(got->value().status()) + "\r\n");
      } else if (cmd == "QUIT\r\n") {
        absl::Status bye = co_await c->Write("BYE\r\n", kLong);
        (void)bye;
        co_return;
      } else {
        reply = "ECHO " + cmd;
      }
      absl::Status wrote = co_await c->Write(reply, kLong);
      if (!wrote.ok()) co_return;
    }
  };
}

class Certificates {
 public:
  Certificates() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kite-conn-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
    std::string cert = (dir_ / "cert.pem").string(), key = (dir_ / "key.pem").string();
    REQUIRE(tls::WriteSelfSigned(cert, key, {"mail.test"}).ok());
    tls::Options o;
    o.cert_file = cert;
    o.key_file = key;
    auto server = tls::ServerContext::Create(o);
    REQUIRE(server.ok());
    server_ = *server;
    tls::Options c;
    c.ca_file = cert;
    c.verify_peer = true;
    auto client = tls::MakeClientContext(c);
    REQUIRE(client.ok());
    client_ = *client;
  }
  ~Certificates() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::shared_ptr<tls::ServerContext> server() const { return server_; }
  SSL_CTX* client() const { return client_.get(); }

 private:
  std::filesystem::path dir_;
  std::shared_ptr<tls::ServerContext> server_;
  std::shared_ptr<SSL_CTX> client_;
};

class Server {
 public:
  Server(Handler handler, std::shared_ptr<tls::ServerContext> tls) {
    ListenerOptions o;
    o.name = "conn";
    o.tls = std::move(tls);
    auto started = Listener::Start(io_, std::move(o), std::move(handler));
    REQUIRE(started.ok());
    listener_ = *std::move(started);
    for (auto& t : threads_) t = std::thread([this] { io_.run(); });
  }
  ~Server() {
    listener_->Stop();
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
    listener_.reset();
  }
  uint16_t port() const { return listener_->port(); }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<Listener> listener_;
  std::thread threads_[2];
};

// Connects, optionally upgrades to TLS, and reads the greeting.
void Open(Peer& p, bool tls, const Certificates& certs) {
  REQUIRE(p.ReadLine() == "220 ready\r\n");
  if (!tls) return;
  p.Send("STARTTLS\r\n");
  REQUIRE(p.ReadLine() == "OK tls\r\n");
  REQUIRE(p.StartTls(certs.client()));
}

void Compress(Peer& p) {
  p.Send("COMPRESS\r\n");
  REQUIRE(p.ReadLine() == "OK compress\r\n");  // the OK itself is not compressed
  p.StartDeflate();
  p.StartInflate();
}

TEST_CASE("COMPRESS=DEFLATE: lines, pipelining, large data both ways, over TCP and TLS", "[net][compress]") {
  Certificates certs;
  auto seen = std::make_shared<Observed>();
  Server server(TestHandler(seen), certs.server());
  bool tls = GENERATE(false, true);
  INFO((tls ? "TLS" : "TCP"));
  Peer p(server.port());
  Open(p, tls, certs);
  Compress(p);

  p.Send("HELLO\r\n");
  CHECK(p.ReadLine() == "ECHO HELLO\r\n");
  // Pipelined commands in one compressed flush, and a command split across two flushes.
  p.Send("ONE\r\nTWO\r\nTH");
  p.Send("REE\r\n");
  CHECK(p.ReadLine() == "ECHO ONE\r\n");
  CHECK(p.ReadLine() == "ECHO TWO\r\n");
  CHECK(p.ReadLine() == "ECHO THREE\r\n");
  // Reads return at most what they may: inflation is bounded by the read, the rest waits.
  p.Send("SOME\r\nabcdefg\r\n");
  CHECK(p.ReadLine() == "OK some abcd\r\n");
  CHECK(p.ReadLine() == "ECHO efg\r\n");
  // Large data from the server (several deflate chunks) and to it.
  p.Send("BIG 3000000\r\n");
  std::string big = p.ReadBytes(3000002);
  CHECK(big == Pattern(3000000) + "\r\n");
  CHECK(p.ReadLine() == "OK big\r\n");
  std::string upload = "EXACT 2000000\r\n" + Pattern(2000000) + "NEXT\r\n";
  p.Send(upload);
  CHECK(p.ReadLine() == "OK exact\r\n");
  CHECK(p.ReadLine() == "ECHO NEXT\r\n");
  // A line too long is skipped in sync, as without compression; 20 MB of one letter inflate
  // from about 20 KB, and the skipping holds no more than a line's worth at a time.
  p.Send(std::string(20 << 20, 'z') + "\r\nAFTER\r\n");
  CHECK(p.ReadLine() == "ERR OUT_OF_RANGE\r\n");
  CHECK(p.ReadLine() == "ECHO AFTER\r\n");
  // A second COMPRESS is refused.
  p.Send("COMPRESS\r\n");
  CHECK(p.ReadLine() == "NO FAILED_PRECONDITION\r\n");
  p.Send("QUIT\r\n");
  CHECK(p.ReadLine() == "BYE\r\n");
  CHECK(p.AtEof());
}

TEST_CASE("COMPRESS=DEFLATE: compressed bytes that arrived with the command are inflated", "[net][compress]") {
  Certificates certs;
  auto seen = std::make_shared<Observed>();
  Server server(TestHandler(seen), certs.server());
  Peer p(server.port());
  Open(p, false, certs);
  // An impatient client: its first compressed command travels in the same packet as COMPRESS.
  p.StartDeflate();
  std::string early = "COMPRESS\r\n" + p.Deflate("EARLY\r\n");
  p.SendRaw(early);
  CHECK(p.ReadLine() == "OK compress\r\n");
  p.StartInflate();
  CHECK(p.ReadLine() == "ECHO EARLY\r\n");
  p.Send("LATER\r\n");
  CHECK(p.ReadLine() == "ECHO LATER\r\n");
}

TEST_CASE("COMPRESS=DEFLATE: a corrupt compressed stream is a clean DATA_LOSS error", "[net][compress]") {
  Certificates certs;
  auto seen = std::make_shared<Observed>();
  Server server(TestHandler(seen), certs.server());
  bool tls = GENERATE(false, true);
  INFO((tls ? "TLS" : "TCP"));
  Peer p(server.port());
  Open(p, tls, certs);
  Compress(p);
  p.Send("FINE\r\n");
  CHECK(p.ReadLine() == "ECHO FINE\r\n");
  // A block with the reserved type 3: no valid deflate stream continues like this.
  p.SendRaw(std::string("\xff\xff\xff\xff\xff\xff", 6));
  CHECK(p.ReadLine() == "ERR DATA_LOSS\r\n");  // the reply still goes out, compressed
  CHECK(p.AtEof());
}

TEST_CASE("one read and one write in flight at once: IDLE-style updates while a read waits", "[net][idle]") {
  Certificates certs;
  auto seen = std::make_shared<Observed>();
  Server server(TestHandler(seen), certs.server());
  bool tls = GENERATE(false, true);
  bool compress = GENERATE(false, true);
  INFO((tls ? "TLS" : "TCP") << (compress ? " compressed" : ""));
  Peer p(server.port());
  Open(p, tls, certs);
  if (compress) Compress(p);
  p.Send("IDLE\r\n");
  for (int i = 1; i <= 20; ++i) CHECK(p.ReadLine() == "* " + std::to_string(i) + " EXISTS\r\n");
  p.Send("DONE\r\n");
  CHECK(p.ReadLine() == "OK read DONE\r\n");
  {
    std::lock_guard<std::mutex> lock(seen->mu);
    CHECK(seen->second_read == "FAILED_PRECONDITION");
  }
  // The connection is in sync afterwards.
  p.Send("AGAIN\r\n");
  CHECK(p.ReadLine() == "ECHO AGAIN\r\n");
}

TEST_CASE("a read waiting for the peer holds no input buffer, over TCP, TLS and COMPRESS", "[net][idle]") {
  Certificates certs;
  auto seen = std::make_shared<Observed>();
  Server server(TestHandler(seen), certs.server());
  bool tls = GENERATE(false, true);
  bool compress = GENERATE(false, true);
  INFO((tls ? "TLS" : "TCP") << (compress ? " compressed" : ""));
  Peer p(server.port());
  Open(p, tls, certs);
  if (compress) Compress(p);
  p.Send(std::string(3000, 'x') + "\r\n");  // a long line first: the buffer grew for it
  CHECK(p.ReadLine() == "ERR OUT_OF_RANGE\r\n");
  p.Send("WAITING\r\n");
  CHECK(p.ReadLine() == "HELD 0\r\n");
  p.Send("DONE\r\n");
  CHECK(p.ReadLine() == "OK read DONE\r\n");
  // Pipelined lines still come out whole and in order after the buffer was given back.
  p.Send("ONE\r\nTWO\r\n");
  CHECK(p.ReadLine() == "ECHO ONE\r\n");
  CHECK(p.ReadLine() == "ECHO TWO\r\n");
}

TEST_CASE("writes in between do not disturb a pending read's own deadline", "[net][idle]") {
  Certificates certs;
  auto seen = std::make_shared<Observed>();
  Server server(TestHandler(seen), certs.server());
  bool tls = GENERATE(false, true);
  INFO((tls ? "TLS" : "TCP"));
  Peer p(server.port());
  Open(p, tls, certs);
  p.Send("SHORTIDLE\r\n");
  for (int i = 1; i <= 20; ++i) CHECK(p.ReadLine() == "* " + std::to_string(i) + " EXISTS\r\n");
  // We send nothing: the read ends by its deadline (not never), and the reply still goes out.
  CHECK(p.ReadLine() == "OK read error DEADLINE_EXCEEDED\r\n");
}

TEST_CASE("a write deadline ends the write and leaves the pending read alone", "[net][idle]") {
  Certificates certs;
  auto seen = std::make_shared<Observed>();
  Server server(TestHandler(seen), certs.server());
  bool tls = GENERATE(false, true);
  INFO((tls ? "TLS" : "TCP"));
  Peer p(server.port());
  Open(p, tls, certs);
  p.Send("STALL\r\n");
  // We read nothing, so the server's 32 MB write cannot finish before its deadline.
  REQUIRE(WaitFor([&] { return seen->write_timed_out.load(); }));
  p.Send("DONE\r\n");
  REQUIRE(WaitFor([&] { return seen->done.load(); }));
  std::lock_guard<std::mutex> lock(seen->mu);
  CHECK(seen->idle_read == "DONE\r\n");
}

TEST_CASE("after a read deadline the goodbye can still be written, over TCP and TLS", "[net]") {
  Certificates certs;
  auto seen = std::make_shared<Observed>();
  Server server(TestHandler(seen, milliseconds(500)), certs.server());
  bool tls = GENERATE(false, true);
  bool compress = GENERATE(false, true);
  INFO((tls ? "TLS" : "TCP") << (compress ? " compressed" : ""));
  Peer p(server.port());
  Open(p, tls, certs);
  if (compress) Compress(p);
  p.Send("part of a line");
  CHECK(p.ReadLine() == "ERR DEADLINE_EXCEEDED\r\n");
  CHECK(p.AtEof());
}

}  // namespace
}  // namespace kite::net
