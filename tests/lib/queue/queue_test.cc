// The durable queue and final delivery against a real PostgreSQL and Redis: a spooled
// message reaches the stream, is delivered exactly once however often its entry comes
// back, and the reconciler re-enqueues what Redis lost.
#include <catch2/catch.hpp>

#include "fixtures/deliver_from_spool.h"
#include "fixtures/test_env.h"
#include "lib/directory/directory.h"
#include "lib/mailstore/pg_mail_store.h"
#include "lib/password/password.h"
#include "lib/queue/queue.h"
#include "lib/redis/client.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"

namespace {

struct Env {
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<kite::redis::Client> redis;
  int64_t account = 0;
  std::string stream_suffix;
};

Env Setup() {
  Env e;
  auto pool = kite::store::Pool::Create({.url = kite::testing::FreshDatabase("queue"), .pool_size = 2});
  REQUIRE(pool.ok());
  e.pool = std::move(*pool);
  REQUIRE(kite::store::Migrate(*e.pool).ok());
  REQUIRE(kite::directory::CreateDomain(*e.pool, "Example.TEST").ok());
  auto id = kite::directory::CreateAccount(*e.pool, "Demo@example.test", "Demo", "!", 0);
  REQUIRE(id.ok());
  e.account = *id;
  auto redis = kite::redis::Client::Connect({.port = kite::testing::RedisPort()});
  REQUIRE(redis.ok());
  e.redis = std::move(*redis);
  // Each test works on a fresh stream state.
  REQUIRE(e.redis->Command({"DEL", kite::queue::kDeliverStream}).ok());
  return e;
}

kite::queue::Envelope Envelope(int64_t account) {
  return {"sender@remote.example", "client.test", "127.0.0.1", "", "mta", {{"demo@example.test", true, account}}};
}

}  // namespace

TEST_CASE("A spooled message is delivered to INBOX exactly once however often its entry comes back",
          "[queue][mailstore][integration]") {
  Env e = Setup();
  std::string body = "Subject: hi\r\n\r\nhello\r\n";
  auto spool_id = kite::queue::Spool(*e.pool, Envelope(e.account), body);
  REQUIRE(spool_id.ok());
  REQUIRE(kite::queue::Enqueue(*e.redis, *e.pool, *spool_id, Envelope(e.account).recipients).ok());
  CHECK(*e.redis->XLen(kite::queue::kDeliverStream) == 1);

  auto first = kite::testing::DeliverFromSpool(*e.pool, *spool_id, "demo@example.test", e.account);
  REQUIRE(first.ok());
  CHECK_FALSE(first->duplicate);
  CHECK(first->uid == 1);
  auto again = kite::testing::DeliverFromSpool(*e.pool, *spool_id, "demo@example.test", e.account);
  REQUIRE(again.ok());
  CHECK(again->duplicate);

  kite::mailstore::PgMailStore mail(*e.pool);
  auto inbox = mail.FindMailbox(e.account, "INBOX");
  REQUIRE(inbox.ok());
  REQUIRE(inbox->has_value());
  CHECK((*inbox)->uidnext == 2);
  auto got = mail.LoadMessages(e.account, (*inbox)->id, {1}, /*body=*/true, /*structure=*/false);
  REQUIRE(got.ok());
  REQUIRE(got->size() == 1);
  CHECK(got->front().body == body);
}

TEST_CASE("Two recipients of one message share one stored body", "[queue][mailstore][integration]") {
  Env e = Setup();
  auto other = kite::directory::CreateAccount(*e.pool, "other@example.test", "", "!", 0);
  REQUIRE(other.ok());
  auto env = Envelope(e.account);
  env.recipients.push_back({"other@example.test", true, *other});
  auto spool_id = kite::queue::Spool(*e.pool, env, "Subject: shared\r\n\r\nbody\r\n");
  REQUIRE(spool_id.ok());
  REQUIRE(kite::testing::DeliverFromSpool(*e.pool, *spool_id, "demo@example.test", e.account).ok());
  REQUIRE(kite::testing::DeliverFromSpool(*e.pool, *spool_id, "other@example.test", *other).ok());
  auto counts = e.pool->Transact([](pqxx::work& tx) {
    return std::make_pair(tx.exec("SELECT count(*) FROM messages")[0][0].as<int>(),
                          tx.exec("SELECT count(*) FROM spool")[0][0].as<int>());
  });
  REQUIRE(counts.ok());
  CHECK(counts->first == 1);   // one body
  CHECK(counts->second == 0);  // spool row gone once every recipient is done
}

TEST_CASE("The reconciler re-enqueues what Redis lost, and only what is due and not in flight",
          "[queue][integration]") {
  Env e = Setup();
  auto spool_id = kite::queue::Spool(*e.pool, Envelope(e.account), "Subject: x\r\n\r\ny\r\n");
  REQUIRE(spool_id.ok());
  // Never enqueued (Redis was down at DATA): picked up.
  auto n = kite::queue::Reconcile(*e.pool, *e.redis, "local", std::chrono::minutes(5), 100);
  REQUIRE(n.ok());
  CHECK(*n == 1);
  // Enqueued a moment ago: in flight, left alone.
  n = kite::queue::Reconcile(*e.pool, *e.redis, "local", std::chrono::minutes(5), 100);
  REQUIRE(n.ok());
  CHECK(*n == 0);
  // Redis restarted empty: after the stale period the entry comes back.
  REQUIRE(e.redis->Command({"DEL", kite::queue::kDeliverStream}).ok());
  n = kite::queue::Reconcile(*e.pool, *e.redis, "local", std::chrono::milliseconds(0), 100);
  REQUIRE(n.ok());
  CHECK(*n == 1);
  CHECK(*e.redis->XLen(kite::queue::kDeliverStream) == 1);
  // Remote recipients belong to the outbound reconciler.
  n = kite::queue::Reconcile(*e.pool, *e.redis, "remote", std::chrono::milliseconds(0), 100);
  REQUIRE(n.ok());
  CHECK(*n == 0);
}

TEST_CASE("DSN parameters are spooled, and Enqueue never hides a retry a quick consumer scheduled",
          "[queue][integration]") {
  Env e = Setup();
  kite::queue::Envelope env = Envelope(e.account);
  env.dsn_ret = "HDRS";
  env.dsn_envid = "env 1";
  env.recipients[0].notify = "FAILURE,DELAY";
  env.recipients[0].orcpt = "rfc822;Demo@Example.test";
  auto spool_id = kite::queue::Spool(*e.pool, env, "Subject: x\r\n\r\ny\r\n");
  REQUIRE(spool_id.ok());
  auto stored = e.pool->Transact([&](pqxx::work& tx) {
    auto r = tx.exec_params(
        "SELECT s.dsn_ret, s.dsn_envid, r.dsn_notify, r.dsn_orcpt FROM spool s JOIN spool_recipients r "
        "ON r.spool_id = s.id WHERE s.id = $1",
        *spool_id);
    return r[0][0].as<std::string>() + "|" + r[0][1].as<std::string>() + "|" + r[0][2].as<std::string>() + "|" +
           r[0][3].as<std::string>();
  });
  REQUIRE(stored.ok());
  CHECK(*stored == "HDRS|env 1|FAILURE,DELAY|rfc822;Demo@Example.test");
  // The consumer took the entry and deferred the recipient before Enqueue recorded
  // enqueued_at: the reconciler must still see the retry when it is due.
  REQUIRE(e.pool->Transact([&](pqxx::work& tx) {
    tx.exec_params("UPDATE spool_recipients SET state = 'deferred', next_attempt_at = now() + interval '1 hour', "
                   "enqueued_at = NULL WHERE spool_id = $1", *spool_id);
  }).ok());
  REQUIRE(kite::queue::Enqueue(*e.redis, *e.pool, *spool_id, env.recipients).ok());
  auto enqueued_null = e.pool->Transact([&](pqxx::work& tx) {
    return tx.exec_params("SELECT enqueued_at IS NULL FROM spool_recipients WHERE spool_id = $1", *spool_id)[0][0]
        .as<bool>();
  });
  REQUIRE(enqueued_null.ok());
  CHECK(*enqueued_null);
}

TEST_CASE("Recipient resolution: accounts, sub-addresses, unknown local, remote", "[directory][integration]") {
  Env e = Setup();
  using kite::directory::RecipientKind;
  auto r = kite::directory::Resolve(*e.pool, "DEMO+lists@Example.Test");
  REQUIRE(r.ok());
  CHECK(r->kind == RecipientKind::kAccount);
  CHECK(r->canonical == "demo@example.test");
  CHECK(r->detail == "lists");
  CHECK(r->account_id == e.account);
  CHECK(kite::directory::Resolve(*e.pool, "nobody@example.test")->kind == RecipientKind::kUnknownLocal);
  CHECK(kite::directory::Resolve(*e.pool, "someone@remote.example")->kind == RecipientKind::kRemote);
  CHECK_FALSE(kite::directory::Resolve(*e.pool, "not-an-address").ok());
  // The default mailboxes exist with their special-use attributes.
  auto boxes = kite::mailstore::PgMailStore(*e.pool).ListMailboxes(e.account);
  REQUIRE(boxes.ok());
  CHECK(boxes->size() == 6);
  CHECK(kite::directory::CreateAccount(*e.pool, "demo@example.test", "", "!", 0).status().code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(kite::directory::CreateAccount(*e.pool, "x@nowhere.test", "", "!", 0).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("argon2id hashes verify, reject wrong passwords and tell when to rehash", "[password]") {
  kite::password::Argon2Params fast{.memory_kib = 1024, .iterations = 1, .parallelism = 1};
  auto h = kite::password::Hash("correct horse", fast);
  REQUIRE(h.ok());
  CHECK(h->rfind("$argon2id$v=19$m=1024,t=1,p=1$", 0) == 0);
  CHECK(kite::password::Verify(*h, "correct horse"));
  CHECK_FALSE(kite::password::Verify(*h, "correct horse "));
  CHECK_FALSE(kite::password::Verify("!", "anything"));
  CHECK_FALSE(kite::password::Verify("$argon2id$garbage", "anything"));
  CHECK_FALSE(kite::password::NeedsRehash(*h, fast));
  CHECK(kite::password::NeedsRehash(*h, {.memory_kib = 2048, .iterations = 1, .parallelism = 1}));
  CHECK_FALSE(kite::password::Hash(std::string(2000, 'x'), fast).ok());
}
