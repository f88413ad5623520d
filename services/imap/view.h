// The selected mailbox as one IMAP session sees it: message sequence numbers, UIDs, flags and
// MODSEQs, and the bookkeeping that turns the store's change log into the untagged responses
// the client must get (RFC 3501 5.2, 7.3.1, 7.4.1, 7.4.2; RFC 7162 3.2.10 VANISHED).
//
// Pure: the session feeds it mailstore::Changes read after MODSEQ highest_modseq() and sends
// the returned text. Sequence numbers only change when expunges are announced: while a
// command forbids EXPUNGE responses (FETCH, STORE, SEARCH: RFC 3501 7.4.1), expunged
// messages stay in the view, marked, and are announced by the next command that allows it.
//
// Two pieces of session state live here too. Keywords: FLAGS and PERMANENTFLAGS name every
// keyword the session has seen, and a keyword new to the mailbox is announced with both
// before the first FETCH that shows it (RFC 3501 7.2.6). \Recent (RFC 3501 2.3.2) is a
// session flag, never stored: it sits in the view's flag lists (so FETCH FLAGS and SEARCH
// RECENT/NEW/OLD see it) for the messages above the recent watermark the session claimed
// (mailstore::ClaimRecent), and the store's flags never carry it.
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

  // What PERMANENTFLAGS offers: nothing (EXAMINE), \Seen alone (a shared mailbox with the
  // read right), or every flag and new keywords (\*).
  enum class Permanent { kNone, kSeen, kAll };

  void Reset(std::vector<mailstore::Entry> entries, int64_t highest_modseq, int64_t uidnext,
             Permanent permanent = Permanent::kAll);
  void Clear();

  // The messages above `watermark` are \Recent for this session, and so are those that
  // arrive later with a UID above it (until the next call). Call with the value
  // mailstore::ClaimRecent returned.
  void SetRecentWatermark(int64_t watermark);
  size_t recent_count() const { return recent_count_; }

  // Notes the keywords among `flags`; true when one of them was not announced yet (the
  // caller then sends FlagsResponses() before any FETCH showing it).
  bool LearnKeywords(const std::vector<std::string>& flags);
  // "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]" for the flags and keywords known now.
  std::string FlagsResponses() const;

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
  // messages (and RECENT), then FETCH (UID, FLAGS, MODSEQ) for flag changes the view did not
  // know, preceded by FLAGS and PERMANENTFLAGS when they bring a keyword new to the session.
  std::string Apply(const mailstore::Changes& changes, const Options& options);

  // Our own change (STORE, the \Seen of a FETCH): recorded so Apply does not echo it.
  // `flags` are the store's; a \Recent message keeps \Recent.
  void Record(int64_t uid, const std::vector<std::string>& flags, int64_t modseq);
  // Our own EXPUNGE: removes these UIDs and returns the responses for them.
  std::string Remove(const std::vector<int64_t>& uids, const Options& options);
  // The expunges Apply learned while they were not allowed (during FETCH, STORE, SEARCH):
  // their responses, in descending order, now that they are; empty when there are none.
  std::string AnnounceExpunges(const Options& options);

 private:
  // Adds \Recent to a message above the watermark that does not have it yet.
  void MarkIfRecent(mailstore::Entry& e);

  std::vector<mailstore::Entry> entries_;
  Permanent permanent_ = Permanent::kAll;
  std::vector<std::string> keywords_;  // announced, in order of discovery
  std::set<std::string> keyword_set_;
  int64_t recent_watermark_ = INT64_MAX;  // nothing is \Recent until SetRecentWatermark
  size_t recent_count_ = 0;
  std::set<int64_t> pending_;  // expunged in the store, not yet announced
  int64_t modseq_ = 0;
  int64_t uidnext_ = 1;
};

// "1:3,5" from ascending numbers.
std::string CompressUids(const std::vector<int64_t>& sorted);

}  // namespace kite::imap
