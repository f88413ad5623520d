#include "lib/imap/sort_thread.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "lib/base/ascii.h"
#include "lib/base/strings.h"

namespace kite::imap {
namespace {

using ascii::EqualsIgnoreCase;
using ascii::ToLower;
using ascii::ToUpper;

absl::Status Bad(std::string_view what) { return absl::InvalidArgumentError(AV(what)); }

// The loop check of THREAD=REFERENCES walks up the parents of the would-be parent. Deeper
// ancestries are treated as loops (the link is not made), which bounds the work per link.
constexpr size_t kMaxAncestorWalk = 1 << 16;

absl::Status ParseCharsetArgument(const std::vector<Token>& args, size_t i, std::string& out) {
  if (i >= args.size()) return Bad("Missing charset");
  absl::Status s = CheckCharset(args[i]);
  if (!s.ok()) return s;
  out = ToUpper(args[i].value);
  return absl::OkStatus();
}

SearchParseOptions KeysOnly(SearchParseOptions options) {
  options.allow_return = false;
  options.allow_charset = false;
  return options;
}

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

// subj-blob = "[" *BLOBCHAR "]" *WSP at s[i]; returns the length, 0 if none.
size_t MatchBlob(std::string_view s, size_t i) {
  if (i >= s.size() || s[i] != '[') return 0;
  size_t j = i + 1;
  while (j < s.size() && s[j] != '[' && s[j] != ']') ++j;
  if (j >= s.size() || s[j] != ']') return 0;
  ++j;
  while (j < s.size() && IsWsp(s[j])) ++j;
  return j - i;
}

// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" at s[i]; the length, 0 if none.
size_t MatchRefwd(std::string_view s, size_t i) {
  std::string_view t = s.substr(i);
  size_t j;
  if (StartsWithIgnoreCase(t, "re")) {
    j = 2;
  } else if (StartsWithIgnoreCase(t, "fwd")) {
    j = 3;
  } else if (StartsWithIgnoreCase(t, "fw")) {
    j = 2;
  } else {
    return 0;
  }
  while (j < t.size() && IsWsp(t[j])) ++j;
  j += MatchBlob(t, j);
  if (j < t.size() && t[j] == ':') return j + 1;
  return 0;
}

// subj-leader = (*subj-blob subj-refwd) / WSP; returns the length, 0 if none.
size_t MatchLeader(std::string_view s, bool& refwd) {
  if (!s.empty() && IsWsp(s[0])) return 1;
  size_t i = 0;
  while (size_t b = MatchBlob(s, i)) i += b;
  if (size_t r = MatchRefwd(s, i)) {
    refwd = true;
    return i + r;
  }
  return 0;
}

int Compare(const SortFields& a, const SortFields& b, SortKey key) {
  auto cmp = [](const auto& x, const auto& y) { return x < y ? -1 : (y < x ? 1 : 0); };
  switch (key) {
    case SortKey::kArrival:
      return cmp(a.arrival, b.arrival);
    case SortKey::kCc:
      return a.cc.compare(b.cc);
    case SortKey::kDate:
      return cmp(a.sent, b.sent);
    case SortKey::kFrom:
      return a.from.compare(b.from);
    case SortKey::kSize:
      return cmp(a.size, b.size);
    case SortKey::kSubject:
      return a.subject.compare(b.subject);
    case SortKey::kTo:
      return a.to.compare(b.to);
    case SortKey::kDisplayFrom:
      return a.display_from.compare(b.display_from);
    case SortKey::kDisplayTo:
      return a.display_to.compare(b.display_to);
  }
  return 0;
}

struct Needs {
  bool sent = false, subject = false, from = false, to = false, cc = false;
  bool display_from = false, display_to = false, references = false;
};

int64_t SentDate(SearchMessage& m) {
  std::vector<std::string> dates = m.Header("Date");
  if (!dates.empty()) {
    std::optional<MessageDate> d = ParseMessageDate(dates[0]);
    if (d) return d->utc;
  }
  return m.internal_date();
}

std::string DisplayString(const std::optional<SearchAddress>& a) {
  if (!a) return "";
  if (!a->name.empty()) return FoldCase(a->name.substr(0, kMaxSubjectBytes));
  std::string spec = a->mailbox;
  if (!a->host.empty()) spec += "@" + a->host;
  return FoldCase(spec.substr(0, kMaxSubjectBytes));
}

std::string MailboxString(const std::optional<SearchAddress>& a) {
  return a ? FoldCase(a->mailbox.substr(0, kMaxSubjectBytes)) : "";
}

SortFields Collect(SearchMessage& m, const Needs& n) {
  SortFields f;
  f.seq = m.seq();
  f.uid = m.uid();
  f.size = m.size();
  f.modseq = m.modseq();
  f.arrival = m.internal_date();
  if (n.sent) f.sent = SentDate(m);
  if (n.subject) {
    std::vector<std::string> subjects = m.Header("Subject");
    if (!subjects.empty()) f.subject = FoldCase(BaseSubject(subjects[0], &f.is_reply));
  }
  if (n.from || n.display_from) {
    std::optional<SearchAddress> a = m.FirstAddress("From");
    if (n.from) f.from = MailboxString(a);
    if (n.display_from) f.display_from = DisplayString(a);
  }
  if (n.to || n.display_to) {
    std::optional<SearchAddress> a = m.FirstAddress("To");
    if (n.to) f.to = MailboxString(a);
    if (n.display_to) f.display_to = DisplayString(a);
  }
  if (n.cc) f.cc = MailboxString(m.FirstAddress("Cc"));
  if (n.references) {
    std::vector<std::string> ids = m.Header("Message-ID");
    if (!ids.empty()) {
      std::vector<std::string> parsed = ParseMessageIds(ids[0]);
      if (!parsed.empty()) f.message_id = std::move(parsed[0]);
    }
    for (const std::string& value : m.Header("References")) {
      for (std::string& id : ParseMessageIds(value)) f.references.push_back(std::move(id));
    }
    if (f.references.empty()) {
      std::vector<std::string> irt = m.Header("In-Reply-To");
      if (!irt.empty()) {
        std::vector<std::string> parsed = ParseMessageIds(irt[0]);
        if (!parsed.empty()) f.references.push_back(std::move(parsed[0]));
      }
    }
    if (f.references.size() > kMaxReferences) {
      f.references.erase(f.references.begin(),
                         f.references.end() - static_cast<std::ptrdiff_t>(kMaxReferences));
    }
  }
  return f;
}

// --- Threading.

// A working tree: parent links while linking, then child lists.
struct Tree {
  struct Node {
    int msg = -1;  // index into the messages; -1 for a dummy
    int parent = -1;
    size_t kids = 0;  // while linking: how many nodes have this one as parent
    std::vector<int> children;
  };
  std::vector<Node> nodes;

  int Add(int msg) {
    nodes.push_back(Node{msg, -1, 0, {}});
    return static_cast<int>(nodes.size() - 1);
  }
  bool IsDummy(int n) const { return nodes[n].msg < 0; }
  void SetParent(int n, int parent) {
    if (nodes[n].parent >= 0) --nodes[nodes[n].parent].kids;
    nodes[n].parent = parent;
    if (parent >= 0) ++nodes[parent].kids;
  }
};

// Whether making `parent` the parent of `child` would close a loop (parent is child or one
// of its descendants), or the ancestry is too deep to tell cheaply.
bool WouldLoop(const Tree& t, int parent, int child) {
  if (parent == child) return true;
  if (t.nodes[child].kids == 0) return false;  // the usual case: nothing below the child
  size_t steps = 0;
  for (int p = parent; p >= 0; p = t.nodes[p].parent) {
    if (p == child || ++steps > kMaxAncestorWalk) return true;
  }
  return false;
}

// Sorts every child list bottom-up by sent date (dummies by their first child), and the
// roots. Ties by sequence number.
void SortTree(Tree& t, std::vector<int>& roots, const std::vector<SortFields>& msgs) {
  // Post-order without recursion: a pre-order list walked backwards.
  std::vector<int> order;
  std::vector<int> stack(roots.rbegin(), roots.rend());
  while (!stack.empty()) {
    int n = stack.back();
    stack.pop_back();
    order.push_back(n);
    for (int c : t.nodes[n].children) stack.push_back(c);
  }
  std::vector<std::pair<int64_t, uint32_t>> key(t.nodes.size(), {INT64_MIN, 0});
  auto less = [&](int a, int b) { return key[a] < key[b]; };
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Tree::Node& node = t.nodes[*it];
    std::stable_sort(node.children.begin(), node.children.end(), less);
    if (node.msg >= 0) {
      key[*it] = {msgs[node.msg].sent, msgs[node.msg].seq};
    } else if (!node.children.empty()) {
      key[*it] = key[node.children[0]];
    }
  }
  std::stable_sort(roots.begin(), roots.end(), less);
}

ThreadForest ToForest(const Tree& t, const std::vector<int>& roots,
                      const std::vector<SortFields>& msgs, bool uid) {
  ThreadForest forest;
  forest.nodes.resize(t.nodes.size());
  for (size_t i = 0; i < t.nodes.size(); ++i) {
    const Tree::Node& n = t.nodes[i];
    if (n.msg >= 0) forest.nodes[i].id = uid ? msgs[n.msg].uid : msgs[n.msg].seq;
    forest.nodes[i].children.assign(n.children.begin(), n.children.end());
  }
  forest.roots.assign(roots.begin(), roots.end());
  return forest;
}

ThreadForest OrderedSubject(const std::vector<SortFields>& msgs, bool uid) {
  std::vector<int> idx(msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) idx[i] = static_cast<int>(i);
  std::sort(idx.begin(), idx.end(), [&](int a, int b) {
    return std::tie(msgs[a].subject, msgs[a].sent, msgs[a].seq) <
           std::tie(msgs[b].subject, msgs[b].sent, msgs[b].seq);
  });
  Tree t;
  std::vector<int> roots;
  for (size_t i = 0; i < idx.size();) {
    int root = t.Add(idx[i]);
    roots.push_back(root);
    size_t j = i + 1;
    while (j < idx.size() && msgs[idx[j]].subject == msgs[idx[i]].subject) {
      int child = t.Add(idx[j]);
      t.nodes[child].parent = root;
      t.nodes[root].children.push_back(child);
      ++j;
    }
    i = j;
  }
  // Children are already in sent-date order; the threads go by their first message.
  std::stable_sort(roots.begin(), roots.end(), [&](int a, int b) {
    const SortFields& x = msgs[t.nodes[a].msg];
    const SortFields& y = msgs[t.nodes[b].msg];
    return std::tie(x.sent, x.seq) < std::tie(y.sent, y.seq);
  });
  return ToForest(t, roots, msgs, uid);
}

ThreadForest References(const std::vector<SortFields>& msgs, bool uid) {
  Tree t;
  std::unordered_map<std::string, int> ids;
  std::vector<int> by_seq(msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) by_seq[i] = static_cast<int>(i);
  std::sort(by_seq.begin(), by_seq.end(), [&](int a, int b) { return msgs[a].seq < msgs[b].seq; });
  auto lookup = [&](const std::string& id) {
    auto [it, inserted] = ids.try_emplace(id, -1);
    if (inserted) it->second = t.Add(-1);
    return it->second;
  };

  // (1) Link.
  for (int m : by_seq) {
    const SortFields& f = msgs[m];
    int self = -1;
    if (!f.message_id.empty()) {
      auto it = ids.find(f.message_id);
      if (it == ids.end()) {
        self = t.Add(m);
        ids.emplace(f.message_id, self);
      } else if (t.IsDummy(it->second)) {
        self = it->second;
        t.nodes[self].msg = m;
      }
    }
    if (self < 0) self = t.Add(m);  // no id, or a duplicate: a unique one
    // (A) The references link up among themselves; existing links stay.
    int prev = -1;
    for (const std::string& ref : f.references) {
      int cur = lookup(ref);
      if (prev >= 0 && cur != prev && t.nodes[cur].parent < 0 && !WouldLoop(t, prev, cur)) {
        t.SetParent(cur, prev);
      }
      prev = cur;
    }
    // (B) The last reference is the parent, replacing any earlier guess.
    if (t.nodes[self].parent != prev) {
      t.SetParent(self, -1);
      if (prev >= 0 && !WouldLoop(t, prev, self)) t.SetParent(self, prev);
    }
  }
  ids.clear();  // (3 of RFC 5256's list) the id table is no longer needed

  // (2) Children lists and the root set, in node order.
  std::vector<int> roots;
  for (size_t i = 0; i < t.nodes.size(); ++i) {
    int p = t.nodes[i].parent;
    if (p >= 0) {
      t.nodes[p].children.push_back(static_cast<int>(i));
    } else {
      roots.push_back(static_cast<int>(i));
    }
  }

  // (3) Prune dummies, children before parents.
  {
    std::vector<int> order;
    std::vector<int> stack(roots.rbegin(), roots.rend());
    while (!stack.empty()) {
      int n = stack.back();
      stack.pop_back();
      order.push_back(n);
      for (int c : t.nodes[n].children) stack.push_back(c);
    }
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      std::vector<int> kept;
      for (int c : t.nodes[*it].children) {
        if (!t.IsDummy(c)) {
          kept.push_back(c);
          continue;
        }
        for (int g : t.nodes[c].children) {
          t.nodes[g].parent = *it;
          kept.push_back(g);
        }
        t.nodes[c].children.clear();
      }
      t.nodes[*it].children = std::move(kept);
    }
    std::vector<int> kept;
    for (int r : roots) {
      if (!t.IsDummy(r)) {
        kept.push_back(r);
      } else if (t.nodes[r].children.size() == 1) {
        int only = t.nodes[r].children[0];
        t.nodes[only].parent = -1;
        t.nodes[r].children.clear();
        kept.push_back(only);
      } else if (!t.nodes[r].children.empty()) {
        kept.push_back(r);
      }
    }
    roots = std::move(kept);
  }

  // (4) Sort the top level (dummies by their sorted first child).
  SortTree(t, roots, msgs);

  // (5) Group the roots by base subject.
  auto subject_node = [&](int r) {
    return t.IsDummy(r) ? (t.nodes[r].children.empty() ? -1 : t.nodes[r].children[0]) : r;
  };
  auto subject_of = [&](int r) -> const std::string* {
    int s = subject_node(r);
    if (s < 0 || t.IsDummy(s)) return nullptr;
    const std::string& subject = msgs[t.nodes[s].msg].subject;
    return subject.empty() ? nullptr : &subject;
  };
  auto is_reply = [&](int n) { return !t.IsDummy(n) && msgs[t.nodes[n].msg].is_reply; };
  std::unordered_map<std::string_view, int> table;
  for (int r : roots) {
    const std::string* subject = subject_of(r);
    if (!subject) continue;
    auto [it, inserted] = table.try_emplace(*subject, r);
    if (inserted) continue;
    int cur = it->second;
    if (!t.IsDummy(cur) && (t.IsDummy(r) || (is_reply(cur) && !is_reply(r)))) it->second = r;
  }
  std::vector<bool> removed(t.nodes.size(), false);
  for (size_t k = 0; k < roots.size(); ++k) {
    int r = roots[k];
    const std::string* subject = subject_of(r);
    if (!subject) continue;
    auto it = table.find(*subject);
    if (it == table.end() || it->second == r) continue;
    int other = it->second;
    if (t.IsDummy(r) && t.IsDummy(other)) {
      for (int c : t.nodes[r].children) {
        t.nodes[c].parent = other;
        t.nodes[other].children.push_back(c);
      }
      t.nodes[r].children.clear();
      removed[r] = true;
    } else if (t.IsDummy(other) || (is_reply(r) && !is_reply(other))) {
      t.nodes[r].parent = other;
      t.nodes[other].children.push_back(r);
      removed[r] = true;
    } else {
      int dummy = t.Add(-1);
      removed.push_back(false);
      t.nodes[dummy].children = {other, r};
      t.nodes[other].parent = dummy;
      t.nodes[r].parent = dummy;
      removed[r] = true;
      // The dummy takes the table entry's place in the root list.
      for (int& slot : roots) {
        if (slot == other) slot = dummy;
      }
      it->second = dummy;
    }
  }
  std::vector<int> kept;
  for (int r : roots) {
    if (!removed[r]) kept.push_back(r);
  }
  roots = std::move(kept);

  // (6) Sort every set of siblings.
  SortTree(t, roots, msgs);
  return ToForest(t, roots, msgs, uid);
}

}  // namespace

// --- Parsers.

absl::StatusOr<SortCommand> ParseSort(const std::vector<Token>& args, size_t first,
                                      const SearchParseOptions& options) {
  SortCommand cmd;
  if (first >= args.size() || args[first].kind != Token::kList) {
    return Bad("SORT needs a list of sort criteria");
  }
  const std::vector<Token>& list = args[first].children;
  if (list.empty()) return Bad("Empty sort criteria");
  bool reverse = false;
  for (const Token& t : list) {
    if (t.kind != Token::kAtom) return Bad("Invalid sort criterion");
    std::string name = ToUpper(t.value);
    if (name == "REVERSE") {
      if (reverse) return Bad("REVERSE REVERSE is not a sort criterion");
      reverse = true;
      continue;
    }
    SortKey key;
    if (name == "ARRIVAL") {
      key = SortKey::kArrival;
    } else if (name == "CC") {
      key = SortKey::kCc;
    } else if (name == "DATE") {
      key = SortKey::kDate;
    } else if (name == "FROM") {
      key = SortKey::kFrom;
    } else if (name == "SIZE") {
      key = SortKey::kSize;
    } else if (name == "SUBJECT") {
      key = SortKey::kSubject;
    } else if (name == "TO") {
      key = SortKey::kTo;
    } else if (name == "DISPLAYFROM") {
      key = SortKey::kDisplayFrom;
    } else if (name == "DISPLAYTO") {
      key = SortKey::kDisplayTo;
    } else {
      return Bad("Unknown sort criterion");
    }
    if (cmd.criteria.size() >= kMaxSortCriteria) return Bad("Too many sort criteria");
    cmd.criteria.push_back(SortCriterion{key, reverse});
    reverse = false;
  }
  if (reverse) return Bad("REVERSE needs a sort criterion after it");
  std::string charset;
  absl::Status s = ParseCharsetArgument(args, first + 1, charset);
  if (!s.ok()) return s;
  absl::StatusOr<SearchQuery> query = ParseSearch(args, first + 2, KeysOnly(options));
  if (!query.ok()) return query.status();
  cmd.query = *std::move(query);
  cmd.query.charset = charset;
  return cmd;
}

absl::StatusOr<ThreadCommand> ParseThread(const std::vector<Token>& args, size_t first,
                                          const SearchParseOptions& options) {
  ThreadCommand cmd;
  if (first >= args.size() || args[first].kind != Token::kAtom) {
    return Bad("THREAD needs a threading algorithm");
  }
  if (EqualsIgnoreCase(args[first].value, "ORDEREDSUBJECT")) {
    cmd.algorithm = ThreadAlgorithm::kOrderedSubject;
  } else if (EqualsIgnoreCase(args[first].value, "REFERENCES")) {
    cmd.algorithm = ThreadAlgorithm::kReferences;
  } else {
    return Bad("Unknown threading algorithm");
  }
  std::string charset;
  absl::Status s = ParseCharsetArgument(args, first + 1, charset);
  if (!s.ok()) return s;
  absl::StatusOr<SearchQuery> query = ParseSearch(args, first + 2, KeysOnly(options));
  if (!query.ok()) return query.status();
  cmd.query = *std::move(query);
  cmd.query.charset = charset;
  return cmd;
}

// --- Base subject (RFC 5256 2.1).

std::string BaseSubject(std::string_view subject, bool* is_reply_or_forward) {
  bool reply = false;
  // (1) Tabs and line breaks to spaces, runs of spaces to one. (Decoding to UTF-8 is the
  // caller's: SearchMessage::Header returns decoded values.)
  std::string s;
  s.reserve(std::min(subject.size(), kMaxSubjectBytes));
  for (char c : subject) {
    if (s.size() >= kMaxSubjectBytes) break;
    if (c == '\t' || c == '\r' || c == '\n') c = ' ';
    if (c == ' ' && !s.empty() && s.back() == ' ') continue;
    s.push_back(c);
  }
  std::string_view v = s;
  for (;;) {
    // (2) Trailers: "(fwd)" and blanks.
    for (;;) {
      if (!v.empty() && IsWsp(v.back())) {
        v.remove_suffix(1);
      } else if (v.size() >= 5 && EqualsIgnoreCase(v.substr(v.size() - 5), "(fwd)")) {
        v.remove_suffix(5);
        reply = true;
      } else {
        break;
      }
    }
    // (3)-(5) Leaders and blobs.
    for (;;) {
      bool refwd = false;
      if (size_t n = MatchLeader(v, refwd)) {
        v.remove_prefix(n);
        if (refwd) reply = true;
        continue;
      }
      size_t b = MatchBlob(v, 0);
      if (b > 0 && b < v.size()) {
        v.remove_prefix(b);
        continue;
      }
      break;
    }
    // (6) "[fwd: ... ]".
    if (v.size() >= 6 && StartsWithIgnoreCase(v, "[fwd:") && v.back() == ']') {
      v = v.substr(5, v.size() - 6);
      reply = true;
      continue;
    }
    break;
  }
  if (is_reply_or_forward) *is_reply_or_forward = reply;
  return std::string(v);
}

// --- Message ids.

std::vector<std::string> ParseMessageIds(std::string_view value) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < value.size() && out.size() < 10000) {
    char c = value[i];
    if (c == '(') {  // a comment outside an id
      int depth = 0;
      for (; i < value.size(); ++i) {
        if (value[i] == '\\') {
          ++i;
          continue;
        }
        if (value[i] == '(') ++depth;
        if (value[i] == ')' && --depth == 0) break;
      }
      ++i;
      continue;
    }
    if (c != '<') {
      ++i;
      continue;
    }
    // An id: quoted parts unquoted, blanks and comments dropped, up to '>'.
    std::string id;
    bool closed = false;
    size_t j = i + 1;
    while (j < value.size()) {
      char d = value[j];
      if (d == '>') {
        closed = true;
        ++j;
        break;
      }
      if (d == '<') break;  // an unclosed id: start again at this '<'
      if (d == '"') {
        ++j;
        while (j < value.size() && value[j] != '"') {
          if (value[j] == '\\' && j + 1 < value.size()) ++j;
          id.push_back(value[j]);
          ++j;
        }
        ++j;
        continue;
      }
      if (d == '(') {
        int depth = 0;
        for (; j < value.size(); ++j) {
          if (value[j] == '(') ++depth;
          if (value[j] == ')' && --depth == 0) break;
        }
        ++j;
        continue;
      }
      if (d != ' ' && d != '\t' && d != '\r' && d != '\n') id.push_back(d);
      ++j;
    }
    i = j;
    if (!closed) continue;
    size_t at = id.find('@');
    if (id.empty() || at == std::string::npos || at == 0 || at + 1 == id.size() ||
        id.size() > kMaxMessageIdBytes) {
      continue;
    }
    out.push_back(std::move(id));
  }
  return out;
}

// --- Sorting.

SortFields CollectSortFields(SearchMessage& message, const std::vector<SortCriterion>& criteria) {
  Needs n;
  for (const SortCriterion& c : criteria) {
    switch (c.key) {
      case SortKey::kArrival:
      case SortKey::kSize:
        break;
      case SortKey::kCc:
        n.cc = true;
        break;
      case SortKey::kDate:
        n.sent = true;
        break;
      case SortKey::kFrom:
        n.from = true;
        break;
      case SortKey::kSubject:
        n.subject = true;
        break;
      case SortKey::kTo:
        n.to = true;
        break;
      case SortKey::kDisplayFrom:
        n.display_from = true;
        break;
      case SortKey::kDisplayTo:
        n.display_to = true;
        break;
    }
  }
  return Collect(message, n);
}

SortFields CollectThreadFields(SearchMessage& message, ThreadAlgorithm algorithm) {
  Needs n;
  n.sent = true;
  n.subject = true;
  n.references = algorithm == ThreadAlgorithm::kReferences;
  return Collect(message, n);
}

void SortMessages(std::vector<SortFields>& messages, const std::vector<SortCriterion>& criteria) {
  std::sort(messages.begin(), messages.end(), [&](const SortFields& a, const SortFields& b) {
    for (const SortCriterion& c : criteria) {
      int r = Compare(a, b, c.key);
      if (r != 0) return c.reverse ? r > 0 : r < 0;
    }
    return a.seq < b.seq;
  });
}

std::string FormatSortResponse(const std::vector<SortFields>& sorted, bool uid, bool with_modseq) {
  std::string out = "* SORT";
  uint64_t highest = 0;
  for (const SortFields& f : sorted) {
    out += " " + std::to_string(uid ? f.uid : f.seq);
    highest = std::max(highest, f.modseq);
  }
  if (with_modseq && !sorted.empty()) out += " (MODSEQ " + std::to_string(highest) + ")";
  return out + "\r\n";
}

// --- Threading.

ThreadForest Thread(const std::vector<SortFields>& messages, ThreadAlgorithm algorithm, bool uid) {
  return algorithm == ThreadAlgorithm::kOrderedSubject ? OrderedSubject(messages, uid)
                                                       : References(messages, uid);
}

std::string FormatThreadResponse(const ThreadForest& threads) {
  // thread-list = "(" (thread-members / thread-nested) ")"; a chain of only children is
  // written flat ("1 2 3"), two or more children nest ("1 (2)(3)"). Work items: a node to
  // write the members of, or literal text. Written without recursion.
  std::string out = "* THREAD";
  struct Item {
    int node;  // -1: text
    const char* text;
  };
  const auto& nodes = threads.nodes;
  auto valid = [&](uint32_t n) { return n < nodes.size(); };
  std::vector<Item> stack;
  for (auto r = threads.roots.rbegin(); r != threads.roots.rend(); ++r) {
    if (!valid(*r)) continue;
    stack.push_back({-1, ")"});
    stack.push_back({static_cast<int>(*r), nullptr});
    stack.push_back({-1, "("});
  }
  if (!stack.empty()) out.push_back(' ');
  // Visited guard: a malformed forest (a node reachable twice) must not loop forever.
  std::vector<bool> seen(nodes.size(), false);
  while (!stack.empty()) {
    Item item = stack.back();
    stack.pop_back();
    if (item.node < 0) {
      out += item.text;
      continue;
    }
    size_t n = static_cast<size_t>(item.node);
    if (seen[n]) continue;
    seen[n] = true;
    const ThreadForest::Node& node = nodes[n];
    std::vector<uint32_t> kids;
    for (uint32_t c : node.children) {
      if (valid(c) && !seen[c]) kids.push_back(c);
    }
    bool dummy = node.id == 0;
    if (!dummy) out += std::to_string(node.id);
    if (kids.empty()) continue;
    if (kids.size() == 1) {
      if (!dummy) out.push_back(' ');
      stack.push_back({static_cast<int>(kids[0]), nullptr});
      continue;
    }
    if (!dummy) out.push_back(' ');
    for (auto c = kids.rbegin(); c != kids.rend(); ++c) {
      stack.push_back({-1, ")"});
      stack.push_back({static_cast<int>(*c), nullptr});
      stack.push_back({-1, "("});
    }
  }
  return out + "\r\n";
}

}  // namespace kite::imap
