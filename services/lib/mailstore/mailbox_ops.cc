// Mailbox changes made by IMAP and POP3: create, delete, rename, subscribe, append, copy,
// move, expunge, and the change log CONDSTORE/QRESYNC and cross-replica IDLE read.
//
// Locking order (the delivery engine and the relay use the same): quota_usage row, then the
// mailbox row(s) in ascending id, then entries. UID and MODSEQ come from the mailbox row
// under its lock, so commits of one mailbox are ordered by MODSEQ.
#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/imap/mime_search_message.h"
#include "lib/mailstore/internal.h"
#include "lib/mailstore/pg_mail_store.h"
#include "lib/mime/message.h"

namespace kite::mailstore {
namespace {

// A mailbox now has a name that kept a subscription after an earlier DELETE: the mailbox
// takes the subscription over (one place per name: subscriptions only holds names without
// a mailbox).
void AdoptLostSubscriptionsTx(pqxx::work& tx, int64_t account_id) {
  tx.exec_params(
      "WITH adopted AS (DELETE FROM subscriptions s USING mailboxes m "
      "WHERE s.account_id = $1 AND m.account_id = $1 AND m.name = s.name RETURNING s.name) "
      "UPDATE mailboxes SET subscribed = true WHERE account_id = $1 AND name IN (SELECT name FROM adopted)",
      account_id);
}

std::string PgArray(const std::vector<int64_t>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&out, i ? "," : "", v[i]);
  out += "}";
  return out;
}

// encode(bytea, 'escape') back to bytes: "\\" is a backslash, "\ooo" (three octal digits) a
// byte, anything else itself (PostgreSQL's esc_encode writes only those two escapes).
absl::StatusOr<std::string> DecodeEscapedBytea(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t slash = text.find('\\', i);
    if (slash == std::string_view::npos) {
      out.append(text.data() + i, text.size() - i);
      break;
    }
    out.append(text.data() + i, slash - i);
    if (slash + 1 < text.size() && text[slash + 1] == '\\') {
      out += '\\';
      i = slash + 2;
      continue;
    }
    auto octal = [&](size_t k) { return k < text.size() && text[k] >= '0' && text[k] <= '7'; };
    if (!octal(slash + 1) || !octal(slash + 2) || !octal(slash + 3) || text[slash + 1] > '3') {
      return absl::InternalError("malformed escaped bytea from the store");
    }
    out += static_cast<char>(((text[slash + 1] - '0') << 6) | ((text[slash + 2] - '0') << 3) | (text[slash + 3] - '0'));
    i = slash + 4;
  }
  return out;
}

// Drops bodies nothing refers to any more, in a savepoint: a delivery reusing one of them at
// this moment makes the delete fail, which must not undo the caller's change.
void CollectBodies(pqxx::work& tx, const std::vector<int64_t>& message_ids) {
  if (message_ids.empty()) return;
  try {
    pqxx::subtransaction sub(tx, "gc");
    sub.exec_params(
        "DELETE FROM messages m WHERE m.id = ANY($1::bigint[]) "
        "AND NOT EXISTS (SELECT 1 FROM mailbox_entries e WHERE e.message_id = m.id)",
        PgArray(message_ids));
    sub.commit();
  } catch (const pqxx::sql_error&) {
    // Still referenced by a concurrent insert: kept.
  }
}

// Adds `bytes`/`messages` (may be negative) to the account's usage. With `check`, refuses to
// pass the quota (ResourceExhausted); the row is locked first so concurrent writers queue.
absl::Status ChargeQuota(pqxx::work& tx, int64_t account_id, int64_t bytes, int64_t messages, bool check) {
  tx.exec_params("INSERT INTO quota_usage(account_id) VALUES ($1) ON CONFLICT DO NOTHING", account_id);
  auto r = tx.exec_params(
      "SELECT q.bytes, a.quota_bytes FROM quota_usage q JOIN accounts a ON a.id = q.account_id "
      "WHERE q.account_id = $1 FOR UPDATE OF q",
      account_id);
  if (r.empty()) return absl::NotFoundError("no such account");
  int64_t used = r[0][0].as<int64_t>(), limit = r[0][1].as<int64_t>();
  if (check && bytes > 0 && limit > 0 && used + bytes > limit) {
    return absl::ResourceExhaustedError("quota exceeded");
  }
  tx.exec_params(
      "UPDATE quota_usage SET bytes = GREATEST(bytes + $2, 0), messages = GREATEST(messages + $3, 0) "
      "WHERE account_id = $1",
      account_id, bytes, messages);
  return absl::OkStatus();
}

struct Removed {
  std::vector<int64_t> uids;
  std::vector<int64_t> message_ids;
  int64_t bytes = 0;
  int64_t modseq = 0;
};

// Removes entries (under the mailbox lock), logging them for VANISHED.
Removed RemoveEntriesTx(pqxx::work& tx, int64_t account_id, int64_t mailbox_id, const std::vector<int64_t>& uids) {
  Removed out;
  if (uids.empty()) return out;
  auto lock = tx.exec_params("SELECT 1 FROM mailboxes WHERE account_id = $1 AND id = $2 FOR UPDATE", account_id,
                             mailbox_id);
  if (lock.empty()) return out;
  auto gone = tx.exec_params(
      "DELETE FROM mailbox_entries WHERE account_id = $1 AND mailbox_id = $2 AND uid = ANY($3::bigint[]) "
      "RETURNING uid, message_id, size",
      account_id, mailbox_id, PgArray(uids));
  if (gone.empty()) return out;
  for (const auto& r : gone) {
    out.uids.push_back(r[0].as<int64_t>());
    out.message_ids.push_back(r[1].as<int64_t>());
    out.bytes += r[2].as<int64_t>();
  }
  std::sort(out.uids.begin(), out.uids.end());
  out.modseq = tx.exec_params(
                     "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE account_id = $1 AND id = $2 "
                     "RETURNING highest_modseq",
                     account_id, mailbox_id)[0][0]
                   .as<int64_t>();
  tx.exec_params(
      "INSERT INTO mailbox_expunges(account_id, mailbox_id, uid, modseq) "
      "SELECT $1, $2, u, $4 FROM unnest($3::bigint[]) AS u "
      "ON CONFLICT (account_id, mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq",
      account_id, mailbox_id, PgArray(out.uids), out.modseq);
  return out;
}

}  // namespace

absl::StatusOr<MailboxInfo> PgMailStore::CreateMailbox(int64_t account_id, const std::string& name,
                                          const std::string& special_use) {
  return pool_.Transact([&](pqxx::work& tx) -> absl::StatusOr<MailboxInfo> {
    auto r = tx.exec_params(absl::StrCat("INSERT INTO mailboxes(account_id, name, uidvalidity, special_use) "
                                         "VALUES ($1, $2, ",
                                         kNewUidValidity,
                                         ", NULLIF($3, '')) ON CONFLICT (account_id, name) DO NOTHING RETURNING id"),
                            account_id, name, special_use);
    if (r.empty()) return absl::AlreadyExistsError("mailbox exists");
    AdoptLostSubscriptionsTx(tx, account_id);
    auto info = tx.exec_params(absl::StrCat(kMailboxSelect, " AND m.id = $2"), account_id, r[0][0].as<int64_t>());
    return RowToMailbox(info[0]);
  });
}

absl::Status PgMailStore::DeleteMailbox(int64_t account_id, const std::string& name) {
  if (name == "INBOX") return absl::FailedPreconditionError("INBOX cannot be deleted");
  return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto mb = tx.exec_params("SELECT id, uidvalidity, subscribed FROM mailboxes WHERE account_id = $1 AND name = $2",
                             account_id, name);
    if (mb.empty()) return absl::NotFoundError("no such mailbox");
    int64_t id = mb[0][0].as<int64_t>();
    tx.exec_params(
        "INSERT INTO uidvalidity_floors(account_id, uidvalidity) VALUES ($1, $2) ON CONFLICT (account_id) "
        "DO UPDATE SET uidvalidity = GREATEST(uidvalidity_floors.uidvalidity, EXCLUDED.uidvalidity)",
        account_id, mb[0][1].as<int64_t>());
    if (mb[0][2].as<bool>()) {
      tx.exec_params("INSERT INTO subscriptions(account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                     account_id, name);
    }
    auto sums = tx.exec_params(
        "SELECT COALESCE(sum(size), 0)::bigint, count(*) FROM mailbox_entries WHERE account_id = $1 AND mailbox_id = $2",
        account_id, id);
    if (auto st = ChargeQuota(tx, account_id, -sums[0][0].as<int64_t>(), -sums[0][1].as<int64_t>(), false); !st.ok()) {
      return st;
    }
    std::vector<int64_t> message_ids;
    for (const auto& r : tx.exec_params(
             "DELETE FROM mailbox_entries WHERE account_id = $1 AND mailbox_id = $2 RETURNING message_id", account_id,
             id)) {
      message_ids.push_back(r[0].as<int64_t>());
    }
    tx.exec_params("DELETE FROM mailbox_metadata WHERE account_id = $1 AND mailbox_id = $2", account_id, id);
    tx.exec_params("DELETE FROM mailboxes WHERE account_id = $1 AND id = $2", account_id, id);
    std::sort(message_ids.begin(), message_ids.end());
    message_ids.erase(std::unique(message_ids.begin(), message_ids.end()), message_ids.end());
    CollectBodies(tx, message_ids);
    return absl::OkStatus();
  });
}

absl::Status PgMailStore::RenameMailbox(int64_t account_id, const std::string& from, const std::string& to) {
  return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto src = tx.exec_params("SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2 FOR UPDATE", account_id,
                              from);
    if (src.empty()) return absl::NotFoundError("no such mailbox");
    auto clash = tx.exec_params(
        "SELECT 1 FROM mailboxes WHERE account_id = $1 AND (name = $2 OR left(name, length($2) + 1) = $2 || '/')",
        account_id, to);
    if (!clash.empty()) return absl::AlreadyExistsError("the new name exists");
    if (from == "INBOX") {
      // RFC 3501 6.3.5: INBOX's messages move to the new name; INBOX stays, empty. The row
      // (and its UIDs and UIDVALIDITY) becomes the new mailbox; a fresh INBOX replaces it.
      tx.exec_params("UPDATE mailboxes SET name = $2, special_use = NULL WHERE account_id = $1 AND name = 'INBOX'",
                     account_id, to);
      tx.exec_params(absl::StrCat("INSERT INTO mailboxes(account_id, name, uidvalidity) VALUES ($1, 'INBOX', ",
                                  kNewUidValidity, ")"),
                     account_id);
      AdoptLostSubscriptionsTx(tx, account_id);
      return absl::OkStatus();
    }
    // The mailbox and its inferiors, in one statement.
    tx.exec_params(
        "UPDATE mailboxes SET name = $3 || substr(name, length($2) + 1) "
        "WHERE account_id = $1 AND (name = $2 OR left(name, length($2) + 1) = $2 || '/')",
        account_id, from, to);
    AdoptLostSubscriptionsTx(tx, account_id);
    return absl::OkStatus();
  });
}

absl::Status PgMailStore::SetSubscribed(int64_t account_id, const std::string& name, bool subscribed) {
  return pool_.Transact([&](pqxx::work& tx) -> absl::Status {
    auto r = tx.exec_params("UPDATE mailboxes SET subscribed = $3 WHERE account_id = $1 AND name = $2 RETURNING id",
                            account_id, name, subscribed);
    if (!r.empty()) return absl::OkStatus();
    // No mailbox: only a subscription it left behind (subscribing again changes nothing).
    auto lost = subscribed ? tx.exec_params("SELECT 1 FROM subscriptions WHERE account_id = $1 AND name = $2",
                                            account_id, name)
                           : tx.exec_params("DELETE FROM subscriptions WHERE account_id = $1 AND name = $2 RETURNING 1",
                                            account_id, name);
    if (lost.empty()) return absl::NotFoundError("no such mailbox");
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::string>> PgMailStore::ListLostSubscriptions(int64_t account_id) {
  return pool_.Transact([&](pqxx::work& tx) {
    std::vector<std::string> out;
    // A mailbox created under the name outside lib/mailstore (delivery, the directory) wins.
    for (const auto& r : tx.exec_params(
             "SELECT s.name FROM subscriptions s WHERE s.account_id = $1 AND NOT EXISTS "
             "(SELECT 1 FROM mailboxes m WHERE m.account_id = $1 AND m.name = s.name) ORDER BY s.name",
             account_id)) {
      out.push_back(r[0].as<std::string>());
    }
    return out;
  });
}

absl::StatusOr<int64_t> PgMailStore::ClaimRecent(int64_t account_id, int64_t mailbox_id, int64_t up_to_uid) {
  return pool_.Transact([&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    auto r = up_to_uid > 0 ? tx.exec_params("SELECT recent_uid FROM mailboxes WHERE account_id = $1 AND id = $2 FOR UPDATE",
                                            account_id, mailbox_id)
                           : tx.exec_params("SELECT recent_uid FROM mailboxes WHERE account_id = $1 AND id = $2",
                                            account_id, mailbox_id);
    if (r.empty()) return absl::NotFoundError("no such mailbox");
    const int64_t old = r[0][0].as<int64_t>();
    if (up_to_uid > old) {
      tx.exec_params("UPDATE mailboxes SET recent_uid = $3 WHERE account_id = $1 AND id = $2", account_id, mailbox_id,
                     up_to_uid);
    }
    return old;
  });
}

absl::StatusOr<QuotaInfo> PgMailStore::GetQuota(int64_t account_id) {
  return pool_.Transact([&](pqxx::work& tx) -> absl::StatusOr<QuotaInfo> {
    auto r = tx.exec_params(
        "SELECT a.quota_bytes, COALESCE(q.bytes, 0), COALESCE(q.messages, 0) FROM accounts a "
        "LEFT JOIN quota_usage q ON q.account_id = a.id WHERE a.id = $1",
        account_id);
    if (r.empty()) return absl::NotFoundError("no such account");
    return QuotaInfo{r[0][0].as<int64_t>(), r[0][1].as<int64_t>(), r[0][2].as<int64_t>()};
  });
}

absl::StatusOr<AppendResult> PgMailStore::Append(int64_t account_id, int64_t mailbox_id,
                                    const std::string& body, const std::vector<std::string>& flags,
                                    int64_t internal_date) {
  auto many = AppendMany(account_id, mailbox_id, {AppendMessage{body, flags, internal_date}});
  if (!many.ok()) return many.status();
  return many->front();
}

absl::StatusOr<std::vector<AppendResult>> PgMailStore::AppendMany(int64_t account_id, int64_t mailbox_id,
                                                                  const std::vector<AppendMessage>& messages) {
  if (messages.empty()) return absl::InvalidArgumentError("nothing to append");
  // Parsed once, outside the transaction.
  struct Prepared {
    std::string sha, structure;
    SearchColumns search;
    int64_t size = 0;
  };
  std::vector<Prepared> prepared;
  prepared.reserve(messages.size());
  int64_t total = 0;
  for (const AppendMessage& m : messages) {
    const mime::Message parsed = mime::Parse(m.body);
    prepared.push_back(Prepared{Sha256(m.body), mime::EncodeStorage(parsed), ComputeSearchColumns(m.body, parsed),
                                static_cast<int64_t>(m.body.size())});
    total += prepared.back().size;
  }
  const int64_t n = static_cast<int64_t>(messages.size());
  return pool_.Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<AppendResult>> {
    auto exists = tx.exec_params("SELECT 1 FROM mailboxes WHERE account_id = $1 AND id = $2", account_id, mailbox_id);
    if (exists.empty()) return absl::NotFoundError("no such mailbox");
    if (auto st = ChargeQuota(tx, account_id, total, n, true); !st.ok()) return st;
    auto mb = tx.exec_params(
        "UPDATE mailboxes SET uidnext = uidnext + $3, highest_modseq = highest_modseq + 1 "
        "WHERE account_id = $1 AND id = $2 RETURNING uidvalidity, uidnext - $3, highest_modseq",
        account_id, mailbox_id, n);
    const int64_t uidvalidity = mb[0][0].as<int64_t>();
    const int64_t first = mb[0][1].as<int64_t>();
    const int64_t modseq = mb[0][2].as<int64_t>();
    if (first + n - 1 > 4294967295LL) return absl::ResourceExhaustedError("UID space of the mailbox exhausted");
    std::vector<AppendResult> out;
    for (int64_t i = 0; i < n; ++i) {
      const AppendMessage& m = messages[static_cast<size_t>(i)];
      const Prepared& p = prepared[static_cast<size_t>(i)];
      const int64_t message_id = StoreBodyTx(tx, p.sha, m.body, p.structure, p.search);
      tx.exec_params(
          "INSERT INTO mailbox_entries(account_id, mailbox_id, uid, message_id, modseq, internal_date, size, flags) "
          "VALUES ($1, $2, $3, $4, $5, to_timestamp($6), $7, $8::text[])",
          account_id, mailbox_id, first + i, message_id, modseq, m.internal_date, p.size, TextArrayLiteral(m.flags));
      out.push_back(AppendResult{mailbox_id, uidvalidity, first + i, modseq});
    }
    return out;
  });
}

absl::StatusOr<CopyResult> PgMailStore::Copy(int64_t source_account, int64_t source_mailbox,
                                const std::vector<int64_t>& uids, int64_t dest_account, int64_t dest_mailbox,
                                bool move) {
  return pool_.Transact([&](pqxx::work& tx) -> absl::StatusOr<CopyResult> {
    CopyResult out;
    auto dest = tx.exec_params("SELECT uidvalidity FROM mailboxes WHERE account_id = $1 AND id = $2", dest_account,
                               dest_mailbox);
    if (dest.empty()) return absl::NotFoundError("no such mailbox");
    out.uidvalidity = dest[0][0].as<int64_t>();
    auto src = tx.exec_params(
        "SELECT uid, message_id, size, flags::text, internal_date FROM mailbox_entries "
        "WHERE account_id = $1 AND mailbox_id = $2 AND uid = ANY($3::bigint[]) ORDER BY uid",
        source_account, source_mailbox, PgArray(uids));
    if (src.empty()) return out;
    int64_t bytes = 0;
    for (const auto& r : src) bytes += r[2].as<int64_t>();
    const int64_t n = static_cast<int64_t>(src.size());
    const bool same_account = source_account == dest_account;
    // Moving within an account does not change its usage.
    if (!(move && same_account)) {
      if (auto st = ChargeQuota(tx, dest_account, bytes, n, true); !st.ok()) return st;
    }
    // Both mailbox rows are locked in id order (a MOVE each way at once must not deadlock).
    if (move && same_account && source_mailbox < dest_mailbox) {
      tx.exec_params("SELECT 1 FROM mailboxes WHERE account_id = $1 AND id = $2 FOR UPDATE", source_account,
                     source_mailbox);
    }
    auto mb = tx.exec_params(
        "UPDATE mailboxes SET uidnext = uidnext + $3, highest_modseq = highest_modseq + 1 "
        "WHERE account_id = $1 AND id = $2 RETURNING uidnext - $3, highest_modseq",
        dest_account, dest_mailbox, n);
    int64_t first = mb[0][0].as<int64_t>();
    int64_t modseq = mb[0][1].as<int64_t>();
    if (first + n - 1 > 4294967295LL) return absl::ResourceExhaustedError("UID space of the mailbox exhausted");
    std::vector<int64_t> dest_uids, message_ids, sizes;
    std::vector<std::string> flags, dates;
    for (int64_t i = 0; i < n; ++i) {
      const auto& r = src[static_cast<int>(i)];
      out.source_uids.push_back(r[0].as<int64_t>());
      out.dest_uids.push_back(first + i);
      tx.exec_params(
          "INSERT INTO mailbox_entries(account_id, mailbox_id, uid, message_id, modseq, internal_date, size, flags) "
          "VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7, $8::text[])",
          dest_account, dest_mailbox, first + i, r[1].as<int64_t>(), modseq, r[4].as<std::string>(),
          r[2].as<int64_t>(), r[3].as<std::string>());
    }
    if (move) {
      Removed removed = RemoveEntriesTx(tx, source_account, source_mailbox, out.source_uids);
      out.source_modseq = removed.modseq;
      if (!same_account) {
        if (auto st = ChargeQuota(tx, source_account, -removed.bytes, -static_cast<int64_t>(removed.uids.size()), false);
            !st.ok()) {
          return st;
        }
      }
    }
    return out;
  });
}

absl::StatusOr<ExpungeResult> PgMailStore::Expunge(int64_t account_id, int64_t mailbox_id,
                                      const std::vector<int64_t>& uids) {
  if (uids.empty()) return ExpungeResult{};
  return pool_.Transact([&](pqxx::work& tx) -> absl::StatusOr<ExpungeResult> {
    // Quota row first (the delivery engine's order), then the mailbox.
    tx.exec_params("SELECT 1 FROM quota_usage WHERE account_id = $1 FOR UPDATE", account_id);
    Removed removed = RemoveEntriesTx(tx, account_id, mailbox_id, uids);
    ExpungeResult out{removed.uids, removed.modseq};
    if (removed.uids.empty()) return out;
    if (auto st = ChargeQuota(tx, account_id, -removed.bytes, -static_cast<int64_t>(removed.uids.size()), false);
        !st.ok()) {
      return st;
    }
    std::sort(removed.message_ids.begin(), removed.message_ids.end());
    removed.message_ids.erase(std::unique(removed.message_ids.begin(), removed.message_ids.end()),
                              removed.message_ids.end());
    CollectBodies(tx, removed.message_ids);
    return out;
  });
}

absl::StatusOr<Changes> PgMailStore::ChangesSince(int64_t account_id, int64_t mailbox_id, int64_t since) {
  // One statement, so one snapshot (writers bump highest_modseq in the transaction that sets
  // an entry's or an expunge's MODSEQ): the head row (kind 0), the entries changed after
  // `since` (kind 1) and the UIDs expunged after it (kind 2). Usually only the head comes back,
  // found through the primary key and the MODSEQ indexes.
  static const std::string sql = absl::StrCat(
      "SELECT 0 AS kind, m.highest_modseq AS a, m.uidnext AS b, m.recent_uid AS c, NULL::bigint AS d, "
      "NULL::text AS f, NULL::bigint AS t FROM mailboxes m WHERE m.account_id = $1 AND m.id = $2 "
      "UNION ALL SELECT 1, ", kEntryColumns,
      " FROM mailbox_entries e WHERE e.account_id = $1 AND e.mailbox_id = $2 AND e.modseq > $3 "
      "UNION ALL SELECT 2, x.uid, NULL, NULL, NULL, NULL, NULL FROM mailbox_expunges x "
      "WHERE x.account_id = $1 AND x.mailbox_id = $2 AND x.modseq > $3 "
      "ORDER BY kind, a");
  return pool_.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<Changes> {
    Changes out;
    auto rows = store::Prepared(tx, "mailstore_changes_since", sql.c_str(), account_id, mailbox_id, since);
    if (rows.empty() || rows[0][0].as<int>() != 0) {
      out.exists = false;
      return out;
    }
    out.highest_modseq = rows[0][1].as<int64_t>();
    out.uidnext = rows[0][2].as<int64_t>();
    out.recent_uid = rows[0][3].as<int64_t>();
    for (size_t i = 1; i < rows.size(); ++i) {
      const auto& r = rows[i];
      if (r[0].as<int>() == 1) {
        out.changed.push_back(Entry{r[1].as<int64_t>(), r[2].as<int64_t>(), r[3].as<int64_t>(), r[4].as<int64_t>(),
                                    ParseTextArray(r[5].as<std::string>()), r[6].as<int64_t>()});
      } else {
        out.expunged.push_back(r[1].as<int64_t>());
      }
    }
    return out;
  });
}

}  // namespace kite::mailstore

namespace kite::mailstore {

// STORE in one statement, so one round trip in autocommit (Pool::WriteStatement) instead of
// a transaction of six, and the mailbox row stays locked only while it runs (and its commit).
// Under READ COMMITTED a statement reads one snapshot, taken before it waited for any lock,
// so nothing may be computed from that snapshot's entries:
//  - `mb` locks the mailbox row first (the locking order of every writer: mailbox, then
//    entries) and gets the newest version of it: the next MODSEQ. `cur` only starts after
//    it: its `(SELECT next FROM mb) IS NOT NULL` is a one-time filter evaluated before the
//    scan.
//  - `cur` locks the named entries FOR UPDATE, which returns the newest version of each
//    (whatever a writer committed while this statement waited for the mailbox), and the new
//    flags are computed from those, with ApplyFlagOp's order rules: add appends what is new
//    in the order given, remove keeps the order of the rest, replace takes the list as given
//    ($5 comes without repeats); "changed" as ApplyFlagOp says (another order is no change).
//  - `upd` writes only the changed entries, with the new MODSEQ; `bump` raises the mailbox's
//    HIGHESTMODSEQ only when something changed (both run once whether read or not).
//  - UNCHANGEDSINCE ($6 > 0): an entry with a higher MODSEQ is left alone and reported.
// $7: commit this change without waiting for its WAL flush (set_config(..., true) holds for
// this statement's own transaction; PgMailStoreOptions::durable_flag_changes).
absl::StatusOr<StoreResult> PgMailStore::StoreFlags(int64_t account_id, int64_t mailbox_id,
                                           const std::vector<int64_t>& uids, FlagOp op,
                                           const std::vector<std::string>& flags, int64_t unchanged_since) {
  if (uids.empty()) return StoreResult{};
  static constexpr const char* kSql =
      "WITH mb AS MATERIALIZED ("
      "  SELECT highest_modseq + 1 AS next, set_config('synchronous_commit', "
      "    CASE WHEN $7::boolean THEN 'off' ELSE current_setting('synchronous_commit') END, true) AS commit_mode "
      "  FROM mailboxes WHERE account_id = $1 AND id = $2 FOR UPDATE), "
      "cur AS MATERIALIZED ("
      "  SELECT e.uid, e.flags, e.modseq FROM mailbox_entries e "
      "  WHERE e.account_id = $1 AND e.mailbox_id = $2 AND e.uid = ANY($3::bigint[]) "
      "    AND (SELECT next FROM mb) IS NOT NULL FOR UPDATE), "
      "calc AS MATERIALIZED ("
      "  SELECT c.uid, c.flags AS old, c.modseq, ($6::bigint > 0 AND c.modseq > $6::bigint) AS refused, "
      "    CASE $4::integer WHEN 0 THEN $5::text[] "
      "      WHEN 1 THEN c.flags || ARRAY(SELECT a.f FROM unnest($5::text[]) WITH ORDINALITY AS a(f, i) "
      "                                   WHERE a.f <> ALL (c.flags) ORDER BY a.i) "
      "      ELSE ARRAY(SELECT a.f FROM unnest(c.flags) WITH ORDINALITY AS a(f, i) "
      "                 WHERE a.f <> ALL ($5::text[]) ORDER BY a.i) END AS new "
      "  FROM cur c), "
      "chg AS MATERIALIZED ("
      "  SELECT uid, new FROM calc "
      "  WHERE NOT refused AND (cardinality(new) <> cardinality(old) OR NOT (old @> new))), "
      "upd AS ("
      "  UPDATE mailbox_entries e SET flags = chg.new, modseq = (SELECT next FROM mb) FROM chg "
      "  WHERE e.account_id = $1 AND e.mailbox_id = $2 AND e.uid = chg.uid RETURNING e.uid), "
      "bump AS ("
      "  UPDATE mailboxes SET highest_modseq = (SELECT next FROM mb) "
      "  WHERE account_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM chg) RETURNING 1) "
      "SELECT m.next, c.uid, c.refused, g.uid IS NOT NULL, COALESCE(g.new, c.old)::text, c.modseq, m.commit_mode "
      "FROM mb m LEFT JOIN calc c ON true LEFT JOIN chg g ON g.uid = c.uid ORDER BY c.uid";
  std::vector<std::string> unique;  // ApplyFlagOp's rule: a flag named twice counts once
  for (const auto& f : flags) {
    if (std::find(unique.begin(), unique.end(), f) == unique.end()) unique.push_back(f);
  }
  const int op_code = op == FlagOp::kReplace ? 0 : op == FlagOp::kAdd ? 1 : 2;
  const bool async_commit = !options_.durable_flag_changes;
  return pool_.WriteStatement([&](pqxx::nontransaction& tx) -> absl::StatusOr<StoreResult> {
    auto rows = store::Prepared(tx, "mailstore_store_flags_one", kSql, account_id, mailbox_id, PgArray(uids), op_code,
                                TextArrayLiteral(unique), unchanged_since, async_commit);
    if (rows.empty()) return absl::NotFoundError("no such mailbox");
    StoreResult out;
    const int64_t modseq = rows[0][0].as<int64_t>();
    for (const auto& r : rows) {
      if (r[1].is_null()) continue;  // the mailbox's row alone: none of the UIDs exists
      const int64_t uid = r[1].as<int64_t>();
      if (r[2].as<bool>()) {
        out.modified.push_back(uid);
        continue;
      }
      const bool changed = r[3].as<bool>();
      out.entries.push_back(
          FlagChange{uid, ParseTextArray(r[4].as<std::string>()), changed ? modseq : r[5].as<int64_t>(), changed});
    }
    return out;
  });
}

absl::StatusOr<std::vector<StoredMessage>> PgMailStore::LoadMessages(int64_t account_id, int64_t mailbox_id,
                                                        const std::vector<int64_t>& uids, bool body, bool structure) {
  if (uids.empty()) return std::vector<StoredMessage>{};
  // The body travels as encode(body, 'escape'), not as bytea's hex text: hex doubles every
  // byte on the wire and in libpq's buffer, while escape leaves ASCII (nearly all mail:
  // 7-bit text, quoted-printable, base64) as it is and spells only NUL, backslash and bytes
  // above 127 as \ooo or \\. libpqxx 6 asks for text results only, so binary is not on offer.
  return pool_.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<StoredMessage>> {
    std::vector<StoredMessage> out;
    out.reserve(uids.size());
    for (const auto& r : store::Prepared(
             tx, "mailstore_load_messages_escaped",
             "SELECT e.uid, CASE WHEN $4 OR ($5 AND m.structure IS NULL) THEN encode(m.body, 'escape') END, "
             "CASE WHEN $5 THEN m.structure END "
             "FROM mailbox_entries e JOIN messages m ON m.id = e.message_id "
             "WHERE e.account_id = $1 AND e.mailbox_id = $2 AND e.uid = ANY($3::bigint[]) ORDER BY e.uid",
             account_id, mailbox_id, PgArray(uids), body, structure)) {
      StoredMessage m;
      m.uid = r[0].as<int64_t>();
      if (!r[1].is_null()) {
        auto decoded = DecodeEscapedBytea(std::string_view(r[1].c_str(), r[1].size()));
        if (!decoded.ok()) return decoded.status();
        m.body = *std::move(decoded);
      }
      if (!r[2].is_null()) m.structure = pqxx::binarystring(r[2]).str();
      out.push_back(std::move(m));
    }
    return out;
  });
}

}  // namespace kite::mailstore

namespace kite::mailstore {

absl::StatusOr<std::vector<StoredMessage>> PgMailStore::LoadHeaders(int64_t account_id, int64_t mailbox_id,
                                                       const std::vector<int64_t>& uids) {
  if (uids.empty()) return std::vector<StoredMessage>{};
  return pool_.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<StoredMessage>> {
    std::vector<StoredMessage> out;
    out.reserve(uids.size());
    for (const auto& r : store::Prepared(
             tx, "mailstore_load_headers",
             "SELECT e.uid, COALESCE(m.header, CASE WHEN position('\\x0d0a0d0a'::bytea in m.body) > 0 "
             "THEN substring(m.body from 1 for position('\\x0d0a0d0a'::bytea in m.body) + 3) ELSE m.body END) "
             "FROM mailbox_entries e JOIN messages m ON m.id = e.message_id "
             "WHERE e.account_id = $1 AND e.mailbox_id = $2 AND e.uid = ANY($3::bigint[]) ORDER BY e.uid",
             account_id, mailbox_id, PgArray(uids))) {
      StoredMessage m;
      m.uid = r[0].as<int64_t>();
      m.body = pqxx::binarystring(r[1]).str();
      out.push_back(std::move(m));
    }
    return out;
  });
}

absl::StatusOr<std::vector<SaveDate>> PgMailStore::LoadSaveDates(int64_t account_id, int64_t mailbox_id,
                                                                const std::vector<int64_t>& uids) {
  if (uids.empty()) return std::vector<SaveDate>{};
  return pool_.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<SaveDate>> {
    std::vector<SaveDate> out;
    out.reserve(uids.size());
    for (const auto& r : store::Prepared(
             tx, "mailstore_load_save_dates",
             "SELECT uid, floor(extract(epoch FROM saved_at))::bigint FROM mailbox_entries "
             "WHERE account_id = $1 AND mailbox_id = $2 AND uid = ANY($3::bigint[]) ORDER BY uid",
             account_id, mailbox_id, PgArray(uids))) {
      SaveDate d;
      d.uid = r[0].as<int64_t>();
      if (!r[1].is_null()) d.saved = r[1].as<int64_t>();
      out.push_back(d);
    }
    return out;
  });
}

absl::StatusOr<MailboxCounts> PgMailStore::CountMailbox(int64_t account_id, int64_t mailbox_id) {
  return pool_.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<MailboxCounts> {
    auto r = store::Prepared(
        tx, "mailstore_count_mailbox",
        "SELECT count(*), count(*) FILTER (WHERE NOT ('\\Seen' = ANY(flags))), "
        "count(*) FILTER (WHERE '\\Deleted' = ANY(flags)), COALESCE(sum(size), 0)::bigint, "
        "count(*) FILTER (WHERE uid > (SELECT recent_uid FROM mailboxes WHERE account_id = $1 AND id = $2)) "
        "FROM mailbox_entries WHERE account_id = $1 AND mailbox_id = $2",
        account_id, mailbox_id);
    return MailboxCounts{r[0][0].as<int64_t>(), r[0][1].as<int64_t>(), r[0][2].as<int64_t>(), r[0][3].as<int64_t>(),
                         r[0][4].as<int64_t>()};
  });
}

}  // namespace kite::mailstore
