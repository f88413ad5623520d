#include "imap/snapshots.h"

#include <algorithm>

namespace kite::imap {

Snapshot Advance(const Snapshot& base, const mailstore::Changes& changes) {
  Snapshot out;
  out.highest_modseq = std::max(base.highest_modseq, changes.highest_modseq);
  out.uidnext = std::max(base.uidnext, changes.uidnext);
  out.entries.reserve(base.entries.size() + changes.changed.size());
  // Both lists are in UID order: merge, the change winning over the old entry.
  const auto& gone = changes.expunged;  // ascending
  auto expunged = [&](int64_t uid) { return std::binary_search(gone.begin(), gone.end(), uid); };
  size_t i = 0, j = 0;
  const auto& old = base.entries;
  const auto& changed = changes.changed;
  while (i < old.size() || j < changed.size()) {
    const mailstore::Entry* next;
    if (j == changed.size() || (i < old.size() && old[i].uid < changed[j].uid)) {
      next = &old[i++];
    } else {
      if (i < old.size() && old[i].uid == changed[j].uid) ++i;
      next = &changed[j++];
    }
    if (!expunged(next->uid)) out.entries.push_back(*next);
  }
  return out;
}

std::shared_ptr<const Snapshot> SnapshotCache::Get(int64_t account_id, int64_t mailbox_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = slots_.find({account_id, mailbox_id});
  if (it == slots_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.snapshot;
}

void SnapshotCache::Put(int64_t account_id, int64_t mailbox_id, std::shared_ptr<const Snapshot> snapshot) {
  if (!snapshot || snapshot->entries.size() > max_entries_) {
    Drop(account_id, mailbox_id);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  const Key key{account_id, mailbox_id};
  auto it = slots_.find(key);
  if (it != slots_.end()) {
    if (it->second.snapshot->highest_modseq > snapshot->highest_modseq) return;  // ours is older
    held_ -= it->second.snapshot->entries.size();
    it->second.snapshot = std::move(snapshot);
    held_ += it->second.snapshot->entries.size();
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  } else {
    lru_.push_front(key);
    held_ += snapshot->entries.size();
    slots_.emplace(key, Slot{std::move(snapshot), lru_.begin()});
  }
  EvictLocked();
}

void SnapshotCache::Drop(int64_t account_id, int64_t mailbox_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = slots_.find({account_id, mailbox_id});
  if (it == slots_.end()) return;
  held_ -= it->second.snapshot->entries.size();
  lru_.erase(it->second.lru);
  slots_.erase(it);
}

void SnapshotCache::EvictLocked() {
  while (held_ > max_entries_ && !lru_.empty()) {
    auto it = slots_.find(lru_.back());
    held_ -= it->second.snapshot->entries.size();
    slots_.erase(it);
    lru_.pop_back();
  }
}

size_t SnapshotCache::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_;
}

size_t SnapshotCache::mailboxes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return slots_.size();
}

}  // namespace kite::imap
