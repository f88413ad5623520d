// Shared by the mailstore's translation units; not part of its API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "lib/mailstore/mailstore.h"

namespace kite::mailstore {

// A new UIDVALIDITY for account $1: the clock, but always above every value the account
// used before, its deleted mailboxes' included (a mailbox deleted and re-created within a
// second must not repeat one; RFC 3501 2.3.1.1).
inline constexpr const char* kNewUidValidity =
    "GREATEST(extract(epoch from clock_timestamp())::bigint, "
    "(SELECT COALESCE(max(uidvalidity), 0) + 1 FROM mailboxes WHERE account_id = $1), "
    "(SELECT COALESCE(max(uidvalidity), 0) + 1 FROM uidvalidity_floors WHERE account_id = $1))";

// SHA-256 of `data`, 32 raw bytes (messages.sha256).
std::string Sha256(std::string_view data);

// The messages row for `body`: an identical stored one (same SHA-256 and size) is reused,
// else the body is inserted with its structure and search fields (filer.cc).
int64_t StoreBodyTx(pqxx::work& tx, std::string_view sha256, std::string_view body, std::string_view structure,
                    const SearchColumns& search);

// PostgreSQL text[] as returned by libpqxx 6 ("{a,b,\"c d\"}") and back.
std::vector<std::string> ParseTextArray(const std::string& text);
std::string TextArrayLiteral(const std::vector<std::string>& items);

inline constexpr const char* kMailboxSelect =
    "SELECT m.id, m.name, m.special_use, m.uidvalidity, m.uidnext, m.highest_modseq, "
    "(SELECT count(*) FROM mailbox_entries e WHERE e.account_id = m.account_id AND e.mailbox_id = m.id), "
    "m.subscribed FROM mailboxes m WHERE m.account_id = $1";

inline MailboxInfo RowToMailbox(const pqxx::row& r) {
  MailboxInfo m;
  m.id = r[0].as<int64_t>();
  m.name = r[1].as<std::string>();
  m.special_use = r[2].is_null() ? "" : r[2].as<std::string>();
  m.uidvalidity = r[3].as<int64_t>();
  m.uidnext = r[4].as<int64_t>();
  m.highest_modseq = r[5].as<int64_t>();
  m.exists = r[6].as<int64_t>();
  m.subscribed = r[7].as<bool>();
  return m;
}

// The columns of an Entry, for "SELECT <kEntryColumns> FROM mailbox_entries e ...".
inline constexpr const char* kEntryColumns =
    "e.uid, e.message_id, e.size, e.modseq, e.flags::text, extract(epoch from e.internal_date)::bigint";
inline Entry RowToEntry(const pqxx::row& r) {
  return Entry{r[0].as<int64_t>(), r[1].as<int64_t>(), r[2].as<int64_t>(), r[3].as<int64_t>(),
               ParseTextArray(r[4].as<std::string>()), r[5].as<int64_t>()};
}

}  // namespace kite::mailstore
