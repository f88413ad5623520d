#include "lib/directory/directory.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/base/strings.h"
#include "lib/mailstore/filer.h"

namespace kite::directory {

// ---- Address syntax ---------------------------------------------------------------------

absl::StatusOr<std::pair<std::string, std::string>> SplitAddress(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size() || address.size() > 320) {
    return absl::InvalidArgumentError(absl::StrCat("not an address: ", AV(address.substr(0, 320))));
  }
  return std::make_pair(absl::AsciiStrToLower(AV(address.substr(0, at))),
                        absl::AsciiStrToLower(AV(address.substr(at + 1))));
}

absl::StatusOr<std::string> NormalizeDomain(std::string_view name) {
  std::string lower = absl::AsciiStrToLower(AV(name));
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a domain name: \"", AV(name.substr(0, 255)), "\" (", AV(why), ")"));
  };
  if (lower.empty() || lower.size() > 253) return bad("length");
  for (absl::string_view label_av : absl::StrSplit(lower, '.')) {
    std::string_view label = SV(label_av);
    if (label.empty() || label.size() > 63) return bad("empty or over-long label");
    if (label.front() == '-' || label.back() == '-') return bad("label starts or ends with '-'");
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-')
        return bad("letters, digits, '-' and '.' only");
    }
  }
  return lower;
}

absl::StatusOr<std::string> NormalizeAddress(std::string_view address, bool allow_plus) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an address: \"", AV(address.substr(0, 320)), "\" (want local@domain)"));
  }
  std::string local = absl::AsciiStrToLower(AV(address.substr(0, at)));
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an address: \"", AV(address.substr(0, 320)), "\" (", AV(why), ")"));
  };
  if (local.size() > 64) return bad("local part longer than 64 characters");
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string::npos) {
    return bad("misplaced '.' in the local part");
  }
  for (char c : local) {
    if (c == '+' && !allow_plus)
      return bad("'+' is the sub-address separator and cannot be part of an address here");
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '+') continue;
    if (c != '\0' && std::strchr("!#$%&'*/=?^_`{|}~-", c) != nullptr) continue;
    return bad("invalid character in the local part");
  }
  auto domain = NormalizeDomain(address.substr(at + 1));
  if (!domain.ok()) return bad(SV(domain.status().message()));
  return absl::StrCat(local, "@", *domain);
}

namespace {

std::string DomainOf(std::string_view address) {
  size_t at = address.rfind('@');
  return std::string(at == std::string_view::npos ? std::string_view() : address.substr(at + 1));
}

// user+tag@domain -> user@domain (a leading '+' is part of the name).
std::string StripDetail(std::string_view address, std::string* detail = nullptr) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return std::string(address);
  size_t plus = address.substr(0, at).find('+');
  if (plus == std::string_view::npos || plus == 0) return std::string(address);
  if (detail) *detail = std::string(address.substr(plus + 1, at - plus - 1));
  return absl::StrCat(AV(address.substr(0, plus)), AV(address.substr(at)));
}

std::optional<int64_t> DomainIdTx(pqxx::work& tx, const std::string& domain) {
  auto r = tx.exec_params("SELECT id FROM domains WHERE name = $1", domain);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<int64_t>();
}

absl::Status UnknownDomain(const std::string& domain) {
  return absl::NotFoundError(
      absl::StrCat("domain ", domain, " does not exist (kitectl domain add ", domain, ")"));
}

struct Claim {
  std::string kind;  // account | alias | list
  int64_t owner_id = 0;
};
std::optional<Claim> ClaimTx(pqxx::work& tx, const std::string& address) {
  auto r = tx.exec_params("SELECT kind, owner_id FROM address_claims WHERE address = $1", address);
  if (r.empty()) return std::nullopt;
  return Claim{r[0][0].as<std::string>(), r[0][1].as<int64_t>()};
}

absl::Status Taken(const std::string& address, const Claim& claim) {
  const char* what = claim.kind == "account" ? "an account"
                     : claim.kind == "alias" ? "an alias"
                                             : "a list";
  return absl::AlreadyExistsError(
      absl::StrCat("address ", address, " is already in use (", what, ")"));
}

// A new address Kite will host: well-formed, in a hosted domain, free.
absl::StatusOr<std::pair<std::string, int64_t>> NewAddressTx(pqxx::work& tx,
                                                             const std::string& address) {
  auto domain_id = DomainIdTx(tx, DomainOf(address));
  if (!domain_id) return UnknownDomain(DomainOf(address));
  if (auto c = ClaimTx(tx, address)) return Taken(address, *c);
  return std::make_pair(address, *domain_id);
}

// A target (alias, list member, catch-all): a local address that exists, or an external one.
struct Target {
  std::string address;
  int64_t account_id = 0;  // a local account, reached without a sub-address tag
  bool local = false;
};
absl::StatusOr<Target> TargetTx(pqxx::work& tx, const std::string& address) {
  Target t{address, 0, false};
  if (!DomainIdTx(tx, DomainOf(address))) return t;  // external
  t.local = true;
  std::string base = StripDetail(address);
  auto c = ClaimTx(tx, base);
  if (!c) {
    return absl::NotFoundError(
        absl::StrCat("no such address: ", base, " (its domain is hosted here; create it first)"));
  }
  if (c->kind == "account" && base == address) t.account_id = c->owner_id;
  return t;
}

// A removed address stops being a target anywhere (aliases pointing at it by address, list
// memberships, catch-alls), so nothing forwards into a hole.
void ForgetAddressTx(pqxx::work& tx, const std::string& address) {
  tx.exec_params("DELETE FROM aliases WHERE target_address = $1", address);
  tx.exec_params("DELETE FROM list_members WHERE address = $1", address);
  tx.exec_params("UPDATE domains SET catch_all = NULL WHERE catch_all = $1", address);
}

// Turns a unique violation the pre-checks did not see (a concurrent insert) into a message.
absl::Status Clash(absl::Status s, const std::string& address) {
  if (s.code() == absl::StatusCode::kAlreadyExists &&
      s.message().find("in use") == absl::string_view::npos &&
      s.message().find("already") == absl::string_view::npos) {
    return absl::AlreadyExistsError(absl::StrCat("address ", address, " is already in use"));
  }
  return s;
}
template <typename T>
absl::StatusOr<T> Clash(absl::StatusOr<T> s, const std::string& address) {
  if (s.ok()) return s;
  return Clash(s.status(), address);
}

int64_t InsertAccountTx(pqxx::work& tx, int64_t domain_id, const std::string& address,
                        std::string_view display_name, std::string_view password_hash,
                        int64_t quota_bytes) {
  std::string local = address.substr(0, address.rfind('@'));
  int64_t id = tx.exec_params(
                     "INSERT INTO accounts(domain_id, local_part, address, display_name, "
                     "password_hash, quota_bytes) "
                     "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                     domain_id, local, address, std::string(display_name),
                     std::string(password_hash), quota_bytes)[0][0]
                   .as<int64_t>();
  mailstore::Filer filer(tx);
  for (const auto& mb : kDefaultMailboxes) filer.EnsureMailbox(id, std::string(mb.name), std::string(mb.special_use));
  filer.LockQuota(id);  // the usage row
  return id;
}

Account RowToAccount(const pqxx::row& row) {
  return Account{row[0].as<int64_t>(),     row[1].as<int64_t>(),     row[2].as<std::string>(),
                 row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<int64_t>(),
                 row[6].as<bool>()};
}
constexpr const char* kAccountColumns =
    "id, domain_id, address, display_name, password_hash, quota_bytes, enabled";

absl::StatusOr<Account> AccountTx(pqxx::work& tx, const std::string& address) {
  auto r = tx.exec_params(
      absl::StrCat("SELECT ", kAccountColumns, " FROM accounts WHERE address = $1"), address);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("no such account: ", address));
  return RowToAccount(r[0]);
}

AccountKind KindTx(pqxx::work& tx, int64_t id) {
  auto r = tx.exec_params(
      "SELECT EXISTS (SELECT 1 FROM shared_mailboxes WHERE account_id = $1), "
      "EXISTS (SELECT 1 FROM resources WHERE account_id = $1)",
      id);
  if (r[0][0].as<bool>()) return AccountKind::kShared;
  if (r[0][1].as<bool>()) return AccountKind::kResource;
  return AccountKind::kUser;
}

// A password hash that never verifies: shared mailboxes and resources do not log in.
constexpr const char* kNoLogin = "!";

}  // namespace

// ---- Domains ----------------------------------------------------------------------------

absl::StatusOr<int64_t> CreateDomain(store::Pool& pool, std::string_view name) {
  auto lower = NormalizeDomain(name);
  if (!lower.ok()) return lower.status();
  auto id = pool.Transact([&](pqxx::work& tx) -> int64_t {
    return tx.exec_params("INSERT INTO domains(name) VALUES ($1) RETURNING id", *lower)[0][0]
        .as<int64_t>();
  });
  if (!id.ok() && id.status().code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(absl::StrCat("domain ", *lower, " already exists"));
  }
  return id;
}

absl::StatusOr<std::vector<Domain>> ListDomains(store::Pool& pool) {
  return pool.Transact([&](pqxx::work& tx) {
    std::vector<Domain> out;
    for (const auto& row : tx.exec("SELECT d.id, d.name, COALESCE(d.catch_all, ''), "
                                   "(SELECT count(*) FROM accounts a WHERE a.domain_id = d.id) "
                                   "FROM domains d ORDER BY d.name")) {
      out.push_back({row[0].as<int64_t>(), row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<int64_t>()});
    }
    return out;
  });
}

absl::Status RemoveDomain(store::Pool& pool, std::string_view name) {
  std::string lower = absl::AsciiStrToLower(AV(name));
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto d = tx.exec_params("SELECT id FROM domains WHERE name = $1 FOR UPDATE", lower);
    if (d.empty()) return absl::NotFoundError(absl::StrCat("domain ", lower, " does not exist"));
    int64_t id = d[0][0].as<int64_t>();
    int64_t n = tx.exec_params("SELECT count(*) FROM accounts WHERE domain_id = $1", id)[0][0]
                    .as<int64_t>();
    if (n > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "domain ", lower, " still has ", n, n == 1 ? " account" : " accounts",
          " (users, shared mailboxes or resources): remove them first (kitectl user list ", lower,
          ")"));
    }
    // Aliases and lists of the domain go with it (ON DELETE CASCADE); their addresses stop
    // being targets elsewhere.
    for (const auto& row : tx.exec_params("SELECT address FROM aliases WHERE domain_id = $1 UNION "
                                          "ALL SELECT address FROM lists WHERE domain_id = $1",
                                          id)) {
      ForgetAddressTx(tx, row[0].as<std::string>());
    }
    tx.exec_params("DELETE FROM domains WHERE id = $1", id);
    return absl::OkStatus();
  });
}

absl::Status SetCatchAll(store::Pool& pool, std::string_view domain, std::string_view target) {
  std::string lower = absl::AsciiStrToLower(AV(domain));
  std::string normalized;
  if (!target.empty()) {
    auto t = NormalizeAddress(target, /*allow_plus=*/true);
    if (!t.ok()) return t.status();
    normalized = *t;
  }
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    if (!DomainIdTx(tx, lower)) return UnknownDomain(lower);
    if (!normalized.empty()) {
      if (DomainOf(normalized) == lower && !ClaimTx(tx, StripDetail(normalized))) {
        return absl::NotFoundError(
            absl::StrCat("no such address: ", normalized, " (a catch-all must reach something)"));
      }
      auto t = TargetTx(tx, normalized);
      if (!t.ok()) return t.status();
    }
    tx.exec_params("UPDATE domains SET catch_all = NULLIF($2, '') WHERE name = $1", lower,
                   normalized);
    return absl::OkStatus();
  });
}

// ---- Accounts ---------------------------------------------------------------------------

absl::StatusOr<int64_t> CreateAccount(store::Pool& pool, std::string_view address,
                                      std::string_view display_name, std::string_view password_hash,
                                      int64_t quota_bytes) {
  auto normalized = NormalizeAddress(address);
  if (!normalized.ok()) return normalized.status();
  if (quota_bytes < 0) return absl::InvalidArgumentError("the quota cannot be negative");
  return Clash(pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    auto fresh = NewAddressTx(tx, *normalized);
    if (!fresh.ok()) return fresh.status();
    return InsertAccountTx(tx, fresh->second, *normalized, display_name, password_hash,
                           quota_bytes);
  }),
               *normalized);
}

absl::StatusOr<std::optional<Account>> FindAccount(store::Pool& pool, std::string_view address) {
  std::string lower = absl::AsciiStrToLower(AV(address));
  return pool.Transact([&](pqxx::work& tx) -> std::optional<Account> {
    auto r = tx.exec_params(
        absl::StrCat("SELECT ", kAccountColumns, " FROM accounts WHERE address = $1"), lower);
    if (r.empty()) return std::nullopt;
    return RowToAccount(r[0]);
  });
}

absl::StatusOr<std::vector<Account>> ListAccounts(store::Pool& pool, std::string_view domain) {
  std::string lower = absl::AsciiStrToLower(AV(domain));
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<Account>> {
    std::vector<Account> out;
    if (!lower.empty() && !DomainIdTx(tx, lower)) return UnknownDomain(lower);
    auto r = tx.exec_params(
        absl::StrCat("SELECT ", kAccountColumns,
                     " FROM accounts WHERE $1 = '' OR domain_id = (SELECT id FROM domains "
                     "WHERE name = $1) ORDER BY address"),
        lower);
    for (const auto& row : r) out.push_back(RowToAccount(row));
    return out;
  });
}

absl::Status SetPasswordHash(store::Pool& pool, int64_t account_id, std::string_view hash) {
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_params("UPDATE accounts SET password_hash = $2 WHERE id = $1", account_id,
                            std::string(hash));
    if (r.affected_rows() == 0) return absl::NotFoundError("no such account");
    return absl::OkStatus();
  });
}

const char* AccountKindName(AccountKind kind) {
  switch (kind) {
    case AccountKind::kShared:
      return "shared";
    case AccountKind::kResource:
      return "resource";
    case AccountKind::kUser:
      break;
  }
  return "user";
}

namespace {
Rights RowRights(const pqxx::row& row, int first) {
  return Rights{row[first].as<bool>(), row[first + 1].as<bool>(), row[first + 2].as<bool>(),
                row[first + 3].as<bool>()};
}
}  // namespace

absl::StatusOr<AccountDetails> ShowAccount(store::Pool& pool, std::string_view address) {
  std::string lower = absl::AsciiStrToLower(AV(address));
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<AccountDetails> {
    auto acct = AccountTx(tx, lower);
    if (!acct.ok()) return acct.status();
    AccountDetails d;
    d.account = *acct;
    d.kind = KindTx(tx, acct->id);
    auto q =
        tx.exec_params("SELECT bytes, messages FROM quota_usage WHERE account_id = $1", acct->id);
    if (!q.empty()) {
      d.used_bytes = q[0][0].as<int64_t>();
      d.used_messages = q[0][1].as<int64_t>();
    }
    for (const auto& row :
         tx.exec_params("SELECT address FROM aliases WHERE target_account_id = $1 ORDER BY address",
                        acct->id)) {
      d.aliases.push_back(row[0].as<std::string>());
    }
    for (const auto& row :
         tx.exec_params("SELECT l.address FROM list_members m JOIN lists l ON l.id = m.list_id "
                        "WHERE m.account_id = $1 OR m.address = $2 ORDER BY 1",
                        acct->id, lower)) {
      d.lists.push_back(row[0].as<std::string>());
    }
    for (const auto& row :
         tx.exec_params("SELECT a.address, g.may_read, g.may_write, g.may_send_as, "
                        "g.may_send_on_behalf FROM account_grants g "
                        "JOIN accounts a ON a.id = g.grantee_account_id WHERE g.owner_account_id = "
                        "$1 ORDER BY 1",
                        acct->id)) {
      d.granted_to_others.push_back({row[0].as<std::string>(), RowRights(row, 1)});
    }
    for (const auto& row :
         tx.exec_params("SELECT a.address, g.may_read, g.may_write, g.may_send_as, "
                        "g.may_send_on_behalf FROM account_grants g "
                        "JOIN accounts a ON a.id = g.owner_account_id WHERE g.grantee_account_id = "
                        "$1 ORDER BY 1",
                        acct->id)) {
      d.granted_by_others.push_back({row[0].as<std::string>(), RowRights(row, 1)});
    }
    return d;
  });
}

absl::Status SetAccountEnabled(store::Pool& pool, std::string_view address, bool enabled) {
  std::string lower = absl::AsciiStrToLower(AV(address));
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_params("UPDATE accounts SET enabled = $2 WHERE address = $1", lower, enabled);
    if (r.affected_rows() == 0)
      return absl::NotFoundError(absl::StrCat("no such account: ", lower));
    return absl::OkStatus();
  });
}

absl::Status RemoveAccount(store::Pool& pool, std::string_view address) {
  std::string lower = absl::AsciiStrToLower(AV(address));
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto acct = AccountTx(tx, lower);
    if (!acct.ok()) return acct.status();
    auto delegated = tx.exec_params(
        "SELECT a.address FROM resources r JOIN accounts a ON a.id = r.account_id "
        "WHERE r.delegate_account_id = $1 AND r.booking_mode = 'moderated' ORDER BY 1",
        acct->id);
    if (!delegated.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          lower, " is the delegate of moderated resource ", delegated[0][0].as<std::string>(),
          ": give the resource another delegate (or remove it) first"));
    }
    ForgetAddressTx(tx, lower);
    // Mailboxes, entries, calendars, grants, aliases targeting it, memberships: cascades.
    tx.exec_params("DELETE FROM accounts WHERE id = $1", acct->id);
    return absl::OkStatus();
  });
}

absl::StatusOr<Quota> GetQuota(store::Pool& pool, std::string_view address) {
  std::string lower = absl::AsciiStrToLower(AV(address));
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<Quota> {
    auto r = tx.exec_params(
        "SELECT a.address, a.quota_bytes, COALESCE(u.bytes, 0), COALESCE(u.messages, 0) FROM "
        "accounts a "
        "LEFT JOIN quota_usage u ON u.account_id = a.id WHERE a.address = $1",
        lower);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no such account: ", lower));
    return Quota{r[0][0].as<std::string>(), r[0][1].as<int64_t>(), r[0][2].as<int64_t>(),
                 r[0][3].as<int64_t>()};
  });
}

absl::Status SetQuota(store::Pool& pool, std::string_view address, int64_t limit_bytes) {
  if (limit_bytes < 0) return absl::InvalidArgumentError("the quota cannot be negative");
  std::string lower = absl::AsciiStrToLower(AV(address));
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_params("UPDATE accounts SET quota_bytes = $2 WHERE address = $1", lower,
                            limit_bytes);
    if (r.affected_rows() == 0)
      return absl::NotFoundError(absl::StrCat("no such account: ", lower));
    return absl::OkStatus();
  });
}

// ---- Aliases ----------------------------------------------------------------------------

absl::Status AddAlias(store::Pool& pool, std::string_view source, std::string_view target) {
  if (!source.empty() && source.front() == '@') {
    auto domain = NormalizeDomain(source.substr(1));
    if (!domain.ok()) return domain.status();
    if (target.empty()) return absl::InvalidArgumentError("a catch-all needs a target address");
    return SetCatchAll(pool, *domain, target);
  }
  auto src = NormalizeAddress(source);
  if (!src.ok()) return src.status();
  auto dst = NormalizeAddress(target, /*allow_plus=*/true);
  if (!dst.ok()) return dst.status();
  if (StripDetail(*dst) == *src)
    return absl::InvalidArgumentError(absl::StrCat("alias ", *src, " cannot point at itself"));
  return Clash(pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto domain_id = DomainIdTx(tx, DomainOf(*src));
    if (!domain_id) return UnknownDomain(DomainOf(*src));
    if (auto c = ClaimTx(tx, *src)) {
      if (c->kind == "alias") {
        auto cur = tx.exec_params(
            "SELECT COALESCE(a.address, al.target_address) FROM aliases al "
            "LEFT JOIN accounts a ON a.id = al.target_account_id WHERE al.id = $1",
            c->owner_id);
        std::string existing = cur.empty() ? "" : cur[0][0].as<std::string>();
        if (existing == *dst)
          return absl::AlreadyExistsError(
              absl::StrCat("alias ", *src, " -> ", *dst, " already exists"));
        return absl::AlreadyExistsError(
            absl::StrCat("alias ", *src, " already points at ", existing,
                         " (one target per alias: use a list for several)"));
      }
      return Taken(*src, *c);
    }
    auto t = TargetTx(tx, *dst);
    if (!t.ok()) return t.status();
    tx.exec_params(
        "INSERT INTO aliases(domain_id, address, target_account_id, target_address) "
        "VALUES ($1, $2, NULLIF($3, 0), NULLIF($4, ''))",
        *domain_id, *src, t->account_id, t->account_id != 0 ? std::string() : t->address);
    return absl::OkStatus();
  }),
               *src);
}

absl::Status RemoveAlias(store::Pool& pool, std::string_view source, std::string_view target) {
  std::string want = absl::AsciiStrToLower(AV(target));
  if (!source.empty() && source.front() == '@') {
    std::string domain = absl::AsciiStrToLower(AV(source.substr(1)));
    return pool.Transact([&](pqxx::work& tx) -> absl::Status {
      auto r =
          tx.exec_params("SELECT COALESCE(catch_all, '') FROM domains WHERE name = $1", domain);
      if (r.empty()) return UnknownDomain(domain);
      std::string cur = r[0][0].as<std::string>();
      if (cur.empty() || (!want.empty() && cur != want)) {
        return absl::NotFoundError(
            absl::StrCat("no catch-all @", domain, want.empty() ? "" : " -> ", want));
      }
      tx.exec_params("UPDATE domains SET catch_all = NULL WHERE name = $1", domain);
      return absl::OkStatus();
    });
  }
  std::string src = absl::AsciiStrToLower(AV(source));
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_params(
        "DELETE FROM aliases al USING (SELECT al2.id, COALESCE(a.address, al2.target_address) AS "
        "target "
        "FROM aliases al2 LEFT JOIN accounts a ON a.id = al2.target_account_id WHERE al2.address = "
        "$1) t "
        "WHERE al.id = t.id AND ($2 = '' OR t.target = $2)",
        src, want);
    if (r.affected_rows() == 0) {
      return absl::NotFoundError(absl::StrCat("no alias ", src, want.empty() ? "" : " -> ", want));
    }
    ForgetAddressTx(tx, src);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<Alias>> ListAliases(store::Pool& pool, std::string_view domain) {
  std::string lower = absl::AsciiStrToLower(AV(domain));
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<Alias>> {
    if (!lower.empty() && !DomainIdTx(tx, lower)) return UnknownDomain(lower);
    std::vector<Alias> out;
    for (const auto& row : tx.exec_params(
             "SELECT '@' || name, catch_all, EXISTS (SELECT 1 FROM accounts a WHERE a.address = "
             "catch_all) FROM domains "
             "WHERE catch_all IS NOT NULL AND ($1 = '' OR name = $1) "
             "UNION ALL "
             "SELECT al.address, COALESCE(a.address, al.target_address), al.target_account_id IS "
             "NOT NULL "
             "FROM aliases al LEFT JOIN accounts a ON a.id = al.target_account_id "
             "WHERE $1 = '' OR al.domain_id = (SELECT id FROM domains WHERE name = $1) ORDER BY 1",
             lower)) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<bool>()});
    }
    return out;
  });
}

// ---- Distribution lists -----------------------------------------------------------------

const char* PostingPolicyName(PostingPolicy policy) {
  switch (policy) {
    case PostingPolicy::kDomain:
      return "domain";
    case PostingPolicy::kMembers:
      return "members";
    case PostingPolicy::kModerators:
      return "moderators";
    case PostingPolicy::kSenders:
      return "senders";
    case PostingPolicy::kAnyone:
      break;
  }
  return "anyone";
}

absl::StatusOr<PostingPolicy> ParsePostingPolicy(std::string_view name) {
  for (auto p : {PostingPolicy::kAnyone, PostingPolicy::kDomain, PostingPolicy::kMembers,
                 PostingPolicy::kModerators, PostingPolicy::kSenders}) {
    if (name == PostingPolicyName(p)) return p;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown posting policy \"", AV(name), "\" (anyone, members, senders, domain, moderators)"));
}

namespace {
struct ListRow {
  int64_t id = 0;
  std::string address;
  PostingPolicy policy = PostingPolicy::kAnyone;
};
absl::StatusOr<ListRow> ListTx(pqxx::work& tx, const std::string& address) {
  auto r = tx.exec_params("SELECT id, posting_policy FROM lists WHERE address = $1", address);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("no such list: ", address));
  auto p = ParsePostingPolicy(r[0][1].as<std::string>());
  return ListRow{r[0][0].as<int64_t>(), address, p.ok() ? *p : PostingPolicy::kAnyone};
}
}  // namespace

absl::StatusOr<int64_t> CreateList(store::Pool& pool, std::string_view address,
                                   PostingPolicy policy, std::string_view display_name) {
  auto normalized = NormalizeAddress(address);
  if (!normalized.ok()) return normalized.status();
  return Clash(pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    auto fresh = NewAddressTx(tx, *normalized);
    if (!fresh.ok()) return fresh.status();
    return tx
        .exec_params(
            "INSERT INTO lists(domain_id, address, display_name, posting_policy) VALUES ($1, $2, "
            "$3, $4) "
            "RETURNING id",
            fresh->second, *normalized, std::string(display_name),
            std::string(PostingPolicyName(policy)))[0][0]
        .as<int64_t>();
  }),
               *normalized);
}

absl::Status SetListPolicy(store::Pool& pool, std::string_view list, PostingPolicy policy) {
  std::string lower = absl::AsciiStrToLower(AV(list));
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_params("UPDATE lists SET posting_policy = $2 WHERE address = $1", lower,
                            std::string(PostingPolicyName(policy)));
    if (r.affected_rows() == 0) return absl::NotFoundError(absl::StrCat("no such list: ", lower));
    return absl::OkStatus();
  });
}

absl::Status RemoveList(store::Pool& pool, std::string_view list) {
  std::string lower = absl::AsciiStrToLower(AV(list));
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_params("DELETE FROM lists WHERE address = $1", lower);
    if (r.affected_rows() == 0) return absl::NotFoundError(absl::StrCat("no such list: ", lower));
    ForgetAddressTx(tx, lower);
    return absl::OkStatus();
  });
}

absl::Status AddListMember(store::Pool& pool, std::string_view list, std::string_view member,
                           bool moderator) {
  std::string lower = absl::AsciiStrToLower(AV(list));
  auto m = NormalizeAddress(member, /*allow_plus=*/true);
  if (!m.ok()) return m.status();
  if (*m == lower)
    return absl::InvalidArgumentError(
        absl::StrCat("list ", lower, " cannot be a member of itself"));
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto l = ListTx(tx, lower);
    if (!l.ok()) return l.status();
    auto t = TargetTx(tx, *m);
    if (!t.ok()) return t.status();
    auto r = tx.exec_params(
        "INSERT INTO list_members(list_id, address, account_id, moderator) VALUES ($1, $2, "
        "NULLIF($3, 0), $4) "
        "ON CONFLICT DO NOTHING",
        l->id, *m, t->account_id, moderator);
    if (r.affected_rows() == 0) {
      return absl::AlreadyExistsError(absl::StrCat(*m, " is already a member of ", lower));
    }
    return absl::OkStatus();
  });
}

absl::Status RemoveListMember(store::Pool& pool, std::string_view list, std::string_view member) {
  std::string lower = absl::AsciiStrToLower(AV(list));
  std::string m = absl::AsciiStrToLower(AV(member));
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto l = ListTx(tx, lower);
    if (!l.ok()) return l.status();
    auto r =
        tx.exec_params("DELETE FROM list_members WHERE list_id = $1 AND address = $2", l->id, m);
    if (r.affected_rows() == 0)
      return absl::NotFoundError(absl::StrCat(m, " is not a member of ", lower));
    return absl::OkStatus();
  });
}

absl::Status AddListSender(store::Pool& pool, std::string_view list, std::string_view sender) {
  std::string lower = absl::AsciiStrToLower(AV(list));
  auto s = NormalizeAddress(sender, /*allow_plus=*/true);
  if (!s.ok()) return s.status();
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto l = ListTx(tx, lower);
    if (!l.ok()) return l.status();
    auto t = TargetTx(tx, *s);  // a local sender must exist
    if (!t.ok()) return t.status();
    auto r = tx.exec_params(
        "INSERT INTO list_senders(list_id, address) VALUES ($1, $2) ON CONFLICT DO NOTHING", l->id,
        StripDetail(*s));
    if (r.affected_rows() == 0)
      return absl::AlreadyExistsError(absl::StrCat(*s, " is already a sender of ", lower));
    return absl::OkStatus();
  });
}

absl::Status RemoveListSender(store::Pool& pool, std::string_view list, std::string_view sender) {
  std::string lower = absl::AsciiStrToLower(AV(list));
  std::string s = StripDetail(absl::AsciiStrToLower(AV(sender)));
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto l = ListTx(tx, lower);
    if (!l.ok()) return l.status();
    auto r =
        tx.exec_params("DELETE FROM list_senders WHERE list_id = $1 AND address = $2", l->id, s);
    if (r.affected_rows() == 0)
      return absl::NotFoundError(absl::StrCat(s, " is not a sender of ", lower));
    return absl::OkStatus();
  });
}

absl::StatusOr<List> ShowList(store::Pool& pool, std::string_view list) {
  std::string lower = absl::AsciiStrToLower(AV(list));
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<List> {
    auto r = tx.exec_params(
        "SELECT id, address, display_name, posting_policy FROM lists WHERE address = $1", lower);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no such list: ", lower));
    List out;
    out.id = r[0][0].as<int64_t>();
    out.address = r[0][1].as<std::string>();
    out.display_name = r[0][2].as<std::string>();
    out.policy = ParsePostingPolicy(r[0][3].as<std::string>()).value_or(PostingPolicy::kAnyone);
    for (const auto& row : tx.exec_params("SELECT address, COALESCE(account_id, 0), moderator FROM "
                                          "list_members WHERE list_id = $1 ORDER BY address",
                                          out.id)) {
      out.members.push_back({row[0].as<std::string>(), row[1].as<int64_t>(), row[2].as<bool>()});
    }
    for (const auto& row : tx.exec_params(
             "SELECT address FROM list_senders WHERE list_id = $1 ORDER BY address", out.id)) {
      out.senders.push_back(row[0].as<std::string>());
    }
    return out;
  });
}

absl::StatusOr<std::vector<List>> ListLists(store::Pool& pool, std::string_view domain) {
  std::string lower = absl::AsciiStrToLower(AV(domain));
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<List>> {
    if (!lower.empty() && !DomainIdTx(tx, lower)) return UnknownDomain(lower);
    std::vector<List> out;
    for (const auto& row :
         tx.exec_params("SELECT id, address, display_name, posting_policy FROM lists "
                        "WHERE $1 = '' OR domain_id = (SELECT id FROM domains WHERE name = $1) "
                        "ORDER BY address",
                        lower)) {
      List l;
      l.id = row[0].as<int64_t>();
      l.address = row[1].as<std::string>();
      l.display_name = row[2].as<std::string>();
      l.policy = ParsePostingPolicy(row[3].as<std::string>()).value_or(PostingPolicy::kAnyone);
      out.push_back(std::move(l));
    }
    return out;
  });
}

absl::StatusOr<PostingDecision> MayPost(store::Pool& pool, std::string_view list,
                                        std::string_view sender) {
  std::string lower = absl::AsciiStrToLower(AV(list));
  auto parts = SplitAddress(sender);
  std::string from = parts.ok() ? StripDetail(absl::StrCat(parts->first, "@", parts->second)) : "";
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<PostingDecision> {
    auto l = ListTx(tx, lower);
    if (!l.ok()) return l.status();
    PostingDecision d{true, l->policy};
    if (l->policy == PostingPolicy::kAnyone) return d;
    d.allowed = false;
    if (from.empty()) return d;  // the null sender <> posts only where anyone may
    switch (l->policy) {
      case PostingPolicy::kDomain:
        d.allowed = DomainOf(from) == DomainOf(lower);
        return d;
      case PostingPolicy::kSenders:
        d.allowed =
            !tx.exec_params("SELECT 1 FROM list_senders WHERE list_id = $1 AND address = $2", l->id,
                            from)
                 .empty();
        return d;
      case PostingPolicy::kMembers:
      case PostingPolicy::kModerators: {
        // The sender as written, or the local account it is (an alias of a member counts).
        auto r = tx.exec_params(
            "SELECT 1 FROM list_members m WHERE m.list_id = $1 AND ($3 = false OR m.moderator) AND "
            "(m.address = $2 OR m.account_id = (SELECT COALESCE(a.id, al.target_account_id) FROM "
            "address_claims c "
            "LEFT JOIN accounts a ON c.kind = 'account' AND a.id = c.owner_id "
            "LEFT JOIN aliases al ON c.kind = 'alias' AND al.id = c.owner_id WHERE c.address = "
            "$2))",
            l->id, from, l->policy == PostingPolicy::kModerators);
        d.allowed = !r.empty();
        return d;
      }
      case PostingPolicy::kAnyone:
        break;
    }
    d.allowed = true;
    return d;
  });
}

namespace {
// Follows `work` (addresses still to resolve) through lists and aliases; `seen` holds every
// address already taken (a loop ends there).
Expansion ExpandTx(pqxx::work& tx, std::vector<std::string> work, std::set<std::string> seen) {
  constexpr size_t kMaxAddresses = 100000;
  Expansion out;
  std::set<int64_t> accounts;
  auto members = [&](int64_t list_id) {
    for (const auto& row : tx.exec_params("SELECT address FROM list_members WHERE list_id = $1", list_id)) {
      std::string a = row[0].as<std::string>();
      if (seen.insert(a).second) work.push_back(a);
    }
  };
  while (!work.empty() && seen.size() < kMaxAddresses) {
    std::string addr = work.back();
    work.pop_back();
    std::string detail;
    std::string base = StripDetail(addr, &detail);
    auto r = tx.exec_params(
        "SELECT (SELECT id FROM domains WHERE name = $2) IS NOT NULL, c.kind, c.owner_id, "
        "a.enabled, "
        "COALESCE(al.target_account_id, 0), COALESCE(al.target_address, ''), "
        "COALESCE(ta.enabled, false), "
        "(SELECT catch_all FROM domains WHERE name = $2) "
        "FROM (SELECT 1) one LEFT JOIN address_claims c ON c.address = $1 "
        "LEFT JOIN accounts a ON c.kind = 'account' AND a.id = c.owner_id "
        "LEFT JOIN aliases al ON c.kind = 'alias' AND al.id = c.owner_id "
        "LEFT JOIN accounts ta ON ta.id = al.target_account_id",
        base, DomainOf(base));
    const auto& row = r[0];
    if (!row[0].as<bool>()) {
      out.remote.push_back(addr);
      continue;
    }
    if (row[1].is_null()) {
      // Unknown local address: the domain's catch-all, when there is one, takes it.
      if (!row[7].is_null()) {
        std::string target = row[7].as<std::string>();
        if (seen.insert(target).second) work.push_back(target);
      }
      continue;
    }
    std::string kind = row[1].as<std::string>();
    if (kind == "account") {
      if (row[3].as<bool>()) accounts.insert(row[2].as<int64_t>());
    } else if (kind == "list") {
      members(row[2].as<int64_t>());
    } else if (row[4].as<int64_t>() != 0) {
      if (row[6].as<bool>()) accounts.insert(row[4].as<int64_t>());
    } else if (std::string t = row[5].as<std::string>(); seen.insert(t).second) {
      work.push_back(t);
    }
  }
  out.account_ids.assign(accounts.begin(), accounts.end());
  std::sort(out.remote.begin(), out.remote.end());
  return out;
}
}  // namespace

absl::StatusOr<Expansion> ExpandList(store::Pool& pool, std::string_view list) {
  std::string lower = absl::AsciiStrToLower(AV(list));
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<Expansion> {
    auto root = ListTx(tx, lower);
    if (!root.ok()) return root.status();
    std::set<std::string> seen{lower};
    std::vector<std::string> work;
    for (const auto& row : tx.exec_params("SELECT address FROM list_members WHERE list_id = $1", root->id)) {
      std::string a = row[0].as<std::string>();
      if (seen.insert(a).second) work.push_back(a);
    }
    return ExpandTx(tx, std::move(work), std::move(seen));
  });
}

absl::StatusOr<Expansion> ExpandAddress(store::Pool& pool, std::string_view address) {
  std::string lower = absl::AsciiStrToLower(AV(address));
  return pool.Transact([&](pqxx::work& tx) -> Expansion { return ExpandTx(tx, {lower}, {lower}); });
}

// ---- Shared mailboxes -------------------------------------------------------------------

absl::StatusOr<int64_t> CreateSharedMailbox(store::Pool& pool, std::string_view address,
                                            std::string_view display_name, int64_t quota_bytes) {
  auto normalized = NormalizeAddress(address);
  if (!normalized.ok()) return normalized.status();
  if (quota_bytes < 0) return absl::InvalidArgumentError("the quota cannot be negative");
  return Clash(pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    auto fresh = NewAddressTx(tx, *normalized);
    if (!fresh.ok()) return fresh.status();
    int64_t id =
        InsertAccountTx(tx, fresh->second, *normalized, display_name, kNoLogin, quota_bytes);
    tx.exec_params("INSERT INTO shared_mailboxes(account_id) VALUES ($1)", id);
    return id;
  }),
               *normalized);
}

namespace {
struct GrantParties {
  int64_t owner = 0;
  int64_t grantee = 0;
};
absl::StatusOr<GrantParties> GrantPartiesTx(pqxx::work& tx, const std::string& shared,
                                            const std::string& user) {
  auto owner = AccountTx(tx, shared);
  if (!owner.ok()) return absl::NotFoundError(absl::StrCat("no such shared mailbox: ", shared));
  if (KindTx(tx, owner->id) != AccountKind::kShared) {
    return absl::FailedPreconditionError(
        absl::StrCat(shared, " is not a shared mailbox (kitectl shared add ", shared, ")"));
  }
  auto grantee = AccountTx(tx, user);
  if (!grantee.ok()) return absl::NotFoundError(absl::StrCat("no such user: ", user));
  if (KindTx(tx, grantee->id) != AccountKind::kUser) {
    return absl::InvalidArgumentError(
        absl::StrCat(user, " is not a person's account (grants go to users)"));
  }
  return GrantParties{owner->id, grantee->id};
}
}  // namespace

absl::Status GrantShared(store::Pool& pool, std::string_view shared, std::string_view user,
                         const Rights& rights) {
  if (!rights.any())
    return absl::InvalidArgumentError(
        "no right given (--read, --write, --send-as, --send-on-behalf)");
  Rights r = rights;
  if (r.write) r.read = true;  // writing into a mailbox one cannot read makes no sense
  std::string s = absl::AsciiStrToLower(AV(shared));
  std::string u = absl::AsciiStrToLower(AV(user));
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto p = GrantPartiesTx(tx, s, u);
    if (!p.ok()) return p.status();
    tx.exec_params(
        "INSERT INTO account_grants(owner_account_id, grantee_account_id, may_read, may_write, "
        "may_send_as, "
        "may_send_on_behalf) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (owner_account_id, grantee_account_id) DO UPDATE SET "
        "may_read = account_grants.may_read OR EXCLUDED.may_read, "
        "may_write = account_grants.may_write OR EXCLUDED.may_write, "
        "may_send_as = account_grants.may_send_as OR EXCLUDED.may_send_as, "
        "may_send_on_behalf = account_grants.may_send_on_behalf OR EXCLUDED.may_send_on_behalf",
        p->owner, p->grantee, r.read, r.write, r.send_as, r.send_on_behalf);
    return absl::OkStatus();
  });
}

absl::Status RevokeShared(store::Pool& pool, std::string_view shared, std::string_view user,
                          const Rights& rights) {
  if (!rights.any())
    return absl::InvalidArgumentError(
        "no right given (--read, --write, --send-as, --send-on-behalf)");
  Rights r = rights;
  if (r.read) r.write = true;  // no writing without reading
  std::string s = absl::AsciiStrToLower(AV(shared));
  std::string u = absl::AsciiStrToLower(AV(user));
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto p = GrantPartiesTx(tx, s, u);
    if (!p.ok()) return p.status();
    auto upd = tx.exec_params(
        "UPDATE account_grants SET may_read = may_read AND NOT $3, may_write = may_write AND NOT "
        "$4, "
        "may_send_as = may_send_as AND NOT $5, may_send_on_behalf = may_send_on_behalf AND NOT $6 "
        "WHERE owner_account_id = $1 AND grantee_account_id = $2",
        p->owner, p->grantee, r.read, r.write, r.send_as, r.send_on_behalf);
    if (upd.affected_rows() == 0)
      return absl::NotFoundError(absl::StrCat(u, " has no grant on ", s));
    tx.exec_params(
        "DELETE FROM account_grants WHERE owner_account_id = $1 AND grantee_account_id = $2 AND "
        "NOT "
        "(may_read OR may_write OR may_send_as OR may_send_on_behalf)",
        p->owner, p->grantee);
    return absl::OkStatus();
  });
}

absl::StatusOr<Rights> GetRights(store::Pool& pool, int64_t account_id,
                                 std::string_view owner_address) {
  auto access = GetSharedAccess(pool, account_id, owner_address);
  if (!access.ok()) return access.status();
  return access->rights;
}

absl::StatusOr<SharedAccess> GetSharedAccess(store::Pool& pool, int64_t account_id,
                                             std::string_view owner_address) {
  auto parts = SplitAddress(owner_address);
  if (!parts.ok()) return parts.status();
  std::string owner = StripDetail(absl::StrCat(parts->first, "@", parts->second));
  return pool.Transact([&](pqxx::work& tx) -> SharedAccess {
    auto r = tx.exec_params(
        "SELECT g.may_read, g.may_write, g.may_send_as, g.may_send_on_behalf, o.id, o.address "
        "FROM accounts o "
        "JOIN account_grants g ON g.owner_account_id = o.id AND g.grantee_account_id = $1 "
        "JOIN accounts u ON u.id = $1 AND u.enabled WHERE o.address = $2",
        account_id, owner);
    if (r.empty()) return SharedAccess{};
    return SharedAccess{r[0][4].as<int64_t>(), r[0][5].as<std::string>(), RowRights(r[0], 0)};
  });
}

absl::StatusOr<std::vector<SharedAccess>> ListSharedAccess(store::Pool& pool, int64_t account_id) {
  return pool.Transact([&](pqxx::work& tx) {
    std::vector<SharedAccess> out;
    for (const auto& row : tx.exec_params(
             "SELECT g.may_read, g.may_write, g.may_send_as, g.may_send_on_behalf, o.id, o.address "
             "FROM account_grants g JOIN accounts o ON o.id = g.owner_account_id "
             "JOIN shared_mailboxes s ON s.account_id = o.id "
             "JOIN accounts u ON u.id = g.grantee_account_id AND u.enabled "
             "WHERE g.grantee_account_id = $1 ORDER BY o.address",
             account_id)) {
      out.push_back(
          SharedAccess{row[4].as<int64_t>(), row[5].as<std::string>(), RowRights(row, 0)});
    }
    return out;
  });
}

// ---- Resources --------------------------------------------------------------------------

const char* ResourceKindName(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kVehicle:
      return "vehicle";
    case ResourceKind::kEquipment:
      return "equipment";
    case ResourceKind::kRoom:
      break;
  }
  return "room";
}

absl::StatusOr<ResourceKind> ParseResourceKind(std::string_view name) {
  for (auto k : {ResourceKind::kRoom, ResourceKind::kVehicle, ResourceKind::kEquipment}) {
    if (name == ResourceKindName(k)) return k;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown resource kind \"", AV(name), "\" (room, vehicle, equipment)"));
}

namespace {
constexpr const char* kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

int DayIndex(std::string_view d) {
  for (int i = 0; i < 7; ++i) {
    if (d == kDays[i]) return i;
  }
  return -1;
}

int ParseClock(std::string_view t) {  // "HH:MM" -> minutes, -1 when malformed; "24:00" allowed
  if (t.size() != 5 || t[2] != ':') return -1;
  int h = 0, m = 0;
  if (!absl::SimpleAtoi(AV(t.substr(0, 2)), &h) || !absl::SimpleAtoi(AV(t.substr(3, 2)), &m))
    return -1;
  if (h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0)) return -1;
  return h * 60 + m;
}

std::string Clock(int minutes) { return absl::StrFormat("%02d:%02d", minutes / 60, minutes % 60); }

std::string HoursJson(const WorkingHours& h) {
  std::vector<std::string> parts;
  for (int i = 0; i < 7; ++i) {
    if (h.days & (1 << i)) {
      parts.push_back(absl::StrFormat("\"%s\": [[\"%s\", \"%s\"]]", kDays[i], Clock(h.start_minute),
                                      Clock(h.end_minute)));
    }
  }
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}
}  // namespace

absl::StatusOr<WorkingHours> ParseWorkingHours(std::string_view hours, std::string_view days) {
  WorkingHours h;
  size_t dash = hours.find('-');
  int start = dash == std::string_view::npos ? -1 : ParseClock(hours.substr(0, dash));
  int end = dash == std::string_view::npos ? -1 : ParseClock(hours.substr(dash + 1));
  if (start < 0 || end < 0 || end <= start) {
    return absl::InvalidArgumentError(
        absl::StrCat("working hours \"", AV(hours), "\": want HH:MM-HH:MM, start before end"));
  }
  h.start_minute = start;
  h.end_minute = end;
  std::string d = absl::AsciiStrToLower(AV(days));
  if (d.empty() || d == "mon-fri") {
    h.days = 0x1f;
  } else if (d == "all" || d == "mon-sun") {
    h.days = 0x7f;
  } else {
    h.days = 0;
    for (absl::string_view part_av : absl::StrSplit(d, ',')) {
      std::string_view part = SV(part_av);
      size_t r = part.find('-');
      int from = DayIndex(part.substr(0, r));
      int to = r == std::string_view::npos ? from : DayIndex(part.substr(r + 1));
      if (from < 0 || to < 0 || to < from) {
        return absl::InvalidArgumentError(
            absl::StrCat("days \"", AV(days), "\": want mon-fri, all, or e.g. mon,wed,fri"));
      }
      for (int i = from; i <= to; ++i) h.days |= static_cast<uint8_t>(1 << i);
    }
  }
  return h;
}

absl::StatusOr<int64_t> CreateResource(store::Pool& pool, std::string_view address,
                                       std::string_view display_name,
                                       const ResourcePolicy& policy) {
  auto normalized = NormalizeAddress(address);
  if (!normalized.ok()) return normalized.status();
  if (policy.capacity < 0) return absl::InvalidArgumentError("the capacity cannot be negative");
  if (policy.max_duration_seconds < 0 || policy.advance_seconds < 0) {
    return absl::InvalidArgumentError("durations cannot be negative");
  }
  if (!policy.auto_accept && policy.delegate.empty()) {
    return absl::InvalidArgumentError(
        "a moderated resource needs a delegate (--delegate ADDRESS) to decide bookings");
  }
  if (!policy.bookers_all && policy.bookers.empty()) {
    return absl::InvalidArgumentError("a restricted resource needs at least one permitted booker");
  }
  return Clash(pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    auto fresh = NewAddressTx(tx, *normalized);
    if (!fresh.ok()) return fresh.status();
    if (tx.exec_params("SELECT 1 FROM pg_timezone_names WHERE name = $1", policy.timezone)
            .empty()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown time zone \"", policy.timezone,
                                                     "\" (an IANA name such as Europe/Paris)"));
    }
    int64_t delegate = 0;
    if (!policy.delegate.empty()) {
      auto d = AccountTx(tx, absl::AsciiStrToLower(policy.delegate));
      if (!d.ok())
        return absl::NotFoundError(
            absl::StrCat("no such user for the delegate: ", policy.delegate));
      delegate = d->id;
    }
    std::vector<std::pair<std::string, int64_t>> bookers;  // (kind, id)
    if (!policy.bookers_all) {
      for (const auto& b : policy.bookers) {
        std::string lower = absl::AsciiStrToLower(b);
        auto c = ClaimTx(tx, lower);
        if (!c || c->kind == "alias") {
          return absl::NotFoundError(absl::StrCat("no such user or list for --bookers: ", lower));
        }
        bookers.emplace_back(c->kind, c->owner_id);
      }
    }
    int64_t id = InsertAccountTx(tx, fresh->second, *normalized, display_name, kNoLogin, 0);
    tx.exec_params(
        "INSERT INTO resources(account_id, kind, capacity, location, booking_mode, max_duration, "
        "booking_window, "
        "working_hours, timezone, delegate_account_id, restricted) VALUES ($1, $2, NULLIF($3, 0), "
        "$4, $5, "
        "CASE WHEN $6::bigint > 0 THEN $6::bigint * interval '1 second' END, "
        "CASE WHEN $7::bigint > 0 THEN $7::bigint * interval '1 second' END, "
        "NULLIF($8, '')::jsonb, $9, NULLIF($10, 0), $11)",
        id, std::string(ResourceKindName(policy.kind)), policy.capacity, policy.location,
        std::string(policy.auto_accept ? "auto" : "moderated"), policy.max_duration_seconds,
        policy.advance_seconds, policy.hours ? HoursJson(*policy.hours) : std::string(),
        policy.timezone, delegate, !policy.bookers_all);
    for (const auto& [kind, owner] : bookers) {
      tx.exec_params(
          kind == "account"
              ? "INSERT INTO resource_bookers(resource_account_id, account_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING"
              : "INSERT INTO resource_booker_lists(resource_account_id, list_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
          id, owner);
    }
    return id;
  }),
               *normalized);
}

absl::StatusOr<Resource> ShowResource(store::Pool& pool, std::string_view address) {
  std::string lower = absl::AsciiStrToLower(AV(address));
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<Resource> {
    auto acct = AccountTx(tx, lower);
    if (!acct.ok()) return absl::NotFoundError(absl::StrCat("no such resource: ", lower));
    auto r = tx.exec_params(
        "SELECT r.kind, COALESCE(r.capacity, 0), r.location, r.booking_mode, "
        "COALESCE(extract(epoch FROM r.max_duration)::bigint, 0), COALESCE(extract(epoch FROM "
        "r.booking_window)::bigint, 0), "
        "r.timezone, COALESCE(d.address, ''), r.restricted, r.working_hours IS NOT NULL "
        "FROM resources r LEFT JOIN accounts d ON d.id = r.delegate_account_id WHERE r.account_id "
        "= $1",
        acct->id);
    if (r.empty()) return absl::FailedPreconditionError(absl::StrCat(lower, " is not a resource"));
    Resource out;
    out.account = *acct;
    ResourcePolicy& p = out.policy;
    p.kind = ParseResourceKind(r[0][0].as<std::string>()).value_or(ResourceKind::kRoom);
    p.capacity = r[0][1].as<int>();
    p.location = r[0][2].as<std::string>();
    p.auto_accept = r[0][3].as<std::string>() == "auto";
    p.max_duration_seconds = r[0][4].as<int64_t>();
    p.advance_seconds = r[0][5].as<int64_t>();
    p.timezone = r[0][6].as<std::string>();
    p.delegate = r[0][7].as<std::string>();
    p.bookers_all = !r[0][8].as<bool>();
    if (r[0][9].as<bool>()) {
      WorkingHours h;
      h.days = 0;
      for (const auto& row :
           tx.exec_params("SELECT key, value->0->>0, value->0->>1 FROM resources, "
                          "jsonb_each(working_hours) WHERE account_id = $1",
                          acct->id)) {
        int day = DayIndex(row[0].as<std::string>());
        if (day < 0 || row[1].is_null() || row[2].is_null()) continue;
        h.days |= static_cast<uint8_t>(1 << day);
        h.start_minute = std::max(0, ParseClock(row[1].as<std::string>()));
        h.end_minute = std::max(0, ParseClock(row[2].as<std::string>()));
      }
      p.hours = h;
    }
    for (const auto& row : tx.exec_params(
             "SELECT a.address FROM resource_bookers b JOIN accounts a ON a.id = b.account_id "
             "WHERE b.resource_account_id = $1 UNION ALL "
             "SELECT l.address FROM resource_booker_lists b JOIN lists l ON l.id = b.list_id "
             "WHERE b.resource_account_id = $1 ORDER BY 1",
             acct->id)) {
      p.bookers.push_back(row[0].as<std::string>());
    }
    return out;
  });
}

// ---- Questions the daemons ask ----------------------------------------------------------

namespace {
constexpr const char* kResolveSql =
    "SELECT c.kind, c.owner_id, a.enabled, s.account_id IS NOT NULL, rs.account_id IS NOT "
    "NULL, "
    "COALESCE(al.target_account_id, 0), COALESCE(al.target_address, ''), COALESCE(ta.enabled, "
    "false), "
    "COALESCE(d.catch_all, ''), cc.kind, COALESCE(ca.id, 0), COALESCE(ca.enabled, false) "
    "FROM domains d "
    "LEFT JOIN address_claims c ON c.address = $2 "
    "LEFT JOIN accounts a ON c.kind = 'account' AND a.id = c.owner_id "
    "LEFT JOIN shared_mailboxes s ON s.account_id = a.id "
    "LEFT JOIN resources rs ON rs.account_id = a.id "
    "LEFT JOIN aliases al ON c.kind = 'alias' AND al.id = c.owner_id "
    "LEFT JOIN accounts ta ON ta.id = al.target_account_id "
    "LEFT JOIN address_claims cc ON c.kind IS NULL AND cc.address = d.catch_all "
    "LEFT JOIN accounts ca ON cc.kind = 'account' AND ca.id = cc.owner_id "
    "WHERE d.name = $1";
}  // namespace

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
  // One round trip, every step an index lookup: the domain (unique name), the address claim
  // (primary key), the account or alias it names (primary keys), and, only when nothing
  // claims the address, the domain's catch-all target.
  // Prepared once per connection (pqxx keeps the definition; a reconnect prepares again):
  // this runs at every RCPT, and planning a nine-way join each time is most of its cost.
  return pool.Transact([&](pqxx::work& tx) -> Resolution {
    tx.conn().prepare("kite_directory_resolve", kResolveSql);
    auto r = tx.exec_prepared("kite_directory_resolve", domain, res.canonical);
    if (r.empty()) {
      res.kind = RecipientKind::kRemote;
      return res;
    }
    const auto& row = r[0];
    auto reach = [&](int64_t id) {
      res.account_ids.push_back(id);
      res.account_id = res.account_ids.front();
    };
    if (row[0].is_null()) {
      std::string catch_all = row[8].as<std::string>();
      if (catch_all.empty()) {
        res.kind = RecipientKind::kUnknownLocal;
        return res;
      }
      if (!row[9].is_null() && row[9].as<std::string>() == "account") {
        // A catch-all into a disabled account takes nothing: the address stays unknown.
        if (!row[11].as<bool>()) {
          res.kind = RecipientKind::kUnknownLocal;
          return res;
        }
        reach(row[10].as<int64_t>());
      } else {
        res.forward_to.push_back(catch_all);
      }
      res.kind = RecipientKind::kAlias;
      res.catch_all = true;
      return res;
    }
    std::string kind = row[0].as<std::string>();
    int64_t owner = row[1].as<int64_t>();
    if (kind == "account") {
      reach(owner);
      if (!row[2].as<bool>()) {
        res.kind = RecipientKind::kDisabled;
      } else if (row[3].as<bool>()) {
        res.kind = RecipientKind::kSharedMailbox;
      } else if (row[4].as<bool>()) {
        res.kind = RecipientKind::kResource;
      } else {
        res.kind = RecipientKind::kAccount;
      }
    } else if (kind == "alias") {
      int64_t target = row[5].as<int64_t>();
      if (target != 0) {
        reach(target);
        res.kind = row[7].as<bool>() ? RecipientKind::kAlias : RecipientKind::kDisabled;
      } else {
        res.forward_to.push_back(row[6].as<std::string>());
        res.kind = RecipientKind::kAlias;
      }
    } else {
      res.kind = RecipientKind::kList;
    }
    return res;
  });
}

absl::StatusOr<SenderDecision> CheckSender(store::Pool& pool, int64_t account_id,
                                           std::string_view from) {
  auto parts = SplitAddress(from);
  if (!parts.ok()) return parts.status();
  std::string canonical = StripDetail(absl::StrCat(parts->first, "@", parts->second));
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<SenderDecision> {
    // One query: the user, what claims the From address, and the grants on its owner (the
    // account itself, or the account an alias points at).
    auto r = tx.exec_params(
        "SELECT u.address, u.enabled, c.kind, COALESCE(c.owner_id, 0), "
        "COALESCE(al.target_account_id, 0), "
        "COALESCE(g.may_send_as, false) OR COALESCE(g2.may_send_as, false), "
        "COALESCE(g.may_send_on_behalf, false) OR COALESCE(g2.may_send_on_behalf, false) "
        "FROM accounts u "
        "LEFT JOIN address_claims c ON c.address = $2 "
        "LEFT JOIN aliases al ON c.kind = 'alias' AND al.id = c.owner_id "
        "LEFT JOIN account_grants g ON c.kind = 'account' AND g.owner_account_id = c.owner_id "
        "  AND g.grantee_account_id = u.id "
        "LEFT JOIN account_grants g2 ON g2.owner_account_id = al.target_account_id AND "
        "g2.grantee_account_id = u.id "
        "WHERE u.id = $1",
        account_id, canonical);
    SenderDecision d;
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no such account id ", account_id));
    const auto& row = r[0];
    if (!row[1].as<bool>() || row[2].is_null()) return d;
    std::string kind = row[2].as<std::string>();
    int64_t owner = row[3].as<int64_t>();
    if ((kind == "account" && owner == account_id) ||
        (kind == "alias" && row[4].as<int64_t>() == account_id)) {
      d.allowed = true;
    } else if (row[5].as<bool>()) {
      d.allowed = true;  // send-as wins over send-on-behalf
    } else if (row[6].as<bool>()) {
      d.allowed = true;
      d.add_sender_header = true;
      d.sender_address = row[0].as<std::string>();
    }
    return d;
  });
}

absl::StatusOr<bool> FreeBusyVisible(store::Pool& pool, int64_t viewer_account_id,
                                     std::string_view target) {
  auto parts = SplitAddress(target);
  if (!parts.ok()) return parts.status();
  std::string canonical = StripDetail(absl::StrCat(parts->first, "@", parts->second));
  return pool.Transact([&](pqxx::work& tx) -> bool {
    auto r = tx.exec_params(
        "SELECT v.enabled, v.domain_id, t.id, t.domain_id, rs.account_id IS NOT NULL, "
        "COALESCE(rs.restricted, false), "
        "COALESCE(rs.delegate_account_id, 0), "
        "EXISTS (SELECT 1 FROM resource_bookers b WHERE b.resource_account_id = t.id AND "
        "b.account_id = v.id), "
        "EXISTS (SELECT 1 FROM account_grants g WHERE g.owner_account_id = t.id AND "
        "g.grantee_account_id = v.id "
        "        AND g.may_read) "
        "FROM accounts v "
        "LEFT JOIN address_claims c ON c.address = $2 "
        "LEFT JOIN aliases al ON c.kind = 'alias' AND al.id = c.owner_id "
        "LEFT JOIN accounts t ON t.id = CASE WHEN c.kind = 'account' THEN c.owner_id ELSE "
        "al.target_account_id END "
        "LEFT JOIN resources rs ON rs.account_id = t.id "
        "WHERE v.id = $1",
        viewer_account_id, canonical);
    if (r.empty()) return false;
    const auto& row = r[0];
    if (!row[0].as<bool>() || row[2].is_null()) return false;  // disabled viewer, unknown target
    int64_t viewer = viewer_account_id;
    int64_t t = row[2].as<int64_t>();
    if (t == viewer) return true;
    if (row[4].as<bool>()) {  // a resource
      if (!row[5].as<bool>() || row[6].as<int64_t>() == viewer || row[7].as<bool>()) return true;
      // Members of a permitted group, through nested lists too.
      auto g = tx.exec_params(
          "WITH RECURSIVE g(list_id) AS ("
          "  SELECT list_id FROM resource_booker_lists WHERE resource_account_id = $1 "
          "  UNION "
          "  SELECT l.id FROM g JOIN list_members m ON m.list_id = g.list_id JOIN lists l ON "
          "l.address = m.address) "
          "SELECT 1 FROM g JOIN list_members m ON m.list_id = g.list_id "
          "LEFT JOIN aliases al ON al.address = m.address "
          "WHERE m.account_id = $2 OR al.target_account_id = $2 LIMIT 1",
          t, viewer);
      return !g.empty();
    }
    return row[1].as<int64_t>() == row[3].as<int64_t>() || row[8].as<bool>();
  });
}

}  // namespace kite::directory
