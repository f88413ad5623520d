#include "lib/directory/credentials.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"
#include "lib/password/scram.h"

namespace kite::directory {
namespace {

constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";  // 32: no l, o, 0, 1
static_assert(sizeof kAlphabet - 1 == 32);
constexpr size_t kAppPasswordChars = 16;

constexpr const char* kCredentialColumns =
    "id, address, display_name, password_hash, COALESCE(scram_sha256, ''), enabled";

Credentials RowToCredentials(const pqxx::row& row) {
  return Credentials{row[0].as<int64_t>(),     row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<bool>()};
}

std::string Lookup(std::string_view normalised) {
  auto d = password::scram::Sha256(normalised);
  return absl::BytesToHexString(AV(password::scram::View(d).substr(0, 4)));
}

// '{imap,pop3}' -> {"imap","pop3"} (scope names never need quoting).
std::vector<std::string> ParseArray(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == '{' || c == '}' || c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != '"') {
      cur += c;
    }
  }
  return out;
}

AppPassword RowToAppPassword(const pqxx::row& row) {
  return AppPassword{row[0].as<int64_t>(), row[1].as<std::string>(), ParseArray(row[2].as<std::string>()),
                     row[3].as<std::string>(), row[4].is_null() ? "" : row[4].as<std::string>()};
}

constexpr const char* kAppPasswordColumns =
    "id, label, scopes::text, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "to_char(last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

}  // namespace

bool CanLogIn(std::string_view password_hash) { return password_hash.substr(0, 10) == "$argon2id$"; }

absl::StatusOr<std::optional<Credentials>> FindCredentials(store::Pool& pool, std::string_view address) {
  std::string lower = absl::AsciiStrToLower(AV(address));
  return pool.Transact([&](pqxx::work& tx) -> std::optional<Credentials> {
    auto r = tx.exec_params(absl::StrCat("SELECT ", kCredentialColumns, " FROM accounts WHERE address = $1"), lower);
    if (r.empty()) return std::nullopt;
    return RowToCredentials(r[0]);
  });
}

absl::StatusOr<std::optional<Credentials>> FindCredentialsById(store::Pool& pool, int64_t account_id) {
  return pool.Transact([&](pqxx::work& tx) -> std::optional<Credentials> {
    auto r = tx.exec_params(absl::StrCat("SELECT ", kCredentialColumns, " FROM accounts WHERE id = $1"), account_id);
    if (r.empty()) return std::nullopt;
    return RowToCredentials(r[0]);
  });
}

absl::Status SetPassword(store::Pool& pool, int64_t account_id, std::string_view password,
                         const password::Argon2Params& params) {
  if (password.empty()) return absl::InvalidArgumentError("empty password");
  if (password.size() > password::kMaxPasswordLength) return absl::InvalidArgumentError("password too long");
  auto hash = password::Hash(password, params);
  if (!hash.ok()) return hash.status();
  auto secret = password::scram::MakeSecret(password);
  if (!secret.ok()) return secret.status();
  std::string scram = password::scram::Format(*secret);
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_params("UPDATE accounts SET password_hash = $2, scram_sha256 = $3 WHERE id = $1", account_id,
                            *hash, scram);
    if (r.affected_rows() == 0) return absl::NotFoundError("no such account");
    return absl::OkStatus();
  });
}

absl::Status UpgradeCredentials(store::Pool& pool, int64_t account_id, std::string_view expected_hash,
                                std::string_view new_hash, std::string_view new_scram) {
  if (new_hash.empty() && new_scram.empty()) return absl::OkStatus();
  return pool.Transact([&](pqxx::work& tx) {
    tx.exec_params(
        "UPDATE accounts SET password_hash = COALESCE(NULLIF($3, ''), password_hash), "
        "scram_sha256 = COALESCE(NULLIF($4, ''), scram_sha256) WHERE id = $1 AND password_hash = $2",
        account_id, std::string(expected_hash), std::string(new_hash), std::string(new_scram));
  });
}

std::optional<std::string> NormaliseAppPassword(std::string_view password) {
  if (password.size() > 64) return std::nullopt;
  std::string out;
  for (char c : password) {
    if (c == '-' || c == ' ') continue;
    char l = absl::ascii_tolower(static_cast<unsigned char>(c));
    if (std::string_view(kAlphabet).find(l) == std::string_view::npos) return std::nullopt;
    out += l;
  }
  if (out.size() != kAppPasswordChars) return std::nullopt;
  return out;
}

absl::StatusOr<std::string> CreateAppPassword(store::Pool& pool, int64_t account_id, std::string_view name,
                                              const password::Argon2Params& params) {
  if (name.empty() || name.size() > kMaxAppPasswordName) {
    return absl::InvalidArgumentError("an app password name must have 1 to 100 characters");
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("an app password name cannot contain control characters");
    }
  }
  auto random = password::scram::RandomBytes(kAppPasswordChars);
  if (!random.ok()) return random.status();
  std::string plain;
  for (size_t i = 0; i < kAppPasswordChars; ++i) plain += kAlphabet[static_cast<unsigned char>((*random)[i]) & 31];
  auto hash = password::Hash(plain, params);
  if (!hash.ok()) return hash.status();
  std::string lookup = Lookup(plain);
  auto created = pool.Transact([&](pqxx::work& tx) -> absl::Status {
    // Serialises concurrent creations for one account, so the limit holds.
    auto a = tx.exec_params("SELECT password_hash FROM accounts WHERE id = $1 FOR UPDATE", account_id);
    if (a.empty()) return absl::NotFoundError("no such account");
    if (!CanLogIn(a[0][0].as<std::string>())) {
      return absl::FailedPreconditionError("this account never logs in (shared mailbox or resource)");
    }
    auto n = tx.exec_params("SELECT count(*) FROM app_passwords WHERE account_id = $1", account_id);
    if (n[0][0].as<int64_t>() >= kMaxAppPasswordsPerAccount) {
      return absl::ResourceExhaustedError(
          absl::StrCat("an account may have at most ", kMaxAppPasswordsPerAccount, " app passwords"));
    }
    auto dup = tx.exec_params("SELECT 1 FROM app_passwords WHERE account_id = $1 AND label = $2", account_id,
                              std::string(name));
    if (!dup.empty()) return absl::AlreadyExistsError(absl::StrCat("an app password named \"", AV(name), "\" exists"));
    tx.exec_params("INSERT INTO app_passwords(account_id, label, password_hash, lookup) VALUES ($1, $2, $3, $4)",
                   account_id, std::string(name), *hash, lookup);
    return absl::OkStatus();
  });
  if (!created.ok()) return created;
  return absl::StrCat(plain.substr(0, 4), "-", plain.substr(4, 4), "-", plain.substr(8, 4), "-", plain.substr(12, 4));
}

absl::StatusOr<std::vector<AppPassword>> ListAppPasswords(store::Pool& pool, int64_t account_id) {
  return pool.Transact([&](pqxx::work& tx) {
    std::vector<AppPassword> out;
    for (const auto& row : tx.exec_params(absl::StrCat("SELECT ", kAppPasswordColumns,
                                                       " FROM app_passwords WHERE account_id = $1 ORDER BY label"),
                                          account_id)) {
      out.push_back(RowToAppPassword(row));
    }
    return out;
  });
}

absl::Status RevokeAppPassword(store::Pool& pool, int64_t account_id, std::string_view name) {
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_params("DELETE FROM app_passwords WHERE account_id = $1 AND label = $2", account_id,
                            std::string(name));
    if (r.affected_rows() == 0) return absl::NotFoundError(absl::StrCat("no app password named \"", AV(name), "\""));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<AppPassword>> MatchAppPassword(store::Pool& pool, int64_t account_id,
                                                            std::string_view password, std::string_view scope) {
  std::optional<std::string> plain = NormaliseAppPassword(password);
  if (!plain) return std::nullopt;
  std::string lookup = Lookup(*plain);
  struct Candidate {
    AppPassword info;
    std::string hash;
  };
  auto candidates = pool.Transact([&](pqxx::work& tx) {
    std::vector<Candidate> out;
    for (const auto& row : tx.exec_params(
             absl::StrCat("SELECT ", kAppPasswordColumns,
                          ", password_hash FROM app_passwords WHERE account_id = $1 "
                          "AND (lookup = $2 OR lookup IS NULL) AND ($3 = '' OR $3 = ANY(scopes)) "
                          "AND (expires_at IS NULL OR expires_at > now()) LIMIT 8"),
             account_id, lookup, std::string(scope))) {
      out.push_back({RowToAppPassword(row), row[5].as<std::string>()});
    }
    return out;
  });
  if (!candidates.ok()) return candidates.status();
  for (const Candidate& c : *candidates) {
    if (!password::Verify(c.hash, *plain)) continue;
    int64_t id = c.info.id;
    // Last use is informative; a failure to record it does not fail the login.
    pool.Transact([&](pqxx::work& tx) {
          tx.exec_params("UPDATE app_passwords SET last_used_at = now() WHERE account_id = $1 AND id = $2",
                         account_id, id);
        })
        .IgnoreError();
    return c.info;
  }
  return std::nullopt;
}

}  // namespace kite::directory
