#include "lib/imap/fetch_section.h"

#include <algorithm>

#include "absl/status/status.h"
#include "lib/base/ascii.h"

namespace kite::imap {
namespace {

std::string_view Slice(std::string_view raw, uint64_t offset, uint64_t size) {
  if (offset >= raw.size()) return {};
  return raw.substr(offset, std::min<uint64_t>(size, raw.size() - offset));
}

bool KnownEncoding(std::string_view enc) {
  for (std::string_view known : {"7bit", "8bit", "binary", "base64", "quoted-printable"}) {
    if (ascii::EqualsIgnoreCase(enc, known)) return true;
  }
  return false;
}

}  // namespace

std::string PartPath(const std::vector<uint32_t>& part) {
  std::string out;
  for (size_t i = 0; i < part.size(); ++i) {
    if (i) out.push_back('.');
    out += std::to_string(part[i]);
  }
  return out;
}

std::string FilterHeaderFields(std::string_view header, const std::vector<std::string>& fields,
                               bool negate) {
  std::string out;
  bool keep = false;
  size_t pos = 0;
  while (pos < header.size()) {
    size_t eol = header.find('\n', pos);
    std::string_view line =
        header.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol + 1 - pos);
    pos = eol == std::string_view::npos ? header.size() : eol + 1;
    if (line == "\r\n" || line == "\n") break;
    if (line[0] != ' ' && line[0] != '\t') {
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        keep = false;  // not a field: never part of a HEADER.FIELDS answer
        continue;
      }
      std::string_view name = line.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      bool listed = std::any_of(fields.begin(), fields.end(), [&](const std::string& f) {
        return ascii::EqualsIgnoreCase(f, name);
      });
      keep = listed != negate;
    }
    if (!keep) continue;
    out.append(line);
    if (line.back() != '\n') out += "\r\n";  // a header without its blank line
  }
  out += "\r\n";
  return out;
}

std::optional<std::string> BodySectionData(std::string_view raw, const mime::Message& msg,
                                           const FetchItem& item) {
  if (item.part.empty() && item.section.empty()) return std::string(raw);
  const mime::Part* part = &msg.root;
  if (!item.part.empty()) {
    part = mime::FindPart(msg, PartPath(item.part));
    if (!part) return std::nullopt;
  }
  if (item.section.empty()) return std::string(Slice(raw, part->body_offset, part->body_size));
  if (item.section == "MIME") {
    return std::string(Slice(raw, part->header_offset, part->header_size));
  }
  // HEADER, TEXT and HEADER.FIELDS[.NOT]: of the message, or of a message/rfc822 part's
  // encapsulated message.
  const mime::Part* m = part;
  if (!item.part.empty()) {
    if (!part->IsMessage() || part->children.empty()) return std::string();
    m = &part->children[0];
  }
  std::string_view header = Slice(raw, m->header_offset, m->header_size);
  if (item.section == "HEADER") return std::string(header);
  if (item.section == "TEXT") return std::string(Slice(raw, m->body_offset, m->body_size));
  return FilterHeaderFields(header, item.fields, item.section == "HEADER.FIELDS.NOT");
}

absl::StatusOr<std::optional<std::string>> BinarySectionData(std::string_view raw,
                                                             const mime::Message& msg,
                                                             const FetchItem& item) {
  if (item.part.empty()) return std::optional<std::string>(std::string(raw));
  const mime::Part* p = mime::FindPart(msg, PartPath(item.part));
  if (!p || p->IsMultipart()) return std::optional<std::string>();
  if (!KnownEncoding(p->encoding)) {
    return absl::FailedPreconditionError("[UNKNOWN-CTE] Unknown Content-Transfer-Encoding");
  }
  return std::optional<std::string>(mime::TransferDecode(raw, *p));
}

std::string ApplyPartial(std::string data, const FetchItem& item) {
  if (!item.partial) return data;
  uint64_t from = std::min<uint64_t>(item.partial->first, data.size());
  return data.substr(from, item.partial->second);
}

}  // namespace kite::imap
