// Shared by the mailstore's translation units; not part of its API.
#pragma once

#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "lib/mailstore/mailstore.h"

namespace kite::mailstore {

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
