#include "fakes/fake_mail_store.h"

#include <algorithm>
#include <ctime>

#include "lib/directory/directory.h"
#include "lib/imap/mime_search_message.h"
#include "lib/imap/search.h"
#include "lib/mime/message.h"

namespace kite::testing {

using mailstore::Changes;
using mailstore::CopyResult;
using mailstore::Entry;
using mailstore::ExpungeResult;
using mailstore::FlagOp;
using mailstore::MailboxCounts;
using mailstore::MailboxInfo;
using mailstore::OpenedMailbox;
using mailstore::QuotaInfo;
using mailstore::StoredFields;
using mailstore::StoredMessage;
using mailstore::StoreResult;

namespace {

bool Has(const std::vector<std::string>& v, const std::string& f) { return std::find(v.begin(), v.end(), f) != v.end(); }

// The UIDs asked for, each once, ascending (what "uid = ANY($n) ORDER BY uid" gives).
std::set<int64_t> UidSet(const std::vector<int64_t>& uids) { return std::set<int64_t>(uids.begin(), uids.end()); }

bool Inferior(const std::string& name, const std::string& of) {
  return name == of || (name.size() > of.size() && name.compare(0, of.size(), of) == 0 && name[of.size()] == '/');
}

}  // namespace

#define KITE_FAKE_FAIL_IF_ASKED() \
  if (!fail_.ok()) return fail_

void FakeMailStore::FailWith(absl::Status status) {
  std::lock_guard lock(mu_);
  fail_ = std::move(status);
}

void FakeMailStore::AddAccount(int64_t account_id, int64_t quota_bytes) {
  std::lock_guard lock(mu_);
  Account& a = accounts_[account_id];
  a.quota_bytes = quota_bytes;
  for (const auto& mb : directory::kDefaultMailboxes) AddMailbox(a, std::string(mb.name), std::string(mb.special_use));
}

FakeMailStore::Account* FakeMailStore::FindAccount(int64_t account_id) {
  auto it = accounts_.find(account_id);
  return it == accounts_.end() ? nullptr : &it->second;
}

FakeMailStore::Mailbox* FakeMailStore::FindBox(int64_t account_id, int64_t mailbox_id) {
  Account* a = FindAccount(account_id);
  if (a == nullptr) return nullptr;
  auto it = a->mailboxes.find(mailbox_id);
  return it == a->mailboxes.end() ? nullptr : &it->second;
}

FakeMailStore::Mailbox* FakeMailStore::FindBoxByName(Account& a, const std::string& name) {
  for (auto& [id, m] : a.mailboxes) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

int64_t FakeMailStore::NewUidValidity(const Account& a) const {
  int64_t v = std::max(clock_, a.uidvalidity_floor + 1);
  for (const auto& [id, m] : a.mailboxes) v = std::max(v, m.uidvalidity + 1);
  return v;
}

FakeMailStore::Mailbox& FakeMailStore::AddMailbox(Account& a, const std::string& name, const std::string& special_use) {
  Mailbox m;
  m.id = next_mailbox_id_++;
  m.name = name;
  m.special_use = special_use;
  m.uidvalidity = NewUidValidity(a);
  ++clock_;
  return a.mailboxes[m.id] = std::move(m);
}

MailboxInfo FakeMailStore::Info(const Mailbox& m, bool count) {
  return MailboxInfo{m.id,          m.name, m.special_use, m.uidvalidity, m.uidnext, m.highest_modseq,
                     count ? static_cast<int64_t>(m.entries.size()) : 0, m.subscribed};
}

void FakeMailStore::AdoptLostSubscriptions(Account& a) {
  for (auto& [id, m] : a.mailboxes) {
    if (a.lost_subscriptions.erase(m.name) > 0) m.subscribed = true;
  }
}

int64_t FakeMailStore::StoreBody(const std::string& body) {
  for (const auto& [id, m] : messages_) {
    if (m.body == body) return id;
  }
  messages_[next_message_id_] = Message{body, imap::ComputeStoredSearchText(body)};
  return next_message_id_++;
}

absl::StatusOr<std::vector<MailboxInfo>> FakeMailStore::ListMailboxes(int64_t account_id) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  std::vector<MailboxInfo> out;
  if (Account* a = FindAccount(account_id)) {
    for (const auto& [id, m] : a->mailboxes) out.push_back(Info(m, true));
  }
  std::sort(out.begin(), out.end(), [](const MailboxInfo& x, const MailboxInfo& y) { return x.name < y.name; });
  return out;
}

absl::StatusOr<std::optional<MailboxInfo>> FakeMailStore::FindMailbox(int64_t account_id, const std::string& name) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  Account* a = FindAccount(account_id);
  Mailbox* m = a ? FindBoxByName(*a, name) : nullptr;
  if (m == nullptr) return std::optional<MailboxInfo>();
  MailboxInfo info = Info(*m, false);
  info.recent_uid = m->recent_uid;
  return std::optional<MailboxInfo>(std::move(info));
}

absl::StatusOr<MailboxInfo> FakeMailStore::CreateMailbox(int64_t account_id, const std::string& name,
                                                         const std::string& special_use) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  Account* a = FindAccount(account_id);
  if (a == nullptr) return absl::NotFoundError("no such account");
  if (FindBoxByName(*a, name) != nullptr) return absl::AlreadyExistsError("mailbox exists");
  Mailbox& m = AddMailbox(*a, name, special_use);
  AdoptLostSubscriptions(*a);
  return Info(m, true);
}

absl::Status FakeMailStore::DeleteMailbox(int64_t account_id, const std::string& name) {
  if (name == "INBOX") return absl::FailedPreconditionError("INBOX cannot be deleted");
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  Account* a = FindAccount(account_id);
  Mailbox* m = a ? FindBoxByName(*a, name) : nullptr;
  if (m == nullptr) return absl::NotFoundError("no such mailbox");
  a->uidvalidity_floor = std::max(a->uidvalidity_floor, m->uidvalidity);
  if (m->subscribed) a->lost_subscriptions.insert(name);
  for (const auto& [uid, e] : m->entries) {
    a->used_bytes = std::max<int64_t>(a->used_bytes - e.size, 0);
    a->messages = std::max<int64_t>(a->messages - 1, 0);
  }
  a->mailboxes.erase(m->id);  // its metadata with it
  return absl::OkStatus();
}

absl::Status FakeMailStore::RenameMailbox(int64_t account_id, const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  Account* a = FindAccount(account_id);
  Mailbox* src = a ? FindBoxByName(*a, from) : nullptr;
  if (src == nullptr) return absl::NotFoundError("no such mailbox");
  for (const auto& [id, m] : a->mailboxes) {
    if (Inferior(m.name, to)) return absl::AlreadyExistsError("the new name exists");
  }
  if (from == "INBOX") {
    // RFC 3501 6.3.5: the messages move to the new name; INBOX stays, empty, with a new
    // UIDVALIDITY.
    src->name = to;
    src->special_use.clear();
    AddMailbox(*a, "INBOX", "");
  } else {
    for (auto& [id, m] : a->mailboxes) {
      if (Inferior(m.name, from)) m.name = to + m.name.substr(from.size());
    }
  }
  AdoptLostSubscriptions(*a);
  return absl::OkStatus();
}

absl::Status FakeMailStore::SetSubscribed(int64_t account_id, const std::string& name, bool subscribed) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  Account* a = FindAccount(account_id);
  if (a == nullptr) return absl::NotFoundError("no such mailbox");
  if (Mailbox* m = FindBoxByName(*a, name)) {
    m->subscribed = subscribed;
    return absl::OkStatus();
  }
  bool lost = subscribed ? a->lost_subscriptions.count(name) > 0 : a->lost_subscriptions.erase(name) > 0;
  return lost ? absl::OkStatus() : absl::NotFoundError("no such mailbox");
}

absl::StatusOr<std::vector<std::string>> FakeMailStore::ListLostSubscriptions(int64_t account_id) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  std::vector<std::string> out;
  if (Account* a = FindAccount(account_id)) {
    for (const auto& name : a->lost_subscriptions) {
      if (FindBoxByName(*a, name) == nullptr) out.push_back(name);
    }
  }
  return out;
}

absl::StatusOr<MailboxCounts> FakeMailStore::CountMailbox(int64_t account_id, int64_t mailbox_id) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  MailboxCounts c;
  Mailbox* m = FindBox(account_id, mailbox_id);
  if (m == nullptr) return c;
  for (const auto& [uid, e] : m->entries) {
    ++c.messages;
    c.unseen += Has(e.flags, "\\Seen") ? 0 : 1;
    c.deleted += Has(e.flags, "\\Deleted") ? 1 : 0;
    c.size += e.size;
    c.recent += uid > m->recent_uid ? 1 : 0;
  }
  return c;
}

absl::StatusOr<QuotaInfo> FakeMailStore::GetQuota(int64_t account_id) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  Account* a = FindAccount(account_id);
  if (a == nullptr) return absl::NotFoundError("no such account");
  return QuotaInfo{a->quota_bytes, a->used_bytes, a->messages};
}

absl::StatusOr<OpenedMailbox> FakeMailStore::OpenMailbox(int64_t account_id, int64_t mailbox_id) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  OpenedMailbox out;
  Mailbox* m = FindBox(account_id, mailbox_id);
  if (m == nullptr) {
    out.exists = false;
    return out;
  }
  out.highest_modseq = m->highest_modseq;
  out.uidnext = m->uidnext;
  out.recent_uid = m->recent_uid;
  for (const auto& [uid, e] : m->entries) out.entries.push_back(e);
  return out;
}

absl::StatusOr<Changes> FakeMailStore::ChangesSince(int64_t account_id, int64_t mailbox_id, int64_t since) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  Changes out;
  Mailbox* m = FindBox(account_id, mailbox_id);
  if (m == nullptr) {
    out.exists = false;
    return out;
  }
  out.highest_modseq = m->highest_modseq;
  out.uidnext = m->uidnext;
  out.recent_uid = m->recent_uid;
  for (const auto& [uid, e] : m->entries) {
    if (e.modseq > since) out.changed.push_back(e);
  }
  for (const auto& [uid, modseq] : m->expunged) {
    if (modseq > since) out.expunged.push_back(uid);
  }
  return out;
}

absl::StatusOr<int64_t> FakeMailStore::ClaimRecent(int64_t account_id, int64_t mailbox_id, int64_t up_to_uid) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  Mailbox* m = FindBox(account_id, mailbox_id);
  if (m == nullptr) return absl::NotFoundError("no such mailbox");
  const int64_t old = m->recent_uid;
  m->recent_uid = std::max(old, up_to_uid);
  return old;
}

template <typename Fn>
void FakeMailStore::ForEachEntry(int64_t account_id, int64_t mailbox_id, const std::vector<int64_t>& uids, Fn fn) {
  Mailbox* m = FindBox(account_id, mailbox_id);
  if (m == nullptr) return;
  for (int64_t uid : UidSet(uids)) {
    auto it = m->entries.find(uid);
    if (it != m->entries.end()) fn(uid, messages_.at(it->second.message_id).body);
  }
}

absl::StatusOr<std::vector<StoredMessage>> FakeMailStore::LoadMessages(int64_t account_id, int64_t mailbox_id,
                                                                        const std::vector<int64_t>& uids, bool body,
                                                                        bool structure) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  std::vector<StoredMessage> out;
  ForEachEntry(account_id, mailbox_id, uids, [&](int64_t uid, const std::string& raw) {
    StoredMessage s;
    s.uid = uid;
    if (body) s.body = raw;
    if (structure) s.structure = mime::EncodeStorage(mime::Parse(raw));
    out.push_back(std::move(s));
  });
  return out;
}

absl::StatusOr<std::vector<StoredMessage>> FakeMailStore::LoadHeaders(int64_t account_id, int64_t mailbox_id,
                                                                       const std::vector<int64_t>& uids) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  std::vector<StoredMessage> out;
  ForEachEntry(account_id, mailbox_id, uids, [&](int64_t uid, const std::string& raw) {
    const size_t end = raw.find("\r\n\r\n");
    out.push_back(StoredMessage{uid, end == std::string::npos ? raw : raw.substr(0, end + 4), ""});
  });
  return out;
}

absl::StatusOr<std::vector<StoredFields>> FakeMailStore::LoadSearchFields(int64_t account_id, int64_t mailbox_id,
                                                                           const std::vector<int64_t>& uids) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  std::vector<StoredFields> out;
  ForEachEntry(account_id, mailbox_id, uids, [&](int64_t uid, const std::string& raw) {
    StoredFields f;
    f.uid = uid;
    auto fields = imap::ComputeStoredSearchFields(raw);
    if (!mailstore::SearchFieldsLiteral(fields).empty()) {
      f.present = true;
      f.fields = std::move(fields);
    }
    out.push_back(std::move(f));
  });
  return out;
}

absl::StatusOr<std::vector<mailstore::SaveDate>> FakeMailStore::LoadSaveDates(int64_t account_id,
                                                                                int64_t mailbox_id,
                                                                                const std::vector<int64_t>& uids) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  std::vector<mailstore::SaveDate> out;
  Mailbox* m = FindBox(account_id, mailbox_id);
  if (m == nullptr) return out;
  for (int64_t uid : UidSet(uids)) {
    if (!m->entries.count(uid)) continue;
    mailstore::SaveDate d;
    d.uid = uid;
    if (auto it = m->saved.find(uid); it != m->saved.end()) d.saved = it->second;
    out.push_back(d);
  }
  return out;
}

absl::StatusOr<mailstore::TextSearchResult> FakeMailStore::SearchText(
    int64_t account_id, int64_t mailbox_id, const std::optional<std::vector<int64_t>>& uids,
    const std::vector<mailstore::TextCriterion>& criteria) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  if (criteria.empty() || criteria.size() > 64) return absl::InvalidArgumentError("SearchText: 1 to 64 criteria");
  bool header = false, text = false;
  for (const auto& c : criteria) {
    if (!imap::IsStorableText(imap::FoldCase(c.value))) {
      return absl::InvalidArgumentError("SearchText: a value that is not storable text");
    }
    (imap::IsHeaderField(c.field) ? header : text) = true;
  }
  mailstore::TextSearchResult out;
  Mailbox* m = FindBox(account_id, mailbox_id);
  if (m == nullptr) return out;
  for (const auto& [uid, entry] : m->entries) {
    if (uids && std::find(uids->begin(), uids->end(), uid) == uids->end()) continue;
    const imap::StoredSearchText& stored = messages_.at(entry.message_id).search;
    if ((header && !stored.header) || (text && !stored.text)) {
      out.unknown.push_back(uid);
      continue;
    }
    uint64_t matched = 0;
    for (size_t i = 0; i < criteria.size(); ++i) {
      if (imap::StoredTextMatches(stored, criteria[i].field, imap::FoldCase(criteria[i].value))) {
        matched |= uint64_t{1} << i;
      }
    }
    if (matched) out.matches.push_back(mailstore::TextMatch{uid, matched});
  }
  return out;
}

void FakeMailStore::DropSearchText(int64_t account_id, int64_t mailbox_id, int64_t uid) {
  std::lock_guard lock(mu_);
  Mailbox* m = FindBox(account_id, mailbox_id);
  if (m == nullptr || !m->entries.contains(uid)) return;
  messages_.at(m->entries.at(uid).message_id).search = {};
}

absl::StatusOr<mailstore::AppendResult> FakeMailStore::Append(int64_t account_id, int64_t mailbox_id,
                                                              const std::string& body,
                                                              const std::vector<std::string>& flags,
                                                              int64_t internal_date) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  auto many = AppendLocked(account_id, mailbox_id, {mailstore::AppendMessage{body, flags, internal_date}});
  if (!many.ok()) return many.status();
  return many->front();
}

absl::StatusOr<std::vector<mailstore::AppendResult>> FakeMailStore::AppendMany(
    int64_t account_id, int64_t mailbox_id, const std::vector<mailstore::AppendMessage>& messages) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  return AppendLocked(account_id, mailbox_id, messages);
}

absl::StatusOr<std::vector<mailstore::AppendResult>> FakeMailStore::AppendLocked(
    int64_t account_id, int64_t mailbox_id, const std::vector<mailstore::AppendMessage>& messages) {
  if (messages.empty()) return absl::InvalidArgumentError("nothing to append");
  Mailbox* m = FindBox(account_id, mailbox_id);
  if (m == nullptr) return absl::NotFoundError("no such mailbox");
  Account& a = accounts_.at(account_id);
  int64_t total = 0;
  for (const auto& msg : messages) total += static_cast<int64_t>(msg.body.size());
  const auto n = static_cast<int64_t>(messages.size());
  if (a.quota_bytes > 0 && total > 0 && a.used_bytes + total > a.quota_bytes) {
    return absl::ResourceExhaustedError("quota exceeded");
  }
  if (m->uidnext + n - 1 > 4294967295LL) return absl::ResourceExhaustedError("UID space of the mailbox exhausted");
  a.used_bytes += total;
  a.messages += n;
  const int64_t modseq = ++m->highest_modseq;
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::vector<mailstore::AppendResult> out;
  for (const auto& msg : messages) {
    const int64_t uid = m->uidnext++;
    m->entries[uid] =
        Entry{uid, StoreBody(msg.body), static_cast<int64_t>(msg.body.size()), modseq, msg.flags, msg.internal_date};
    m->saved[uid] = now;
    out.push_back(mailstore::AppendResult{mailbox_id, m->uidvalidity, uid, modseq});
  }
  return out;
}

absl::StatusOr<CopyResult> FakeMailStore::Copy(int64_t source_account, int64_t source_mailbox,
                                               const std::vector<int64_t>& uids, int64_t dest_account,
                                               int64_t dest_mailbox, bool move) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  CopyResult out;
  Mailbox* dest = FindBox(dest_account, dest_mailbox);
  if (dest == nullptr) return absl::NotFoundError("no such mailbox");
  out.uidvalidity = dest->uidvalidity;
  Mailbox* src = FindBox(source_account, source_mailbox);
  if (src == nullptr) return out;
  std::vector<Entry> picked;
  int64_t bytes = 0;
  for (int64_t uid : UidSet(uids)) {
    auto it = src->entries.find(uid);
    if (it == src->entries.end()) continue;
    picked.push_back(it->second);
    bytes += it->second.size;
  }
  if (picked.empty()) return out;
  const auto n = static_cast<int64_t>(picked.size());
  const bool same_account = source_account == dest_account;
  Account& to = accounts_.at(dest_account);
  if (dest->uidnext + n - 1 > 4294967295LL) return absl::ResourceExhaustedError("UID space of the mailbox exhausted");
  if (!(move && same_account)) {
    if (to.quota_bytes > 0 && bytes > 0 && to.used_bytes + bytes > to.quota_bytes) {
      return absl::ResourceExhaustedError("quota exceeded");
    }
    to.used_bytes += bytes;
    to.messages += n;
  }
  const int64_t modseq = ++dest->highest_modseq;
  for (const Entry& e : picked) {
    Entry copy = e;
    copy.uid = dest->uidnext++;
    copy.modseq = modseq;
    out.source_uids.push_back(e.uid);
    out.dest_uids.push_back(copy.uid);
    dest->saved[copy.uid] = static_cast<int64_t>(std::time(nullptr));
    dest->entries[copy.uid] = std::move(copy);
  }
  if (move) {
    out.source_modseq = ++src->highest_modseq;
    for (int64_t uid : out.source_uids) {
      src->entries.erase(uid);
      src->saved.erase(uid);
      src->expunged[uid] = out.source_modseq;
    }
    if (!same_account) {
      Account& from = accounts_.at(source_account);
      from.used_bytes = std::max<int64_t>(from.used_bytes - bytes, 0);
      from.messages = std::max<int64_t>(from.messages - n, 0);
    }
  }
  return out;
}

absl::StatusOr<ExpungeResult> FakeMailStore::Expunge(int64_t account_id, int64_t mailbox_id,
                                                     const std::vector<int64_t>& uids) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  ExpungeResult out;
  Mailbox* m = FindBox(account_id, mailbox_id);
  if (m == nullptr || uids.empty()) return out;
  int64_t bytes = 0;
  for (int64_t uid : UidSet(uids)) {
    auto it = m->entries.find(uid);
    if (it == m->entries.end()) continue;
    bytes += it->second.size;
    out.uids.push_back(uid);
    m->entries.erase(it);
    m->saved.erase(uid);
  }
  if (out.uids.empty()) return out;
  out.modseq = ++m->highest_modseq;
  for (int64_t uid : out.uids) m->expunged[uid] = out.modseq;
  Account& a = accounts_.at(account_id);
  a.used_bytes = std::max<int64_t>(a.used_bytes - bytes, 0);
  a.messages = std::max<int64_t>(a.messages - static_cast<int64_t>(out.uids.size()), 0);
  return out;
}

absl::StatusOr<StoreResult> FakeMailStore::StoreFlags(int64_t account_id, int64_t mailbox_id,
                                                      const std::vector<int64_t>& uids, FlagOp op,
                                                      const std::vector<std::string>& flags,
                                                      int64_t unchanged_since) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  StoreResult out;
  if (uids.empty()) return out;
  Mailbox* m = FindBox(account_id, mailbox_id);
  if (m == nullptr) return absl::NotFoundError("no such mailbox");
  const int64_t modseq = m->highest_modseq + 1;
  bool any = false;
  for (int64_t uid : UidSet(uids)) {
    auto it = m->entries.find(uid);
    if (it == m->entries.end()) continue;
    Entry& e = it->second;
    mailstore::FlagChange fc{uid, e.flags, e.modseq, false};
    if (unchanged_since > 0 && e.modseq > unchanged_since) {
      out.modified.push_back(uid);
      continue;
    }
    mailstore::FlagOutcome after = mailstore::ApplyFlagOp(e.flags, op, flags);
    if (after.changed) {
      e.flags = after.flags;
      e.modseq = modseq;
      fc = {uid, std::move(after.flags), modseq, true};
      any = true;
    }
    out.entries.push_back(std::move(fc));
  }
  if (any) m->highest_modseq = modseq;
  return out;
}

absl::StatusOr<std::vector<mailstore::MetadataEntry>> FakeMailStore::GetMetadata(int64_t account_id,
                                                                                  int64_t mailbox_id,
                                                                                  int64_t user_id) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  auto* entries = MetadataOf(account_id, mailbox_id);
  if (entries == nullptr) return absl::NotFoundError("no such mailbox");
  std::vector<mailstore::MetadataEntry> out;
  for (const auto& [key, value] : *entries) {
    if (key.first == 0 || key.first == user_id) out.push_back(mailstore::MetadataEntry{key.second, value});
  }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  return out;
}

absl::Status FakeMailStore::SetMetadata(int64_t account_id, int64_t mailbox_id, int64_t user_id,
                                        const std::vector<mailstore::MetadataEntry>& changes, size_t max_entries) {
  std::lock_guard lock(mu_);
  KITE_FAKE_FAIL_IF_ASKED();
  auto* entries = MetadataOf(account_id, mailbox_id);
  if (entries == nullptr) return absl::NotFoundError("no such mailbox");
  auto after = *entries;  // all or none
  for (const auto& e : changes) {
    const std::pair<int64_t, std::string> key{e.name.rfind("/private/", 0) == 0 ? user_id : 0, e.name};
    if (e.value) {
      after[key] = *e.value;
    } else {
      after.erase(key);
    }
  }
  size_t visible = 0;
  for (const auto& [key, value] : after) visible += (key.first == 0 || key.first == user_id) ? 1 : 0;
  if (visible > max_entries) return absl::ResourceExhaustedError("too many metadata entries");
  *entries = std::move(after);
  return absl::OkStatus();
}

std::map<std::pair<int64_t, std::string>, std::string>* FakeMailStore::MetadataOf(int64_t account_id,
                                                                                 int64_t mailbox_id) {
  if (mailbox_id == 0) {
    Account* a = FindAccount(account_id);
    return a ? &a->server_metadata : nullptr;
  }
  Mailbox* m = FindBox(account_id, mailbox_id);
  return m ? &m->metadata : nullptr;
}

}  // namespace kite::testing
