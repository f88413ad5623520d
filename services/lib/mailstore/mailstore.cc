#include "lib/mailstore/mailstore.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "lib/mailstore/internal.h"

namespace kite::mailstore {

// PostgreSQL text[] as returned by libpqxx 6: "{a,b,\"c d\"}". Flags are atoms (no quotes
// needed in practice) but quoted elements are handled.
std::vector<std::string> ParseTextArray(const std::string& text) {
  std::vector<std::string> out;
  if (text.size() < 2) return out;
  std::string cur;
  bool quoted = false, in_elem = false;
  for (size_t i = 1; i + 1 < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '\\' && i + 2 < text.size()) {
        cur += text[++i];
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = in_elem = true;
    } else if (c == ',') {
      out.push_back(cur);
      cur.clear();
      in_elem = false;
    } else {
      cur += c;
      in_elem = true;
    }
  }
  if (in_elem || !cur.empty()) out.push_back(cur);
  return out;
}


std::string JunkMailboxTx(pqxx::work& tx, int64_t account_id) {
  auto junk = tx.exec_params(
      "SELECT name FROM mailboxes WHERE account_id = $1 AND special_use = '\\Junk' ORDER BY id LIMIT 1", account_id);
  if (!junk.empty()) return junk[0][0].as<std::string>();
  // No \Junk mailbox: use one named Junk, or create it (RFC 6154 special-use \Junk).
  tx.exec_params(
      "INSERT INTO mailboxes(account_id, name, uidvalidity, special_use) "
      "VALUES ($1, 'Junk', extract(epoch from clock_timestamp())::bigint, '\\Junk') "
      "ON CONFLICT (account_id, name) DO NOTHING",
      account_id);
  return "Junk";
}

absl::StatusOr<DeliverResult> DeliverFromSpool(store::Pool& pool, int64_t spool_id, const std::string& recipient,
                                               int64_t account_id, const std::string& mailbox) {
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<DeliverResult> {
    DeliverResult result;
    auto claim = tx.exec_params(
        "INSERT INTO deliveries(spool_id, recipient, account_id) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING spool_id",
        spool_id, recipient, account_id);
    if (claim.empty()) {
      result.duplicate = true;
      return result;
    }
    // The spool row first: deliveries of the recipients of one message take turns. Without
    // it two of them commit concurrently, each still seeing the other recipient queued, and
    // neither deletes the spool row (it stays forever); both may also store the body.
    auto spool = tx.exec_params("SELECT size, sha256(body), quarantine FROM spool WHERE id = $1 FOR UPDATE", spool_id);
    if (spool.empty()) {
      return absl::NotFoundError(absl::StrCat("spool entry ", spool_id, " is gone but was never delivered to ", recipient));
    }
    // An operator may have deleted this recipient (kitectl queue delete) while its stream
    // entry was in flight; the row lock orders this delivery with such a delete.
    auto rcpt = tx.exec_params("SELECT 1 FROM spool_recipients WHERE spool_id = $1 AND recipient = $2 FOR UPDATE",
                               spool_id, recipient);
    if (rcpt.empty()) {
      return absl::NotFoundError(absl::StrCat("recipient ", recipient, " of spool entry ", spool_id,
                                              " is no longer queued"));
    }
    int64_t size = spool[0][0].as<int64_t>();
    // DMARC quarantine (kite-mta): INBOX deliveries go to the account's Junk mailbox.
    std::string target = mailbox;
    if (spool[0][2].as<bool>() && mailbox == "INBOX") {
      target = JunkMailboxTx(tx, account_id);
      result.quarantined = true;
    }
    result.mailbox = target;
    // Store the body once: reuse an identical one (another recipient of the same message).
    auto existing = tx.exec_params(
        "SELECT m.id FROM messages m, spool s WHERE s.id = $1 AND m.sha256 = sha256(s.body) LIMIT 1", spool_id);
    int64_t message_id;
    if (!existing.empty()) {
      message_id = existing[0][0].as<int64_t>();
    } else {
      message_id = tx.exec_params(
                         "INSERT INTO messages(sha256, size, body) SELECT sha256(body), size, body FROM spool "
                         "WHERE id = $1 RETURNING id",
                         spool_id)[0][0]
                       .as<int64_t>();
    }
    // Row lock on the mailbox serialises UID allocation among concurrent deliveries.
    auto mb = tx.exec_params(
        "UPDATE mailboxes SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1 "
        "WHERE account_id = $1 AND name = $2 RETURNING id, uidnext - 1, highest_modseq",
        account_id, target);
    if (mb.empty()) {
      return absl::NotFoundError(absl::StrCat("account ", account_id, " has no mailbox ", target));
    }
    result.mailbox_id = mb[0][0].as<int64_t>();
    result.uid = mb[0][1].as<int64_t>();
    result.modseq = mb[0][2].as<int64_t>();
    tx.exec_params(
        "INSERT INTO mailbox_entries(account_id, mailbox_id, uid, message_id, modseq, internal_date, size) "
        "VALUES ($1, $2, $3, $4, $5, now(), $6)",
        account_id, result.mailbox_id, result.uid, message_id, result.modseq, size);
    tx.exec_params(
        "INSERT INTO quota_usage(account_id, bytes, messages) VALUES ($1, $2, 1) "
        "ON CONFLICT (account_id) DO UPDATE SET bytes = quota_usage.bytes + $2, messages = quota_usage.messages + 1",
        account_id, size);
    tx.exec_params(
        "UPDATE spool_recipients SET state = 'delivered', updated_at = now(), attempts = attempts + 1 "
        "WHERE spool_id = $1 AND recipient = $2",
        spool_id, recipient);
    tx.exec_params(
        "DELETE FROM spool s WHERE s.id = $1 AND NOT EXISTS (SELECT 1 FROM spool_recipients r "
        "WHERE r.spool_id = s.id AND r.state IN ('queued', 'deferred'))",
        spool_id);
    return result;
  });
}

// Reads are single statements on Pool::Read (one round trip, no BEGIN/COMMIT) and prepared
// once per connection (store::Prepared): the IMAP hot path parses and plans nothing twice.
absl::StatusOr<std::vector<MailboxInfo>> ListMailboxes(store::Pool& pool, int64_t account_id) {
  static const std::string sql = absl::StrCat(kMailboxSelect, " ORDER BY m.name");
  return pool.Read([&](pqxx::nontransaction& tx) {
    std::vector<MailboxInfo> out;
    for (const auto& r : store::Prepared(tx, "mailstore_list_mailboxes", sql.c_str(), account_id)) {
      out.push_back(RowToMailbox(r));
    }
    return out;
  });
}

absl::StatusOr<std::optional<MailboxInfo>> GetMailbox(store::Pool& pool, int64_t account_id, const std::string& name) {
  static const std::string sql = absl::StrCat(kMailboxSelect, " AND m.name = $2");
  return pool.Read([&](pqxx::nontransaction& tx) -> std::optional<MailboxInfo> {
    auto r = store::Prepared(tx, "mailstore_get_mailbox", sql.c_str(), account_id, name);
    if (r.empty()) return std::nullopt;
    return RowToMailbox(r[0]);
  });
}

absl::StatusOr<std::optional<MailboxInfo>> FindMailbox(store::Pool& pool, int64_t account_id, const std::string& name) {
  return pool.Read([&](pqxx::nontransaction& tx) -> std::optional<MailboxInfo> {
    auto r = store::Prepared(tx, "mailstore_find_mailbox",
                             "SELECT m.id, m.name, m.special_use, m.uidvalidity, m.uidnext, m.highest_modseq, 0, "
                             "m.subscribed FROM mailboxes m WHERE m.account_id = $1 AND m.name = $2",
                             account_id, name);
    if (r.empty()) return std::nullopt;
    return RowToMailbox(r[0]);
  });
}

absl::StatusOr<std::vector<Entry>> ListEntries(store::Pool& pool, int64_t account_id, int64_t mailbox_id) {
  static const std::string sql = absl::StrCat("SELECT ", kEntryColumns,
                                              " FROM mailbox_entries e WHERE e.account_id = $1 AND e.mailbox_id = $2 "
                                              "ORDER BY e.uid");
  return pool.Read([&](pqxx::nontransaction& tx) {
    std::vector<Entry> out;
    for (const auto& r : store::Prepared(tx, "mailstore_list_entries", sql.c_str(), account_id, mailbox_id)) {
      out.push_back(RowToEntry(r));
    }
    return out;
  });
}

absl::StatusOr<OpenedMailbox> OpenMailbox(store::Pool& pool, int64_t account_id, int64_t mailbox_id) {
  // One statement, so one snapshot: the head and the entries agree (every entry's MODSEQ is at
  // most the HIGHESTMODSEQ read with it). The LEFT JOIN keeps the head of an empty mailbox.
  static const std::string sql = absl::StrCat(
      "SELECT m.highest_modseq, m.uidnext, m.recent_uid, ", kEntryColumns,
      " FROM mailboxes m LEFT JOIN mailbox_entries e ON e.account_id = m.account_id AND e.mailbox_id = m.id "
      "WHERE m.account_id = $1 AND m.id = $2 ORDER BY e.uid");
  return pool.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<OpenedMailbox> {
    OpenedMailbox out;
    auto rows = store::Prepared(tx, "mailstore_open_mailbox", sql.c_str(), account_id, mailbox_id);
    if (rows.empty()) {
      out.exists = false;
      return out;
    }
    out.highest_modseq = rows[0][0].as<int64_t>();
    out.uidnext = rows[0][1].as<int64_t>();
    out.recent_uid = rows[0][2].as<int64_t>();
    out.entries.reserve(rows.size());
    for (const auto& r : rows) {
      if (r[3].is_null()) continue;  // the empty mailbox's one row
      out.entries.push_back(Entry{r[3].as<int64_t>(), r[4].as<int64_t>(), r[5].as<int64_t>(), r[6].as<int64_t>(),
                                  ParseTextArray(r[7].as<std::string>()), r[8].as<int64_t>()});
    }
    return out;
  });
}

absl::StatusOr<std::string> GetBody(store::Pool& pool, int64_t account_id, int64_t mailbox_id, int64_t uid) {
  return pool.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::string> {
    auto r = store::Prepared(tx, "mailstore_get_body",
                             "SELECT m.body FROM mailbox_entries e JOIN messages m ON m.id = e.message_id "
                             "WHERE e.account_id = $1 AND e.mailbox_id = $2 AND e.uid = $3",
                             account_id, mailbox_id, uid);
    if (r.empty()) return absl::NotFoundError("no such message");
    pqxx::binarystring body(r[0][0]);
    return body.str();
  });
}

absl::StatusOr<std::vector<std::string>> AddFlag(store::Pool& pool, int64_t account_id, int64_t mailbox_id,
                                                 int64_t uid, const std::string& flag) {
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<std::string>> {
    auto cur = tx.exec_params(
        "SELECT flags::text, $4 = ANY(flags) FROM mailbox_entries WHERE account_id = $1 AND mailbox_id = $2 AND uid = $3 "
        "FOR UPDATE",
        account_id, mailbox_id, uid, flag);
    if (cur.empty()) return absl::NotFoundError("no such message");
    if (cur[0][1].as<bool>()) return ParseTextArray(cur[0][0].as<std::string>());
    auto modseq = tx.exec_params(
        "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE account_id = $1 AND id = $2 "
        "RETURNING highest_modseq",
        account_id, mailbox_id)[0][0]
                      .as<int64_t>();
    auto r = tx.exec_params(
        "UPDATE mailbox_entries SET flags = array_append(flags, $4), modseq = $5 "
        "WHERE account_id = $1 AND mailbox_id = $2 AND uid = $3 RETURNING flags::text",
        account_id, mailbox_id, uid, flag, modseq);
    return ParseTextArray(r[0][0].as<std::string>());
  });
}

// A PostgreSQL text[] literal with every element quoted (flags are atoms; quoting is belt
// and braces, the value still travels as a parameter).
std::string TextArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

namespace {

// RFC 3629 UTF-8 without NUL: what a PostgreSQL text value in a UTF-8 database accepts.
bool PgText(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (c == 0 || n == 0 || i + n > s.size() || (n == 2 && c < 0xC2) || (n == 4 && c > 0xF4)) return false;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return false;
    }
    i += n;
  }
  return true;
}

}  // namespace

std::string SearchFieldsLiteral(const std::vector<std::vector<std::string>>& fields) {
  std::vector<std::string> inner;
  for (const auto& values : fields) {
    for (const auto& v : values) {
      if (!PgText(v)) return "";
    }
    inner.push_back(TextArrayLiteral(values));
  }
  return TextArrayLiteral(inner);
}

absl::StatusOr<std::vector<StoredFields>> LoadSearchFields(store::Pool& pool, int64_t account_id, int64_t mailbox_id,
                                                           const std::vector<int64_t>& uids) {
  if (uids.empty()) return std::vector<StoredFields>{};
  std::string array = "{";
  for (size_t i = 0; i < uids.size(); ++i) absl::StrAppend(&array, i ? "," : "", uids[i]);
  array += "}";
  return pool.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<StoredFields>> {
    std::vector<StoredFields> out;
    out.reserve(uids.size());
    for (const auto& r : store::Prepared(
             tx, "mailstore_load_search_fields",
             "SELECT e.uid, m.search_fields::text FROM mailbox_entries e JOIN messages m ON m.id = e.message_id "
             "WHERE e.account_id = $1 AND e.mailbox_id = $2 AND e.uid = ANY($3::bigint[]) ORDER BY e.uid",
             account_id, mailbox_id, array)) {
      StoredFields f;
      f.uid = r[0].as<int64_t>();
      if (!r[1].is_null()) {
        f.present = true;
        for (const std::string& inner : ParseTextArray(r[1].as<std::string>())) f.fields.push_back(ParseTextArray(inner));
      }
      out.push_back(std::move(f));
    }
    return out;
  });
}

absl::StatusOr<std::vector<std::string>> StoreFlags(store::Pool& pool, int64_t account_id, int64_t mailbox_id,
                                                    int64_t uid, FlagOp op, const std::vector<std::string>& flags) {
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<std::string>> {
    auto cur = tx.exec_params(
        "SELECT flags::text FROM mailbox_entries WHERE account_id = $1 AND mailbox_id = $2 AND uid = $3 FOR UPDATE",
        account_id, mailbox_id, uid);
    if (cur.empty()) return absl::NotFoundError("no such message");
    std::vector<std::string> before = ParseTextArray(cur[0][0].as<std::string>());
    auto has = [](const std::vector<std::string>& v, const std::string& f) {
      return std::find(v.begin(), v.end(), f) != v.end();
    };
    std::vector<std::string> after;
    if (op == FlagOp::kAdd) after = before;
    if (op == FlagOp::kRemove) {
      for (const auto& f : before) {
        if (!has(flags, f)) after.push_back(f);
      }
    } else {
      for (const auto& f : flags) {
        if (!has(after, f)) after.push_back(f);
      }
    }
    bool same = before.size() == after.size() &&
                std::all_of(after.begin(), after.end(), [&](const std::string& f) { return has(before, f); });
    if (same) return before;
    auto modseq = tx.exec_params(
        "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE account_id = $1 AND id = $2 "
        "RETURNING highest_modseq",
        account_id, mailbox_id)[0][0]
                      .as<int64_t>();
    auto r = tx.exec_params(
        "UPDATE mailbox_entries SET flags = $4::text[], modseq = $5 "
        "WHERE account_id = $1 AND mailbox_id = $2 AND uid = $3 RETURNING flags::text",
        account_id, mailbox_id, uid, TextArrayLiteral(after), modseq);
    return ParseTextArray(r[0][0].as<std::string>());
  });
}

}  // namespace kite::mailstore
