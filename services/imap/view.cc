#include "imap/view.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "lib/imap/quote.h"

namespace kite::imap {

std::string CompressUids(const std::vector<int64_t>& sorted) {
  std::string out;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!out.empty()) out += ',';
    if (j == i) {
      absl::StrAppend(&out, sorted[i]);
    } else {
      absl::StrAppend(&out, sorted[i], ":", sorted[j]);
    }
    i = j + 1;
  }
  return out;
}

namespace {

constexpr std::string_view kRecent = "\\Recent";
constexpr const char* kSystemFlags = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

bool IsRecent(const mailstore::Entry& e) {
  return std::find(e.flags.begin(), e.flags.end(), kRecent) != e.flags.end();
}

// The store's flags (never \Recent) equal the view's once \Recent is set aside.
bool SameStoredFlags(const std::vector<std::string>& view, const std::vector<std::string>& stored) {
  size_t i = 0;
  for (const auto& f : view) {
    if (f == kRecent) continue;
    if (i >= stored.size() || stored[i] != f) return false;
    ++i;
  }
  return i == stored.size();
}

}  // namespace

void MailboxView::Reset(std::vector<mailstore::Entry> entries, int64_t highest_modseq, int64_t uidnext,
                        Permanent permanent) {
  entries_ = std::move(entries);
  pending_.clear();
  modseq_ = highest_modseq;
  uidnext_ = uidnext;
  permanent_ = permanent;
  keywords_.clear();
  keyword_set_.clear();
  recent_watermark_ = INT64_MAX;
  recent_count_ = 0;
  for (const auto& e : entries_) LearnKeywords(e.flags);
}

void MailboxView::Clear() { Reset({}, 0, 1); }

void MailboxView::MarkIfRecent(mailstore::Entry& e) {
  if (e.uid <= recent_watermark_ || IsRecent(e)) return;
  e.flags.emplace_back(kRecent);
  ++recent_count_;
}

void MailboxView::SetRecentWatermark(int64_t watermark) {
  recent_watermark_ = watermark;
  // Only UIDs above the newest one shown can be new to the caller; older ones keep what
  // they have.
  for (auto it = entries_.rbegin(); it != entries_.rend() && it->uid > watermark; ++it) MarkIfRecent(*it);
}

bool MailboxView::LearnKeywords(const std::vector<std::string>& flags) {
  bool added = false;
  for (const auto& f : flags) {
    if (f.empty() || f[0] == '\\' || keyword_set_.count(f)) continue;
    keyword_set_.insert(f);
    keywords_.push_back(f);
    added = true;
  }
  return added;
}

std::string MailboxView::FlagsResponses() const {
  std::string keywords;
  for (const auto& k : keywords_) absl::StrAppend(&keywords, " ", k);
  std::string permanent = permanent_ == Permanent::kNone   ? ""
                          : permanent_ == Permanent::kSeen ? "\\Seen"
                                                           : absl::StrCat(kSystemFlags, keywords, " \\*");
  return absl::StrCat("* FLAGS (", kSystemFlags, keywords, ")\r\n* OK [PERMANENTFLAGS (", permanent,
                      ")] Flags permitted\r\n");
}

std::optional<size_t> MailboxView::IndexOfUid(int64_t uid) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), uid,
                             [](const mailstore::Entry& e, int64_t u) { return e.uid < u; });
  if (it == entries_.end() || it->uid != uid) return std::nullopt;
  return static_cast<size_t>(it - entries_.begin());
}

std::vector<size_t> MailboxView::Select(const SequenceSet& set, bool uid, const std::vector<uint32_t>* saved) const {
  std::vector<size_t> out;
  if (set.is_saved()) {
    if (!saved) return out;
    for (uint32_t u : *saved) {
      if (auto i = IndexOfUid(u)) out.push_back(*i);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }
  if (!uid) {
    const uint32_t max = static_cast<uint32_t>(entries_.size());
    for (const auto& r : set.ranges()) {
      uint32_t a = r.first == SequenceSet::kStar ? max : r.first;
      uint32_t b = r.last == SequenceSet::kStar ? max : r.last;
      if (a > b) std::swap(a, b);
      if (a == 0) continue;
      for (uint32_t n = a; n <= std::min(b, max); ++n) out.push_back(n - 1);
    }
  } else {
    const uint32_t max = max_uid();
    for (const auto& r : set.ranges()) {
      uint32_t a = r.first == SequenceSet::kStar ? max : r.first;
      uint32_t b = r.last == SequenceSet::kStar ? max : r.last;
      if (a > b) std::swap(a, b);
      auto lo = std::lower_bound(entries_.begin(), entries_.end(), static_cast<int64_t>(a),
                                 [](const mailstore::Entry& e, int64_t u) { return e.uid < u; });
      for (auto it = lo; it != entries_.end() && it->uid <= b; ++it) out.push_back(static_cast<size_t>(it - entries_.begin()));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string MailboxView::AnnounceExpunges(const Options& options) {
  if (pending_.empty()) return "";
  std::string out;
  std::vector<int64_t> gone;
  for (size_t i = entries_.size(); i-- > 0;) {
    if (pending_.count(entries_[i].uid)) {
      if (!options.qresync) absl::StrAppend(&out, "* ", i + 1, " EXPUNGE\r\n");
      gone.push_back(entries_[i].uid);
      if (IsRecent(entries_[i])) --recent_count_;
    }
  }
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [&](const mailstore::Entry& e) { return pending_.count(e.uid) > 0; }),
                 entries_.end());
  pending_.clear();
  if (options.qresync && !gone.empty()) {
    std::sort(gone.begin(), gone.end());
    out = absl::StrCat("* VANISHED ", CompressUids(gone), "\r\n");
  }
  return out;
}

std::string MailboxView::Apply(const mailstore::Changes& changes, const Options& options) {
  std::string out;
  if (!changes.exists) return out;
  for (int64_t uid : changes.expunged) {
    if (IndexOfUid(uid)) pending_.insert(uid);
  }
  if (options.allow_expunge) out = AnnounceExpunges(options);
  // Flag changes of known messages; new messages after the last known UID.
  std::vector<size_t> fetch;
  const int64_t last = entries_.empty() ? 0 : entries_.back().uid;
  size_t before = entries_.size();
  bool new_keywords = false;
  for (const auto& e : changes.changed) {
    if (e.uid > last) {
      if (!pending_.count(e.uid)) {
        entries_.push_back(e);
        MarkIfRecent(entries_.back());
        new_keywords = LearnKeywords(e.flags) || new_keywords;
      }
      continue;
    }
    auto i = IndexOfUid(e.uid);
    if (!i || pending_.count(e.uid)) continue;
    mailstore::Entry& mine = entries_[*i];
    bool flags_differ = !SameStoredFlags(mine.flags, e.flags);
    mine.modseq = std::max(mine.modseq, e.modseq);
    if (flags_differ) {
      const bool recent = IsRecent(mine);
      mine.flags = e.flags;
      if (recent) mine.flags.emplace_back(kRecent);
      new_keywords = LearnKeywords(e.flags) || new_keywords;
      fetch.push_back(*i);
    }
  }
  if (new_keywords) out += FlagsResponses();
  if (entries_.size() > before) absl::StrAppend(&out, "* ", entries_.size(), " EXISTS\r\n* ", recent_count_, " RECENT\r\n");
  for (size_t i : fetch) {
    const auto& e = entries_[i];
    absl::StrAppend(&out, "* ", i + 1, " FETCH (UID ", e.uid, " FLAGS ", FormatFlags(e.flags));
    if (options.condstore) absl::StrAppend(&out, " MODSEQ (", e.modseq, ")");
    out += ")\r\n";
  }
  modseq_ = std::max(modseq_, changes.highest_modseq);
  uidnext_ = std::max(uidnext_, changes.uidnext);
  return out;
}

void MailboxView::Record(int64_t uid, const std::vector<std::string>& flags, int64_t modseq) {
  if (auto i = IndexOfUid(uid)) {
    const bool recent = IsRecent(entries_[*i]);
    entries_[*i].flags = flags;
    if (recent) entries_[*i].flags.emplace_back(kRecent);
    entries_[*i].modseq = std::max(entries_[*i].modseq, modseq);
  }
}

std::string MailboxView::Remove(const std::vector<int64_t>& uids, const Options& options) {
  for (int64_t uid : uids) {
    if (IndexOfUid(uid)) pending_.insert(uid);
  }
  return AnnounceExpunges(options);
}

}  // namespace kite::imap
