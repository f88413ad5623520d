#include "lib/imap/mime_search_message.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <set>
#include <utility>

#include "lib/base/ascii.h"

namespace kite::imap {
namespace {

// Field names of a header block, in order, lower case, each once.
std::vector<std::string> FieldNames(std::string_view header) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  size_t pos = 0;
  while (pos < header.size()) {
    size_t eol = header.find('\n', pos);
    std::string_view line =
        header.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? header.size() : eol + 1;
    if (line.empty() || line[0] == ' ' || line[0] == '\t' || line == "\r") continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 200) continue;
    std::string name = ascii::ToLower(line.substr(0, colon));
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    if (name.empty() || !seen.insert(name).second) continue;
    names.push_back(std::move(name));
    if (names.size() >= 1000) break;
  }
  return names;
}

std::string DecodePhrase(const std::string& s) {
  mime::EnsureGMimeInit();
  char* dec = g_mime_utils_header_decode_text(nullptr, s.c_str());
  std::string out = dec ? std::string(dec) : s;
  g_free(dec);
  return out;
}

}  // namespace

MimeSearchMessage::MimeSearchMessage(SearchMetadata meta, std::string_view raw,
                                     const mime::Message* parsed)
    : meta_(std::move(meta)), raw_(raw), parsed_(parsed) {}

MimeSearchMessage::MimeSearchMessage(SearchMetadata meta, Loader loader)
    : meta_(std::move(meta)), loader_(std::move(loader)) {}

void MimeSearchMessage::Load(bool whole) {
  if (!loader_ || loaded_whole_ || (loaded_header_ && !whole)) return;
  loaded_ = loader_(whole);
  raw_ = loaded_;
  own_.reset();  // offsets of a header-only parse are still right, but reparse the whole
  loaded_header_ = true;
  loaded_whole_ = whole;
}

const mime::Message& MimeSearchMessage::Parsed() {
  if (parsed_) return *parsed_;
  if (!own_) own_ = mime::Parse(raw_);
  return *own_;
}

std::vector<std::string> MimeSearchMessage::Header(std::string_view name) {
  std::string key = ascii::ToLower(name);
  auto it = headers_.find(key);
  if (it != headers_.end()) return it->second;
  Load(false);
  std::vector<std::string> values;
  if (!raw_.empty()) {
    values = mime::HeaderValues(raw_, Parsed().root, name);
  } else if (parsed_) {
    // No bytes, only the stored parse: what the envelope holds (enough for SENT*, SORT by
    // DATE or SUBJECT and THREAD=ORDEREDSUBJECT).
    const mime::Envelope& env = parsed_->envelope;
    const std::optional<std::string>* field = nullptr;
    if (key == "date") field = &env.date;
    if (key == "subject") field = &env.subject;
    if (key == "message-id") field = &env.message_id;
    if (key == "in-reply-to") field = &env.in_reply_to;
    if (field && field->has_value())
      values.push_back(key == "subject" ? DecodePhrase(**field) : **field);
  }
  if (headers_.size() < 64) headers_.emplace(std::move(key), values);
  return values;
}

std::string MimeSearchMessage::HeaderText() {
  if (header_text_) return *header_text_;
  Load(true);  // TEXT reads the body next unless the header matches
  std::string out;
  const mime::Part& root = Parsed().root;
  if (root.header_offset <= raw_.size() && root.header_size <= raw_.size() - root.header_offset) {
    for (const std::string& name : FieldNames(raw_.substr(root.header_offset, root.header_size))) {
      for (const std::string& value : mime::HeaderValues(raw_, root, name)) {
        out += name;
        out += ": ";
        out += value;
        out += "\n";
      }
    }
  }
  header_text_ = std::move(out);
  return *header_text_;
}

std::string MimeSearchMessage::BodyText() {
  if (body_text_) return *body_text_;
  Load(true);
  body_text_ = raw_.empty() ? std::string() : mime::BodyText(raw_, Parsed());
  return *body_text_;
}

std::optional<SearchAddress> MimeSearchMessage::FirstAddress(std::string_view name) {
  Load(false);
  if (raw_.empty() && !parsed_) return std::nullopt;
  const mime::Envelope& env = Parsed().envelope;
  const std::vector<mime::Address>* list = nullptr;
  if (ascii::EqualsIgnoreCase(name, "from")) {
    list = &env.from;
  } else if (ascii::EqualsIgnoreCase(name, "to")) {
    list = &env.to;
  } else if (ascii::EqualsIgnoreCase(name, "cc")) {
    list = &env.cc;
  } else if (ascii::EqualsIgnoreCase(name, "bcc")) {
    list = &env.bcc;
  } else {
    return SearchMessage::FirstAddress(name);
  }
  for (const mime::Address& a : *list) {
    if (!a.host) continue;  // group start / end markers
    SearchAddress out;
    if (a.name) out.name = DecodePhrase(*a.name);
    out.mailbox = a.mailbox.value_or("");
    out.host = *a.host;
    return out;
  }
  return std::nullopt;
}

StoredSearchFields ComputeStoredSearchFields(std::string_view raw, const mime::Message* parsed) {
  MimeSearchMessage m(SearchMetadata{}, raw, parsed);
  StoredSearchFields out;
  for (std::string_view name : kStoredSearchFields) out.push_back(m.Header(name));
  return out;
}

std::vector<std::string> StoredFieldsMessage::Header(std::string_view name) {
  const std::string key = ascii::ToLower(name);
  for (size_t i = 0; i < std::size(kStoredSearchFields) && i < fields_.size(); ++i) {
    if (key == kStoredSearchFields[i]) return fields_[i];
  }
  return {};
}

}  // namespace kite::imap
