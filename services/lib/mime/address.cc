// RFC 5322 address lists as raw IMAP ENVELOPE addresses; see address.h.
#include "lib/mime/address.h"

#include <cstring>
#include <optional>
#include <string>

namespace kite::mime {
namespace {

constexpr std::string_view kMissingMailbox = "MISSING_MAILBOX";
constexpr std::string_view kMissingDomain = "MISSING_DOMAIN";

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// atext plus '.' (obs-phrase, dot-atom) and 8-bit bytes (RFC 6532); NUL and controls are not
// atom characters and get skipped.
bool IsAtomChar(char ch) {
  auto c = static_cast<unsigned char>(ch);
  if (c >= 0x80) return true;
  if (c <= 0x20 || c == 0x7f) return false;
  return std::strchr("()<>[]:;@\\,\"", c) == nullptr;
}

struct Word {
  std::string text;  // a quoted string's content, unescaped
  bool quoted = false;
};

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  std::vector<Address> Run(size_t max) {
    std::vector<Address> out;
    bool in_group = false;
    while (i_ < s_.size() && out.size() < max) {
      comment_.reset();
      SkipCfws();
      if (i_ >= s_.size()) break;
      char c = s_[i_];
      if (c == ',') {
        ++i_;
        continue;
      }
      if (c == ';') {
        ++i_;
        if (in_group) out.emplace_back();  // end of group
        in_group = false;
        continue;
      }
      std::vector<Word> phrase = ReadWords();
      c = i_ < s_.size() ? s_[i_] : ',';
      if (c == ':') {
        ++i_;
        if (!in_group) {
          Address start;
          start.mailbox = Phrase(phrase).value_or("");
          out.push_back(std::move(start));
          in_group = true;
        }
        continue;
      }
      if (c == '<') {
        ++i_;
        Address a;
        a.name = Phrase(phrase);
        AngleAddr(a);
        out.push_back(std::move(a));
        continue;
      }
      if (c == '@') {
        ++i_;
        Address a;
        a.mailbox = LocalPart(phrase);
        comment_.reset();
        a.host = ReadDomain();
        SkipCfws();  // "user@host (Real Name)": the comment is the name
        a.name = comment_;
        out.push_back(std::move(a));
        continue;
      }
      if (c == ',' || c == ';') {
        if (!phrase.empty()) {  // a bare local part
          Address a;
          a.mailbox = LocalPart(phrase);
          a.host = std::string(kMissingDomain);
          a.name = comment_;
          out.push_back(std::move(a));
        }
        continue;
      }
      ++i_;  // a stray special ('>', ')', ']', '\\', ...)
    }
    if (in_group) out.emplace_back();  // an unterminated group is closed
    return out;
  }

 private:
  void SkipCfws() {
    while (i_ < s_.size()) {
      if (IsBlank(s_[i_])) {
        ++i_;
      } else if (s_[i_] == '(') {
        ReadComment();
      } else {
        break;
      }
    }
  }

  // A comment, nested comments included; the outermost one's text becomes comment_.
  void ReadComment() {
    std::string text;
    int depth = 0;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '\\' && i_ < s_.size()) {
        text.push_back(s_[i_++]);
        continue;
      }
      if (c == '(') {
        if (depth++ > 0) text.push_back(c);
        continue;
      }
      if (c == ')') {
        if (--depth == 0) break;
        text.push_back(c);
        continue;
      }
      if (c == '\r' || c == '\n') continue;
      text.push_back(c);
    }
    std::optional<std::string> trimmed = Trimmed(text);
    if (trimmed) comment_ = std::move(trimmed);
  }

  static std::optional<std::string> Trimmed(std::string_view t) {
    while (!t.empty() && IsBlank(t.front())) t.remove_prefix(1);
    while (!t.empty() && IsBlank(t.back())) t.remove_suffix(1);
    if (t.empty()) return std::nullopt;
    return std::string(t);
  }

  // At '"': the quoted string's content, escapes undone, folding removed.
  std::string ReadQuoted() {
    std::string text;
    ++i_;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') break;
      if (c == '\\' && i_ < s_.size()) c = s_[i_++];
      if (c == '\r' || c == '\n') continue;
      text.push_back(c);
    }
    return text;
  }

  // Words (atoms and quoted strings) up to the next special; CFWS between them skipped.
  std::vector<Word> ReadWords() {
    std::vector<Word> words;
    for (;;) {
      SkipCfws();
      if (i_ >= s_.size()) break;
      if (s_[i_] == '"') {
        words.push_back(Word{ReadQuoted(), true});
      } else if (IsAtomChar(s_[i_])) {
        size_t start = i_;
        while (i_ < s_.size() && IsAtomChar(s_[i_])) ++i_;
        words.push_back(Word{std::string(s_.substr(start, i_ - start)), false});
      } else {
        break;
      }
    }
    return words;
  }

  // display-name: the words joined by one space; nullopt when there is none.
  static std::optional<std::string> Phrase(const std::vector<Word>& words) {
    std::string out;
    for (const Word& w : words) {
      if (!out.empty() && !w.text.empty()) out.push_back(' ');
      out += w.text;
    }
    return Trimmed(out);
  }

  // local-part: the words concatenated (obs-local-part: word *("." word)); a quoted word
  // keeps its quotes unless its content is a plain atom.
  static std::string LocalPart(const std::vector<Word>& words) {
    std::string out;
    for (const Word& w : words) {
      bool plain = !w.text.empty();
      for (char c : w.text) plain = plain && IsAtomChar(c);
      if (!w.quoted || plain) {
        out += w.text;
        continue;
      }
      out.push_back('"');
      for (char c : w.text) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
      }
      out.push_back('"');
    }
    if (out.empty()) return std::string(kMissingMailbox);
    return out;
  }

  // domain: a dot-atom or a domain literal "[...]" (kept with its brackets).
  std::string ReadDomain() {
    SkipCfws();
    std::string d;
    if (i_ < s_.size() && s_[i_] == '[') {
      size_t start = i_++;
      while (i_ < s_.size() && s_[i_] != ']') {
        if (s_[i_] == '\\' && i_ + 1 < s_.size()) ++i_;
        ++i_;
      }
      if (i_ < s_.size()) ++i_;
      for (char c : s_.substr(start, i_ - start)) {
        if (c != '\r' && c != '\n') d.push_back(c);
      }
    } else {
      size_t start = i_;
      while (i_ < s_.size() && IsAtomChar(s_[i_])) ++i_;
      d = std::string(s_.substr(start, i_ - start));
    }
    if (d.empty()) return std::string(kMissingDomain);
    return d;
  }

  // After '<': [obs-route ":"] addr-spec ">".
  void AngleAddr(Address& a) {
    SkipCfws();
    // obs-domain-list = *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain])
    if (i_ < s_.size() && (s_[i_] == '@' || s_[i_] == ',')) {
      size_t save = i_;
      std::string route;
      for (;;) {
        SkipCfws();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
        } else if (i_ < s_.size() && s_[i_] == '@') {
          ++i_;
          if (!route.empty()) route.push_back(',');
          route += "@" + ReadDomain();
        } else {
          break;
        }
      }
      if (i_ < s_.size() && s_[i_] == ':' && !route.empty()) {
        ++i_;
        a.adl = std::move(route);
      } else {
        i_ = save;  // not a route ("<@host>"): read it as an addr-spec
      }
    }
    std::vector<Word> local = ReadWords();
    a.mailbox = LocalPart(local);
    if (i_ < s_.size() && s_[i_] == '@') {
      ++i_;
      a.host = ReadDomain();
    } else {
      a.host = std::string(kMissingDomain);
    }
    // Up to and past '>'; an unterminated angle-addr ends at ',' or ';'.
    while (i_ < s_.size() && s_[i_] != '>' && s_[i_] != ',' && s_[i_] != ';') {
      if (s_[i_] == '(') {
        ReadComment();
      } else if (s_[i_] == '"') {
        ReadQuoted();
      } else {
        ++i_;
      }
    }
    if (i_ < s_.size() && s_[i_] == '>') ++i_;
  }

  std::string_view s_;
  size_t i_ = 0;
  std::optional<std::string> comment_;  // the last comment seen
};

}  // namespace

std::vector<Address> ParseAddressList(std::string_view value, size_t max_addresses) {
  return Parser(value).Run(max_addresses);
}

}  // namespace kite::mime
