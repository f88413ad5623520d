// The mail store: the one owner of the mailbox rules (UID and MODSEQ allocation, flags and
// keywords, expunge and its change log, \Recent, subscriptions, quota). `MailStore` is the
// interface kite-imap and kite-pop3 call; PgMailStore (pg_mail_store.h) implements it on
// PostgreSQL, and tests/fakes/fake_mail_store.h in memory for unit tests. kite-delivery and
// lib/directory file mail and create mailboxes inside their own transactions through
// Filer (filer.h). No code outside this library reads or writes the mailbox tables.
//
// The rules, which both implementations keep (tests/lib/mailstore/rules_test.cc runs the
// same cases against each):
// - UIDs in a mailbox rise strictly and are never reused; UIDVALIDITY is larger than that of
//   every mailbox the account has or had, so a re-created name never repeats one.
// - Every change (new entry, flag change, expunge) takes a new MODSEQ from the mailbox; a
//   reader that sees HIGHESTMODSEQ H sees every change with a MODSEQ <= H.
// - An expunge is recorded (UID, MODSEQ) so ChangesSince reports it (QRESYNC VANISHED).
// - An entry keeps its stored message (message_id) through COPY and MOVE; every new entry
//   (delivery, APPEND, COPY, MOVE) gets the save date of that moment (RFC 8514).
// - Quota usage is exact: entries' sizes summed per account; APPEND and COPY refuse to
//   pass the limit.
//
// Bodies are stored once, addressed by SHA-256: many mailbox entries (several recipients
// of one message, later list members) point at one messages row.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kite::mime {
struct Message;
}
namespace kite::imap {
enum class TextField;  // lib/imap/search_text.h
}

namespace kite::mailstore {

struct MailboxInfo {
  int64_t id = 0;
  std::string name;
  std::string special_use;
  int64_t uidvalidity = 0;
  int64_t uidnext = 0;
  int64_t highest_modseq = 0;
  int64_t exists = 0;  // ListMailboxes counts; FindMailbox leaves 0
  bool subscribed = true;
  int64_t recent_uid = 0;  // FindMailbox only: the \Recent watermark (ClaimRecent), read with the head
};

struct Entry {
  int64_t uid = 0;
  int64_t message_id = 0;  // the stored message, kept by COPY and MOVE (IMAP EMAILID, RFC 8474)
  int64_t size = 0;
  int64_t modseq = 0;
  std::vector<std::string> flags;
  int64_t internal_date = 0;  // unix seconds
};

struct OpenedMailbox {
  bool exists = true;  // false: no such mailbox (deleted)
  int64_t highest_modseq = 0;
  int64_t uidnext = 0;
  int64_t recent_uid = 0;      // the \Recent watermark (ClaimRecent)
  std::vector<Entry> entries;  // UID order, each with modseq <= highest_modseq
};

struct MailboxCounts {
  int64_t messages = 0;
  int64_t unseen = 0;
  int64_t deleted = 0;
  int64_t size = 0;    // octets (STATUS SIZE, RFC 9208)
  int64_t recent = 0;  // above the recent watermark: \Recent for the next SELECT
};

struct QuotaInfo {
  int64_t limit_bytes = 0;  // 0 = unlimited
  int64_t used_bytes = 0;
  int64_t messages = 0;
};

struct AppendResult {
  int64_t mailbox_id = 0;
  int64_t uidvalidity = 0;
  int64_t uid = 0;
  int64_t modseq = 0;
};

struct CopyResult {
  int64_t uidvalidity = 0;           // of the destination
  std::vector<int64_t> source_uids;  // those that still existed, ascending
  std::vector<int64_t> dest_uids;    // their new UIDs, in the same order
  int64_t source_modseq = 0;         // MOVE: the MODSEQ of the expunge
};

struct ExpungeResult {
  std::vector<int64_t> uids;  // those actually removed, ascending
  int64_t modseq = 0;         // the MODSEQ recorded for them (0 when none)
};

struct Changes {
  int64_t highest_modseq = 0;     // of the mailbox, read first
  int64_t uidnext = 0;
  std::vector<Entry> changed;     // entries with since < modseq <= highest_modseq, UID order
  std::vector<int64_t> expunged;  // UIDs expunged with since < modseq <= highest_modseq, ascending
  bool exists = true;             // false: the mailbox was deleted
  int64_t recent_uid = 0;         // the mailbox's \Recent watermark (ClaimRecent), read with the head
};

enum class FlagOp { kReplace, kAdd, kRemove };

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

struct StoredMessage {
  int64_t uid = 0;
  std::string body;       // when asked for (or when the structure is missing)
  std::string structure;  // lib/mime storage blob; "" when not stored (parse `body`)
};

// When an entry was saved into its mailbox (RFC 8514): APPEND, COPY, MOVE or delivery.
struct SaveDate {
  int64_t uid = 0;
  std::optional<int64_t> saved;  // unix seconds; nullopt: stored before migration 0017
};

// One message of a MULTIAPPEND (RFC 3502).
struct AppendMessage {
  std::string body;
  std::vector<std::string> flags;
  int64_t internal_date = 0;  // unix seconds
};

struct StoredFields {
  int64_t uid = 0;
  bool present = false;  // false: stored before migration 0016, or not storable as text
  std::vector<std::vector<std::string>> fields;  // lib/imap's kStoredSearchFields order
};

// A METADATA entry (RFC 5464): the name normalized by lib/imap (lower-case, "/private/..." or
// "/shared/..."); in SetMetadata, no value removes the entry.
struct MetadataEntry {
  std::string name;
  std::optional<std::string> value;
};

// One text key of SEARCH for SearchText: `field` contains `value`, the client's string, as
// lib/imap compares (its FoldCase on both sides; decoded header values; decoded text parts).
struct TextCriterion {
  imap::TextField field;
  std::string value;
};
struct TextMatch {
  int64_t uid = 0;
  uint64_t matched = 0;  // bit i: criteria[i] matched
};
struct TextSearchResult {
  std::vector<TextMatch> matches;  // entries where at least one criterion matched, UID order
  // Entries stored without the search text the criteria need (before migration 0019, larger
  // than lib/imap's bound, or not storable as text), ascending: the caller reads them itself.
  std::vector<int64_t> unknown;
};

// Every call touches one account (Copy: two) and is atomic: it happens whole or not at all.
// Errors: NotFound (no such mailbox or message), AlreadyExists, FailedPrecondition,
// ResourceExhausted (quota), Unavailable/Internal (the store failed).
class MailStore {
 public:
  virtual ~MailStore() = default;

  // --- Mailboxes

  // Every mailbox of the account with its entry count, by name.
  virtual absl::StatusOr<std::vector<MailboxInfo>> ListMailboxes(int64_t account_id) = 0;
  // One mailbox by name, without counting its entries (exists is 0): what IMAP needs to
  // resolve a name before SELECT, STATUS or APPEND, which count on their own when they need to.
  // Its head (UIDNEXT, HIGHESTMODSEQ, \Recent watermark) is read in the same step, so a SELECT
  // whose cached entries are at that HIGHESTMODSEQ needs nothing more.
  virtual absl::StatusOr<std::optional<MailboxInfo>> FindMailbox(int64_t account_id, const std::string& name) = 0;
  // CREATE (RFC 3501 6.3.3): AlreadyExists when the name is taken. UIDVALIDITY is larger than
  // that of every mailbox the account has or had, so a deleted and re-created name never
  // repeats one. A subscription the name kept after an earlier DELETE becomes the new
  // mailbox's.
  virtual absl::StatusOr<MailboxInfo> CreateMailbox(int64_t account_id, const std::string& name,
                                                    const std::string& special_use = "") = 0;
  // DELETE: removes the mailbox and its entries (quota usage lowered); NotFound; INBOX is
  // FailedPrecondition. Mailboxes below it are kept (they are mailboxes of their own). A
  // subscribed mailbox's subscription survives it, by name (RFC 3501 6.3.6, RFC 5258 3.1).
  virtual absl::Status DeleteMailbox(int64_t account_id, const std::string& name) = 0;
  // RENAME: the mailbox and every mailbox below it ("a" -> "b" takes "a/x" to "b/x"), keeping
  // their UIDVALIDITY. Renaming INBOX moves its messages into the new mailbox and leaves an
  // empty INBOX (with a new UIDVALIDITY). NotFound / AlreadyExists.
  virtual absl::Status RenameMailbox(int64_t account_id, const std::string& from, const std::string& to) = 0;
  // SUBSCRIBE / UNSUBSCRIBE. Subscribing needs the mailbox, or a subscription the name kept
  // after its mailbox was deleted (else NotFound); unsubscribing a name that has neither is
  // NotFound too.
  virtual absl::Status SetSubscribed(int64_t account_id, const std::string& name, bool subscribed) = 0;
  // The subscribed names that no mailbox has (deleted or renamed away since), sorted.
  virtual absl::StatusOr<std::vector<std::string>> ListLostSubscriptions(int64_t account_id) = 0;
  // STATUS counts (no entry list in memory); all zero when the mailbox is gone.
  virtual absl::StatusOr<MailboxCounts> CountMailbox(int64_t account_id, int64_t mailbox_id) = 0;
  virtual absl::StatusOr<QuotaInfo> GetQuota(int64_t account_id) = 0;

  // --- Reading a mailbox

  // SELECT: the mailbox's HIGHESTMODSEQ, UIDNEXT and entries (UID order) from one snapshot;
  // changes after it come through ChangesSince(highest_modseq).
  virtual absl::StatusOr<OpenedMailbox> OpenMailbox(int64_t account_id, int64_t mailbox_id) = 0;
  // What changed after MODSEQ `since` (NOOP, IDLE, CONDSTORE, QRESYNC): the head first, then
  // the entries and expunges with since < MODSEQ <= head.
  virtual absl::StatusOr<Changes> ChangesSince(int64_t account_id, int64_t mailbox_id, int64_t since) = 0;
  // \Recent (RFC 3501 2.3.2) through the mailbox's recent watermark: returns the watermark as
  // it was and, with up_to_uid > 0, raises it to up_to_uid in the same step, so of several
  // sessions exactly one gets each UID above the old value. A SELECTed session passes the
  // newest UID it shows; EXAMINE passes 0 (it must not take \Recent away, RFC 3501 6.3.2).
  // NotFound when the mailbox is gone.
  virtual absl::StatusOr<int64_t> ClaimRecent(int64_t account_id, int64_t mailbox_id, int64_t up_to_uid) = 0;
  // The bodies and/or stored MIME structures of entries, UID order; missing UIDs are left out.
  virtual absl::StatusOr<std::vector<StoredMessage>> LoadMessages(int64_t account_id, int64_t mailbox_id,
                                                                  const std::vector<int64_t>& uids, bool body,
                                                                  bool structure) = 0;
  // The start of each entry's message that holds its header block (up to its first CRLF CRLF,
  // or the whole message when there is none; mime::HeaderOf finds the header in it), UID
  // order, in StoredMessage::body: FETCH BODY[HEADER...], SEARCH on header fields and SORT,
  // without touching the body.
  virtual absl::StatusOr<std::vector<StoredMessage>> LoadHeaders(int64_t account_id, int64_t mailbox_id,
                                                                 const std::vector<int64_t>& uids) = 0;
  // The search fields stored with each entry's message, UID order; missing UIDs left out.
  virtual absl::StatusOr<std::vector<StoredFields>> LoadSearchFields(int64_t account_id, int64_t mailbox_id,
                                                                     const std::vector<int64_t>& uids) = 0;
  // Text SEARCH in the store (migration 0019): for the entries with these UIDs (nullopt:
  // every entry), which criteria match. Entries in neither list of the result matched none.
  // At most 64 criteria; InvalidArgument when a value does not fold to storable text
  // (lib/imap's StoreTextLeaves leaves those to the caller).
  virtual absl::StatusOr<TextSearchResult> SearchText(int64_t account_id, int64_t mailbox_id,
                                                      const std::optional<std::vector<int64_t>>& uids,
                                                      const std::vector<TextCriterion>& criteria) = 0;

  // The save dates of entries, UID order; missing UIDs left out.
  virtual absl::StatusOr<std::vector<SaveDate>> LoadSaveDates(int64_t account_id, int64_t mailbox_id,
                                                              const std::vector<int64_t>& uids) = 0;

  // --- Changing a mailbox

  // APPEND (RFC 3501 6.3.11): stores `body` (once, shared with identical bodies, with its MIME
  // structure and search fields) as a new entry with `flags` and `internal_date` (unix
  // seconds). NotFound for a missing mailbox (the session answers [TRYCREATE]);
  // ResourceExhausted when it would pass the account's quota ([OVERQUOTA]).
  virtual absl::StatusOr<AppendResult> Append(int64_t account_id, int64_t mailbox_id, const std::string& body,
                                              const std::vector<std::string>& flags, int64_t internal_date) = 0;
  // MULTIAPPEND (RFC 3502): every message, in order, as Append would store it, with
  // consecutive UIDs and one MODSEQ, or none of them (an error leaves the mailbox as it was).
  // The quota is checked against their total. One result per message, in order.
  virtual absl::StatusOr<std::vector<AppendResult>> AppendMany(int64_t account_id, int64_t mailbox_id,
                                                               const std::vector<AppendMessage>& messages) = 0;
  // COPY / MOVE (RFC 3501 6.4.7, RFC 6851): the entries with these UIDs that still exist, in
  // UID order, to another mailbox (possibly another account's: shared mailboxes), keeping
  // flags and internal date; bodies are shared, not copied. `move` expunges the sources in
  // the same step. NotFound (destination), ResourceExhausted (destination quota).
  virtual absl::StatusOr<CopyResult> Copy(int64_t source_account, int64_t source_mailbox,
                                          const std::vector<int64_t>& uids, int64_t dest_account,
                                          int64_t dest_mailbox, bool move) = 0;
  // Removes the entries with these UIDs that still exist, records them with a new MODSEQ
  // (QRESYNC VANISHED), lowers quota usage, and drops bodies nothing refers to any more.
  // Idempotent: UIDs already gone are ignored.
  virtual absl::StatusOr<ExpungeResult> Expunge(int64_t account_id, int64_t mailbox_id,
                                                const std::vector<int64_t>& uids) = 0;
  // STORE (RFC 3501 6.4.6) over many entries: the changed ones share one new MODSEQ; an
  // entry whose flags do not change keeps its MODSEQ. With unchanged_since > 0, an entry
  // whose MODSEQ is higher is left alone and listed in `modified` (RFC 7162). Callers
  // validate the flags and decide which ones the user may change.
  virtual absl::StatusOr<StoreResult> StoreFlags(int64_t account_id, int64_t mailbox_id,
                                                 const std::vector<int64_t>& uids, FlagOp op,
                                                 const std::vector<std::string>& flags,
                                                 int64_t unchanged_since = 0) = 0;

  // --- METADATA (RFC 5464). mailbox_id 0 is the account's server entries. `user_id` is who
  // asks: they see the /shared entries and their own /private ones.

  // The entries `user_id` sees, by name. NotFound when the mailbox is gone.
  virtual absl::StatusOr<std::vector<MetadataEntry>> GetMetadata(int64_t account_id, int64_t mailbox_id,
                                                                 int64_t user_id) = 0;
  // Sets and removes entries, all or none. ResourceExhausted when the mailbox would then hold
  // more than `max_entries` entries for this user (its /shared ones and the user's /private
  // ones): RFC 5464's [METADATA TOOMANY]. NotFound when the mailbox is gone.
  virtual absl::Status SetMetadata(int64_t account_id, int64_t mailbox_id, int64_t user_id,
                                   const std::vector<MetadataEntry>& changes, size_t max_entries) = 0;
};

// STORE's rule for one entry: the flags after `op` with `flags` applied to `before` (kAdd
// keeps the order and appends what is new; kReplace takes `flags` without repeats), and
// whether that is a change (the same set in another order is not).
struct FlagOutcome {
  std::vector<std::string> flags;
  bool changed = false;
};
FlagOutcome ApplyFlagOp(const std::vector<std::string>& before, FlagOp op, const std::vector<std::string>& flags);

// messages.search_fields (migration 0016): lib/imap's StoredSearchFields (the values of From,
// To, Cc, Bcc and Subject as SEARCH reads them) as a text[] literal of text[] literals, for an
// INSERT parameter cast with NULLIF($n, '')::text[]. "" (stored as NULL: SEARCH reads the
// header instead) when a value cannot be PostgreSQL text: a NUL byte or invalid UTF-8.
std::string SearchFieldsLiteral(const std::vector<std::vector<std::string>>& fields);

// What SEARCH reads of a stored message instead of its bytes, computed once when it is stored
// (delivery, APPEND): messages.search_fields (migration 0016), search_header and search_text
// (migration 0019, lib/imap/search_text.h; nullopt stores NULL).
struct SearchColumns {
  std::string fields;  // SearchFieldsLiteral; "" stores NULL
  std::optional<std::string> header;
  std::optional<std::string> text;
};
SearchColumns ComputeSearchColumns(std::string_view body, const mime::Message& parsed);

}  // namespace kite::mailstore
