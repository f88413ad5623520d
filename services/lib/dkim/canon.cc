#include "lib/dkim/canon.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "lib/base/strings.h"

namespace kite::dkim {
namespace {

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

// Removes trailing empty lines ("\r\n" repeated at the end) from text made of CRLF lines.
void DropTrailingEmptyLines(std::string& s) {
  while (s.size() >= 4 && s.compare(s.size() - 4, 4, "\r\n\r\n") == 0) s.resize(s.size() - 2);
  if (s == "\r\n") s.clear();
}

}  // namespace

bool HeaderNameEquals(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(AV(a), AV(b));
}

absl::StatusOr<SplitMessage> Split(std::string_view message, const MessageLimits& limits) {
  SplitMessage out;
  size_t pos = 0;
  while (pos < message.size()) {
    if (pos > limits.max_header_bytes) {
      return absl::InvalidArgumentError("header section too large");
    }
    if (message.compare(pos, 2, "\r\n") == 0) {
      out.body = message.substr(pos + 2);
      return out;
    }
    if (IsWsp(message[pos])) return absl::InvalidArgumentError("continuation line before a field");
    // The field runs until a CRLF not followed by WSP.
    size_t start = pos;
    size_t end = std::string_view::npos;
    size_t scan = pos;
    while (true) {
      size_t crlf = message.find("\r\n", scan);
      if (crlf == std::string_view::npos) {
        end = message.size();
        pos = message.size();
        break;
      }
      if (crlf + 2 < message.size() && IsWsp(message[crlf + 2])) {
        scan = crlf + 2;
        if (scan - start > limits.max_field_bytes) break;
        continue;
      }
      end = crlf;
      pos = crlf + 2;
      break;
    }
    if (end == std::string_view::npos || end - start > limits.max_field_bytes) {
      return absl::InvalidArgumentError("header field too long");
    }
    std::string_view raw = message.substr(start, end - start);
    size_t colon = raw.find(':');
    if (colon == std::string_view::npos)
      return absl::InvalidArgumentError("header field without colon");
    std::string_view name = raw.substr(0, colon);
    while (!name.empty() && IsWsp(name.back())) name.remove_suffix(1);
    if (name.empty()) return absl::InvalidArgumentError("empty header field name");
    if (out.headers.size() == limits.max_header_fields) {
      return absl::InvalidArgumentError("too many header fields");
    }
    out.headers.push_back(HeaderField{name, raw});
  }
  if (pos > limits.max_header_bytes) return absl::InvalidArgumentError("header section too large");
  return out;
}

std::string CanonicalizeHeader(std::string_view raw, Canon canon) {
  std::string out;
  if (canon == Canon::kSimple) {
    out.reserve(raw.size() + 2);
    out.append(raw);
    out.append("\r\n");
    return out;
  }
  size_t colon = raw.find(':');
  std::string_view name = raw.substr(0, colon == std::string_view::npos ? raw.size() : colon);
  std::string_view value =
      colon == std::string_view::npos ? std::string_view() : raw.substr(colon + 1);
  while (!name.empty() && IsWsp(name.back())) name.remove_suffix(1);
  out.reserve(raw.size() + 2);
  for (char c : name) out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  out.push_back(':');
  // Unfold (drop CRLF), collapse WSP runs to one SP, drop WSP at both ends of the value.
  bool pending_space = false;
  bool started = false;
  for (char c : value) {
    if (c == '\r' || c == '\n') continue;
    if (IsWsp(c)) {
      pending_space = started;
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    started = true;
    out.push_back(c);
  }
  out.append("\r\n");
  return out;
}

std::string CanonicalizeBody(std::string_view body, Canon canon) {
  std::string out;
  out.reserve(body.size() + 2);
  size_t pos = 0;
  while (pos < body.size()) {
    size_t crlf = body.find("\r\n", pos);
    std::string_view line =
        body.substr(pos, crlf == std::string_view::npos ? std::string_view::npos : crlf - pos);
    pos = crlf == std::string_view::npos ? body.size() : crlf + 2;
    if (canon == Canon::kSimple) {
      out.append(line);
    } else {
      bool pending_space = false;
      for (char c : line) {
        if (IsWsp(c)) {
          pending_space = true;
          continue;
        }
        if (pending_space) out.push_back(' ');
        pending_space = false;
        out.push_back(c);
      }
      // Trailing WSP of the line is dropped: pending_space is simply not flushed.
    }
    out.append("\r\n");
  }
  DropTrailingEmptyLines(out);
  if (canon == Canon::kSimple && out.empty()) out = "\r\n";
  return out;
}

}  // namespace kite::dkim
