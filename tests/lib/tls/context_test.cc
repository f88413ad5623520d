// Tests for kite_tls against whichever TLS library the build links (OpenSSL or BoringSSL):
// real handshakes between a client and a server SSL over a socketpair, no Asio.
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "lib/tls/context.h"
#include "lib/tls/self_signed.h"

namespace kite::tls {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kite-tls-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

struct HandshakeResult {
  bool ok = false;
  std::string client_error;
  std::string server_error;
  std::string peer_cn;  // the server certificate's CN as the client saw it
  std::string version;
};

std::string SubjectCn(X509* cert) {
  if (cert == nullptr) return "";
  char buf[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf));
  return buf;
}

// Drives both ends of a handshake in one thread over a non-blocking socketpair. `expected_host`
// empty means no SNI and no name check (the SNI-less case).
HandshakeResult Handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx, const std::string& expected_host = "") {
  HandshakeResult result;
  int fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  fcntl(fds[1], F_SETFL, O_NONBLOCK);
  SSL* server = SSL_new(server_ctx);
  SSL* client = SSL_new(client_ctx);
  REQUIRE(server != nullptr);
  REQUIRE(client != nullptr);
  SSL_set_fd(server, fds[0]);
  SSL_set_fd(client, fds[1]);
  SSL_set_accept_state(server);
  SSL_set_connect_state(client);
  if (!expected_host.empty()) REQUIRE(SetExpectedHost(client, expected_host).ok());
  bool client_done = false, server_done = false, failed = false;
  for (int i = 0; i < 1000 && !(client_done && server_done) && !failed; ++i) {
    if (!client_done) {
      int r = SSL_do_handshake(client);
      if (r == 1) {
        client_done = true;
      } else {
        int err = SSL_get_error(client, r);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          result.client_error = LastError();
          if (result.client_error.empty()) result.client_error = "ssl error " + std::to_string(err);
          failed = true;
        }
      }
    }
    if (!server_done && !failed) {
      int r = SSL_do_handshake(server);
      if (r == 1) {
        server_done = true;
      } else {
        int err = SSL_get_error(server, r);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          result.server_error = LastError();
          if (result.server_error.empty()) result.server_error = "ssl error " + std::to_string(err);
          failed = true;
        }
      }
    }
  }
  result.ok = client_done && server_done && !failed;
  if (result.ok) {
    // Application data both ways, so TLS 1.3 tickets and the record layer are exercised too.
    REQUIRE(SSL_write(client, "ping", 4) == 4);
    char buf[8];
    int n = -1;
    for (int i = 0; i < 100 && n <= 0; ++i) n = SSL_read(server, buf, sizeof(buf));
    REQUIRE(n == 4);
    REQUIRE(std::string(buf, 4) == "ping");
    X509* peer = SSL_get_peer_certificate(client);
    result.peer_cn = SubjectCn(peer);
    X509_free(peer);
    result.version = SSL_get_version(client);
  }
  SSL_free(client);
  SSL_free(server);
  close(fds[0]);
  close(fds[1]);
  ERR_clear_error();
  return result;
}

Options ServerOptions(const TempDir& dir, const std::string& name = "server") {
  Options o;
  o.cert_file = dir.File(name + ".pem");
  o.key_file = dir.File(name + ".key");
  return o;
}

std::shared_ptr<SSL_CTX> PlainClient() {
  auto ctx = MakeClientContext(Options{});
  REQUIRE(ctx.ok());
  return *ctx;
}

std::shared_ptr<SSL_CTX> VerifyingClient(const std::string& ca_file) {
  Options o;
  o.ca_file = ca_file;
  o.verify_peer = true;
  auto ctx = MakeClientContext(o);
  REQUIRE(ctx.ok());
  return *ctx;
}

TEST_CASE("a self-signed certificate is written with a private key only its owner can read", "[tls]") {
  TempDir dir;
  REQUIRE(WriteSelfSigned(dir.File("c.pem"), dir.File("c.key"), {"mail.test", "127.0.0.1"}).ok());
  struct stat st;
  REQUIRE(stat(dir.File("c.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(stat(dir.File("c.pem").c_str(), &st) == 0);
  CHECK(st.st_size > 100);
  CHECK_FALSE(fs::exists(dir.File("c.pem.tmp")));
  CHECK_FALSE(WriteSelfSigned(dir.File("x.pem"), dir.File("x.key"), {}).ok());
}

TEST_CASE("a full handshake without SNI succeeds with an EC and with an RSA certificate", "[tls]") {
  TempDir dir;
  auto key_type = GENERATE(KeyType::kEcP256, KeyType::kRsa2048);
  REQUIRE(WriteSelfSigned(dir.File("server.pem"), dir.File("server.key"), {"mail.test"}, 30, key_type).ok());
  auto server = ServerContext::Create(ServerOptions(dir));
  REQUIRE(server.ok());
  auto client = PlainClient();
  HandshakeResult r = Handshake((*server)->Current().get(), client.get());
  INFO(r.client_error << " / " << r.server_error);
  REQUIRE(r.ok);
  CHECK(r.peer_cn == "mail.test");
  CHECK(r.version == "TLSv1.3");
}

TEST_CASE("a verifying client accepts the right host name and IP and rejects others", "[tls]") {
  TempDir dir;
  REQUIRE(WriteSelfSigned(dir.File("server.pem"), dir.File("server.key"), {"mail.test", "127.0.0.1"}).ok());
  auto server = ServerContext::Create(ServerOptions(dir));
  REQUIRE(server.ok());
  auto client = VerifyingClient(dir.File("server.pem"));
  CHECK(Handshake((*server)->Current().get(), client.get(), "mail.test").ok);
  CHECK(Handshake((*server)->Current().get(), client.get(), "127.0.0.1").ok);
  HandshakeResult wrong = Handshake((*server)->Current().get(), client.get(), "other.test");
  CHECK_FALSE(wrong.ok);
  CHECK_FALSE(Handshake((*server)->Current().get(), client.get(), "127.0.0.2").ok);

  // A certificate from an unrelated issuer is rejected even with the right name.
  REQUIRE(WriteSelfSigned(dir.File("other.pem"), dir.File("other.key"), {"mail.test"}).ok());
  auto other = VerifyingClient(dir.File("other.pem"));
  CHECK_FALSE(Handshake((*server)->Current().get(), other.get(), "mail.test").ok);
}

TEST_CASE("server context errors name the file and the reason", "[tls]") {
  TempDir dir;
  REQUIRE(WriteSelfSigned(dir.File("a.pem"), dir.File("a.key"), {"a.test"}).ok());
  REQUIRE(WriteSelfSigned(dir.File("b.pem"), dir.File("b.key"), {"b.test"}).ok());

  SECTION("missing certificate") {
    Options o = ServerOptions(dir, "missing");
    auto s = ServerContext::Create(o);
    REQUIRE_FALSE(s.ok());
    std::string msg(s.status().message());
    CHECK(msg.find("cannot read certificate " + o.cert_file + ": No such file") != std::string::npos);
  }
  SECTION("key that belongs to another certificate") {
    Options o;
    o.cert_file = dir.File("a.pem");
    o.key_file = dir.File("b.key");
    auto s = ServerContext::Create(o);
    REQUIRE_FALSE(s.ok());
    CHECK(std::string(s.status().message()).find("does not match certificate") != std::string::npos);
  }
  SECTION("a file that is not PEM") {
    std::ofstream(dir.File("junk.pem")) << "not a certificate\n";
    Options o;
    o.cert_file = dir.File("junk.pem");
    o.key_file = dir.File("a.key");
    auto s = ServerContext::Create(o);
    REQUIRE_FALSE(s.ok());
    CHECK(std::string(s.status().message()).find("cannot load certificate " + o.cert_file) != std::string::npos);
  }
  SECTION("unknown minimum version") {
    Options o = ServerOptions(dir, "a");
    o.min_version = "1.1";
    auto s = ServerContext::Create(o);
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
  }
  SECTION("verify_peer without a CA") {
    Options o = ServerOptions(dir, "a");
    o.verify_peer = true;
    CHECK_FALSE(ServerContext::Create(o).ok());
  }
  CHECK(LastError().empty());  // every failure above drained the queue
}

TEST_CASE("a reloaded certificate is used by new handshakes", "[tls]") {
  TempDir dir;
  REQUIRE(WriteSelfSigned(dir.File("server.pem"), dir.File("server.key"), {"old.test"}).ok());
  auto server = ServerContext::Create(ServerOptions(dir));
  REQUIRE(server.ok());
  auto client = PlainClient();
  std::shared_ptr<SSL_CTX> before = (*server)->Current();
  CHECK(Handshake(before.get(), client.get()).peer_cn == "old.test");

  auto unchanged = (*server)->ReloadIfChanged();
  REQUIRE(unchanged.ok());
  CHECK_FALSE(*unchanged);

  REQUIRE(WriteSelfSigned(dir.File("server.pem"), dir.File("server.key"), {"new.test"}).ok());
  auto changed = (*server)->ReloadIfChanged();
  REQUIRE(changed.ok());
  CHECK(*changed);
  CHECK(Handshake((*server)->Current().get(), client.get()).peer_cn == "new.test");
  // Whoever still holds the old context (connections in progress) keeps a working one.
  CHECK(Handshake(before.get(), client.get()).peer_cn == "old.test");

  REQUIRE((*server)->Reload().ok());
  CHECK(Handshake((*server)->Current().get(), client.get()).peer_cn == "new.test");
}

TEST_CASE("a bad new certificate keeps the old one in service", "[tls]") {
  TempDir dir;
  REQUIRE(WriteSelfSigned(dir.File("server.pem"), dir.File("server.key"), {"old.test"}).ok());
  REQUIRE(WriteSelfSigned(dir.File("other.pem"), dir.File("other.key"), {"other.test"}).ok());
  auto server = ServerContext::Create(ServerOptions(dir));
  REQUIRE(server.ok());
  std::shared_ptr<SSL_CTX> before = (*server)->Current();
  auto client = PlainClient();

  SECTION("certificate replaced by one that does not match the key") {
    fs::copy_file(dir.File("other.pem"), dir.File("server.pem"), fs::copy_options::overwrite_existing);
    absl::Status s = (*server)->Reload();
    REQUIRE_FALSE(s.ok());
    CHECK(std::string(s.message()).find("does not match") != std::string::npos);
  }
  SECTION("certificate replaced by garbage, noticed by polling") {
    { std::ofstream(dir.File("server.pem"), std::ios::trunc) << "-----BEGIN CERTIFICATE-----\nAAAA\n"; }
    // Make sure the stamp differs even on a coarse-mtime filesystem.
    fs::last_write_time(dir.File("server.pem"), fs::last_write_time(dir.File("server.pem")) + std::chrono::seconds(5));
    auto r = (*server)->ReloadIfChanged();
    REQUIRE_FALSE(r.ok());
    // The same broken files are not retried on the next poll.
    auto again = (*server)->ReloadIfChanged();
    REQUIRE(again.ok());
    CHECK_FALSE(*again);
  }
  SECTION("files removed") {
    fs::remove(dir.File("server.key"));
    CHECK((*server)->Reload().code() == absl::StatusCode::kNotFound);
  }
  CHECK((*server)->Current() == before);
  CHECK(Handshake((*server)->Current().get(), client.get()).peer_cn == "old.test");
}

TEST_CASE("min_version 1.3 refuses a TLS 1.2-only client", "[tls]") {
  TempDir dir;
  REQUIRE(WriteSelfSigned(dir.File("server.pem"), dir.File("server.key"), {"mail.test"}).ok());
  Options o = ServerOptions(dir);
  o.min_version = "1.3";
  auto server = ServerContext::Create(o);
  REQUIRE(server.ok());
  auto client = PlainClient();
  CHECK(Handshake((*server)->Current().get(), client.get()).ok);
  SSL_CTX_set_max_proto_version(client.get(), TLS1_2_VERSION);
  CHECK_FALSE(Handshake((*server)->Current().get(), client.get()).ok);
}

TEST_CASE("a server with verify_peer requires a client certificate from its CA", "[tls]") {
  TempDir dir;
  REQUIRE(WriteSelfSigned(dir.File("server.pem"), dir.File("server.key"), {"mail.test"}).ok());
  REQUIRE(WriteSelfSigned(dir.File("client.pem"), dir.File("client.key"), {"client.test"}).ok());
  Options o = ServerOptions(dir);
  o.ca_file = dir.File("client.pem");
  o.verify_peer = true;
  auto server = ServerContext::Create(o);
  REQUIRE(server.ok());

  Options with_cert;
  with_cert.cert_file = dir.File("client.pem");
  with_cert.key_file = dir.File("client.key");
  auto client = MakeClientContext(with_cert);
  REQUIRE(client.ok());
  // TLS 1.3 reports a rejected client certificate after the client considers the handshake
  // done, so the server side's verdict is what counts here.
  CHECK(Handshake((*server)->Current().get(), client->get()).ok);
  HandshakeResult anonymous = Handshake((*server)->Current().get(), PlainClient().get());
  CHECK_FALSE(anonymous.ok);
}

}  // namespace
}  // namespace kite::tls
