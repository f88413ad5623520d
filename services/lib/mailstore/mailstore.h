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
  bool subscribed = true;
};

absl::StatusOr<std::vector<MailboxInfo>> ListMailboxes(store::Pool& pool, int64_t account_id);
absl::StatusOr<std::optional<MailboxInfo>> GetMailbox(store::Pool& pool, int64_t account_id, const std::string& name);
// GetMailbox without counting the entries (exists is 0): what IMAP needs to resolve a name
// before SELECT, STATUS or APPEND, which count on their own when they need to.
absl::StatusOr<std::optional<MailboxInfo>> FindMailbox(store::Pool& pool, int64_t account_id, const std::string& name);

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
struct OpenedMailbox {
  bool exists = true;  // false: no such mailbox (deleted)
  int64_t highest_modseq = 0;
  int64_t uidnext = 0;
  int64_t recent_uid = 0;      // the \Recent watermark (ClaimRecent)
  std::vector<Entry> entries;  // UID order, each with modseq <= highest_modseq
};
// SELECT: the mailbox's HIGHESTMODSEQ, UIDNEXT and entries from one snapshot, in one round
// trip; changes after it come through ChangesSince(highest_modseq).
absl::StatusOr<OpenedMailbox> OpenMailbox(store::Pool& pool, int64_t account_id, int64_t mailbox_id);
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

// --- Changes made by IMAP and POP3 (mailbox_ops.cc). Every function is one transaction;
// MODSEQ and UID allocation take the mailbox row lock, so a reader that sees a mailbox's
// highest_modseq H sees every change with a MODSEQ <= H (ChangesSince relies on it).

// CREATE (RFC 3501 6.3.3): AlreadyExists when the name is taken. UIDVALIDITY is larger than
// that of every mailbox the account has or had (uidvalidity_floors keeps the deleted ones),
// so a deleted and re-created name never repeats one. A subscription the name kept after an
// earlier DELETE becomes the new mailbox's.
absl::StatusOr<MailboxInfo> CreateMailbox(store::Pool& pool, int64_t account_id, const std::string& name,
                                          const std::string& special_use = "");
// DELETE: removes the mailbox and its entries (quota usage lowered); NotFound; INBOX is
// FailedPrecondition. Mailboxes below it are kept (they are mailboxes of their own). A
// subscribed mailbox's subscription survives it, by name (RFC 3501 6.3.6, RFC 5258 3.1).
absl::Status DeleteMailbox(store::Pool& pool, int64_t account_id, const std::string& name);
// RENAME: the mailbox and every mailbox below it ("a" -> "b" takes "a/x" to "b/x"), keeping
// their UIDVALIDITY. Renaming INBOX moves its messages into the new mailbox and leaves an
// empty INBOX (with a new UIDVALIDITY). NotFound / AlreadyExists.
absl::Status RenameMailbox(store::Pool& pool, int64_t account_id, const std::string& from, const std::string& to);
// SUBSCRIBE / UNSUBSCRIBE. Subscribing needs the mailbox, or a subscription the name kept
// after its mailbox was deleted (else NotFound); unsubscribing a name that has neither is
// NotFound too.
absl::Status SetSubscribed(store::Pool& pool, int64_t account_id, const std::string& name, bool subscribed);
// The subscribed names that no mailbox has (deleted or renamed away since), sorted.
absl::StatusOr<std::vector<std::string>> ListLostSubscriptions(store::Pool& pool, int64_t account_id);

// \Recent (RFC 3501 2.3.2) through the mailbox's recent watermark: returns the watermark as
// it was and, with up_to_uid > 0, raises it to up_to_uid in the same step (row lock), so of
// several sessions exactly one gets each UID above the old value. A SELECTed session passes
// the newest UID it shows; EXAMINE passes 0 (it must not take \Recent away, RFC 3501 6.3.2).
// NotFound when the mailbox is gone.
absl::StatusOr<int64_t> ClaimRecent(store::Pool& pool, int64_t account_id, int64_t mailbox_id, int64_t up_to_uid);

struct MailboxCounts {
  int64_t messages = 0;
  int64_t unseen = 0;
  int64_t deleted = 0;
  int64_t size = 0;  // octets (STATUS SIZE, RFC 9208)
  int64_t recent = 0;  // above the recent watermark: \Recent for the next SELECT
};
// STATUS counts in one query (no entry list in memory).
absl::StatusOr<MailboxCounts> CountMailbox(store::Pool& pool, int64_t account_id, int64_t mailbox_id);

struct QuotaInfo {
  int64_t limit_bytes = 0;  // 0 = unlimited
  int64_t used_bytes = 0;
  int64_t messages = 0;
};
absl::StatusOr<QuotaInfo> GetQuota(store::Pool& pool, int64_t account_id);

struct AppendResult {
  int64_t mailbox_id = 0;
  int64_t uidvalidity = 0;
  int64_t uid = 0;
  int64_t modseq = 0;
};
// APPEND (RFC 3501 6.3.11): stores `body` (once, shared with identical bodies, with its MIME
// structure) as a new entry with `flags` and `internal_date` (unix seconds). NotFound for a
// missing mailbox (the session answers [TRYCREATE]); ResourceExhausted when it would pass the
// account's quota ([OVERQUOTA]).
absl::StatusOr<AppendResult> Append(store::Pool& pool, int64_t account_id, int64_t mailbox_id,
                                    const std::string& body, const std::vector<std::string>& flags,
                                    int64_t internal_date);

struct CopyResult {
  int64_t uidvalidity = 0;             // of the destination
  std::vector<int64_t> source_uids;    // those that still existed, ascending
  std::vector<int64_t> dest_uids;      // their new UIDs, in the same order
  int64_t source_modseq = 0;           // MOVE: the MODSEQ of the expunge
};
// COPY / MOVE (RFC 3501 6.4.7, RFC 6851): the entries with these UIDs that still exist, in
// UID order, to another mailbox (possibly another account's: shared mailboxes), keeping flags
// and internal date; the bodies are shared, not copied. `move` expunges the sources in the
// same transaction. NotFound (destination), ResourceExhausted (destination quota).
absl::StatusOr<CopyResult> Copy(store::Pool& pool, int64_t source_account, int64_t source_mailbox,
                                const std::vector<int64_t>& uids, int64_t dest_account, int64_t dest_mailbox,
                                bool move);

struct ExpungeResult {
  std::vector<int64_t> uids;  // those actually removed, ascending
  int64_t modseq = 0;         // the MODSEQ recorded for them (0 when none)
};
// Removes the entries with these UIDs that still exist, records them in mailbox_expunges with
// a new MODSEQ (QRESYNC VANISHED), lowers quota usage, and drops bodies nothing refers to any
// more. Idempotent: UIDs already gone are ignored.
absl::StatusOr<ExpungeResult> Expunge(store::Pool& pool, int64_t account_id, int64_t mailbox_id,
                                      const std::vector<int64_t>& uids);

struct Changes {
  int64_t highest_modseq = 0;    // of the mailbox, read first
  int64_t uidnext = 0;
  std::vector<Entry> changed;    // entries with since < modseq <= highest_modseq, UID order
  std::vector<int64_t> expunged; // UIDs expunged with since < modseq <= highest_modseq, ascending
  bool exists = true;            // false: the mailbox was deleted
  int64_t recent_uid = 0;        // the mailbox's \Recent watermark (ClaimRecent), read with the head
};
struct FlagChange {
  int64_t uid = 0;
  std::vector<std::string> flags;  // after the change
  int64_t modseq = 0;
  bool changed = false;
};
struct StoreResult {
  std::vector<FlagChange> entries;  // every matched entry that exists, UID order
  std::vector<int64_t> modified;    // UNCHANGEDSINCE failed for these (RFC 7162 [MODIFIED])
};
// STORE over many entries in one transaction: the changed ones share one new MODSEQ. With
// unchanged_since > 0, an entry whose MODSEQ is higher is left alone and listed in
// `modified`.
absl::StatusOr<StoreResult> StoreFlagsMany(store::Pool& pool, int64_t account_id, int64_t mailbox_id,
                                           const std::vector<int64_t>& uids, FlagOp op,
                                           const std::vector<std::string>& flags, int64_t unchanged_since = 0);

struct StoredMessage {
  int64_t uid = 0;
  std::string body;       // when asked for (or when the structure is missing)
  std::string structure;  // lib/mime storage blob; "" when not stored (parse `body`)
};
// The bodies and/or stored MIME structures of entries, UID order; missing UIDs are left out.
absl::StatusOr<std::vector<StoredMessage>> LoadMessages(store::Pool& pool, int64_t account_id, int64_t mailbox_id,
                                                        const std::vector<int64_t>& uids, bool body, bool structure);

// The start of each entry's message that holds its header block (up to its first CRLF CRLF,
// or the whole message when there is none; mime::HeaderOf finds the header in it), UID order,
// in StoredMessage::body. For FETCH BODY[HEADER...], SEARCH on header fields and SORT: read
// from messages.header (migration 0015) when set, so neither the body nor its out-of-line
// storage is touched, and only the header crosses the wire.
absl::StatusOr<std::vector<StoredMessage>> LoadHeaders(store::Pool& pool, int64_t account_id, int64_t mailbox_id,
                                                       const std::vector<int64_t>& uids);

// messages.search_fields (migration 0016): lib/imap's StoredSearchFields (the values of From,
// To, Cc, Bcc and Subject as SEARCH reads them) as a text[] literal of text[] literals, for an
// INSERT parameter cast with NULLIF($n, '')::text[]. "" (stored as NULL: SEARCH reads the
// header instead) when a value cannot be PostgreSQL text: a NUL byte or invalid UTF-8.
std::string SearchFieldsLiteral(const std::vector<std::vector<std::string>>& fields);

struct StoredFields {
  int64_t uid = 0;
  bool present = false;  // false: stored before migration 0016, or not storable as text
  std::vector<std::vector<std::string>> fields;  // lib/imap's kStoredSearchFields order
};
// The stored search fields of these entries, UID order; missing UIDs are left out.
absl::StatusOr<std::vector<StoredFields>> LoadSearchFields(store::Pool& pool, int64_t account_id, int64_t mailbox_id,
                                                           const std::vector<int64_t>& uids);

// What changed in a mailbox after MODSEQ `since` (NOOP, IDLE, CONDSTORE, QRESYNC).
absl::StatusOr<Changes> ChangesSince(store::Pool& pool, int64_t account_id, int64_t mailbox_id, int64_t since);

}  // namespace kite::mailstore
