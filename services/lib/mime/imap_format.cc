// IMAP ENVELOPE, BODY and BODYSTRUCTURE strings (RFC 3501 7.4.2, 9 formal syntax).
#include <gmime/gmime.h>

#include <string>

#include "lib/mime/internal.h"
#include "lib/mime/message.h"

namespace kite::mime {
namespace {

using internal::Upper;

constexpr size_t kMaxQuoted = 1000;

void AppendString(std::string& out, std::optional<std::string_view> s) {
  if (!s) {
    out += "NIL";
    return;
  }
  bool quotable = s->size() <= kMaxQuoted;
  for (unsigned char c : *s) {
    if (c == '\r' || c == '\n' || c == 0 || c >= 0x80) {
      quotable = false;
      break;
    }
  }
  if (quotable) {
    out.push_back('"');
    for (char c : *s) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
    return;
  }
  out += "{" + std::to_string(s->size()) + "}\r\n";
  out.append(s->data(), s->size());
}

void AppendOpt(std::string& out, const std::optional<std::string>& s) {
  if (s) {
    AppendString(out, std::string_view(*s));
  } else {
    AppendString(out, std::nullopt);
  }
}

void AppendAddresses(std::string& out, const std::vector<Address>& list) {
  if (list.empty()) {
    out += "NIL";
    return;
  }
  out.push_back('(');
  for (const auto& a : list) {
    out.push_back('(');
    AppendOpt(out, a.name);
    out.push_back(' ');
    AppendOpt(out, a.adl);
    out.push_back(' ');
    AppendOpt(out, a.mailbox);
    out.push_back(' ');
    AppendOpt(out, a.host);
    out.push_back(')');
  }
  out.push_back(')');
}

bool IsAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

// RFC 2231 values were decoded to UTF-8; clients without UTF8=ACCEPT get a non-ASCII value
// as an RFC 2047 encoded word (as Gmail and Cyrus send file names), never as 8-bit.
void AppendParamValue(std::string& out, const std::string& value) {
  if (IsAscii(value) || value.size() > 4096) {
    AppendString(out, std::string_view(value));
    return;
  }
  EnsureGMimeInit();
  char* enc = g_mime_utils_header_encode_text(nullptr, value.c_str(), "utf-8");
  if (!enc) {
    AppendString(out, std::string_view(value));
    return;
  }
  std::string e(enc);
  g_free(enc);
  AppendString(out, std::string_view(e));
}

void AppendParams(std::string& out, const std::vector<Param>& params) {
  if (params.empty()) {
    out += "NIL";
    return;
  }
  out.push_back('(');
  bool first = true;
  for (const auto& p : params) {
    if (!first) out.push_back(' ');
    first = false;
    AppendString(out, Upper(p.name));
    out.push_back(' ');
    AppendParamValue(out, p.value);
  }
  out.push_back(')');
}

// body-ext-1part / body-ext-mpart after md5 or params: disposition, language, location.
void AppendDispLangLoc(std::string& out, const Part& p) {
  out.push_back(' ');
  if (p.disposition) {
    out.push_back('(');
    AppendString(out, Upper(*p.disposition));
    out.push_back(' ');
    AppendParams(out, p.disposition_params);
    out.push_back(')');
  } else {
    out += "NIL";
  }
  out.push_back(' ');
  if (p.language.empty()) {
    out += "NIL";
  } else if (p.language.size() == 1) {
    AppendString(out, std::string_view(p.language[0]));
  } else {
    out.push_back('(');
    for (size_t i = 0; i < p.language.size(); ++i) {
      if (i) out.push_back(' ');
      AppendString(out, std::string_view(p.language[i]));
    }
    out.push_back(')');
  }
  out.push_back(' ');
  AppendOpt(out, p.location);
}

void AppendBody(std::string& out, const Part& p, bool ext, int depth) {
  out.push_back('(');
  if (p.IsMultipart() && !p.children.empty() && depth < 200) {
    for (const auto& c : p.children) AppendBody(out, c, ext, depth + 1);
    out.push_back(' ');
    AppendString(out, Upper(p.subtype));
    if (ext) {
      out.push_back(' ');
      AppendParams(out, p.params);
      AppendDispLangLoc(out, p);
    }
    out.push_back(')');
    return;
  }
  bool is_msg = p.IsMessage() && p.children.size() == 1 && depth < 200;
  // A multipart without its parts is sent as an opaque basic part; a message/rfc822 that
  // was not parsed (transfer-encoded) as a basic part with its own type, as Dovecot does.
  std::string type = Upper(p.type), subtype = Upper(p.subtype);
  if (p.IsMultipart()) {
    type = "APPLICATION";
    subtype = "OCTET-STREAM";
  }
  AppendString(out, type);
  out.push_back(' ');
  AppendString(out, subtype);
  out.push_back(' ');
  AppendParams(out, p.params);
  out.push_back(' ');
  AppendOpt(out, p.id);
  out.push_back(' ');
  AppendOpt(out, p.description);
  out.push_back(' ');
  AppendString(out, Upper(p.encoding));
  out.push_back(' ');
  out += std::to_string(p.body_size);
  if (is_msg) {
    out.push_back(' ');
    out += ImapEnvelope(*p.envelope);
    out.push_back(' ');
    AppendBody(out, p.children[0], ext, depth + 1);
    out.push_back(' ');
    out += std::to_string(p.body_lines);
  } else if (type == "TEXT") {
    out.push_back(' ');
    out += std::to_string(p.body_lines);
  }
  if (ext) {
    out.push_back(' ');
    AppendOpt(out, p.md5);  // body-fld-md5
    AppendDispLangLoc(out, p);
  }
  out.push_back(')');
}

}  // namespace

std::string ImapString(std::optional<std::string_view> s) {
  std::string out;
  AppendString(out, s);
  return out;
}

std::string ImapEnvelope(const Envelope& e) {
  std::string out = "(";
  AppendOpt(out, e.date);
  out.push_back(' ');
  AppendOpt(out, e.subject);
  for (const auto* list : {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc}) {
    out.push_back(' ');
    AppendAddresses(out, *list);
  }
  out.push_back(' ');
  AppendOpt(out, e.in_reply_to);
  out.push_back(' ');
  AppendOpt(out, e.message_id);
  out.push_back(')');
  return out;
}

std::string ImapBody(const Part& part, bool extensible) {
  std::string out;
  AppendBody(out, part, extensible, 0);
  return out;
}

}  // namespace kite::mime
