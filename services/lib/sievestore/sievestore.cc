#include "lib/sievestore/sievestore.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"

namespace kite::sievestore {
namespace {

constexpr char kQuotaPayload[] = "kite.sievestore/quota";

absl::Status Quota(std::string_view code, std::string_view message) {
  absl::Status s = absl::ResourceExhaustedError(AV(message));
  s.SetPayload(kQuotaPayload, absl::Cord(AV(code)));
  return s;
}

absl::Status MaxSize(const Limits& limits) {
  return Quota("QUOTA/MAXSIZE",
               absl::StrCat("script larger than ", limits.sieve.max_script_size, " octets"));
}

// Decodes one UTF-8 character at s[i] (advancing i); false for malformed, overlong or
// surrogate sequences.
bool NextCodePoint(std::string_view s, size_t& i, uint32_t& cp) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  if (c < 0x80) {
    cp = c;
    n = 1;
  } else if ((c & 0xE0) == 0xC0) {
    cp = c & 0x1F;
    n = 2;
  } else if ((c & 0xF0) == 0xE0) {
    cp = c & 0x0F;
    n = 3;
  } else if ((c & 0xF8) == 0xF0) {
    cp = c & 0x07;
    n = 4;
  } else {
    return false;
  }
  if (i + n > s.size()) return false;
  for (size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (cc & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  i += n;
  return true;
}

absl::Status ValidText(std::string_view text) {
  int line = 1;
  for (size_t i = 0; i < text.size();) {
    uint32_t cp;
    if (!NextCodePoint(text, i, cp))
      return absl::InvalidArgumentError(absl::StrCat("line ", line, ": invalid UTF-8"));
    if (cp == 0) return absl::InvalidArgumentError(absl::StrCat("line ", line, ": NUL character"));
    if (cp == '\n') ++line;
  }
  return absl::OkStatus();
}

// Serialises the changes of one account (the script count and the one active script are
// checked, then written). Two-key advisory locks never collide with one-key ones.
void LockAccount(pqxx::work& tx, int64_t account_id) {
  tx.exec_params("SELECT pg_advisory_xact_lock(1397315141, ($1::bigint % 2147483647)::int)",
                 account_id);
}

bool Exists(pqxx::work& tx, int64_t account_id, std::string_view name) {
  return !tx.exec_params("SELECT 1 FROM sieve_scripts WHERE account_id = $1 AND name = $2",
                         account_id, std::string(name))
              .empty();
}

int64_t Count(pqxx::work& tx, int64_t account_id) {
  return tx.exec_params1("SELECT count(*) FROM sieve_scripts WHERE account_id = $1", account_id)[0]
      .as<int64_t>();
}

absl::Status NoSuchScript(std::string_view name) {
  return absl::NotFoundError(absl::StrCat("no script named \"", AV(name), "\""));
}

}  // namespace

const std::vector<std::string>& Extensions() { return sieve::Extensions(); }

absl::Status ValidateName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("the script name is empty");
  size_t chars = 0;
  for (size_t i = 0; i < name.size();) {
    uint32_t cp;
    if (!NextCodePoint(name, i, cp))
      return absl::InvalidArgumentError("the script name is not valid UTF-8");
    // RFC 5804 1.6 (Net-Unicode, RFC 5198): no C0/C1 controls, DEL, LINE/PARAGRAPH SEPARATOR.
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029) {
      return absl::InvalidArgumentError("the script name contains a control character");
    }
    if (++chars > kMaxNameLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("the script name is longer than ", kMaxNameLength, " characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status Check(std::string_view text, const Limits& limits) {
  if (text.size() > limits.sieve.max_script_size) return MaxSize(limits);
  if (auto s = ValidText(text); !s.ok()) return s;
  sieve::CompileError error;
  auto script = sieve::Compile(text, limits.sieve, &error);
  if (!script.ok()) return absl::InvalidArgumentError(error.ToString());
  return absl::OkStatus();
}

std::string QuotaCode(const absl::Status& status) {
  if (!absl::IsResourceExhausted(status)) return "";
  auto payload = status.GetPayload(kQuotaPayload);
  return payload ? std::string(*payload) : "";
}

absl::Status Put(store::Pool& pool, int64_t account_id, std::string_view name,
                 std::string_view text, const Limits& limits) {
  if (auto s = ValidateName(name); !s.ok()) return s;
  if (auto s = Check(text, limits); !s.ok()) return s;
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    LockAccount(tx, account_id);
    if (!Exists(tx, account_id, name) &&
        Count(tx, account_id) >= static_cast<int64_t>(limits.max_scripts)) {
      return Quota("QUOTA/MAXSCRIPTS",
                   absl::StrCat("at most ", limits.max_scripts, " scripts per account"));
    }
    tx.exec_params(
        "INSERT INTO sieve_scripts (account_id, name, script) VALUES ($1, $2, $3) "
        "ON CONFLICT (account_id, name) DO UPDATE SET script = EXCLUDED.script, updated_at = now()",
        account_id, std::string(name), std::string(text));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> Get(store::Pool& pool, int64_t account_id, std::string_view name) {
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<std::string> {
    auto r = tx.exec_params("SELECT script FROM sieve_scripts WHERE account_id = $1 AND name = $2",
                            account_id, std::string(name));
    if (r.empty()) return NoSuchScript(name);
    return r[0][0].as<std::string>();
  });
}

absl::StatusOr<std::vector<ScriptInfo>> List(store::Pool& pool, int64_t account_id) {
  return pool.Transact([&](pqxx::work& tx) {
    std::vector<ScriptInfo> out;
    auto r = tx.exec_params(
        "SELECT name, active, octet_length(script) FROM sieve_scripts WHERE account_id = $1 ORDER "
        "BY name COLLATE \"C\"",
        account_id);
    for (const auto& row : r)
      out.push_back({row[0].as<std::string>(), row[1].as<bool>(), row[2].as<int64_t>()});
    return out;
  });
}

absl::Status SetActive(store::Pool& pool, int64_t account_id, std::string_view name) {
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    LockAccount(tx, account_id);
    if (!name.empty() && !Exists(tx, account_id, name)) return NoSuchScript(name);
    tx.exec_params(
        "UPDATE sieve_scripts SET active = false WHERE account_id = $1 AND active AND name <> $2",
        account_id, std::string(name));
    if (!name.empty()) {
      tx.exec_params(
          "UPDATE sieve_scripts SET active = true WHERE account_id = $1 AND name = $2 AND NOT "
          "active",
          account_id, std::string(name));
    }
    return absl::OkStatus();
  });
}

absl::Status Delete(store::Pool& pool, int64_t account_id, std::string_view name) {
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    LockAccount(tx, account_id);
    auto r = tx.exec_params("SELECT active FROM sieve_scripts WHERE account_id = $1 AND name = $2",
                            account_id, std::string(name));
    if (r.empty()) return NoSuchScript(name);
    if (r[0][0].as<bool>()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "\"", AV(name), "\" is the active script: deactivate it or activate another first"));
    }
    tx.exec_params("DELETE FROM sieve_scripts WHERE account_id = $1 AND name = $2", account_id,
                   std::string(name));
    return absl::OkStatus();
  });
}

absl::Status Rename(store::Pool& pool, int64_t account_id, std::string_view from,
                    std::string_view to) {
  if (auto s = ValidateName(to); !s.ok()) return s;
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    LockAccount(tx, account_id);
    if (!Exists(tx, account_id, from)) return NoSuchScript(from);
    if (Exists(tx, account_id, to)) {
      return absl::AlreadyExistsError(
          absl::StrCat("a script named \"", AV(to), "\" already exists"));
    }
    tx.exec_params(
        "UPDATE sieve_scripts SET name = $3, updated_at = now() WHERE account_id = $1 AND name = "
        "$2",
        account_id, std::string(from), std::string(to));
    return absl::OkStatus();
  });
}

absl::Status HaveSpace(store::Pool& pool, int64_t account_id, std::string_view name, uint64_t size,
                       const Limits& limits) {
  if (auto s = ValidateName(name); !s.ok()) return s;
  if (size > limits.sieve.max_script_size) return MaxSize(limits);
  return pool.Transact([&](pqxx::work& tx) -> absl::Status {
    if (!Exists(tx, account_id, name) &&
        Count(tx, account_id) >= static_cast<int64_t>(limits.max_scripts)) {
      return Quota("QUOTA/MAXSCRIPTS",
                   absl::StrCat("at most ", limits.max_scripts, " scripts per account"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<ActiveScript>> GetActive(store::Pool& pool, int64_t account_id) {
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<std::optional<ActiveScript>> {
    auto r = tx.exec_params(
        "SELECT name, script FROM sieve_scripts WHERE account_id = $1 AND active", account_id);
    if (r.empty()) return std::optional<ActiveScript>();
    return std::optional<ActiveScript>(
        ActiveScript{r[0][0].as<std::string>(), r[0][1].as<std::string>()});
  });
}

}  // namespace kite::sievestore
