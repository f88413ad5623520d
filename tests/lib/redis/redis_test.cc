// Integration tests of kite_redis against a real Redis: streams with consumer groups,
// claiming a crashed consumer's entries, and surviving a Redis restart.
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "fixtures/test_env.h"
#include "lib/redis/client.h"

namespace kite::redis {
namespace {

using std::chrono::milliseconds;

std::unique_ptr<Client> Connected(int port) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect({.port = port});
  INFO(client.status().ToString());
  REQUIRE(client.ok());
  return *std::move(client);
}

// Stream names unique per test so tests can share the fixture Redis in parallel.
std::string Stream(std::string_view tag) { return "{test}:" + testing::UniqueName(tag); }

TEST_CASE("Connect to a closed port fails with Unavailable naming the address", "[redis]") {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect({.port = 1, .timeout = milliseconds(500)});
  REQUIRE_FALSE(client.ok());
  CHECK(absl::IsUnavailable(client.status()));
  CHECK_THAT(std::string(client.status().message()), Catch::Contains("127.0.0.1:1"));
}

TEST_CASE("Command is binary safe and returns error replies as kError", "[redis]") {
  auto client = Connected(testing::RedisPort());
  std::string key = Stream("bin");
  std::string value("a\0b\r\nSET x y\r\n", 15);
  REQUIRE(client->Command({"SET", key, value}).value().str == "OK");
  absl::StatusOr<Reply> got = client->Command({"GET", key});
  REQUIRE(got.ok());
  CHECK(got->type == Reply::kString);
  CHECK(got->str == value);
  CHECK(client->Command({"GET", key + ":missing"}).value().is_nil());
  absl::StatusOr<Reply> error = client->Command({"NOSUCHCOMMAND"});
  REQUIRE(error.ok());
  CHECK(error->is_error());
  CHECK(client->Ping().ok());
}

TEST_CASE("Stream round trip: XADD, group, XREADGROUP, XACK", "[redis][stream]") {
  auto client = Connected(testing::RedisPort());
  std::string stream = Stream("deliver");
  // An entry added before the group exists is still delivered (group created at id 0).
  absl::StatusOr<std::string> early = client->XAdd(stream, {{"spool", "1"}, {"rcpt", "a@x.test"}});
  REQUIRE(early.ok());
  REQUIRE(client->EnsureGroup(stream, "delivery").ok());
  REQUIRE(client->EnsureGroup(stream, "delivery").ok());  // BUSYGROUP is fine
  REQUIRE(client->XAdd(stream, {{"spool", "2"}, {"rcpt", "b@x.test"}}, 1000).ok());
  CHECK(client->XLen(stream).value() == 2);

  absl::StatusOr<std::vector<StreamEntry>> entries = client->XReadGroup("delivery", "c1", stream, 10, milliseconds(0));
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 2);
  CHECK((*entries)[0].id == *early);
  CHECK((*entries)[0].Get("rcpt") == "a@x.test");
  CHECK((*entries)[1].Get("spool") == "2");
  CHECK((*entries)[1].Get("missing").empty());

  // Nothing new: an empty vector, after blocking for the requested time.
  absl::StatusOr<std::vector<StreamEntry>> none = client->XReadGroup("delivery", "c1", stream, 10, milliseconds(50));
  REQUIRE(none.ok());
  CHECK(none->empty());

  // Unacknowledged entries are this consumer's pending history (id "0").
  CHECK(client->XReadGroup("delivery", "c1", stream, 10, milliseconds(0), "0").value().size() == 2);
  REQUIRE(client->XAck(stream, "delivery", {(*entries)[0].id, (*entries)[1].id}).ok());
  CHECK(client->XReadGroup("delivery", "c1", stream, 10, milliseconds(0), "0").value().empty());
}

TEST_CASE("XREADGROUP BLOCK returns an entry added while it waits", "[redis][stream]") {
  int port = testing::RedisPort();
  auto reader = Connected(port);
  std::string stream = Stream("block");
  REQUIRE(reader->EnsureGroup(stream, "g").ok());
  std::thread writer([&] {
    auto w = Connected(port);
    std::this_thread::sleep_for(milliseconds(100));
    REQUIRE(w->XAdd(stream, {{"k", "v"}}).ok());
  });
  absl::StatusOr<std::vector<StreamEntry>> got = reader->XReadGroup("g", "c", stream, 1, milliseconds(5000));
  writer.join();
  REQUIRE(got.ok());
  REQUIRE(got->size() == 1);
  CHECK((*got)[0].Get("k") == "v");
}

TEST_CASE("XAUTOCLAIM takes over an entry another consumer left pending", "[redis][stream]") {
  auto client = Connected(testing::RedisPort());
  std::string stream = Stream("claim");
  REQUIRE(client->EnsureGroup(stream, "delivery").ok());
  std::string id = client->XAdd(stream, {{"spool", "42"}}).value();
  // "crashed" reads the entry and never acknowledges it.
  REQUIRE(client->XReadGroup("delivery", "crashed", stream, 1, milliseconds(0)).value().size() == 1);

  // Not idle long enough yet: nothing claimed.
  Client::AutoClaim fresh = client->XAutoClaim(stream, "delivery", "rescuer", milliseconds(60000), "0", 10).value();
  CHECK(fresh.entries.empty());

  std::this_thread::sleep_for(milliseconds(60));
  Client::AutoClaim claimed = client->XAutoClaim(stream, "delivery", "rescuer", milliseconds(50), "0", 10).value();
  REQUIRE(claimed.entries.size() == 1);
  CHECK(claimed.entries[0].id == id);
  CHECK(claimed.entries[0].Get("spool") == "42");
  CHECK(claimed.next_id == "0-0");
  // Now it is the rescuer's pending entry, no longer the crashed consumer's.
  CHECK(client->XReadGroup("delivery", "rescuer", stream, 10, milliseconds(0), "0").value().size() == 1);
  CHECK(client->XReadGroup("delivery", "crashed", stream, 10, milliseconds(0), "0").value().empty());
  REQUIRE(client->XAck(stream, "delivery", {id}).ok());
}

TEST_CASE("XREADGROUP recreates a vanished group (NOGROUP) and returns empty", "[redis][stream]") {
  auto client = Connected(testing::RedisPort());
  std::string stream = Stream("nogroup");
  REQUIRE(client->EnsureGroup(stream, "g").ok());
  REQUIRE(client->Command({"DEL", stream}).ok());  // stream and its groups are gone

  absl::StatusOr<std::vector<StreamEntry>> got = client->XReadGroup("g", "c", stream, 10, milliseconds(0));
  REQUIRE(got.ok());
  CHECK(got->empty());
  // The group exists again: new entries flow.
  REQUIRE(client->XAdd(stream, {{"k", "v"}}).ok());
  CHECK(client->XReadGroup("g", "c", stream, 10, milliseconds(0)).value().size() == 1);
}

TEST_CASE("Publish reaches a subscriber", "[redis]") {
  int port = testing::RedisPort();
  auto subscriber = Connected(port);
  auto publisher = Connected(port);
  std::string channel = Stream("chan");
  absl::StatusOr<Reply> subscribed = subscriber->Command({"SUBSCRIBE", channel});
  REQUIRE(subscribed.ok());
  REQUIRE(publisher->Publish(channel, "mailbox 7 changed").ok());
  // The pushed message is the next reply on the subscriber's connection.
  absl::StatusOr<Reply> message = subscriber->Command({"PING"});
  REQUIRE(message.ok());
  REQUIRE(message->type == Reply::kArray);
  REQUIRE(message->elements.size() == 3);
  CHECK(message->elements[0].str == "message");
  CHECK(message->elements[2].str == "mailbox 7 changed");
}

TEST_CASE("A client with a user authenticates as that ACL user (AUTH user password)", "[redis][acl]") {
  // An ACL user of its own on the shared fixture (whose default user has every right).
  auto admin = Connected(testing::RedisPort());
  std::string user = testing::UniqueName("kite_acl");
  std::string key = "{acl}:" + user;
  REQUIRE(admin->Command({"ACL", "SETUSER", user, "on", ">right-password-1", "~" + key + ":*", "resetchannels",
                          "+@all", "-@admin", "-@dangerous"})
              .value()
              .str == "OK");

  auto client = Client::Connect({.port = testing::RedisPort(), .user = user, .password = "right-password-1"});
  INFO(client.status().ToString());
  REQUIRE(client.ok());
  CHECK((*client)->Command({"ACL", "WHOAMI"}).value().str == user);
  CHECK((*client)->Command({"CONFIG", "GET", "port"}).value().is_error());  // @admin is not granted
  CHECK((*client)->Command({"SET", key + ":x", "1"}).value().str == "OK");
  absl::StatusOr<Reply> other = (*client)->Command({"SET", "{acl}:someone-else", "1"});
  REQUIRE(other.ok());
  CHECK(other->is_error());
  CHECK_THAT(other->str, Catch::Contains("NOPERM"));
  CHECK((*client)->Publish("kite:mbox:1", "x").code() != absl::StatusCode::kOk);  // no channel

  auto wrong = Client::Connect({.port = testing::RedisPort(), .user = user, .password = "wrong-password-2"});
  REQUIRE_FALSE(wrong.ok());
  CHECK(absl::IsPermissionDenied(wrong.status()));
  CHECK_THAT(std::string(wrong.status().message()), Catch::Contains("as user " + user));
  CHECK_THAT(std::string(wrong.status().message()), !Catch::Contains("wrong-password-2"));
  admin->Command({"ACL", "DELUSER", user}).IgnoreError();
}

TEST_CASE("The client reconnects after a Redis restart and recovers its group", "[redis][restart]") {
  testing::PrivateRedis server("redis_restart");
  auto client = Connected(server.port());
  std::string stream = "{kite}:deliver";
  REQUIRE(client->EnsureGroup(stream, "delivery").ok());
  REQUIRE(client->XAdd(stream, {{"spool", "1"}}).ok());

  server.Restart();  // no persistence: stream and group are gone

  // Reads reconnect transparently.
  CHECK(client->Ping().ok());
  CHECK(client->reconnects() >= 1);
  // The vanished group is recreated on the next read.
  absl::StatusOr<std::vector<StreamEntry>> empty = client->XReadGroup("delivery", "c", stream, 10, milliseconds(0));
  REQUIRE(empty.ok());
  CHECK(empty->empty());

  server.Restart();
  // Even XADD (never retried mid-command) succeeds: the closed socket is noticed before sending.
  absl::StatusOr<std::string> id = client->XAdd(stream, {{"spool", "2"}});
  INFO(id.status().ToString());
  CHECK(id.ok());

  // While Redis is down: Unavailable, no exception, no hang.
  server.Stop();
  absl::Status down = client->Ping();
  CHECK(absl::IsUnavailable(down));
  server.Start();
  CHECK(client->Ping().ok());
}

}  // namespace
}  // namespace kite::redis
