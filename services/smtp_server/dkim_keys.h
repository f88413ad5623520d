// DKIM signing keys for kite-submission, read from PostgreSQL (table dkim_keys, migration
// 0006, written by `kitectl dkim generate`) with a small in-process cache.
//
// For a domain: the newest active key per algorithm of the hosted domain of that name
// (an RSA and an Ed25519 key sign side by side, RFC 8463 3). A domain that is not hosted,
// or has no active key, gets an empty list. Lookups are blocking (run them through
// Runtime::Blocking); results, empty ones included, are kept for `ttl`.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/store/pool.h"

namespace kite::smtp_server {

struct DkimKey {
  std::string domain;     // d=, lowercase as stored in domains.name
  std::string selector;   // s=
  std::string algorithm;  // "rsa2048" or "ed25519"
  std::string private_key_pem;
};

class DkimKeys {
 public:
  DkimKeys(store::Pool& pool, std::chrono::milliseconds ttl) : pool_(pool), ttl_(ttl) {}
  // `domain` is compared case-insensitively. Errors are the database's (not cached).
  absl::StatusOr<std::vector<DkimKey>> ForDomain(const std::string& domain);

 private:
  struct Entry {
    std::chrono::steady_clock::time_point expires;
    std::vector<DkimKey> keys;
  };
  store::Pool& pool_;
  std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::map<std::string, Entry> cache_;
};

}  // namespace kite::smtp_server
