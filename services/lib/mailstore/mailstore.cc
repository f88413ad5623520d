#include "lib/mailstore/pg_mail_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "lib/imap/mime_search_message.h"
#include "lib/imap/search_text.h"
#include "lib/mailstore/internal.h"
#include "lib/mailstore/search_sql.h"
#include "lib/mime/message.h"

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


// Reads are single statements on Pool::Read (one round trip, no BEGIN/COMMIT) and prepared
// once per connection (store::Prepared): the IMAP hot path parses and plans nothing twice.
absl::StatusOr<std::vector<MailboxInfo>> PgMailStore::ListMailboxes(int64_t account_id) {
  static const std::string sql = absl::StrCat(kMailboxSelect, " ORDER BY m.name");
  return pool_.Read([&](pqxx::nontransaction& tx) {
    std::vector<MailboxInfo> out;
    for (const auto& r : store::Prepared(tx, "mailstore_list_mailboxes", sql.c_str(), account_id)) {
      out.push_back(RowToMailbox(r));
    }
    return out;
  });
}

absl::StatusOr<std::optional<MailboxInfo>> PgMailStore::FindMailbox(int64_t account_id, const std::string& name) {
  return pool_.Read([&](pqxx::nontransaction& tx) -> std::optional<MailboxInfo> {
    auto r = store::Prepared(tx, "mailstore_find_mailbox_head",
                             "SELECT m.id, m.name, m.special_use, m.uidvalidity, m.uidnext, m.highest_modseq, 0, "
                             "m.subscribed, m.recent_uid FROM mailboxes m WHERE m.account_id = $1 AND m.name = $2",
                             account_id, name);
    if (r.empty()) return std::nullopt;
    MailboxInfo m = RowToMailbox(r[0]);
    m.recent_uid = r[0][8].as<int64_t>();
    return m;
  });
}

absl::StatusOr<OpenedMailbox> PgMailStore::OpenMailbox(int64_t account_id, int64_t mailbox_id) {
  // One statement, so one snapshot: the head and the entries agree (every entry's MODSEQ is at
  // most the HIGHESTMODSEQ read with it). The LEFT JOIN keeps the head of an empty mailbox.
  static const std::string sql = absl::StrCat(
      "SELECT m.highest_modseq, m.uidnext, m.recent_uid, ", kEntryColumns,
      " FROM mailboxes m LEFT JOIN mailbox_entries e ON e.account_id = m.account_id AND e.mailbox_id = m.id "
      "WHERE m.account_id = $1 AND m.id = $2 ORDER BY e.uid");
  return pool_.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<OpenedMailbox> {
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

FlagOutcome ApplyFlagOp(const std::vector<std::string>& before, FlagOp op, const std::vector<std::string>& flags) {
  auto has = [](const std::vector<std::string>& v, const std::string& f) {
    return std::find(v.begin(), v.end(), f) != v.end();
  };
  FlagOutcome out;
  if (op == FlagOp::kAdd) out.flags = before;
  if (op == FlagOp::kRemove) {
    for (const auto& f : before) {
      if (!has(flags, f)) out.flags.push_back(f);
    }
  } else {
    for (const auto& f : flags) {
      if (!has(out.flags, f)) out.flags.push_back(f);
    }
  }
  out.changed = before.size() != out.flags.size() ||
                !std::all_of(out.flags.begin(), out.flags.end(), [&](const std::string& f) { return has(before, f); });
  return out;
}

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

absl::StatusOr<std::vector<StoredFields>> PgMailStore::LoadSearchFields(int64_t account_id, int64_t mailbox_id,
                                                           const std::vector<int64_t>& uids) {
  if (uids.empty()) return std::vector<StoredFields>{};
  std::string array = "{";
  for (size_t i = 0; i < uids.size(); ++i) absl::StrAppend(&array, i ? "," : "", uids[i]);
  array += "}";
  return pool_.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<StoredFields>> {
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

SearchColumns ComputeSearchColumns(std::string_view body, const mime::Message& parsed) {
  SearchColumns out;
  out.fields = SearchFieldsLiteral(imap::ComputeStoredSearchFields(body, &parsed));
  imap::StoredSearchText text = imap::ComputeStoredSearchText(body, &parsed);
  out.header = std::move(text.header);
  out.text = std::move(text.text);
  return out;
}

absl::StatusOr<TextSearchResult> PgMailStore::SearchText(int64_t account_id, int64_t mailbox_id,
                                                         const std::optional<std::vector<int64_t>>& uids,
                                                         const std::vector<TextCriterion>& criteria) {
  if (uids && uids->empty()) return TextSearchResult{};
  auto sql = BuildSearchTextSql(account_id, mailbox_id, uids, criteria);
  if (!sql.ok()) return sql.status();
  // Not prepared: the statement's shape follows the query, and a plan for the actual
  // patterns is what lets PostgreSQL choose between the trigram indexes and the mailbox's rows.
  return pool_.Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<TextSearchResult> {
    TextSearchResult out;
    for (const auto& r : tx.exec_params(sql->sql, pqxx::prepare::make_dynamic_params(sql->params))) {
      const int64_t uid = r[0].as<int64_t>();
      if (r[1].as<bool>()) {
        out.unknown.push_back(uid);
        continue;
      }
      TextMatch m{uid, 0};
      for (size_t i = 0; i < criteria.size(); ++i) {
        if (!r[static_cast<int>(i + 2)].is_null() && r[static_cast<int>(i + 2)].as<bool>()) m.matched |= uint64_t{1} << i;
      }
      out.matches.push_back(m);
    }
    return out;
  });
}

}  // namespace kite::mailstore
