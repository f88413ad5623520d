// The mail store's rules (mailstore.h), each case run twice: against PgMailStore on a real
// PostgreSQL and against tests/fakes' FakeMailStore, so the fake that unit tests use keeps
// the same rules. Create/delete/rename with UIDVALIDITY never repeating, append with quota,
// copy/move UID mapping, expunge (idempotent, logged for VANISHED, quota lowered), STORE and
// MODSEQ, \Recent, subscriptions, and a random run checked against invariants. Filer (the
// delivery side) on PostgreSQL only.
#include <catch2/catch.hpp>
#include <algorithm>
#include <ctime>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/search_text_cases.h"
#include "fixtures/test_env.h"
#include "lib/directory/directory.h"
#include "lib/imap/mime_search_message.h"
#include "lib/imap/search_text.h"
#include "fakes/fake_mail_store.h"
#include "lib/mailstore/filer.h"
#include "lib/mailstore/pg_mail_store.h"
#include "lib/mime/message.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"

namespace kite::mailstore {
namespace {

enum class Backend { kPostgres, kFake };

struct Db {
  std::unique_ptr<store::Pool> pool;  // PostgreSQL only
  std::unique_ptr<MailStore> mail;
  int64_t alice = 0;  // no quota
  int64_t bob = 0;    // 1000 bytes
};

// Two accounts as lib/directory's CreateAccount makes them, on the backend the running
// GENERATE picked.
Db MakeDb(std::string_view tag, Backend backend) {
  Db db;
  if (backend == Backend::kFake) {
    auto fake = std::make_unique<testing::FakeMailStore>();
    db.alice = 1;
    db.bob = 2;
    fake->AddAccount(db.alice, 0);
    fake->AddAccount(db.bob, 1000);
    db.mail = std::move(fake);
    return db;
  }
  auto pool = store::Pool::Create({.url = testing::FreshDatabase(tag), .pool_size = 8});
  REQUIRE(pool.ok());
  db.pool = std::move(*pool);
  REQUIRE(store::Migrate(*db.pool).ok());
  REQUIRE(directory::CreateDomain(*db.pool, "example.test").ok());
  auto a = directory::CreateAccount(*db.pool, "alice@example.test", "Alice", "!", 0);
  auto b = directory::CreateAccount(*db.pool, "bob@example.test", "Bob", "!", 1000);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  db.alice = *a;
  db.bob = *b;
  db.mail = std::make_unique<PgMailStore>(*db.pool);
  return db;
}

#define KITE_BACKENDS GENERATE(Backend::kPostgres, Backend::kFake)

// A mailbox by name with its entry count (ListMailboxes counts, FindMailbox does not).
absl::StatusOr<std::optional<MailboxInfo>> GetMailbox(Db& db, int64_t account, const std::string& name) {
  auto all = db.mail->ListMailboxes(account);
  if (!all.ok()) return all.status();
  for (auto& m : *all) {
    if (m.name == name) return std::optional<MailboxInfo>(std::move(m));
  }
  return std::optional<MailboxInfo>();
}

int64_t MailboxId(Db& db, int64_t account, const std::string& name) {
  auto mb = GetMailbox(db, account, name);
  REQUIRE(mb.ok());
  REQUIRE(mb->has_value());
  return (*mb)->id;
}

std::vector<Entry> Entries(Db& db, int64_t account, int64_t mailbox) {
  auto opened = db.mail->OpenMailbox(account, mailbox);
  REQUIRE(opened.ok());
  return opened->entries;
}

std::string Body(Db& db, int64_t account, int64_t mailbox, int64_t uid) {
  auto loaded = db.mail->LoadMessages(account, mailbox, {uid}, true, false);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->size() == 1);
  return loaded->front().body;
}

const std::string kMsg = "From: a@example.test\r\nSubject: hi\r\n\r\nbody\r\n";

TEST_CASE("Create, rename and delete mailboxes", "[mailstore]") {
  Db db = MakeDb("mbops_create", KITE_BACKENDS);
  auto a = db.mail->CreateMailbox(db.alice, "Work");
  REQUIRE(a.ok());
  CHECK(a->uidnext == 1);
  CHECK(absl::IsAlreadyExists(db.mail->CreateMailbox(db.alice, "Work").status()));
  REQUIRE(db.mail->CreateMailbox(db.alice, "Work/2026").ok());
  REQUIRE(db.mail->RenameMailbox(db.alice, "Work", "Job").ok());
  CHECK(GetMailbox(db, db.alice, "Job/2026")->has_value());
  CHECK(!GetMailbox(db, db.alice, "Work")->has_value());
  CHECK((*GetMailbox(db, db.alice, "Job"))->uidvalidity == a->uidvalidity);
  CHECK(absl::IsAlreadyExists(db.mail->RenameMailbox(db.alice, "Job/2026", "Sent")));
  CHECK(absl::IsNotFound(db.mail->RenameMailbox(db.alice, "Nope", "X")));
  // A deleted and re-created name gets a new UIDVALIDITY, even within the same second.
  REQUIRE(db.mail->DeleteMailbox(db.alice, "Job").ok());
  auto again = db.mail->CreateMailbox(db.alice, "Job");
  REQUIRE(again.ok());
  CHECK(again->uidvalidity > a->uidvalidity);
  CHECK(absl::IsFailedPrecondition(db.mail->DeleteMailbox(db.alice, "INBOX")));
  CHECK(absl::IsNotFound(db.mail->DeleteMailbox(db.alice, "Nope")));
  CHECK(db.mail->SetSubscribed(db.alice, "Job", false).ok());
  CHECK(!(*GetMailbox(db, db.alice, "Job"))->subscribed);
  CHECK(absl::IsNotFound(db.mail->SetSubscribed(db.alice, "Nope", true)));
}

TEST_CASE("Renaming INBOX moves its messages and leaves an empty INBOX", "[mailstore]") {
  Db db = MakeDb("mbops_inbox", KITE_BACKENDS);
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  REQUIRE(db.mail->Append(db.alice, inbox, kMsg, {"\\Seen"}, 1700000000).ok());
  auto before = GetMailbox(db, db.alice, "INBOX");
  REQUIRE(db.mail->RenameMailbox(db.alice, "INBOX", "Old").ok());
  auto old = GetMailbox(db, db.alice, "Old");
  auto fresh = GetMailbox(db, db.alice, "INBOX");
  REQUIRE(old->has_value());
  REQUIRE(fresh->has_value());
  CHECK((*old)->exists == 1);
  CHECK((*fresh)->exists == 0);
  CHECK((*fresh)->uidvalidity != (*before)->uidvalidity);
}

TEST_CASE("Append, copy, move and expunge keep UIDs, quota and the change log right", "[mailstore]") {
  Db db = MakeDb("mbops_append", KITE_BACKENDS);
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  auto work = db.mail->CreateMailbox(db.alice, "Work");
  REQUIRE(work.ok());
  std::vector<int64_t> uids;
  for (int i = 0; i < 3; ++i) {
    auto r = db.mail->Append(db.alice, inbox, kMsg + std::to_string(i), {"\\Flagged"}, 1700000000 + i);
    REQUIRE(r.ok());
    uids.push_back(r->uid);
  }
  CHECK(uids == std::vector<int64_t>{1, 2, 3});
  auto entries = Entries(db, db.alice, inbox);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].flags == std::vector<std::string>{"\\Flagged"});
  CHECK(entries[1].internal_date == 1700000001);
  CHECK(Body(db, db.alice, inbox, 2) == kMsg + "1");
  int64_t used = db.mail->GetQuota(db.alice)->used_bytes;
  CHECK(used == static_cast<int64_t>(3 * (kMsg.size() + 1)));

  auto since = (*GetMailbox(db, db.alice, "INBOX"))->highest_modseq;
  auto copy = db.mail->Copy(db.alice, inbox, {1, 3, 99}, db.alice, work->id, false);
  REQUIRE(copy.ok());
  CHECK(copy->source_uids == std::vector<int64_t>{1, 3});
  CHECK(copy->dest_uids == std::vector<int64_t>{1, 2});
  CHECK(copy->uidvalidity == work->uidvalidity);
  CHECK(db.mail->GetQuota(db.alice)->used_bytes == used + static_cast<int64_t>(2 * (kMsg.size() + 1)));

  auto move = db.mail->Copy(db.alice, inbox, {2}, db.alice, work->id, true);
  REQUIRE(move.ok());
  CHECK(move->dest_uids == std::vector<int64_t>{3});
  CHECK(move->source_modseq > since);
  CHECK(Entries(db, db.alice, inbox).size() == 2);

  auto changes = db.mail->ChangesSince(db.alice, inbox, since);
  REQUIRE(changes.ok());
  CHECK(changes->expunged == std::vector<int64_t>{2});
  CHECK(changes->changed.empty());

  auto ex = db.mail->Expunge(db.alice, inbox, {1, 3, 7});
  REQUIRE(ex.ok());
  CHECK(ex->uids == std::vector<int64_t>{1, 3});
  auto again = db.mail->Expunge(db.alice, inbox, {1, 3});
  REQUIRE(again.ok());
  CHECK(again->uids.empty());
  changes = db.mail->ChangesSince(db.alice, inbox, since);
  CHECK(changes->expunged == std::vector<int64_t>{1, 2, 3});
  // Only Work's three entries remain charged.
  CHECK(db.mail->GetQuota(db.alice)->messages == 3);

  // Flag changes show up in the log with their MODSEQ.
  auto w = db.mail->ChangesSince(db.alice, work->id, 0);
  REQUIRE(w->changed.size() == 3);
  int64_t mark = w->highest_modseq;
  REQUIRE(db.mail->StoreFlags(db.alice, work->id, {2}, FlagOp::kAdd, {"\\Seen"}).ok());
  w = db.mail->ChangesSince(db.alice, work->id, mark);
  REQUIRE(w->changed.size() == 1);
  CHECK(w->changed[0].uid == 2);
  CHECK(w->changed[0].modseq == w->highest_modseq);

  // Deleting the mailbox frees its quota and bodies nothing else refers to.
  REQUIRE(db.mail->DeleteMailbox(db.alice, "Work").ok());
  CHECK(db.mail->GetQuota(db.alice)->used_bytes == 0);
  CHECK(!db.mail->ChangesSince(db.alice, work->id, 0)->exists);
}

TEST_CASE("Quota refuses an append or copy that would pass the limit", "[mailstore]") {
  Db db = MakeDb("mbops_quota", KITE_BACKENDS);
  int64_t inbox = MailboxId(db, db.bob, "INBOX");
  std::string big(600, 'x');
  REQUIRE(db.mail->Append(db.bob, inbox, big, {}, 1700000000).ok());
  CHECK(absl::IsResourceExhausted(db.mail->Append(db.bob, inbox, big, {}, 1700000000).status()));
  auto trash = MailboxId(db, db.bob, "Trash");
  CHECK(absl::IsResourceExhausted(db.mail->Copy(db.bob, inbox, {1}, db.bob, trash, false).status()));
  // Moving within the account is free.
  CHECK(db.mail->Copy(db.bob, inbox, {1}, db.bob, trash, true).ok());
  CHECK(absl::IsNotFound(db.mail->Append(db.bob, 999999, "x", {}, 0).status()));
}

TEST_CASE("Concurrent appends get distinct UIDs", "[mailstore]") {
  Db db = MakeDb("mbops_concurrent", KITE_BACKENDS);
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> got(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto r = db.mail->Append(db.alice, inbox, kMsg + std::to_string(t * 100 + i), {}, 1700000000);
        if (r.ok()) got[t].push_back(r->uid);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<int64_t> all;
  for (auto& g : got) all.insert(all.end(), g.begin(), g.end());
  std::sort(all.begin(), all.end());
  CHECK(all.size() == 40);
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
  CHECK((*GetMailbox(db, db.alice, "INBOX"))->uidnext == 41);
}

TEST_CASE("StoreFlags changes many entries under one MODSEQ and honours UNCHANGEDSINCE", "[mailstore]") {
  Db db = MakeDb("mbops_store", KITE_BACKENDS);
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  for (int i = 0; i < 4; ++i) REQUIRE(db.mail->Append(db.alice, inbox, kMsg + std::to_string(i), {}, 1700000000).ok());
  REQUIRE(db.mail->StoreFlags(db.alice, inbox, {4}, FlagOp::kAdd, {"\\Seen"}).ok());
  int64_t mark = (*GetMailbox(db, db.alice, "INBOX"))->highest_modseq;
  auto r = db.mail->StoreFlags(db.alice, inbox, {1, 2, 4, 9}, FlagOp::kAdd, {"\\Seen", "$Work"});
  REQUIRE(r.ok());
  REQUIRE(r->entries.size() == 3);
  CHECK(r->entries[0].changed);
  CHECK(r->entries[0].flags == std::vector<std::string>{"\\Seen", "$Work"});
  CHECK(r->entries[0].modseq == mark + 1);
  CHECK(r->entries[1].modseq == mark + 1);
  CHECK(r->entries[2].changed);  // $Work added
  // Nothing to change: no MODSEQ spent.
  auto same = db.mail->StoreFlags(db.alice, inbox, {1}, FlagOp::kAdd, {"$Work"});
  CHECK(!same->entries[0].changed);
  CHECK((*GetMailbox(db, db.alice, "INBOX"))->highest_modseq == mark + 1);
  // UNCHANGEDSINCE below an entry's MODSEQ: that entry is refused, the others change.
  auto cond = db.mail->StoreFlags(db.alice, inbox, {1, 3}, FlagOp::kRemove, {"$Work"}, mark);
  REQUIRE(cond.ok());
  CHECK(cond->modified == std::vector<int64_t>{1});
  REQUIRE(cond->entries.size() == 1);
  CHECK(cond->entries[0].uid == 3);
  auto loaded = db.mail->LoadMessages(db.alice, inbox, {2, 3, 77}, true, true);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->size() == 2);
  CHECK((*loaded)[0].body == kMsg + "1");
  CHECK(!(*loaded)[0].structure.empty());
  auto only = db.mail->LoadMessages(db.alice, inbox, {2}, false, true);
  CHECK((*only)[0].body.empty());
}

TEST_CASE("OpenMailbox reads the head and the entries in one snapshot, LoadHeaders only the header block",
          "[mailstore]") {
  Db db = MakeDb("mbops_open", KITE_BACKENDS);
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  auto empty = db.mail->OpenMailbox(db.alice, inbox);
  REQUIRE(empty.ok());
  CHECK(empty->exists);
  CHECK(empty->entries.empty());
  CHECK(empty->uidnext == 1);

  const std::string lf = "Subject: bare LF\n\nbody\r\n\r\nmore\r\n";  // the first CRLF CRLF is in the body
  const std::string no_body = "Subject: only a header\r\n";
  for (const std::string& m : {kMsg, lf, no_body}) {
    REQUIRE(db.mail->Append(db.alice, inbox, m, {"\\Seen", "$label"}, 1700000000).ok());
  }
  auto opened = db.mail->OpenMailbox(db.alice, inbox);
  REQUIRE(opened.ok());
  REQUIRE(opened->entries.size() == 3);
  CHECK(opened->entries[0].uid == 1);
  CHECK(opened->entries[2].uid == 3);
  CHECK(opened->entries[1].flags == std::vector<std::string>{"\\Seen", "$label"});
  CHECK(opened->uidnext == 4);
  int64_t highest = 0;
  for (const auto& e : opened->entries) highest = std::max(highest, e.modseq);
  CHECK(opened->highest_modseq == highest);
  CHECK(db.mail->ChangesSince(db.alice, inbox, opened->highest_modseq)->changed.empty());

  auto headers = db.mail->LoadHeaders(db.alice, inbox, {3, 1, 2, 42});
  REQUIRE(headers.ok());
  REQUIRE(headers->size() == 3);
  CHECK((*headers)[0].body == "From: a@example.test\r\nSubject: hi\r\n\r\n");
  CHECK(mime::HeaderOf((*headers)[0].body) == (*headers)[0].body);
  // A header that ends with a bare LF blank line: a longer prefix, the same header block.
  CHECK((*headers)[1].body == "Subject: bare LF\n\nbody\r\n\r\n");
  CHECK(mime::HeaderOf((*headers)[1].body) == "Subject: bare LF\n\n");
  CHECK(mime::HeaderOf((*headers)[1].body) == mime::HeaderOf(lf));
  CHECK((*headers)[2].body == no_body);
  CHECK(mime::HeaderOf(no_body) == no_body);

  REQUIRE(db.mail->DeleteMailbox(db.alice, "INBOX").code() == absl::StatusCode::kFailedPrecondition);
  auto work = db.mail->CreateMailbox(db.alice, "Work");
  REQUIRE(work.ok());
  REQUIRE(db.mail->DeleteMailbox(db.alice, "Work").ok());
  auto gone = db.mail->OpenMailbox(db.alice, work->id);
  REQUIRE(gone.ok());
  CHECK(!gone->exists);
}

}  // namespace
}  // namespace kite::mailstore

namespace kite::mailstore {
namespace {

TEST_CASE("A name deleted and created again gets a greater UIDVALIDITY at once", "[mailstore]") {
  Db db = MakeDb("mbops_uidvalidity", KITE_BACKENDS);
  int64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    auto mb = db.mail->CreateMailbox(db.alice, "Again");
    REQUIRE(mb.ok());
    CHECK(mb->uidvalidity > last);
    last = mb->uidvalidity;
    REQUIRE(db.mail->DeleteMailbox(db.alice, "Again").ok());
  }
}

TEST_CASE("A subscription outlives its mailbox and comes back with it", "[mailstore]") {
  Db db = MakeDb("mbops_subscriptions", KITE_BACKENDS);
  REQUIRE(db.mail->CreateMailbox(db.alice, "Lists").ok());
  REQUIRE(db.mail->CreateMailbox(db.alice, "Plain").ok());
  REQUIRE(db.mail->SetSubscribed(db.alice, "Plain", false).ok());
  REQUIRE(db.mail->DeleteMailbox(db.alice, "Lists").ok());
  REQUIRE(db.mail->DeleteMailbox(db.alice, "Plain").ok());
  CHECK(*db.mail->ListLostSubscriptions(db.alice) == std::vector<std::string>{"Lists"});
  CHECK(db.mail->ListLostSubscriptions(db.bob)->empty());
  // Subscribing again is fine; a name never subscribed stays refused.
  CHECK(db.mail->SetSubscribed(db.alice, "Lists", true).ok());
  CHECK(absl::IsNotFound(db.mail->SetSubscribed(db.alice, "Plain", true)));
  // Created again: the mailbox holds the subscription.
  REQUIRE(db.mail->CreateMailbox(db.alice, "Lists").ok());
  CHECK(db.mail->ListLostSubscriptions(db.alice)->empty());
  CHECK((*GetMailbox(db, db.alice, "Lists"))->subscribed);
  // Unsubscribing a lost name forgets it.
  REQUIRE(db.mail->DeleteMailbox(db.alice, "Lists").ok());
  CHECK(db.mail->SetSubscribed(db.alice, "Lists", false).ok());
  CHECK(db.mail->ListLostSubscriptions(db.alice)->empty());
  // Renamed onto a lost name: subscribed.
  REQUIRE(db.mail->CreateMailbox(db.alice, "Old").ok());
  REQUIRE(db.mail->SetSubscribed(db.alice, "Old", false).ok());
  REQUIRE(db.mail->CreateMailbox(db.alice, "Gone").ok());
  REQUIRE(db.mail->DeleteMailbox(db.alice, "Gone").ok());
  REQUIRE(db.mail->RenameMailbox(db.alice, "Old", "Gone").ok());
  CHECK((*GetMailbox(db, db.alice, "Gone"))->subscribed);
  CHECK(db.mail->ListLostSubscriptions(db.alice)->empty());
}

TEST_CASE("The recent watermark gives each new UID to one claimer", "[mailstore]") {
  Db db = MakeDb("mbops_recent", KITE_BACKENDS);
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  for (int i = 0; i < 3; ++i) REQUIRE(db.mail->Append(db.alice, inbox, kMsg, {}, 1700000000).ok());
  CHECK(db.mail->CountMailbox(db.alice, inbox)->recent == 3);
  CHECK(*db.mail->ClaimRecent(db.alice, inbox, 0) == 0);  // looking takes nothing
  CHECK(*db.mail->ClaimRecent(db.alice, inbox, 3) == 0);  // the first SELECT gets 1:3
  CHECK(*db.mail->ClaimRecent(db.alice, inbox, 3) == 3);  // the second none
  CHECK(db.mail->CountMailbox(db.alice, inbox)->recent == 0);
  REQUIRE(db.mail->Append(db.alice, inbox, kMsg, {}, 1700000000).ok());
  CHECK(db.mail->CountMailbox(db.alice, inbox)->recent == 1);
  CHECK(*db.mail->ClaimRecent(db.alice, inbox, 2) == 3);  // never lowered
  CHECK(*db.mail->ClaimRecent(db.alice, inbox, 4) == 3);
  CHECK(absl::IsNotFound(db.mail->ClaimRecent(db.alice, 999999, 1).status()));
}

TEST_CASE("Append stores the decoded search fields, and LoadSearchFields reads them back", "[mailstore]") {
  Db db = MakeDb("mbops_search_fields", KITE_BACKENDS);
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  const std::string tricky =
      "From: \"Doe, \\\"J\\\"\" <j@example.test>\r\n"
      "To: a@example.test, =?UTF-8?Q?Andr=C3=A9?= <andre@example.test>\r\n"
      "Subject: =?UTF-8?Q?caf=C3=A9?= {braces}, \"quotes\"\r\n\r\nbody\r\n";
  const std::string latin1 = "From: J\xf6rg <j@example.test>\r\nSubject: raw 8-bit\r\n\r\nbody\r\n";
  REQUIRE(db.mail->Append(db.alice, inbox, tricky, {}, 1700000000).ok());
  REQUIRE(db.mail->Append(db.alice, inbox, latin1, {}, 1700000000).ok());
  auto loaded = db.mail->LoadSearchFields(db.alice, inbox, {1, 2, 9});
  REQUIRE(loaded.ok());
  REQUIRE(loaded->size() == 2);
  const StoredFields& f = (*loaded)[0];
  REQUIRE(f.present);
  // Exactly what SEARCH computes from the message itself.
  CHECK(f.fields == imap::ComputeStoredSearchFields(tricky));
  REQUIRE(f.fields.size() == 5);
  CHECK(f.fields[4] == std::vector<std::string>{"caf\xc3\xa9 {braces}, \"quotes\""});
  CHECK(f.fields[3].empty());  // no Bcc
  // Raw 8-bit header text comes out of the decoder as UTF-8, so it is stored too.
  REQUIRE((*loaded)[1].present);
  CHECK((*loaded)[1].fields == imap::ComputeStoredSearchFields(latin1));
  // What cannot be PostgreSQL text (a NUL, invalid UTF-8) is not stored: SEARCH reads the header.
  CHECK(SearchFieldsLiteral({{std::string("a\0b", 3)}}).empty());
  CHECK(SearchFieldsLiteral({{"\xc3("}}).empty());
  CHECK(SearchFieldsLiteral({{"\xed\xa0\x80"}}).empty());  // a UTF-16 surrogate
  CHECK(SearchFieldsLiteral({{"ok"}, {}}) == "{\"{\\\"ok\\\"}\",\"{}\"}");
}

// The entry's message as if stored before migration 0019 (no search text).
void DropSearchText(Db& db, int64_t account, int64_t mailbox, int64_t uid) {
  if (db.pool) {
    auto st = db.pool->Transact([&](pqxx::work& tx) -> absl::Status {
      tx.exec_params(
          "UPDATE messages SET search_header = NULL, search_text = NULL WHERE id = "
          "(SELECT message_id FROM mailbox_entries WHERE account_id = $1 AND mailbox_id = $2 AND uid = $3)",
          account, mailbox, uid);
      return absl::OkStatus();
    });
    REQUIRE(st.ok());
  } else {
    static_cast<testing::FakeMailStore&>(*db.mail).DropSearchText(account, mailbox, uid);
  }
}

TEST_CASE("SearchText answers text keys as lib/imap evaluates them, and reports unstored messages", "[mailstore]") {
  Db db = MakeDb("mbops_search_text", KITE_BACKENDS);
  const int64_t inbox = MailboxId(db, db.alice, "INBOX");
  const auto messages = testing::SearchTextMessages();
  for (const auto& raw : messages) REQUIRE(db.mail->Append(db.alice, inbox, raw, {}, 1700000000).ok());
  // The last message as stored before migration 0019.
  const int64_t old_uid = static_cast<int64_t>(messages.size());
  DropSearchText(db, db.alice, inbox, old_uid);
  static constexpr std::pair<imap::TextField, imap::SearchKey::Kind> kFields[] = {
      {imap::TextField::kFrom, imap::SearchKey::kFrom},       {imap::TextField::kTo, imap::SearchKey::kTo},
      {imap::TextField::kCc, imap::SearchKey::kCc},           {imap::TextField::kBcc, imap::SearchKey::kBcc},
      {imap::TextField::kSubject, imap::SearchKey::kSubject}, {imap::TextField::kBody, imap::SearchKey::kBody},
      {imap::TextField::kText, imap::SearchKey::kText}};
  const auto needles = testing::SearchTextNeedles();
  for (const auto& [field, kind] : kFields) {
    std::vector<TextCriterion> criteria;
    for (const auto& n : needles) criteria.push_back({field, n});
    for (bool all : {true, false}) {
      std::optional<std::vector<int64_t>> uids;
      if (!all) uids = std::vector<int64_t>{1, 2, 3, 4, 5, old_uid, 99};
      auto got = db.mail->SearchText(db.alice, inbox, uids, criteria);
      REQUIRE(got.ok());
      std::map<int64_t, uint64_t> bits;
      for (const auto& m : got->matches) bits[m.uid] = m.matched;
      // Unknown: the message stored before 0019, and (for BODY / TEXT) the one whose text
      // holds a U+0001 (uid 5).
      std::vector<int64_t> want_unknown = {old_uid};
      if (!imap::IsHeaderField(field)) want_unknown.insert(want_unknown.begin(), 5);
      CHECK(got->unknown == want_unknown);
      for (int64_t uid = 1; uid <= static_cast<int64_t>(messages.size()); ++uid) {
        if (std::find(want_unknown.begin(), want_unknown.end(), uid) != want_unknown.end()) continue;
        for (size_t i = 0; i < needles.size(); ++i) {
          imap::SearchKey key;
          key.kind = kind;
          key.value = needles[i];
          imap::MimeSearchMessage m(imap::SearchMetadata{}, messages[static_cast<size_t>(uid - 1)]);
          INFO("uid " << uid << " field " << static_cast<int>(field) << " needle " << needles[i]);
          CHECK(((bits[uid] >> i) & 1) == (imap::Matches(key, m, imap::SearchContext{}) ? 1u : 0u));
        }
      }
    }
  }
  // A UID list limits the answer; an empty one is answered without the store.
  auto some = db.mail->SearchText(db.alice, inbox, std::vector<int64_t>{2}, {{imap::TextField::kText, "50%"}});
  REQUIRE(some.ok());
  REQUIRE(some->matches.size() == 1);
  CHECK(some->matches[0].uid == 2);
  CHECK(some->unknown.empty());
  CHECK(db.mail->SearchText(db.alice, inbox, std::vector<int64_t>{}, {{imap::TextField::kText, "a"}})->matches.empty());
  CHECK(db.mail->SearchText(db.alice, inbox, std::nullopt, {{imap::TextField::kText, std::string("\xff", 1)}})
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("STORE replaces, adds and removes, and MODSEQ moves only when the flags change", "[mailstore]") {
  Db db = MakeDb("mbops_store_one", KITE_BACKENDS);
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  REQUIRE(db.mail->Append(db.alice, inbox, kMsg, {}, 1700000000).ok());
  auto modseq = [&] { return (*GetMailbox(db, db.alice, "INBOX"))->highest_modseq; };
  auto store = [&](FlagOp op, std::vector<std::string> flags) {
    auto r = db.mail->StoreFlags(db.alice, inbox, {1}, op, flags);
    REQUIRE(r.ok());
    REQUIRE(r->entries.size() == 1);
    return r->entries[0].flags;
  };
  const int64_t start = modseq();
  CHECK(store(FlagOp::kAdd, {"\\Seen", "$Label", "\\Seen"}) == std::vector<std::string>{"\\Seen", "$Label"});
  const int64_t after_add = modseq();
  CHECK(after_add == start + 1);
  CHECK(store(FlagOp::kAdd, {"\\Seen"}) == std::vector<std::string>{"\\Seen", "$Label"});
  CHECK(modseq() == after_add);  // nothing changed
  CHECK(store(FlagOp::kRemove, {"\\Seen", "\\Flagged"}) == std::vector<std::string>{"$Label"});
  CHECK(store(FlagOp::kReplace, {"\\Flagged", "\\Draft"}) == std::vector<std::string>{"\\Flagged", "\\Draft"});
  const int64_t after_replace = modseq();
  CHECK(store(FlagOp::kReplace, {"\\Draft", "\\Flagged"}) == std::vector<std::string>{"\\Flagged", "\\Draft"});
  CHECK(modseq() == after_replace);  // the same set in another order is no change
  CHECK(store(FlagOp::kReplace, {}).empty());
  CHECK(modseq() == after_replace + 1);
  auto entries = Entries(db, db.alice, inbox);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].flags.empty());
  CHECK(entries[0].modseq == modseq());
  // Another account cannot touch it: every call names the owner.
  auto theirs = db.mail->StoreFlags(db.bob, inbox, {1}, FlagOp::kAdd, {"\\Seen"});
  CHECK((!theirs.ok() ? absl::IsNotFound(theirs.status()) : theirs->entries.empty()));
  CHECK(Entries(db, db.alice, inbox)[0].flags.empty());
}

TEST_CASE("Concurrent STOREs on the same messages lose no change and spend one MODSEQ each", "[mailstore]") {
  // Each thread adds, then removes, a keyword of its own on the same three messages at the same
  // time: a STORE that computed flags from what it read before another committed would drop
  // that other's keyword.
  Db db = MakeDb("mbops_store_race", KITE_BACKENDS);
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  for (int i = 0; i < 3; ++i) REQUIRE(db.mail->Append(db.alice, inbox, kMsg + std::to_string(i), {}, 1700000000).ok());
  const int64_t start = (*GetMailbox(db, db.alice, "INBOX"))->highest_modseq;
  constexpr int kThreads = 6;
  auto run = [&](FlagOp op) {
    std::vector<std::thread> threads;
    std::vector<absl::StatusOr<StoreResult>> results(kThreads, absl::UnknownError("not run"));
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        results[t] = db.mail->StoreFlags(db.alice, inbox, {1, 2, 3}, op, {"$k" + std::to_string(t)});
      });
    }
    for (auto& th : threads) th.join();
    std::vector<int64_t> modseqs;
    for (const auto& r : results) {
      REQUIRE(r.ok());
      REQUIRE(r->entries.size() == 3);
      for (const auto& fc : r->entries) CHECK(fc.changed);
      modseqs.push_back(r->entries[0].modseq);
    }
    std::sort(modseqs.begin(), modseqs.end());
    CHECK(std::adjacent_find(modseqs.begin(), modseqs.end()) == modseqs.end());
  };
  run(FlagOp::kAdd);
  for (const auto& e : Entries(db, db.alice, inbox)) {
    std::vector<std::string> flags = e.flags;
    std::sort(flags.begin(), flags.end());
    CHECK(flags == std::vector<std::string>{"$k0", "$k1", "$k2", "$k3", "$k4", "$k5"});
  }
  CHECK((*GetMailbox(db, db.alice, "INBOX"))->highest_modseq == start + kThreads);
  run(FlagOp::kRemove);
  for (const auto& e : Entries(db, db.alice, inbox)) CHECK(e.flags.empty());
  CHECK((*GetMailbox(db, db.alice, "INBOX"))->highest_modseq == start + 2 * kThreads);
}

TEST_CASE("LoadMessages returns every byte of a body as stored", "[mailstore]") {
  Db db = MakeDb("mbops_load_bytes", KITE_BACKENDS);
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  // NUL, backslashes (also before digits and at the very start, as "\x" would look like hex),
  // bytes above 127 and every other byte value.
  std::string body = "\\x41\\\\ \\101 Subject: caf\xc3\xa9\r\n\r\n";
  body += std::string("a\0b", 3);
  for (int c = 0; c < 256; ++c) body += static_cast<char>(c);
  body += "\\";
  REQUIRE(db.mail->Append(db.alice, inbox, body, {}, 1700000000).ok());
  auto loaded = db.mail->LoadMessages(db.alice, inbox, {1}, true, false);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->size() == 1);
  CHECK((*loaded)[0].body == body);
}

// A seeded random run of appends, stores, copies, moves and expunges over three mailboxes,
// checking after every step what IMAP relies on: UIDs rise strictly and are never reused,
// every change takes a MODSEQ above every earlier one, ChangesSince(m) reports exactly what
// changed after m (entries with their current state, expunged UIDs), and quota usage is the
// sum of the entries' sizes.
TEST_CASE("A random run keeps UIDs, MODSEQs, the change log and quota consistent", "[mailstore]") {
  Db db = MakeDb("mbops_random", KITE_BACKENDS);
  const int64_t acct = db.alice;
  std::vector<int64_t> boxes{MailboxId(db, acct, "INBOX"), MailboxId(db, acct, "Archive"),
                             MailboxId(db, acct, "Trash")};
  std::mt19937 rng(20261207);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  // The model: per mailbox the entries (UID -> flags, size), the highest UID ever handed out.
  struct Model {
    std::map<int64_t, std::pair<std::vector<std::string>, int64_t>> entries;
    int64_t last_uid = 0;
  };
  std::map<int64_t, Model> model;
  std::map<int64_t, int64_t> marks;  // a MODSEQ seen earlier per mailbox, to ask ChangesSince from
  std::map<int64_t, std::map<int64_t, int64_t>> uid_modseq;  // UID -> MODSEQ of its last change
  std::map<int64_t, std::map<int64_t, int64_t>> gone;        // UID -> MODSEQ of its expunge
  int64_t last_modseq_any = 0;
  const std::vector<std::string> kFlags{"\\Seen", "\\Flagged", "\\Deleted", "$Work", "$Later"};
  auto random_uids = [&](int64_t box) {
    std::vector<int64_t> uids;
    for (const auto& [uid, e] : model[box].entries) {
      if (pick(3) == 0) uids.push_back(uid);
    }
    uids.push_back(model[box].last_uid + 5);  // one that never existed
    return uids;
  };
  auto note_new = [&](int64_t box, int64_t uid, int64_t modseq, std::vector<std::string> flags, int64_t size) {
    CHECK(uid > model[box].last_uid);
    model[box].last_uid = uid;
    model[box].entries[uid] = {std::move(flags), size};
    uid_modseq[box][uid] = modseq;
  };
  for (int step = 0; step < 150; ++step) {
    CAPTURE(step);
    const int64_t box = boxes[pick(boxes.size())];
    const int64_t before = (*db.mail->OpenMailbox(acct, box)).highest_modseq;
    switch (pick(5)) {
      case 0: {
        std::vector<std::string> flags;
        if (pick(2)) flags.push_back(kFlags[pick(kFlags.size())]);
        const std::string body = kMsg + std::to_string(step) + std::string(pick(50), 'x');
        auto r = db.mail->Append(acct, box, body, flags, 1700000000 + step);
        REQUIRE(r.ok());
        CHECK(r->modseq > before);
        note_new(box, r->uid, r->modseq, flags, static_cast<int64_t>(body.size()));
        break;
      }
      case 1: {
        const auto op = static_cast<FlagOp>(pick(3));
        std::vector<std::string> flags{kFlags[pick(kFlags.size())], kFlags[pick(kFlags.size())]};
        auto r = db.mail->StoreFlags(acct, box, random_uids(box), op, flags);
        REQUIRE(r.ok());
        for (const auto& fc : r->entries) {
          REQUIRE(model[box].entries.count(fc.uid) == 1);
          auto& mine = model[box].entries[fc.uid].first;
          std::set<std::string> want(mine.begin(), mine.end());
          if (op == FlagOp::kReplace) want.clear();
          for (const auto& f : flags) op == FlagOp::kRemove ? (void)want.erase(f) : (void)want.insert(f);
          CHECK(std::set<std::string>(fc.flags.begin(), fc.flags.end()) == want);
          CHECK(fc.changed == (want != std::set<std::string>(mine.begin(), mine.end())));
          if (fc.changed) {
            CHECK(fc.modseq > before);
            uid_modseq[box][fc.uid] = fc.modseq;
          }
          mine = fc.flags;
        }
        break;
      }
      case 2:
      case 3: {
        const int64_t dest = boxes[pick(boxes.size())];
        if (dest == box) break;
        const bool move = pick(2) == 1;
        auto uids = random_uids(box);
        auto r = db.mail->Copy(acct, box, uids, acct, dest, move);
        REQUIRE(r.ok());
        REQUIRE(r->source_uids.size() == r->dest_uids.size());
        const int64_t dest_modseq = (*db.mail->OpenMailbox(acct, dest)).highest_modseq;
        for (size_t i = 0; i < r->source_uids.size(); ++i) {
          auto src = model[box].entries.at(r->source_uids[i]);
          note_new(dest, r->dest_uids[i], dest_modseq, src.first, src.second);
          if (move) {
            model[box].entries.erase(r->source_uids[i]);
            uid_modseq[box].erase(r->source_uids[i]);
            gone[box][r->source_uids[i]] = r->source_modseq;
          }
        }
        if (move && !r->source_uids.empty()) CHECK(r->source_modseq > before);
        break;
      }
      case 4: {
        auto r = db.mail->Expunge(acct, box, random_uids(box));
        REQUIRE(r.ok());
        CHECK(std::is_sorted(r->uids.begin(), r->uids.end()));
        for (int64_t uid : r->uids) {
          CHECK(model[box].entries.erase(uid) == 1);
          uid_modseq[box].erase(uid);
          gone[box][uid] = r->modseq;
        }
        if (!r->uids.empty()) CHECK(r->modseq > before);
        break;
      }
    }
    // Invariants, every mailbox.
    int64_t used = 0, count = 0;
    for (int64_t b : boxes) {
      auto opened = db.mail->OpenMailbox(acct, b);
      REQUIRE(opened.ok());
      REQUIRE(opened->entries.size() == model[b].entries.size());
      int64_t prev = 0;
      for (const Entry& e : opened->entries) {
        CHECK(e.uid > prev);
        prev = e.uid;
        REQUIRE(model[b].entries.count(e.uid) == 1);
        const auto& [flags, size] = model[b].entries[e.uid];
        CHECK(std::set<std::string>(e.flags.begin(), e.flags.end()) ==
              std::set<std::string>(flags.begin(), flags.end()));
        CHECK(e.size == size);
        CHECK(e.modseq <= opened->highest_modseq);
        CHECK(e.modseq == uid_modseq[b][e.uid]);
        used += e.size;
        ++count;
      }
      CHECK(opened->uidnext > model[b].last_uid);
      // The change log from an earlier mark tells exactly what changed since.
      const int64_t mark = marks[b];
      auto changes = db.mail->ChangesSince(acct, b, mark);
      REQUIRE(changes.ok());
      CHECK(changes->highest_modseq == opened->highest_modseq);
      std::vector<int64_t> want_changed, want_gone;
      for (const auto& [uid, m] : uid_modseq[b]) {
        if (m > mark) want_changed.push_back(uid);
      }
      for (const auto& [uid, m] : gone[b]) {
        if (m > mark) want_gone.push_back(uid);
      }
      std::vector<int64_t> got_changed;
      for (const Entry& e : changes->changed) got_changed.push_back(e.uid);
      CHECK(got_changed == want_changed);
      CHECK(changes->expunged == want_gone);
      if (pick(4) == 0) marks[b] = opened->highest_modseq;
      last_modseq_any = std::max(last_modseq_any, opened->highest_modseq);
    }
    auto quota = db.mail->GetQuota(acct);
    REQUIRE(quota.ok());
    CHECK(quota->used_bytes == used);
    CHECK(quota->messages == count);
  }
  CHECK(last_modseq_any > 0);
}

TEST_CASE("COPY and MOVE keep the stored message, and every new entry gets its own save date", "[mailstore]") {
  Db db = MakeDb("mbops_objectid", KITE_BACKENDS);
  const int64_t inbox = MailboxId(db, db.alice, "INBOX");
  auto work = db.mail->CreateMailbox(db.alice, "Work");
  auto other = db.mail->CreateMailbox(db.alice, "Other");
  REQUIRE(work.ok());
  REQUIRE(other.ok());
  const int64_t before = static_cast<int64_t>(std::time(nullptr));
  auto one = db.mail->Append(db.alice, inbox, kMsg, {}, 1000000000);
  auto two = db.mail->Append(db.alice, inbox, "Subject: two\r\n\r\nx\r\n", {}, 1000000000);
  REQUIRE(one.ok());
  REQUIRE(two.ok());
  const std::vector<Entry> in = Entries(db, db.alice, inbox);
  REQUIRE(in.size() == 2);
  CHECK(in[0].message_id != in[1].message_id);
  REQUIRE(db.mail->Copy(db.alice, inbox, {one->uid}, db.alice, work->id, false).ok());
  REQUIRE(db.mail->Copy(db.alice, inbox, {two->uid}, db.alice, other->id, true).ok());
  CHECK(Entries(db, db.alice, work->id).at(0).message_id == in[0].message_id);
  CHECK(Entries(db, db.alice, other->id).at(0).message_id == in[1].message_id);
  const int64_t after = static_cast<int64_t>(std::time(nullptr));
  // The save date is the server's clock at the save, not the internal date APPEND was given.
  for (int64_t mailbox : {inbox, work->id, other->id}) {
    auto dates = db.mail->LoadSaveDates(db.alice, mailbox, {1, 2, 3});
    REQUIRE(dates.ok());
    REQUIRE(dates->size() == 1);
    REQUIRE(dates->front().saved.has_value());
    CHECK(*dates->front().saved >= before - 1);
    CHECK(*dates->front().saved <= after + 1);
  }
  // Moved away: no save date left in the source.
  CHECK(db.mail->LoadSaveDates(db.alice, inbox, {two->uid})->empty());
}

TEST_CASE("AppendMany stores every message with consecutive UIDs, or none over quota", "[mailstore]") {
  Db db = MakeDb("mbops_multiappend", KITE_BACKENDS);
  const int64_t inbox = MailboxId(db, db.bob, "INBOX");
  std::vector<AppendMessage> batch = {{kMsg, {"\\Seen"}, 1000000000}, {"Subject: b\r\n\r\nb\r\n", {}, 1000000001}};
  auto r = db.mail->AppendMany(db.bob, inbox, batch);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].uid == 1);
  CHECK((*r)[1].uid == 2);
  CHECK((*r)[0].modseq == (*r)[1].modseq);
  const std::vector<Entry> entries = Entries(db, db.bob, inbox);
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].flags == std::vector<std::string>{"\\Seen"});
  CHECK(entries[1].internal_date == 1000000001);
  // Bob's quota is 1000 bytes: the second message would pass it, so neither is stored.
  std::vector<AppendMessage> big = {{kMsg, {}, 0}, {std::string(990, 'x'), {}, 0}};
  CHECK(absl::IsResourceExhausted(db.mail->AppendMany(db.bob, inbox, big).status()));
  CHECK(Entries(db, db.bob, inbox).size() == 2);
  CHECK(db.mail->GetQuota(db.bob)->messages == 2);
  auto head = db.mail->ChangesSince(db.bob, inbox, 0);
  REQUIRE(head.ok());
  CHECK(head->uidnext == 3);
  CHECK(absl::IsNotFound(db.mail->AppendMany(db.bob, 999999, batch).status()));
}

TEST_CASE("METADATA: shared and private entries, all-or-none changes, gone with the mailbox", "[mailstore]") {
  Db db = MakeDb("mbops_metadata", KITE_BACKENDS);
  auto work = db.mail->CreateMailbox(db.alice, "Work");
  REQUIRE(work.ok());
  auto set = [&](int64_t user, std::vector<MetadataEntry> changes, size_t max = 10) {
    return db.mail->SetMetadata(db.alice, work->id, user, changes, max);
  };
  auto names = [&](int64_t mailbox, int64_t user) {
    auto got = db.mail->GetMetadata(db.alice, mailbox, user);
    REQUIRE(got.ok());
    std::vector<std::string> out;
    for (const auto& e : *got) out.push_back(e.name + "=" + e.value.value_or("?"));
    return out;
  };
  CHECK(names(work->id, db.alice).empty());
  REQUIRE(set(db.alice, {{"/shared/comment", "team"}, {"/private/comment", "mine"}}).ok());
  // bob (a member of a shared mailbox, say) sees the shared entry, not alice's private one.
  REQUIRE(set(db.bob, {{"/private/comment", "bob's"}}).ok());
  CHECK(names(work->id, db.alice) == std::vector<std::string>{"/private/comment=mine", "/shared/comment=team"});
  CHECK(names(work->id, db.bob) == std::vector<std::string>{"/private/comment=bob's", "/shared/comment=team"});
  // Binary values survive; no value removes.
  const std::string binary("a\0b\xff", 4);
  REQUIRE(set(db.alice, {{"/private/comment", std::nullopt}, {"/shared/vendor/kite/blob", binary}}).ok());
  auto got = db.mail->GetMetadata(db.alice, work->id, db.alice);
  REQUIRE(got->size() == 2);
  CHECK((*got)[1].name == "/shared/vendor/kite/blob");
  CHECK((*got)[1].value == binary);
  // Too many: nothing of the change is kept.
  CHECK(absl::IsResourceExhausted(set(db.alice, {{"/private/a", "1"}, {"/private/b", "2"}}, 3)));
  CHECK(names(work->id, db.alice).size() == 2);
  // Server entries (mailbox 0) are per account.
  REQUIRE(db.mail->SetMetadata(db.alice, 0, db.alice, {{"/private/vendor/client/theme", "dark"}}, 10).ok());
  CHECK(names(0, db.alice) == std::vector<std::string>{"/private/vendor/client/theme=dark"});
  // Deleted with the mailbox; a new mailbox of that name starts with none.
  REQUIRE(db.mail->DeleteMailbox(db.alice, "Work").ok());
  CHECK(absl::IsNotFound(db.mail->GetMetadata(db.alice, work->id, db.alice).status()));
  CHECK(absl::IsNotFound(set(db.alice, {{"/shared/comment", "x"}})));
  auto again = db.mail->CreateMailbox(db.alice, "Work");
  REQUIRE(again.ok());
  CHECK(names(again->id, db.alice).empty());
}

TEST_CASE("Filer files delivered mail by the same rules", "[mailstore]") {
  Db db = MakeDb("mbops_filer", Backend::kPostgres);
  // A mailbox Sieve's fileinto creates at delivery gets a UIDVALIDITY above a deleted one's.
  auto first = db.mail->CreateMailbox(db.alice, "Lists");
  REQUIRE(first.ok());
  REQUIRE(db.mail->DeleteMailbox(db.alice, "Lists").ok());
  const std::string body = kMsg;
  auto filed = db.pool->Transact([&](pqxx::work& tx) {
    Filer filer(tx);
    auto usage = filer.LockQuota(db.alice);
    const int64_t message_id = filer.StoreBody(body, "", SearchColumns{});
    auto one = filer.File(db.alice, "Lists", /*create=*/true, {"\\Flagged"}, message_id, 10);
    auto none = filer.File(db.alice, "Missing", /*create=*/false, {}, message_id, 10);
    filer.AddUsage(db.alice, 10, 1, usage.warned);
    return std::make_pair(one, none.has_value());
  });
  REQUIRE(filed.ok());
  REQUIRE(filed->first.has_value());
  CHECK_FALSE(filed->second);
  CHECK(filed->first->uid == 1);
  auto lists = GetMailbox(db, db.alice, "Lists");
  REQUIRE(lists->has_value());
  CHECK((*lists)->uidvalidity > first->uidvalidity);
  CHECK((*lists)->subscribed);  // the subscription the old mailbox left is the new one's
  CHECK(db.mail->ListLostSubscriptions(db.alice)->empty());
  CHECK(Entries(db, db.alice, (*lists)->id)[0].flags == std::vector<std::string>{"\\Flagged"});
  CHECK(db.mail->LoadSaveDates(db.alice, (*lists)->id, {1})->at(0).saved.has_value());  // delivery saves too
  CHECK(db.mail->GetQuota(db.alice)->used_bytes == 10);
  // Junk: the \Junk special-use mailbox, whatever its name.
  REQUIRE(db.mail->RenameMailbox(db.alice, "Junk", "Spam").ok());
  auto junk = db.pool->Transact([&](pqxx::work& tx) { return Filer(tx).JunkMailbox(db.alice); });
  CHECK(*junk == "Spam");
  // A body filed twice is stored once.
  auto ids = db.pool->Transact([&](pqxx::work& tx) {
    Filer filer(tx);
    return std::make_pair(filer.StoreBody(body, "", SearchColumns{}), filer.StoreBody(body, "", SearchColumns{}));
  });
  CHECK(ids->first == ids->second);
}

}  // namespace
}  // namespace kite::mailstore
