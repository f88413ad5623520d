// METADATA (RFC 5464) on PostgreSQL: table mailbox_metadata (migration 0018).
#include "absl/strings/str_cat.h"
#include "lib/mailstore/internal.h"
#include "lib/mailstore/pg_mail_store.h"

namespace kite::mailstore {

absl::StatusOr<std::vector<MetadataEntry>> PgMailStore::GetMetadata(int64_t account_id, int64_t mailbox_id,
                                                                     int64_t user_id) {
  return pool_.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<MetadataEntry>> {
    // The mailbox's existence and its entries in one statement: row kind 0 says it exists.
    auto rows = store::Prepared(
        tx, "mailstore_get_metadata",
        "SELECT 0, NULL, NULL WHERE $2 = 0 OR EXISTS (SELECT 1 FROM mailboxes WHERE account_id = $1 AND id = $2) "
        "UNION ALL SELECT 1, name, value FROM mailbox_metadata "
        "WHERE account_id = $1 AND mailbox_id = $2 AND (user_id = 0 OR user_id = $3) ORDER BY 1, 2",
        account_id, mailbox_id, user_id);
    if (rows.empty() || rows[0][0].as<int>() != 0) return absl::NotFoundError("no such mailbox");
    std::vector<MetadataEntry> out;
    for (size_t i = 1; i < rows.size(); ++i) {
      out.push_back(MetadataEntry{rows[i][1].as<std::string>(), pqxx::binarystring(rows[i][2]).str()});
    }
    return out;
  });
}

absl::Status PgMailStore::SetMetadata(int64_t account_id, int64_t mailbox_id, int64_t user_id,
                                      const std::vector<MetadataEntry>& changes, size_t max_entries) {
  return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    // The mailbox row lock orders this with DELETE of the mailbox (which removes its entries).
    if (mailbox_id != 0 &&
        tx.exec_params("SELECT 1 FROM mailboxes WHERE account_id = $1 AND id = $2 FOR UPDATE", account_id, mailbox_id)
            .empty()) {
      return absl::NotFoundError("no such mailbox");
    }
    for (const MetadataEntry& e : changes) {
      const int64_t owner = e.name.rfind("/private/", 0) == 0 ? user_id : 0;
      if (e.value) {
        tx.exec_params(
            "INSERT INTO mailbox_metadata(account_id, mailbox_id, user_id, name, value) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (account_id, mailbox_id, user_id, name) DO UPDATE SET value = EXCLUDED.value",
            account_id, mailbox_id, owner, e.name, pqxx::binarystring(e.value->data(), e.value->size()));
      } else {
        tx.exec_params(
            "DELETE FROM mailbox_metadata WHERE account_id = $1 AND mailbox_id = $2 AND user_id = $3 AND name = $4",
            account_id, mailbox_id, owner, e.name);
      }
    }
    const auto count = tx.exec_params(
                             "SELECT count(*) FROM mailbox_metadata WHERE account_id = $1 AND mailbox_id = $2 "
                             "AND (user_id = 0 OR user_id = $3)",
                             account_id, mailbox_id, user_id)[0][0]
                           .as<int64_t>();
    if (static_cast<size_t>(count) > max_entries) {
      return absl::ResourceExhaustedError(absl::StrCat("more than ", max_entries, " metadata entries"));
    }
    return absl::OkStatus();
  });
}

}  // namespace kite::mailstore
