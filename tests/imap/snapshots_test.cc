// kite-imap's snapshot cache: Advance equals a fresh read; the cache keeps the newest snapshot
// per mailbox and evicts the least recently used beyond its entry budget.
#include "imap/snapshots.h"

#include <catch2/catch.hpp>
#include <memory>
#include <vector>

namespace kite::imap {
namespace {

mailstore::Entry E(int64_t uid, int64_t modseq, std::vector<std::string> flags = {}) {
  mailstore::Entry e;
  e.uid = uid;
  e.modseq = modseq;
  e.flags = std::move(flags);
  return e;
}

std::vector<int64_t> Uids(const Snapshot& s) {
  std::vector<int64_t> out;
  for (const auto& e : s.entries) out.push_back(e.uid);
  return out;
}

TEST_CASE("Advance applies new entries, flag changes and expunges in UID order", "[imap][snapshots]") {
  Snapshot base{10, 6, {E(1, 2), E(3, 4), E(5, 10)}};
  mailstore::Changes ch;
  ch.highest_modseq = 14;
  ch.uidnext = 9;
  ch.changed = {E(3, 12, {"\\Seen"}), E(6, 13), E(8, 14)};
  ch.expunged = {1, 7};  // 7 arrived and left after the snapshot: never seen
  Snapshot next = Advance(base, ch);
  CHECK(Uids(next) == std::vector<int64_t>{3, 5, 6, 8});
  CHECK(next.entries[0].flags == std::vector<std::string>{"\\Seen"});
  CHECK(next.entries[0].modseq == 12);
  CHECK(next.highest_modseq == 14);
  CHECK(next.uidnext == 9);

  // Nothing changed: the same entries.
  mailstore::Changes none;
  none.highest_modseq = 14;
  none.uidnext = 9;
  CHECK(Uids(Advance(next, none)) == Uids(next));
  // An empty base takes every changed entry.
  CHECK(Uids(Advance(Snapshot{}, ch)) == std::vector<int64_t>{3, 6, 8});
}

TEST_CASE("SnapshotCache keeps the newest snapshot and evicts the least recently used", "[imap][snapshots]") {
  SnapshotCache cache(5);
  auto two = std::make_shared<const Snapshot>(Snapshot{5, 3, {E(1, 1), E(2, 5)}});
  auto older = std::make_shared<const Snapshot>(Snapshot{4, 2, {E(1, 1)}});
  cache.Put(1, 10, two);
  cache.Put(1, 10, older);  // an older read loses
  REQUIRE(cache.Get(1, 10) == two);
  CHECK(cache.entries() == 2);

  cache.Put(1, 11, std::make_shared<const Snapshot>(Snapshot{3, 3, {E(1, 1), E(2, 2)}}));
  CHECK(cache.entries() == 4);
  REQUIRE(cache.Get(1, 10));  // 10 is now the most recently used
  cache.Put(2, 20, std::make_shared<const Snapshot>(Snapshot{2, 3, {E(1, 1), E(2, 2)}}));
  // 6 entries > 5: 11, the least recently used, goes.
  CHECK(cache.Get(1, 11) == nullptr);
  CHECK(cache.Get(1, 10) == two);
  CHECK(cache.Get(2, 20) != nullptr);
  CHECK(cache.entries() == 4);
  CHECK(cache.mailboxes() == 2);

  // A snapshot larger than the whole budget is not kept, and drops the old one.
  Snapshot big;
  for (int64_t u = 1; u <= 6; ++u) big.entries.push_back(E(u, u));
  cache.Put(1, 10, std::make_shared<const Snapshot>(big));
  CHECK(cache.Get(1, 10) == nullptr);
  cache.Drop(2, 20);
  CHECK(cache.entries() == 0);

  SnapshotCache off(0);
  off.Put(1, 1, std::make_shared<const Snapshot>(Snapshot{1, 1, {}}));  // empty: fits in 0
  off.Put(1, 2, std::make_shared<const Snapshot>(Snapshot{1, 2, {E(1, 1)}}));
  CHECK(off.Get(1, 2) == nullptr);
}

}  // namespace
}  // namespace kite::imap
