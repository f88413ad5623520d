// kitectl dkim | dns — DKIM signing keys per hosted domain and the DNS records an operator
// publishes for it.
//
// Standards: DKIM keys and key records (RFC 6376 3.6.1; Ed25519 keys RFC 8463), SPF (RFC
// 7208), DMARC (RFC 7489), MTA-STS (RFC 8461), SMTP TLS reporting (RFC 8460), SRV records
// for mail clients (RFC 6186, RFC 8314 for implicit TLS) and CalDAV (RFC 6764), master-file
// syntax (RFC 1035 5.1; a TXT character-string is at most 255 octets, RFC 1035 3.3).
//
// Input is the operator's command line (trusted, but checked: a selector must be a DNS name
// a TXT record can sit under). Keys are generated with OpenSSL's EVP API and stored in the
// dkim_keys table (migration 0006): PKCS#8 PEM for the private key, and exactly the "p="
// value of the key record for the public one (base64 of the DER SubjectPublicKeyInfo for
// RSA, base64 of the raw 32-byte key for Ed25519).
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "kitectl/commands.h"
#include "lib/base/hex.h"
#include "lib/base/strings.h"

namespace kite::kitectl {
namespace {

// ---------------------------------------------------------------------------- keys

struct KeyPair {
  std::string private_key_pem;  // PKCS#8
  std::string public_key;       // the key record's p= value
};

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

std::string Base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

// algorithm is "rsa2048" or "ed25519" (checked by the caller).
absl::StatusOr<KeyPair> GenerateKeyPair(std::string_view algorithm) {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(algorithm == "rsa2048"
                                              ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                                              : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return absl::InternalError(absl::StrCat("OpenSSL could not generate a ", AV(algorithm), " key"));
  KeyPair out;
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError("OpenSSL could not encode the private key");
  }
  char* pem = nullptr;
  long pem_size = BIO_get_mem_data(bio.get(), &pem);
  out.private_key_pem.assign(pem, static_cast<size_t>(pem_size));
  if (algorithm == "rsa2048") {
    int der_size = i2d_PUBKEY(key.get(), nullptr);
    if (der_size <= 0) return absl::InternalError("OpenSSL could not encode the public key");
    std::string der(static_cast<size_t>(der_size), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_PUBKEY(key.get(), &p) != der_size) return absl::InternalError("OpenSSL could not encode the public key");
    out.public_key = Base64(reinterpret_cast<const unsigned char*>(der.data()), der.size());
  } else {
    unsigned char raw[32];
    size_t raw_size = sizeof(raw);
    if (EVP_PKEY_get_raw_public_key(key.get(), raw, &raw_size) != 1 || raw_size != 32) {
      return absl::InternalError("OpenSSL could not extract the Ed25519 public key");
    }
    out.public_key = Base64(raw, raw_size);
  }
  return out;
}

// RFC 6376 3.1: selector = sub-domain *("." sub-domain); labels of letters, digits and
// inner hyphens, at most 63 octets each.
bool ValidSelector(std::string_view s) {
  if (s.empty() || s.size() > 200) return false;
  for (absl::string_view label : absl::StrSplit(AV(s), '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
  }
  return true;
}

std::string DefaultSelector(std::string_view algorithm) {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  // One selector per algorithm and month, so an RSA and an Ed25519 key made together (signed
  // side by side, RFC 8463 3) and next month's rotation never collide. Stalwart does the same.
  return absl::StrFormat("kite%04d%02d%c", utc.tm_year + 1900, utc.tm_mon + 1, algorithm == "rsa2048" ? 'r' : 'e');
}

struct StoredKey {
  std::string domain;
  std::string selector;
  std::string algorithm;
  std::string public_key;
  bool active = false;
  std::string created_at;  // RFC 3339, UTC
};

// Domain id by name; NotFound names the domain.
absl::StatusOr<int64_t> DomainId(store::Pool& pool, const std::string& domain) {
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    auto r = tx.exec_params("SELECT id FROM domains WHERE name = $1", domain);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("unknown domain ", domain, " (see kitectl domain list)"));
    return r[0][0].as<int64_t>();
  });
}

// Keys of one domain (or all when domain is empty), oldest first.
absl::StatusOr<std::vector<StoredKey>> ListKeys(store::Pool& pool, const std::string& domain, bool active_only) {
  return pool.Transact([&](pqxx::work& tx) {
    std::vector<StoredKey> out;
    auto rows = tx.exec_params(
        "SELECT d.name, k.selector, k.algorithm, k.public_key, k.active,"
        "       to_char(k.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        "  FROM dkim_keys k JOIN domains d ON d.id = k.domain_id"
        " WHERE ($1 = '' OR d.name = $1) AND (k.active OR NOT $2)"
        " ORDER BY d.name, k.created_at, k.selector",
        domain, active_only);
    for (const auto& row : rows) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<std::string>(), row[4].as<bool>(), row[5].as<std::string>()});
    }
    return out;
  });
}

std::string KeyJson(const StoredKey& k) {
  return JsonObject()
      .Add("domain", k.domain)
      .Add("selector", k.selector)
      .Add("algorithm", k.algorithm)
      .Add("active", k.active)
      .Add("created_at", k.created_at)
      .Add("public_key", k.public_key)
      .str();
}

int Dkim(Cli& cli) {
  static const char* kUsage =
      "Usage: kitectl dkim generate DOMAIN [--selector S] [--algorithm rsa2048|ed25519]\n"
      "       kitectl dkim list [DOMAIN]\n"
      "       kitectl dkim disable|enable DOMAIN SELECTOR\n"
      "       kitectl dkim export-private DOMAIN SELECTOR\n"
      "  generate: a new signing key, active at once (default algorithm rsa2048; default selector\n"
      "            kiteYYYYMMr for RSA, kiteYYYYMMe for Ed25519). Publish its record (kitectl dns\n"
      "            DOMAIN) before mail signed with it leaves.\n"
      "  disable:  stop signing with a key (keep its record published a few days for mail in transit).\n"
      "  export-private: print the private key (PKCS#8 PEM), to move it to another system.\n";
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  std::string verb = a[0];
  a.erase(a.begin());
  if (verb == "generate") {
    bool has_selector = false;
    std::string selector = absl::AsciiStrToLower(TakeOption(a, "--selector", &has_selector));
    bool has_algorithm = false;
    std::string algorithm = TakeOption(a, "--algorithm", &has_algorithm);
    if (!has_algorithm) algorithm = "rsa2048";
    if (a.size() != 1) return Usage(kUsage, false);
    if (algorithm != "rsa2048" && algorithm != "ed25519") {
      return Fail("--algorithm must be rsa2048 or ed25519, not '" + algorithm + "'", 2);
    }
    if (!has_selector) selector = DefaultSelector(algorithm);
    if (!ValidSelector(selector)) {
      return Fail("invalid selector '" + selector + "': use DNS labels of letters, digits and inner hyphens", 2);
    }
    std::string domain = absl::AsciiStrToLower(a[0]);
    auto pool = OpenPool(cli.config);
    if (!pool) return 1;
    auto domain_id = DomainId(*pool, domain);
    if (!domain_id.ok()) return Fail(domain_id.status());
    auto key = GenerateKeyPair(algorithm);
    if (!key.ok()) return Fail(key.status());
    absl::Status s = pool->Transact([&](pqxx::work& tx) {
      tx.exec_params0(
          "INSERT INTO dkim_keys (domain_id, selector, algorithm, private_key_pem, public_key)"
          " VALUES ($1, $2, $3, $4, $5)",
          *domain_id, selector, algorithm, key->private_key_pem, key->public_key);
    });
    if (absl::IsAlreadyExists(s)) {
      return Fail("selector " + selector + " already exists for " + domain + " (give another with --selector)");
    }
    if (!s.ok()) return Fail(s);
    if (cli.json) {
      std::printf("%s\n", JsonObject()
                              .Add("domain", domain)
                              .Add("selector", selector)
                              .Add("algorithm", algorithm)
                              .Add("public_key", key->public_key)
                              .str()
                              .c_str());
    } else {
      std::printf("DKIM key %s (%s) generated for %s and active; publish its record:\n  kitectl dns %s\n",
                  selector.c_str(), algorithm.c_str(), domain.c_str(), domain.c_str());
    }
    return 0;
  }
  if (verb == "list" && a.size() <= 1) {
    std::string domain = a.empty() ? "" : absl::AsciiStrToLower(a[0]);
    auto pool = OpenPool(cli.config);
    if (!pool) return 1;
    if (!domain.empty()) {
      if (auto id = DomainId(*pool, domain); !id.ok()) return Fail(id.status());
    }
    auto keys = ListKeys(*pool, domain, false);
    if (!keys.ok()) return Fail(keys.status());
    std::vector<std::string> items;
    for (const auto& k : *keys) {
      if (cli.json) {
        items.push_back(KeyJson(k));
      } else {
        std::printf("%-30s %-20s %-8s %-8s %s\n", k.domain.c_str(), k.selector.c_str(), k.algorithm.c_str(),
                    k.active ? "active" : "disabled", k.created_at.c_str());
      }
    }
    if (cli.json) std::printf("%s\n", JsonArray(items).c_str());
    return 0;
  }
  if ((verb == "disable" || verb == "enable" || verb == "export-private") && a.size() == 2) {
    std::string domain = absl::AsciiStrToLower(a[0]);
    std::string selector = absl::AsciiStrToLower(a[1]);
    auto pool = OpenPool(cli.config);
    if (!pool) return 1;
    auto domain_id = DomainId(*pool, domain);
    if (!domain_id.ok()) return Fail(domain_id.status());
    auto row = pool->Transact([&](pqxx::work& tx) -> absl::StatusOr<std::pair<std::string, std::string>> {
      pqxx::result r =
          verb == "export-private"
              ? tx.exec_params("SELECT algorithm, private_key_pem FROM dkim_keys WHERE domain_id = $1 AND selector = $2",
                               *domain_id, selector)
              : tx.exec_params(
                    "UPDATE dkim_keys SET active = $3 WHERE domain_id = $1 AND selector = $2"
                    " RETURNING algorithm, ''",
                    *domain_id, selector, verb == "enable");
      if (r.empty()) {
        return absl::NotFoundError(absl::StrCat("no DKIM key with selector ", selector, " for ", domain,
                                                " (see kitectl dkim list ", domain, ")"));
      }
      return std::make_pair(r[0][0].as<std::string>(), r[0][1].as<std::string>());
    });
    if (!row.ok()) return Fail(row.status());
    if (verb == "export-private") {
      if (cli.json) {
        std::printf("%s\n", JsonObject()
                                .Add("domain", domain)
                                .Add("selector", selector)
                                .Add("algorithm", row->first)
                                .Add("private_key_pem", row->second)
                                .str()
                                .c_str());
      } else {
        std::fputs(row->second.c_str(), stdout);
      }
    } else if (cli.json) {
      std::printf("%s\n",
                  JsonObject().Add("domain", domain).Add("selector", selector).Add("active", verb == "enable").str().c_str());
    } else {
      std::printf("DKIM key %s of %s %s\n", selector.c_str(), domain.c_str(), verb == "enable" ? "enabled" : "disabled");
    }
    return 0;
  }
  return Usage(kUsage, false);
}

// ---------------------------------------------------------------------------- DNS records

constexpr int kTtl = 3600;

struct Record {
  std::string comment;  // printed above the record (one line)
  std::string name;     // absolute, with the trailing dot
  std::string type;
  std::string data;     // presentation form; for TXT the whole text, unquoted and unsplit
};

std::string Fqdn(std::string_view name) {
  std::string out = absl::AsciiStrToLower(AV(name));
  if (out.empty() || out.back() != '.') out += '.';
  return out;
}

// A TXT value as master-file character-strings: split into pieces of at most 255 octets,
// each quoted with '"' and '\' escaped; several pieces go in parentheses on separate lines.
std::string TxtPresentation(std::string_view text, std::string_view indent) {
  std::vector<std::string> pieces;
  for (size_t i = 0; i < text.size() || pieces.empty(); i += 255) {
    std::string piece = "\"";
    for (char c : text.substr(i, 255)) {
      if (c == '"' || c == '\\') piece += '\\';
      piece += c;
    }
    pieces.push_back(piece + "\"");
    if (text.empty()) break;
  }
  if (pieces.size() == 1) return pieces[0];
  std::string out = "( " + pieces[0];
  for (size_t i = 1; i < pieces.size(); ++i) absl::StrAppend(&out, "\n", AV(indent), "  ", pieces[i]);
  return out + " )";
}

// The MTA-STS policy file (RFC 8461 3.2). Mode "testing" to start, like DMARC's p=none:
// senders report failures (TLS-RPT) but still deliver.
std::string MtaStsPolicy(const std::string& mx_host) {
  return absl::StrCat("version: STSv1\nmode: testing\nmx: ", mx_host, "\nmax_age: 604800\n");
}

// RFC 8461 3.1: id changes whenever the policy does; derived from its content so printing
// the records twice gives the same id.
std::string MtaStsId(const std::string& policy) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(policy.data(), policy.size(), digest, &size, EVP_sha256(), nullptr);
  return Hex(digest, 10);  // 20 hex digits: within id's 1*32(ALPHA / DIGIT)
}

std::vector<Record> DomainRecords(const std::string& domain, const std::string& mx_host,
                                  const std::vector<StoredKey>& keys, const std::string& policy) {
  const std::string zone = Fqdn(domain);
  const std::string mx = Fqdn(mx_host);
  std::vector<Record> r;
  r.push_back({"Mail for the domain goes to this server (global.hostname).", zone, "MX", "10 " + mx});
  r.push_back({"SPF (RFC 7208): only the domain's MX hosts send its mail.", zone, "TXT", "v=spf1 mx -all"});
  for (const auto& k : keys) {
    r.push_back({absl::StrCat("DKIM (RFC 6376", k.algorithm == "ed25519" ? ", RFC 8463" : "", "): key ", k.selector,
                              ", ", k.algorithm, "."),
                 absl::StrCat(k.selector, "._domainkey.", zone), "TXT",
                 absl::StrCat("v=DKIM1; k=", k.algorithm == "ed25519" ? "ed25519" : "rsa", "; p=", k.public_key)});
  }
  r.push_back({"DMARC (RFC 7489): p=none only collects reports; raise to quarantine, then reject, once they are clean.",
               "_dmarc." + zone, "TXT", absl::StrCat("v=DMARC1; p=none; rua=mailto:dmarc-reports@", domain)});
  r.push_back({"MTA-STS (RFC 8461): the id changes whenever the policy below does.", "_mta-sts." + zone, "TXT",
               absl::StrCat("v=STSv1; id=", MtaStsId(policy))});
  r.push_back({"MTA-STS policy host (HTTPS; its certificate must name mta-sts." + domain + ").", "mta-sts." + zone,
               "CNAME", mx});
  r.push_back({"SMTP TLS reporting (RFC 8460).", "_smtp._tls." + zone, "TXT",
               absl::StrCat("v=TLSRPTv1; rua=mailto:tls-reports@", domain)});
  r.push_back({"Client autoconfiguration (Thunderbird autoconfig, Outlook autodiscover).", "autoconfig." + zone,
               "CNAME", mx});
  r.push_back({"", "autodiscover." + zone, "CNAME", mx});
  // RFC 8314 5.1: implicit TLS is preferred, so it gets the better (lower) priority.
  r.push_back({"Client services (RFC 6186, RFC 8314): implicit TLS first.", "_submissions._tcp." + zone, "SRV",
               "0 1 465 " + mx});
  r.push_back({"", "_submission._tcp." + zone, "SRV", "10 1 587 " + mx});
  r.push_back({"", "_imaps._tcp." + zone, "SRV", "0 1 993 " + mx});
  r.push_back({"", "_imap._tcp." + zone, "SRV", "10 1 143 " + mx});
  r.push_back({"", "_pop3s._tcp." + zone, "SRV", "0 1 995 " + mx});
  r.push_back({"", "_pop3._tcp." + zone, "SRV", "10 1 110 " + mx});
  r.push_back({"CalDAV (RFC 6764).", "_caldavs._tcp." + zone, "SRV", "0 1 443 " + mx});
  r.push_back({"", "_caldavs._tcp." + zone, "TXT", "path=/.well-known/caldav"});
  return r;
}

int Dns(Cli& cli) {
  static const char* kUsage =
      "Usage: kitectl dns DOMAIN [--no-dkim]\n"
      "  Prints the records to publish for DOMAIN as a zone-file fragment (absolute names): MX, SPF,\n"
      "  DKIM (every active key), DMARC, MTA-STS (with the policy file to serve), TLS-RPT,\n"
      "  autoconfig/autodiscover and SRV. Needs an active DKIM key (kitectl dkim generate DOMAIN)\n"
      "  unless --no-dkim. --json gives the records as objects.\n";
  auto& a = cli.args;
  bool no_dkim = TakeFlag(a, "--no-dkim");
  if (cli.help || a.size() != 1) return Usage(kUsage, cli.help);
  std::string domain = absl::AsciiStrToLower(a[0]);
  if (!domain.empty() && domain.back() == '.') domain.pop_back();
  std::string mx_host = absl::AsciiStrToLower(cli.config.String("global", "hostname"));
  if (!mx_host.empty() && mx_host.back() == '.') mx_host.pop_back();
  if (mx_host.empty()) return Fail("global.hostname is empty: set it to this server's public host name", 2);
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  if (auto id = DomainId(*pool, domain); !id.ok()) return Fail(id.status());
  std::vector<StoredKey> keys;
  if (!no_dkim) {
    auto active = ListKeys(*pool, domain, true);
    if (!active.ok()) return Fail(active.status());
    if (active->empty()) {
      return Fail("no active DKIM key for " + domain + ": run kitectl dkim generate " + domain +
                  " first (or give --no-dkim)");
    }
    keys = std::move(*active);
  }
  const std::string policy = MtaStsPolicy(mx_host);
  std::vector<Record> records = DomainRecords(domain, mx_host, keys, policy);

  if (cli.json) {
    std::vector<std::string> items;
    for (const auto& r : records) {
      items.push_back(
          JsonObject().Add("name", r.name).Add("ttl", kTtl).Add("class", "IN").Add("type", r.type).Add("data", r.data).str());
    }
    std::printf("%s\n", JsonObject()
                            .Add("domain", domain)
                            .Add("mx_host", mx_host)
                            .AddRaw("records", JsonArray(items))
                            .Add("mta_sts_policy_url", absl::StrCat("https://mta-sts.", domain, "/.well-known/mta-sts.txt"))
                            .Add("mta_sts_policy", policy)
                            .str()
                            .c_str());
    return 0;
  }

  size_t width = 0;
  for (const auto& r : records) width = std::max(width, r.name.size());
  std::printf("; DNS records for %s, printed by kitectl dns. Names are absolute (they end in a dot).\n", domain.c_str());
  std::printf("; %s. (global.hostname) needs A/AAAA records with this server's public addresses.\n", mx_host.c_str());
  std::printf("; The reports go to dmarc-reports@%s and tls-reports@%s: create those addresses (or aliases).\n",
              domain.c_str(), domain.c_str());
  for (const auto& r : records) {
    if (!r.comment.empty()) std::printf("\n; %s\n", r.comment.c_str());
    std::string head = absl::StrFormat("%-*s %d IN %-5s ", static_cast<int>(width), r.name, kTtl, r.type);
    std::string data = r.type == "TXT" ? TxtPresentation(r.data, std::string(head.size(), ' ')) : r.data;
    std::printf("%s%s\n", head.c_str(), data.c_str());
    if (r.name == "_mta-sts." + Fqdn(domain)) {
      std::printf("; The policy to serve at https://mta-sts.%s/.well-known/mta-sts.txt (text/plain):\n", domain.c_str());
      for (absl::string_view line : absl::StrSplit(policy, '\n', absl::SkipEmpty())) {
        std::printf(";   %.*s\n", static_cast<int>(line.size()), line.data());
      }
    }
  }
  return 0;
}

}  // namespace

static const Registration kDkimCommand{"dkim", Dkim, "generate | list | disable | enable | export-private DKIM keys"};
static const Registration kDnsCommand{"dns", Dns, "the DNS records to publish for a domain (zone-file fragment)"};

}  // namespace kite::kitectl
