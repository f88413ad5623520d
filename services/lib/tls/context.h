// TLS contexts for Kite's listeners and clients.
//
// What: builds SSL_CTX objects from PEM files for servers (with certificate reload without a
// restart) and for clients (outbound SMTP with STARTTLS, gRPC helpers, tests).
// Standards: TLS 1.2 (RFC 5246) and TLS 1.3 (RFC 8446) only, per RFC 8996 and RFC 8314's
// guidance for mail; X.509 path validation per RFC 5280 when peer verification is enabled.
// Untrusted input: none from the network here: the files are operator configuration, but their
// contents are still treated as possibly wrong (missing, unreadable, mismatched) and reported
// as clear errors instead of aborting. Handshake bytes from peers are parsed by the TLS library.
//
// Written to the API that OpenSSL 3 and BoringSSL share, so the same code builds with either
// (KITE_TLS_BACKEND): daemons link OpenSSL, the BoringSSL build tests this library alone.
#ifndef KITE_SERVICES_LIB_TLS_CONTEXT_H_
#define KITE_SERVICES_LIB_TLS_CONTEXT_H_

#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kite::tls {

struct Options {
  std::string cert_file;  // PEM: leaf certificate first, then intermediates
  std::string key_file;   // PEM private key matching the leaf certificate
  std::string ca_file;    // optional PEM trust anchors for verifying peers
  // Servers: require and verify a client certificate against ca_file.
  // Clients: verify the server's chain against ca_file (or the system store when empty).
  bool verify_peer = false;
  std::string min_version = "1.2";  // "1.2" or "1.3"
};

// A server context whose certificate can be replaced while the daemon runs (cert-manager
// renews the Secret, the operator replaces files). Each new connection takes Current();
// connections already established keep the SSL_CTX they started with, since SSL holds a
// reference to it. Thread-safe.
class ServerContext {
 public:
  // Fails (with the file name and reason) if the certificate, key or CA cannot be loaded or
  // the key does not match the certificate.
  static absl::StatusOr<std::shared_ptr<ServerContext>> Create(const Options& options);

  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // The context to use for the next handshake.
  std::shared_ptr<SSL_CTX> Current() const;

  // Builds a fresh SSL_CTX from the files and swaps it in only if it is valid; on error the
  // previous context stays in use and the error is returned, so a botched renewal never
  // takes the service down.
  absl::Status Reload();

  // Reloads when any of the files changed (mtime, size or inode) since the last attempt.
  // Returns true when a new context was installed. A failed attempt is remembered, so
  // polling does not retry (and log) the same broken files until they change again.
  absl::StatusOr<bool> ReloadIfChanged();

  const Options& options() const { return options_; }

 private:
  explicit ServerContext(Options options) : options_(std::move(options)) {}
  std::string Stamp() const;

  const Options options_;
  mutable std::mutex mu_;
  std::shared_ptr<SSL_CTX> current_;  // guarded by mu_
  std::string stamp_;                 // guarded by mu_; identity of the files last tried
};

// A client context. With verify_peer the caller must also name the expected host on each SSL
// (SetExpectedHost) for the check to mean anything.
absl::StatusOr<std::shared_ptr<SSL_CTX>> MakeClientContext(const Options& options);

// Sets SNI and, when the context verifies peers, the name the server certificate must carry
// (RFC 6125). Host names only; an IP literal is matched against IP SANs.
absl::Status SetExpectedHost(SSL* ssl, std::string_view host);

// Drains the TLS library's error queue of this thread into one line of text ("" if empty).
// Call it right after a failing call, before anything else touches the queue.
std::string LastError();

}  // namespace kite::tls

#endif  // KITE_SERVICES_LIB_TLS_CONTEXT_H_
