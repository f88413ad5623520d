#include "lib/directory/directory.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::directory {

absl::StatusOr<std::pair<std::string, std::string>> SplitAddress(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size() || address.size() > 320) {
    return absl::InvalidArgumentError(absl::StrCat("not an address: ", AV(address)));
  }
  return std::make_pair(absl::AsciiStrToLower(AV(address.substr(0, at))),
                        absl::AsciiStrToLower(AV(address.substr(at + 1))));
}

absl::StatusOr<int64_t> CreateDomain(store::Pool& pool, std::string_view name) {
  std::string lower = absl::AsciiStrToLower(AV(name));
  if (lower.empty() || lower.find('@') != std::string::npos || lower.size() > 255) {
    return absl::InvalidArgumentError(absl::StrCat("not a domain name: ", lower));
  }
  return pool.Transact([&](pqxx::work& tx) -> int64_t {
    return tx.exec_params("INSERT INTO domains(name) VALUES ($1) RETURNING id", lower)[0][0].as<int64_t>();
  });
}

absl::StatusOr<std::vector<Domain>> ListDomains(store::Pool& pool) {
  return pool.Transact([&](pqxx::work& tx) {
    std::vector<Domain> out;
    for (const auto& row : tx.exec("SELECT id, name FROM domains ORDER BY name")) {
      out.push_back({row[0].as<int64_t>(), row[1].as<std::string>()});
    }
    return out;
  });
}

absl::StatusOr<int64_t> CreateAccount(store::Pool& pool, std::string_view address,
                                      std::string_view display_name, std::string_view password_hash,
                                      int64_t quota_bytes) {
  auto parts = SplitAddress(address);
  if (!parts.ok()) return parts.status();
  auto [local, domain] = *parts;
  if (local.find('+') != std::string::npos) {
    return absl::InvalidArgumentError("an account address cannot contain '+' (it is the sub-address separator)");
  }
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    auto d = tx.exec_params("SELECT id FROM domains WHERE name = $1", domain);
    if (d.empty()) {
      return absl::NotFoundError(absl::StrCat("domain ", domain, " does not exist (kitectl domain add ", domain, ")"));
    }
    int64_t domain_id = d[0][0].as<int64_t>();
    int64_t id = tx.exec_params(
                       "INSERT INTO accounts(domain_id, local_part, address, display_name, password_hash, quota_bytes) "
                       "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                       domain_id, local, absl::StrCat(local, "@", domain), std::string(display_name),
                       std::string(password_hash), quota_bytes)[0][0]
                     .as<int64_t>();
    for (const auto& mb : kDefaultMailboxes) {
      tx.exec_params(
          "INSERT INTO mailboxes(account_id, name, uidvalidity, special_use) "
          "VALUES ($1, $2, extract(epoch from clock_timestamp())::bigint, NULLIF($3, ''))",
          id, mb.name, mb.special_use);
    }
    tx.exec_params("INSERT INTO quota_usage(account_id) VALUES ($1) ON CONFLICT DO NOTHING", id);
    return id;
  });
}

namespace {
Account RowToAccount(const pqxx::row& row) {
  return Account{row[0].as<int64_t>(),     row[1].as<int64_t>(), row[2].as<std::string>(),
                 row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<int64_t>(),
                 row[6].as<bool>()};
}
constexpr const char* kAccountColumns =
    "id, domain_id, address, display_name, password_hash, quota_bytes, enabled";
}  // namespace

absl::StatusOr<std::optional<Account>> FindAccount(store::Pool& pool, std::string_view address) {
  std::string lower = absl::AsciiStrToLower(AV(address));
  return pool.Transact([&](pqxx::work& tx) -> std::optional<Account> {
    auto r = tx.exec_params(absl::StrCat("SELECT ", kAccountColumns, " FROM accounts WHERE address = $1"), lower);
    if (r.empty()) return std::nullopt;
    return RowToAccount(r[0]);
  });
}

absl::StatusOr<std::vector<Account>> ListAccounts(store::Pool& pool, std::string_view domain) {
  std::string lower = absl::AsciiStrToLower(AV(domain));
  return pool.Transact([&](pqxx::work& tx) {
    std::vector<Account> out;
    auto r = tx.exec_params(absl::StrCat("SELECT ", kAccountColumns,
                                         " FROM accounts WHERE $1 = '' OR address LIKE '%@' || $1 ORDER BY address"),
                            lower);
    for (const auto& row : r) out.push_back(RowToAccount(row));
    return out;
  });
}

absl::Status SetPasswordHash(store::Pool& pool, int64_t account_id, std::string_view hash) {
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_params("UPDATE accounts SET password_hash = $2 WHERE id = $1", account_id, std::string(hash));
    if (r.affected_rows() == 0) return absl::NotFoundError("no such account");
    return absl::OkStatus();
  });
}

absl::StatusOr<Resolution> Resolve(store::Pool& pool, std::string_view address) {
  auto parts = SplitAddress(address);
  if (!parts.ok()) return parts.status();
  auto [local, domain] = *parts;
  Resolution res;
  size_t plus = local.find('+');
  if (plus != std::string::npos && plus > 0) {
    res.detail = local.substr(plus + 1);
    local = local.substr(0, plus);
  }
  res.canonical = absl::StrCat(local, "@", domain);
  return pool.Transact([&](pqxx::work& tx) -> Resolution {
    auto d = tx.exec_params("SELECT id FROM domains WHERE name = $1", domain);
    if (d.empty()) {
      res.kind = RecipientKind::kRemote;
      return res;
    }
    auto a = tx.exec_params("SELECT id, enabled FROM accounts WHERE address = $1", res.canonical);
    if (a.empty()) {
      res.kind = RecipientKind::kUnknownLocal;
    } else {
      res.account_id = a[0][0].as<int64_t>();
      res.kind = a[0][1].as<bool>() ? RecipientKind::kAccount : RecipientKind::kDisabled;
    }
    return res;
  });
}

}  // namespace kite::directory
