// IMAP object identifiers (RFC 8474 OBJECTID): MAILBOXID, EMAILID and THREADID values.
//
// Kite derives them from database row ids: a mailbox's id (kept by RENAME, never reused),
// and the id of the stored message an entry points at (kept by COPY and MOVE, shared by the
// entries that hold one stored body). A letter in front keeps the kinds apart and makes every
// id start with a letter. Kite does not thread, so THREADID is NIL (RFC 8474 5.2).
//
// Untrusted input: object ids a client sends in SEARCH EMAILID / THREADID, checked by
// IsValidObjectId (RFC 8474 7: objectid = 1*255(ALPHA / DIGIT / "_" / "-")).
#ifndef KITE_SERVICES_LIB_IMAP_OBJECT_ID_H_
#define KITE_SERVICES_LIB_IMAP_OBJECT_ID_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace kite::imap {

std::string MailboxObjectId(int64_t mailbox_id);  // "M42"
std::string EmailObjectId(int64_t message_id);    // "E1234"
bool IsValidObjectId(std::string_view id);

}  // namespace kite::imap

#endif  // KITE_SERVICES_LIB_IMAP_OBJECT_ID_H_
