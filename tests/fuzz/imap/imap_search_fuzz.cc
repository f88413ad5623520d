// libFuzzer target: IMAP SEARCH / SORT / THREAD (lib/imap/search.h, sort_thread.h). The
// first byte picks the mode; the rest is, for the command modes, the argument text of a
// command line ("a SEARCH <rest>\r\n", literals allowed) that goes through the Receiver, is
// parsed, evaluated against a fixed synthetic message and a fixed MIME message, and formatted;
// for the helper mode, header text for the base subject, message id, date and address parsers
// and a message set (one message per line) for both threading algorithms.
// Invariants: no crash; NOT inverts a match; every threaded message appears exactly once in
// the THREAD response; ParseSearch errors are InvalidArgument or the BADCHARSET kind.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "lib/imap/mime_search_message.h"
#include "lib/imap/receiver.h"
#include "lib/imap/search.h"
#include "lib/imap/sort_thread.h"
#include "lib/mime/message.h"

namespace {

using namespace kite::imap;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

class Synthetic : public SearchMessage {
 public:
  uint32_t seq() const override { return 3; }
  uint32_t uid() const override { return 10; }
  const std::vector<std::string>& flags() const override { return flags_; }
  uint64_t size() const override { return 2048; }
  int64_t internal_date() const override { return 1700000000; }
  uint64_t modseq() const override { return 42; }
  bool recent() const override { return true; }
  std::string email_id() const override { return "E7"; }
  std::optional<int64_t> save_date() const override { return 1700003600; }
  std::vector<std::string> Header(std::string_view name) override {
    std::string key(name);
    for (char& c : key) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    auto it = headers_.find(key);
    return it == headers_.end() ? std::vector<std::string>{} : it->second;
  }
  std::string HeaderText() override { return "Subject: Re: [list] Quarterly results\n"; }
  std::string BodyText() override { return "Hello W\xC3\x96RLD, caf\xC3\xA9 \xFF\n"; }

 private:
  std::vector<std::string> flags_ = {"\\Seen", "$Label1", "\\Flagged"};
  std::map<std::string, std::vector<std::string>> headers_ = {
      {"from", {"\"Doe, J\" <j@example.test>"}},     {"to", {"a@example.test, B <b@example.test>"}},
      {"subject", {"Re: [list] Quarterly results"}}, {"date", {"Tue, 14 Nov 2023 22:13:20 +0000"}},
      {"message-id", {"<m1@example.test>"}},         {"references", {"<m0@example.test>"}},
  };
};

constexpr std::string_view kRaw =
    "From: =?utf-8?q?J=C3=B6rg?= <joerg@example.test>\r\n"
    "To: undisclosed:;\r\n"
    "Subject: Fwd: hello\r\n"
    "Date: 2 Jan 2024 10:00 +0100\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Gr=FC=DFe\r\n"
    "--b--\r\n";

std::vector<Token> ArgsOf(std::string_view line) {
  Receiver::Limits limits;
  limits.max_line = 8192;
  limits.max_literal = 4096;
  limits.max_command = 16384;
  limits.max_tokens = 2000;
  Receiver r(limits);
  r.Feed(line);
  for (int i = 0; i < 64; ++i) {
    Receiver::Event e = r.Next();
    if (e.kind == Receiver::Event::kCommand) return e.command.args;
    if (e.kind != Receiver::Event::kContinuationNeeded) break;
  }
  return {};
}

void CheckError(const absl::Status& s) {
  Check(s.code() == absl::StatusCode::kInvalidArgument || IsBadCharset(s));
  for (char c : s.message()) Check(c != '\r' && c != '\n');
}

void Evaluate(const SearchQuery& q) {
  static const kite::mime::Message* parsed = new kite::mime::Message(kite::mime::Parse(kRaw));
  std::vector<uint32_t> saved = {3, 10, 99};
  SearchContext ctx{20, 100, &saved, 1700000500};
  Synthetic synthetic;
  bool a = Matches(q, synthetic, ctx);
  SearchKey inverted;
  inverted.kind = SearchKey::kNot;
  inverted.children.push_back(q.root);
  Check(Matches(inverted, synthetic, ctx) == !a);
  SearchMetadata meta{1, 1, {"\\Answered"}, kRaw.size(), 1704186000, 7, false};
  MimeSearchMessage mime(meta, kRaw, parsed);
  bool b = Matches(q, mime, ctx);
  MimeSearchMessage fresh(meta, kRaw);  // parses itself
  Check(Matches(q, fresh, ctx) == b);
  MimeSearchMessage lazy(meta, [](bool whole) {  // header block first
    return std::string(whole ? kRaw : kRaw.substr(0, kRaw.find("\r\n\r\n") + 4));
  });
  Check(Matches(q, lazy, ctx) == b);
  (void)NeedsHeaders(q);
  (void)NeedsBody(q);
  std::vector<SearchHit> hits;
  if (a) hits.push_back({3, 10, 42});
  if (b) hits.push_back({5, 20, 7});
  for (bool uid : {false, true}) {
    std::string out = FormatSearchResponse(q, hits, uid, "a\"1");
    Check(out.empty() || (out.size() >= 2 && out.substr(out.size() - 2) == "\r\n"));
  }
  (void)SearchResultToSave(q, hits);
}

size_t CountIds(const std::string& response, std::vector<uint32_t>& ids) {
  int depth = 0;
  uint64_t n = 0;
  bool in_number = false;
  for (char c : response.substr(std::min<size_t>(response.size(), 8))) {
    if (c >= '0' && c <= '9') {
      n = n * 10 + static_cast<uint64_t>(c - '0');
      in_number = true;
      continue;
    }
    if (in_number) ids.push_back(static_cast<uint32_t>(n));
    n = 0;
    in_number = false;
    if (c == '(') ++depth;
    if (c == ')') --depth;
    Check(depth >= 0);
  }
  Check(depth == 0);
  return ids.size();
}

void Helpers(std::string_view text) {
  bool reply = false;
  std::string base = BaseSubject(text, &reply);
  Check(base.size() <= kMaxSubjectBytes);
  Check(BaseSubject(base) == base);  // idempotent
  for (const std::string& id : ParseMessageIds(text)) Check(!id.empty() && id.size() <= 998);
  (void)ParseMessageDate(text);
  (void)ParseSearchDate(text);
  (void)FoldCase(text);
  (void)ContainsFolded(text, text.substr(0, text.size() / 2));

  // One message per line: "<id> <refs...> subject".
  std::vector<SortFields> msgs;
  size_t pos = 0;
  uint32_t seq = 0;
  while (pos <= text.size() && msgs.size() < 200) {
    size_t eol = text.find('\n', pos);
    std::string_view line = text.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
    pos = eol == std::string_view::npos ? text.size() + 1 : eol + 1;
    SortFields f;
    f.seq = ++seq;
    f.uid = seq * 3;
    f.sent = static_cast<int64_t>(line.size() % 7);
    std::vector<std::string> ids = ParseMessageIds(line);
    if (!ids.empty()) {
      f.message_id = ids[0];
      f.references.assign(ids.begin() + 1, ids.end());
    }
    f.subject = FoldCase(BaseSubject(
        line.substr(line.rfind('>') == std::string_view::npos ? 0 : line.rfind('>') + 1),
        &f.is_reply));
    msgs.push_back(std::move(f));
  }
  for (ThreadAlgorithm alg : {ThreadAlgorithm::kOrderedSubject, ThreadAlgorithm::kReferences}) {
    std::string out = FormatThreadResponse(Thread(msgs, alg, false));
    std::vector<uint32_t> ids;
    CountIds(out, ids);
    std::sort(ids.begin(), ids.end());
    Check(ids.size() == msgs.size());
    for (size_t i = 0; i < ids.size(); ++i) Check(ids[i] == i + 1);
  }
  SortMessages(msgs, {{SortKey::kSubject, true}, {SortKey::kDate, false}});
  (void)FormatSortResponse(msgs, true, true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 16384) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
    case 1: {
      std::vector<Token> args = ArgsOf("a SEARCH " + std::string(rest) + "\r\n");
      absl::StatusOr<SearchQuery> q = ParseSearch(args, 0);
      if (!q.ok()) {
        CheckError(q.status());
        return 0;
      }
      Evaluate(*q);
      return 0;
    }
    case 2: {
      std::vector<Token> args = ArgsOf("a SORT " + std::string(rest) + "\r\n");
      absl::StatusOr<SortCommand> s = ParseSort(args, 0);
      if (!s.ok()) {
        CheckError(s.status());
        return 0;
      }
      Evaluate(s->query);
      Synthetic m;
      std::vector<SortFields> fields = {CollectSortFields(m, s->criteria)};
      SortMessages(fields, s->criteria);
      (void)FormatSortResponse(fields, false, s->query.uses_modseq);
      return 0;
    }
    case 3: {
      std::vector<Token> args = ArgsOf("a THREAD " + std::string(rest) + "\r\n");
      absl::StatusOr<ThreadCommand> t = ParseThread(args, 0);
      if (!t.ok()) {
        CheckError(t.status());
        return 0;
      }
      Evaluate(t->query);
      Synthetic m;
      std::vector<SortFields> fields = {CollectThreadFields(m, t->algorithm)};
      (void)FormatThreadResponse(Thread(fields, t->algorithm, true));
      return 0;
    }
    default:
      Helpers(rest);
      return 0;
  }
}
