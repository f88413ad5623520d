// The storage blob: "KMS" + a version byte (2; version 1 lacks Content-MD5 and is still
// read), then LEB128 varints and length-prefixed strings.
// Decoding checks every length against the bytes left, and depth and part count against the
// limits, so corrupt or hostile blobs are rejected without large allocations.
#include <string>

#include "absl/status/status.h"
#include "lib/mime/message.h"

namespace kite::mime {
namespace {

constexpr char kMagic[] = {'K', 'M', 'S', '\x02'};
constexpr char kVersion1 = '\x01';

class Writer {
 public:
  void U(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void S(std::string_view s) {
    U(s.size());
    out_.append(s.data(), s.size());
  }
  void O(const std::optional<std::string>& s) {
    if (!s) {
      U(0);
    } else {
      U(1);
      S(*s);
    }
  }
  void Params(const std::vector<Param>& ps) {
    U(ps.size());
    for (const auto& p : ps) {
      S(p.name);
      S(p.value);
    }
  }
  void Addrs(const std::vector<Address>& as) {
    U(as.size());
    for (const auto& a : as) {
      O(a.name);
      O(a.adl);
      O(a.mailbox);
      O(a.host);
    }
  }
  void Env(const Envelope& e) {
    O(e.date);
    O(e.subject);
    for (const auto* l : {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc}) Addrs(*l);
    O(e.in_reply_to);
    O(e.message_id);
  }
  void P(const Part& p) {
    S(p.type);
    S(p.subtype);
    Params(p.params);
    O(p.id);
    O(p.description);
    O(p.md5);
    S(p.encoding);
    O(p.disposition);
    Params(p.disposition_params);
    U(p.language.size());
    for (const auto& l : p.language) S(l);
    O(p.location);
    U(p.header_offset);
    U(p.header_size);
    U(p.body_offset);
    U(p.body_size);
    U(p.body_lines);
    U(p.envelope ? 1 : 0);
    if (p.envelope) Env(*p.envelope);
    U(p.children.size());
    for (const auto& c : p.children) P(c);
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(std::string_view in, const Limits& limits, bool with_md5)
      : in_(in), limits_(limits), with_md5_(with_md5) {}

  bool U(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return Fail();
      auto b = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return Fail();
  }
  bool Count(size_t& n, size_t max) {
    uint64_t v;
    if (!U(v) || v > max || v > in_.size()) return Fail();  // every element takes a byte
    n = static_cast<size_t>(v);
    return true;
  }
  bool S(std::string& s) {
    uint64_t n;
    if (!U(n) || n > in_.size()) return Fail();
    s.assign(in_.data(), static_cast<size_t>(n));
    in_.remove_prefix(static_cast<size_t>(n));
    return true;
  }
  bool O(std::optional<std::string>& s) {
    uint64_t tag;
    if (!U(tag) || tag > 1) return Fail();
    if (tag == 0) {
      s.reset();
      return true;
    }
    s.emplace();
    return S(*s);
  }
  bool Params(std::vector<Param>& ps) {
    size_t n;
    if (!Count(n, 1024)) return false;
    ps.resize(n);
    for (auto& p : ps) {
      if (!S(p.name) || !S(p.value)) return false;
    }
    return true;
  }
  bool Addrs(std::vector<Address>& as) {
    size_t n;
    if (!Count(n, 4096)) return false;
    as.resize(n);
    for (auto& a : as) {
      if (!O(a.name) || !O(a.adl) || !O(a.mailbox) || !O(a.host)) return false;
    }
    return true;
  }
  bool Env(Envelope& e) {
    if (!O(e.date) || !O(e.subject)) return false;
    for (auto* l : {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc}) {
      if (!Addrs(*l)) return false;
    }
    return O(e.in_reply_to) && O(e.message_id);
  }
  bool P(Part& p, int depth) {
    if (depth > limits_.max_depth + 1 || ++parts_ > limits_.max_parts + 64) return Fail();
    if (!S(p.type) || !S(p.subtype) || !Params(p.params) || !O(p.id) || !O(p.description) ||
        (with_md5_ && !O(p.md5)) || !S(p.encoding) || !O(p.disposition) || !Params(p.disposition_params))
      return false;
    size_t nl;
    if (!Count(nl, 256)) return false;
    p.language.resize(nl);
    for (auto& l : p.language) {
      if (!S(l)) return false;
    }
    uint64_t has_env;
    if (!O(p.location) || !U(p.header_offset) || !U(p.header_size) || !U(p.body_offset) ||
        !U(p.body_size) || !U(p.body_lines) || !U(has_env) || has_env > 1)
      return Fail();
    if (has_env) {
      p.envelope = std::make_shared<Envelope>();
      if (!Env(*p.envelope)) return false;
    }
    size_t nc;
    if (!Count(nc, static_cast<size_t>(limits_.max_parts) + 64)) return false;
    p.children.resize(nc);
    for (auto& c : p.children) {
      if (!P(c, depth + 1)) return false;
    }
    if (has_env && nc != 1) return Fail();
    return true;
  }
  bool AtEnd() const { return in_.empty(); }
  bool Fail() { return false; }

 private:
  std::string_view in_;
  const Limits& limits_;
  bool with_md5_;
  int parts_ = 0;
};

}  // namespace

std::string EncodeStorage(const Message& msg) {
  Writer w;
  w.out().append(kMagic, sizeof(kMagic));
  w.U(msg.size);
  w.Env(msg.envelope);
  w.P(msg.root);
  return std::move(w.out());
}

absl::StatusOr<Message> DecodeStorage(std::string_view blob, const Limits& limits) {
  if (blob.size() < sizeof(kMagic) || blob.substr(0, 3) != std::string_view(kMagic, 3)) {
    return absl::DataLossError("mime storage blob: bad magic");
  }
  if (blob[3] != kMagic[3] && blob[3] != kVersion1) {
    return absl::DataLossError("mime storage blob: unknown version");
  }
  Reader r(blob.substr(sizeof(kMagic)), limits, blob[3] == kMagic[3]);
  Message msg;
  if (!r.U(msg.size) || !r.Env(msg.envelope) || !r.P(msg.root, 0) || !r.AtEnd()) {
    return absl::DataLossError("mime storage blob: corrupt");
  }
  // Offsets must lie inside the message they describe.
  bool ok = true;
  auto check = [&](const Part& p, auto& self) -> void {
    if (p.header_offset > msg.size || p.header_size > msg.size - p.header_offset ||
        p.body_offset > msg.size || p.body_size > msg.size - p.body_offset)
      ok = false;
    for (const auto& c : p.children) self(c, self);
  };
  check(msg.root, check);
  if (!ok) return absl::DataLossError("mime storage blob: offsets outside the message");
  return msg;
}

}  // namespace kite::mime
