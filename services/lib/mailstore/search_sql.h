// The SQL of MailStore::SearchText (migration 0019): lib/imap's stored-text rule
// (lib/imap/search_text.h) said as PostgreSQL conditions. Pure: builds the statement and its
// parameters, runs nothing; tests/lib/mailstore/search_sql_test.cc checks what is sent.
//
// Exactness: the columns hold text folded by lib/imap's FoldCase, and the client's string is
// folded the same way here, so the conditions compare bytes: LIKE with every wildcard
// escaped, and POSIX regular expressions with every ASCII punctuation escaped, without the
// case-insensitive forms (ILIKE, ~*) whose folding is the database's (its ctype) and not
// IMAP's. Neither depends on the collation (LIKE and ~ without character classes compare
// characters; the database's collations are deterministic). The pg_trgm GIN indexes serve
// both LIKE and ~; PostgreSQL rechecks every row an index proposes.
//
// Untrusted input: the client's strings. They only ever travel as bound parameters.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/mailstore/mailstore.h"

namespace kite::mailstore {

// s with \, % and _ escaped by a backslash (LIKE ... ESCAPE '\').
std::string LikeEscape(std::string_view s);
// s as a literal inside a PostgreSQL advanced regular expression: each ASCII character that
// is not a letter or digit behind a backslash (ARE: "\" and a non-alphanumeric character is
// that character); letters, digits and non-ASCII bytes as they are.
std::string RegexEscape(std::string_view s);

// The pattern a criterion's column is compared with; nullopt when the folded value holds
// lib/imap's kHeaderMark, which no stored text contains (the condition is false).
// Header fields: search_header ~ pattern; BODY and TEXT: search_text LIKE pattern ESCAPE '\'.
std::optional<std::string> CriterionPattern(const TextCriterion& criterion);

// Up to this many UIDs, SearchText reads exactly those entries and tests each message (a
// mailbox's rows by its index, messages by primary key); with more, or with every entry, it
// lets the planner use the trigram indexes.
inline constexpr size_t kScanLimit = 5000;

struct SearchTextSql {
  std::string sql;
  std::vector<std::string> params;  // $1.., all text (cast in the SQL)
};
// The statement for SearchText: rows (uid, unknown, one boolean per criterion) of the entries
// where a criterion matched (unknown false) or a column the criteria need is NULL (unknown
// true). InvalidArgument: more than 64 criteria, or a value that does not fold to storable text.
absl::StatusOr<SearchTextSql> BuildSearchTextSql(int64_t account_id, int64_t mailbox_id,
                                                 const std::optional<std::vector<int64_t>>& uids,
                                                 const std::vector<TextCriterion>& criteria);

}  // namespace kite::mailstore
