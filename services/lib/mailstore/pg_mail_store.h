// MailStore on PostgreSQL (schema: lib/store/migrations). Reads are single statements on
// Pool::Read (one round trip, no BEGIN/COMMIT), prepared once per connection; every change
// is one transaction (StoreFlags: one statement, Pool::WriteStatement).
//
// Locking order (Filer, used by kite-delivery, takes the same): quota_usage row, then the
// mailbox row(s) in ascending id, then entries. UID and MODSEQ come from the mailbox row
// under its lock, so commits of one mailbox are ordered by MODSEQ, and a reader that sees a
// mailbox's highest_modseq H sees every change with a MODSEQ <= H.
#pragma once

#include "lib/mailstore/mailstore.h"
#include "lib/store/pool.h"

namespace kite::mailstore {

struct PgMailStoreOptions {
  // false: StoreFlags commits with synchronous_commit = off (flag changes only; messages,
  // expunges and every other change stay durable). A crash of the PostgreSQL server can then
  // lose the flag changes of its last moments (up to 3 x wal_writer_delay, 0.6 s by default)
  // and reuse their MODSEQs (docs/configuration.md, imap.durable_flag_changes).
  bool durable_flag_changes = true;
};

class PgMailStore final : public MailStore {
 public:
  explicit PgMailStore(store::Pool& pool, PgMailStoreOptions options = {}) : pool_(pool), options_(options) {}

  absl::StatusOr<std::vector<MailboxInfo>> ListMailboxes(int64_t account_id) override;
  absl::StatusOr<std::optional<MailboxInfo>> FindMailbox(int64_t account_id, const std::string& name) override;
  absl::StatusOr<MailboxInfo> CreateMailbox(int64_t account_id, const std::string& name,
                                            const std::string& special_use = "") override;
  absl::Status DeleteMailbox(int64_t account_id, const std::string& name) override;
  absl::Status RenameMailbox(int64_t account_id, const std::string& from, const std::string& to) override;
  absl::Status SetSubscribed(int64_t account_id, const std::string& name, bool subscribed) override;
  absl::StatusOr<std::vector<std::string>> ListLostSubscriptions(int64_t account_id) override;
  absl::StatusOr<MailboxCounts> CountMailbox(int64_t account_id, int64_t mailbox_id) override;
  absl::StatusOr<QuotaInfo> GetQuota(int64_t account_id) override;

  absl::StatusOr<OpenedMailbox> OpenMailbox(int64_t account_id, int64_t mailbox_id) override;
  absl::StatusOr<Changes> ChangesSince(int64_t account_id, int64_t mailbox_id, int64_t since) override;
  absl::StatusOr<int64_t> ClaimRecent(int64_t account_id, int64_t mailbox_id, int64_t up_to_uid) override;
  absl::StatusOr<std::vector<StoredMessage>> LoadMessages(int64_t account_id, int64_t mailbox_id,
                                                          const std::vector<int64_t>& uids, bool body,
                                                          bool structure) override;
  absl::StatusOr<std::vector<StoredMessage>> LoadHeaders(int64_t account_id, int64_t mailbox_id,
                                                         const std::vector<int64_t>& uids) override;
  absl::StatusOr<std::vector<StoredFields>> LoadSearchFields(int64_t account_id, int64_t mailbox_id,
                                                             const std::vector<int64_t>& uids) override;
  absl::StatusOr<std::vector<SaveDate>> LoadSaveDates(int64_t account_id, int64_t mailbox_id,
                                                      const std::vector<int64_t>& uids) override;
  absl::StatusOr<TextSearchResult> SearchText(int64_t account_id, int64_t mailbox_id,
                                              const std::optional<std::vector<int64_t>>& uids,
                                              const std::vector<TextCriterion>& criteria) override;

  absl::StatusOr<AppendResult> Append(int64_t account_id, int64_t mailbox_id, const std::string& body,
                                      const std::vector<std::string>& flags, int64_t internal_date) override;
  absl::StatusOr<std::vector<AppendResult>> AppendMany(int64_t account_id, int64_t mailbox_id,
                                                       const std::vector<AppendMessage>& messages) override;
  absl::StatusOr<CopyResult> Copy(int64_t source_account, int64_t source_mailbox, const std::vector<int64_t>& uids,
                                  int64_t dest_account, int64_t dest_mailbox, bool move) override;
  absl::StatusOr<ExpungeResult> Expunge(int64_t account_id, int64_t mailbox_id,
                                        const std::vector<int64_t>& uids) override;
  absl::StatusOr<StoreResult> StoreFlags(int64_t account_id, int64_t mailbox_id, const std::vector<int64_t>& uids,
                                         FlagOp op, const std::vector<std::string>& flags,
                                         int64_t unchanged_since = 0) override;
  absl::StatusOr<std::vector<MetadataEntry>> GetMetadata(int64_t account_id, int64_t mailbox_id,
                                                         int64_t user_id) override;
  absl::Status SetMetadata(int64_t account_id, int64_t mailbox_id, int64_t user_id,
                           const std::vector<MetadataEntry>& changes, size_t max_entries) override;

 private:
  store::Pool& pool_;
  const PgMailStoreOptions options_;
};

}  // namespace kite::mailstore
