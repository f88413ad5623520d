// An in-memory MailStore for unit tests of code that calls the mail store (IMAP views and
// snapshots, POP3, anything new). It keeps the same rules as PgMailStore (mailstore.h): the
// contract tests in tests/lib/mailstore/rules_test.cc run every case against both, so a
// test that passes on the fake means the same thing on PostgreSQL. Thread-safe (one mutex).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "lib/imap/search_text.h"
#include "lib/mailstore/mailstore.h"

namespace kite::testing {

class FakeMailStore final : public mailstore::MailStore {
 public:
  // An account with the default mailboxes (lib/directory's kDefaultMailboxes) and a quota
  // (0 = unlimited), as lib/directory's CreateAccount makes it.
  void AddAccount(int64_t account_id, int64_t quota_bytes = 0);

  absl::StatusOr<std::vector<mailstore::MailboxInfo>> ListMailboxes(int64_t account_id) override;
  absl::StatusOr<std::optional<mailstore::MailboxInfo>> FindMailbox(int64_t account_id,
                                                                    const std::string& name) override;
  absl::StatusOr<mailstore::MailboxInfo> CreateMailbox(int64_t account_id, const std::string& name,
                                                       const std::string& special_use = "") override;
  absl::Status DeleteMailbox(int64_t account_id, const std::string& name) override;
  absl::Status RenameMailbox(int64_t account_id, const std::string& from, const std::string& to) override;
  absl::Status SetSubscribed(int64_t account_id, const std::string& name, bool subscribed) override;
  absl::StatusOr<std::vector<std::string>> ListLostSubscriptions(int64_t account_id) override;
  absl::StatusOr<mailstore::MailboxCounts> CountMailbox(int64_t account_id, int64_t mailbox_id) override;
  absl::StatusOr<mailstore::QuotaInfo> GetQuota(int64_t account_id) override;

  absl::StatusOr<mailstore::OpenedMailbox> OpenMailbox(int64_t account_id, int64_t mailbox_id) override;
  absl::StatusOr<mailstore::Changes> ChangesSince(int64_t account_id, int64_t mailbox_id, int64_t since) override;
  absl::StatusOr<int64_t> ClaimRecent(int64_t account_id, int64_t mailbox_id, int64_t up_to_uid) override;
  absl::StatusOr<std::vector<mailstore::StoredMessage>> LoadMessages(int64_t account_id, int64_t mailbox_id,
                                                                     const std::vector<int64_t>& uids, bool body,
                                                                     bool structure) override;
  absl::StatusOr<std::vector<mailstore::StoredMessage>> LoadHeaders(int64_t account_id, int64_t mailbox_id,
                                                                    const std::vector<int64_t>& uids) override;
  absl::StatusOr<std::vector<mailstore::StoredFields>> LoadSearchFields(int64_t account_id, int64_t mailbox_id,
                                                                        const std::vector<int64_t>& uids) override;
  absl::StatusOr<std::vector<mailstore::SaveDate>> LoadSaveDates(int64_t account_id, int64_t mailbox_id,
                                                                 const std::vector<int64_t>& uids) override;

  absl::StatusOr<mailstore::AppendResult> Append(int64_t account_id, int64_t mailbox_id, const std::string& body,
                                                 const std::vector<std::string>& flags,
                                                 int64_t internal_date) override;
  absl::StatusOr<std::vector<mailstore::AppendResult>> AppendMany(
      int64_t account_id, int64_t mailbox_id, const std::vector<mailstore::AppendMessage>& messages) override;
  absl::StatusOr<mailstore::CopyResult> Copy(int64_t source_account, int64_t source_mailbox,
                                             const std::vector<int64_t>& uids, int64_t dest_account,
                                             int64_t dest_mailbox, bool move) override;
  absl::StatusOr<mailstore::ExpungeResult> Expunge(int64_t account_id, int64_t mailbox_id,
                                                   const std::vector<int64_t>& uids) override;
  absl::StatusOr<mailstore::StoreResult> StoreFlags(int64_t account_id, int64_t mailbox_id,
                                                    const std::vector<int64_t>& uids, mailstore::FlagOp op,
                                                    const std::vector<std::string>& flags,
                                                    int64_t unchanged_since = 0) override;
  absl::StatusOr<std::vector<mailstore::MetadataEntry>> GetMetadata(int64_t account_id, int64_t mailbox_id,
                                                                    int64_t user_id) override;
  absl::Status SetMetadata(int64_t account_id, int64_t mailbox_id, int64_t user_id,
                           const std::vector<mailstore::MetadataEntry>& changes, size_t max_entries) override;

  absl::StatusOr<mailstore::TextSearchResult> SearchText(int64_t account_id, int64_t mailbox_id,
                                                         const std::optional<std::vector<int64_t>>& uids,
                                                         const std::vector<mailstore::TextCriterion>& criteria) override;

  // Failure injection: every call fails with this status until it is cleared (OkStatus).
  void FailWith(absl::Status status);
  // The entry's message as stored before migration 0019: no search text (SearchText reports
  // it unknown).
  void DropSearchText(int64_t account_id, int64_t mailbox_id, int64_t uid);

 private:
  struct Message {
    std::string body;
    imap::StoredSearchText search;  // lib/imap/search_text.h, computed when stored
  };
  struct Mailbox {
    int64_t id = 0;
    std::string name;
    std::string special_use;
    int64_t uidvalidity = 0;
    int64_t uidnext = 1;
    int64_t highest_modseq = 0;
    int64_t recent_uid = 0;
    bool subscribed = true;
    std::map<int64_t, mailstore::Entry> entries;  // by UID
    std::map<int64_t, int64_t> expunged;          // UID -> MODSEQ
    std::map<std::pair<int64_t, std::string>, std::string> metadata;  // (user id or 0, name) -> value
    std::map<int64_t, int64_t> saved;             // UID -> save date (unix seconds, real clock)
  };
  struct Account {
    int64_t quota_bytes = 0;
    int64_t used_bytes = 0;
    int64_t messages = 0;
    int64_t uidvalidity_floor = 0;       // the largest UIDVALIDITY of a deleted mailbox
    std::set<std::string> lost_subscriptions;
    std::map<std::pair<int64_t, std::string>, std::string> server_metadata;  // mailbox id 0
    std::map<int64_t, Mailbox> mailboxes;  // by id
  };

  Account* FindAccount(int64_t account_id);
  Mailbox* FindBox(int64_t account_id, int64_t mailbox_id);
  Mailbox* FindBoxByName(Account& a, const std::string& name);
  int64_t NewUidValidity(const Account& a) const;
  Mailbox& AddMailbox(Account& a, const std::string& name, const std::string& special_use);
  static mailstore::MailboxInfo Info(const Mailbox& m, bool count);
  // Every mailbox that now has a name a lost subscription kept takes it over.
  static void AdoptLostSubscriptions(Account& a);
  int64_t StoreBody(const std::string& body);
  // The metadata of a mailbox (mailbox id 0: the account's server entries); null when gone.
  std::map<std::pair<int64_t, std::string>, std::string>* MetadataOf(int64_t account_id, int64_t mailbox_id);
  absl::StatusOr<std::vector<mailstore::AppendResult>> AppendLocked(int64_t account_id, int64_t mailbox_id,
                                                                    const std::vector<mailstore::AppendMessage>& messages);
  // Calls fn(uid, raw message) for each entry of these UIDs that exists, ascending.
  template <typename Fn>
  void ForEachEntry(int64_t account_id, int64_t mailbox_id, const std::vector<int64_t>& uids, Fn fn);

  std::mutex mu_;
  absl::Status fail_;
  std::map<int64_t, Account> accounts_;
  std::map<int64_t, Message> messages_;  // by message id (bodies are shared, as in PostgreSQL)
  int64_t next_mailbox_id_ = 1;
  int64_t next_message_id_ = 1;
  int64_t clock_ = 1700000000;  // UIDVALIDITY source: a clock that never repeats
};

}  // namespace kite::testing
