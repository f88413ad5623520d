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

void MailboxView::Reset(std::vector<mailstore::Entry> entries, int64_t highest_modseq, int64_t uidnext) {
  entries_ = std::move(entries);
  pending_.clear();
  modseq_ = highest_modseq;
  uidnext_ = uidnext;
}

void MailboxView::Clear() { Reset({}, 0, 1); }

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
  for (const auto& e : changes.changed) {
    if (e.uid > last) {
      if (!pending_.count(e.uid)) entries_.push_back(e);
      continue;
    }
    auto i = IndexOfUid(e.uid);
    if (!i || pending_.count(e.uid)) continue;
    mailstore::Entry& mine = entries_[*i];
    bool flags_differ = mine.flags != e.flags;
    mine.modseq = std::max(mine.modseq, e.modseq);
    if (flags_differ) {
      mine.flags = e.flags;
      fetch.push_back(*i);
    }
  }
  if (entries_.size() > before) absl::StrAppend(&out, "* ", entries_.size(), " EXISTS\r\n");
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
    entries_[*i].flags = flags;
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
