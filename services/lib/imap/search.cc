#include "lib/imap/search.h"

#include <algorithm>
#include <utility>

#include "lib/base/ascii.h"
#include "lib/base/strings.h"
#include "lib/imap/object_id.h"
#include "lib/imap/quote.h"

namespace kite::imap {
namespace {

using ascii::EqualsIgnoreCase;
using ascii::ParseDecimal;
using ascii::ToLower;
using ascii::ToUpper;

constexpr std::string_view kBadCharsetMessage = "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset";

absl::Status Bad(std::string_view what) { return absl::InvalidArgumentError(AV(what)); }

// Client text inside an error message: printable ASCII only, and short.
std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(u > 0x20 && u < 0x7F ? c : '?');
  }
  if (s.size() > 40) out += "...";
  return out;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// --- Parser.

class Parser {
 public:
  Parser(const SearchParseOptions& options, SearchQuery& query)
      : options_(options), query_(query) {}

  absl::Status ParseKey(const std::vector<Token>& toks, size_t& i, size_t depth, SearchKey& out) {
    if (depth > options_.max_depth) return Bad("Search criteria nested too deeply");
    if (++keys_ > options_.max_keys) return Bad("Too many search keys");
    if (i >= toks.size()) return Bad("Missing search key");
    const Token& tok = toks[i++];
    if (tok.kind == Token::kList) {
      if (tok.children.empty()) return Bad("Empty search key list");
      out.kind = SearchKey::kAnd;
      size_t j = 0;
      while (j < tok.children.size()) {
        SearchKey child;
        absl::Status s = ParseKey(tok.children, j, depth + 1, child);
        if (!s.ok()) return s;
        out.children.push_back(std::move(child));
      }
      return absl::OkStatus();
    }
    if (tok.kind != Token::kAtom && tok.kind != Token::kNil) {
      return Bad("Invalid search key");
    }
    const std::string& text = tok.value;
    if (!text.empty() && ((text[0] >= '0' && text[0] <= '9') || text[0] == '*' || text[0] == '$')) {
      out.kind = SearchKey::kSequence;
      return ParseSet(text, out);
    }
    std::string name = ToUpper(text);
    auto flag = [&](std::string_view f, bool negate) {
      out.kind = SearchKey::kFlag;
      out.value = std::string(f);
      out.negate = negate;
      return absl::OkStatus();
    };
    auto string_key = [&](SearchKey::Kind kind) {
      out.kind = kind;
      return TakeString(toks, i, options_.max_string, out.value, name);
    };
    auto date_key = [&](SearchKey::Kind kind) {
      out.kind = kind;
      return TakeDate(toks, i, out.number, name);
    };
    if (name == "ALL") {
      out.kind = SearchKey::kAll;
      return absl::OkStatus();
    }
    if (name == "ANSWERED") return flag("\\Answered", false);
    if (name == "DELETED") return flag("\\Deleted", false);
    if (name == "DRAFT") return flag("\\Draft", false);
    if (name == "FLAGGED") return flag("\\Flagged", false);
    if (name == "SEEN") return flag("\\Seen", false);
    if (name == "UNANSWERED") return flag("\\Answered", true);
    if (name == "UNDELETED") return flag("\\Deleted", true);
    if (name == "UNDRAFT") return flag("\\Draft", true);
    if (name == "UNFLAGGED") return flag("\\Flagged", true);
    if (name == "UNSEEN") return flag("\\Seen", true);
    if (name == "KEYWORD" || name == "UNKEYWORD") {
      out.kind = SearchKey::kFlag;
      out.negate = name == "UNKEYWORD";
      if (i >= toks.size() || toks[i].kind != Token::kAtom || !IsValidFlag(toks[i].value) ||
          toks[i].value.size() > options_.max_field_name) {
        return Bad(name + " needs a flag keyword");
      }
      out.value = toks[i++].value;
      return absl::OkStatus();
    }
    if (name == "NEW") {
      out.kind = SearchKey::kNew;
      return absl::OkStatus();
    }
    if (name == "OLD" || name == "RECENT") {
      out.kind = SearchKey::kRecent;
      out.negate = name == "OLD";
      return absl::OkStatus();
    }
    if (name == "BCC") return string_key(SearchKey::kBcc);
    if (name == "CC") return string_key(SearchKey::kCc);
    if (name == "FROM") return string_key(SearchKey::kFrom);
    if (name == "TO") return string_key(SearchKey::kTo);
    if (name == "SUBJECT") return string_key(SearchKey::kSubject);
    if (name == "BODY") return string_key(SearchKey::kBody);
    if (name == "TEXT") return string_key(SearchKey::kText);
    if (name == "HEADER") {
      out.kind = SearchKey::kHeader;
      absl::Status s = TakeString(toks, i, options_.max_field_name, out.field, name);
      if (!s.ok()) return s;
      if (out.field.empty()) return Bad("HEADER needs a field name");
      for (char c : out.field) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7F || c == ':') return Bad("Invalid HEADER field name");
      }
      return TakeString(toks, i, options_.max_string, out.value, name);
    }
    if (name == "BEFORE") return date_key(SearchKey::kBefore);
    if (name == "ON") return date_key(SearchKey::kOn);
    if (name == "SINCE") return date_key(SearchKey::kSince);
    if (name == "SENTBEFORE") return date_key(SearchKey::kSentBefore);
    if (name == "SENTON") return date_key(SearchKey::kSentOn);
    if (name == "SENTSINCE") return date_key(SearchKey::kSentSince);
    if (name == "SAVEDBEFORE" || name == "SAVEDON" || name == "SAVEDSINCE") {
      query_.uses_save_date = true;
      return date_key(name == "SAVEDBEFORE" ? SearchKey::kSavedBefore
                      : name == "SAVEDON"   ? SearchKey::kSavedOn
                                            : SearchKey::kSavedSince);
    }
    if (name == "SAVEDATESUPPORTED") {
      out.kind = SearchKey::kSavedDateSupported;
      return absl::OkStatus();
    }
    if (name == "EMAILID" || name == "THREADID") {
      out.kind = name == "EMAILID" ? SearchKey::kEmailId : SearchKey::kThreadId;
      // objectid is an atom (RFC 8474 7); a quoted one is accepted as clients send both.
      if (i >= toks.size() || !(toks[i].kind == Token::kAtom || toks[i].kind == Token::kQuoted) ||
          !IsValidObjectId(toks[i].value)) {
        return Bad(name + " needs an object id");
      }
      out.value = toks[i++].value;
      return absl::OkStatus();
    }
    if (name == "LARGER" || name == "SMALLER") {
      out.kind = name == "LARGER" ? SearchKey::kLarger : SearchKey::kSmaller;
      return TakeNumber(toks, i, INT64_MAX, out.number, name);
    }
    if (name == "OLDER" || name == "YOUNGER") {
      out.kind = name == "OLDER" ? SearchKey::kOlder : SearchKey::kYounger;
      absl::Status s = TakeNumber(toks, i, UINT32_MAX, out.number, name);
      if (s.ok() && out.number == 0) return Bad(name + " needs a positive interval");
      return s;
    }
    if (name == "UID") {
      out.kind = SearchKey::kUid;
      if (i >= toks.size() || toks[i].kind != Token::kAtom) return Bad("UID needs a sequence set");
      return ParseSet(toks[i++].value, out);
    }
    if (name == "MODSEQ") {
      out.kind = SearchKey::kModSeq;
      query_.uses_modseq = true;
      // [entry-name entry-type-req]: the name is a quoted "/flags/..." string. We keep one
      // mod-sequence per message, so RFC 7162 3.1.5 has us ignore both.
      if (i < toks.size() && (toks[i].kind == Token::kQuoted || toks[i].kind == Token::kLiteral)) {
        if (toks[i].value.size() > options_.max_field_name)
          return Bad("MODSEQ entry name too long");
        ++i;
        if (i >= toks.size() || toks[i].kind != Token::kAtom ||
            !(EqualsIgnoreCase(toks[i].value, "priv") ||
              EqualsIgnoreCase(toks[i].value, "shared") ||
              EqualsIgnoreCase(toks[i].value, "all"))) {
          return Bad("MODSEQ needs an entry type (priv, shared or all)");
        }
        ++i;
      }
      return TakeNumber(toks, i, INT64_MAX, out.number, name);
    }
    if (name == "NOT") {
      out.kind = SearchKey::kNot;
      out.children.resize(1);
      if (i >= toks.size()) return Bad("NOT needs a search key");
      return ParseKey(toks, i, depth + 1, out.children[0]);
    }
    if (name == "OR") {
      out.kind = SearchKey::kOr;
      out.children.resize(2);
      for (SearchKey& child : out.children) {
        if (i >= toks.size()) return Bad("OR needs two search keys");
        absl::Status s = ParseKey(toks, i, depth + 1, child);
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
    return Bad("Unknown search key " + Printable(text));
  }

 private:
  absl::Status ParseSet(std::string_view text, SearchKey& out) {
    absl::StatusOr<SequenceSet> set = SequenceSet::Parse(text);
    if (!set.ok()) return set.status();
    if (set->is_saved()) query_.uses_saved = true;
    out.set = *std::move(set);
    return absl::OkStatus();
  }

  static absl::Status TakeString(const std::vector<Token>& toks, size_t& i, size_t max,
                                 std::string& out, std::string_view key) {
    if (i >= toks.size() || !(toks[i].IsString() || toks[i].kind == Token::kNil)) {
      return Bad(std::string(key) + " needs a string");
    }
    if (toks[i].value.size() > max) return Bad(std::string(key) + " string too long");
    out = toks[i++].value;
    return absl::OkStatus();
  }

  static absl::Status TakeDate(const std::vector<Token>& toks, size_t& i, int64_t& out,
                               std::string_view key) {
    if (i >= toks.size() || !(toks[i].kind == Token::kAtom || toks[i].kind == Token::kQuoted)) {
      return Bad(std::string(key) + " needs a date");
    }
    std::optional<int64_t> days = ParseSearchDate(toks[i++].value);
    if (!days) return Bad(std::string(key) + " needs a date like 1-Feb-1994");
    out = *days;
    return absl::OkStatus();
  }

  static absl::Status TakeNumber(const std::vector<Token>& toks, size_t& i, uint64_t max,
                                 int64_t& out, std::string_view key) {
    uint64_t v = 0;
    if (i >= toks.size() || toks[i].kind != Token::kAtom || toks[i].value.size() > 20 ||
        !ParseDecimal(toks[i].value, v) || v > max) {
      return Bad(std::string(key) + " needs a number");
    }
    ++i;
    out = static_cast<int64_t>(v);
    return absl::OkStatus();
  }

  const SearchParseOptions& options_;
  SearchQuery& query_;
  size_t keys_ = 0;
};

// What evaluating a key costs: 0 metadata, 1 headers, 2 the body.
int Cost(const SearchKey& key) {
  switch (key.kind) {
    case SearchKey::kBcc:
    case SearchKey::kCc:
    case SearchKey::kFrom:
    case SearchKey::kTo:
    case SearchKey::kSubject:
    case SearchKey::kHeader:
    case SearchKey::kSentBefore:
    case SearchKey::kSentOn:
    case SearchKey::kSentSince:
      return 1;
    case SearchKey::kBody:
    case SearchKey::kText:
      return 2;
    default: {
      int c = 0;
      for (const SearchKey& child : key.children) c = std::max(c, Cost(child));
      return c;
    }
  }
}

// Cheap keys first, so AND / OR short-circuit before anything is loaded.
void Reorder(SearchKey& key) {
  for (SearchKey& child : key.children) Reorder(child);
  if (key.kind == SearchKey::kAnd || key.kind == SearchKey::kOr) {
    std::stable_sort(key.children.begin(), key.children.end(),
                     [](const SearchKey& a, const SearchKey& b) { return Cost(a) < Cost(b); });
  }
}

bool AnyKey(const SearchKey& key, bool (*pred)(const SearchKey&)) {
  if (pred(key)) return true;
  for (const SearchKey& child : key.children) {
    if (AnyKey(child, pred)) return true;
  }
  return false;
}

// --- UTF-8 case folding.

uint32_t FoldCodePoint(uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x130) return 'i';
    if (c == 0x178) return 0xFF;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c | 1;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
    if (c == 0x17F) return 's';
    return c;
  }
  if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
  if (c == 0x3C2) return 0x3C3;  // final sigma
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF)) return c | 1;
  if (c >= 0x531 && c <= 0x556) return c + 48;
  if ((c >= 0x1E00 && c <= 0x1E95) || (c >= 0x1EA0 && c <= 0x1EFF)) return c | 1;
  if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
  return c;
}

void AppendUtf8(uint32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// --- Evaluation.

bool HasFlag(const std::vector<std::string>& flags, std::string_view flag) {
  for (const std::string& f : flags) {
    if (EqualsIgnoreCase(f, flag)) return true;
  }
  return false;
}

bool AnyContains(const std::vector<std::string>& values, std::string_view needle) {
  if (values.empty()) return false;
  if (needle.empty()) return true;
  std::string folded = FoldCase(needle);
  for (const std::string& v : values) {
    if (FoldCase(v).find(folded) != std::string::npos) return true;
  }
  return false;
}

bool IsTextKey(SearchKey::Kind kind) {
  switch (kind) {
    case SearchKey::kBcc:
    case SearchKey::kCc:
    case SearchKey::kFrom:
    case SearchKey::kTo:
    case SearchKey::kSubject:
    case SearchKey::kHeader:
    case SearchKey::kBody:
    case SearchKey::kText:
      return true;
    default:
      return false;
  }
}

bool InSaved(const SearchContext& context, uint32_t uid) {
  return context.saved && std::binary_search(context.saved->begin(), context.saved->end(), uid);
}

// now - date, saturated (both come from outside: a clock and stored metadata).
int64_t Age(int64_t now, int64_t date) {
  int64_t age;
  if (__builtin_sub_overflow(now, date, &age)) return now < date ? INT64_MIN : INT64_MAX;
  return age;
}

int64_t SentDays(SearchMessage& m) {
  std::vector<std::string> dates = m.Header("Date");
  if (!dates.empty()) {
    std::optional<MessageDate> d = ParseMessageDate(dates[0]);
    if (d) return d->local_days;
  }
  return FloorDiv(m.internal_date(), 86400);
}

int MonthFromName(std::string_view s) {
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  if (s.size() < 3) return 0;
  for (int k = 0; k < 12; ++k) {
    if (EqualsIgnoreCase(s.substr(0, 3), kMonths[k])) return k + 1;
  }
  return 0;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Unquote(std::string_view s) {
  s = TrimBlanks(s);
  std::string out;
  bool in_quote = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') {
      in_quote = !in_quote;
      continue;
    }
    if (c == '\\' && in_quote && i + 1 < s.size()) c = s[++i];
    out.push_back(c);
  }
  return out;
}

}  // namespace

// --- Public parser entry points.

absl::Status CheckCharset(const Token& token) {
  if (!(token.kind == Token::kAtom || token.kind == Token::kQuoted)) {
    return Bad("Invalid charset");
  }
  if (EqualsIgnoreCase(token.value, "UTF-8") || EqualsIgnoreCase(token.value, "US-ASCII")) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(AV(kBadCharsetMessage));
}

bool IsBadCharset(const absl::Status& status) {
  return status.code() == absl::StatusCode::kFailedPrecondition;
}

absl::StatusOr<SearchQuery> ParseSearch(const std::vector<Token>& args, size_t first,
                                        const SearchParseOptions& options) {
  SearchQuery query;
  query.root.kind = SearchKey::kAnd;
  size_t i = first;
  if (options.allow_return && i < args.size() && args[i].kind == Token::kAtom &&
      EqualsIgnoreCase(args[i].value, "RETURN")) {
    ++i;
    if (i >= args.size() || args[i].kind != Token::kList) return Bad("RETURN needs a list");
    const Token& list = args[i++];
    if (list.children.size() > 16) return Bad("Too many RETURN options");
    for (const Token& opt : list.children) {
      if (opt.kind != Token::kAtom) return Bad("Invalid RETURN option");
      std::string name = ToUpper(opt.value);
      if (name == "MIN") {
        query.ret.min = true;
      } else if (name == "MAX") {
        query.ret.max = true;
      } else if (name == "ALL") {
        query.ret.all = true;
      } else if (name == "COUNT") {
        query.ret.count = true;
      } else if (name == "SAVE") {
        query.ret.save = true;
      } else {
        return Bad("Unknown RETURN option " + Printable(opt.value));
      }
    }
    if (list.children.empty()) query.ret.all = true;
    query.esearch = true;
  }
  if (options.allow_charset && i < args.size() && args[i].kind == Token::kAtom &&
      EqualsIgnoreCase(args[i].value, "CHARSET")) {
    ++i;
    if (i >= args.size()) return Bad("CHARSET needs a charset");
    absl::Status s = CheckCharset(args[i]);
    if (!s.ok()) return s;
    query.charset = ToUpper(args[i++].value);
  }
  if (i >= args.size()) return Bad("Missing search criteria");
  Parser parser(options, query);
  while (i < args.size()) {
    SearchKey key;
    absl::Status s = parser.ParseKey(args, i, 1, key);
    if (!s.ok()) return s;
    query.root.children.push_back(std::move(key));
  }
  Reorder(query.root);
  return query;
}

bool NeedsHeaders(const SearchQuery& query) { return Cost(query.root) >= 1; }

bool UsesOnlyStoredFields(const SearchQuery& query) {
  return !AnyKey(query.root, [](const SearchKey& k) {
    switch (k.kind) {
      case SearchKey::kHeader:
        return std::none_of(std::begin(kStoredSearchFields), std::end(kStoredSearchFields),
                            [&](std::string_view f) { return FoldCase(k.field) == f; });
      case SearchKey::kSentBefore:
      case SearchKey::kSentOn:
      case SearchKey::kSentSince:
      case SearchKey::kBody:
      case SearchKey::kText:
        return true;
      default:
        return false;
    }
  });
}

bool NeedsBody(const SearchQuery& query) {
  return AnyKey(query.root, [](const SearchKey& k) {
    return k.kind == SearchKey::kBody || k.kind == SearchKey::kText;
  });
}

// --- Evaluation.

bool Matches(const SearchQuery& query, SearchMessage& message, const SearchContext& context) {
  return Matches(query.root, message, context);
}

bool Matches(const SearchKey& key, SearchMessage& m, const SearchContext& context) {
  if (IsTextKey(key.kind)) {
    if (std::optional<bool> decided = m.DecidedTextKey(key)) return *decided;
  }
  switch (key.kind) {
    case SearchKey::kAnd:
      for (const SearchKey& child : key.children) {
        if (!Matches(child, m, context)) return false;
      }
      return true;
    case SearchKey::kOr:
      for (const SearchKey& child : key.children) {
        if (Matches(child, m, context)) return true;
      }
      return false;
    case SearchKey::kNot:
      return key.children.size() == 1 && !Matches(key.children[0], m, context);
    case SearchKey::kAll:
      return true;
    case SearchKey::kSequence:
      if (key.set.is_saved()) return InSaved(context, m.uid());
      return key.set.Contains(m.seq(), context.max_seq);
    case SearchKey::kUid:
      if (key.set.is_saved()) return InSaved(context, m.uid());
      return key.set.Contains(m.uid(), context.max_uid);
    case SearchKey::kFlag:
      return HasFlag(m.flags(), key.value) != key.negate;
    case SearchKey::kRecent:
      return m.recent() != key.negate;
    case SearchKey::kNew:
      return m.recent() && !HasFlag(m.flags(), "\\Seen");
    case SearchKey::kBcc:
      return AnyContains(m.Header("Bcc"), key.value);
    case SearchKey::kCc:
      return AnyContains(m.Header("Cc"), key.value);
    case SearchKey::kFrom:
      return AnyContains(m.Header("From"), key.value);
    case SearchKey::kTo:
      return AnyContains(m.Header("To"), key.value);
    case SearchKey::kSubject:
      return AnyContains(m.Header("Subject"), key.value);
    case SearchKey::kHeader:
      return AnyContains(m.Header(key.field), key.value);
    case SearchKey::kBody:
      return key.value.empty() || ContainsFolded(m.BodyText(), key.value);
    case SearchKey::kText:
      return key.value.empty() || ContainsFolded(m.HeaderText(), key.value) ||
             ContainsFolded(m.BodyText(), key.value);
    case SearchKey::kBefore:
      return FloorDiv(m.internal_date(), 86400) < key.number;
    case SearchKey::kOn:
      return FloorDiv(m.internal_date(), 86400) == key.number;
    case SearchKey::kSince:
      return FloorDiv(m.internal_date(), 86400) >= key.number;
    case SearchKey::kSentBefore:
      return SentDays(m) < key.number;
    case SearchKey::kSentOn:
      return SentDays(m) == key.number;
    case SearchKey::kSentSince:
      return SentDays(m) >= key.number;
    case SearchKey::kLarger:
      return m.size() > static_cast<uint64_t>(key.number);
    case SearchKey::kSmaller:
      return m.size() < static_cast<uint64_t>(key.number);
    case SearchKey::kOlder:
      return Age(context.now, m.internal_date()) > key.number;
    case SearchKey::kYounger:
      return Age(context.now, m.internal_date()) <= key.number;
    case SearchKey::kModSeq:
      return m.modseq() >= static_cast<uint64_t>(key.number);
    case SearchKey::kEmailId:
      return m.email_id() == key.value;
    case SearchKey::kThreadId:
      return false;  // no message has a THREADID (NIL)
    case SearchKey::kSavedBefore:
      return FloorDiv(m.save_date().value_or(m.internal_date()), 86400) < key.number;
    case SearchKey::kSavedOn:
      return FloorDiv(m.save_date().value_or(m.internal_date()), 86400) == key.number;
    case SearchKey::kSavedSince:
      return FloorDiv(m.save_date().value_or(m.internal_date()), 86400) >= key.number;
    case SearchKey::kSavedDateSupported:
      return true;
  }
  return false;
}

// --- Responses.

std::string CompressSequenceSet(const std::vector<uint32_t>& sorted) {
  std::string out;
  size_t i = 0;
  while (i < sorted.size()) {
    size_t j = i;
    while (j + 1 < sorted.size() && uint64_t{sorted[j + 1]} <= uint64_t{sorted[j]} + 1) ++j;
    if (!out.empty()) out.push_back(',');
    out += std::to_string(sorted[i]);
    if (sorted[j] != sorted[i]) out += ":" + std::to_string(sorted[j]);
    i = j + 1;
  }
  return out;
}

std::string FormatSearchResponse(const SearchQuery& query, const std::vector<SearchHit>& hits,
                                 bool uid, std::string_view tag) {
  auto id = [uid](const SearchHit& h) { return uid ? h.uid : h.seq; };
  uint64_t highest = 0;
  for (const SearchHit& h : hits) highest = std::max(highest, h.modseq);
  if (!query.esearch) {
    std::string out = "* SEARCH";
    for (const SearchHit& h : hits) out += " " + std::to_string(id(h));
    if (query.uses_modseq && !hits.empty()) out += " (MODSEQ " + std::to_string(highest) + ")";
    return out + "\r\n";
  }
  const SearchReturn& r = query.ret;
  if (r.save && !r.min && !r.max && !r.all && !r.count) return "";
  std::string out = "* ESEARCH (TAG " + QuoteString(tag) + ")";
  if (uid) out += " UID";
  const SearchHit* lo = nullptr;
  const SearchHit* hi = nullptr;
  for (const SearchHit& h : hits) {
    if (!lo || id(h) < id(*lo)) lo = &h;
    if (!hi || id(h) > id(*hi)) hi = &h;
  }
  if (r.min && lo) out += " MIN " + std::to_string(id(*lo));
  if (r.max && hi) out += " MAX " + std::to_string(id(*hi));
  if (r.count) out += " COUNT " + std::to_string(hits.size());
  if (r.all && !hits.empty()) {
    std::vector<uint32_t> ids;
    ids.reserve(hits.size());
    for (const SearchHit& h : hits) ids.push_back(id(h));
    std::sort(ids.begin(), ids.end());
    out += " ALL " + CompressSequenceSet(ids);
  }
  if (query.uses_modseq && !hits.empty()) {
    // RFC 4731 3.2: with only MIN / MAX, the highest mod-sequence of those messages.
    uint64_t m = highest;
    if (!r.all && !r.count && (r.min || r.max)) {
      m = 0;
      if (r.min) m = std::max(m, lo->modseq);
      if (r.max) m = std::max(m, hi->modseq);
    }
    out += " MODSEQ " + std::to_string(m);
  }
  return out + "\r\n";
}

std::vector<uint32_t> SearchResultToSave(const SearchQuery& query,
                                         const std::vector<SearchHit>& hits) {
  std::vector<uint32_t> out;
  const SearchReturn& r = query.ret;
  if (!hits.empty() && (r.min || r.max) && !r.all && !r.count) {
    uint32_t lo = UINT32_MAX, hi = 0;
    for (const SearchHit& h : hits) {
      lo = std::min(lo, h.uid);
      hi = std::max(hi, h.uid);
    }
    if (r.min) out.push_back(lo);
    if (r.max && (!r.min || hi != lo)) out.push_back(hi);
    return out;
  }
  out.reserve(hits.size());
  for (const SearchHit& h : hits) out.push_back(h.uid);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// --- Helpers.

std::string FoldCase(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(ToLower(static_cast<char>(c)));
      ++i;
      continue;
    }
    size_t len = (c >= 0xC2 && c <= 0xDF)   ? 2
                 : (c >= 0xE0 && c <= 0xEF) ? 3
                 : (c >= 0xF0 && c <= 0xF4) ? 4
                                            : 0;
    bool ok = len != 0 && i + len <= s.size();
    uint32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; ok && k < len; ++k) {
      unsigned char ck = static_cast<unsigned char>(s[i + k]);
      if ((ck & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (ck & 0x3F);
    }
    // Only re-encode what is safely decodable; overlong or odd sequences stay as bytes.
    if (!ok || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    AppendUtf8(FoldCodePoint(cp), out);
    i += len;
  }
  return out;
}

bool ContainsFolded(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  return FoldCase(haystack).find(FoldCase(needle)) != std::string::npos;
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::optional<int64_t> ParseSearchDate(std::string_view text) {
  std::vector<std::string_view> parts = ascii::Split(text, '-');
  if (parts.size() != 3) return std::nullopt;
  uint64_t day = 0, year = 0;
  if (parts[0].empty() || parts[0].size() > 2 || !AllDigits(parts[0]) ||
      !ParseDecimal(parts[0], day)) {
    return std::nullopt;
  }
  if (parts[1].size() != 3) return std::nullopt;
  int month = MonthFromName(parts[1]);
  if (month == 0) return std::nullopt;
  if (parts[2].size() != 4 || !AllDigits(parts[2]) || !ParseDecimal(parts[2], year)) {
    return std::nullopt;
  }
  if (day < 1 || day > DaysInMonth(static_cast<int64_t>(year), static_cast<unsigned>(month))) {
    return std::nullopt;
  }
  return DaysFromCivil(static_cast<int64_t>(year), static_cast<unsigned>(month),
                       static_cast<unsigned>(day));
}

std::optional<MessageDate> ParseMessageDate(std::string_view value) {
  // Words, with comments dropped and commas as separators.
  std::vector<std::string> words;
  std::string word;
  int comment = 0;
  for (char c : value.substr(0, 512)) {
    if (c == '(') {
      ++comment;
    } else if (c == ')' && comment > 0) {
      --comment;
    } else if (comment == 0 && c != ' ' && c != '\t' && c != ',' && c != '\r' && c != '\n') {
      word.push_back(c);
      continue;
    }
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  }
  if (!word.empty()) words.push_back(std::move(word));
  size_t i = 0;
  // Optional day of the week.
  if (i < words.size() && !words[i].empty() && !AllDigits(words[i]) &&
      MonthFromName(words[i]) == 0) {
    ++i;
  }
  uint64_t day = 0, year = 0;
  if (i + 3 > words.size()) return std::nullopt;
  if (words[i].size() > 2 || !AllDigits(words[i]) || !ParseDecimal(words[i], day)) {
    return std::nullopt;
  }
  int month = MonthFromName(words[i + 1]);
  if (month == 0) return std::nullopt;
  const std::string& y = words[i + 2];
  if (y.size() < 2 || y.size() > 4 || !AllDigits(y) || !ParseDecimal(y, year)) return std::nullopt;
  if (y.size() == 2) year += year < 50 ? 2000 : 1900;
  if (y.size() == 3) year += 1900;
  if (day < 1 || day > DaysInMonth(static_cast<int64_t>(year), static_cast<unsigned>(month))) {
    return std::nullopt;
  }
  i += 3;
  MessageDate out;
  out.local_days = DaysFromCivil(static_cast<int64_t>(year), static_cast<unsigned>(month),
                                 static_cast<unsigned>(day));
  int64_t seconds = 0;
  if (i < words.size()) {
    std::vector<std::string_view> hms = ascii::Split(words[i], ':');
    uint64_t h = 0, m = 0, s = 0;
    bool ok = (hms.size() == 2 || hms.size() == 3);
    for (size_t k = 0; ok && k < hms.size(); ++k) {
      uint64_t v = 0;
      ok = hms[k].size() <= 2 && AllDigits(hms[k]) && ParseDecimal(hms[k], v);
      (k == 0 ? h : k == 1 ? m : s) = v;
    }
    if (ok && h <= 23 && m <= 59 && s <= 60) {
      seconds = static_cast<int64_t>(h * 3600 + m * 60 + s);
      ++i;
    } else {
      ok = false;
    }
    if (ok && i < words.size()) {
      const std::string& z = words[i];
      int64_t offset = 0;  // an invalid zone is UTC (RFC 5256 2.2)
      if (z.size() == 5 && (z[0] == '+' || z[0] == '-') &&
          AllDigits(std::string_view(z).substr(1))) {
        int64_t hh = (z[1] - '0') * 10 + (z[2] - '0');
        int64_t mm = (z[3] - '0') * 10 + (z[4] - '0');
        if (mm < 60) offset = (hh * 3600 + mm * 60) * (z[0] == '-' ? -1 : 1);
      } else {
        static constexpr std::pair<std::string_view, int> kZones[] = {
            {"EST", -5}, {"EDT", -4}, {"CST", -6}, {"CDT", -5},
            {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};
        for (const auto& [name, hours] : kZones) {
          if (EqualsIgnoreCase(z, name)) offset = int64_t{hours} * 3600;
        }
      }
      seconds -= offset;
    }
  }
  out.utc = out.local_days * 86400 + seconds;
  return out;
}

// --- SearchMessage's default address parser, on a decoded header value.

std::optional<SearchAddress> SearchMessage::FirstAddress(std::string_view name) {
  std::vector<std::string> values = Header(name);
  for (const std::string& value : values) {
    // Split at top-level ',' and ';', skipping a group's "name:" and comments.
    std::string_view v = value;
    size_t start = 0;
    bool quoted = false;
    int comment = 0, angle = 0;
    for (size_t i = 0; i <= v.size(); ++i) {
      bool end = i == v.size();
      char c = end ? ',' : v[i];
      if (!end && quoted) {
        if (c == '\\' && i + 1 < v.size()) {
          ++i;
        } else if (c == '"') {
          quoted = false;
        }
        continue;
      }
      if (!end && comment > 0) {
        if (c == '(') ++comment;
        if (c == ')') --comment;
        if (c == '\\' && i + 1 < v.size()) ++i;
        continue;
      }
      if (c == '"') {
        quoted = true;
      } else if (c == '(') {
        comment = 1;
      } else if (c == '<') {
        ++angle;
      } else if (c == '>') {
        if (angle > 0) --angle;
      } else if (c == ':' && angle == 0) {
        start = i + 1;  // group name
      } else if ((c == ',' || c == ';') && angle == 0) {
        std::string_view element = v.substr(start, i - start);
        start = i + 1;
        // Drop comments from the element.
        std::string clean;
        int depth = 0;
        bool q = false;
        for (char e : element) {
          if (!q && e == '(') ++depth;
          if (depth == 0) clean.push_back(e);
          if (!q && e == ')' && depth > 0) --depth;
          if (e == '"') q = !q;
        }
        std::string_view el = TrimBlanks(clean);
        if (el.empty()) continue;
        SearchAddress addr;
        std::string spec;
        size_t lt = el.rfind('<');
        if (lt != std::string_view::npos) {
          size_t gt = el.find('>', lt);
          spec = std::string(el.substr(lt + 1, gt == std::string_view::npos ? gt : gt - lt - 1));
          addr.name = Unquote(el.substr(0, lt));
        } else {
          spec = std::string(el);
        }
        spec = std::string(TrimBlanks(spec));
        // A source route "@a,@b:" is not split here (the ',' inside <> stays), drop it.
        if (size_t colon = spec.rfind(':'); colon != std::string::npos)
          spec = spec.substr(colon + 1);
        size_t at = spec.rfind('@');
        if (at != std::string::npos) {
          addr.mailbox = Unquote(std::string_view(spec).substr(0, at));
          addr.host = std::string(TrimBlanks(std::string_view(spec).substr(at + 1)));
        } else {
          addr.mailbox = Unquote(spec);
        }
        if (addr.mailbox.empty() && addr.host.empty()) continue;
        return addr;
      }
    }
  }
  return std::nullopt;
}

}  // namespace kite::imap
