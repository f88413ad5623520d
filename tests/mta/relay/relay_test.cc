// The outbound relay end to end over real sockets: a real PostgreSQL (fixture) and a
// private Redis, a private dnsmasq serving MX records that point at loopback addresses
// (127.0.0.2 ...) on one test port, Postfix's smtp-sink as a receiving MTA, and scripted
// SMTP peers (with STARTTLS) for temporary and permanent failures. Never the system
// resolver. No assertion on time: every wait is a bounded poll for a state.
#include <utility>  // before Asio (Boost 1.74)

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "fixtures/dnsmasq.h"
#include "fixtures/test_env.h"
#include "lib/directory/directory.h"
#include "lib/dns/cares_resolver.h"
#include "fixtures/deliver_from_spool.h"
#include "lib/net/connection.h"
#include "lib/queue/queue.h"
#include "lib/store/migrations.h"
#include "lib/tls/self_signed.h"
#include "mta/relay/relay.h"

namespace asio = boost::asio;

namespace {

// A free TCP port on 127.0.0.3 (and, in practice, on the other loopback addresses).
int FreeTcpPort() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.3"), 0));
  return a.local_endpoint().port();
}

// A scripted SMTP server on one loopback address, on the test's io_context.
class Peer {
 public:
  enum class Mode { kAccept, kTempFirst, kReject, kAlwaysTemp, kSmarthost };
  Peer(asio::io_context& io, std::string address, int port, Mode mode, std::shared_ptr<kite::tls::ServerContext> tls)
      : acceptor_(io, asio::ip::tcp::endpoint(asio::ip::make_address(address), static_cast<uint16_t>(port))),
        mode_(mode),
        tls_(std::move(tls)) {
    asio::co_spawn(io, Accept(), asio::detached);
  }
  void Close() {
    boost::system::error_code ec;
    acceptor_.close(ec);
  }

  struct Message {
    std::string mail, rcpts, body;
    bool tls = false;
    bool authed = false;
  };
  int connections() {
    std::lock_guard<std::mutex> l(mu_);
    return connections_;
  }
  std::vector<Message> messages() {
    std::lock_guard<std::mutex> l(mu_);
    return messages_;
  }
  std::string commands() {
    std::lock_guard<std::mutex> l(mu_);
    return commands_;
  }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      boost::system::error_code ec;
      auto socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      auto conn = std::make_shared<kite::net::Connection>(std::move(socket), tls_);
      asio::co_spawn(acceptor_.get_executor(), Session(conn), asio::detached);
    }
  }

  asio::awaitable<void> Session(std::shared_ptr<kite::net::Connection> conn) {
    const auto t = std::chrono::seconds(10);
    int n;
    {
      std::lock_guard<std::mutex> l(mu_);
      n = ++connections_;
    }
    std::string out = "220 peer.test ESMTP\r\n";
    co_await conn->Write(out, t);
    Message m;
    bool authed = false;
    for (;;) {
      auto line = co_await conn->ReadLine(4096, t);
      if (!line.ok()) co_return;
      std::string cmd = line->substr(0, line->size() - 2);
      {
        std::lock_guard<std::mutex> l(mu_);
        commands_ += cmd + "\n";
      }
      std::string verb = cmd.substr(0, 4);
      for (char& c : verb) c = static_cast<char>(toupper(c));
      if (verb == "EHLO") {
        out = "250-peer.test\r\n250-PIPELINING\r\n250-SIZE 10000000\r\n250-8BITMIME\r\n250-DSN\r\n";
        if (tls_ && !conn->is_tls()) out += "250-STARTTLS\r\n";
        if (mode_ == Mode::kSmarthost && conn->is_tls()) out += "250-AUTH PLAIN LOGIN\r\n";
        out += "250 ENHANCEDSTATUSCODES\r\n";
      } else if (verb == "STAR") {
        out = "220 2.0.0 go ahead\r\n";
        co_await conn->Write(out, t);
        auto s = co_await conn->StartTls(t);
        if (!s.ok()) co_return;
        continue;
      } else if (verb == "AUTH") {
        // "AUTH PLAIN " + base64("\0relayuser\0s3cret")
        authed = cmd == "AUTH PLAIN AHJlbGF5dXNlcgBzM2NyZXQ=";
        out = authed ? "235 2.7.0 ok\r\n" : "535 5.7.8 bad credentials\r\n";
      } else if (verb == "MAIL") {
        m = Message{cmd, "", "", conn->is_tls(), authed};
        out = mode_ == Mode::kSmarthost && !authed ? "530 5.7.0 authentication required\r\n" : "250 2.1.0 ok\r\n";
      } else if (verb == "RCPT") {
        m.rcpts += cmd + "\n";
        if (mode_ == Mode::kReject) out = "550 5.1.1 <nobody>: no such user here\r\n";
        else if (mode_ == Mode::kAlwaysTemp || (mode_ == Mode::kTempFirst && n == 1)) out = "451 4.3.0 try again later\r\n";
        else out = "250 2.1.5 ok\r\n";
      } else if (verb == "DATA") {
        out = "354 go\r\n";
        co_await conn->Write(out, t);
        for (;;) {
          auto l = co_await conn->ReadLine(100000, t);
          if (!l.ok()) co_return;
          if (*l == ".\r\n") break;
          m.body += (*l)[0] == '.' ? l->substr(1) : *l;
        }
        {
          std::lock_guard<std::mutex> g(mu_);
          messages_.push_back(m);
        }
        out = "250 2.0.0 queued\r\n";
      } else if (verb == "QUIT") {
        out = "221 2.0.0 bye\r\n";
        co_await conn->Write(out, t);
        co_return;
      } else {
        out = "250 2.0.0 ok\r\n";
      }
      co_await conn->Write(out, t);
    }
  }

  asio::ip::tcp::acceptor acceptor_;
  Mode mode_;
  std::shared_ptr<kite::tls::ServerContext> tls_;
  std::mutex mu_;
  int connections_ = 0;
  std::vector<Message> messages_;
  std::string commands_;  // every command line, LF-terminated
};

// An HTTPS server (implicit TLS) answering every request with the MTA-STS policy of the
// domain in its Host header ("mta-sts.<domain>").
class PolicyServer {
 public:
  PolicyServer(asio::io_context& io, std::string address, int port, std::shared_ptr<kite::tls::ServerContext> tls,
               std::map<std::string, std::string> policies)
      : acceptor_(io, asio::ip::tcp::endpoint(asio::ip::make_address(address), static_cast<uint16_t>(port))),
        tls_(std::move(tls)),
        policies_(std::move(policies)) {
    asio::co_spawn(io, Accept(), asio::detached);
  }
  void Close() {
    boost::system::error_code ec;
    acceptor_.close(ec);
  }
  int fetches() const { return fetches_.load(); }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      boost::system::error_code ec;
      auto socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      auto conn = std::make_shared<kite::net::Connection>(std::move(socket), tls_);
      asio::co_spawn(acceptor_.get_executor(), Serve(conn), asio::detached);
    }
  }
  asio::awaitable<void> Serve(std::shared_ptr<kite::net::Connection> conn) {
    const auto t = std::chrono::seconds(10);
    auto s = co_await conn->StartTls(t);
    if (!s.ok()) co_return;
    std::string host;
    for (;;) {
      auto line = co_await conn->ReadLine(8192, t);
      if (!line.ok()) co_return;
      if (*line == "\r\n") break;
      if (line->rfind("Host: ", 0) == 0) host = line->substr(6, line->size() - 8);
    }
    ++fetches_;
    std::string body = policies_.count(host) ? policies_[host] : "";
    std::string out = body.empty() ? "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                   : "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                                         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    co_await conn->Write(out, t);
    conn->Close();
  }

  asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<kite::tls::ServerContext> tls_;
  std::map<std::string, std::string> policies_;
  std::atomic<int> fetches_{0};
};

// Postfix's smtp-sink dumping each message into its own file.
class SmtpSink {
 public:
  SmtpSink(const std::string& address, int port) {
    char tmpl[] = "/tmp/kite-sink-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::filesystem::permissions(dir_, std::filesystem::perms::all);
    pid_ = fork();
    if (pid_ == 0) {
      std::string listen = address + ":" + std::to_string(port);
      std::string dump = dir_ + "/%M.";
      std::vector<std::string> args = {"smtp-sink", "-u", "nobody", "-d", dump, listen, "10"};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv("/usr/sbin/smtp-sink", argv.data());
      _exit(127);
    }
    // Ready once it accepts a connection.
    for (int i = 0; i < 100; ++i) {
      asio::io_context io;
      asio::ip::tcp::socket s(io);
      boost::system::error_code ec;
      s.connect(asio::ip::tcp::endpoint(asio::ip::make_address(address), static_cast<uint16_t>(port)), ec);
      if (!ec) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("smtp-sink did not start (is postfix installed?)");
  }
  ~SmtpSink() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::vector<std::string> Dumps() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      out.push_back(ss.str());
    }
    return out;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
};

std::string Lf(std::string s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    out += s[i];
  }
  return out;
}

template <typename F>
bool WaitFor(F f, int seconds = 30) {
  for (int i = 0; i < seconds * 20; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return f();
}

struct Row {
  bool exists = false;
  std::string state, last_error;
  int attempts = 0;
};

Row Recipient(kite::store::Pool& pool, int64_t spool_id, const std::string& rcpt) {
  auto r = pool.Transact([&](pqxx::work& tx) {
    Row row;
    auto rows = tx.exec_params(
        "SELECT state, attempts, COALESCE(last_error, '') FROM spool_recipients WHERE spool_id = $1 AND recipient = $2",
        spool_id, rcpt);
    if (!rows.empty()) {
      row.exists = true;
      row.state = rows[0][0].as<std::string>();
      row.attempts = rows[0][1].as<int>();
      row.last_error = rows[0][2].as<std::string>();
    }
    return row;
  });
  return r.ok() ? *r : Row{};
}

struct Report {
  int64_t id = 0;
  std::string recipient, kind, body;
};

// Reports (null sender, source internal) spooled so far, oldest first.
std::vector<Report> Reports(kite::store::Pool& pool) {
  auto r = pool.Transact([&](pqxx::work& tx) {
    std::vector<Report> out;
    auto rows = tx.exec(
        "SELECT s.id, r.recipient, r.kind, s.body FROM spool s JOIN spool_recipients r ON r.spool_id = s.id "
        "WHERE s.mail_from = '' AND s.source = 'internal' ORDER BY s.id");
    for (const auto& row : rows) {
      out.push_back({row[0].as<int64_t>(), row[1].as<std::string>(), row[2].as<std::string>(),
                     pqxx::binarystring(row[3]).str()});
    }
    return out;
  });
  return r.ok() ? *r : std::vector<Report>{};
}

}  // namespace

TEST_CASE("The outbound relay delivers by MX with failover, retries, and reports failures",
          "[relay][integration]") {
  const int port = FreeTcpPort();
  kite::testing::Dnsmasq dns({
      "mx-host=dest.test,mx1.dest.test,10",  // dead: nothing listens there
      "mx-host=dest.test,mx2.dest.test,20",  // smtp-sink
      "host-record=mx1.dest.test,127.0.0.2",
      "host-record=mx2.dest.test,127.0.0.3",
      "host-record=implicit.test,127.0.0.3",  // no MX: implicit MX
      "mx-host=retry.test,mx.retry.test,10",
      "host-record=mx.retry.test,127.0.0.4",
      "mx-host=bounce.test,mx.bounce.test,10",
      "host-record=mx.bounce.test,127.0.0.5",
      "mx-host=slow.test,mx.slow.test,10",
      "host-record=mx.slow.test,127.0.0.6",
      // MTA-STS: policies served from 127.0.0.7; sts.test lists its MX (valid certificate),
      // unlisted.test does not, badcert.test lists an MX whose certificate is for another name.
      R"(txt-record=_mta-sts.sts.test,"v=STSv1; id=1;")",
      R"(txt-record=_mta-sts.unlisted.test,"v=STSv1; id=1;")",
      R"(txt-record=_mta-sts.badcert.test,"v=STSv1; id=1;")",
      "host-record=mta-sts.sts.test,127.0.0.7",
      "host-record=mta-sts.unlisted.test,127.0.0.7",
      "host-record=mta-sts.badcert.test,127.0.0.7",
      "mx-host=sts.test,mx.sts.test,10",
      "host-record=mx.sts.test,127.0.0.8",
      "mx-host=unlisted.test,mx.unlisted.test,10",
      "host-record=mx.unlisted.test,127.0.0.8",
      "mx-host=badcert.test,mx.badcert.test,10",
      "host-record=mx.badcert.test,127.0.0.9",
  });
  SmtpSink sink("127.0.0.3", port);

  // PostgreSQL with a local sender, a private Redis (the relay consumes kite:outbound).
  auto pool_or = kite::store::Pool::Create({.url = kite::testing::FreshDatabase("relay"), .pool_size = 4});
  REQUIRE(pool_or.ok());
  auto& pool = **pool_or;
  REQUIRE(kite::store::Migrate(pool).ok());
  REQUIRE(kite::directory::CreateDomain(pool, "example.test").ok());
  auto sender_id = kite::directory::CreateAccount(pool, "sender@example.test", "Sender", "!", 0);
  REQUIRE(sender_id.ok());
  setenv("KITE_SOURCE_DIR", KITE_TEST_SOURCE_DIR, 0);
  kite::testing::PrivateRedis redis_server("relay_redis");
  kite::redis::Options redis_options{.port = redis_server.port()};
  auto redis = kite::redis::Client::Connect(redis_options);
  REQUIRE(redis.ok());

  // A self-signed certificate for the scripted peers' STARTTLS.
  std::string cert_dir = kite::testing::EnvDir() + "/private/" + kite::testing::UniqueName("relay_tls");
  std::filesystem::create_directories(cert_dir);
  REQUIRE(kite::tls::WriteSelfSigned(cert_dir + "/cert.pem", cert_dir + "/key.pem", {"peer.test"}).ok());
  auto tls = kite::tls::ServerContext::Create({.cert_file = cert_dir + "/cert.pem", .key_file = cert_dir + "/key.pem"});
  REQUIRE(tls.ok());
  // The MTA-STS hosts' certificate, which the relay trusts (relay_tls_ca).
  REQUIRE(kite::tls::WriteSelfSigned(cert_dir + "/sts.pem", cert_dir + "/sts.key",
                                     {"mta-sts.sts.test", "mta-sts.unlisted.test", "mta-sts.badcert.test", "mx.sts.test",
                                      "mx.unlisted.test", "mx.badcert.test"})
              .ok());
  auto sts_tls = kite::tls::ServerContext::Create({.cert_file = cert_dir + "/sts.pem", .key_file = cert_dir + "/sts.key"});
  REQUIRE(sts_tls.ok());

  asio::io_context io;
  auto work = asio::make_work_guard(io);
  Peer retry_peer(io, "127.0.0.4", port, Peer::Mode::kTempFirst, *tls);
  Peer bounce_peer(io, "127.0.0.5", port, Peer::Mode::kReject, nullptr);
  Peer slow_peer(io, "127.0.0.6", port, Peer::Mode::kAlwaysTemp, nullptr);
  Peer sts_peer(io, "127.0.0.8", port, Peer::Mode::kAccept, *sts_tls);
  Peer badcert_peer(io, "127.0.0.9", port, Peer::Mode::kAccept, *tls);  // certificate for peer.test
  Peer smarthost(io, "127.0.0.10", port, Peer::Mode::kSmarthost, *tls);
  const int https_port = FreeTcpPort();
  PolicyServer policies(io, "127.0.0.7", https_port, *sts_tls,
                        {{"mta-sts.sts.test", "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n"},
                         {"mta-sts.unlisted.test", "version: STSv1\nmode: enforce\nmx: *.elsewhere.test\nmax_age: 86400\n"},
                         {"mta-sts.badcert.test", "version: STSv1\nmode: enforce\nmx: mx.badcert.test\nmax_age: 86400\n"}});

  auto resolver = kite::dns::CaresResolver::Create({.servers = {dns.server()}});
  REQUIRE(resolver.ok());
  prometheus::Registry registry;
  prometheus::Registry registry2;  // for a second relay (smarthost section)
  kite::relay::Options o;
  o.hostname = "relay.example.test";
  o.consumer = "test";
  o.port = static_cast<uint16_t>(port);
  o.connect_timeout = std::chrono::seconds(3);
  o.command_timeout = std::chrono::seconds(10);
  o.data_timeout = std::chrono::seconds(10);
  o.backoff = {std::chrono::seconds(2)};
  o.delay_warning = std::chrono::seconds(1);
  o.lifetime = std::chrono::hours(1);
  o.reconcile_interval = std::chrono::milliseconds(300);
  o.claim_idle = std::chrono::seconds(60);
  o.reuse_idle = std::chrono::milliseconds(0);  // one connection per attempt (counted below)
  o.tls_ca_file = cert_dir + "/sts.pem";
  o.mta_sts_port = static_cast<uint16_t>(https_port);
  auto relay = std::make_unique<kite::relay::Relay>(io, pool, redis_options,
                                                    std::shared_ptr<kite::dns::Resolver>(std::move(*resolver)),
                                                    registry, o);
  std::thread io_thread([&io] { io.run(); });
  // Stops everything in order however the test ends (a failed REQUIRE throws).
  struct Stopper {
    std::unique_ptr<kite::relay::Relay>& relay;
    asio::io_context& io;
    std::thread& thread;
    std::vector<Peer*> peers;
    PolicyServer* policies;
    ~Stopper() {
      relay->Stop(std::chrono::seconds(5));
      for (Peer* p : peers) asio::post(io, [p] { p->Close(); });
      asio::post(io, [p = policies] { p->Close(); });
      relay.reset();
      io.stop();
      thread.join();
    }
  } stopper{relay, io, io_thread, {&retry_peer, &bounce_peer, &slow_peer, &sts_peer, &badcert_peer, &smarthost}, &policies};
  REQUIRE(relay->Start().ok());

  auto spool = [&](kite::queue::Envelope env, const std::string& body) {
    env.helo = "client.test";
    env.client_addr = "127.0.0.1";
    env.source = "submission";
    auto id = kite::queue::Spool(pool, env, body);
    REQUIRE(id.ok());
    REQUIRE(kite::queue::Enqueue(**redis, pool, *id, env.recipients).ok());
    return *id;
  };
  auto gone = [&](int64_t id) {
    auto n = pool.Transact([&](pqxx::work& tx) { return tx.exec_params("SELECT 1 FROM spool WHERE id = $1", id).size(); });
    return n.ok() && *n == 0;
  };

  SECTION("dead first MX: falls over to the second, which gets the message byte for byte") {
    // A line starting with a dot (transparency), 8-bit text, a long line.
    std::string body =
        "From: sender@example.test\r\nTo: friend@dest.test\r\nSubject: failover\r\n\r\n"
        ".leading dot\r\n..two dots\r\nna\xc3\xafve caf\xc3\xa9\r\n" + std::string(900, 'x') + "\r\nend\r\n";
    kite::queue::Envelope env;
    env.mail_from = "sender@example.test";
    env.recipients = {{"friend@dest.test", false, 0}, {"other@dest.test", false, 0}};
    int64_t id = spool(env, body);
    REQUIRE(WaitFor([&] { return gone(id); }));
    std::vector<std::string> dumps;
    REQUIRE(WaitFor([&] { dumps = sink.Dumps(); return dumps.size() == 1; }));
    const std::string& d = dumps[0];
    // smtp-sink writes LF line ends, its own X- and Received lines, then the message and
    // an empty line; one transaction for both recipients of the domain.
    CHECK_THAT(d, Catch::Contains("X-Mail-Args: <sender@example.test>"));
    CHECK_THAT(d, Catch::Contains("X-Rcpt-Args: <friend@dest.test>"));
    CHECK_THAT(d, Catch::Contains("X-Rcpt-Args: <other@dest.test>"));
    CHECK_THAT(d, Catch::Contains("X-Helo-Args: relay.example.test"));
    CHECK_THAT(d, Catch::EndsWith("\n" + Lf(body) + "\n"));
    CHECK(Reports(pool).empty());

    SECTION("a domain without MX is delivered to its own address") {
      kite::queue::Envelope env2;
      env2.mail_from = "sender@example.test";
      env2.recipients = {{"someone@implicit.test", false, 0}};
      int64_t id2 = spool(env2, "Subject: implicit\r\n\r\nhi\r\n");
      REQUIRE(WaitFor([&] { return gone(id2); }));
      REQUIRE(WaitFor([&] { return sink.Dumps().size() == 2; }));
      CHECK(Reports(pool).empty());
    }
  }

  SECTION("a 4xx peer is retried after the backoff and gets the message once, over STARTTLS") {
    kite::queue::Envelope env;
    env.mail_from = "sender@example.test";
    env.recipients = {{"user@retry.test", false, 0}};
    int64_t id = spool(env, "Subject: retry\r\n\r\nagain\r\n");
    // First attempt deferred with the peer's reply recorded...
    REQUIRE(WaitFor([&] {
      Row r = Recipient(pool, id, "user@retry.test");
      return (r.exists && r.state == "deferred") || gone(id);
    }));
    Row deferred = Recipient(pool, id, "user@retry.test");
    if (deferred.exists) {
      CHECK(deferred.attempts == 1);
      CHECK_THAT(deferred.last_error, Catch::Contains("451 4.3.0 try again later"));
    }
    // ... then delivered on the retry.
    REQUIRE(WaitFor([&] { return gone(id); }));
    REQUIRE(retry_peer.messages().size() == 1);
    CHECK(retry_peer.connections() == 2);
    CHECK(retry_peer.messages()[0].tls);
    CHECK(retry_peer.messages()[0].body == "Subject: retry\r\n\r\nagain\r\n");
    // Nothing comes again.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    CHECK(retry_peer.messages().size() == 1);
    CHECK(Reports(pool).empty());
  }

  SECTION("a 5xx peer: the local sender gets an RFC 3464 report honouring RET, ENVID, ORCPT") {
    kite::queue::Envelope env;
    env.mail_from = "sender@example.test";
    env.dsn_ret = "HDRS";
    env.dsn_envid = "env+42";
    kite::queue::Recipient r{"bob@bounce.test", false, 0};
    r.notify = "FAILURE";
    r.orcpt = "rfc822;Bob@Bounce.test";
    env.recipients = {r};
    int64_t id = spool(env, "From: sender@example.test\r\nSubject: doomed\r\n\r\nsecret body\r\n");
    REQUIRE(WaitFor([&] { return gone(id); }));
    // The peer offered DSN: the parameters were passed on (xtext-encoded).
    CHECK(bounce_peer.messages().empty());
    std::string commands = bounce_peer.commands();
    CHECK_THAT(commands, Catch::Contains(" RET=HDRS ENVID=env+2B42\n"));
    CHECK_THAT(commands, Catch::Contains("RCPT TO:<bob@bounce.test> NOTIFY=FAILURE ORCPT=rfc822;Bob@Bounce.test\n"));
    std::vector<Report> reports;
    REQUIRE(WaitFor([&] { reports = Reports(pool); return reports.size() == 1; }));
    const Report& rep = reports[0];
    CHECK(rep.recipient == "sender@example.test");
    CHECK(rep.kind == "local");
    CHECK_THAT(rep.body, Catch::Contains("To: <sender@example.test>"));
    CHECK_THAT(rep.body, Catch::Contains("report-type=delivery-status"));
    CHECK_THAT(rep.body, Catch::Contains("Reporting-MTA: dns; relay.example.test\r\n"));
    CHECK_THAT(rep.body, Catch::Contains("Original-Envelope-Id: env+42\r\n"));
    CHECK_THAT(rep.body, Catch::Contains("Original-Recipient: rfc822;Bob@Bounce.test\r\n"));
    CHECK_THAT(rep.body, Catch::Contains("Final-Recipient: rfc822;bob@bounce.test\r\n"));
    CHECK_THAT(rep.body, Catch::Contains("Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.bounce.test\r\n"));
    CHECK_THAT(rep.body, Catch::Contains("Diagnostic-Code: smtp; 550 5.1.1 <nobody>: no such user here\r\n"));
    CHECK_THAT(rep.body, Catch::Contains("text/rfc822-headers\r\n\r\nFrom: sender@example.test\r\nSubject: doomed\r\n"));
    CHECK_THAT(rep.body, !Catch::Contains("secret body"));
    // It lands in the sender's INBOX (what kite-delivery does with the kite:deliver entry).
    auto delivered = kite::testing::DeliverFromSpool(pool, rep.id, "sender@example.test", *sender_id);
    REQUIRE(delivered.ok());
    CHECK(delivered->uid == 1);

    SECTION("never a report to the null sender, nor against NOTIFY=NEVER") {
      kite::queue::Envelope null_sender;
      null_sender.mail_from = "";
      null_sender.recipients = {{"bob@bounce.test", false, 0}};
      int64_t a = spool(null_sender, "Subject: a bounce itself\r\n\r\nx\r\n");
      kite::queue::Envelope never;
      never.mail_from = "sender@example.test";
      kite::queue::Recipient nr{"bob@bounce.test", false, 0};
      nr.notify = "NEVER";
      never.recipients = {nr};
      int64_t b = spool(never, "Subject: quiet\r\n\r\nx\r\n");
      REQUIRE(WaitFor([&] { return gone(a) && gone(b); }));
      CHECK(bounce_peer.connections() >= 3);
      CHECK(Reports(pool).empty());  // the first message's report was delivered above
    }
  }

  SECTION("a domain that does not exist fails at once with a report") {
    kite::queue::Envelope env;
    env.mail_from = "sender@example.test";
    env.recipients = {{"who@nosuch.test", false, 0}};
    int64_t id = spool(env, "Subject: nowhere\r\n\r\nx\r\n");
    REQUIRE(WaitFor([&] { return gone(id); }));
    std::vector<Report> reports;
    REQUIRE(WaitFor([&] { reports = Reports(pool); return reports.size() == 1; }));
    CHECK_THAT(reports[0].body, Catch::Contains("Action: failed\r\nStatus: 5.1.2\r\n"));
  }

  SECTION("a recipient that keeps failing temporarily gets one delay warning") {
    kite::queue::Envelope env;
    env.mail_from = "sender@example.test";
    env.recipients = {{"late@slow.test", false, 0}};
    int64_t id = spool(env, "Subject: slow\r\n\r\nx\r\n");
    REQUIRE(WaitFor([&] { return Recipient(pool, id, "late@slow.test").attempts >= 3; }, 60));
    Row r = Recipient(pool, id, "late@slow.test");
    CHECK(r.state == "deferred");
    std::vector<Report> reports = Reports(pool);
    REQUIRE(reports.size() == 1);
    CHECK_THAT(reports[0].body, Catch::Contains("Action: delayed\r\n"));
    CHECK_THAT(reports[0].body, Catch::Contains("Will-Retry-Until: "));
    CHECK_THAT(reports[0].body, Catch::Contains("Diagnostic-Code: smtp; 451 4.3.0 try again later\r\n"));
  }

  SECTION("MTA-STS enforce: only listed MX hosts, only over TLS with a certificate for the MX name") {
    kite::queue::Envelope ok_env;
    ok_env.mail_from = "sender@example.test";
    ok_env.recipients = {{"user@sts.test", false, 0}};
    int64_t ok_id = spool(ok_env, "Subject: sts\r\n\r\nsecure\r\n");
    REQUIRE(WaitFor([&] { return gone(ok_id); }));
    REQUIRE(sts_peer.messages().size() == 1);
    CHECK(sts_peer.messages()[0].tls);
    CHECK(policies.fetches() >= 1);
    auto cached = pool.Transact([](pqxx::work& tx) {
      return tx.exec("SELECT mode, array_to_string(mx, ' ') FROM mta_sts_policies WHERE domain = 'sts.test'")[0][0]
          .as<std::string>();
    });
    CHECK(cached.value_or("") == "enforce");
    auto success = pool.Transact([](pqxx::work& tx) {
      return tx.exec("SELECT count(*) FROM tls_results WHERE domain = 'sts.test' AND result = 'success' "
                     "AND policy_type = 'sts'")[0][0].as<int>();
    });
    CHECK(success.value_or(0) == 1);

    kite::queue::Envelope unlisted;
    unlisted.mail_from = "sender@example.test";
    unlisted.recipients = {{"user@unlisted.test", false, 0}};
    int64_t u_id = spool(unlisted, "Subject: unlisted\r\n\r\nx\r\n");
    kite::queue::Envelope badcert;
    badcert.mail_from = "sender@example.test";
    badcert.recipients = {{"user@badcert.test", false, 0}};
    int64_t b_id = spool(badcert, "Subject: badcert\r\n\r\nx\r\n");
    REQUIRE(WaitFor([&] {
      return Recipient(pool, u_id, "user@unlisted.test").state == "deferred" &&
             Recipient(pool, b_id, "user@badcert.test").state == "deferred";
    }));
    CHECK_THAT(Recipient(pool, u_id, "user@unlisted.test").last_error, Catch::Contains("MTA-STS policy"));
    CHECK_THAT(Recipient(pool, b_id, "user@badcert.test").last_error, Catch::Contains("TLS handshake failed"));
    CHECK(sts_peer.messages().size() == 1);  // nothing for unlisted.test reached its MX
    CHECK(badcert_peer.messages().empty());
  }

  SECTION("a smarthost gets everything, with AUTH PLAIN only inside TLS") {
    relay->Stop(std::chrono::seconds(5));
    relay.reset();
    kite::relay::Options so = o;
    so.smarthost = "127.0.0.10:" + std::to_string(port);
    so.smarthost_user = "relayuser";
    so.smarthost_password = "s3cret";
    auto resolver2 = kite::dns::CaresResolver::Create({.servers = {dns.server()}});
    REQUIRE(resolver2.ok());
    relay = std::make_unique<kite::relay::Relay>(io, pool, redis_options,
                                                 std::shared_ptr<kite::dns::Resolver>(std::move(*resolver2)), registry2, so);
    REQUIRE(relay->Start().ok());
    kite::queue::Envelope env;
    env.mail_from = "sender@example.test";
    env.recipients = {{"someone@nosuch.test", false, 0}};  // no DNS needed with a smarthost
    int64_t id = spool(env, "Subject: via smarthost\r\n\r\nx\r\n");
    REQUIRE(WaitFor([&] { return gone(id); }));
    REQUIRE(smarthost.messages().size() == 1);
    CHECK(smarthost.messages()[0].tls);
    CHECK(smarthost.messages()[0].authed);
    relay->Stop(std::chrono::seconds(5));
    relay.reset();
    // The Stopper still expects a relay.
    relay = std::make_unique<kite::relay::Relay>(io, pool, redis_options, nullptr, registry2, so);
  }

  SECTION("after its lifetime a temporarily failing recipient bounces") {
    relay->Stop(std::chrono::seconds(5));
    relay.reset();
    kite::relay::Options lo = o;
    lo.lifetime = std::chrono::seconds(1);
    lo.delay_warning = std::chrono::seconds(0);
    auto resolver2 = kite::dns::CaresResolver::Create({.servers = {dns.server()}});
    REQUIRE(resolver2.ok());
    relay = std::make_unique<kite::relay::Relay>(io, pool, redis_options,
                                                 std::shared_ptr<kite::dns::Resolver>(std::move(*resolver2)), registry2, lo);
    REQUIRE(relay->Start().ok());
    kite::queue::Envelope env;
    env.mail_from = "sender@example.test";
    env.recipients = {{"late@slow.test", false, 0}};
    int64_t id = spool(env, "Subject: too late\r\n\r\nx\r\n");
    REQUIRE(WaitFor([&] { return gone(id); }));
    std::vector<Report> reports;
    REQUIRE(WaitFor([&] { reports = Reports(pool); return reports.size() == 1; }));
    CHECK_THAT(reports[0].body, Catch::Contains("Action: failed\r\nStatus: 4.3.0\r\n"));
    CHECK_THAT(reports[0].body, Catch::Contains("delivery time expired"));
    CHECK_THAT(reports[0].body, Catch::Contains("Diagnostic-Code: smtp; 451 4.3.0 try again later\r\n"));
    CHECK(slow_peer.connections() >= 1);
  }

  SECTION("a session is reused (RSET) for the next message to the same domain") {
    relay->Stop(std::chrono::seconds(5));
    relay.reset();
    kite::relay::Options ro = o;
    ro.reuse_idle = std::chrono::minutes(5);
    auto resolver2 = kite::dns::CaresResolver::Create({.servers = {dns.server()}});
    REQUIRE(resolver2.ok());
    relay = std::make_unique<kite::relay::Relay>(io, pool, redis_options,
                                                 std::shared_ptr<kite::dns::Resolver>(std::move(*resolver2)), registry2, ro);
    REQUIRE(relay->Start().ok());
    for (int i = 0; i < 3; ++i) {
      kite::queue::Envelope env;
      env.mail_from = "sender@example.test";
      env.recipients = {{"user@sts.test", false, 0}};
      int64_t id = spool(env, "Subject: reuse " + std::to_string(i) + "\r\n\r\nx\r\n");
      REQUIRE(WaitFor([&] { return gone(id); }));
    }
    REQUIRE(sts_peer.messages().size() == 3);
    CHECK(sts_peer.connections() == 1);
    CHECK_THAT(sts_peer.commands(), Catch::Contains("RSET\n"));
    for (const auto& m : sts_peer.messages()) CHECK(m.tls);
  }
}
