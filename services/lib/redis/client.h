// client.h — a small synchronous Redis client (hiredis 0.14) for Kite's queue streams,
// notifications and caches.
//
// Promises:
//  - Binary safe: every argument is sent with its length (redisCommandArgv), never
//    formatted into a command string, so message data and addresses cannot inject commands.
//  - Transparent reconnection. Before each command the socket is checked for a close by the
//    server (e.g. Redis restarted) and reopened, so a restart costs nothing for any command.
//    If the connection breaks DURING a command, the command is retried once on a new
//    connection only when repeating it is harmless. Retried: reads (GET, XLEN, XRANGE,
//    XPENDING, PING, ...), XREADGROUP (an entry delivered on the lost connection stays
//    pending and is reclaimed with XAUTOCLAIM), XACK, XAUTOCLAIM, XCLAIM, XGROUP, SET, DEL,
//    EXPIRE, HSET, SADD, SREM, ZADD, ZREM. NOT retried (Unavailable is returned; the caller
//    decides): XADD (would duplicate the entry), PUBLISH, INCR/INCRBY/DECR, LPUSH/RPUSH,
//    EVAL, and any command not in the list.
//  - Transport failures are absl::Status (Unavailable, DeadlineExceeded); an error reply
//    from Redis is returned by Command() as Reply::kError and by the typed helpers as a
//    Status carrying Redis's message.
//  - Every read has a deadline: Options::timeout, plus the BLOCK time for XREADGROUP.
// NOT thread-safe: use one Client per thread or strand, or guard it with a mutex.
// Input handled: replies from the Redis server (trusted peer, parsed by hiredis).
#ifndef KITE_SERVICES_LIB_REDIS_CLIENT_H_
#define KITE_SERVICES_LIB_REDIS_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct redisContext;

namespace kite::redis {

struct Options {
  std::string host = "127.0.0.1";
  int port = 6379;
  // AUTH after every (re)connect when a password is set: "AUTH user password" (a Redis 6+
  // ACL user) when `user` is set too, else "AUTH password" (the default user).
  std::string user;
  std::string password;
  // Connect timeout and per-command read/write deadline.
  std::chrono::milliseconds timeout{2000};
};

struct Reply {
  enum Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<Reply> elements;  // kArray

  bool is_nil() const { return type == kNil; }
  bool is_error() const { return type == kError; }
};

struct StreamEntry {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;
  // The value of the first field named key; "" when absent.
  std::string Get(std::string_view key) const;
};

class Client {
 public:
  // Connects (and authenticates) now: Unavailable("cannot connect to Redis at host:port: ...").
  static absl::StatusOr<std::unique_ptr<Client>> Connect(Options options);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  // Any command. An error reply is a Reply of type kError, not a non-OK status.
  absl::StatusOr<Reply> Command(const std::vector<std::string>& argv);

  // XADD stream [MAXLEN ~ maxlen_approx] * field value ... -> the new entry id. Not retried
  // after a connection broke mid-command (see above).
  absl::StatusOr<std::string> XAdd(std::string_view stream,
                                   const std::vector<std::pair<std::string, std::string>>& fields,
                                   long long maxlen_approx = 0);

  // XGROUP CREATE stream group 0 MKSTREAM: from id 0, so entries added before the group
  // existed are still delivered. An existing group (BUSYGROUP) is fine.
  absl::Status EnsureGroup(std::string_view stream, std::string_view group);

  // XREADGROUP GROUP group consumer COUNT count [BLOCK ms] STREAMS stream id.
  // block 0 = return at once (NOT Redis's "block forever"). An empty vector on timeout.
  // id ">" = new entries; "0" = this consumer's pending entries (deleted ones are skipped).
  // When the group is gone (NOGROUP: Redis restarted without persistence, stream deleted)
  // the group is recreated and an empty vector returned: the spool reconciler re-enqueues.
  absl::StatusOr<std::vector<StreamEntry>> XReadGroup(std::string_view group, std::string_view consumer,
                                                      std::string_view stream, int count,
                                                      std::chrono::milliseconds block, std::string_view id = ">");

  absl::Status XAck(std::string_view stream, std::string_view group, const std::vector<std::string>& ids);

  struct AutoClaim {
    std::string next_id;  // "0-0" when the scan is complete
    std::vector<StreamEntry> entries;
  };
  // XAUTOCLAIM stream group consumer min_idle start COUNT count: takes over entries that
  // other consumers left pending for at least min_idle. Entries deleted from the stream are
  // skipped (Redis drops them from the pending list).
  absl::StatusOr<AutoClaim> XAutoClaim(std::string_view stream, std::string_view group, std::string_view consumer,
                                       std::chrono::milliseconds min_idle, std::string_view start, int count);

  // PUBLISH; not retried. Subscribers are notified at most once.
  absl::Status Publish(std::string_view channel, std::string_view message);

  absl::StatusOr<long long> XLen(std::string_view stream);

  absl::Status Ping();

  const Options& options() const { return options_; }
  // Successful reconnects so far (tests, metrics).
  int reconnects() const { return reconnects_; }

 private:
  explicit Client(Options options) : options_(std::move(options)) {}
  absl::Status Reconnect();
  void Disconnect();
  bool PeerClosed() const;
  // One attempt on the current connection; on a transport error the connection is dropped
  // and `*transport_error` set.
  absl::StatusOr<Reply> RunOnce(const std::vector<std::string>& argv, std::chrono::milliseconds extra_timeout,
                                bool* transport_error);
  absl::StatusOr<Reply> Run(const std::vector<std::string>& argv, bool idempotent,
                            std::chrono::milliseconds extra_timeout = std::chrono::milliseconds(0));
  std::string Address() const;

  Options options_;
  redisContext* context_ = nullptr;
  int reconnects_ = 0;
};

// True for commands that Client retries once after a connection broke mid-command.
bool IsRetrySafe(std::string_view command);

}  // namespace kite::redis

#endif  // KITE_SERVICES_LIB_REDIS_CLIENT_H_
