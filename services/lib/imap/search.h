// IMAP SEARCH: the search-key parser, an evaluator over an abstract message view, and the
// SEARCH / ESEARCH responses. Pure: no I/O, no clock (the caller passes "now"), no storage.
//
// Standards: RFC 3501 6.4.4 and 9 (search-key, every key of IMAP4rev1, date = "1-Feb-1994",
// CHARSET), RFC 9051 (number64 for LARGER / SMALLER), RFC 4731 (ESEARCH: "RETURN (MIN MAX
// ALL COUNT SAVE)" and the "* ESEARCH" response), RFC 5182 (SEARCHRES: "$" and RETURN
// (SAVE)), RFC 7162 3.1.5 (CONDSTORE: the MODSEQ key and the "(MODSEQ n)" response data),
// RFC 5032 (WITHIN: OLDER / YOUNGER), RFC 8474 6 (EMAILID, THREADID), RFC 8514 4 (SAVEDBEFORE,
// SAVEDON, SAVEDSINCE, SAVEDATESUPPORTED), RFC 5322 3.3 (the Date: header behind SENTBEFORE /
// SENTON / SENTSINCE), RFC 5051 in spirit (case-insensitive substring matching on UTF-8:
// ASCII plus simple lower-casing of the Latin, Greek, Cyrillic and Armenian letters).
//
// Untrusted input: the argument tokens of SEARCH / UID SEARCH (and of SORT / THREAD after
// their own arguments), as the Receiver produced them, and the message data the evaluator
// reads (headers and bodies anyone could have sent). Nesting depth, the number of keys and
// the size of every string are bounded (SearchParseOptions); every parse failure is an
// InvalidArgument whose message is fit for "tag BAD <message>", except an unsupported
// charset, which is FailedPrecondition carrying the "[BADCHARSET (UTF-8 US-ASCII)]" code
// for "tag NO <message>" (IsBadCharset). Evaluation recursion is bounded by the parse depth.
#ifndef KITE_SERVICES_LIB_IMAP_SEARCH_H_
#define KITE_SERVICES_LIB_IMAP_SEARCH_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/imap/receiver.h"
#include "lib/imap/sequence_set.h"

namespace kite::imap {

struct SearchParseOptions {
  // SEARCH accepts "RETURN (...)" (ESEARCH) and "CHARSET x" in front of the keys; SORT and
  // THREAD take their charset as a separate argument and have no RETURN here.
  bool allow_return = true;
  bool allow_charset = true;
  size_t max_depth = 64;        // nested lists, NOT and OR together
  size_t max_keys = 1000;       // search keys in the whole command
  size_t max_string = 16384;    // one string argument, in bytes
  size_t max_field_name = 256;  // HEADER field names
};

struct SearchKey {
  enum Kind {
    kAnd,  // a parenthesised list (and the top level): all children match
    kOr,   // exactly two children
    kNot,  // exactly one child
    kAll,
    kSequence,  // set: message sequence numbers (or "$")
    kUid,       // set: UIDs (or "$")
    kFlag,      // value: the flag, e.g. "\\Seen" or a keyword; negate: UN<flag> / UNKEYWORD
    kRecent,    // negate: OLD
    kNew,       // RECENT and not \Seen
    kBcc,       // value: substring, for all of these
    kCc,
    kFrom,
    kTo,
    kSubject,
    kHeader,  // field: the header name; value: substring ("" = the field exists)
    kBody,
    kText,
    kBefore,  // number: days since 1970-01-01 (internal date, UTC)
    kOn,
    kSince,
    kSentBefore,  // number: days since 1970-01-01 (Date: header, its own zone)
    kSentOn,
    kSentSince,
    kLarger,   // number: octets
    kSmaller,  // number: octets
    kOlder,    // number: seconds (RFC 5032)
    kYounger,  // number: seconds (RFC 5032)
    kModSeq,   // number: the smallest matching mod-sequence (RFC 7162)
    kEmailId,  // value: the objectid (RFC 8474)
    kThreadId,  // value: the objectid; Kite does not thread, so nothing matches
    kSavedBefore,  // number: days since 1970-01-01 (save date, UTC; RFC 8514)
    kSavedOn,
    kSavedSince,
    kSavedDateSupported,  // every mailbox has save dates: matches every message
  };
  Kind kind = kAll;
  bool negate = false;  // kFlag, kRecent
  std::string field;    // kHeader
  std::string value;    // kFlag; the substring of the string keys
  int64_t number = 0;
  SequenceSet set;  // kSequence, kUid
  std::vector<SearchKey> children;
};

// RFC 4731 return options. RETURN () means ALL.
struct SearchReturn {
  bool min = false, max = false, all = false, count = false, save = false;
};

struct SearchQuery {
  SearchKey root;       // kAnd of the keys; cheap keys come first in every kAnd / kOr
  std::string charset;  // "UTF-8", "US-ASCII", or empty when none was given
  // ESEARCH was asked for (a RETURN option list was given): answer with FormatSearch's
  // "* ESEARCH" form. ret holds the options.
  bool esearch = false;
  SearchReturn ret;
  bool uses_modseq = false;  // a MODSEQ key: the response carries MODSEQ (and CONDSTORE is on)
  bool uses_saved = false;   // "$" appears (RFC 5182: the session must hold a saved result)
  bool uses_save_date = false;  // SAVEDBEFORE / SAVEDON / SAVEDSINCE: the session loads save dates
};

// Parses args[first..] (SEARCH: [RETURN (...)] [CHARSET x] keys). Keys are required.
absl::StatusOr<SearchQuery> ParseSearch(const std::vector<Token>& args, size_t first,
                                        const SearchParseOptions& options = {});

// Checks a charset argument (SORT / THREAD, or after CHARSET): UTF-8 and US-ASCII (any case)
// are fine; others give the BADCHARSET error.
absl::Status CheckCharset(const Token& token);

// An unsupported charset: answer "tag NO <status.message()>" (the message starts with
// "[BADCHARSET (UTF-8 US-ASCII)]").
bool IsBadCharset(const absl::Status& status);

// Whether evaluation will call Header / HeaderText (headers only) or BodyText / HeaderText
// (TEXT and BODY need the whole message). The session loads message data only when asked.
bool NeedsHeaders(const SearchQuery& query);
bool NeedsBody(const SearchQuery& query);

// The header fields stored decoded with each message at delivery (messages.search_fields,
// migration 0016), in this order; a query that reads no other part of a message
// (UsesOnlyStoredFields) is answered from them without the message's bytes.
inline constexpr std::string_view kStoredSearchFields[] = {"from", "to", "cc", "bcc", "subject"};
bool UsesOnlyStoredFields(const SearchQuery& query);

// An address as SORT sees it (RFC 5256 addr-mailbox, RFC 5957 display name).
struct SearchAddress {
  std::string name;     // display name, decoded to UTF-8; empty if none
  std::string mailbox;  // local part
  std::string host;     // domain; empty for a bare local part
};

// The message view the evaluator (and SORT / THREAD) reads. The metadata accessors are
// cheap; the rest may load and parse the message and should cache what they compute.
class SearchMessage {
 public:
  virtual ~SearchMessage() = default;
  virtual uint32_t seq() const = 0;
  virtual uint32_t uid() const = 0;
  virtual const std::vector<std::string>& flags() const = 0;  // "\\Seen", keywords, ...
  virtual uint64_t size() const = 0;                          // RFC822.SIZE
  virtual int64_t internal_date() const = 0;                  // unix seconds
  virtual uint64_t modseq() const = 0;
  virtual bool recent() const { return false; }
  // RFC 8474 EMAILID; "" when unknown.
  virtual std::string email_id() const { return {}; }
  // RFC 8514 save date (unix seconds); nullopt when the message has none (stored before save
  // dates were kept): the SAVED* keys then use the internal date.
  virtual std::optional<int64_t> save_date() const { return std::nullopt; }
  // Every value of a header field (case-insensitive name), unfolded and decoded (RFC 2047)
  // to UTF-8, in order of appearance.
  virtual std::vector<std::string> Header(std::string_view name) = 0;
  // The whole header, decoded to UTF-8, for TEXT.
  virtual std::string HeaderText() = 0;
  // The decoded text of the body (text parts, transfer- and charset-decoded), for BODY/TEXT.
  virtual std::string BodyText() = 0;
  // The first address of an address header (From, To, Cc); nullopt when there is none. The
  // default parses the first value of Header(name) (display name, <addr-spec>, groups).
  virtual std::optional<SearchAddress> FirstAddress(std::string_view name);
  // A text key (FROM, TO, CC, BCC, SUBJECT, HEADER, BODY, TEXT) decided elsewhere (the store
  // evaluated it in SQL, lib/imap/search_text.h); nullopt: evaluate it from the accessors.
  virtual std::optional<bool> DecidedTextKey(const SearchKey& /*key*/) { return std::nullopt; }
};

struct SearchContext {
  uint32_t max_seq = 0;  // messages in the mailbox ("*" for sequence numbers)
  uint32_t max_uid = 0;  // the highest UID in use ("*" for UIDs)
  const std::vector<uint32_t>* saved = nullptr;  // "$" as UIDs, sorted; null: none saved
  int64_t now = 0;                               // unix seconds, for OLDER / YOUNGER
};

bool Matches(const SearchQuery& query, SearchMessage& message, const SearchContext& context);
bool Matches(const SearchKey& key, SearchMessage& message, const SearchContext& context);

// One matched message, collected by the session in mailbox (sequence) order.
struct SearchHit {
  uint32_t seq = 0;
  uint32_t uid = 0;
  uint64_t modseq = 0;
};

// The untagged response, CRLF included: "* SEARCH 2 5 (MODSEQ 917)\r\n" (uid: the UIDs), or
// for ESEARCH "* ESEARCH (TAG \"a1\") UID MIN 2 MAX 9 COUNT 3 ALL 2,4:9 MODSEQ 917\r\n".
// Empty when nothing is to be sent (ESEARCH with RETURN (SAVE) only, RFC 5182).
std::string FormatSearchResponse(const SearchQuery& query, const std::vector<SearchHit>& hits,
                                 bool uid, std::string_view tag);

// RETURN (SAVE): the UIDs to remember as "$" (RFC 5182: only the MIN / MAX messages when
// those are asked for without ALL or COUNT), ascending.
std::vector<uint32_t> SearchResultToSave(const SearchQuery& query,
                                         const std::vector<SearchHit>& hits);

// Sorted numbers as a compact sequence set: {2, 4, 5, 6} gives "2,4:6".
std::string CompressSequenceSet(const std::vector<uint32_t>& sorted);

// --- Helpers shared with SORT / THREAD (and tests).

// Case folding for substring matching and collation: ASCII, plus simple lower-casing of
// Latin-1, Latin Extended-A, Greek, Cyrillic, Armenian, Latin Extended Additional and
// full-width letters. Invalid UTF-8 bytes are kept as they are.
std::string FoldCase(std::string_view utf8);

// Case-insensitive substring test; an empty needle matches.
bool ContainsFolded(std::string_view haystack, std::string_view needle);

// RFC 3501 date "1-Feb-1994" (day 1 or 2 digits, month any case, 4-digit year), as days
// since 1970-01-01; nullopt if invalid.
std::optional<int64_t> ParseSearchDate(std::string_view text);

// An RFC 5322 Date: value (obsolete forms too: 2-digit years, named zones, comments).
struct MessageDate {
  int64_t utc = 0;         // unix seconds, normalised to UTC (RFC 5256 2.2)
  int64_t local_days = 0;  // the date as written, ignoring time and zone (RFC 3501 SENT*)
};
std::optional<MessageDate> ParseMessageDate(std::string_view value);

// Days since 1970-01-01 for a proleptic Gregorian date (no validation).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);

}  // namespace kite::imap

#endif  // KITE_SERVICES_LIB_IMAP_SEARCH_H_
