#include "smtp_server/dkim_keys.h"

#include "absl/strings/ascii.h"

namespace kite::smtp_server {

absl::StatusOr<std::vector<DkimKey>> DkimKeys::ForDomain(const std::string& domain_in) {
  const std::string domain = absl::AsciiStrToLower(domain_in);
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(domain);
    if (it != cache_.end() && it->second.expires > now) return it->second.keys;
  }
  auto keys = pool_.Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<DkimKey>> {
    std::vector<DkimKey> out;
    // Newest active key per algorithm (ties on created_at: the greater selector).
    auto rows = tx.exec_params(
        "SELECT DISTINCT ON (k.algorithm) d.name, k.selector, k.algorithm, k.private_key_pem"
        "  FROM dkim_keys k JOIN domains d ON d.id = k.domain_id"
        " WHERE d.name = $1 AND k.active"
        " ORDER BY k.algorithm, k.created_at DESC, k.selector DESC",
        domain);
    for (const auto& row : rows) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<std::string>()});
    }
    return out;
  });
  if (!keys.ok()) return keys.status();
  std::lock_guard lock(mu_);
  // Bounded: domains are the hosted ones plus whatever From domains users may send as;
  // drop everything if it ever grows large.
  if (cache_.size() > 10000) cache_.clear();
  cache_[domain] = Entry{now + ttl_, *keys};
  return keys;
}

}  // namespace kite::smtp_server
