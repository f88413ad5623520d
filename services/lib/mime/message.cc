// Parse once: the boundary scanner (exact offsets) and the header parsing through GMime.
#include "lib/mime/message.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "lib/mime/address.h"
#include "lib/mime/internal.h"

namespace kite::mime {

bool Part::operator==(const Part& o) const {
  bool env_eq = (!envelope && !o.envelope) || (envelope && o.envelope && *envelope == *o.envelope);
  return env_eq && type == o.type && subtype == o.subtype && params == o.params && id == o.id &&
         description == o.description && md5 == o.md5 && encoding == o.encoding && disposition == o.disposition &&
         disposition_params == o.disposition_params && language == o.language &&
         location == o.location && header_offset == o.header_offset &&
         header_size == o.header_size && body_offset == o.body_offset && body_size == o.body_size &&
         body_lines == o.body_lines && children == o.children;
}

void EnsureGMimeInit() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

namespace internal {

std::string Lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return r;
}

std::string Upper(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return r;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// Unfolds a raw field value: CR and LF removed (the WSP after them is kept), leading and
// trailing blanks removed, NULs dropped (GMime takes C strings).
std::string Unfold(std::string_view v) {
  std::string r;
  r.reserve(v.size());
  for (char c : v) {
    if (c != '\r' && c != '\n' && c != '\0') r.push_back(c);
  }
  return std::string(Trim(r));
}

HeaderBlock ScanHeader(std::string_view raw, size_t begin, size_t end, size_t max_bytes) {
  HeaderBlock h;
  h.begin = begin;
  size_t pos = begin;
  // Find the end: the first empty line. A message without one is all header.
  h.end = end;
  h.body = end;
  while (pos < end) {
    size_t nl = raw.find('\n', pos);
    size_t line_end = (nl == std::string_view::npos || nl >= end) ? end : nl + 1;
    std::string_view line = raw.substr(pos, line_end - pos);
    if (line == "\n" || line == "\r\n") {
      h.end = line_end;
      h.body = line_end;
      break;
    }
    pos = line_end;
  }
  // Split fields (within the limit). A line that is neither a field nor a continuation is
  // skipped, as are fields with an empty or malformed name.
  size_t limit = std::min(h.end, begin + max_bytes);
  pos = begin;
  while (pos < limit) {
    size_t nl = raw.find('\n', pos);
    size_t line_end = (nl == std::string_view::npos || nl >= h.end) ? h.end : nl + 1;
    std::string_view line = raw.substr(pos, line_end - pos);
    if (line == "\n" || line == "\r\n") break;
    if ((line[0] == ' ' || line[0] == '\t') && !h.fields.empty()) {
      HeaderField& f = h.fields.back();
      f.raw_value = raw.substr(f.value_offset, line_end - f.value_offset);
    } else {
      size_t colon = line.find(':');
      std::string_view name =
          colon == std::string_view::npos ? std::string_view{} : Trim(line.substr(0, colon));
      bool ok = !name.empty() && name.find_first_of(" \t") == std::string_view::npos;
      if (ok) {
        HeaderField f;
        f.name = name;
        f.value_offset = pos + colon + 1;
        f.raw_value = raw.substr(f.value_offset, line_end - f.value_offset);
        h.fields.push_back(f);
      }
    }
    pos = line_end;
  }
  return h;
}

const HeaderField* HeaderBlock::Find(std::string_view name) const {
  for (const auto& f : fields) {
    if (IEquals(f.name, name)) return &f;
  }
  return nullptr;
}

}  // namespace internal

namespace {

using internal::HeaderBlock;
using internal::IEquals;
using internal::Lower;
using internal::Trim;
using internal::Unfold;

template <typename T>
struct GUnref {
  void operator()(T* p) const {
    if (p) g_object_unref(p);
  }
};
template <typename T>
using GPtr = std::unique_ptr<T, GUnref<T>>;

std::vector<Param> ParamsFrom(GMimeParamList* list) {
  std::vector<Param> out;
  if (!list) return out;
  int n = g_mime_param_list_length(list);
  for (int i = 0; i < n && i < 64; ++i) {
    GMimeParam* p = g_mime_param_list_get_parameter_at(list, i);
    const char* name = g_mime_param_get_name(p);
    const char* value = g_mime_param_get_value(p);
    if (!name || !*name) continue;
    out.push_back(Param{Lower(name), value ? value : ""});
  }
  return out;
}

uint64_t CountLines(std::string_view s) {
  uint64_t n = static_cast<uint64_t>(std::count(s.begin(), s.end(), '\n'));
  if (!s.empty() && s.back() != '\n') ++n;
  return n;
}

std::optional<std::string> RawValue(const HeaderBlock& h, std::string_view name) {
  const auto* f = h.Find(name);
  if (!f) return std::nullopt;
  return Unfold(f->raw_value);
}

std::vector<Address> Addresses(const HeaderBlock& h, std::string_view name) {
  auto v = RawValue(h, name);
  if (!v || v->empty()) return {};
  return ParseAddressList(*v);
}

std::optional<std::string> NonEmpty(std::optional<std::string> v) {
  if (v && v->empty()) return std::nullopt;
  return v;
}

Envelope BuildEnvelope(const HeaderBlock& h) {
  Envelope e;
  e.date = NonEmpty(RawValue(h, "date"));
  e.subject = RawValue(h, "subject");
  e.from = Addresses(h, "from");
  e.sender = Addresses(h, "sender");
  e.reply_to = Addresses(h, "reply-to");
  e.to = Addresses(h, "to");
  e.cc = Addresses(h, "cc");
  e.bcc = Addresses(h, "bcc");
  if (e.sender.empty()) e.sender = e.from;
  if (e.reply_to.empty()) e.reply_to = e.from;
  e.in_reply_to = NonEmpty(RawValue(h, "in-reply-to"));
  e.message_id = NonEmpty(RawValue(h, "message-id"));
  return e;
}

class Parser {
 public:
  Parser(std::string_view raw, const Limits& limits) : raw_(raw), limits_(limits) {}

  // Parses the entity [begin, end): header then body. default_type is message/rfc822 in a
  // multipart/digest, else text/plain.
  Part ParseEntity(size_t begin, size_t end, int depth, bool digest_child,
                   HeaderBlock* header_out = nullptr) {
    ++parts_;
    HeaderBlock h = internal::ScanHeader(raw_, begin, end, limits_.max_header_bytes);
    Part p;
    p.header_offset = begin;
    p.header_size = h.body - begin;
    p.body_offset = h.body;
    p.body_size = end - h.body;
    std::string_view body = raw_.substr(h.body, end - h.body);

    // Content-Type.
    bool have_type = false;
    if (auto ct = RawValue(h, "content-type"); ct && !ct->empty()) {
      GPtr<GMimeContentType> t(g_mime_content_type_parse(nullptr, ct->c_str()));
      if (t) {
        const char* type = g_mime_content_type_get_media_type(t.get());
        const char* sub = g_mime_content_type_get_media_subtype(t.get());
        if (type && sub && *type && *sub && std::string_view(type) != "*") {
          p.type = Lower(type);
          p.subtype = Lower(sub);
          p.params = ParamsFrom(g_mime_content_type_get_parameters(t.get()));
          have_type = true;
        }
      }
    }
    if (!have_type) {
      if (digest_child) {
        p.type = "message";
        p.subtype = "rfc822";
      }
    }
    if (p.type == "text" && std::none_of(p.params.begin(), p.params.end(),
                                         [](const Param& prm) { return prm.name == "charset"; })) {
      p.params.push_back(Param{"charset", "us-ascii"});  // RFC 2045 5.2, as Dovecot sends it
    }
    if (auto v = RawValue(h, "content-transfer-encoding"); v && !v->empty()) {
      std::string enc = Lower(*v);
      // Keep a token only; GMime-style leniency for trailing comments.
      size_t cut = enc.find_first_of(" \t;(");
      if (cut != std::string::npos) enc.resize(cut);
      if (!enc.empty()) p.encoding = enc;
    }
    p.id = NonEmpty(RawValue(h, "content-id"));
    p.description = NonEmpty(RawValue(h, "content-description"));
    p.location = NonEmpty(RawValue(h, "content-location"));
    p.md5 = NonEmpty(RawValue(h, "content-md5"));
    if (auto v = RawValue(h, "content-disposition"); v && !v->empty()) {
      GPtr<GMimeContentDisposition> d(g_mime_content_disposition_parse(nullptr, v->c_str()));
      if (d) {
        const char* disp = g_mime_content_disposition_get_disposition(d.get());
        if (disp && *disp) {
          p.disposition = Lower(disp);
          p.disposition_params = ParamsFrom(g_mime_content_disposition_get_parameters(d.get()));
        }
      }
    }
    if (auto v = RawValue(h, "content-language"); v && !v->empty()) {
      std::string_view rest = *v;
      while (!rest.empty() && p.language.size() < 32) {
        size_t comma = rest.find(',');
        std::string_view tok = Trim(rest.substr(0, comma));
        if (!tok.empty()) p.language.emplace_back(tok);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
    if (header_out) *header_out = std::move(h);

    bool beyond = depth >= limits_.max_depth || parts_ >= limits_.max_parts;
    if (p.type == "multipart") {
      std::string boundary;
      for (const auto& prm : p.params) {
        if (prm.name == "boundary") boundary = prm.value;
      }
      if (beyond || boundary.empty() || boundary.size() > 200) {
        MakeOpaque(p);
      } else {
        ParseMultipart(p, body, boundary, depth);
      }
    } else if (p.type == "message" && p.subtype == "rfc822") {
      if (p.encoding != "7bit" && p.encoding != "8bit" && p.encoding != "binary") {
        // An encoded message is not parsed (as Dovecot): a basic part, sent as such.
      } else if (beyond) {
        MakeOpaque(p);
      } else {
        HeaderBlock nested_h;
        Part nested = ParseEntity(h.body, end, depth + 1, false, &nested_h);
        p.envelope = std::make_shared<Envelope>(BuildEnvelope(nested_h));
        p.children.push_back(std::move(nested));
        p.body_lines = CountLines(body);
      }
    } else if (p.type == "text") {
      p.body_lines = CountLines(body);
    }
    return p;
  }

  int parts() const { return parts_; }

 private:
  static void MakeOpaque(Part& p) {
    p.type = "application";
    p.subtype = "octet-stream";
    p.params.clear();
    p.children.clear();
    p.envelope.reset();
    p.body_lines = 0;
  }

  // Is [pos, ...) a delimiter line "--boundary" ["--"] [blanks] EOL? Sets *close and *next
  // (the start of the line after it).
  bool IsDelimiter(std::string_view body, size_t pos, std::string_view boundary, bool* close,
                   size_t* next) const {
    if (body.size() - pos < boundary.size() + 2) return false;
    if (body[pos] != '-' || body[pos + 1] != '-') return false;
    if (body.compare(pos + 2, boundary.size(), boundary) != 0) return false;
    size_t i = pos + 2 + boundary.size();
    *close = false;
    if (body.size() - i >= 2 && body[i] == '-' && body[i + 1] == '-') {
      *close = true;
      i += 2;
    }
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
    if (i == body.size()) {
      *next = i;
      return true;
    }
    if (body[i] == '\n') {
      *next = i + 1;
      return true;
    }
    if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') {
      *next = i + 2;
      return true;
    }
    if (*close) {  // "--b--garbage" still closes (lenient, like GMime)
      size_t nl = body.find('\n', i);
      *next = nl == std::string_view::npos ? body.size() : nl + 1;
      return true;
    }
    return false;
  }

  void ParseMultipart(Part& p, std::string_view body, std::string_view boundary, int depth) {
    const size_t base = p.body_offset;
    bool digest = p.subtype == "digest";
    // Line starts where a delimiter may begin: position 0 and after each LF.
    size_t pos = 0;
    std::optional<size_t> part_start;  // start of the current part (relative)
    bool closed = false;
    while (pos <= body.size() && !closed) {
      bool close = false;
      size_t next = 0;
      if (pos < body.size() && IsDelimiter(body, pos, boundary, &close, &next)) {
        if (part_start) {
          // The CRLF (or LF) before the delimiter belongs to the delimiter.
          size_t part_end = pos;
          if (part_end > *part_start && body[part_end - 1] == '\n') {
            --part_end;
            if (part_end > *part_start && body[part_end - 1] == '\r') --part_end;
          }
          if (part_end < *part_start) part_end = *part_start;
          AddChild(p, base + *part_start, base + part_end, depth, digest);
        }
        if (close) {
          closed = true;
          break;
        }
        part_start = next;
        pos = next;
        if (static_cast<int>(p.children.size()) >= 10000) break;
        continue;
      }
      size_t nl = body.find('\n', pos);
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
    if (!closed && part_start) {
      // Unterminated: the last part runs to the end of the body.
      AddChild(p, base + *part_start, base + body.size(), depth, digest);
    }
    if (p.children.empty()) {
      // No parts at all: an empty text/plain part keeps the structure valid.
      Part empty;
      empty.params.push_back(Param{"charset", "us-ascii"});
      empty.header_offset = empty.body_offset = base + body.size();
      p.children.push_back(std::move(empty));
    }
  }

  void AddChild(Part& p, size_t begin, size_t end, int depth, bool digest) {
    if (parts_ >= limits_.max_parts) {
      // Beyond the part limit: the rest of the multipart is one opaque leaf.
      if (!p.children.empty() && p.children.back().type == "application" &&
          p.children.back().subtype == "octet-stream" && p.children.back().header_size == 0) {
        Part& last = p.children.back();
        last.body_size = end - last.body_offset;
        return;
      }
      Part opaque;
      opaque.type = "application";
      opaque.subtype = "octet-stream";
      opaque.header_offset = opaque.body_offset = begin;
      opaque.body_size = end - begin;
      p.children.push_back(std::move(opaque));
      return;
    }
    p.children.push_back(ParseEntity(begin, end, depth + 1, digest));
  }

  std::string_view raw_;
  const Limits& limits_;
  int parts_ = 0;
};

}  // namespace

std::string_view HeaderOf(std::string_view raw) {
  return raw.substr(0, internal::ScanHeader(raw, 0, raw.size(), 0).end);
}

Message Parse(std::string_view raw, const Limits& limits) {
  EnsureGMimeInit();
  Message msg;
  msg.size = raw.size();
  Parser parser(raw, limits);
  HeaderBlock h;
  msg.root = parser.ParseEntity(0, raw.size(), 0, false, &h);
  msg.envelope = BuildEnvelope(h);
  return msg;
}

const Part* FindPart(const Message& msg, std::string_view section) {
  const Part* p = &msg.root;
  if (section.empty() || section == "0") return p;
  bool first = true;
  while (!section.empty()) {
    size_t dot = section.find('.');
    std::string_view num = section.substr(0, dot);
    section = dot == std::string_view::npos ? std::string_view{} : section.substr(dot + 1);
    if (num.empty() || num.size() > 6) return nullptr;
    size_t n = 0;
    for (char c : num) {
      if (c < '0' || c > '9') return nullptr;
      n = n * 10 + static_cast<size_t>(c - '0');
    }
    if (n == 0) return nullptr;
    // A message/rfc822 part's numbers address its nested message's body. The root is the
    // message itself: a top-level message/rfc822 has the single part 1 (the encapsulated
    // message), whose numbers go inside.
    if (p->IsMessage() && !first) p = &p->children[0];
    first = false;
    if (p->IsMultipart()) {
      if (n > p->children.size()) return nullptr;
      p = &p->children[n - 1];
    } else if (n != 1) {
      return nullptr;
    }
  }
  return p;
}

}  // namespace kite::mime
