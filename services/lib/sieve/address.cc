#include "lib/sieve/address.h"

namespace kite::sieve {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// One mailbox entry: "Name <addr>" or a bare addr-spec (comments already removed).
void AddEntry(std::string_view entry, std::vector<ParsedAddress>& out) {
  entry = Trim(entry);
  if (entry.empty() || out.size() >= kMaxAddresses) return;
  // An angle-addr outside quotes wins.
  bool quoted = false;
  size_t open = std::string_view::npos;
  size_t close = std::string_view::npos;
  for (size_t i = 0; i < entry.size(); ++i) {
    char c = entry[i];
    if (c == '\\' && quoted) {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == '<' && open == std::string_view::npos) {
      open = i;
    } else if (!quoted && c == '>' && open != std::string_view::npos) {
      close = i;
      break;
    }
  }
  std::string_view spec = entry;
  if (open != std::string_view::npos) {
    spec =
        entry.substr(open + 1, (close == std::string_view::npos ? entry.size() : close) - open - 1);
    // Obsolete route "@a,@b:local@domain".
    if (!spec.empty() && spec.front() == '@') {
      size_t colon = spec.find(':');
      if (colon != std::string_view::npos) spec.remove_prefix(colon + 1);
    }
  }
  spec = Trim(spec);
  if (spec.empty()) return;  // "<>"
  out.push_back(SplitAddress(spec));
}

}  // namespace

ParsedAddress SplitAddress(std::string_view addr) {
  addr = Trim(addr);
  if (addr.size() >= 2 && addr.front() == '<' && addr.back() == '>') {
    addr = Trim(addr.substr(1, addr.size() - 2));
  }
  ParsedAddress a;
  // Remove quoting and whitespace outside quotes from the addr-spec.
  std::string clean;
  bool quoted = false;
  size_t last_at = std::string::npos;
  std::string local;
  for (size_t i = 0; i < addr.size(); ++i) {
    char c = addr[i];
    if (quoted && c == '\\' && i + 1 < addr.size()) {
      clean.push_back(addr[++i]);
      continue;
    }
    if (c == '"') {
      quoted = !quoted;
      continue;
    }
    if (!quoted && (c == ' ' || c == '\t')) continue;
    if (!quoted && c == '@') last_at = clean.size();
    clean.push_back(c);
  }
  a.all = clean;
  if (last_at == std::string::npos) {
    a.local_part = clean;
  } else {
    a.local_part = clean.substr(0, last_at);
    a.domain = clean.substr(last_at + 1);
  }
  return a;
}

std::vector<ParsedAddress> ParseAddressList(std::string_view value) {
  // Pass 1: drop (comments), keeping quoted strings intact.
  std::string text;
  text.reserve(value.size());
  bool quoted = false;
  int comment = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\\' && (quoted || comment > 0) && i + 1 < value.size()) {
      if (comment == 0) {
        text.push_back(c);
        text.push_back(value[i + 1]);
      }
      ++i;
      continue;
    }
    if (comment > 0) {
      if (c == '(') ++comment;
      if (c == ')') --comment;
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '(') {
      comment = 1;
      text.push_back(' ');
      continue;
    }
    text.push_back(c);
  }
  // Pass 2: split at "," outside quotes and <>; a ":" outside them starts a group (the
  // display name before it is dropped) and ";" ends it.
  std::vector<ParsedAddress> out;
  quoted = false;
  bool angle = false;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    char c = i < text.size() ? text[i] : ',';
    if (i < text.size() && c == '\\' && quoted) {
      ++i;
      continue;
    }
    if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == '<') {
      angle = true;
    } else if (!quoted && c == '>') {
      angle = false;
    } else if (!quoted && !angle && c == ':') {
      start = i + 1;  // group display name
    } else if (!quoted && !angle && (c == ',' || c == ';')) {
      AddEntry(std::string_view(text).substr(start, i - start), out);
      start = i + 1;
    }
    if (out.size() >= kMaxAddresses) break;
  }
  return out;
}

bool IsValidRedirectAddress(std::string_view addr) {
  size_t at = addr.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= addr.size()) return false;
  if (addr.size() > 320) return false;
  for (size_t i = 0; i < at; ++i) {
    unsigned char c = static_cast<unsigned char>(addr[i]);
    if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == '(' || c == ')') {
      return false;
    }
  }
  std::string_view domain = addr.substr(at + 1);
  if (domain.front() == '.' || domain.back() == '.') return false;
  for (char c : domain) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace kite::sieve
