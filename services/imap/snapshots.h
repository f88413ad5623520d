// Per kite-imap process: the last state read of recently selected mailboxes (HIGHESTMODSEQ,
// UIDNEXT and every entry), shared by the sessions of the process. A SELECT of a mailbox held
// here reads only the change log after its HIGHESTMODSEQ (one statement that usually returns
// just the mailbox row) instead of every entry, and the snapshot moves forward with it.
//
// Correctness does not depend on the cache: a snapshot is a state the store really had, and
// the change log after its MODSEQ brings it to the present (mailstore::ChangesSince's
// snapshot rule), so Advance(snapshot, ChangesSince(snapshot.highest_modseq)) equals a fresh
// read. Memory is bounded by a total number of entries (least recently used out first).
// Thread-safe (one mutex; the io thread is its only user today).
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "lib/mailstore/mailstore.h"

namespace kite::imap {

struct Snapshot {
  int64_t highest_modseq = 0;
  int64_t uidnext = 1;
  std::vector<mailstore::Entry> entries;  // UID order
};

// The snapshot moved forward by a change log read after its HIGHESTMODSEQ: expunged UIDs
// removed, changed entries replaced or inserted in UID order.
Snapshot Advance(const Snapshot& base, const mailstore::Changes& changes);

class SnapshotCache {
 public:
  // max_entries 0: keep nothing (every SELECT reads every entry).
  explicit SnapshotCache(size_t max_entries) : max_entries_(max_entries) {}

  std::shared_ptr<const Snapshot> Get(int64_t account_id, int64_t mailbox_id);
  // Keeps `snapshot` unless the cache holds a newer one (a higher HIGHESTMODSEQ).
  void Put(int64_t account_id, int64_t mailbox_id, std::shared_ptr<const Snapshot> snapshot);
  void Drop(int64_t account_id, int64_t mailbox_id);

  size_t entries() const;    // held now, for tests and metrics
  size_t mailboxes() const;

 private:
  using Key = std::pair<int64_t, int64_t>;
  struct Slot {
    std::shared_ptr<const Snapshot> snapshot;
    std::list<Key>::iterator lru;
  };
  void EvictLocked();

  const size_t max_entries_;
  mutable std::mutex mu_;
  std::map<Key, Slot> slots_;
  std::list<Key> lru_;  // most recently used first
  size_t held_ = 0;
};

}  // namespace kite::imap
