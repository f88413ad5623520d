// IMAP SORT and THREAD: sort criteria, the base subject, sort keys, the ORDEREDSUBJECT and
// REFERENCES threading algorithms, and the "* SORT" / "* THREAD" responses. Pure: the
// session runs the search (search.h), collects SortFields for the matched messages through
// the same SearchMessage view, and calls these functions.
//
// Standards: RFC 5256 (SORT: ARRIVAL CC DATE FROM REVERSE SIZE SUBJECT TO; 2.1 base subject
// extraction; 2.2 sent date; THREAD=ORDEREDSUBJECT and THREAD=REFERENCES; the thread-list
// response grammar), RFC 5957 (DISPLAYFROM, DISPLAYTO), RFC 5322 3.6.4 (msg-id in
// Message-ID, In-Reply-To, References, normalised so that quoting does not matter),
// RFC 7162 3.1.5 ("(MODSEQ n)" after SORT results), RFC 5051 in spirit (collation on
// case-folded UTF-8, see FoldCase in search.h).
//
// Untrusted input: the SORT criteria and THREAD algorithm tokens, and every header value of
// the messages (subjects, addresses, message ids; loops and duplicates in References are
// expected). Subjects and ids are length-capped, the number of references kept per message
// is capped (the last kMaxReferences), and every tree walk is iterative, so a 100 000-message
// reply chain cannot exhaust the stack.
#ifndef KITE_SERVICES_LIB_IMAP_SORT_THREAD_H_
#define KITE_SERVICES_LIB_IMAP_SORT_THREAD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/imap/receiver.h"
#include "lib/imap/search.h"

namespace kite::imap {

inline constexpr size_t kMaxSubjectBytes = 1024;   // base subjects are compared on this much
inline constexpr size_t kMaxMessageIdBytes = 998;  // longer ids are ignored
inline constexpr size_t kMaxReferences = 100;      // the last n ids of References count
inline constexpr size_t kMaxSortCriteria = 16;

enum class SortKey { kArrival, kCc, kDate, kFrom, kSize, kSubject, kTo, kDisplayFrom, kDisplayTo };
struct SortCriterion {
  SortKey key = SortKey::kArrival;
  bool reverse = false;
};

struct SortCommand {
  std::vector<SortCriterion> criteria;
  SearchQuery query;
};

// SORT / UID SORT arguments from args[first]: "(criteria) charset search-keys". Errors as
// ParseSearch (InvalidArgument for BAD, IsBadCharset for NO [BADCHARSET]).
absl::StatusOr<SortCommand> ParseSort(const std::vector<Token>& args, size_t first,
                                      const SearchParseOptions& options = {});

enum class ThreadAlgorithm { kOrderedSubject, kReferences };

struct ThreadCommand {
  ThreadAlgorithm algorithm = ThreadAlgorithm::kReferences;
  SearchQuery query;
};

// THREAD / UID THREAD arguments from args[first]: "algorithm charset search-keys".
absl::StatusOr<ThreadCommand> ParseThread(const std::vector<Token>& args, size_t first,
                                          const SearchParseOptions& options = {});

// RFC 5256 2.1 on a decoded (UTF-8) subject. is_reply_or_forward tells whether a "Re:",
// "Fwd:", "(fwd)" or "[fwd: ...]" was removed (used by THREAD=REFERENCES). Not case-folded.
std::string BaseSubject(std::string_view subject, bool* is_reply_or_forward = nullptr);

// The msg-ids of a Message-ID / In-Reply-To / References value, normalised: angle brackets
// dropped, quoting in the local part undone, CFWS ignored; <"a b"@x> gives "a b@x".
std::vector<std::string> ParseMessageIds(std::string_view value);

// What SORT and THREAD compare, filled from a SearchMessage. Only what was asked for is
// loaded; strings are case-folded (FoldCase) where they are compared.
struct SortFields {
  uint32_t seq = 0, uid = 0;
  uint64_t size = 0, modseq = 0;
  int64_t arrival = 0;
  int64_t sent = 0;          // RFC 5256 2.2 (UTC seconds; internal date if no valid Date:)
  std::string subject;       // folded base subject
  bool is_reply = false;     // the subject was a reply or forward
  std::string from, to, cc;  // folded addr-mailbox of the first address ("" if none)
  std::string display_from, display_to;  // folded RFC 5957 display strings
  std::string message_id;                // normalised; "" if none
  std::vector<std::string> references;   // parents, oldest first (References / In-Reply-To)
};

SortFields CollectSortFields(SearchMessage& message, const std::vector<SortCriterion>& criteria);
SortFields CollectThreadFields(SearchMessage& message, ThreadAlgorithm algorithm);

// Sorts by the criteria; ties by sequence number (RFC 5256: REVERSE never reverses that).
void SortMessages(std::vector<SortFields>& messages, const std::vector<SortCriterion>& criteria);

// "* SORT 2 3 1\r\n" (UIDs when uid), with " (MODSEQ n)" (the highest) when with_modseq and
// there is any message.
std::string FormatSortResponse(const std::vector<SortFields>& sorted, bool uid, bool with_modseq);

// Threads as a flat forest (no recursive members, so a very deep chain is no deeper on the
// stack than a flat list). Node id 0 is a dummy: a parent that is missing or not matched.
struct ThreadForest {
  struct Node {
    uint32_t id = 0;                 // sequence number, or UID for UID THREAD
    std::vector<uint32_t> children;  // indexes into nodes, in order
  };
  std::vector<Node> nodes;
  std::vector<uint32_t> roots;  // indexes into nodes, in order
};

// Threads the messages (in any order). The ids are the UIDs when uid, else sequence numbers.
ThreadForest Thread(const std::vector<SortFields>& messages, ThreadAlgorithm algorithm, bool uid);

// "* THREAD (1 2)(3 (4)(5))\r\n"; "* THREAD\r\n" when there are no threads.
std::string FormatThreadResponse(const ThreadForest& threads);

}  // namespace kite::imap

#endif  // KITE_SERVICES_LIB_IMAP_SORT_THREAD_H_
