// The selected mailbox as one IMAP session sees it: message sequence numbers, UIDs, flags and
// MODSEQs, and the bookkeeping that turns the store's change log into the untagged responses
// the client must get (RFC 3501 5.2, 7.3.1, 7.4.1, 7.4.2; RFC 7162 3.2.10 VANISHED).
//
// Pure: the session feeds it mailstore::Changes read after MODSEQ highest_modseq() and sends
// the returned text. Sequence numbers only change when expunges are announced: while a
// command forbids EXPUNGE responses (FETCH, STORE, SEARCH: RFC 3501 7.4.1), expunged
// messages stay in the view, marked, and are announced by the next command that allows it.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lib/imap/sequence_set.h"
#include "lib/mailstore/mailstore.h"

namespace kite::imap {

class MailboxView {
 public:
  struct Options {
    bool allow_expunge = true;
    bool qresync = false;  // VANISHED instead of EXPUNGE (RFC 7162 3.2.10)
    bool condstore = false;  // MODSEQ in FETCH responses
  };

  void Reset(std::vector<mailstore::Entry> entries, int64_t highest_modseq, int64_t uidnext);
  void Clear();

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const mailstore::Entry& at(size_t index) const { return entries_[index]; }
  mailstore::Entry& at(size_t index) { return entries_[index]; }
  uint32_t max_uid() const { return entries_.empty() ? 0 : static_cast<uint32_t>(entries_.back().uid); }
  int64_t highest_modseq() const { return modseq_; }
  int64_t uidnext() const { return uidnext_; }
  bool IsExpunged(size_t index) const { return pending_.count(entries_[index].uid) > 0; }

  // Index (sequence number - 1) of a UID.
  std::optional<size_t> IndexOfUid(int64_t uid) const;
  // The indices a sequence set names (UIDs when `uid`), ascending. `saved` substitutes "$".
  std::vector<size_t> Select(const SequenceSet& set, bool uid, const std::vector<uint32_t>* saved = nullptr) const;

  // Applies the change log and returns the untagged responses: expunges (when allowed, in
  // descending order so each number is right as sent, or one VANISHED), then EXISTS for new
  // messages, then FETCH (UID, FLAGS, MODSEQ) for flag changes the view did not know.
  std::string Apply(const mailstore::Changes& changes, const Options& options);

  // Our own change (STORE, the \Seen of a FETCH): recorded so Apply does not echo it.
  void Record(int64_t uid, const std::vector<std::string>& flags, int64_t modseq);
  // Our own EXPUNGE: removes these UIDs and returns the responses for them.
  std::string Remove(const std::vector<int64_t>& uids, const Options& options);

 private:
  std::string AnnounceExpunges(const Options& options);

  std::vector<mailstore::Entry> entries_;
  std::set<int64_t> pending_;  // expunged in the store, not yet announced
  int64_t modseq_ = 0;
  int64_t uidnext_ = 1;
};

// "1:3,5" from ascending numbers.
std::string CompressUids(const std::vector<int64_t>& sorted);

}  // namespace kite::imap
