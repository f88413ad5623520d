// Parse once: a raw RFC 5322 message (untrusted bytes, CRLF or bare LF) parsed a single time
// into what IMAP needs to answer FETCH ENVELOPE / BODY / BODYSTRUCTURE / BODY[section] and
// SEARCH without reparsing (RFC 3501 6.4.4, 6.4.5, 7.4.2; RFC 2045/2046 structure; RFC 2047
// encoded words and RFC 2231 parameters through GMime 3.2).
//
// The part tree is found by our own boundary scanner so that every offset and size is an
// exact octet count of the original bytes; ENVELOPE addresses come from the raw header text
// (address.h: names as sent, source routes, groups); GMime parses the Content-Type /
// Content-Disposition parameters and does RFC 2047 decoding, transfer decoding and charset
// conversion for SEARCH. Parsing never fails: malformed MIME (missing or
// unterminated boundaries, bad encodings, 8-bit or missing headers) gives a valid
// best-effort structure. Beyond the limits (nesting depth, number of parts, header bytes)
// the rest of a part is an opaque application/octet-stream leaf.
#ifndef KITE_LIB_MIME_MESSAGE_H_
#define KITE_LIB_MIME_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kite::mime {

// One IMAP address (RFC 3501 7.4.2): (name adl mailbox host). Group syntax: a start marker
// with mailbox = group name and host = nullopt, the members, then an end marker with all
// four fields nullopt.
struct Address {
  std::optional<std::string> name;     // as sent: encoded words kept, quotes removed
  std::optional<std::string> adl;      // source route "@a.example,@b.example" (obsolete form)
  std::optional<std::string> mailbox;  // local part, or group name
  std::optional<std::string> host;     // domain; nullopt marks group syntax
  bool operator==(const Address&) const = default;
};

struct Envelope {
  std::optional<std::string> date;  // raw header values, unfolded, leading blanks removed
  std::optional<std::string> subject;
  std::vector<Address> from, sender, reply_to, to, cc, bcc;  // sender/reply-to default to from
  std::optional<std::string> in_reply_to;
  std::optional<std::string> message_id;
  bool operator==(const Envelope&) const = default;
};

struct Param {
  std::string name;   // lower case as received (serialised upper case)
  std::string value;  // RFC 2231 decoded to UTF-8
  bool operator==(const Param&) const = default;
};

// One body part. Offsets are from the start of the message. header_* covers the part's
// header including the blank line that ends it (BODY[n.MIME], or BODY[HEADER] for the root
// and for a message/rfc822's nested message); body_* covers the encoded body (BODY[n],
// BODY[TEXT]); body_size is the octet size BODYSTRUCTURE reports.
struct Part {
  std::string type = "text";  // lower case
  std::string subtype = "plain";
  std::vector<Param> params;
  std::optional<std::string> id, description;
  std::optional<std::string> md5;          // Content-MD5 (RFC 1864), as sent
  std::string encoding = "7bit";           // Content-Transfer-Encoding, lower case
  std::optional<std::string> disposition;  // lower case
  std::vector<Param> disposition_params;
  std::vector<std::string> language;
  std::optional<std::string> location;
  uint64_t header_offset = 0, header_size = 0;
  uint64_t body_offset = 0, body_size = 0;
  uint64_t body_lines = 0;  // lines of the encoded body (LFs, plus a last line without LF)
  // multipart: the parts; message/rfc822: exactly one, the nested message's root part (whose
  // header is the nested message's header).
  std::vector<Part> children;
  std::shared_ptr<Envelope> envelope;  // message/rfc822 only: the nested message's envelope

  bool IsMultipart() const { return type == "multipart"; }
  bool IsMessage() const { return type == "message" && subtype == "rfc822" && envelope; }
  bool operator==(const Part& o) const;
};

struct Message {
  Envelope envelope;
  Part root;          // header = the message header; for a multipart, children are parts 1, 2, ...
  uint64_t size = 0;  // the whole message (RFC822.SIZE)
  bool operator==(const Message&) const = default;
};

struct Limits {
  int max_depth = 32;                    // multipart / message nesting
  int max_parts = 1000;                  // parts in the whole tree
  size_t max_header_bytes = 256 * 1024;  // fields beyond this are ignored (offsets stay exact)
};

// Initialises GMime once for the process (thread-safe; every function here calls it).
void EnsureGMimeInit();

// Parses `raw` (never fails).
Message Parse(std::string_view raw, const Limits& limits = {});

// The header block at the start of `raw`: up to and including its first empty line ("\n" or
// "\r\n"), or all of `raw` when there is none. The same boundary Parse gives the root's
// header, so a prefix of a message that holds its header block gives the same answer.
std::string_view HeaderOf(std::string_view raw);

// The part for an IMAP section number ("" or "0" = the root, "1.2", ...): parts of a
// multipart are numbered from 1; a non-multipart part has the single part 1 (itself); a
// message/rfc822 part's numbers go to its nested message. nullptr if there is no such part.
const Part* FindPart(const Message& msg, std::string_view section);

// --- IMAP serialisers (RFC 3501 7.4.2), exactly as sent after "ENVELOPE " / "BODY " /
// "BODYSTRUCTURE ". Strings are quoted with escapes, or literals {n}CRLF for values with
// CR, LF, NUL, 8-bit bytes or longer than 1000 octets.
std::string ImapString(std::optional<std::string_view> s);  // NIL, "quoted" or {n}\r\n...
std::string ImapEnvelope(const Envelope& env);
std::string ImapBody(const Part& part, bool extensible);  // extensible: BODYSTRUCTURE

// --- Storage blob: a versioned compact binary encoding of Message. Decoding is bounded
// (depth, parts, string sizes) and rejects corrupt input with an error.
std::string EncodeStorage(const Message& msg);
absl::StatusOr<Message> DecodeStorage(std::string_view blob, const Limits& limits = {});

// --- SEARCH support.
// Every value of header `name` (case-insensitive) in the part's header (the root header by
// default), unfolded, RFC 2047 decoded to UTF-8 (8-bit values converted to UTF-8 best
// effort). At most max_bytes in total.
std::vector<std::string> HeaderValues(std::string_view raw, const Part& part, std::string_view name,
                                      size_t max_bytes = 1 << 20);
// The decoded content of every text/* leaf (transfer-decoded, converted to UTF-8 from its
// charset), joined with "\n", truncated to max_bytes.
std::string BodyText(std::string_view raw, const Message& msg, size_t max_bytes = 4 << 20);
// IMAP PREVIEW (RFC 8970): up to max_chars characters of the message's first text/plain leaf
// that is not an attachment (else the first text/html one, its markup dropped), parts of
// attached messages not looked into; transfer- and charset-decoded to UTF-8, runs of white
// space collapsed to one space, trimmed, invalid UTF-8 dropped. "" when there is no text.
std::string Preview(std::string_view raw, const Message& msg, size_t max_chars = 256);
// One leaf's body with its Content-Transfer-Encoding undone (no charset conversion),
// truncated to max_bytes (IMAP BINARY, the cross-check).
std::string TransferDecode(std::string_view raw, const Part& part, size_t max_bytes = 64 << 20);

}  // namespace kite::mime

#endif  // KITE_LIB_MIME_MESSAGE_H_
