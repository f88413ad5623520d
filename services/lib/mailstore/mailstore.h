// Mailboxes in PostgreSQL: final delivery from the spool (exactly once per spool id and
// recipient) and the reads IMAP needs. Every query touches one account.
//
// Bodies are stored once, addressed by SHA-256: many mailbox entries (several recipients
// of one message, later list members) point at one messages row.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/store/pool.h"

namespace kite::mailstore {

struct DeliverResult {
  bool duplicate = false;  // (spool id, recipient) was delivered before: nothing changed
  int64_t mailbox_id = 0;
  int64_t uid = 0;
  int64_t modseq = 0;
  std::string mailbox;       // where it was filed
  bool quarantined = false;  // the spool row was marked by DMARC quarantine: filed into Junk
};

// In one transaction: claims (spool_id, recipient) in `deliveries`, stores the body once,
// appends it to the account's `mailbox` with the next UID and MODSEQ, updates quota usage,
// and marks the spool recipient delivered (deleting the spool row once every recipient is
// done). A conflict on the claim means a redelivered queue entry: a no-op. A spool row marked
// quarantine (DMARC, migration 0009) delivered to INBOX goes to the account's Junk mailbox
// instead (JunkMailboxTx).
absl::StatusOr<DeliverResult> DeliverFromSpool(store::Pool& pool, int64_t spool_id, const std::string& recipient,
                                               int64_t account_id, const std::string& mailbox = "INBOX");

// The name of the account's \Junk special-use mailbox (RFC 6154); when there is none, a
// mailbox named "Junk" (created with \Junk if missing).
std::string JunkMailboxTx(pqxx::work& tx, int64_t account_id);

struct MailboxInfo {
  int64_t id = 0;
  std::string name;
  std::string special_use;
  int64_t uidvalidity = 0;
  int64_t uidnext = 0;
  int64_t highest_modseq = 0;
  int64_t exists = 0;
};

absl::StatusOr<std::vector<MailboxInfo>> ListMailboxes(store::Pool& pool, int64_t account_id);
absl::StatusOr<std::optional<MailboxInfo>> GetMailbox(store::Pool& pool, int64_t account_id, const std::string& name);

struct Entry {
  int64_t uid = 0;
  int64_t message_id = 0;
  int64_t size = 0;
  int64_t modseq = 0;
  std::vector<std::string> flags;
  int64_t internal_date = 0;  // unix seconds
};

// Entries of a mailbox in UID order (the IMAP session's view at SELECT).
absl::StatusOr<std::vector<Entry>> ListEntries(store::Pool& pool, int64_t account_id, int64_t mailbox_id);
// The raw message; the caller proved the account holds it (an entry of its mailbox).
absl::StatusOr<std::string> GetBody(store::Pool& pool, int64_t account_id, int64_t mailbox_id, int64_t uid);
// Adds `flag` to an entry (no-op when present), bumping MODSEQ; returns the new flags.
absl::StatusOr<std::vector<std::string>> AddFlag(store::Pool& pool, int64_t account_id, int64_t mailbox_id,
                                                 int64_t uid, const std::string& flag);

// STORE (RFC 3501 6.4.6): replaces, adds or removes `flags` on an entry, bumping the
// mailbox's and the entry's MODSEQ only when the flags change; returns the new flags.
// Callers validate the flags (IsValidFlag) and decide which ones the user may change.
enum class FlagOp { kReplace, kAdd, kRemove };
absl::StatusOr<std::vector<std::string>> StoreFlags(store::Pool& pool, int64_t account_id, int64_t mailbox_id,
                                                    int64_t uid, FlagOp op, const std::vector<std::string>& flags);

}  // namespace kite::mailstore
