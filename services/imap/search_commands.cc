// SEARCH, SORT and THREAD (RFC 3501 6.4.4, RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 5256,
// RFC 7162 3.1.5) over the selected mailbox, with lib/imap's search library.
//
// Cost: the whole evaluation runs on a blocking worker. A first pass decides every message
// that flags, sizes, dates, UIDs or sequence numbers settle without reading it. For the rest,
// text keys (FROM, TO, CC, BCC, SUBJECT, BODY, TEXT, HEADER on those fields) go to the store
// in one statement (MailStore::SearchText, migration 0019) that says which keys each message
// matches; the query is then finished here with the flags and dates of the view. Only
// messages stored without search text (before 0019, or too large) are loaded, in batches:
// their stored fields, their header blocks, or the whole messages when BODY or TEXT is asked.
#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "imap/session.h"
#include "lib/imap/mime_search_message.h"
#include "lib/imap/object_id.h"
#include "lib/imap/search.h"
#include "lib/imap/search_text.h"
#include "lib/imap/sort_thread.h"
#include "lib/log/log.h"
#include "lib/mailstore/search_sql.h"
#include "lib/mime/message.h"

namespace kite::imap {
namespace {

constexpr size_t kLoadBatch = 50;         // whole messages per query
constexpr size_t kHeaderLoadBatch = 500;  // header blocks per query

// save_dates: UID -> save date, loaded when the query has SAVED* keys.
SearchMetadata Metadata(const mailstore::Entry& e, size_t index,
                        const std::map<int64_t, int64_t>* save_dates = nullptr) {
  SearchMetadata m;
  m.seq = static_cast<uint32_t>(index + 1);
  m.uid = static_cast<uint32_t>(e.uid);
  m.flags = e.flags;
  m.recent = std::find(e.flags.begin(), e.flags.end(), "\\Recent") != e.flags.end();  // the view's session flag
  m.size = static_cast<uint64_t>(e.size);
  m.internal_date = e.internal_date;
  m.modseq = static_cast<uint64_t>(e.modseq);
  m.email_id = EmailObjectId(e.message_id);
  if (save_dates) {
    if (auto it = save_dates->find(e.uid); it != save_dates->end()) m.save_date = it->second;
  }
  return m;
}

}  // namespace

boost::asio::awaitable<void> Session::CmdSearch(const Command& cmd) {
  const bool sort = cmd.name == "SORT", thread = cmd.name == "THREAD";
  SearchQuery query;
  std::vector<SortCriterion> criteria;
  ThreadAlgorithm algorithm = ThreadAlgorithm::kReferences;
  absl::Status parsed = absl::OkStatus();
  if (sort) {
    auto s = ParseSort(cmd.args, 0);
    if (s.ok()) {
      criteria = s->criteria;
      query = std::move(s->query);
    }
    parsed = s.status();
  } else if (thread) {
    auto t = ParseThread(cmd.args, 0);
    if (t.ok()) {
      algorithm = t->algorithm;
      query = std::move(t->query);
    }
    parsed = t.status();
  } else {
    auto q = ParseSearch(cmd.args, 0);
    if (q.ok()) query = std::move(*q);
    parsed = q.status();
  }
  if (!parsed.ok()) {
    // RFC 5182 2.1: a failed SEARCH empties the saved result.
    if (!sort && !thread) {
      saved_.clear();
      saved_valid_ = true;
    }
    result_ = absl::StrCat(IsBadCharset(parsed) ? "NO " : "BAD ", parsed.message());
    co_return;
  }
  if (query.uses_modseq) EnableCondstore();
  if (query.uses_saved && !saved_valid_) {
    saved_.clear();
    saved_valid_ = true;
  }

  const int64_t owner = sel_->owner, mailbox = sel_->info.id;
  const MailboxView& view = view_;
  const std::vector<uint32_t>* saved = &saved_;
  struct Outcome {
    std::vector<SearchHit> hits;
    std::vector<SortFields> fields;  // SORT / THREAD
  };
  auto outcome = co_await rt_.Blocking([&]() -> absl::StatusOr<Outcome> {
    SearchContext ctx;
    ctx.max_seq = static_cast<uint32_t>(view.size());
    ctx.max_uid = view.max_uid();
    ctx.saved = saved;
    ctx.now = static_cast<int64_t>(std::time(nullptr));
    // SAVEDBEFORE / SAVEDON / SAVEDSINCE (RFC 8514): the save dates, one statement.
    std::map<int64_t, int64_t> save_dates;
    if (query.uses_save_date && !view.empty()) {
      std::vector<int64_t> uids;
      uids.reserve(view.size());
      for (size_t i = 0; i < view.size(); ++i) uids.push_back(view.at(i).uid);
      auto dates = mail_.LoadSaveDates(owner, mailbox, uids);
      if (!dates.ok()) return dates.status();
      for (const auto& d : *dates) {
        if (d.saved) save_dates.emplace(d.uid, *d.saved);
      }
    }
    const std::map<int64_t, int64_t>* sd = query.uses_save_date ? &save_dates : nullptr;
    // Pass 1: decide what needs no bytes. The loader only notes that bytes were wanted.
    std::vector<char> decided(view.size(), 0), matched(view.size(), 0);
    std::vector<int64_t> to_load;
    for (size_t i = 0; i < view.size(); ++i) {
      if (view.IsExpunged(i)) continue;
      bool wanted = false;
      MimeSearchMessage probe(Metadata(view.at(i), i, sd), [&wanted](bool) {
        wanted = true;
        return std::string();
      });
      bool m = Matches(query, probe, ctx);
      if (!wanted) {
        decided[i] = 1;
        matched[i] = m;
      } else {
        to_load.push_back(view.at(i).uid);
      }
    }
    // Pass 2: text keys in the store, when it can answer every key that needs the message.
    if (!to_load.empty()) {
      if (auto leaves = StoreTextLeaves(query); leaves && !leaves->empty()) {
        std::vector<mailstore::TextCriterion> criteria;
        for (const TextLeaf& leaf : *leaves) criteria.push_back({leaf.field, leaf.value});
        size_t live = 0;
        for (size_t i = 0; i < view.size(); ++i) live += !view.IsExpunged(i);
        // The UIDs, unless the whole of a large mailbox is asked (then the store may use its
        // trigram indexes instead of reading the mailbox's rows).
        std::optional<std::vector<int64_t>> uids;
        if (to_load.size() != live || to_load.size() <= mailstore::kScanLimit) uids = to_load;
        auto found = mail_.SearchText(owner, mailbox, uids, criteria);
        if (!found.ok()) return found.status();
        std::vector<uint64_t> bits(view.size(), 0);
        std::vector<char> unknown(view.size(), 0);
        for (const auto& m : found->matches) {
          if (auto i = view.IndexOfUid(m.uid)) bits[*i] = m.matched;
        }
        for (int64_t uid : found->unknown) {
          if (auto i = view.IndexOfUid(uid)) unknown[*i] = 1;
        }
        std::vector<int64_t> rest;
        for (int64_t uid : to_load) {
          auto i = view.IndexOfUid(uid);
          if (!i) continue;
          if (unknown[*i]) {
            rest.push_back(uid);
            continue;
          }
          // Not listed: no text key matched (an entry expunged meanwhile reads the same).
          DecidedTextMessage m(Metadata(view.at(*i), *i, sd), *leaves, bits[*i]);
          decided[*i] = 1;
          matched[*i] = Matches(query, m, ctx);
        }
        to_load = std::move(rest);
      }
    }
    // Pass 3: the rest, with their bytes (only the header block unless BODY or TEXT is
    // asked), in batches.
    const bool whole = NeedsBody(query);
    // FROM, TO, CC, BCC and SUBJECT alone: from the fields stored at delivery (migration 0016),
    // a few short values per message; messages stored without them are read below.
    if (!whole && !to_load.empty() && UsesOnlyStoredFields(query)) {
      std::vector<int64_t> rest;
      for (size_t start = 0; start < to_load.size(); start += kHeaderLoadBatch) {
        std::vector<int64_t> batch(
            to_load.begin() + static_cast<long>(start),
            to_load.begin() + static_cast<long>(std::min(to_load.size(), start + kHeaderLoadBatch)));
        auto stored = mail_.LoadSearchFields(owner, mailbox, batch);
        if (!stored.ok()) return stored.status();
        for (const auto& f : *stored) {
          auto i = view.IndexOfUid(f.uid);
          if (!i) continue;
          if (!f.present) {
            rest.push_back(f.uid);
            continue;
          }
          StoredFieldsMessage m(Metadata(view.at(*i), *i, sd), f.fields);
          decided[*i] = 1;
          matched[*i] = Matches(query, m, ctx);
        }
      }
      to_load = std::move(rest);
    }
    const size_t batch_size = whole ? kLoadBatch : kHeaderLoadBatch;
    for (size_t start = 0; start < to_load.size(); start += batch_size) {
      std::vector<int64_t> batch(to_load.begin() + static_cast<long>(start),
                                 to_load.begin() + static_cast<long>(std::min(to_load.size(), start + batch_size)));
      auto loaded = whole ? mail_.LoadMessages(owner, mailbox, batch, true, false)
                          : mail_.LoadHeaders(owner, mailbox, batch);
      if (!loaded.ok()) return loaded.status();
      for (const auto& msg : *loaded) {
        auto i = view.IndexOfUid(msg.uid);
        if (!i) continue;
        MimeSearchMessage full(Metadata(view.at(*i), *i, sd), msg.body);
        decided[*i] = 1;
        matched[*i] = Matches(query, full, ctx);
      }
    }
    Outcome out;
    std::vector<size_t> hits;
    for (size_t i = 0; i < view.size(); ++i) {
      if (decided[i] && matched[i]) {
        hits.push_back(i);
        out.hits.push_back(SearchHit{static_cast<uint32_t>(i + 1), static_cast<uint32_t>(view.at(i).uid),
                                     static_cast<uint64_t>(view.at(i).modseq)});
      }
    }
    if (!sort && !thread) return out;
    // SORT / THREAD: the fields of every hit (headers from the stored bytes; ARRIVAL and
    // SIZE alone need none).
    bool need_bytes = thread || std::any_of(criteria.begin(), criteria.end(), [](const SortCriterion& c) {
                        return c.key != SortKey::kArrival && c.key != SortKey::kSize;
                      });
    for (size_t start = 0; start < hits.size(); start += kHeaderLoadBatch) {
      size_t end = std::min(hits.size(), start + kHeaderLoadBatch);
      std::vector<mailstore::StoredMessage> loaded;
      if (need_bytes) {
        std::vector<int64_t> uids;
        for (size_t k = start; k < end; ++k) uids.push_back(view.at(hits[k]).uid);
        auto l = mail_.LoadHeaders(owner, mailbox, uids);
        if (!l.ok()) return l.status();
        loaded = std::move(*l);
      }
      size_t li = 0;
      for (size_t k = start; k < end; ++k) {
        const auto& e = view.at(hits[k]);
        std::string_view raw;
        while (li < loaded.size() && loaded[li].uid < e.uid) ++li;
        if (li < loaded.size() && loaded[li].uid == e.uid) raw = loaded[li].body;
        MimeSearchMessage m(Metadata(e, hits[k], sd), raw);
        out.fields.push_back(thread ? CollectThreadFields(m, algorithm) : CollectSortFields(m, criteria));
      }
    }
    return out;
  });
  if (!outcome.ok()) {
    log::Warn("imap.search_failed").Kv("error", outcome.status().message());
    result_ = kUnavailable;
    co_return;
  }
  if (sort) {
    SortMessages(outcome->fields, criteria);
    absl::StrAppend(&out_, FormatSortResponse(outcome->fields, cmd.uid, query.uses_modseq));
  } else if (thread) {
    ThreadForest forest = Thread(outcome->fields, algorithm, cmd.uid);
    absl::StrAppend(&out_, FormatThreadResponse(forest));
  } else {
    if (query.ret.save) {
      saved_ = SearchResultToSave(query, outcome->hits);
      saved_valid_ = true;
    }
    absl::StrAppend(&out_, FormatSearchResponse(query, outcome->hits, cmd.uid, cmd.tag));
  }
  result_ = absl::StrCat("OK ", cmd.uid ? "UID " : "", cmd.name, " completed");
}

}  // namespace kite::imap
