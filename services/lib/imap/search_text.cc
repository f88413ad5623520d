#include "lib/imap/search_text.h"

#include <algorithm>

#include "absl/base/internal/raw_logging.h"
#include "lib/base/ascii.h"

namespace kite::imap {
namespace {

// FoldCase(s) when it can be stored as one segment: storable text without the mark.
std::optional<std::string> Segment(std::string_view s) {
  std::string folded = FoldCase(s);
  if (folded.find(kHeaderMark) != std::string::npos || !IsStorableText(folded)) return std::nullopt;
  return folded;
}

std::optional<TextField> StoredFieldOf(std::string_view name) {
  for (size_t i = 0; i < std::size(kStoredSearchFields); ++i) {
    if (ascii::EqualsIgnoreCase(name, kStoredSearchFields[i])) return static_cast<TextField>(i);
  }
  return std::nullopt;
}

// false: a key the store cannot answer needs the message.
bool Collect(const SearchKey& key, std::vector<TextLeaf>& out) {
  std::optional<TextField> field;
  switch (key.kind) {
    case SearchKey::kFrom:
      field = TextField::kFrom;
      break;
    case SearchKey::kTo:
      field = TextField::kTo;
      break;
    case SearchKey::kCc:
      field = TextField::kCc;
      break;
    case SearchKey::kBcc:
      field = TextField::kBcc;
      break;
    case SearchKey::kSubject:
      field = TextField::kSubject;
      break;
    case SearchKey::kBody:
      field = TextField::kBody;
      break;
    case SearchKey::kText:
      field = TextField::kText;
      break;
    case SearchKey::kHeader:
      field = StoredFieldOf(key.field);
      if (!field) return false;
      break;
    case SearchKey::kSentBefore:
    case SearchKey::kSentOn:
    case SearchKey::kSentSince:
      return false;
    default:
      for (const SearchKey& child : key.children) {
        if (!Collect(child, out)) return false;
      }
      return true;
  }
  if (!IsStorableText(FoldCase(key.value))) return false;
  out.push_back(TextLeaf{&key, *field, key.value});
  return true;
}

}  // namespace

bool IsHeaderField(TextField field) {
  return field != TextField::kBody && field != TextField::kText;
}

bool IsStorableText(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (c == 0 || n == 0 || i + n > s.size() || (n == 2 && c < 0xC2) || (n == 4 && c > 0xF4))
      return false;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return false;
    }
    i += n;
  }
  return true;
}

StoredSearchText ComputeStoredSearchText(std::string_view raw, const mime::Message* parsed) {
  MimeSearchMessage m(SearchMetadata{}, raw, parsed);
  StoredSearchText out;
  std::string header;
  bool ok = true;
  for (size_t i = 0; ok && i < std::size(kStoredSearchFields); ++i) {
    for (const std::string& value : m.Header(kStoredSearchFields[i])) {
      auto seg = Segment(value);
      if (!seg || header.size() + seg->size() + 2 > kMaxStoredSearchHeader) {
        ok = false;
        break;
      }
      header += kHeaderMark;
      header += kHeaderTags[i];
      header += *seg;
    }
  }
  if (ok) out.header = std::move(header);
  auto head = Segment(m.HeaderText());
  if (head && head->size() < kMaxStoredSearchText) {
    auto body = Segment(m.BodyText());
    if (body && head->size() + 1 + body->size() <= kMaxStoredSearchText) {
      std::string text = std::move(*head);
      text += kHeaderMark;
      text += *body;
      out.text = std::move(text);
    }
  }
  return out;
}

bool StoredTextMatches(const StoredSearchText& stored, TextField field, std::string_view folded) {
  if (folded.find(kHeaderMark) != std::string_view::npos) return false;
  if (IsHeaderField(field)) {
    ABSL_RAW_CHECK(stored.header.has_value(), "StoredTextMatches: no stored header");
    const std::string& h = *stored.header;
    const char tag = kHeaderTags[static_cast<size_t>(field)];
    size_t pos = 0;
    while ((pos = h.find(kHeaderMark, pos)) != std::string::npos) {
      size_t end = h.find(kHeaderMark, pos + 1);
      if (end == std::string::npos) end = h.size();
      if (pos + 1 < end && h[pos + 1] == tag &&
          std::string_view(h).substr(pos + 2, end - pos - 2).find(folded) !=
              std::string_view::npos) {
        return true;
      }
      pos = end;
    }
    return false;
  }
  ABSL_RAW_CHECK(stored.text.has_value(), "StoredTextMatches: no stored text");
  const std::string& t = *stored.text;
  const size_t mark = t.find(kHeaderMark);
  ABSL_RAW_CHECK(mark != std::string::npos, "StoredTextMatches: stored text without its mark");
  if (field == TextField::kBody)
    return std::string_view(t).substr(mark + 1).find(folded) != std::string_view::npos;
  return t.find(folded) != std::string::npos;
}

std::optional<std::vector<TextLeaf>> StoreTextLeaves(const SearchQuery& query, size_t max_leaves) {
  std::vector<TextLeaf> leaves;
  if (!Collect(query.root, leaves) || leaves.size() > max_leaves) return std::nullopt;
  return leaves;
}

std::optional<bool> DecidedTextMessage::DecidedTextKey(const SearchKey& key) {
  for (size_t i = 0; i < leaves_.size(); ++i) {
    if (leaves_[i].key == &key) return ((matched_ >> i) & 1) != 0;
  }
  ABSL_RAW_CHECK(false, "DecidedTextMessage: a text key the store was not asked");
  return std::nullopt;
}

}  // namespace kite::imap
