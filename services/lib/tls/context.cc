#include "lib/tls/context.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kite::tls {
namespace {

struct CtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

std::shared_ptr<SSL_CTX> Share(SSL_CTX* ctx) { return std::shared_ptr<SSL_CTX>(ctx, CtxFree()); }

// The TLS library reports a missing file as an opaque "system library" error; checking
// readability ourselves first gives operators the errno text they expect.
absl::Status CheckReadable(absl::string_view what, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("no ", what, " file configured"));
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    int err = errno;
    return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path, ": ", std::strerror(err)));
  }
  std::fclose(f);
  return absl::OkStatus();
}

std::string WithDetail(std::string message) {
  std::string detail = LastError();
  if (!detail.empty()) absl::StrAppend(&message, " (", detail, ")");
  return message;
}

absl::StatusOr<int> ParseMinVersion(const std::string& v) {
  if (v.empty() || v == "1.2") return TLS1_2_VERSION;
  if (v == "1.3") return TLS1_3_VERSION;
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported TLS min_version \"", v, "\" (use \"1.2\" or \"1.3\")"));
}

absl::Status LoadTrustAnchors(SSL_CTX* ctx, const Options& options) {
  if (options.ca_file.empty()) return absl::OkStatus();
  if (auto s = CheckReadable("CA file", options.ca_file); !s.ok()) return s;
  if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(
        WithDetail(absl::StrCat("cannot load CA file ", options.ca_file)));
  }
  return absl::OkStatus();
}

// Loads the chain and key into ctx. The key is parsed separately and compared with the leaf
// before it is installed, because SSL_CTX_use_PrivateKey_file's own mismatch error
// ("key values mismatch") does not tell an operator which files are at fault.
absl::Status LoadCertificateAndKey(SSL_CTX* ctx, const Options& options) {
  if (auto s = CheckReadable("certificate", options.cert_file); !s.ok()) return s;
  if (auto s = CheckReadable("private key", options.key_file); !s.ok()) return s;
  if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError(WithDetail(
        absl::StrCat("cannot load certificate ", options.cert_file, ": not a valid PEM certificate chain")));
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(options.key_file.c_str(), "r"));
  if (!bio) {
    return absl::NotFoundError(WithDetail(absl::StrCat("cannot read private key ", options.key_file)));
  }
  // A null password callback with a null userdata would prompt on the terminal for an
  // encrypted key in OpenSSL; an empty callback makes such a key fail cleanly instead.
  auto no_password = [](char*, int, int, void*) -> int { return 0; };
  std::unique_ptr<EVP_PKEY, PkeyFree> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  if (!key) {
    return absl::InvalidArgumentError(WithDetail(absl::StrCat(
        "cannot load private key ", options.key_file, ": not a PEM private key (or it is encrypted)")));
  }
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  if (leaf == nullptr || X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("private key ", options.key_file,
                                                   " does not match certificate ", options.cert_file));
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InvalidArgumentError(WithDetail(absl::StrCat(
        "private key ", options.key_file, " does not match certificate ", options.cert_file)));
  }
  return absl::OkStatus();
}

void ApplyCommonSettings(SSL_CTX* ctx, int min_version) {
  SSL_CTX_set_min_proto_version(ctx, min_version);
  // Compression enables CRIME; renegotiation has a history of DoS and injection bugs and no
  // mail client needs it. Both are already off in BoringSSL (the flags are 0 there).
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Thousands of idle IMAP sessions each holding 34 KiB of TLS buffers add up.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

absl::StatusOr<std::shared_ptr<SSL_CTX>> BuildServerContext(const Options& options) {
  ERR_clear_error();
  auto min_version = ParseMinVersion(options.min_version);
  if (!min_version.ok()) return min_version.status();
  std::shared_ptr<SSL_CTX> ctx = Share(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return absl::InternalError(WithDetail("cannot create TLS server context"));
  ApplyCommonSettings(ctx.get(), *min_version);
  SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (auto s = LoadCertificateAndKey(ctx.get(), options); !s.ok()) return s;
  if (auto s = LoadTrustAnchors(ctx.get(), options); !s.ok()) return s;
  if (options.verify_peer) {
    if (options.ca_file.empty()) {
      return absl::InvalidArgumentError("verify_peer on a server needs ca_file to verify client certificates");
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  // Session resumption with client certificates fails without a session id context.
  static constexpr unsigned char kSessionContext[] = "kite";
  SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof(kSessionContext) - 1);
  return ctx;
}

std::string FileStamp(const std::string& path) {
  if (path.empty()) return "-";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return absl::StrCat("missing:", errno);
  return absl::StrCat(st.st_dev, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec);
}

}  // namespace

absl::StatusOr<std::shared_ptr<ServerContext>> ServerContext::Create(const Options& options) {
  std::shared_ptr<ServerContext> server(new ServerContext(options));
  std::string stamp = server->Stamp();
  auto ctx = BuildServerContext(options);
  if (!ctx.ok()) return ctx.status();
  server->current_ = *std::move(ctx);
  server->stamp_ = std::move(stamp);
  return server;
}

std::shared_ptr<SSL_CTX> ServerContext::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

std::string ServerContext::Stamp() const {
  return absl::StrCat(FileStamp(options_.cert_file), "|", FileStamp(options_.key_file), "|",
                      FileStamp(options_.ca_file));
}

absl::Status ServerContext::Reload() {
  // Stamp before reading, so a file replaced during the load is seen as changed next time.
  std::string stamp = Stamp();
  auto ctx = BuildServerContext(options_);
  std::lock_guard<std::mutex> lock(mu_);
  stamp_ = std::move(stamp);
  if (!ctx.ok()) return ctx.status();
  current_ = *std::move(ctx);
  return absl::OkStatus();
}

absl::StatusOr<bool> ServerContext::ReloadIfChanged() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (Stamp() == stamp_) return false;
  }
  if (auto s = Reload(); !s.ok()) return s;
  return true;
}

absl::StatusOr<std::shared_ptr<SSL_CTX>> MakeClientContext(const Options& options) {
  ERR_clear_error();
  auto min_version = ParseMinVersion(options.min_version);
  if (!min_version.ok()) return min_version.status();
  std::shared_ptr<SSL_CTX> ctx = Share(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return absl::InternalError(WithDetail("cannot create TLS client context"));
  ApplyCommonSettings(ctx.get(), *min_version);
  // A client certificate is optional (mutual TLS between services).
  if (!options.cert_file.empty() || !options.key_file.empty()) {
    if (auto s = LoadCertificateAndKey(ctx.get(), options); !s.ok()) return s;
  }
  if (options.verify_peer) {
    if (options.ca_file.empty()) {
      if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
        return absl::InternalError(WithDetail("cannot load the system trust store"));
      }
    } else if (auto s = LoadTrustAnchors(ctx.get(), options); !s.ok()) {
      return s;
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    // Opportunistic STARTTLS between MTAs (RFC 3207 section 4.1) proceeds whatever the
    // certificate; policy (MTA-STS, DANE) decides elsewhere whether to insist.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  return ctx;
}

absl::Status SetExpectedHost(SSL* ssl, std::string_view host) {
  ERR_clear_error();
  std::string name(host);
  if (name.empty()) return absl::InvalidArgumentError("empty TLS host name");
  if (name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  // An IP literal is matched against iPAddress SANs and never sent as SNI (RFC 6066 3).
  if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1) return absl::OkStatus();
  ERR_clear_error();
  if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    return absl::InvalidArgumentError(WithDetail(absl::StrCat("invalid TLS host name ", name)));
  }
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) != 1) {
    return absl::InvalidArgumentError(WithDetail(absl::StrCat("invalid TLS host name ", name)));
  }
  return absl::OkStatus();
}

std::string LastError() {
  std::string out;
  const char* file = nullptr;
  int line = 0;
  const char* data = nullptr;
  int flags = 0;
  // Bounded: the queue is finite, but a bug elsewhere must not make this loop forever.
  for (int i = 0; i < 32; ++i) {
#if defined(OPENSSL_IS_BORINGSSL) || OPENSSL_VERSION_NUMBER < 0x30000000L
    unsigned long code = ERR_get_error_line_data(&file, &line, &data, &flags);
#else
    // The one call that differs: OpenSSL 3 deprecates the form BoringSSL still has.
    const char* func = nullptr;
    unsigned long code = ERR_get_error_all(&file, &line, &func, &data, &flags);
#endif
    if (code == 0) break;
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
    if (data != nullptr && (flags & ERR_TXT_STRING) && *data != '\0') absl::StrAppend(&out, " [", data, "]");
  }
  ERR_clear_error();
  return out;
}

}  // namespace kite::tls
