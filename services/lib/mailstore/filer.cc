#include "lib/mailstore/filer.h"

#include <openssl/sha.h>

#include "absl/strings/str_cat.h"
#include "lib/mailstore/internal.h"

namespace kite::mailstore {

std::string Sha256(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

int64_t StoreBodyTx(pqxx::work& tx, std::string_view sha256, std::string_view body, std::string_view structure,
                    const SearchColumns& search) {
  const pqxx::binarystring sha(sha256.data(), sha256.size());
  const auto size = static_cast<int64_t>(body.size());
  auto found = tx.exec_params("SELECT id FROM messages WHERE sha256 = $1 AND size = $2 LIMIT 1", sha, size);
  if (!found.empty()) return found[0][0].as<int64_t>();
  return tx.exec_params(
               "INSERT INTO messages(sha256, size, body, structure, search_fields, search_header, search_text) "
               "VALUES ($1, $2, $3, $4, NULLIF($5, '')::text[], CASE WHEN $6 THEN $7 END, CASE WHEN $8 THEN $9 END) "
               "RETURNING id",
               sha, size, pqxx::binarystring(body.data(), body.size()),
               pqxx::binarystring(structure.data(), structure.size()), search.fields, search.header.has_value(),
               search.header.value_or(""), search.text.has_value(), search.text.value_or(""))[0][0]
      .as<int64_t>();
}

std::set<std::string> Filer::MailboxNames(int64_t account_id) {
  std::set<std::string> names;
  for (const auto& r : tx_.exec_params("SELECT name FROM mailboxes WHERE account_id = $1", account_id)) {
    names.insert(r[0].as<std::string>());
  }
  return names;
}

bool Filer::EnsureMailbox(int64_t account_id, const std::string& name, const std::string& special_use) {
  static const std::string sql =
      absl::StrCat("INSERT INTO mailboxes(account_id, name, uidvalidity, special_use) VALUES ($1, $2, ",
                   kNewUidValidity, ", NULLIF($3, '')) ON CONFLICT (account_id, name) DO NOTHING RETURNING id");
  bool created = !tx_.exec_params(sql, account_id, name, special_use).empty();
  if (created) {
    // A subscription the name kept after an earlier DELETE becomes the mailbox's.
    tx_.exec_params(
        "WITH adopted AS (DELETE FROM subscriptions s WHERE s.account_id = $1 AND s.name = $2 RETURNING s.name) "
        "UPDATE mailboxes SET subscribed = true WHERE account_id = $1 AND name IN (SELECT name FROM adopted)",
        account_id, name);
  }
  return created;
}

std::string Filer::JunkMailbox(int64_t account_id) {
  auto junk = tx_.exec_params(
      "SELECT name FROM mailboxes WHERE account_id = $1 AND special_use = '\\Junk' ORDER BY id LIMIT 1", account_id);
  if (!junk.empty()) return junk[0][0].as<std::string>();
  // No \Junk mailbox: use one named Junk, or create it (RFC 6154 special-use \Junk).
  EnsureMailbox(account_id, "Junk", "\\Junk");
  return "Junk";
}

int64_t Filer::BodyFromSpool(int64_t spool_id, std::string_view sha256, int64_t size, std::string_view structure,
                             const SearchColumns& search) {
  const pqxx::binarystring sha(sha256.data(), sha256.size());
  auto found = tx_.exec_params("SELECT id FROM messages WHERE sha256 = $1 AND size = $2 LIMIT 1", sha, size);
  // Bodies stored before migration 0010 keep a NULL structure: readers parse those.
  if (!found.empty()) return found[0][0].as<int64_t>();
  return tx_.exec_params(
               "INSERT INTO messages(sha256, size, body, structure, search_fields, search_header, search_text) "
               "SELECT $2, size, body, $3, NULLIF($4, '')::text[], CASE WHEN $5 THEN $6 END, CASE WHEN $7 THEN $8 END "
               "FROM spool WHERE id = $1 RETURNING id",
               spool_id, sha, pqxx::binarystring(structure.data(), structure.size()), search.fields,
               search.header.has_value(), search.header.value_or(""), search.text.has_value(),
               search.text.value_or(""))[0][0]
      .as<int64_t>();
}

int64_t Filer::StoreBody(std::string_view body, std::string_view structure, const SearchColumns& search) {
  return StoreBodyTx(tx_, Sha256(body), body, structure, search);
}

Filer::Usage Filer::LockQuota(int64_t account_id) {
  auto q = tx_.exec_params(
      "INSERT INTO quota_usage(account_id) VALUES ($1) ON CONFLICT (account_id) DO UPDATE "
      "SET bytes = quota_usage.bytes RETURNING bytes, warned",
      account_id);
  return Usage{q[0][0].as<int64_t>(), q[0][1].as<bool>()};
}

void Filer::AddUsage(int64_t account_id, int64_t bytes, int64_t messages, bool warned) {
  tx_.exec_params("UPDATE quota_usage SET bytes = bytes + $2, messages = messages + $3, warned = $4 WHERE account_id = $1",
                  account_id, bytes, messages, warned);
}

std::optional<Filer::Filed> Filer::File(int64_t account_id, const std::string& mailbox, bool create,
                                        const std::vector<std::string>& flags, int64_t message_id, int64_t size) {
  auto insert = [&] {
    return tx_.exec_params(
        "WITH mb AS (UPDATE mailboxes SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1 "
        "WHERE account_id = $1 AND name = $2 RETURNING id, uidnext - 1 AS uid, highest_modseq) "
        "INSERT INTO mailbox_entries(account_id, mailbox_id, uid, message_id, modseq, internal_date, size, flags) "
        "SELECT $1, id, uid, $3, highest_modseq, now(), $4, $5::text[] FROM mb RETURNING mailbox_id, uid, modseq",
        account_id, mailbox, message_id, size, TextArrayLiteral(flags));
  };
  auto r = insert();
  if (r.empty() && create) {
    EnsureMailbox(account_id, mailbox);
    r = insert();
  }
  if (r.empty()) return std::nullopt;
  return Filed{account_id, r[0][0].as<int64_t>(), r[0][1].as<int64_t>(), r[0][2].as<int64_t>(), mailbox};
}

}  // namespace kite::mailstore
