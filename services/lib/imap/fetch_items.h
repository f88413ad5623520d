// FETCH attribute parser: turns the fetch-att argument of FETCH / UID FETCH into a list of
// items the handler can serve.
//
// Standards: RFC 3501 6.4.5 and 9 (fetch-att, section, section-part, section-text,
// header-list, partial "<origin.count>", the ALL / FAST / FULL macros), RFC 3516 (BINARY,
// BINARY.PEEK, BINARY.SIZE), RFC 7162 (MODSEQ), RFC 8474 (EMAILID, THREADID), RFC 8514
// (SAVEDATE), RFC 8970 (PREVIEW and PREVIEW (LAZY)).
//
// Untrusted input: the tokens the Receiver produced for a FETCH command, including the raw
// text of section tokens ("BODY.PEEK[HEADER.FIELDS (From To)]<0.2048>"). Part paths and field
// lists are bounded; every failure is InvalidArgument with a message fit for "tag BAD ...".
#ifndef KITE_SERVICES_LIB_IMAP_FETCH_ITEMS_H_
#define KITE_SERVICES_LIB_IMAP_FETCH_ITEMS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/imap/receiver.h"

namespace kite::imap {

inline constexpr size_t kMaxSectionParts = 32;    // depth of a part path "1.2.3..."
inline constexpr size_t kMaxHeaderFields = 1000;  // names in HEADER.FIELDS (...)

struct FetchItem {
  enum Kind {
    kFlags,
    kInternalDate,
    kRfc822,        // = BODY[], sets \Seen
    kRfc822Header,  // = BODY.PEEK[HEADER]
    kRfc822Size,
    kRfc822Text,  // = BODY[TEXT], sets \Seen
    kEnvelope,
    kBody,  // BODY without a section: the non-extensible body structure
    kBodyStructure,
    kUid,
    kModSeq,
    kBodySection,  // BODY[...] / BODY.PEEK[...]
    kBinary,       // BINARY[...] / BINARY.PEEK[...]
    kBinarySize,   // BINARY.SIZE[...]
    kEmailId,      // RFC 8474
    kThreadId,     // RFC 8474
    kSaveDate,     // RFC 8514
    kPreview,      // RFC 8970; `lazy` for PREVIEW (LAZY)
  };
  Kind kind = kFlags;
  // kBodySection: the section text after the part path, uppercased: "", "HEADER", "TEXT",
  // "MIME", "HEADER.FIELDS", "HEADER.FIELDS.NOT". ("1.2.MIME" is part {1, 2} + "MIME".)
  std::string section;
  std::vector<std::string> fields;  // HEADER.FIELDS[.NOT] names, as sent
  std::vector<uint32_t> part;       // part path, e.g. {1, 2}; empty for the whole message
  std::optional<std::pair<uint64_t, uint64_t>> partial;  // <origin.count>, count > 0
  bool peek = false;  // BODY.PEEK / BINARY.PEEK: does not set \Seen
  bool lazy = false;  // PREVIEW (LAZY)

  // Whether serving this item sets \Seen (RFC 3501 6.4.5).
  bool SetsSeen() const;
  // The name the FETCH response uses for this item, e.g. "BODY[1.2.HEADER.FIELDS (FROM)]<0>"
  // (the partial shows only its origin; .PEEK never appears).
  std::string ResponseName() const;
};

// One fetch-att given as text, e.g. "FLAGS" or "BODY.PEEK[1.2.MIME]<0.100>".
absl::StatusOr<FetchItem> ParseFetchItem(std::string_view text);

// The FETCH argument after the sequence set: a macro atom (ALL / FAST / FULL), one item, or
// a parenthesised list of items. In a list, PREVIEW may be followed by its modifier list
// "(LAZY)" (RFC 8970 4); an unknown modifier is an error.
absl::StatusOr<std::vector<FetchItem>> ParseFetchItems(const Token& token);

// Whether `item`, `modifiers` are PREVIEW and a modifier list: "FETCH 1 PREVIEW (LAZY)", where
// the two are separate arguments of FETCH. ParsePreviewModifiers applies the list.
bool IsPreviewWithModifiers(const Token& item, const Token& modifiers);
absl::Status ParsePreviewModifiers(const Token& modifiers, FetchItem& item);

}  // namespace kite::imap

#endif  // KITE_SERVICES_LIB_IMAP_FETCH_ITEMS_H_
