#include "lib/smtp/header_from.h"

namespace kite::smtp {
namespace {

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (IsWsp(s.front()) || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (IsWsp(s.back()) || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool NameIs(std::string_view field, std::string_view name) {
  if (field.size() != name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (Lower(field[i]) != Lower(name[i])) return false;
  }
  return true;
}

// One mailbox-list entry: the text inside <> when present, else the entry without comments.
void AddEntry(std::string_view entry, FromHeaders& out) {
  std::string plain;  // entry outside quotes and comments
  std::string angle;  // inside <>
  bool in_angle = false, have_angle = false, in_quote = false;
  int comment = 0;
  for (size_t i = 0; i < entry.size(); ++i) {
    char c = entry[i];
    if (in_quote) {
      if (c == '\\' && i + 1 < entry.size()) {
        ++i;
      } else if (c == '"') {
        in_quote = false;
      }
      if (in_angle) angle.push_back(c);
      continue;
    }
    if (comment > 0) {
      if (c == '\\' && i + 1 < entry.size())
        ++i;
      else if (c == '(')
        ++comment;
      else if (c == ')')
        --comment;
      continue;
    }
    if (c == '(') {
      ++comment;
    } else if (c == '"') {
      in_quote = true;
      if (in_angle) angle.push_back(c);
    } else if (c == '<' && !in_angle && !have_angle) {
      in_angle = true;
    } else if (c == '>' && in_angle) {
      in_angle = false;
      have_angle = true;
    } else if (in_angle) {
      angle.push_back(c);
    } else {
      plain.push_back(c);
    }
  }
  std::string_view addr =
      Trim(have_angle || in_angle ? std::string_view(angle) : std::string_view(plain));
  if (addr.empty() && !have_angle) return;  // empty list element ("a@b, , c@d")
  if (out.addresses.size() >= kMaxFromAddresses) {
    out.truncated = true;
    return;
  }
  std::string clean;
  for (char c : addr) {
    if (!IsWsp(c) && c != '\r' && c != '\n') clean.push_back(c);
  }
  out.addresses.push_back(std::move(clean));
}

// Splits a From field body at commas outside quotes, comments and angle brackets.
void ParseMailboxList(std::string_view value, FromHeaders& out) {
  bool in_quote = false, in_angle = false;
  int comment = 0;
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (in_quote) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_quote = false;
    } else if (comment > 0) {
      if (c == '\\')
        ++i;
      else if (c == '(')
        ++comment;
      else if (c == ')')
        --comment;
    } else if (c == '"') {
      in_quote = true;
    } else if (c == '(') {
      ++comment;
    } else if (c == '<') {
      in_angle = true;
    } else if (c == '>') {
      in_angle = false;
    } else if (c == ',' && !in_angle) {
      AddEntry(value.substr(start, i - start), out);
      start = i + 1;
    }
  }
  if (start <= value.size()) AddEntry(value.substr(start), out);
}

}  // namespace

FromHeaders ParseFromHeaders(std::string_view message) {
  FromHeaders out;
  std::string_view block = message;
  if (block.size() > kMaxHeaderScan) {
    block = block.substr(0, kMaxHeaderScan);
    out.truncated = true;
  }
  // Walk lines; a field is its first line plus the continuation lines (starting with WSP).
  std::string field;
  auto finish = [&] {
    if (field.empty()) return;
    size_t colon = field.find(':');
    if (colon != std::string::npos) {
      std::string_view name = Trim(std::string_view(field).substr(0, colon));
      if (NameIs(name, "from")) {
        ++out.fields;
        ParseMailboxList(std::string_view(field).substr(colon + 1), out);
      }
    }
    field.clear();
  };
  size_t pos = 0;

  while (pos < block.size()) {
    size_t eol = block.find('\n', pos);
    bool last = eol == std::string_view::npos;
    std::string_view line = block.substr(pos, last ? std::string_view::npos : eol - pos);
    pos = last ? block.size() : eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      break;
    }
    if (IsWsp(line.front()) && !field.empty()) {
      field.push_back(' ');
      field.append(line);
    } else {
      finish();
      field.assign(line);
    }
  }
  finish();
  return out;
}

std::string RemoveHeaderFields(std::string_view message, std::string_view name) {
  std::string out;
  out.reserve(message.size());
  // A field is its first line plus continuation lines, unfolded the way ParseFromHeaders
  // does before its name is looked at, so both agree on what a field is called.
  std::string unfolded;
  size_t field_start = 0, pos = 0;
  auto flush = [&](size_t end) {
    if (end == field_start) return;
    size_t colon = unfolded.find(':');
    bool drop = colon != std::string::npos &&
                NameIs(Trim(std::string_view(unfolded).substr(0, colon)), name);
    if (!drop) out.append(message.substr(field_start, end - field_start));
    unfolded.clear();
  };
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    size_t next = eol == std::string_view::npos ? message.size() : eol + 1;
    std::string_view bare = message.substr(pos, next - pos);
    if (!bare.empty() && bare.back() == '\n') bare.remove_suffix(1);
    if (!bare.empty() && bare.back() == '\r') bare.remove_suffix(1);
    if (bare.empty()) break;  // end of the header block: the rest is copied as is
    if (IsWsp(bare.front()) && pos != field_start) {
      unfolded.push_back(' ');
      unfolded.append(bare);
    } else {
      flush(pos);
      field_start = pos;
      unfolded.assign(bare);
    }
    pos = next;
  }
  flush(pos);
  out.append(message.substr(pos));
  return out;
}

}  // namespace kite::smtp
