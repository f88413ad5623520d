// The data of FETCH BODY[section], BINARY[part] and BINARY.SIZE[part] for one message, from
// its raw bytes and its parse-once structure (lib/mime). Pure: no I/O.
//
// Standards: RFC 3501 6.4.5 and RFC 9051 6.4.5 (section-spec: part numbers, HEADER,
// HEADER.FIELDS[.NOT], TEXT, MIME; parts inside message/rfc822 parts: "2.1" is the first
// part of part 2's encapsulated message, "2.HEADER" its header; "<origin.count>"),
// RFC 3516 (BINARY: the part with its Content-Transfer-Encoding undone; an unknown encoding
// is the tagged "NO [UNKNOWN-CTE]"; BINARY of a multipart is an error, answered NIL here).
//
// Untrusted input: the message bytes and the item the client asked for (parsed by
// fetch_items.h). Offsets from the structure are clamped to the bytes, so a stale or
// corrupt structure gives short data, never an out-of-range read.
#ifndef KITE_SERVICES_LIB_IMAP_FETCH_SECTION_H_
#define KITE_SERVICES_LIB_IMAP_FETCH_SECTION_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/imap/fetch_items.h"
#include "lib/mime/message.h"

namespace kite::imap {

// BODY[section] (kBodySection): the bytes, or nullopt when the part does not exist (sent as
// NIL). HEADER / TEXT / HEADER.FIELDS of a part that is not message/rfc822 are empty.
// The partial is not applied (ApplyPartial).
std::optional<std::string> BodySectionData(std::string_view raw, const mime::Message& msg,
                                           const FetchItem& item);

// BINARY[part] / BINARY.SIZE[part]: the decoded bytes, nullopt for a missing part or a
// multipart; FailedPrecondition for a Content-Transfer-Encoding we do not know.
absl::StatusOr<std::optional<std::string>> BinarySectionData(std::string_view raw,
                                                             const mime::Message& msg,
                                                             const FetchItem& item);

// HEADER.FIELDS / HEADER.FIELDS.NOT: the field lines (with their continuation lines) whose
// name is (not) in `fields` (case-insensitive), then the empty line.
std::string FilterHeaderFields(std::string_view header, const std::vector<std::string>& fields,
                               bool negate);

// "<origin.count>": the bytes from origin, at most count; unchanged without a partial.
std::string ApplyPartial(std::string data, const FetchItem& item);

// The part path as lib/mime's section number: {2, 1, 3} gives "2.1.3".
std::string PartPath(const std::vector<uint32_t>& part);

}  // namespace kite::imap

#endif  // KITE_SERVICES_LIB_IMAP_FETCH_SECTION_H_
