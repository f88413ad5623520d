// Integration tests of kite_store (pool, error mapping, migrations, schema) against a real
// PostgreSQL. Each test creates its own database, so they run in parallel safely.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures/test_env.h"
#include "lib/store/commit.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"
#include "lib/store/url.h"

namespace kite::store {
namespace {

std::unique_ptr<Pool> MakePool(const std::string& url, int size = 4) {
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Create({.url = url, .pool_size = size});
  INFO(pool.status().ToString());
  REQUIRE(pool.ok());
  return *std::move(pool);
}

std::unique_ptr<Pool> MigratedPool(std::string_view tag, int size = 4) {
  std::unique_ptr<Pool> pool = MakePool(testing::FreshDatabase(tag), size);
  absl::Status status = Migrate(*pool);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return pool;
}

absl::StatusOr<long long> AddDomain(Pool& pool, const std::string& name) {
  return pool.Transact([&](pqxx::work& txn) {
    return txn.exec_params1("INSERT INTO domains (name) VALUES ($1) RETURNING id", name)[0].as<long long>();
  });
}

long long Count(Pool& pool, const std::string& table) {
  absl::StatusOr<long long> n = pool.Transact([&](pqxx::work& txn) {
    return txn.exec1("SELECT count(*) FROM " + txn.quote_name(table))[0].as<long long>();
  });
  REQUIRE(n.ok());
  return *n;
}

TEST_CASE("RedactUrl removes passwords from URLs and conninfo strings", "[store]") {
  CHECK(RedactUrl("postgresql://kite:s3cret@db.test:5433/kite") == "postgresql://kite:***@db.test:5433/kite");
  CHECK(RedactUrl("postgres://kite:p@ss@db.test/kite?sslmode=require") ==
        "postgres://kite:***@db.test/kite?sslmode=require");
  CHECK(RedactUrl("postgresql://db.test/kite?user=kite&password=s3cret&sslmode=require") ==
        "postgresql://db.test/kite?user=kite&password=***&sslmode=require");
  CHECK(RedactUrl("host=db.test password=s3cret user=kite") == "host=db.test password=*** user=kite");
  CHECK(RedactUrl("host=db.test password='s3 cret' user=kite") == "host=db.test password=*** user=kite");
  CHECK(RedactUrl("postgresql://kite@db.test/kite") == "postgresql://kite@db.test/kite");
  CHECK(ServerAddress("postgresql://kite:x@db.test:5433/kite") == "db.test:5433");
  CHECK(ServerAddress("postgresql:///kite") == "localhost:5432");
}

TEST_CASE("Pool::Create names an unreachable server without the password", "[store]") {
  absl::StatusOr<std::unique_ptr<Pool>> pool =
      Pool::Create({.url = "postgresql://kite:TopSecret99@127.0.0.1:1/kite", .connect_timeout = std::chrono::seconds(2)});
  REQUIRE_FALSE(pool.ok());
  CHECK(absl::IsUnavailable(pool.status()));
  CHECK_THAT(std::string(pool.status().message()), Catch::Contains("cannot connect to PostgreSQL at 127.0.0.1:1"));
  CHECK_THAT(pool.status().ToString(), !Catch::Contains("TopSecret99"));
}

TEST_CASE("Pool::Create rejects a malformed URL", "[store]") {
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Create({.url = "postgresql://kite:pw@[::1/db"});
  REQUIRE_FALSE(pool.ok());
  CHECK(absl::IsInvalidArgument(pool.status()));
  CHECK_THAT(pool.status().ToString(), !Catch::Contains(":pw@"));
}

TEST_CASE("Migrate applies every migration in order, and a second run is a no-op", "[store][migrate]") {
  std::unique_ptr<Pool> pool = MakePool(testing::FreshDatabase("migrate"));
  REQUIRE(SchemaVersion(*pool).value() == 0);

  std::vector<int> seen;
  REQUIRE(Migrate(*pool, [&](int version, std::string_view) { seen.push_back(version); }).ok());
  std::vector<int> expected;
  for (int v = 1; v <= LatestVersion(); ++v) expected.push_back(v);
  CHECK(seen == expected);
  CHECK(LatestVersion() >= 4);
  CHECK(SchemaVersion(*pool).value() == LatestVersion());

  seen.clear();
  REQUIRE(Migrate(*pool, [&](int version, std::string_view) { seen.push_back(version); }).ok());
  CHECK(seen.empty());
  CHECK(Count(*pool, "schema_migrations") == LatestVersion());

  // The core tables other modules are written against exist with their key columns.
  absl::StatusOr<long long> columns = pool->Transact([](pqxx::work& txn) {
    return txn
        .exec1(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND "
            "(table_name, column_name) IN (('domains','catch_all'), ('accounts','quota_bytes'), "
            "('mailboxes','highest_modseq'), ('messages','headers_json'), ('mailbox_entries','modseq'), "
            "('quota_usage','messages'), ('deliveries','spool_id'), ('spool','source'), "
            "('spool_recipients','enqueued_at'), ('calendar_objects','etag'), ('calendar_changes','token'))")[0]
        .as<long long>();
  });
  REQUIRE(columns.ok());
  CHECK(*columns == 11);
}

TEST_CASE("Two concurrent Migrate calls both succeed and apply each migration once", "[store][migrate]") {
  std::string url = testing::FreshDatabase("migrate_race");
  std::unique_ptr<Pool> a = MakePool(url, 1);
  std::unique_ptr<Pool> b = MakePool(url, 1);
  std::atomic<int> applied{0};
  absl::Status status_a, status_b;
  std::thread ta([&] { status_a = Migrate(*a, [&](int, std::string_view) { ++applied; }); });
  std::thread tb([&] { status_b = Migrate(*b, [&](int, std::string_view) { ++applied; }); });
  ta.join();
  tb.join();
  INFO(status_a.ToString() << " / " << status_b.ToString());
  CHECK(status_a.ok());
  CHECK(status_b.ok());
  CHECK(applied.load() == LatestVersion());
  CHECK(Count(*a, "schema_migrations") == LatestVersion());
}

TEST_CASE("Migrate refuses a database newer than the binary", "[store][migrate]") {
  std::unique_ptr<Pool> pool = MigratedPool("migrate_newer");
  std::span<const Migration> older = EmbeddedMigrations().first(LatestVersion() - 1);
  absl::Status status = Migrate(*pool, older);
  CHECK(absl::IsFailedPrecondition(status));
  CHECK_THAT(std::string(status.message()), Catch::Contains("knows migrations only up to"));
}

TEST_CASE("Migrate refuses when an applied migration was edited", "[store][migrate]") {
  std::unique_ptr<Pool> pool = MigratedPool("migrate_edited");
  std::vector<Migration> edited(EmbeddedMigrations().begin(), EmbeddedMigrations().end());
  edited[0].checksum = "0000000000000000000000000000000000000000000000000000000000000000";
  absl::Status status = Migrate(*pool, edited);
  CHECK(absl::IsFailedPrecondition(status));
  CHECK_THAT(std::string(status.message()), Catch::Contains("0001_core") && Catch::Contains("checksum"));
}

TEST_CASE("A failing migration leaves the earlier ones applied and names itself", "[store][migrate]") {
  std::unique_ptr<Pool> pool = MakePool(testing::FreshDatabase("migrate_fail"));
  std::vector<Migration> migrations = {
      {1, "one", "c1", "CREATE TABLE one (x int)"},
      {2, "two", "c2", "CREATE TABLE two (x int); SELECT no_such_function()"},
  };
  absl::Status status = Migrate(*pool, migrations);
  CHECK_FALSE(status.ok());
  CHECK_THAT(std::string(status.message()), Catch::Contains("0002_two"));
  CHECK(SchemaVersion(*pool).value() == 1);
  absl::StatusOr<bool> two_exists =
      pool->Transact([](pqxx::work& txn) { return !txn.exec1("SELECT to_regclass('two') IS NULL")[0].as<bool>(); });
  CHECK_FALSE(two_exists.value());
}

TEST_CASE("Transact commits, returns the value, and rolls back on failure", "[store][pool]") {
  std::unique_ptr<Pool> pool = MigratedPool("transact");

  absl::StatusOr<long long> id = AddDomain(*pool, "one.test");
  REQUIRE(id.ok());
  CHECK(*id > 0);
  CHECK(Count(*pool, "domains") == 1);

  // An exception thrown by fn rolls back and becomes a Status.
  absl::Status thrown = pool->Transact([](pqxx::work& txn) {
    txn.exec_params0("INSERT INTO domains (name) VALUES ($1)", std::string("two.test"));
    throw std::runtime_error("boom");
  });
  CHECK(absl::IsInternal(thrown));
  CHECK_THAT(std::string(thrown.message()), Catch::Contains("boom"));

  // A non-OK Status returned by fn rolls back and is returned as is.
  absl::Status returned = pool->Transact([](pqxx::work& txn) -> absl::Status {
    txn.exec_params0("INSERT INTO domains (name) VALUES ($1)", std::string("three.test"));
    return absl::NotFoundError("no such account");
  });
  CHECK(absl::IsNotFound(returned));

  // StatusOr<T> from fn passes through too.
  absl::StatusOr<int> value = pool->Transact([](pqxx::work&) -> absl::StatusOr<int> { return 7; });
  CHECK(value.value() == 7);

  CHECK(Count(*pool, "domains") == 1);
}

TEST_CASE("A COMMIT in doubt is marked, and TransactionCommitted tells committed from rolled back", "[store][pool]") {
  CHECK(IsCommitInDoubt(StatusFromPqxx(pqxx::in_doubt_error("connection lost while committing"))));
  CHECK_FALSE(IsCommitInDoubt(StatusFromPqxx(pqxx::broken_connection("connection lost"))));
  CHECK_FALSE(IsCommitInDoubt(absl::UnavailableError("down")));

  std::unique_ptr<Pool> pool = MigratedPool("in_doubt");
  long long committed_xid = 0;
  REQUIRE(pool->Transact([&](pqxx::work& txn) {
                committed_xid = txn.exec1("SELECT txid_current()")[0].as<long long>();
                txn.exec_params0("INSERT INTO domains (name) VALUES ($1)", std::string("kept.test"));
              }).ok());
  long long rolled_back_xid = 0;
  absl::Status rolled_back = pool->Transact([&](pqxx::work& txn) -> absl::Status {
    rolled_back_xid = txn.exec1("SELECT txid_current()")[0].as<long long>();
    txn.exec_params0("INSERT INTO domains (name) VALUES ($1)", std::string("dropped.test"));
    return absl::CancelledError("changed my mind");
  });
  REQUIRE(absl::IsCancelled(rolled_back));
  absl::StatusOr<bool> yes = TransactionCommitted(*pool, committed_xid, std::chrono::seconds(5));
  absl::StatusOr<bool> no = TransactionCommitted(*pool, rolled_back_xid, std::chrono::seconds(5));
  REQUIRE(yes.ok());
  REQUIRE(no.ok());
  CHECK(*yes);
  CHECK_FALSE(*no);
}

TEST_CASE("A unique violation maps to AlreadyExists, a CHECK to InvalidArgument", "[store][pool]") {
  std::unique_ptr<Pool> pool = MigratedPool("unique");
  REQUIRE(AddDomain(*pool, "dup.test").ok());
  absl::StatusOr<long long> again = AddDomain(*pool, "dup.test");
  CHECK(absl::IsAlreadyExists(again.status()));
  absl::StatusOr<long long> upper = AddDomain(*pool, "Upper.test");  // names are stored lowercase
  CHECK(absl::IsInvalidArgument(upper.status()));
  // The pool is still usable after errors.
  CHECK(AddDomain(*pool, "other.test").ok());
}

TEST_CASE("Serialization failures are retried up to three times", "[store][pool]") {
  std::unique_ptr<Pool> pool = MigratedPool("serialization");
  const std::string fail = "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$";

  int calls = 0;
  absl::StatusOr<int> once = pool->Transact([&](pqxx::work& txn) {
    if (++calls == 1) txn.exec0(fail);
    return calls;
  });
  CHECK(once.value() == 2);

  calls = 0;
  absl::Status always = pool->Transact([&](pqxx::work& txn) {
    ++calls;
    txn.exec0(fail);
  });
  CHECK(absl::IsAborted(always));
  CHECK(calls == 1 + Pool::kMaxSerializationRetries);
}

TEST_CASE("One address belongs to one account, alias or list", "[store][schema]") {
  std::unique_ptr<Pool> pool = MigratedPool("claims");
  absl::Status setup = pool->Transact([](pqxx::work& txn) {
    long long domain = txn.exec1("INSERT INTO domains (name) VALUES ('x.test') RETURNING id")[0].as<long long>();
    txn.exec_params0(
        "INSERT INTO accounts (domain_id, local_part, address, password_hash) VALUES ($1, 'ann', 'ann@x.test', '!')",
        domain);
    txn.exec_params0("INSERT INTO lists (domain_id, address) VALUES ($1, 'team@x.test')", domain);
  });
  REQUIRE(setup.ok());
  absl::Status alias = pool->Transact([](pqxx::work& txn) {
    txn.exec0("INSERT INTO aliases (domain_id, address, target_address) VALUES (1, 'team@x.test', 'ann@x.test')");
  });
  CHECK(absl::IsAlreadyExists(alias));
  absl::StatusOr<std::string> kind = pool->Transact([](pqxx::work& txn) {
    return txn.exec_params1("SELECT kind FROM address_claims WHERE address = $1", std::string("team@x.test"))[0]
        .as<std::string>();
  });
  CHECK(kind.value() == "list");
  // Renaming and deleting keep the claims in step.
  REQUIRE(pool->Transact([](pqxx::work& txn) {
                txn.exec0("UPDATE accounts SET address = 'anne@x.test' WHERE address = 'ann@x.test'");
                txn.exec0("DELETE FROM lists");
              }).ok());
  CHECK(Count(*pool, "address_claims") == 1);
}

TEST_CASE("The pool shares pool_size connections among many threads", "[store][pool]") {
  std::unique_ptr<Pool> pool = MigratedPool("threads", 3);
  REQUIRE(pool->Transact([](pqxx::work& txn) { txn.exec0("CREATE TABLE counter (n int); INSERT INTO counter VALUES (0)"); }).ok());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (!pool->Transact([](pqxx::work& txn) { txn.exec0("UPDATE counter SET n = n + 1"); }).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(pool->open_connections() <= 3);
  absl::StatusOr<int> n = pool->Transact([](pqxx::work& txn) { return txn.exec1("SELECT n FROM counter")[0].as<int>(); });
  CHECK(n.value() == 160);
}

TEST_CASE("A connection that breaks mid-transaction is retried once on a fresh one", "[store][pool]") {
  std::unique_ptr<Pool> pool = MigratedPool("midtxn", 2);
  int calls = 0;
  absl::StatusOr<int> r = pool->Transact([&](pqxx::work& txn) {
    if (++calls == 1) {
      // Another session ends this one while its transaction is open (as a server restart
      // would): the next statement finds the connection gone.
      int pid = txn.exec1("SELECT pg_backend_pid()")[0].as<int>();
      pqxx::connection other(pool->options().url);
      pqxx::nontransaction(other).exec_params("SELECT pg_terminate_backend($1)", pid);
    }
    return txn.exec1("SELECT 7")[0].as<int>();
  });
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(*r == 7);
  CHECK(calls == 2);
}

TEST_CASE("The pool survives a PostgreSQL restart", "[store][pool][restart]") {
  testing::PrivatePg pg("store_restart");
  std::unique_ptr<Pool> pool = MakePool(pg.url(), 2);
  REQUIRE(Migrate(*pool).ok());
  REQUIRE(AddDomain(*pool, "before.test").ok());
  // Two idle connections, both about to go stale.
  REQUIRE(pool->Transact([](pqxx::work& txn) { txn.exec("SELECT 1"); }).ok());

  pg.Restart();
  // The idle connections died with the server: Acquire sees that and opens a fresh one, so
  // no statement runs on a dead connection (libpqxx 6.4 would leak its error result).
  absl::StatusOr<long long> after = AddDomain(*pool, "after.test");
  INFO(after.status().ToString());
  CHECK(after.ok());
  CHECK(Count(*pool, "domains") == 2);

  // While the server is down callers get Unavailable naming host:port, never an exception.
  pg.Stop();
  absl::StatusOr<long long> down = AddDomain(*pool, "down.test");
  CHECK(absl::IsUnavailable(down.status()));
  CHECK_THAT(std::string(down.status().message()), Catch::Contains("127.0.0.1:" + std::to_string(pg.port())));

  // And recovers as soon as it is back, with no new Pool.
  pg.Start();
  CHECK(AddDomain(*pool, "back.test").ok());
  CHECK(Count(*pool, "domains") == 3);

  // A crash (immediate shutdown, crash recovery on start) is survived the same way.
  pg.Crash();
  pg.Start();
  CHECK(AddDomain(*pool, "recovered.test").ok());
}

}  // namespace
}  // namespace kite::store
