// The selected state: SELECT/EXAMINE (CONDSTORE, QRESYNC), CLOSE/UNSELECT, FETCH, STORE,
// COPY/MOVE (UIDPLUS), EXPUNGE/UID EXPUNGE. SEARCH, SORT and THREAD are in
// search_commands.cc. See imap_session.h for SECURITY and STANDARDS.
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "imap/notifier.h"
#include "imap/session.h"
#include "lib/base/strings.h"
#include "lib/imap/fetch_items.h"
#include "lib/imap/fetch_section.h"
#include "lib/imap/mailbox_name.h"
#include "lib/imap/object_id.h"
#include "lib/imap/quote.h"
#include "lib/imap/sequence_set.h"
#include "lib/log/log.h"
#include "lib/mime/message.h"

namespace kite::imap {
namespace {

// A literal straight onto the reply: a whole message is copied once, not three times.
void AppendLiteral(std::string* out, std::string_view bytes, bool binary = false) {
  absl::StrAppend(out, binary ? "~{" : "{", bytes.size(), "}\r\n", AV(bytes));
}

// ApplyPartial on a view (BODY[]<from.count> of the stored message, without a copy).
std::string_view PartialOf(std::string_view data, const FetchItem& item) {
  if (!item.partial) return data;
  return data.substr(std::min<uint64_t>(item.partial->first, data.size()), item.partial->second);
}

}  // namespace

boost::asio::awaitable<void> Session::CmdSelect(const Command& cmd) {
  const bool examine = cmd.name == "EXAMINE";
  // A new SELECT ends the previous selection first, even when it fails (RFC 3501 6.3.1).
  const bool had = sel_.has_value();
  sel_.reset();
  view_.Clear();
  watch_.reset();
  if (had && qresync_) absl::StrAppend(&out_, "* OK [CLOSED] Previous mailbox closed\r\n");
  // SELECT mailbox [(CONDSTORE) | (QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]]))]
  bool syntax = (cmd.args.size() == 1 || cmd.args.size() == 2) && cmd.args[0].IsString();
  bool want_condstore = false;
  std::optional<std::pair<int64_t, int64_t>> qr;  // uidvalidity, modseq
  std::optional<SequenceSet> known;
  if (syntax && cmd.args.size() == 2) {
    const Token& p = cmd.args[1];
    syntax = p.kind == Token::kList;
    for (size_t i = 0; syntax && i < p.children.size(); ++i) {
      std::string v = absl::AsciiStrToUpper(p.children[i].value);
      if (v == "CONDSTORE") {
        want_condstore = true;
      } else if (v == "QRESYNC" && i + 1 < p.children.size() && p.children[i + 1].kind == Token::kList) {
        const auto& q = p.children[++i].children;
        syntax = qresync_ && q.size() >= 2 && q.size() <= 4 && q[0].kind == Token::kAtom && q[1].kind == Token::kAtom;
        int64_t uv = 0, ms = 0;
        syntax = syntax && absl::SimpleAtoi(AV(q[0].value), &uv) && absl::SimpleAtoi(AV(q[1].value), &ms) && uv > 0;
        if (syntax) qr = {uv, ms};
        if (syntax && q.size() >= 3) {
          if (q[2].kind == Token::kAtom) {
            auto set = SequenceSet::Parse(q[2].value);
            syntax = set.ok();
            if (syntax) known = *set;
          } else {
            syntax = q[2].kind == Token::kList && q.size() == 3;  // only the seq-match data
          }
        }
      } else {
        syntax = false;
      }
    }
  }
  if (!syntax) {
    result_ = qresync_ || cmd.args.size() != 2
                  ? absl::StrCat("BAD Syntax: ", cmd.name, " mailbox [(CONDSTORE) | (QRESYNC (...))]")
                  : "BAD QRESYNC must be enabled first (ENABLE QRESYNC)";
    co_return;
  }
  if (want_condstore) condstore_ = true;  // SELECT's own HIGHESTMODSEQ tells the client
  const std::string raw = cmd.args[0].value;
  Target target = co_await ResolveMailbox(raw, false);
  if (!target.error.empty()) {
    result_ = target.error;
    co_return;
  }
  const int64_t owner = target.owner, mailbox = target.info.id;
  // The mailbox as this process last saw it, brought up to date by the change log after it
  // (usually one statement returning just the mailbox row); else every entry, read from one
  // snapshot in one round trip. Anything newer arrives through the change log on the next sync.
  // \Recent: SELECT claims the messages up to the snapshot's newest UID, with a write only when
  // the watermark read with the head is below it (EXAMINE never claims).
  // And when the head that resolving the name just read (UIDNEXT, HIGHESTMODSEQ and the
  // watermark, one statement) is the cached snapshot's, nothing more is read at all.
  SnapshotCache& cache = server_.snapshots();
  std::shared_ptr<const Snapshot> cached = cache.Get(owner, mailbox);
  int64_t recent_watermark = 0;
  const bool cache_current = cached && cached->highest_modseq == target.info.highest_modseq &&
                             cached->uidnext == target.info.uidnext;
  const bool claim = !examine && cache_current && target.info.recent_uid < cached->uidnext - 1;
  absl::StatusOr<std::shared_ptr<const Snapshot>> state = cached;
  if (cache_current && !claim) {
    recent_watermark = target.info.recent_uid;
  } else {
    state = co_await rt_.Blocking([&]() -> absl::StatusOr<std::shared_ptr<const Snapshot>> {
      std::shared_ptr<const Snapshot> snap;
      int64_t recent_uid = 0;
      if (cache_current) {
        snap = cached;
        recent_uid = target.info.recent_uid;
      } else if (cached) {
        auto changes = mail_.ChangesSince(owner, mailbox, cached->highest_modseq);
        if (!changes.ok()) return changes.status();
        if (!changes->exists) return nullptr;
        recent_uid = changes->recent_uid;
        snap = changes->highest_modseq == cached->highest_modseq && changes->uidnext == cached->uidnext
                   ? cached
                   : std::make_shared<const Snapshot>(Advance(*cached, *changes));
      } else {
        auto opened = mail_.OpenMailbox(owner, mailbox);
        if (!opened.ok()) return opened.status();
        if (!opened->exists) return nullptr;
        recent_uid = opened->recent_uid;
        snap = std::make_shared<const Snapshot>(
            Snapshot{opened->highest_modseq, opened->uidnext, std::move(opened->entries)});
      }
      const int64_t newest = snap->uidnext - 1;
      recent_watermark = recent_uid;
      if (!examine && recent_uid < newest) {
        auto claimed = mail_.ClaimRecent(owner, mailbox, newest);
        if (!claimed.ok() && !absl::IsNotFound(claimed.status())) return claimed.status();
        recent_watermark = claimed.value_or(newest);
      }
      return snap;
    });
  }
  if (!state.ok() || !*state) {
    if (state.ok()) cache.Drop(owner, mailbox);
    result_ = state.ok() ? "NO [NONEXISTENT] No such mailbox" : kUnavailable;
    co_return;
  }
  const std::shared_ptr<const Snapshot> snapshot = *state;
  if (snapshot != cached) cache.Put(owner, mailbox, snapshot);
  const int64_t modseq = snapshot->highest_modseq;
  Selected s;
  s.info = target.info;
  s.client_name = NormalizeInbox(raw);
  s.owner = target.owner;
  s.shared = target.shared;
  s.may_write = target.may_write;
  s.read_only = examine;
  sel_ = s;
  view_.Reset(snapshot->entries, modseq, std::max(snapshot->uidnext, target.info.uidnext),
              examine ? MailboxView::Permanent::kNone
              : target.may_write ? MailboxView::Permanent::kAll
                                 : MailboxView::Permanent::kSeen);
  view_.SetRecentWatermark(recent_watermark);
  if (server_.notifier()) watch_ = server_.notifier()->WatchAccount(owner, conn_->executor());
  saved_.clear();
  saved_valid_ = false;

  absl::StrAppend(&out_, view_.FlagsResponses(), "* ", view_.size(), " EXISTS\r\n* ", view_.recent_count(),
                  " RECENT\r\n",
                  "* OK [UIDVALIDITY ", sel_->info.uidvalidity, "] UIDs valid\r\n", "* OK [UIDNEXT ", view_.uidnext(),
                  "] Predicted next UID\r\n", "* OK [HIGHESTMODSEQ ", modseq, "] Highest\r\n",
                  "* OK [MAILBOXID (", MailboxObjectId(sel_->info.id), ")] Ok\r\n");  // RFC 8474 4.2
  // QRESYNC (RFC 7162 3.2.5): what changed since the client's MODSEQ, if its UIDVALIDITY holds.
  if (qr && qr->first == sel_->info.uidvalidity) {
    const int64_t since = qr->second;
    auto changes = co_await rt_.Blocking([&] { return mail_.ChangesSince(owner, mailbox, since); });
    if (changes.ok()) {
      std::vector<int64_t> vanished;
      for (int64_t uid : changes->expunged) {
        // Still in the view: expunged after the SELECT's snapshot, so the next sync announces
        // it (VANISHED without EARLIER) when the sequence numbers change for this session.
        if (view_.IndexOfUid(uid)) continue;
        if (!known || known->Contains(static_cast<uint32_t>(uid), view_.max_uid())) vanished.push_back(uid);
      }
      if (!vanished.empty()) absl::StrAppend(&out_, "* VANISHED (EARLIER) ", CompressUids(vanished), "\r\n");
      for (const auto& e : changes->changed) {
        auto i = view_.IndexOfUid(e.uid);
        if (!i) continue;
        const auto& v = view_.at(*i);
        absl::StrAppend(&out_, "* ", *i + 1, " FETCH (UID ", v.uid, " FLAGS ", FormatFlags(v.flags), " MODSEQ (",
                        v.modseq, "))\r\n");
      }
    }
  }
  result_ = absl::StrCat("OK [", examine ? "READ-ONLY" : "READ-WRITE", "] ", cmd.name, " completed");
}

boost::asio::awaitable<absl::StatusOr<std::vector<int64_t>>> Session::ExpungeDeleted(const std::vector<int64_t>* only) {
  std::vector<int64_t> uids;
  for (size_t i = 0; i < view_.size(); ++i) {
    const auto& e = view_.at(i);
    if (!HasFlag(e.flags, "\\Deleted")) continue;
    if (only && !std::binary_search(only->begin(), only->end(), e.uid)) continue;
    uids.push_back(e.uid);
  }
  if (uids.empty()) co_return std::vector<int64_t>{};
  const int64_t owner = sel_->owner, mailbox = sel_->info.id;
  Server& server = server_;
  auto r = co_await rt_.Blocking([&]() -> absl::StatusOr<mailstore::ExpungeResult> {
    auto x = mail_.Expunge(owner, mailbox, uids);
    if (x.ok() && !x->uids.empty()) server.Publish(owner, mailbox);
    return x;
  });
  if (!r.ok()) co_return r.status();
  co_return r->uids;
}

boost::asio::awaitable<void> Session::CmdClose(const Command& cmd) {
  if (!cmd.args.empty()) {
    result_ = absl::StrCat("BAD Syntax: ", cmd.name);
    co_return;
  }
  // CLOSE expunges \Deleted messages silently when the mailbox is writable (RFC 3501 6.4.2).
  if (cmd.name == "CLOSE" && !sel_->read_only && sel_->may_write) {
    auto gone = co_await ExpungeDeleted(nullptr);
    if (!gone.ok()) {
      result_ = kUnavailable;
      co_return;
    }
  }
  sel_.reset();
  view_.Clear();
  watch_.reset();
  result_ = absl::StrCat("OK ", cmd.name, " completed");
}

boost::asio::awaitable<void> Session::CmdExpunge(const Command& cmd) {
  std::optional<std::vector<int64_t>> only;
  if (cmd.uid) {
    if (cmd.args.size() != 1 || cmd.args[0].kind != Token::kAtom) {
      result_ = "BAD Syntax: UID EXPUNGE uid-set";
      co_return;
    }
    auto set = SequenceSet::Parse(cmd.args[0].value);
    if (!set.ok()) {
      result_ = absl::StrCat("BAD ", set.status().message());
      co_return;
    }
    only.emplace();
    for (size_t i : view_.Select(*set, true, saved_valid_ ? &saved_ : nullptr)) only->push_back(view_.at(i).uid);
  } else if (!cmd.args.empty()) {
    result_ = "BAD Syntax: EXPUNGE";
    co_return;
  }
  if (sel_->read_only) {
    result_ = "NO [READ-ONLY] The mailbox was opened with EXAMINE";
    co_return;
  }
  if (!sel_->may_write) {
    result_ = kNoPerm;
    co_return;
  }
  // Fresh flags first: a \Deleted set through another session counts.
  if (!co_await SyncSelected(true)) {
    result_ = kUnavailable;
    co_return;
  }
  auto gone = co_await ExpungeDeleted(only ? &*only : nullptr);
  if (!gone.ok()) {
    result_ = kUnavailable;
    co_return;
  }
  absl::StrAppend(&out_, view_.Remove(*gone, ViewOptions(true)));
  result_ = condstore_ ? absl::StrCat("OK [HIGHESTMODSEQ ", view_.highest_modseq(), "] EXPUNGE completed")
                       : "OK EXPUNGE completed";
}

boost::asio::awaitable<void> Session::CmdFetch(const Command& original) {
  // "FETCH 1 PREVIEW (LAZY)": PREVIEW's modifier list stands as an argument of its own (RFC
  // 8970 4); read it as the list "(PREVIEW (LAZY))" unless it is FETCH's modifier list.
  std::optional<Command> folded;
  if (original.args.size() >= 3 && IsPreviewWithModifiers(original.args[1], original.args[2]) &&
      !original.args[2].children.empty() && absl::EqualsIgnoreCase(original.args[2].children[0].value, "LAZY")) {
    folded = original;
    Token list;
    list.kind = Token::kList;
    list.children = {folded->args[1], folded->args[2]};
    folded->args[1] = std::move(list);
    folded->args.erase(folded->args.begin() + 2);
  }
  const Command& cmd = folded ? *folded : original;
  // FETCH set items [(CHANGEDSINCE n [VANISHED])] (RFC 3501 6.4.5, RFC 7162 3.1.4, 3.2.6).
  if (cmd.args.size() < 2 || cmd.args.size() > 3 || cmd.args[0].kind != Token::kAtom) {
    result_ = "BAD Syntax: FETCH set items";
    co_return;
  }
  auto set = SequenceSet::Parse(cmd.args[0].value);
  if (!set.ok()) {
    result_ = absl::StrCat("BAD ", set.status().message());
    co_return;
  }
  auto items = ParseFetchItems(cmd.args[1]);
  if (!items.ok()) {
    result_ = absl::StrCat("BAD ", items.status().message());
    co_return;
  }
  std::optional<int64_t> changed_since;
  bool vanished = false;
  if (cmd.args.size() == 3) {
    const Token& m = cmd.args[2];
    bool ok = m.kind == Token::kList;
    for (size_t i = 0; ok && i < m.children.size(); ++i) {
      std::string v = absl::AsciiStrToUpper(m.children[i].value);
      int64_t n = 0;
      if (v == "CHANGEDSINCE" && i + 1 < m.children.size() && absl::SimpleAtoi(AV(m.children[i + 1].value), &n) &&
          n >= 0) {
        changed_since = n;
        ++i;
      } else if (v == "VANISHED") {
        vanished = true;
      } else {
        ok = false;
      }
    }
    if (!ok || (vanished && (!cmd.uid || !qresync_ || !changed_since))) {
      result_ = "BAD Syntax: FETCH set items (CHANGEDSINCE modseq [VANISHED])";
      co_return;
    }
    EnableCondstore();
  }
  std::vector<FetchItem> want = *items;
  bool has_uid = false, has_modseq = false, need_body = false, need_structure = false, sets_seen = false,
       has_flags = false, need_save_date = false;
  for (const auto& it : want) {
    need_save_date |= it.kind == FetchItem::kSaveDate;
    // PREVIEW is computed from the first text part: the body and its structure.
    need_body |= it.kind == FetchItem::kPreview;
    need_structure |= it.kind == FetchItem::kPreview;
    has_uid |= it.kind == FetchItem::kUid;
    has_modseq |= it.kind == FetchItem::kModSeq;
    has_flags |= it.kind == FetchItem::kFlags;
    need_body |= it.kind == FetchItem::kBodySection || it.kind == FetchItem::kRfc822 ||
                 it.kind == FetchItem::kRfc822Header || it.kind == FetchItem::kRfc822Text ||
                 it.kind == FetchItem::kBinary || it.kind == FetchItem::kBinarySize;
    need_structure |= it.kind == FetchItem::kEnvelope || it.kind == FetchItem::kBody ||
                      it.kind == FetchItem::kBodyStructure ||
                      ((it.kind == FetchItem::kBodySection || it.kind == FetchItem::kBinary ||
                        it.kind == FetchItem::kBinarySize) &&
                       (!it.part.empty() || !it.section.empty()));
    sets_seen |= it.SetsSeen();
  }
  // BODY[HEADER], BODY[HEADER.FIELDS ...] and RFC822.HEADER of the message itself (what
  // clients ask when they list a mailbox) need only its header block: load just that.
  const bool headers_only = need_body && std::all_of(want.begin(), want.end(), [](const FetchItem& it) {
    switch (it.kind) {
      case FetchItem::kUid:
      case FetchItem::kFlags:
      case FetchItem::kModSeq:
      case FetchItem::kRfc822Size:
      case FetchItem::kInternalDate:
      case FetchItem::kRfc822Header:
      case FetchItem::kEmailId:
      case FetchItem::kThreadId:
      case FetchItem::kSaveDate:
        return true;
      case FetchItem::kBodySection:
        return it.part.empty() && absl::StartsWith(it.section, "HEADER");
      default:
        return false;
    }
  });
  if (headers_only) need_structure = false;
  if (has_modseq) EnableCondstore();
  if (cmd.uid && !has_uid) want.insert(want.begin(), FetchItem{FetchItem::kUid});
  if (changed_since && !has_modseq) want.push_back(FetchItem{FetchItem::kModSeq});
  sets_seen = sets_seen && !sel_->read_only;
  if (!cmd.uid && !set->is_saved() && !set->IsWithin(static_cast<uint32_t>(view_.size()))) {
    result_ = "BAD Message sequence number out of range";
    co_return;
  }
  std::vector<size_t> indices = view_.Select(*set, cmd.uid, saved_valid_ ? &saved_ : nullptr);
  if (changed_since) {
    indices.erase(std::remove_if(indices.begin(), indices.end(),
                                 [&](size_t i) { return view_.at(i).modseq <= *changed_since; }),
                  indices.end());
  }
  const int64_t owner = sel_->owner, mailbox = sel_->info.id;
  if (vanished) {
    // UID FETCH ... (CHANGEDSINCE m VANISHED): expunged UIDs of the set (RFC 7162 3.2.6).
    const int64_t since = *changed_since;
    auto changes = co_await rt_.Blocking([&] { return mail_.ChangesSince(owner, mailbox, since); });
    if (changes.ok()) {
      std::vector<int64_t> gone;
      for (int64_t uid : changes->expunged) {
        if (set->Contains(static_cast<uint32_t>(uid), view_.max_uid())) gone.push_back(uid);
      }
      if (!gone.empty()) absl::StrAppend(&out_, "* VANISHED (EARLIER) ", CompressUids(gone), "\r\n");
    }
  }
  const size_t chunk = need_body ? 50 : need_structure ? 500 : indices.size() + 1;
  bool failed = false;
  std::string unknown_cte;
  for (size_t start = 0; start < indices.size() && !failed; start += chunk) {
    const size_t end = std::min(indices.size(), start + chunk);
    std::vector<int64_t> uids;
    std::vector<int64_t> to_see;
    for (size_t k = start; k < end; ++k) {
      const auto& e = view_.at(indices[k]);
      uids.push_back(e.uid);
      if (sets_seen && !HasFlag(e.flags, "\\Seen")) to_see.push_back(e.uid);
    }
    std::map<int64_t, int64_t> save_dates;  // SAVEDATE: UID -> unix seconds (absent: NIL)
    if (need_save_date) {
      auto dates = co_await rt_.Blocking([&] { return mail_.LoadSaveDates(owner, mailbox, uids); });
      if (!dates.ok()) {
        failed = true;
        break;
      }
      for (const auto& d : *dates) {
        if (d.saved) save_dates.emplace(d.uid, *d.saved);
      }
    }
    std::vector<mailstore::StoredMessage> loaded;
    if (need_body || need_structure || !to_see.empty()) {
      const bool body = need_body;
      const bool structure = need_structure;
      Server& server = server_;
      auto got = co_await rt_.Blocking(
          [&]() -> absl::StatusOr<std::pair<std::vector<mailstore::StoredMessage>, mailstore::StoreResult>> {
            mailstore::StoreResult seen;
            if (!to_see.empty()) {
              auto s = mail_.StoreFlags(owner, mailbox, to_see, mailstore::FlagOp::kAdd, {"\\Seen"});
              if (!s.ok()) return s.status();
              seen = std::move(*s);
              server.Publish(owner, mailbox);
            }
            std::vector<mailstore::StoredMessage> msgs;
            if (headers_only) {
              auto m = mail_.LoadHeaders(owner, mailbox, uids);
              if (!m.ok()) return m.status();
              msgs = std::move(*m);
            } else if (body || structure) {
              auto m = mail_.LoadMessages(owner, mailbox, uids, body, structure);
              if (!m.ok()) return m.status();
              msgs = std::move(*m);
            }
            return std::make_pair(std::move(msgs), std::move(seen));
          });
      if (!got.ok()) {
        failed = true;
        break;
      }
      loaded = std::move(got->first);
      for (const auto& fc : got->second.entries) {
        if (fc.changed) view_.Record(fc.uid, fc.flags, fc.modseq);
      }
    }
    size_t li = 0;
    for (size_t k = start; k < end; ++k) {
      const size_t index = indices[k];
      const mailstore::Entry& e = view_.at(index);
      const mailstore::StoredMessage* stored = nullptr;
      while (li < loaded.size() && loaded[li].uid < e.uid) ++li;
      if (li < loaded.size() && loaded[li].uid == e.uid) stored = &loaded[li];
      if ((need_body || need_structure) && !stored) continue;  // expunged meanwhile
      std::optional<mime::Message> parsed;
      if (need_structure) {
        if (!stored->structure.empty()) {
          auto decoded = mime::DecodeStorage(stored->structure);
          if (decoded.ok()) parsed = std::move(*decoded);
        }
        if (!parsed) parsed = mime::Parse(stored->body);
      }
      const std::string_view raw = stored ? std::string_view(stored->body) : std::string_view();
      // Each item goes straight onto the reply, separated by one space.
      absl::StrAppend(&out_, "* ", index + 1, " FETCH (");
      bool first_item = true;
      auto item = [&]() -> std::string* {
        if (!first_item) out_ += ' ';
        first_item = false;
        return &out_;
      };
      bool flags_sent = false;
      for (const auto& it : want) {
        switch (it.kind) {
          case FetchItem::kUid: absl::StrAppend(item(), "UID ", e.uid); break;
          case FetchItem::kFlags:
            flags_sent = true;
            absl::StrAppend(item(), "FLAGS ", FormatFlags(e.flags));
            break;
          case FetchItem::kModSeq: absl::StrAppend(item(), "MODSEQ (", e.modseq, ")"); break;
          case FetchItem::kEmailId: absl::StrAppend(item(), "EMAILID (", EmailObjectId(e.message_id), ")"); break;
          case FetchItem::kThreadId: absl::StrAppend(item(), "THREADID NIL"); break;  // no threading (RFC 8474 5.2)
          case FetchItem::kSaveDate: {
            auto d = save_dates.find(e.uid);
            if (d == save_dates.end()) {
              absl::StrAppend(item(), "SAVEDATE NIL");
            } else {
              absl::StrAppend(item(), "SAVEDATE \"", InternalDate(d->second), "\"");
            }
            break;
          }
          case FetchItem::kPreview:
            // Computed now, so LAZY gets it too (RFC 8970 3.1 allows it).
            absl::StrAppend(item(), "PREVIEW ", QuoteString(mime::Preview(raw, *parsed)));
            break;
          case FetchItem::kRfc822Size: absl::StrAppend(item(), "RFC822.SIZE ", e.size); break;
          case FetchItem::kInternalDate:
            absl::StrAppend(item(), "INTERNALDATE \"", InternalDate(e.internal_date), "\"");
            break;
          case FetchItem::kEnvelope: absl::StrAppend(item(), "ENVELOPE ", mime::ImapEnvelope(parsed->envelope)); break;
          case FetchItem::kBody: absl::StrAppend(item(), "BODY ", mime::ImapBody(parsed->root, false)); break;
          case FetchItem::kBodyStructure:
            absl::StrAppend(item(), "BODYSTRUCTURE ", mime::ImapBody(parsed->root, true));
            break;
          case FetchItem::kRfc822:
            absl::StrAppend(item(), "RFC822 ");
            AppendLiteral(&out_, raw);
            break;
          case FetchItem::kRfc822Header: {
            size_t end_of_header = raw.find("\r\n\r\n");
            std::string_view header = end_of_header == std::string_view::npos ? raw : raw.substr(0, end_of_header + 4);
            absl::StrAppend(item(), "RFC822.HEADER ");
            AppendLiteral(&out_, header);
            break;
          }
          case FetchItem::kRfc822Text: {
            size_t end_of_header = raw.find("\r\n\r\n");
            std::string_view text =
                end_of_header == std::string_view::npos ? std::string_view() : raw.substr(end_of_header + 4);
            absl::StrAppend(item(), "RFC822.TEXT ");
            AppendLiteral(&out_, text);
            break;
          }
          case FetchItem::kBodySection: {
            if (it.part.empty() && it.section.empty()) {  // BODY[]: the stored message as it is
              absl::StrAppend(item(), it.ResponseName(), " ");
              AppendLiteral(&out_, PartialOf(raw, it));
              break;
            }
            std::optional<std::string> data;
            if (headers_only) {
              std::string_view header = mime::HeaderOf(raw);
              data = it.section == "HEADER" ? std::string(header)
                                            : FilterHeaderFields(header, it.fields, it.section == "HEADER.FIELDS.NOT");
            } else if (parsed) {
              data = BodySectionData(raw, *parsed, it);
            }
            if (!data) {
              absl::StrAppend(item(), it.ResponseName(), " NIL");
              break;
            }
            absl::StrAppend(item(), it.ResponseName(), " ");
            AppendLiteral(&out_, PartialOf(*data, it));
            break;
          }
          case FetchItem::kBinary:
          case FetchItem::kBinarySize: {
            absl::StatusOr<std::optional<std::string>> decoded = std::optional<std::string>(std::string(raw));
            if (!it.part.empty()) decoded = BinarySectionData(raw, *parsed, it);  // parsed: need_structure
            if (!decoded.ok()) {  // RFC 3516 4.2: the tagged NO [UNKNOWN-CTE]
              unknown_cte = std::string(decoded.status().message());
              break;
            }
            if (!*decoded) {
              absl::StrAppend(item(), it.ResponseName(), " NIL");
              break;
            }
            if (it.kind == FetchItem::kBinarySize) {
              absl::StrAppend(item(), it.ResponseName(), " ", (*decoded)->size());
              break;
            }
            std::string data = ApplyPartial(std::move(**decoded), it);
            bool binary = data.find('\0') != std::string::npos;
            absl::StrAppend(item(), it.ResponseName(), " ");
            AppendLiteral(&out_, data, binary);
            break;
          }
        }
      }
      const bool seen_now = std::binary_search(to_see.begin(), to_see.end(), e.uid);
      if (seen_now && !flags_sent) absl::StrAppend(item(), "FLAGS ", FormatFlags(e.flags));
      if (condstore_ && (flags_sent || seen_now) && !has_modseq && !changed_since) {
        absl::StrAppend(item(), "MODSEQ (", e.modseq, ")");
      }
      out_ += ")\r\n";
    }
    if (!co_await FlushIfLarge()) {
      result_.clear();
      co_return;
    }
  }
  result_ = failed                ? kUnavailable
            : !unknown_cte.empty() ? absl::StrCat("NO ", unknown_cte)
                                   : absl::StrCat("OK ", cmd.uid ? "UID " : "", "FETCH completed");
}

boost::asio::awaitable<void> Session::CmdStore(const Command& cmd) {
  // STORE set [(UNCHANGEDSINCE n)] FLAGS|+FLAGS|-FLAGS[.SILENT] (flag...) — RFC 3501 6.4.6,
  // RFC 7162 3.1.3. With the read right only, \Seen is the one flag that changes (RFC 4314 4).
  size_t i = 1;
  std::optional<int64_t> unchanged_since;
  bool syntax = cmd.args.size() >= 3 && cmd.args[0].kind == Token::kAtom;
  if (syntax && cmd.args[1].kind == Token::kList) {
    const auto& m = cmd.args[1].children;
    int64_t n = 0;
    syntax = m.size() == 2 && absl::EqualsIgnoreCase(m[0].value, "UNCHANGEDSINCE") &&
             absl::SimpleAtoi(AV(m[1].value), &n) && n >= 0 && cmd.args.size() >= 4;
    unchanged_since = n;
    i = 2;
  }
  std::string item = syntax && cmd.args[i].kind == Token::kAtom ? absl::AsciiStrToUpper(cmd.args[i].value) : "";
  bool silent = absl::EndsWith(item, ".SILENT");
  if (silent) item.resize(item.size() - 7);
  syntax = syntax && (item == "FLAGS" || item == "+FLAGS" || item == "-FLAGS");
  std::vector<std::string> flags;
  if (syntax && i + 1 < cmd.args.size() && cmd.args[i + 1].kind == Token::kList) {
    syntax = cmd.args.size() == i + 2;
    for (const Token& t : cmd.args[i + 1].children) {
      syntax = syntax && t.kind == Token::kAtom;
      flags.push_back(t.value);
    }
  } else {
    for (size_t k = i + 1; syntax && k < cmd.args.size(); ++k) {
      syntax = cmd.args[k].kind == Token::kAtom;
      flags.push_back(cmd.args[k].value);
    }
  }
  std::vector<std::string> unique;
  for (auto& f : flags) {
    f = CanonicalFlag(f);
    syntax = syntax && IsValidFlag(f) && f != "\\Recent";
    if (!HasFlag(unique, f)) unique.push_back(f);
  }
  flags = std::move(unique);
  if (!syntax || flags.size() > kMaxFlagsPerMessage) {
    result_ = "BAD Syntax: STORE set [(UNCHANGEDSINCE n)] FLAGS|+FLAGS|-FLAGS[.SILENT] (flags)";
    co_return;
  }
  auto set = SequenceSet::Parse(cmd.args[0].value);
  if (!set.ok()) {
    result_ = absl::StrCat("BAD ", set.status().message());
    co_return;
  }
  if (sel_->read_only) {
    result_ = "NO [READ-ONLY] The mailbox was opened with EXAMINE";
    co_return;
  }
  if (unchanged_since) EnableCondstore();
  mailstore::FlagOp op = item == "FLAGS"    ? mailstore::FlagOp::kReplace
                         : item == "+FLAGS" ? mailstore::FlagOp::kAdd
                                            : mailstore::FlagOp::kRemove;
  if (!sel_->may_write) {
    bool seen = HasFlag(flags, "\\Seen");
    if (op == mailstore::FlagOp::kReplace) {
      op = seen ? mailstore::FlagOp::kAdd : mailstore::FlagOp::kRemove;
      flags = {"\\Seen"};
    } else if (seen) {
      flags = {"\\Seen"};
    } else if (!flags.empty()) {
      result_ = "NO [NOPERM] Only \\Seen may be changed in this mailbox";
      co_return;
    }
  }
  if (!cmd.uid && !set->is_saved() && !set->IsWithin(static_cast<uint32_t>(view_.size()))) {
    result_ = "BAD Message sequence number out of range";
    co_return;
  }
  std::vector<int64_t> uids;
  for (size_t k : view_.Select(*set, cmd.uid, saved_valid_ ? &saved_ : nullptr)) {
    if (!view_.IsExpunged(k)) uids.push_back(view_.at(k).uid);
  }
  const int64_t owner = sel_->owner, mailbox = sel_->info.id;
  const int64_t since = unchanged_since.value_or(0);
  Server& server = server_;
  auto stored = co_await rt_.Blocking([&]() -> absl::StatusOr<mailstore::StoreResult> {
    auto r = mail_.StoreFlags(owner, mailbox, uids, op, flags, since);
    if (r.ok() && std::any_of(r->entries.begin(), r->entries.end(), [](const auto& e) { return e.changed; })) {
      server.Publish(owner, mailbox);
    }
    return r;
  });
  if (!stored.ok()) {
    result_ = kUnavailable;
    co_return;
  }
  // A keyword new to the mailbox is announced before the FETCH that shows it (RFC 3501
  // 7.2.6), even when .SILENT shows none.
  bool new_keywords = false;
  for (const auto& fc : stored->entries) new_keywords = view_.LearnKeywords(fc.flags) || new_keywords;
  if (new_keywords) out_ += view_.FlagsResponses();
  for (const auto& fc : stored->entries) {
    // .SILENT leaves out what the client can work out from what it knew and asked; flags
    // another session changed meanwhile it cannot, and once recorded here no later sync
    // would tell it: those are shown as for any change from elsewhere (RFC 3501 7).
    bool predictable = true;
    if (silent) {
      if (auto index = view_.IndexOfUid(fc.uid)) {
        std::set<std::string> expected;
        if (op != mailstore::FlagOp::kReplace) {
          for (const auto& f : view_.at(*index).flags) {
            if (f != "\\Recent") expected.insert(f);
          }
        }
        for (const auto& f : flags) {
          if (op == mailstore::FlagOp::kRemove) {
            expected.erase(f);
          } else {
            expected.insert(f);
          }
        }
        predictable = expected == std::set<std::string>(fc.flags.begin(), fc.flags.end());
      }
    }
    view_.Record(fc.uid, fc.flags, fc.modseq);
    if (silent && predictable && !(condstore_ && fc.changed && unchanged_since)) continue;
    auto index = view_.IndexOfUid(fc.uid);
    if (!index) continue;
    const bool show_flags = !silent || !predictable;
    absl::StrAppend(&out_, "* ", *index + 1, " FETCH (", cmd.uid ? absl::StrCat("UID ", fc.uid, " ") : "");
    if (show_flags) absl::StrAppend(&out_, "FLAGS ", FormatFlags(view_.at(*index).flags));
    if (condstore_) absl::StrAppend(&out_, show_flags ? " " : "", "MODSEQ (", fc.modseq, ")");
    out_ += ")\r\n";
  }
  if (!stored->modified.empty()) {
    std::vector<int64_t> numbers;
    for (int64_t uid : stored->modified) {
      if (cmd.uid) {
        numbers.push_back(uid);
      } else if (auto index = view_.IndexOfUid(uid)) {
        numbers.push_back(static_cast<int64_t>(*index + 1));
      }
    }
    std::sort(numbers.begin(), numbers.end());
    result_ = absl::StrCat("OK [MODIFIED ", CompressUids(numbers), "] Conditional STORE failed for some messages");
    co_return;
  }
  result_ = absl::StrCat("OK ", cmd.uid ? "UID " : "", "STORE completed");
}

boost::asio::awaitable<void> Session::CmdCopy(const Command& cmd) {
  const bool move = cmd.name == "MOVE";
  if (cmd.args.size() != 2 || cmd.args[0].kind != Token::kAtom || !cmd.args[1].IsString()) {
    result_ = absl::StrCat("BAD Syntax: ", cmd.name, " set mailbox");
    co_return;
  }
  auto set = SequenceSet::Parse(cmd.args[0].value);
  if (!set.ok()) {
    result_ = absl::StrCat("BAD ", set.status().message());
    co_return;
  }
  if (!cmd.uid && !set->is_saved() && !set->IsWithin(static_cast<uint32_t>(view_.size()))) {
    result_ = "BAD Message sequence number out of range";
    co_return;
  }
  if (move && sel_->read_only) {
    result_ = "NO [READ-ONLY] The mailbox was opened with EXAMINE";
    co_return;
  }
  if (move && !sel_->may_write) {
    result_ = kNoPerm;
    co_return;
  }
  const std::string raw = cmd.args[1].value;
  Target target = co_await ResolveMailbox(raw, true);
  if (!target.error.empty()) {
    result_ = target.error;
    co_return;
  }
  if (!target.may_write) {
    result_ = kNoPerm;
    co_return;
  }
  std::vector<int64_t> uids;
  for (size_t k : view_.Select(*set, cmd.uid, saved_valid_ ? &saved_ : nullptr)) {
    if (!view_.IsExpunged(k)) uids.push_back(view_.at(k).uid);
  }
  if (uids.empty()) {
    result_ = absl::StrCat("OK ", cmd.uid ? "UID " : "", cmd.name, " completed (nothing to do)");
    co_return;
  }
  const int64_t owner = sel_->owner, mailbox = sel_->info.id, dest_owner = target.owner, dest = target.info.id;
  Server& server = server_;
  auto copied = co_await rt_.Blocking([&]() -> absl::StatusOr<mailstore::CopyResult> {
    auto r = mail_.Copy(owner, mailbox, uids, dest_owner, dest, move);
    if (r.ok()) {
      server.Publish(dest_owner, dest);
      if (move) server.Publish(owner, mailbox);
    }
    return r;
  });
  if (!copied.ok()) {
    result_ = absl::IsNotFound(copied.status())          ? "NO [TRYCREATE] No such mailbox"
              : absl::IsResourceExhausted(copied.status()) ? "NO [OVERQUOTA] Quota exceeded"
                                                           : kUnavailable;
    co_return;
  }
  const std::string copyuid = copied->source_uids.empty()
                                  ? ""
                                  : absl::StrCat("[COPYUID ", copied->uidvalidity, " ",
                                                 CompressUids(copied->source_uids), " ",
                                                 CompressUids(copied->dest_uids), "] ");
  if (!move) {
    result_ = absl::StrCat("OK ", copyuid, cmd.uid ? "UID " : "", "COPY completed");
    co_return;
  }
  // RFC 6851 4.3: COPYUID in an untagged OK before the expunges.
  if (!copyuid.empty()) absl::StrAppend(&out_, "* OK ", copyuid, "Moved\r\n");
  absl::StrAppend(&out_, view_.Remove(copied->source_uids, ViewOptions(true)));
  result_ = absl::StrCat("OK ", cmd.uid ? "UID " : "", "MOVE completed");
}

}  // namespace kite::imap
