// kite_calstore against a real PostgreSQL: sync tokens and change rows in the same
// transaction, ETags, the index from calendar::Ingest, EnsureCalendarTx, UID lookups and the
// free/busy range query, every call scoped to one account.
#include "lib/calstore/calstore.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "fixtures/test_env.h"
#include "lib/directory/directory.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"

namespace kite::calstore {
namespace {

struct Db {
  std::unique_ptr<store::Pool> pool;
  int64_t alice = 0;
  int64_t bob = 0;
};

Db MakeDb(std::string_view tag) {
  auto pool = store::Pool::Create({.url = testing::FreshDatabase(tag), .pool_size = 4});
  REQUIRE(pool.ok());
  Db db{std::move(*pool)};
  REQUIRE(store::Migrate(*db.pool).ok());
  REQUIRE(directory::CreateDomain(*db.pool, "example.test").ok());
  auto a = directory::CreateAccount(*db.pool, "alice@example.test", "Alice", "!", 0);
  auto b = directory::CreateAccount(*db.pool, "bob@example.test", "Bob", "!", 0);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  db.alice = *a;
  db.bob = *b;
  return db;
}

std::string Event(const std::string& uid, const std::string& start, const std::string& end,
                  const std::string& extra = "") {
  return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:" + uid +
         "\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:" + start + "\r\nDTEND:" + end + "\r\n" + extra +
         "SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
}

calendar::Object Ingested(const std::string& text) {
  calendar::IngestError err;
  auto obj = calendar::Ingest(text, {}, &err);
  REQUIRE(obj.has_value());
  return std::move(*obj);
}

TEST_CASE("Etag is the first 128 bits of SHA-256 in hex", "[calstore]") {
  // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
  CHECK(Etag("abc") == "ba7816bf8f01cfea414140de5dae2223");
}

TEST_CASE("EnsureCalendarTx creates each kind once", "[calstore]") {
  Db db = MakeDb("calstore_ensure");
  auto ids = db.pool->Transact([&](pqxx::work& tx) {
    int64_t c1 = EnsureCalendarTx(tx, db.alice, "calendar");
    int64_t c2 = EnsureCalendarTx(tx, db.alice, "calendar");
    int64_t i1 = EnsureCalendarTx(tx, db.alice, "inbox");
    int64_t i2 = EnsureCalendarTx(tx, db.alice, "inbox");
    int64_t o1 = EnsureCalendarTx(tx, db.alice, "outbox");
    int64_t b1 = EnsureCalendarTx(tx, db.bob, "calendar");
    CHECK(c1 == c2);
    CHECK(i1 == i2);
    CHECK(c1 != i1);
    CHECK(o1 != i1);
    CHECK(b1 != c1);
    auto uris = tx.exec_params("SELECT uri, kind FROM calendars WHERE account_id = $1 ORDER BY id", db.alice);
    REQUIRE(uris.size() == 3);
    CHECK(uris[0][0].as<std::string>() == "calendar");
    CHECK(uris[1][0].as<std::string>() == "inbox");
    CHECK(uris[2][0].as<std::string>() == "outbox");
    return c1;
  });
  REQUIRE(ids.ok());
}

TEST_CASE("Put, get, delete bump the sync token and log one change each", "[calstore]") {
  Db db = MakeDb("calstore_put");
  const std::string text = Event("u1@test", "20261201T100000Z", "20261201T110000Z");
  const std::string text2 = Event("u1@test", "20261201T120000Z", "20261201T130000Z");
  auto r = db.pool->Transact([&](pqxx::work& tx) {
    int64_t cal = EnsureCalendarTx(tx, db.alice, "calendar");
    calendar::Object o = Ingested(text);
    PutResult p1 = PutObjectTx(tx, db.alice, cal, "a.ics", o, text);
    CHECK(p1.created);
    CHECK(p1.sync_token == 1);
    CHECK(p1.etag == Etag(text));
    calendar::Object o2 = Ingested(text2);
    PutResult p2 = PutObjectTx(tx, db.alice, cal, "a.ics", o2, text2);
    CHECK_FALSE(p2.created);
    CHECK(p2.sync_token == 2);
    auto got = GetObjectTx(tx, db.alice, cal, "a.ics", true);
    REQUIRE(got.has_value());
    CHECK(got->ical == text2);
    CHECK(got->uid == "u1@test");
    CHECK(got->component == "VEVENT");
    CHECK(got->etag == Etag(text2));
    CHECK(got->size == static_cast<int64_t>(text2.size()));
    // Another account sees nothing of it.
    CHECK_FALSE(GetObjectTx(tx, db.bob, cal, "a.ics").has_value());
    auto idx = tx.exec_params(
        "SELECT extract(epoch FROM first_start)::bigint, extract(epoch FROM last_end)::bigint, is_recurring "
        "FROM calendar_objects WHERE account_id = $1 AND uri = 'a.ics'",
        db.alice);
    CHECK(idx[0][0].as<int64_t>() == *o2.first_start);
    CHECK(idx[0][1].as<int64_t>() == *o2.last_end);
    CHECK_FALSE(idx[0][2].as<bool>());
    CHECK(DeleteObjectTx(tx, db.alice, cal, "a.ics"));
    CHECK_FALSE(DeleteObjectTx(tx, db.alice, cal, "a.ics"));
    auto changes = tx.exec_params(
        "SELECT token, op FROM calendar_changes WHERE account_id = $1 AND calendar_id = $2 ORDER BY token", db.alice,
        cal);
    REQUIRE(changes.size() == 3);
    CHECK(changes[0][1].as<std::string>() == "created");
    CHECK(changes[1][1].as<std::string>() == "modified");
    CHECK(changes[2][1].as<std::string>() == "deleted");
    CHECK(tx.exec_params1("SELECT sync_token FROM calendars WHERE account_id = $1 AND id = $2", db.alice, cal)[0]
              .as<int64_t>() == 3);
    return 0;
  });
  REQUIRE(r.ok());
}

TEST_CASE("FindByUidTx and ObjectsInRangeTx", "[calstore]") {
  Db db = MakeDb("calstore_range");
  auto r = db.pool->Transact([&](pqxx::work& tx) {
    int64_t cal = EnsureCalendarTx(tx, db.alice, "calendar");
    int64_t inbox = EnsureCalendarTx(tx, db.alice, "inbox");
    const std::string dec = Event("dec@test", "20261201T100000Z", "20261201T110000Z");
    const std::string jan = Event("jan@test", "20270105T100000Z", "20270105T110000Z");
    const std::string free = Event("free@test", "20261201T120000Z", "20261201T130000Z", "TRANSP:TRANSPARENT\r\n");
    const std::string weekly =
        Event("weekly@test", "20261102T090000Z", "20261102T100000Z", "RRULE:FREQ=WEEKLY\r\n");
    PutObjectTx(tx, db.alice, cal, "dec.ics", Ingested(dec), dec);
    PutObjectTx(tx, db.alice, cal, "jan.ics", Ingested(jan), jan);
    PutObjectTx(tx, db.alice, cal, "free.ics", Ingested(free), free);
    PutObjectTx(tx, db.alice, cal, "weekly.ics", Ingested(weekly), weekly);
    PutObjectTx(tx, db.alice, inbox, "dec-invite.ics", Ingested(dec), dec);
    auto copies = FindByUidTx(tx, db.alice, "dec@test");
    REQUIRE(copies.size() == 1);
    CHECK(copies[0].calendar_id == cal);
    CHECK(FindByUidTx(tx, db.alice, "dec@test", "inbox").size() == 1);
    CHECK(FindByUidTx(tx, db.bob, "dec@test").empty());
    // December 2026: dec and the unbounded weekly one; not jan, not the transparent one.
    const int64_t s = *calendar::ParseUtc("20261201T000000Z");
    const int64_t e = *calendar::ParseUtc("20270101T000000Z");
    std::set<std::string> uids;
    for (const auto& o : ObjectsInRangeTx(tx, db.alice, s, e)) uids.insert(o.uid);
    CHECK(uids == std::set<std::string>{"dec@test", "weekly@test"});
    uids.clear();
    for (const auto& o : ObjectsInRangeTx(tx, db.alice, s, e, true)) uids.insert(o.uid);
    CHECK(uids == std::set<std::string>{"dec@test", "free@test", "weekly@test"});
    CHECK(ObjectsInRangeTx(tx, db.bob, s, e).empty());
    // A transparent calendar is left out.
    tx.exec_params("UPDATE calendars SET transparent = true WHERE account_id = $1 AND id = $2", db.alice, cal);
    CHECK(ObjectsInRangeTx(tx, db.alice, s, e).empty());
    return 0;
  });
  REQUIRE(r.ok());
}

}  // namespace
}  // namespace kite::calstore
