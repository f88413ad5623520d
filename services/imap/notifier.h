// Mailbox change notifications across kite-imap replicas, for IDLE and NOOP.
//
// What: whoever changes a mailbox (delivery, POP3, IMAP on any replica) publishes
// `PUBLISH kite:mbox:<account_id> "<mailbox_id> <anything>"`. One Notifier per process holds
// ONE dedicated Redis connection, subscribed with `PSUBSCRIBE kite:mbox:*` in its own thread,
// and wakes the sessions watching that account. Sessions then read the changes from
// PostgreSQL: a notification says only "look again", never what changed, so a lost or
// duplicated one costs a query, not correctness.
// Reconnects: when the connection drops (Redis restarted, CLIENT KILL, a silent peer caught by
// PING), it reconnects with backoff (100 ms doubling to 5 s), and after every successful
// subscription wakes EVERY watch with MailboxChanges::all, since notifications may have been
// missed meanwhile.
// Scale: a watch is a few hundred bytes (a timer and a mutex): 10 000 idle IMAP sessions cost
// no thread and no connection each. Watches are found through a hash map account_id -> watches.
// Untrusted input: none from clients. Channel names and messages come from Redis (trusted) and
// are parsed defensively: a message without a leading mailbox id wakes for every mailbox.
#ifndef KITE_SERVICES_IMAP_NOTIFIER_H_
#define KITE_SERVICES_IMAP_NOTIFIER_H_

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "lib/redis/client.h"

namespace kite::imap {

enum class WakeReason {
  kNotified,   // a notification for the account arrived (or the subscription was renewed)
  kCancelled,  // Cancel() was called
  kTimeout,    // the timeout passed
};

// The mailboxes named by the notifications gathered since the last TakeChanges().
struct MailboxChanges {
  // Up to this many distinct ids are kept; beyond, `all` is set instead.
  static constexpr size_t kMaxTracked = 32;
  bool all = false;                // any mailbox may have changed (reconnect, overflow, no id)
  std::vector<int64_t> mailboxes;  // distinct, in arrival order
  bool Includes(int64_t mailbox_id) const;
  bool empty() const { return !all && mailboxes.empty(); }
};

class Notifier;

// One session's interest in one account. Created by Notifier::WatchAccount; unregisters when
// destroyed. Wait() runs on the executor given at creation (the session's strand, which must
// not run handlers concurrently), one Wait at a time, and the watch must outlive a pending
// Wait (the session owns it and awaits Wait itself); Cancel(), TakeChanges() and pending() may
// be called from any thread.
class Watch : public std::enable_shared_from_this<Watch> {
 public:
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  // Completes with kNotified as soon as a notification for the account has arrived since the
  // last Wait returned kNotified (at once if one is pending), with kCancelled when Cancel() was
  // called since the last Wait returned kCancelled (also at once), else with kTimeout after
  // `timeout`. A cancellation is reported before a pending notification; the notification
  // stays pending for the next Wait. Each result consumes its own flag.
  boost::asio::awaitable<WakeReason> Wait(std::chrono::milliseconds timeout);

  // Wakes the pending Wait (or makes the next one return at once) with kCancelled, e.g. when
  // the IDLE reader saw DONE. Thread-safe.
  void Cancel();

  // Returns and clears the mailboxes named since the last call, and the pending notification
  // with them (the caller is about to look at those mailboxes, e.g. on NOOP), so the next
  // Wait waits for something newer. Thread-safe.
  MailboxChanges TakeChanges();

  // Whether a notification is waiting for Wait. Thread-safe.
  bool pending() const;

  int64_t account_id() const { return account_id_; }

 private:
  friend class Notifier;
  struct Registry;
  Watch(std::shared_ptr<Registry> registry, int64_t account_id, boost::asio::any_io_executor executor);
  // From the Redis thread, under the registry lock: records the change and wakes Wait through
  // the executor. mailbox_id < 0 means "any mailbox".
  void Notify(int64_t mailbox_id);
  void PostWake();  // mu_ held
  void OnWake();    // on the executor

  std::shared_ptr<Registry> registry_;
  const int64_t account_id_;
  boost::asio::any_io_executor executor_;
  boost::asio::steady_timer timer_;  // Wait's; cancelled to wake it
  mutable std::mutex mu_;            // guards the fields below
  bool pending_ = false;
  bool cancelled_ = false;
  bool wake_posted_ = false;  // one post at a time, however many notifications arrive
  MailboxChanges changes_;
};

class Notifier {
 public:
  // `redis` names the Redis server (host, port, password, timeout for connect and commands).
  explicit Notifier(redis::Options redis);
  ~Notifier();  // Stop()s
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Starts the subscriber thread (once). It connects in the background: a Redis that is down
  // at start delays notifications, never the daemon.
  void Start();
  // Stops and joins the thread; waits at most about one Redis timeout (a connect in progress).
  // Watches stay valid but are no longer woken by notifications.
  void Stop();

  // A watch on account_id whose Wait runs on `executor` (the session's strand).
  std::shared_ptr<Watch> WatchAccount(int64_t account_id, boost::asio::any_io_executor executor);

  // PUBLISH kite:mbox:<account_id> "<mailbox_id> <what>" on a separate ordinary connection
  // (connected on first use). This replica's watches are woken before it returns. Once
  // Start()ed, the PUBLISH itself is queued for a publisher thread and Publish returns at once
  // (OK): the command that changed the mailbox does not wait for Redis, and notifications
  // queued while one is sent go out together, repeats sent once. Not retried: a lost
  // notification costs the watchers only latency, since they resync on their next command or
  // timeout. Before Start() (and after Stop()) it is sent at once and its result returned;
  // then it blocks for a Redis round trip: call it through the worker pool (rt.Blocking).
  absl::Status Publish(int64_t account_id, int64_t mailbox_id, std::string_view what);

  static std::string Channel(int64_t account_id);  // "kite:mbox:<account_id>"

  // For tests and metrics.
  bool subscribed() const { return subscribed_.load(); }     // PSUBSCRIBE active now
  uint64_t subscriptions() const { return subscriptions_.load(); }  // successful so far
  uint64_t messages() const { return messages_.load(); }     // notifications received
  size_t watches() const;                                    // registered watches

 private:
  void Run();
  // One connection's life: connect, subscribe, dispatch until it fails or Stop().
  absl::Status Session();
  // from_redis: counted in messages(); a local dispatch (Publish) is not.
  void Dispatch(std::string_view channel, std::string_view message, bool from_redis = true);
  void WakeAll();
  // Sleeps up to d; false when Stop() was called.
  bool Sleep(std::chrono::milliseconds d);

  redis::Options options_;
  std::shared_ptr<Watch::Registry> registry_;
  std::thread thread_;
  std::mutex start_mu_;  // Start/Stop
  int stop_fd_ = -1;     // eventfd: Stop() wakes the thread's poll
  std::atomic<bool> stopping_{false};
  std::atomic<bool> subscribed_{false};
  std::atomic<uint64_t> subscriptions_{0};
  std::atomic<uint64_t> messages_{0};

  // The publisher thread: sends what Publish queued.
  void PublishLoop();
  absl::Status SendNow(const std::string& channel, const std::string& message);  // send_mu_ held

  std::mutex send_mu_;  // the publisher connection
  std::unique_ptr<redis::Client> publisher_;

  static constexpr size_t kMaxQueued = 10000;  // beyond: dropped (the watchers resync later)
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<std::pair<std::string, std::string>> queue_;  // channel, message
  bool queue_running_ = false;                               // the thread takes what is queued
  bool queue_stopping_ = false;
  std::thread publish_thread_;
};

}  // namespace kite::imap

#endif  // KITE_SERVICES_IMAP_NOTIFIER_H_
