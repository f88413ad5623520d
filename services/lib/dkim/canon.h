// DKIM canonicalisation (RFC 6376 section 3.4: simple and relaxed, header and body) and a
// minimal splitter of a message in wire form (CRLF line ends) into header fields and body.
//
// Untrusted input: whole messages. The splitter is bounded (MessageLimits) and keeps views
// into the caller's buffer; canonicalisation output is at most the size of its input plus
// one CRLF.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/dkim/signature.h"

namespace kite::dkim {

struct HeaderField {
  std::string_view name;  // as written, before the colon, without trailing white space
  std::string_view raw;   // the whole field, folding kept, without the final CRLF
};

struct SplitMessage {
  std::vector<HeaderField> headers;
  std::string_view body;  // everything after the empty line ending the header section
};

struct MessageLimits {
  size_t max_header_fields = 1000;
  size_t max_header_bytes = 1024 * 1024;  // whole header section
  size_t max_field_bytes = 64 * 1024;     // one (folded) field
};

// Splits at the first empty line. A message with no empty line is all header. Errors
// (InvalidArgument): a continuation line before any field, a field without a colon or with
// an empty name, or a limit exceeded.
absl::StatusOr<SplitMessage> Split(std::string_view message, const MessageLimits& limits = {});

// One header field, canonicalised, with a trailing CRLF (RFC 6376 3.4.1, 3.4.2).
std::string CanonicalizeHeader(std::string_view raw_field, Canon canon);

// The body canonicalised (RFC 6376 3.4.3, 3.4.4). Lines end in CRLF; a bare CR or LF is an
// ordinary character here (callers pass wire-form messages).
std::string CanonicalizeBody(std::string_view body, Canon canon);

// Case-insensitive ASCII header name comparison.
bool HeaderNameEquals(std::string_view a, std::string_view b);

}  // namespace kite::dkim
