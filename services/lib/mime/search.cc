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

}  // namespace

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
