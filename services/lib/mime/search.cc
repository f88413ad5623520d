// SEARCH support: decoded header values (RFC 2047) and decoded text parts, via GMime.
#include <gmime/gmime.h>

#include <string>

#include "lib/mime/internal.h"
#include "lib/mime/message.h"

namespace kite::mime {
namespace {

using internal::IEquals;

void Unref(void* p) {
  if (p) g_object_unref(p);
}

std::string Decode(std::string_view body, std::string_view encoding, std::string_view charset,
                   size_t max_bytes) {
  std::string out;
  GMimeStream* src = g_mime_stream_mem_new_with_buffer(body.data(), body.size());
  GMimeStream* filtered = g_mime_stream_filter_new(src);
  std::string enc(encoding);
  GMimeContentEncoding ce = g_mime_content_encoding_from_string(enc.c_str());
  if (ce == GMIME_CONTENT_ENCODING_BASE64 || ce == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
      ce == GMIME_CONTENT_ENCODING_UUENCODE) {
    GMimeFilter* f = g_mime_filter_basic_new(ce, FALSE);
    g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), f);
    Unref(f);
  }
  std::string cs(charset);
  if (!cs.empty() && !IEquals(cs, "utf-8") && !IEquals(cs, "us-ascii") && !IEquals(cs, "utf8") &&
      cs.size() < 64) {
    GMimeFilter* f = g_mime_filter_charset_new(cs.c_str(), "utf-8");
    if (f) {
      g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), f);
      Unref(f);
    }
  }
  char buf[8192];
  while (out.size() < max_bytes) {
    ssize_t n = g_mime_stream_read(filtered, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  if (out.size() > max_bytes) out.resize(max_bytes);
  Unref(filtered);
  Unref(src);
  return out;
}

void CollectText(std::string_view raw, const Part& p, size_t max_bytes, std::string& out,
                 int depth) {
  if (out.size() >= max_bytes || depth > 64) return;
  if (!p.children.empty()) {
    for (const auto& c : p.children) CollectText(raw, c, max_bytes, out, depth + 1);
    return;
  }
  if (p.type != "text") return;
  if (p.body_offset > raw.size() || p.body_size > raw.size() - p.body_offset) return;
  std::string charset;
  for (const auto& prm : p.params) {
    if (prm.name == "charset") charset = prm.value;
  }
  if (!out.empty()) out.push_back('\n');
  out += Decode(raw.substr(p.body_offset, p.body_size), p.encoding, charset,
                max_bytes - std::min(max_bytes, out.size()));
}

// The first leaf of type text/<subtype> that is not an attachment, depth first, without going
// into message/rfc822 parts.
const Part* FirstText(const Part& p, std::string_view subtype, int depth) {
  if (depth > 64 || p.IsMessage()) return nullptr;
  if (p.IsMultipart()) {
    for (const auto& c : p.children) {
      if (const Part* found = FirstText(c, subtype, depth + 1)) return found;
    }
    return nullptr;
  }
  if (p.type != "text" || p.subtype != subtype) return nullptr;
  if (p.disposition && *p.disposition == "attachment") return nullptr;
  return &p;
}

// Length of the valid UTF-8 sequence at s[i], 0 when invalid.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

std::string Preview(std::string_view raw, const Message& msg, size_t max_chars) {
  EnsureGMimeInit();
  bool html = false;
  const Part* p = FirstText(msg.root, "plain", 0);
  if (p == nullptr) {
    p = FirstText(msg.root, "html", 0);
    html = true;
  }
  if (p == nullptr || p->body_offset > raw.size() || p->body_size > raw.size() - p->body_offset) return {};
  std::string charset;
  for (const auto& prm : p->params) {
    if (prm.name == "charset") charset = prm.value;
  }
  // Enough decoded text for max_chars characters after collapsing, within reason.
  const std::string text = Decode(raw.substr(p->body_offset, p->body_size), p->encoding, charset, 64 * 1024);
  std::string out;
  size_t chars = 0;
  bool space = false, in_tag = false;
  for (size_t i = 0; i < text.size() && chars < max_chars;) {
    const char c = text[i];
    if (html && (in_tag || c == '<')) {
      in_tag = c != '>';
      if (!in_tag) space = !out.empty();
      ++i;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
      space = !out.empty();
      ++i;
      continue;
    }
    const size_t n = Utf8Length(text, i);
    if (n == 0 || static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {  // invalid or control
      ++i;
      continue;
    }
    if (space) {
      out.push_back(' ');
      space = false;
      if (++chars == max_chars) break;
    }
    out.append(text, i, n);
    ++chars;
    i += n;
  }
  return out;
}

std::vector<std::string> HeaderValues(std::string_view raw, const Part& part, std::string_view name,
                                      size_t max_bytes) {
  EnsureGMimeInit();
  std::vector<std::string> out;
  if (part.header_offset > raw.size() || part.header_size > raw.size() - part.header_offset)
    return out;
  auto h = internal::ScanHeader(raw, part.header_offset, part.header_offset + part.header_size,
                                Limits{}.max_header_bytes);
  size_t total = 0;
  for (const auto& f : h.fields) {
    if (!IEquals(f.name, name)) continue;
    std::string v = internal::Unfold(f.raw_value);
    char* dec = g_mime_utils_header_decode_text(nullptr, v.c_str());
    std::string d = dec ? std::string(dec) : v;
    g_free(dec);
    if (total + d.size() > max_bytes) break;
    total += d.size();
    out.push_back(std::move(d));
  }
  return out;
}

std::string TransferDecode(std::string_view raw, const Part& part, size_t max_bytes) {
  EnsureGMimeInit();
  if (part.body_offset > raw.size() || part.body_size > raw.size() - part.body_offset) return {};
  return Decode(raw.substr(part.body_offset, part.body_size), part.encoding, "", max_bytes);
}

std::string BodyText(std::string_view raw, const Message& msg, size_t max_bytes) {
  EnsureGMimeInit();
  std::string out;
  CollectText(raw, msg.root, max_bytes, out, 0);
  if (out.size() > max_bytes) out.resize(max_bytes);
  return out;
}

}  // namespace kite::mime
