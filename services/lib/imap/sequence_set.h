// IMAP sequence sets: "1:3,5,7:*" for message sequence numbers and UIDs, and "$" (the saved
// search result, RFC 5182).
//
// Standards: RFC 3501 9 (sequence-set, seq-number, seq-range, nz-number), RFC 9051, RFC 5182.
//
// Untrusted input: the sequence-set argument of FETCH, STORE, COPY, MOVE, SEARCH, EXPUNGE.
// Numbers must be 1..4294967295 without leading zeros; "0", empty elements and dangling
// colons are errors. Expansion is capped so "1:4294967295" cannot allocate gigabytes.
#ifndef KITE_SERVICES_LIB_IMAP_SEQUENCE_SET_H_
#define KITE_SERVICES_LIB_IMAP_SEQUENCE_SET_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kite::imap {

class SequenceSet {
 public:
  // "*" is stored as kStar and resolved against the largest number in use when evaluated.
  static constexpr uint32_t kStar = 0;
  struct Range {
    uint32_t first;  // as written: "7:3" keeps first 7, last 3
    uint32_t last;
  };

  // A parse failure is InvalidArgument with a message fit for "tag BAD ...".
  static absl::StatusOr<SequenceSet> Parse(std::string_view text);

  // Whether n is in the set, "*" meaning max (the highest sequence number or UID; 0 for an
  // empty mailbox, where "*" matches nothing).
  bool Contains(uint32_t n, uint32_t max) const;

  // The numbers of the set within 1..max, sorted and without duplicates. Fails with
  // ResourceExhausted when there would be more than cap of them.
  absl::StatusOr<std::vector<uint32_t>> Expand(uint32_t max, size_t cap) const;

  // Whether every number written explicitly is at most max. Message sequence numbers past
  // the mailbox size are a BAD (RFC 3501 6.4.x); UIDs past it simply match nothing.
  bool IsWithin(uint32_t max) const;

  // "$": the caller substitutes the saved search result (RFC 5182).
  bool is_saved() const { return saved_; }
  const std::vector<Range>& ranges() const { return ranges_; }
  // Canonical text, e.g. "1:3,5,7:*".
  std::string ToString() const;

 private:
  bool saved_ = false;
  std::vector<Range> ranges_;
};

}  // namespace kite::imap

#endif  // KITE_SERVICES_LIB_IMAP_SEQUENCE_SET_H_
