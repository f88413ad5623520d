#include "lib/tls/self_signed.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "lib/tls/context.h"

namespace kite::tls {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;
using BasicPtr = std::unique_ptr<BASIC_CONSTRAINTS, Deleter<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

absl::Status Failed(absl::string_view what) {
  std::string detail = LastError();
  return absl::InternalError(detail.empty() ? std::string(what) : absl::StrCat(what, ": ", detail));
}

absl::StatusOr<PkeyPtr> GenerateKey(KeyType type) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(type == KeyType::kRsa2048 ? EVP_PKEY_RSA : EVP_PKEY_EC, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) return Failed("cannot start key generation");
  int ok = type == KeyType::kRsa2048 ? EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 2048)
                                     : EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_X9_62_prime256v1);
  if (ok != 1) return Failed("cannot set key parameters");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) != 1) return Failed("key generation failed");
  return PkeyPtr(raw);
}

// DNS names and IP literals both go into subjectAltName: clients match IP-addressed
// connections (the launcher's 127.0.0.1) only against iPAddress entries.
absl::Status AddSubjectAltNames(X509* cert, const std::vector<std::string>& hostnames) {
  NamesPtr names(GENERAL_NAMES_new());
  if (!names) return Failed("out of memory");
  for (const std::string& host : hostnames) {
    unsigned char ip[16];
    int ip_len = 0;
    if (inet_pton(AF_INET, host.c_str(), ip) == 1) ip_len = 4;
    else if (inet_pton(AF_INET6, host.c_str(), ip) == 1) ip_len = 16;
    GENERAL_NAME* name = GENERAL_NAME_new();
    if (name == nullptr) return Failed("out of memory");
    ASN1_STRING* value = ip_len > 0 ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    if (value == nullptr ||
        (ip_len > 0 ? ASN1_STRING_set(value, ip, ip_len) : ASN1_STRING_set(value, host.data(), host.size())) != 1) {
      ASN1_STRING_free(value);
      GENERAL_NAME_free(name);
      return Failed("out of memory");
    }
    GENERAL_NAME_set0_value(name, ip_len > 0 ? GEN_IPADD : GEN_DNS, value);
    if (sk_GENERAL_NAME_push(names.get(), name) == 0) {
      GENERAL_NAME_free(name);
      return Failed("out of memory");
    }
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return Failed("cannot add subjectAltName");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ToPem(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return Failed("cannot encode PEM");
  return std::string(data, static_cast<size_t>(len));
}

// Write to "<path>.tmp" then rename: a ServerContext polling ReloadIfChanged must never load a
// half-written file, and the key must not be readable by others even for a moment.
absl::Status WriteFileAtomically(std::string_view path, const std::string& contents, mode_t mode) {
  std::string final_path(path);
  std::string tmp = absl::StrCat(final_path, ".tmp");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    int err = errno;
    return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(err)));
  }
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  ::fchmod(fd, mode);  // the umask may have removed bits, never added: make the mode exact
  if (::close(fd) != 0 || ::rename(tmp.c_str(), final_path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", final_path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteSelfSigned(std::string_view cert_path, std::string_view key_path,
                             const std::vector<std::string>& hostnames, int days, KeyType key_type) {
  if (hostnames.empty()) return absl::InvalidArgumentError("a self-signed certificate needs at least one host name");
  for (const std::string& host : hostnames) {
    if (host.empty()) return absl::InvalidArgumentError("empty host name for self-signed certificate");
  }
  if (days <= 0 || days > 3650) return absl::InvalidArgumentError("validity must be 1..3650 days");

  auto key = GenerateKey(key_type);
  if (!key.ok()) return key.status();
  X509Ptr cert(X509_new());
  if (!cert) return Failed("out of memory");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return Failed("cannot set version");

  // Random 63-bit serial: browsers and OpenSSL reject two certificates from one issuer name
  // with the same serial, which would otherwise happen each time the launcher regenerates.
  uint64_t serial = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof(serial)) != 1) return Failed("no randomness");
  serial = (serial >> 1) | 1;
  BnPtr bn(BN_new());
  if (!bn || BN_set_word(bn.get(), serial) != 1 ||
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return Failed("cannot set serial number");
  }

  // Backdate by an hour so a peer with a slightly slow clock does not reject it as not yet valid.
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400) == nullptr) {
    return Failed("cannot set validity");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  const std::string& cn = hostnames.front();
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Kite self-signed"), -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()),
                                 cn.size() > 64 ? 64 : -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1) {
    return Failed("cannot set subject name");
  }
  if (X509_set_pubkey(cert.get(), key->get()) != 1) return Failed("cannot set public key");

  // CA:TRUE lets a test or a client pin this very certificate as its trust anchor.
  BasicPtr basic(BASIC_CONSTRAINTS_new());
  if (!basic) return Failed("out of memory");
  basic->ca = 1;
  if (X509_add1_ext_i2d(cert.get(), NID_basic_constraints, basic.get(), 1, X509V3_ADD_DEFAULT) != 1) {
    return Failed("cannot add basicConstraints");
  }
  if (auto s = AddSubjectAltNames(cert.get(), hostnames); !s.ok()) return s;
  if (X509_sign(cert.get(), key->get(), EVP_sha256()) == 0) return Failed("cannot sign certificate");

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key->get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Failed("cannot encode PEM");
  }
  auto cert_pem = ToPem(cert_bio.get());
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ToPem(key_bio.get());
  if (!key_pem.ok()) return key_pem.status();
  // Key first: a reloading server that sees a new certificate with the old key would log a
  // spurious mismatch.
  if (auto s = WriteFileAtomically(key_path, *key_pem, 0600); !s.ok()) return s;
  return WriteFileAtomically(cert_path, *cert_pem, 0644);
}

}  // namespace kite::tls
