#include "lib/imap/fetch_items.h"

#include "absl/status/status.h"
#include "lib/base/strings.h"
#include "lib/base/ascii.h"

namespace kite::imap {
namespace internal = ::kite::ascii;

namespace {

using internal::ParseDecimal;
using internal::ToUpper;

absl::Status Bad(std::string_view what) {
  return absl::InvalidArgumentError(AV(what));
}

bool IsNumber(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::optional<uint32_t> ParseNz(std::string_view s) {
  uint64_t v;
  if (!IsNumber(s) || s[0] == '0' || !ParseDecimal(s, v) || v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

bool IsHeaderAtomChar(unsigned char c) {
  return c > 0x20 && c < 0x7F && c != '(' && c != ')' && c != '{' && c != '"' && c != '%' &&
         c != '*' && c != '\\';
}

// header-list = "(" header-fld-name *(SP header-fld-name) ")", names being astrings (atoms
// or quoted strings; the receiver refuses literals inside a section).
absl::Status ParseHeaderList(std::string_view s, std::vector<std::string>& fields) {
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') return Bad("Invalid header list");
  s = s.substr(1, s.size() - 2);
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    std::string name;
    if (s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i];
        if (c == '"') {
          closed = true;
          ++i;
          break;
        }
        if (c == '\\' && i + 1 < s.size()) c = s[++i];
        name.push_back(c);
        ++i;
      }
      if (!closed) return Bad("Invalid header list");
    } else {
      size_t start = i;
      while (i < s.size() && s[i] != ' ' && IsHeaderAtomChar(s[i])) ++i;
      if (i == start) return Bad("Invalid header list");
      name = std::string(s.substr(start, i - start));
    }
    if (i < s.size() && s[i] != ' ') return Bad("Invalid header list");
    if (name.empty()) return Bad("Empty header field name");
    if (fields.size() >= kMaxHeaderFields) return Bad("Too many header fields");
    fields.push_back(std::move(name));
  }
  if (fields.empty()) return Bad("Empty header list");
  return absl::OkStatus();
}

// section-spec inside the brackets.
absl::Status ParseSection(std::string_view spec, bool binary, FetchItem& item) {
  // section-part: nz-number *("." nz-number)
  size_t i = 0;
  while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
    size_t dot = spec.find_first_not_of("0123456789", i);
    std::string_view num = spec.substr(i, dot == std::string_view::npos ? dot : dot - i);
    std::optional<uint32_t> v = ParseNz(num);
    if (!v) return Bad("Invalid section part");
    if (item.part.size() >= kMaxSectionParts) return Bad("Section part too deep");
    item.part.push_back(*v);
    i += num.size();
    if (i == spec.size()) break;
    if (spec[i] != '.') return Bad("Invalid section");
    ++i;
    if (i == spec.size()) return Bad("Invalid section");
  }
  std::string_view text = spec.substr(i);
  if (binary) {
    if (!text.empty()) return Bad("BINARY takes only a part number");
    return absl::OkStatus();
  }
  if (text.empty()) return absl::OkStatus();
  size_t sp = text.find(' ');
  std::string word = ToUpper(text.substr(0, sp));
  if (word == "HEADER" || word == "TEXT" || (word == "MIME" && !item.part.empty())) {
    if (sp != std::string_view::npos) return Bad("Invalid section");
    item.section = word;
    return absl::OkStatus();
  }
  if (word == "HEADER.FIELDS" || word == "HEADER.FIELDS.NOT") {
    if (sp == std::string_view::npos) return Bad("Missing header list");
    item.section = word;
    return ParseHeaderList(text.substr(sp + 1), item.fields);
  }
  return Bad("Invalid section");
}

absl::Status ParsePartial(std::string_view s, FetchItem& item) {
  // "<" number "." nz-number ">"
  if (s.size() < 5 || s.front() != '<' || s.back() != '>') return Bad("Invalid partial");
  s = s.substr(1, s.size() - 2);
  size_t dot = s.find('.');
  if (dot == std::string_view::npos) return Bad("Invalid partial");
  uint64_t origin, count;
  std::string_view o = s.substr(0, dot), c = s.substr(dot + 1);
  if (!IsNumber(o) || !IsNumber(c) || !ParseDecimal(o, origin) || !ParseDecimal(c, count) ||
      count == 0) {
    return Bad("Invalid partial");
  }
  item.partial = std::make_pair(origin, count);
  return absl::OkStatus();
}

absl::Status AddMacro(std::string_view upper, std::vector<FetchItem>& items) {
  auto add = [&items](FetchItem::Kind k) {
    FetchItem item;
    item.kind = k;
    items.push_back(std::move(item));
  };
  add(FetchItem::kFlags);
  add(FetchItem::kInternalDate);
  add(FetchItem::kRfc822Size);
  if (upper == "FAST") return absl::OkStatus();
  add(FetchItem::kEnvelope);
  if (upper == "FULL") add(FetchItem::kBody);
  return absl::OkStatus();
}

}  // namespace

bool FetchItem::SetsSeen() const {
  switch (kind) {
    case kRfc822:
    case kRfc822Text:
      return true;
    case kBodySection:
    case kBinary:
      return !peek;
    default:
      return false;
  }
}

std::string FetchItem::ResponseName() const {
  switch (kind) {
    case kFlags:
      return "FLAGS";
    case kInternalDate:
      return "INTERNALDATE";
    case kRfc822:
      return "RFC822";
    case kRfc822Header:
      return "RFC822.HEADER";
    case kRfc822Size:
      return "RFC822.SIZE";
    case kRfc822Text:
      return "RFC822.TEXT";
    case kEnvelope:
      return "ENVELOPE";
    case kBody:
      return "BODY";
    case kBodyStructure:
      return "BODYSTRUCTURE";
    case kUid:
      return "UID";
    case kModSeq:
      return "MODSEQ";
    case kEmailId:
      return "EMAILID";
    case kThreadId:
      return "THREADID";
    case kSaveDate:
      return "SAVEDATE";
    case kPreview:
      return "PREVIEW";
    case kBodySection:
    case kBinary:
    case kBinarySize:
      break;
  }
  std::string out = kind == kBodySection ? "BODY[" : kind == kBinary ? "BINARY[" : "BINARY.SIZE[";
  for (size_t i = 0; i < part.size(); ++i) {
    if (i > 0) out.push_back('.');
    out += std::to_string(part[i]);
  }
  if (!section.empty()) {
    if (!part.empty()) out.push_back('.');
    out += section;
  }
  if (!fields.empty()) {
    out += " (";
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) out.push_back(' ');
      out += ToUpper(fields[i]);
    }
    out.push_back(')');
  }
  out.push_back(']');
  if (partial && kind != kBinarySize) out += "<" + std::to_string(partial->first) + ">";
  return out;
}

absl::StatusOr<FetchItem> ParseFetchItem(std::string_view text) {
  FetchItem item;
  size_t bracket = text.find('[');
  std::string name = ToUpper(text.substr(0, bracket));
  if (bracket == std::string_view::npos) {
    struct Simple {
      std::string_view name;
      FetchItem::Kind kind;
    };
    static constexpr Simple kSimple[] = {
        {"FLAGS", FetchItem::kFlags},
        {"INTERNALDATE", FetchItem::kInternalDate},
        {"RFC822", FetchItem::kRfc822},
        {"RFC822.HEADER", FetchItem::kRfc822Header},
        {"RFC822.SIZE", FetchItem::kRfc822Size},
        {"RFC822.TEXT", FetchItem::kRfc822Text},
        {"ENVELOPE", FetchItem::kEnvelope},
        {"BODY", FetchItem::kBody},
        {"BODYSTRUCTURE", FetchItem::kBodyStructure},
        {"UID", FetchItem::kUid},
        {"MODSEQ", FetchItem::kModSeq},
        {"EMAILID", FetchItem::kEmailId},
        {"THREADID", FetchItem::kThreadId},
        {"SAVEDATE", FetchItem::kSaveDate},
        {"PREVIEW", FetchItem::kPreview},
    };
    for (const Simple& s : kSimple) {
      if (name == s.name) {
        item.kind = s.kind;
        return item;
      }
    }
    return Bad("Unknown FETCH attribute");
  }
  bool binary = false;
  if (name == "BODY" || name == "BODY.PEEK") {
    item.kind = FetchItem::kBodySection;
  } else if (name == "BINARY" || name == "BINARY.PEEK") {
    item.kind = FetchItem::kBinary;
    binary = true;
  } else if (name == "BINARY.SIZE") {
    item.kind = FetchItem::kBinarySize;
    binary = true;
  } else {
    return Bad("Unknown FETCH attribute");
  }
  item.peek = name.size() > 5 && name.compare(name.size() - 5, 5, ".PEEK") == 0;
  // The section ends at the last ']' (quoted header names may contain ']').
  size_t close = text.rfind(']');
  if (close == std::string_view::npos || close < bracket) return Bad("Invalid section");
  if (absl::Status st = ParseSection(text.substr(bracket + 1, close - bracket - 1), binary, item);
      !st.ok()) {
    return st;
  }
  std::string_view rest = text.substr(close + 1);
  if (!rest.empty()) {
    if (item.kind == FetchItem::kBinarySize) return Bad("BINARY.SIZE takes no partial");
    if (absl::Status st = ParsePartial(rest, item); !st.ok()) return st;
  }
  return item;
}

absl::StatusOr<std::vector<FetchItem>> ParseFetchItems(const Token& token) {
  std::vector<FetchItem> items;
  if (token.kind == Token::kAtom) {
    std::string upper = ToUpper(token.value);
    if (upper == "ALL" || upper == "FAST" || upper == "FULL") {
      if (absl::Status st = AddMacro(upper, items); !st.ok()) return st;
      return items;
    }
  }
  auto add = [&items](const Token& t) -> absl::Status {
    if (t.kind != Token::kAtom && t.kind != Token::kSection) return Bad("Invalid FETCH attribute");
    absl::StatusOr<FetchItem> item = ParseFetchItem(t.value);
    if (!item.ok()) return item.status();
    items.push_back(*std::move(item));
    return absl::OkStatus();
  };
  if (token.kind == Token::kList) {
    if (token.children.empty()) return Bad("Empty FETCH attribute list");
    for (size_t i = 0; i < token.children.size(); ++i) {
      const Token& child = token.children[i];
      if (i + 1 < token.children.size() && IsPreviewWithModifiers(child, token.children[i + 1])) {
        FetchItem preview;
        preview.kind = FetchItem::kPreview;
        if (absl::Status st = ParsePreviewModifiers(token.children[++i], preview); !st.ok()) return st;
        items.push_back(std::move(preview));
        continue;
      }
      if (absl::Status st = add(child); !st.ok()) return st;
    }
    return items;
  }
  if (absl::Status st = add(token); !st.ok()) return st;
  return items;
}

bool IsPreviewWithModifiers(const Token& item, const Token& modifiers) {
  return item.kind == Token::kAtom && ToUpper(item.value) == "PREVIEW" && modifiers.kind == Token::kList;
}

absl::Status ParsePreviewModifiers(const Token& modifiers, FetchItem& item) {
  // preview-mod = "LAZY" (RFC 8970 7); an empty list is not allowed by the grammar.
  if (modifiers.kind != Token::kList || modifiers.children.empty()) return Bad("Invalid PREVIEW modifiers");
  for (const Token& m : modifiers.children) {
    if (m.kind != Token::kAtom || ToUpper(m.value) != "LAZY") return Bad("Unknown PREVIEW modifier");
    item.lazy = true;
  }
  return absl::OkStatus();
}

}  // namespace kite::imap
