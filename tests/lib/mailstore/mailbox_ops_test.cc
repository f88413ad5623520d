// kite_mailstore's mailbox operations against a real PostgreSQL: create/delete/rename with
// UIDVALIDITY never repeating, append with quota, copy/move UID mapping, expunge (idempotent,
// logged for VANISHED, quota lowered, bodies collected) and the change log.
#include <catch2/catch.hpp>
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/test_env.h"
#include "lib/directory/directory.h"
#include "lib/imap/mime_search_message.h"
#include "lib/mailstore/mailstore.h"
#include "lib/mime/message.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"

namespace kite::mailstore {
namespace {

struct Db {
  std::unique_ptr<store::Pool> pool;
  int64_t alice = 0;
  int64_t bob = 0;
};

Db MakeDb(std::string_view tag) {
  auto pool = store::Pool::Create({.url = testing::FreshDatabase(tag), .pool_size = 8});
  REQUIRE(pool.ok());
  Db db{std::move(*pool)};
  REQUIRE(store::Migrate(*db.pool).ok());
  REQUIRE(directory::CreateDomain(*db.pool, "example.test").ok());
  auto a = directory::CreateAccount(*db.pool, "alice@example.test", "Alice", "!", 0);
  auto b = directory::CreateAccount(*db.pool, "bob@example.test", "Bob", "!", 1000);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  db.alice = *a;
  db.bob = *b;
  return db;
}

int64_t MailboxId(Db& db, int64_t account, const std::string& name) {
  auto mb = GetMailbox(*db.pool, account, name);
  REQUIRE(mb.ok());
  REQUIRE(mb->has_value());
  return (*mb)->id;
}

const std::string kMsg = "From: a@example.test\r\nSubject: hi\r\n\r\nbody\r\n";

TEST_CASE("Create, rename and delete mailboxes", "[mailstore]") {
  Db db = MakeDb("mbops_create");
  auto a = CreateMailbox(*db.pool, db.alice, "Work");
  REQUIRE(a.ok());
  CHECK(a->uidnext == 1);
  CHECK(absl::IsAlreadyExists(CreateMailbox(*db.pool, db.alice, "Work").status()));
  REQUIRE(CreateMailbox(*db.pool, db.alice, "Work/2026").ok());
  REQUIRE(RenameMailbox(*db.pool, db.alice, "Work", "Job").ok());
  CHECK(GetMailbox(*db.pool, db.alice, "Job/2026")->has_value());
  CHECK(!GetMailbox(*db.pool, db.alice, "Work")->has_value());
  CHECK((*GetMailbox(*db.pool, db.alice, "Job"))->uidvalidity == a->uidvalidity);
  CHECK(absl::IsAlreadyExists(RenameMailbox(*db.pool, db.alice, "Job/2026", "Sent")));
  CHECK(absl::IsNotFound(RenameMailbox(*db.pool, db.alice, "Nope", "X")));
  // A deleted and re-created name gets a new UIDVALIDITY, even within the same second.
  REQUIRE(DeleteMailbox(*db.pool, db.alice, "Job").ok());
  auto again = CreateMailbox(*db.pool, db.alice, "Job");
  REQUIRE(again.ok());
  CHECK(again->uidvalidity > a->uidvalidity);
  CHECK(absl::IsFailedPrecondition(DeleteMailbox(*db.pool, db.alice, "INBOX")));
  CHECK(absl::IsNotFound(DeleteMailbox(*db.pool, db.alice, "Nope")));
  CHECK(SetSubscribed(*db.pool, db.alice, "Job", false).ok());
  CHECK(!(*GetMailbox(*db.pool, db.alice, "Job"))->subscribed);
  CHECK(absl::IsNotFound(SetSubscribed(*db.pool, db.alice, "Nope", true)));
}

TEST_CASE("Renaming INBOX moves its messages and leaves an empty INBOX", "[mailstore]") {
  Db db = MakeDb("mbops_inbox");
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  REQUIRE(Append(*db.pool, db.alice, inbox, kMsg, {"\\Seen"}, 1700000000).ok());
  auto before = GetMailbox(*db.pool, db.alice, "INBOX");
  REQUIRE(RenameMailbox(*db.pool, db.alice, "INBOX", "Old").ok());
  auto old = GetMailbox(*db.pool, db.alice, "Old");
  auto fresh = GetMailbox(*db.pool, db.alice, "INBOX");
  REQUIRE(old->has_value());
  REQUIRE(fresh->has_value());
  CHECK((*old)->exists == 1);
  CHECK((*fresh)->exists == 0);
  CHECK((*fresh)->uidvalidity != (*before)->uidvalidity);
}

TEST_CASE("Append, copy, move and expunge keep UIDs, quota and the change log right", "[mailstore]") {
  Db db = MakeDb("mbops_append");
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  auto work = CreateMailbox(*db.pool, db.alice, "Work");
  REQUIRE(work.ok());
  std::vector<int64_t> uids;
  for (int i = 0; i < 3; ++i) {
    auto r = Append(*db.pool, db.alice, inbox, kMsg + std::to_string(i), {"\\Flagged"}, 1700000000 + i);
    REQUIRE(r.ok());
    uids.push_back(r->uid);
  }
  CHECK(uids == std::vector<int64_t>{1, 2, 3});
  auto entries = ListEntries(*db.pool, db.alice, inbox);
  REQUIRE(entries->size() == 3);
  CHECK((*entries)[0].flags == std::vector<std::string>{"\\Flagged"});
  CHECK((*entries)[1].internal_date == 1700000001);
  auto body = GetBody(*db.pool, db.alice, inbox, 2);
  CHECK(*body == kMsg + "1");
  int64_t used = GetQuota(*db.pool, db.alice)->used_bytes;
  CHECK(used == static_cast<int64_t>(3 * (kMsg.size() + 1)));

  auto since = (*GetMailbox(*db.pool, db.alice, "INBOX"))->highest_modseq;
  auto copy = Copy(*db.pool, db.alice, inbox, {1, 3, 99}, db.alice, work->id, false);
  REQUIRE(copy.ok());
  CHECK(copy->source_uids == std::vector<int64_t>{1, 3});
  CHECK(copy->dest_uids == std::vector<int64_t>{1, 2});
  CHECK(copy->uidvalidity == work->uidvalidity);
  CHECK(GetQuota(*db.pool, db.alice)->used_bytes == used + static_cast<int64_t>(2 * (kMsg.size() + 1)));

  auto move = Copy(*db.pool, db.alice, inbox, {2}, db.alice, work->id, true);
  REQUIRE(move.ok());
  CHECK(move->dest_uids == std::vector<int64_t>{3});
  CHECK(move->source_modseq > since);
  CHECK(ListEntries(*db.pool, db.alice, inbox)->size() == 2);

  auto changes = ChangesSince(*db.pool, db.alice, inbox, since);
  REQUIRE(changes.ok());
  CHECK(changes->expunged == std::vector<int64_t>{2});
  CHECK(changes->changed.empty());

  auto ex = Expunge(*db.pool, db.alice, inbox, {1, 3, 7});
  REQUIRE(ex.ok());
  CHECK(ex->uids == std::vector<int64_t>{1, 3});
  auto again = Expunge(*db.pool, db.alice, inbox, {1, 3});
  REQUIRE(again.ok());
  CHECK(again->uids.empty());
  changes = ChangesSince(*db.pool, db.alice, inbox, since);
  CHECK(changes->expunged == std::vector<int64_t>{1, 2, 3});
  // Only Work's three entries remain charged.
  CHECK(GetQuota(*db.pool, db.alice)->messages == 3);

  // Flag changes show up in the log with their MODSEQ.
  auto w = ChangesSince(*db.pool, db.alice, work->id, 0);
  REQUIRE(w->changed.size() == 3);
  int64_t mark = w->highest_modseq;
  REQUIRE(StoreFlags(*db.pool, db.alice, work->id, 2, FlagOp::kAdd, {"\\Seen"}).ok());
  w = ChangesSince(*db.pool, db.alice, work->id, mark);
  REQUIRE(w->changed.size() == 1);
  CHECK(w->changed[0].uid == 2);
  CHECK(w->changed[0].modseq == w->highest_modseq);

  // Deleting the mailbox frees its quota and bodies nothing else refers to.
  REQUIRE(DeleteMailbox(*db.pool, db.alice, "Work").ok());
  CHECK(GetQuota(*db.pool, db.alice)->used_bytes == 0);
  CHECK(!ChangesSince(*db.pool, db.alice, work->id, 0)->exists);
}

TEST_CASE("Quota refuses an append or copy that would pass the limit", "[mailstore]") {
  Db db = MakeDb("mbops_quota");
  int64_t inbox = MailboxId(db, db.bob, "INBOX");
  std::string big(600, 'x');
  REQUIRE(Append(*db.pool, db.bob, inbox, big, {}, 1700000000).ok());
  CHECK(absl::IsResourceExhausted(Append(*db.pool, db.bob, inbox, big, {}, 1700000000).status()));
  auto trash = MailboxId(db, db.bob, "Trash");
  CHECK(absl::IsResourceExhausted(Copy(*db.pool, db.bob, inbox, {1}, db.bob, trash, false).status()));
  // Moving within the account is free.
  CHECK(Copy(*db.pool, db.bob, inbox, {1}, db.bob, trash, true).ok());
  CHECK(absl::IsNotFound(Append(*db.pool, db.bob, 999999, "x", {}, 0).status()));
}

TEST_CASE("Concurrent appends get distinct UIDs", "[mailstore]") {
  Db db = MakeDb("mbops_concurrent");
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> got(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto r = Append(*db.pool, db.alice, inbox, kMsg + std::to_string(t * 100 + i), {}, 1700000000);
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
  CHECK((*GetMailbox(*db.pool, db.alice, "INBOX"))->uidnext == 41);
}

TEST_CASE("StoreFlagsMany changes many entries under one MODSEQ and honours UNCHANGEDSINCE", "[mailstore]") {
  Db db = MakeDb("mbops_store");
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  for (int i = 0; i < 4; ++i) REQUIRE(Append(*db.pool, db.alice, inbox, kMsg + std::to_string(i), {}, 1700000000).ok());
  REQUIRE(StoreFlags(*db.pool, db.alice, inbox, 4, FlagOp::kAdd, {"\\Seen"}).ok());
  int64_t mark = (*GetMailbox(*db.pool, db.alice, "INBOX"))->highest_modseq;
  auto r = StoreFlagsMany(*db.pool, db.alice, inbox, {1, 2, 4, 9}, FlagOp::kAdd, {"\\Seen", "$Work"});
  REQUIRE(r.ok());
  REQUIRE(r->entries.size() == 3);
  CHECK(r->entries[0].changed);
  CHECK(r->entries[0].flags == std::vector<std::string>{"\\Seen", "$Work"});
  CHECK(r->entries[0].modseq == mark + 1);
  CHECK(r->entries[1].modseq == mark + 1);
  CHECK(r->entries[2].changed);  // $Work added
  // Nothing to change: no MODSEQ spent.
  auto same = StoreFlagsMany(*db.pool, db.alice, inbox, {1}, FlagOp::kAdd, {"$Work"});
  CHECK(!same->entries[0].changed);
  CHECK((*GetMailbox(*db.pool, db.alice, "INBOX"))->highest_modseq == mark + 1);
  // UNCHANGEDSINCE below an entry's MODSEQ: that entry is refused, the others change.
  auto cond = StoreFlagsMany(*db.pool, db.alice, inbox, {1, 3}, FlagOp::kRemove, {"$Work"}, mark);
  REQUIRE(cond.ok());
  CHECK(cond->modified == std::vector<int64_t>{1});
  REQUIRE(cond->entries.size() == 1);
  CHECK(cond->entries[0].uid == 3);
  auto loaded = LoadMessages(*db.pool, db.alice, inbox, {2, 3, 77}, true, true);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->size() == 2);
  CHECK((*loaded)[0].body == kMsg + "1");
  CHECK(!(*loaded)[0].structure.empty());
  auto only = LoadMessages(*db.pool, db.alice, inbox, {2}, false, true);
  CHECK((*only)[0].body.empty());
}

TEST_CASE("OpenMailbox reads the head and the entries in one snapshot, LoadHeaders only the header block",
          "[mailstore]") {
  Db db = MakeDb("mbops_open");
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  auto empty = OpenMailbox(*db.pool, db.alice, inbox);
  REQUIRE(empty.ok());
  CHECK(empty->exists);
  CHECK(empty->entries.empty());
  CHECK(empty->uidnext == 1);

  const std::string lf = "Subject: bare LF\n\nbody\r\n\r\nmore\r\n";  // the first CRLF CRLF is in the body
  const std::string no_body = "Subject: only a header\r\n";
  for (const std::string& m : {kMsg, lf, no_body}) {
    REQUIRE(Append(*db.pool, db.alice, inbox, m, {"\\Seen", "$label"}, 1700000000).ok());
  }
  auto opened = OpenMailbox(*db.pool, db.alice, inbox);
  REQUIRE(opened.ok());
  REQUIRE(opened->entries.size() == 3);
  CHECK(opened->entries[0].uid == 1);
  CHECK(opened->entries[2].uid == 3);
  CHECK(opened->entries[1].flags == std::vector<std::string>{"\\Seen", "$label"});
  CHECK(opened->uidnext == 4);
  int64_t highest = 0;
  for (const auto& e : opened->entries) highest = std::max(highest, e.modseq);
  CHECK(opened->highest_modseq == highest);
  CHECK(ChangesSince(*db.pool, db.alice, inbox, opened->highest_modseq)->changed.empty());

  auto headers = LoadHeaders(*db.pool, db.alice, inbox, {3, 1, 2, 42});
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

  REQUIRE(DeleteMailbox(*db.pool, db.alice, "INBOX").code() == absl::StatusCode::kFailedPrecondition);
  auto work = CreateMailbox(*db.pool, db.alice, "Work");
  REQUIRE(work.ok());
  REQUIRE(DeleteMailbox(*db.pool, db.alice, "Work").ok());
  auto gone = OpenMailbox(*db.pool, db.alice, work->id);
  REQUIRE(gone.ok());
  CHECK(!gone->exists);
}

}  // namespace
}  // namespace kite::mailstore

namespace kite::mailstore {
namespace {

TEST_CASE("A name deleted and created again gets a greater UIDVALIDITY at once", "[mailstore]") {
  Db db = MakeDb("mbops_uidvalidity");
  int64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    auto mb = CreateMailbox(*db.pool, db.alice, "Again");
    REQUIRE(mb.ok());
    CHECK(mb->uidvalidity > last);
    last = mb->uidvalidity;
    REQUIRE(DeleteMailbox(*db.pool, db.alice, "Again").ok());
  }
}

TEST_CASE("A subscription outlives its mailbox and comes back with it", "[mailstore]") {
  Db db = MakeDb("mbops_subscriptions");
  REQUIRE(CreateMailbox(*db.pool, db.alice, "Lists").ok());
  REQUIRE(CreateMailbox(*db.pool, db.alice, "Plain").ok());
  REQUIRE(SetSubscribed(*db.pool, db.alice, "Plain", false).ok());
  REQUIRE(DeleteMailbox(*db.pool, db.alice, "Lists").ok());
  REQUIRE(DeleteMailbox(*db.pool, db.alice, "Plain").ok());
  CHECK(*ListLostSubscriptions(*db.pool, db.alice) == std::vector<std::string>{"Lists"});
  CHECK(ListLostSubscriptions(*db.pool, db.bob)->empty());
  // Subscribing again is fine; a name never subscribed stays refused.
  CHECK(SetSubscribed(*db.pool, db.alice, "Lists", true).ok());
  CHECK(absl::IsNotFound(SetSubscribed(*db.pool, db.alice, "Plain", true)));
  // Created again: the mailbox holds the subscription.
  REQUIRE(CreateMailbox(*db.pool, db.alice, "Lists").ok());
  CHECK(ListLostSubscriptions(*db.pool, db.alice)->empty());
  CHECK((*GetMailbox(*db.pool, db.alice, "Lists"))->subscribed);
  // Unsubscribing a lost name forgets it.
  REQUIRE(DeleteMailbox(*db.pool, db.alice, "Lists").ok());
  CHECK(SetSubscribed(*db.pool, db.alice, "Lists", false).ok());
  CHECK(ListLostSubscriptions(*db.pool, db.alice)->empty());
  // Renamed onto a lost name: subscribed.
  REQUIRE(CreateMailbox(*db.pool, db.alice, "Old").ok());
  REQUIRE(SetSubscribed(*db.pool, db.alice, "Old", false).ok());
  REQUIRE(CreateMailbox(*db.pool, db.alice, "Gone").ok());
  REQUIRE(DeleteMailbox(*db.pool, db.alice, "Gone").ok());
  REQUIRE(RenameMailbox(*db.pool, db.alice, "Old", "Gone").ok());
  CHECK((*GetMailbox(*db.pool, db.alice, "Gone"))->subscribed);
  CHECK(ListLostSubscriptions(*db.pool, db.alice)->empty());
}

TEST_CASE("The recent watermark gives each new UID to one claimer", "[mailstore]") {
  Db db = MakeDb("mbops_recent");
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  for (int i = 0; i < 3; ++i) REQUIRE(Append(*db.pool, db.alice, inbox, kMsg, {}, 1700000000).ok());
  CHECK(CountMailbox(*db.pool, db.alice, inbox)->recent == 3);
  CHECK(*ClaimRecent(*db.pool, db.alice, inbox, 0) == 0);  // looking takes nothing
  CHECK(*ClaimRecent(*db.pool, db.alice, inbox, 3) == 0);  // the first SELECT gets 1:3
  CHECK(*ClaimRecent(*db.pool, db.alice, inbox, 3) == 3);  // the second none
  CHECK(CountMailbox(*db.pool, db.alice, inbox)->recent == 0);
  REQUIRE(Append(*db.pool, db.alice, inbox, kMsg, {}, 1700000000).ok());
  CHECK(CountMailbox(*db.pool, db.alice, inbox)->recent == 1);
  CHECK(*ClaimRecent(*db.pool, db.alice, inbox, 2) == 3);  // never lowered
  CHECK(*ClaimRecent(*db.pool, db.alice, inbox, 4) == 3);
  CHECK(absl::IsNotFound(ClaimRecent(*db.pool, db.alice, 999999, 1).status()));
}

TEST_CASE("Append stores the decoded search fields, and LoadSearchFields reads them back", "[mailstore]") {
  Db db = MakeDb("mbops_search_fields");
  int64_t inbox = MailboxId(db, db.alice, "INBOX");
  const std::string tricky =
      "From: \"Doe, \\\"J\\\"\" <j@example.test>\r\n"
      "To: a@example.test, =?UTF-8?Q?Andr=C3=A9?= <andre@example.test>\r\n"
      "Subject: =?UTF-8?Q?caf=C3=A9?= {braces}, \"quotes\"\r\n\r\nbody\r\n";
  const std::string latin1 = "From: J\xf6rg <j@example.test>\r\nSubject: raw 8-bit\r\n\r\nbody\r\n";
  REQUIRE(Append(*db.pool, db.alice, inbox, tricky, {}, 1700000000).ok());
  REQUIRE(Append(*db.pool, db.alice, inbox, latin1, {}, 1700000000).ok());
  auto loaded = LoadSearchFields(*db.pool, db.alice, inbox, {1, 2, 9});
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

}  // namespace
}  // namespace kite::mailstore
