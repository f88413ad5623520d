// The mailbox notifier against a real Redis: the shared fixture for ordinary wake-ups, a
// private instance for restarts and killed connections. Account ids are random per test so
// tests (and other publishers on the fixture) never wake each other's watches.
#include "imap/notifier.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <functional>
#include <future>
#include <random>
#include <thread>

#include "fixtures/test_env.h"
#include "lib/redis/client.h"

namespace kite::imap {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kLong{20000};  // only there so a broken notifier cannot hang the suite

bool WaitFor(const std::function<bool()>& done, milliseconds limit = milliseconds(20000)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

int64_t RandomAccount() {
  static std::mt19937_64 random{std::random_device{}()};
  return static_cast<int64_t>(random() % 1000000000000LL) + 1000000;
}

// Sessions' executors: strands of an io_context run by two threads.
class Io {
 public:
  Io() {
    for (auto& t : threads_) t = std::thread([this] { io_.run(); });
  }
  ~Io() {
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
  }
  asio::any_io_executor Strand() { return asio::make_strand(io_); }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::thread threads_[2];
};

// Wait() started on the watch's own executor, as a session would.
std::future<WakeReason> StartWait(const std::shared_ptr<Watch>& watch, asio::any_io_executor ex, milliseconds timeout) {
  return asio::co_spawn(ex, watch->Wait(timeout), asio::use_future);
}

WakeReason WaitNow(const std::shared_ptr<Watch>& watch, asio::any_io_executor ex, milliseconds timeout) {
  std::future<WakeReason> f = StartWait(watch, ex, timeout);
  REQUIRE(f.wait_for(seconds(60)) == std::future_status::ready);
  return f.get();
}

redis::Options At(int port) {
  redis::Options o;
  o.port = port;
  o.timeout = milliseconds(2000);
  return o;
}

TEST_CASE("a watch wakes on a publish for its account and not for another", "[imap][notifier]") {
  Io io;
  Notifier notifier(At(testing::RedisPort()));
  notifier.Start();
  REQUIRE(WaitFor([&] { return notifier.subscribed(); }));
  int64_t mine = RandomAccount(), other = mine + 1;
  asio::any_io_executor ex = io.Strand(), ex2 = io.Strand();
  std::shared_ptr<Watch> watch = notifier.WatchAccount(mine, ex);
  std::shared_ptr<Watch> bystander = notifier.WatchAccount(other, ex2);
  CHECK(notifier.watches() == 2);

  std::future<WakeReason> waiting = StartWait(watch, ex, kLong);
  REQUIRE(notifier.Publish(mine, 42, "7").ok());
  REQUIRE(waiting.wait_for(seconds(60)) == std::future_status::ready);
  CHECK(waiting.get() == WakeReason::kNotified);
  // Publish wakes this process's watches at once; Redis brings the same message back later.
  REQUIRE(WaitFor([&] { return notifier.messages() >= 1; }));
  MailboxChanges changes = watch->TakeChanges();
  CHECK_FALSE(changes.all);
  CHECK(changes.mailboxes == std::vector<int64_t>{42});
  CHECK(changes.Includes(42));
  CHECK_FALSE(changes.Includes(43));
  CHECK(watch->TakeChanges().empty());

  // The other account's watch saw nothing.
  CHECK_FALSE(bystander->pending());
  CHECK(WaitNow(bystander, ex2, milliseconds(100)) == WakeReason::kTimeout);
  CHECK(bystander->TakeChanges().empty());

  // A raw PUBLISH as delivery sends it, and one without a mailbox id ("any mailbox").
  auto client = redis::Client::Connect(At(testing::RedisPort()));
  REQUIRE(client.ok());
  REQUIRE((*client)->Publish(Notifier::Channel(other), "9 1234").ok());
  CHECK(WaitNow(bystander, ex2, kLong) == WakeReason::kNotified);
  CHECK(bystander->TakeChanges().mailboxes == std::vector<int64_t>{9});
  REQUIRE((*client)->Publish(Notifier::Channel(other), "expunge").ok());
  CHECK(WaitNow(bystander, ex2, kLong) == WakeReason::kNotified);
  CHECK(bystander->TakeChanges().all);
  CHECK_FALSE(watch->pending());
}

TEST_CASE("a notification that arrived before Wait makes it return at once", "[imap][notifier]") {
  // A private Redis: messages() then counts only this test's notifications.
  testing::PrivateRedis redis("notifier_pending");
  Io io;
  Notifier notifier(At(redis.port()));
  notifier.Start();
  REQUIRE(WaitFor([&] { return notifier.subscribed(); }));
  int64_t account = 21;
  asio::any_io_executor ex = io.Strand();
  std::shared_ptr<Watch> watch = notifier.WatchAccount(account, ex);
  REQUIRE(notifier.Publish(account, 1, "new").ok());
  REQUIRE(notifier.Publish(account, 2, "new").ok());
  REQUIRE(notifier.Publish(account, 1, "flags").ok());
  REQUIRE(WaitFor([&] { return notifier.messages() == 3; }));
  CHECK(watch->pending());
  // Several notifications, one wake-up, at once; the mailboxes are all there, once each.
  CHECK(WaitNow(watch, ex, kLong) == WakeReason::kNotified);
  CHECK_FALSE(watch->pending());
  CHECK(WaitNow(watch, ex, milliseconds(50)) == WakeReason::kTimeout);
  CHECK(watch->TakeChanges().mailboxes == std::vector<int64_t>{1, 2});

  // TakeChanges (a NOOP looking at the mailboxes) consumes the pending notification too.
  REQUIRE(notifier.Publish(account, 3, "new").ok());
  REQUIRE(WaitFor([&] { return notifier.messages() == 4; }));
  CHECK(watch->pending());
  CHECK(watch->TakeChanges().mailboxes == std::vector<int64_t>{3});
  CHECK_FALSE(watch->pending());
  CHECK(WaitNow(watch, ex, milliseconds(50)) == WakeReason::kTimeout);
}

TEST_CASE("mailbox changes are gathered and capped", "[imap][notifier]") {
  // A private Redis: messages() then counts only this test's notifications.
  testing::PrivateRedis redis("notifier_cap");
  Io io;
  Notifier notifier(At(redis.port()));
  notifier.Start();
  REQUIRE(WaitFor([&] { return notifier.subscribed(); }));
  int64_t account = 11;
  asio::any_io_executor ex = io.Strand();
  std::shared_ptr<Watch> watch = notifier.WatchAccount(account, ex);
  REQUIRE(notifier.Publish(account, 5, "a").ok());
  REQUIRE(notifier.Publish(account, 6, "b").ok());
  REQUIRE(notifier.Publish(account, 5, "c").ok());
  REQUIRE(notifier.Publish(account + 1, 7, "someone else").ok());
  REQUIRE(WaitFor([&] { return notifier.messages() == 4; }));
  MailboxChanges got = watch->TakeChanges();
  CHECK_FALSE(got.all);
  CHECK(got.mailboxes == std::vector<int64_t>{5, 6});

  for (int64_t id = 100; id < 100 + static_cast<int64_t>(MailboxChanges::kMaxTracked) + 1; ++id) {
    REQUIRE(notifier.Publish(account, id, "x").ok());
  }
  REQUIRE(WaitFor([&] { return notifier.messages() == 4 + MailboxChanges::kMaxTracked + 1; }));
  got = watch->TakeChanges();
  CHECK(got.all);
  CHECK(got.mailboxes.empty());
  CHECK(got.Includes(12345));
  CHECK_FALSE(watch->pending());
}

TEST_CASE("Cancel wakes a waiting watch, and a timeout ends a quiet one", "[imap][notifier]") {
  Io io;
  Notifier notifier(At(testing::RedisPort()));
  notifier.Start();
  REQUIRE(WaitFor([&] { return notifier.subscribed(); }));
  asio::any_io_executor ex = io.Strand();
  std::shared_ptr<Watch> watch = notifier.WatchAccount(RandomAccount(), ex);

  CHECK(WaitNow(watch, ex, milliseconds(30)) == WakeReason::kTimeout);

  std::future<WakeReason> waiting = StartWait(watch, ex, seconds(600));
  std::this_thread::sleep_for(milliseconds(20));  // usually already waiting; either way works
  watch->Cancel();
  REQUIRE(waiting.wait_for(seconds(60)) == std::future_status::ready);
  CHECK(waiting.get() == WakeReason::kCancelled);
  // The cancellation was consumed; a Cancel before Wait makes the next Wait return at once.
  CHECK(WaitNow(watch, ex, milliseconds(30)) == WakeReason::kTimeout);
  watch->Cancel();
  CHECK(WaitNow(watch, ex, kLong) == WakeReason::kCancelled);
}

TEST_CASE("a watch works without a running notifier and unregisters when destroyed", "[imap][notifier]") {
  Io io;
  Notifier notifier(At(testing::RedisPort()));  // never started
  asio::any_io_executor ex = io.Strand();
  {
    std::shared_ptr<Watch> a = notifier.WatchAccount(7, ex);
    std::shared_ptr<Watch> b = notifier.WatchAccount(7, ex);
    std::shared_ptr<Watch> c = notifier.WatchAccount(8, ex);
    CHECK(notifier.watches() == 3);
    b.reset();
    CHECK(notifier.watches() == 2);
    a->Cancel();
    CHECK(WaitNow(a, ex, seconds(600)) == WakeReason::kCancelled);
  }
  CHECK(notifier.watches() == 0);
  // A watch may outlive its notifier.
  std::shared_ptr<Watch> orphan;
  {
    Notifier short_lived(At(testing::RedisPort()));
    orphan = short_lived.WatchAccount(9, ex);
  }
  CHECK(WaitNow(orphan, ex, milliseconds(10)) == WakeReason::kTimeout);
}

TEST_CASE("1000 watches on one account are all woken by one publish", "[imap][notifier]") {
  Io io;
  Notifier notifier(At(testing::RedisPort()));
  notifier.Start();
  REQUIRE(WaitFor([&] { return notifier.subscribed(); }));
  int64_t account = RandomAccount();
  std::vector<std::shared_ptr<Watch>> watches;
  std::vector<std::future<WakeReason>> waits;
  for (int i = 0; i < 1000; ++i) {
    asio::any_io_executor ex = io.Strand();
    watches.push_back(notifier.WatchAccount(account, ex));
    waits.push_back(StartWait(watches.back(), ex, kLong));
  }
  CHECK(notifier.watches() == 1000);
  REQUIRE(notifier.Publish(account, 3, "new").ok());
  int notified = 0;
  for (auto& w : waits) {
    REQUIRE(w.wait_for(seconds(60)) == std::future_status::ready);
    if (w.get() == WakeReason::kNotified) ++notified;
  }
  CHECK(notified == 1000);
  watches.clear();
  CHECK(notifier.watches() == 0);
}

TEST_CASE("after Redis restarts, every watch is woken and later publishes arrive", "[imap][notifier][restart]") {
  testing::PrivateRedis redis("notifier");
  Io io;
  Notifier notifier(At(redis.port()));
  notifier.Start();
  REQUIRE(WaitFor([&] { return notifier.subscribed(); }));
  REQUIRE(notifier.subscriptions() == 1);
  std::vector<std::shared_ptr<Watch>> watches;
  std::vector<asio::any_io_executor> executors;
  for (int i = 0; i < 100; ++i) {
    executors.push_back(io.Strand());
    watches.push_back(notifier.WatchAccount(1000 + i % 10, executors.back()));
  }
  std::vector<std::future<WakeReason>> waits;
  for (size_t i = 0; i < watches.size(); ++i) waits.push_back(StartWait(watches[i], executors[i], seconds(120)));

  redis.Restart();
  for (auto& w : waits) {
    REQUIRE(w.wait_for(seconds(60)) == std::future_status::ready);
    CHECK(w.get() == WakeReason::kNotified);
  }
  CHECK(notifier.subscriptions() >= 2);
  for (auto& w : watches) CHECK(w->TakeChanges().all);

  // The new subscription delivers.
  REQUIRE(WaitFor([&] { return notifier.subscribed(); }));
  absl::Status published = notifier.Publish(1003, 77, "new");  // its client reconnects by itself
  INFO(published.ToString());
  REQUIRE(published.ok());
  for (size_t i = 0; i < watches.size(); ++i) {
    if (watches[i]->account_id() != 1003) continue;
    CHECK(WaitNow(watches[i], executors[i], kLong) == WakeReason::kNotified);
    CHECK(watches[i]->TakeChanges().mailboxes == std::vector<int64_t>{77});
  }
}

TEST_CASE("a killed subscriber connection is re-established and wakes its watches", "[imap][notifier][restart]") {
  testing::PrivateRedis redis("notifier_kill");
  Io io;
  Notifier notifier(At(redis.port()));
  notifier.Start();
  REQUIRE(WaitFor([&] { return notifier.subscribed(); }));
  asio::any_io_executor ex = io.Strand();
  std::shared_ptr<Watch> watch = notifier.WatchAccount(5, ex);
  std::future<WakeReason> waiting = StartWait(watch, ex, seconds(120));

  auto admin = redis::Client::Connect(At(redis.port()));
  REQUIRE(admin.ok());
  absl::StatusOr<redis::Reply> killed = (*admin)->Command({"CLIENT", "KILL", "TYPE", "pubsub"});
  REQUIRE(killed.ok());
  CHECK(killed->integer == 1);
  REQUIRE(waiting.wait_for(seconds(60)) == std::future_status::ready);
  CHECK(waiting.get() == WakeReason::kNotified);
  CHECK(watch->TakeChanges().all);
  REQUIRE(WaitFor([&] { return notifier.subscriptions() >= 2 && notifier.subscribed(); }));
  REQUIRE(notifier.Publish(5, 1, "new").ok());
  CHECK(WaitNow(watch, ex, kLong) == WakeReason::kNotified);
  CHECK(watch->TakeChanges().mailboxes == std::vector<int64_t>{1});
}

TEST_CASE("Stop returns promptly while Redis is down, and Start works again", "[imap][notifier]") {
  Notifier notifier(At(1));  // nothing listens on port 1: connects fail, backoff grows
  notifier.Start();
  std::this_thread::sleep_for(milliseconds(50));
  CHECK_FALSE(notifier.subscribed());
  notifier.Stop();
  notifier.Stop();  // twice is fine
  CHECK(notifier.subscriptions() == 0);
  CHECK_FALSE(notifier.Publish(1, 1, "x").ok());
}

}  // namespace
}  // namespace kite::imap
