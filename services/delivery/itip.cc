#include "delivery/itip.h"

#include <algorithm>
#include <array>

namespace kite::delivery {
namespace {

constexpr std::array<std::string_view, 7> kMethods = {"REQUEST", "REPLY",   "CANCEL",        "ADD",
                                                      "REFRESH", "COUNTER", "DECLINECOUNTER"};
constexpr int kMaxDepth = 8;  // multipart nesting followed (lib/mime bounds the tree anyway)

char Up(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Up(c);
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Up(a[i]) != Up(b[i])) return false;
  }
  return true;
}

const mime::Param* FindParam(const std::vector<mime::Param>& params, std::string_view name) {
  for (const auto& p : params) {
    if (IEquals(p.name, name)) return &p;
  }
  return nullptr;
}

// Reads the next unfolded content line (RFC 5545 3.1: CRLF or LF followed by a space or tab
// continues the line) starting at *pos; false at the end of the text.
bool NextContentLine(std::string_view text, size_t* pos, std::string* line) {
  line->clear();
  if (*pos >= text.size()) return false;
  size_t i = *pos;
  while (i < text.size()) {
    size_t nl = text.find('\n', i);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view piece = text.substr(i, end - i);
    if (!piece.empty() && piece.back() == '\r') piece.remove_suffix(1);
    line->append(piece);
    if (line->size() > 64 * 1024) line->resize(64 * 1024);  // bounds memory; such a line is data
    i = nl == std::string_view::npos ? text.size() : nl + 1;
    if (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
      ++i;  // continuation: drop the fold's single whitespace and keep appending
      continue;
    }
    break;
  }
  *pos = i;
  return true;
}

// Splits "NAME;PARAM=...:VALUE" into the upper-case name and the value (the first ':' outside
// a quoted parameter value).
bool SplitProperty(std::string_view line, std::string* name, std::string_view* value) {
  size_t name_end = 0;
  while (name_end < line.size() && line[name_end] != ';' && line[name_end] != ':') ++name_end;
  *name = Upper(Trim(line.substr(0, name_end)));
  bool quoted = false;
  for (size_t i = name_end; i < line.size(); ++i) {
    if (line[i] == '"') quoted = !quoted;
    if (line[i] == ':' && !quoted) {
      *value = line.substr(i + 1);
      return true;
    }
  }
  return false;
}

void Collect(std::string_view raw, const mime::Part& part, int depth, std::vector<ItipPart>* out) {
  if (out->size() >= kMaxItipParts) return;
  if (part.IsMultipart()) {
    if (depth >= kMaxDepth) return;
    for (const auto& child : part.children) Collect(raw, child, depth + 1, out);
    return;
  }
  // message/rfc822 (a forwarded invitation) and every other type: not for this recipient.
  if (part.type != "text" || part.subtype != "calendar") return;
  const mime::Param* method_param = FindParam(part.params, "method");
  if (method_param == nullptr) return;  // a published calendar, not iTIP
  std::string method = Upper(Trim(method_param->value));
  if (!IsItipMethod(method)) return;
  if (part.body_size > 4 * kMaxItipBytes + 4096) return;  // even base64 of 1 MiB is smaller
  std::string body = mime::TransferDecode(raw, part, kMaxItipBytes + 1);
  if (body.size() > kMaxItipBytes || body.empty()) return;
  if (CalendarMethod(body) != method) return;  // RFC 6047 2.4: they must agree
  // The line break before a MIME boundary belongs to the boundary: give the last content
  // line its CRLF back (RFC 5545 3.1).
  if (body.back() != '\n') body += "\r\n";
  ItipPart found{std::move(method), std::move(body)};
  if (std::find(out->begin(), out->end(), found) != out->end()) return;
  out->push_back(std::move(found));
}

}  // namespace

bool IsItipMethod(std::string_view upper_method) {
  return std::find(kMethods.begin(), kMethods.end(), upper_method) != kMethods.end();
}

std::string CalendarMethod(std::string_view icalendar) {
  // A UTF-8 byte order mark is tolerated (some Windows clients write one).
  if (icalendar.substr(0, 3) == "\xEF\xBB\xBF") icalendar.remove_prefix(3);
  size_t pos = 0;
  std::string line, name;
  std::string_view value;
  bool in_calendar = false;
  int depth = 0;  // components open inside the VCALENDAR
  std::string method;
  while (NextContentLine(icalendar, &pos, &line)) {
    if (Trim(line).empty()) continue;
    if (!SplitProperty(line, &name, &value)) {
      if (!in_calendar) return "";
      continue;
    }
    if (!in_calendar) {
      if (name != "BEGIN" || !IEquals(Trim(value), "VCALENDAR")) return "";
      in_calendar = true;
      continue;
    }
    // Calendar properties come before the first component (RFC 5545 3.4), but some
    // generators write them later: any property of the VCALENDAR itself counts.
    if (name == "BEGIN") {
      if (++depth > 16) return "";
      continue;
    }
    if (name == "END") {
      if (depth == 0) break;  // END:VCALENDAR
      --depth;
      continue;
    }
    if (depth == 0 && name == "METHOD") {
      if (!method.empty()) return "";  // two METHOD properties: not a valid iTIP object
      method = Upper(Trim(value));
      if (method.empty()) return "";
    }
  }
  return method;
}

std::vector<ItipPart> FindItip(std::string_view raw, const mime::Message& msg) {
  std::vector<ItipPart> out;
  Collect(raw, msg.root, 0, &out);
  return out;
}

}  // namespace kite::delivery
