#include "lib/mailstore/search_sql.h"

#include "absl/strings/str_cat.h"
#include "lib/imap/search.h"
#include "lib/imap/search_text.h"

namespace kite::mailstore {

std::string LikeEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    if (c == '\\' || c == '%' || c == '_') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string RegexEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (u < 0x80 && !alnum) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::optional<std::string> CriterionPattern(const TextCriterion& criterion) {
  const std::string folded = imap::FoldCase(criterion.value);
  if (folded.find(imap::kHeaderMark) != std::string::npos) return std::nullopt;
  switch (criterion.field) {
    case imap::TextField::kBody:
      // After the mark: the body part (the value holds no mark, so it cannot reach back).
      return absl::StrCat("%", std::string(1, imap::kHeaderMark), "%", LikeEscape(folded), "%");
    case imap::TextField::kText:
      return absl::StrCat("%", LikeEscape(folded), "%");
    default: {
      // One segment of this field: its mark and tag, then anything but a mark, then the value.
      const char tag = imap::kHeaderTags[static_cast<size_t>(criterion.field)];
      const std::string mark(1, imap::kHeaderMark);
      return absl::StrCat(mark, std::string(1, tag), "[^", mark, "]*", RegexEscape(folded));
    }
  }
}

absl::StatusOr<SearchTextSql> BuildSearchTextSql(int64_t account_id, int64_t mailbox_id,
                                                 const std::optional<std::vector<int64_t>>& uids,
                                                 const std::vector<TextCriterion>& criteria) {
  if (criteria.empty() || criteria.size() > 64)
    return absl::InvalidArgumentError("SearchText: 1 to 64 criteria");
  SearchTextSql out;
  out.params = {std::to_string(account_id), std::to_string(mailbox_id)};
  std::string base =
      "FROM mailbox_entries e JOIN messages m ON m.id = e.message_id "
      "WHERE e.account_id = $1::bigint AND e.mailbox_id = $2::bigint";
  if (uids) {
    std::string array = "{";
    for (size_t i = 0; i < uids->size(); ++i) absl::StrAppend(&array, i ? "," : "", (*uids)[i]);
    array += "}";
    out.params.push_back(std::move(array));
    absl::StrAppend(&base, " AND e.uid = ANY($3::bigint[])");
  }
  bool header = false, text = false;
  std::vector<std::string> conditions;
  for (const TextCriterion& c : criteria) {
    if (!imap::IsStorableText(imap::FoldCase(c.value))) {
      return absl::InvalidArgumentError("SearchText: a value that is not storable text");
    }
    const bool is_header = imap::IsHeaderField(c.field);
    (is_header ? header : text) = true;
    std::optional<std::string> pattern = CriterionPattern(c);
    if (!pattern) {
      conditions.push_back("false");
      continue;
    }
    out.params.push_back(std::move(*pattern));
    const std::string p = absl::StrCat("$", out.params.size(), "::text");
    conditions.push_back(is_header ? absl::StrCat("(m.search_header ~ ", p, ")")
                                   : absl::StrCat("(m.search_text LIKE ", p, " ESCAPE '\\')"));
  }
  std::string present, missing;
  if (header) {
    present = "m.search_header IS NOT NULL";
    missing = "m.search_header IS NULL";
  }
  if (text) {
    absl::StrAppend(&present, header ? " AND " : "", "m.search_text IS NOT NULL");
    absl::StrAppend(&missing, header ? " OR " : "", "m.search_text IS NULL");
  }
  std::string matched_cols, any, null_cols;
  for (size_t i = 0; i < conditions.size(); ++i) {
    absl::StrAppend(&matched_cols, ", ", conditions[i]);
    absl::StrAppend(&any, i ? " OR " : "", conditions[i]);
    absl::StrAppend(&null_cols, ", NULL::boolean");
  }
  if (uids && uids->size() <= kScanLimit) {
    // A known, small set of entries: read exactly those rows (their messages by primary key)
    // and test each; the plan cannot wander into the whole messages table.
    out.sql = absl::StrCat(
        "WITH e AS MATERIALIZED (SELECT uid, message_id FROM mailbox_entries "
        "WHERE account_id = $1::bigint AND mailbox_id = $2::bigint AND uid = ANY($3::bigint[])) "
        "SELECT e.uid, (",
        missing, ")", matched_cols, " FROM e JOIN messages m ON m.id = e.message_id WHERE ",
        missing, " OR ", any, " ORDER BY 1");
    return out;
  }
  // A large mailbox: two disjoint branches, so the first can come from the trigram indexes
  // (a bitmap OR of the conditions) and the second stays small (rows stored before 0019).
  out.sql = absl::StrCat("SELECT e.uid, false", matched_cols, " ", base, " AND ", present, " AND (",
                         any, ") ", "UNION ALL SELECT e.uid, true", null_cols, " ", base, " AND (",
                         missing, ") ORDER BY 1");
  return out;
}

}  // namespace kite::mailstore
