// The iMIP outbox against a real PostgreSQL: RecordItipTx is idempotent, replicas claim
// disjoint rows (FOR UPDATE SKIP LOCKED + lease), and ItipForwarder hands rows to a real
// kite-caldav SchedulingService over gRPC (in-process server on a free loopback port):
// deleted after an answer, kept with backoff while kite-caldav is unreachable or does not
// implement the service, dropped after the lifetime.
#include "delivery/itip_outbox.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <thread>

#include "caldav/scheduling_service.h"
#include "fixtures/test_env.h"
#include "lib/directory/directory.h"
#include "lib/rpc/rpc.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"

namespace {

using kite::delivery::ItipForwarder;
using kite::delivery::ItipPart;

std::string Crlf(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

std::string Request(const std::string& uid) {
  return Crlf("BEGIN:VCALENDAR\nPRODID:-//Test//EN\nVERSION:2.0\nMETHOD:REQUEST\nBEGIN:VEVENT\nUID:" + uid +
              "\nDTSTAMP:20261120T090000Z\nDTSTART:20261201T090000Z\nDTEND:20261201T100000Z\nSUMMARY:Sync\n"
              "ORGANIZER:mailto:olga@client.test\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:demo@example.test\n"
              "END:VEVENT\nEND:VCALENDAR\n");
}

struct Env {
  std::unique_ptr<kite::store::Pool> pool;
  int64_t demo = 0;
  int64_t other = 0;

  Env() {
    auto p = kite::store::Pool::Create({.url = kite::testing::FreshDatabase("itip_outbox"), .pool_size = 4});
    REQUIRE(p.ok());
    pool = std::move(*p);
    REQUIRE(kite::store::Migrate(*pool).ok());
    REQUIRE(kite::directory::CreateDomain(*pool, "example.test").ok());
    demo = kite::directory::CreateAccount(*pool, "demo@example.test", "Demo", "!", 0).value();
    other = kite::directory::CreateAccount(*pool, "other@example.test", "Other", "!", 0).value();
  }

  int Record(int64_t account, int64_t spool, const std::string& recipient, const std::vector<ItipPart>& parts) {
    auto n = pool->Transact([&](pqxx::work& tx) {
      return kite::delivery::RecordItipTx(tx, account, spool, recipient, "Olga@Client.test", parts);
    });
    REQUIRE(n.ok());
    return *n;
  }
  std::string Scalar(const std::string& sql) {
    auto r = pool->Transact([&](pqxx::work& tx) {
      auto row = tx.exec1(sql);
      return row[0].is_null() ? std::string("NULL") : row[0].as<std::string>();
    });
    INFO(sql);
    REQUIRE(r.ok());
    return *r;
  }
  int64_t Count(const std::string& sql) { return std::stoll(Scalar(sql)); }
  void Exec(const std::string& sql) { REQUIRE(pool->Transact([&](pqxx::work& tx) { tx.exec0(sql); }).ok()); }
};

double CounterValue(prometheus::Registry& registry, const std::string& outcome) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "kite_delivery_itip_forwarded_total") continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "outcome" && l.value == outcome) return m.counter.value;
      }
    }
  }
  return -1;
}

// A Scheduling server in-process: the real kite-caldav service, or none (UNIMPLEMENTED).
struct Caldav {
  prometheus::Registry registry;
  std::unique_ptr<kite::caldav::SchedulingService> svc;
  std::unique_ptr<kite::rpc::Server> server;
  std::string address;

  Caldav(kite::store::Pool* pool) {
    std::vector<grpc::Service*> services;
    if (pool != nullptr) {
      svc = std::make_unique<kite::caldav::SchedulingService>(*pool, registry);
      services.push_back(svc.get());
    }
    auto s = kite::rpc::Server::Start("127.0.0.1:0", services, {});
    REQUIRE(s.ok());
    server = std::move(*s);
    server->SetServing(true);
    address = "127.0.0.1:" + std::to_string(server->port());
  }
  ~Caldav() { server->Shutdown(std::chrono::milliseconds(200)); }
};

// A loopback port nothing listens on.
std::string DeadAddress() {
  auto s = kite::rpc::Server::Start("127.0.0.1:0", {}, {});
  REQUIRE(s.ok());
  int port = (*s)->port();
  (*s)->Shutdown(std::chrono::milliseconds(0));
  return "127.0.0.1:" + std::to_string(port);
}

ItipForwarder::Options FastOptions() {
  ItipForwarder::Options o;
  o.poll_interval = std::chrono::milliseconds(50);
  o.rpc_timeout = std::chrono::milliseconds(3000);
  return o;
}

TEST_CASE("RecordItipTx adds each part once, a redelivered entry adds nothing", "[itip][delivery]") {
  Env e;
  std::vector<ItipPart> parts = {{"REQUEST", Request("a@test")}, {"CANCEL", "BEGIN:VCALENDAR..."}};
  CHECK(e.Record(e.demo, 7, "Demo@Example.test", parts) == 2);
  CHECK(e.Record(e.demo, 7, "demo@example.test", parts) == 0);
  CHECK(e.Record(e.demo, 7, "demo@example.test", {}) == 0);
  CHECK(e.Count("SELECT count(*) FROM itip_outbox") == 2);
  CHECK(e.Scalar("SELECT string_agg(part || method || recipient || sender, ' ' ORDER BY part) FROM itip_outbox") ==
        "0REQUESTdemo@example.testolga@client.test 1CANCELdemo@example.testolga@client.test");
  CHECK(e.Scalar("SELECT convert_from(icalendar, 'UTF8') FROM itip_outbox WHERE part = 0") == Request("a@test"));
  // Another recipient of the same message is its own row.
  CHECK(e.Record(e.other, 7, "other@example.test", {parts[0]}) == 1);
  // Rolled back with the caller's transaction.
  auto st = e.pool->Transact([&](pqxx::work& tx) -> absl::Status {
    kite::delivery::RecordItipTx(tx, e.demo, 8, "demo@example.test", "", parts);
    return absl::AbortedError("mailbox store failed");
  });
  CHECK(absl::IsAborted(st));
  CHECK(e.Count("SELECT count(*) FROM itip_outbox WHERE spool_id = 8") == 0);
}

TEST_CASE("Replicas claim disjoint rows: leased rows and rows locked elsewhere are skipped", "[itip][delivery]") {
  Env e;
  for (int spool = 1; spool <= 5; ++spool) e.Record(e.demo, spool, "demo@example.test", {{"REQUEST", Request("u")}});
  auto lease = std::chrono::milliseconds(60000);
  auto life = std::chrono::milliseconds(3600000);

  // Another replica holds spool 1's row locked in an open transaction.
  auto lease_conn = e.pool->Acquire();
  REQUIRE(lease_conn.ok());
  pqxx::work other(lease_conn->connection());
  REQUIRE(other.exec("SELECT 1 FROM itip_outbox WHERE spool_id = 1 FOR UPDATE").size() == 1);

  auto first = kite::delivery::ClaimItipRows(*e.pool, 2, lease, life);
  REQUIRE(first.ok());
  REQUIRE(first->size() == 2);
  auto second = kite::delivery::ClaimItipRows(*e.pool, 10, lease, life);
  REQUIRE(second.ok());
  CHECK(second->size() == 2);  // 5 rows - 1 locked - 2 leased
  std::set<int64_t> seen;
  for (const auto* batch : {&*first, &*second}) {
    for (const auto& row : *batch) {
      CHECK(row.spool_id != 1);
      CHECK(row.attempts == 1);
      CHECK_FALSE(row.expired);
      CHECK(row.icalendar == Request("u"));
      CHECK(row.sender == "olga@client.test");
      seen.insert(row.spool_id);
    }
  }
  CHECK(seen.size() == 4);
  other.abort();
  auto third = kite::delivery::ClaimItipRows(*e.pool, 10, lease, life);
  REQUIRE(third.ok());
  REQUIRE(third->size() == 1);
  CHECK((*third)[0].spool_id == 1);
  CHECK(kite::delivery::ClaimItipRows(*e.pool, 10, lease, life)->empty());
}

TEST_CASE("The forwarder hands rows to kite-caldav and deletes them, a repeat is DUPLICATE", "[itip][delivery]") {
  Env e;
  Caldav caldav(e.pool.get());
  prometheus::Registry registry;
  ItipForwarder fwd(*e.pool, kite::rpc::MakeChannel(caldav.address, {}), FastOptions(), registry);
  e.Record(e.demo, 42, "demo@example.test", {{"REQUEST", Request("fwd@test")}});
  auto n = fwd.RunOnce();
  REQUIRE(n.ok());
  CHECK(*n == 1);
  CHECK(e.Count("SELECT count(*) FROM itip_outbox") == 0);
  CHECK(e.Count("SELECT count(*) FROM calendar_objects o JOIN calendars c ON c.account_id = o.account_id AND "
                "c.id = o.calendar_id WHERE c.kind = 'inbox' AND o.uid = 'fwd@test' AND o.account_id = " +
                std::to_string(e.demo)) == 1);
  CHECK(e.Scalar("SELECT outcome FROM itip_received WHERE spool_id = 42") == "applied");
  CHECK(CounterValue(registry, "applied") == 1);

  // A forwarder killed after kite-caldav applied the row but before its DELETE: the row
  // comes back and is answered DUPLICATE.
  e.Record(e.demo, 42, "demo@example.test", {{"REQUEST", Request("fwd@test")}});
  REQUIRE(fwd.RunOnce().ok());
  CHECK(e.Count("SELECT count(*) FROM itip_outbox") == 0);
  CHECK(CounterValue(registry, "duplicate") == 1);
  CHECK(e.Count("SELECT count(*) FROM calendar_objects") == 1);

  // An object kite-caldav cannot parse is answered INVALID and not retried.
  e.Record(e.demo, 43, "demo@example.test", {{"REQUEST", "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\n"}});
  REQUIRE(fwd.RunOnce().ok());
  CHECK(e.Count("SELECT count(*) FROM itip_outbox") == 0);
  CHECK(CounterValue(registry, "invalid") == 1);
}

TEST_CASE("kite-caldav unreachable or without the service: the row stays and backs off, expired rows are dropped",
          "[itip][delivery]") {
  Env e;
  prometheus::Registry registry;
  e.Record(e.demo, 50, "demo@example.test", {{"REQUEST", Request("r@test")}});

  SECTION("unreachable") {
    ItipForwarder fwd(*e.pool, kite::rpc::MakeChannel(DeadAddress(), {}), FastOptions(), registry);
    REQUIRE(fwd.RunOnce().ok());
    CHECK(e.Scalar("SELECT attempts || ' ' || (next_attempt_at > now()) || ' ' || (last_error IS NOT NULL) "
                   "FROM itip_outbox") == "1 true true");
    CHECK(CounterValue(registry, "retry") == 1);
    // Not due yet: nothing claimed.
    CHECK(*fwd.RunOnce() == 0);
    // Due again: a second attempt, backing off further.
    e.Exec("UPDATE itip_outbox SET next_attempt_at = now() - interval '1 second'");
    REQUIRE(*fwd.RunOnce() == 1);
    CHECK(e.Scalar("SELECT attempts || ' ' || (next_attempt_at > now() + interval '15 seconds') FROM itip_outbox") ==
          "2 true");
    // Past the lifetime: dropped with an error.
    e.Exec("UPDATE itip_outbox SET next_attempt_at = now() - interval '1 second', "
           "created_at = now() - interval '6 days'");
    REQUIRE(*fwd.RunOnce() == 1);
    CHECK(e.Count("SELECT count(*) FROM itip_outbox") == 0);
    CHECK(CounterValue(registry, "expired") == 1);
  }
  SECTION("UNIMPLEMENTED (a kite-caldav without the Scheduling service)") {
    Caldav bare(nullptr);
    ItipForwarder fwd(*e.pool, kite::rpc::MakeChannel(bare.address, {}), FastOptions(), registry);
    REQUIRE(fwd.RunOnce().ok());
    CHECK(e.Scalar("SELECT attempts || ' ' || (last_error LIKE 'gRPC 12:%') FROM itip_outbox") == "1 true");
    CHECK(CounterValue(registry, "retry") == 1);
  }
}

TEST_CASE("The forwarder thread delivers rows recorded while it runs and stops cleanly", "[itip][delivery]") {
  Env e;
  Caldav caldav(e.pool.get());
  prometheus::Registry registry;
  ItipForwarder fwd(*e.pool, kite::rpc::MakeChannel(caldav.address, {}), FastOptions(), registry);
  fwd.Start();
  for (int spool = 100; spool < 120; ++spool) {
    e.Record(e.demo, spool, "demo@example.test", {{"REQUEST", Request("t" + std::to_string(spool) + "@test")}});
    fwd.Wake();
  }
  for (int i = 0; i < 600 && e.Count("SELECT count(*) FROM itip_outbox") > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  fwd.Stop();
  CHECK(e.Count("SELECT count(*) FROM itip_outbox") == 0);
  CHECK(e.Count("SELECT count(*) FROM itip_received WHERE outcome = 'applied'") == 20);
  CHECK(CounterValue(registry, "applied") == 20);
  fwd.Stop();  // twice is fine
}

}  // namespace
