// Text SEARCH keys answered by the store (migration 0019): the folded search text stored
// with each message at delivery and APPEND, the rule that matches a key against it, and the
// session side that splits a query into those keys and the keys it answers from its view.
//
// Standards: RFC 3501 6.4.4 / RFC 9051 6.4.4 (FROM, TO, CC, BCC, SUBJECT, HEADER, BODY and
// TEXT are case-insensitive substring matches). Case-insensitive means lib/imap's FoldCase
// (search.h), never the database's lower(): the stored text is folded here, in C++, and the
// client's string is folded by the same function, so the store compares bytes and the answer
// cannot depend on the database's collation or ctype.
//
// The stored form (kept in sync with MimeSearchMessage, which computes what is stored):
// - header: for each kStoredSearchFields value, in order, kHeaderMark, the field's tag
//   (kHeaderTags) and FoldCase(value). "FROM x" matches when some From segment contains x:
//   the regular expression kHeaderMark tag [^kHeaderMark]* x. A value that contains
//   kHeaderMark itself is not stored (nullopt) and SEARCH reads that message as before.
// - text: FoldCase(HeaderText()) kHeaderMark FoldCase(BodyText()). TEXT x is "contains x",
//   BODY x "contains x after kHeaderMark". Not stored when either part contains kHeaderMark,
//   is not valid UTF-8, or the whole passes kMaxStoredSearchText.
// A needle containing kHeaderMark therefore matches nothing that is stored.
//
// Untrusted input: message bytes (through lib/mime) and the client's search strings; both
// only ever become bytes compared or escaped, never SQL text.
#ifndef KITE_SERVICES_LIB_IMAP_SEARCH_TEXT_H_
#define KITE_SERVICES_LIB_IMAP_SEARCH_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/imap/mime_search_message.h"
#include "lib/imap/search.h"
#include "lib/mime/message.h"

namespace kite::imap {

inline constexpr char kHeaderMark = '\x01';
// Tags of the kStoredSearchFields in the stored header text, in the same order.
inline constexpr char kHeaderTags[] = {'f', 't', 'c', 'b', 's'};
// The largest stored header / text (bytes); larger messages are searched by loading them.
inline constexpr size_t kMaxStoredSearchHeader = 64 << 10;
inline constexpr size_t kMaxStoredSearchText = 256 << 10;

enum class TextField { kFrom, kTo, kCc, kBcc, kSubject, kBody, kText };
bool IsHeaderField(TextField field);

struct StoredSearchText {
  std::optional<std::string> header;
  std::optional<std::string> text;
};
StoredSearchText ComputeStoredSearchText(std::string_view raw,
                                         const mime::Message* parsed = nullptr);

// RFC 3629 UTF-8 without NUL: what a PostgreSQL text value in a UTF-8 database holds.
bool IsStorableText(std::string_view s);

// The reference rule on the stored form: does `field` contain `folded` (FoldCase of the
// client's string)? The column that field reads must be present. The fake store uses this;
// PgMailStore says the same in SQL (lib/mailstore/search_sql.h).
bool StoredTextMatches(const StoredSearchText& stored, TextField field, std::string_view folded);

// --- The session side.

// A text key of a query that the store can answer, with its client string.
struct TextLeaf {
  const SearchKey* key = nullptr;  // into the query it came from
  TextField field = TextField::kText;
  std::string value;  // as the client sent it
};

// Every text key of `query` when the store can answer them all and no other key needs the
// message (SENT* and HEADER on other fields read the header block), and each string folds
// to storable text; nullopt otherwise (the session reads the messages as before). At most
// max_leaves keys.
std::optional<std::vector<TextLeaf>> StoreTextLeaves(const SearchQuery& query,
                                                     size_t max_leaves = 32);

// A message whose text keys the store has decided: leaf i matched when bit i of `matched`
// is set. Any other text key is a broken invariant (StoreTextLeaves listed them all).
class DecidedTextMessage final : public SearchMessage {
 public:
  DecidedTextMessage(SearchMetadata meta, const std::vector<TextLeaf>& leaves, uint64_t matched)
      : meta_(std::move(meta)), leaves_(leaves), matched_(matched) {}
  uint32_t seq() const override { return meta_.seq; }
  uint32_t uid() const override { return meta_.uid; }
  const std::vector<std::string>& flags() const override { return meta_.flags; }
  uint64_t size() const override { return meta_.size; }
  int64_t internal_date() const override { return meta_.internal_date; }
  uint64_t modseq() const override { return meta_.modseq; }
  bool recent() const override { return meta_.recent; }
  std::vector<std::string> Header(std::string_view) override { return {}; }
  std::string HeaderText() override { return {}; }
  std::string BodyText() override { return {}; }
  std::optional<bool> DecidedTextKey(const SearchKey& key) override;

 private:
  SearchMetadata meta_;
  const std::vector<TextLeaf>& leaves_;
  uint64_t matched_;
};

}  // namespace kite::imap

#endif  // KITE_SERVICES_LIB_IMAP_SEARCH_TEXT_H_
