#include "lib/redis/client.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kite::redis {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

Reply Convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    case REDIS_REPLY_NIL:
    default:
      out.type = Reply::kNil;
      break;
  }
  return out;
}

absl::Status ErrorReply(std::string_view what, const Reply& reply) {
  return absl::FailedPreconditionError(absl::StrCat(std::string(what), ": ", reply.str));
}

absl::Status Unexpected(std::string_view what, const Reply& reply) {
  return absl::InternalError(absl::StrCat("unexpected reply to ", std::string(what), " (type ", static_cast<int>(reply.type), ")"));
}

// [id, [field, value, ...]] -> entry; false when the entry was deleted ([id, nil] or nil).
bool ParseEntry(const Reply& r, StreamEntry* entry) {
  if (r.type != Reply::kArray || r.elements.size() < 2) return false;
  if (r.elements[0].type != Reply::kString) return false;
  const Reply& fields = r.elements[1];
  if (fields.type != Reply::kArray) return false;
  entry->id = r.elements[0].str;
  entry->fields.clear();
  for (size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
    entry->fields.emplace_back(fields.elements[i].str, fields.elements[i + 1].str);
  }
  return true;
}

std::vector<StreamEntry> ParseEntries(const Reply& r) {
  std::vector<StreamEntry> entries;
  if (r.type != Reply::kArray) return entries;
  for (const Reply& e : r.elements) {
    StreamEntry entry;
    if (ParseEntry(e, &entry)) entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace

std::string StreamEntry::Get(std::string_view key) const {
  for (const auto& [k, v] : fields) {
    if (k == key) return v;
  }
  return "";
}

bool IsRetrySafe(std::string_view command) {
  static constexpr std::string_view kSafe[] = {
      "PING",   "GET",     "MGET",  "EXISTS", "TTL",     "PTTL",     "TYPE",     "STRLEN", "HGET",
      "HMGET",  "HGETALL", "SMEMBERS", "SISMEMBER", "SCARD", "ZRANGE", "ZRANGEBYSCORE", "ZSCORE",
      "ZCARD",  "LRANGE",  "LLEN",  "XLEN",   "XRANGE",  "XREVRANGE", "XPENDING", "XINFO", "XREAD",
      "XREADGROUP", "XACK", "XAUTOCLAIM", "XCLAIM", "XGROUP", "XDEL", "XTRIM", "SET", "DEL", "UNLINK",
      "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST", "HSET", "HDEL", "SADD", "SREM", "ZADD",
      "ZREM", "ZREMRANGEBYSCORE", "AUTH", "SELECT", "INFO", "DBSIZE", "SCAN", "KEYS",
  };
  std::string upper = absl::AsciiStrToUpper(std::string(command));
  for (std::string_view safe : kSafe) {
    if (upper == safe) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(Options options) {
  if (options.port <= 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("invalid Redis port ", options.port));
  }
  std::unique_ptr<Client> client(new Client(std::move(options)));
  if (absl::Status status = client->Reconnect(); !status.ok()) return status;
  client->reconnects_ = 0;
  return client;
}

Client::~Client() { Disconnect(); }

std::string Client::Address() const { return absl::StrCat(options_.host, ":", options_.port); }

void Client::Disconnect() {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
}

absl::Status Client::Reconnect() {
  Disconnect();
  timeval tv = ToTimeval(options_.timeout);
  redisContext* context = redisConnectWithTimeout(options_.host.c_str(), options_.port, tv);
  if (context == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot connect to Redis at ", Address(), ": out of memory"));
  }
  if (context->err != 0) {
    std::string why = context->errstr;
    redisFree(context);
    return absl::UnavailableError(absl::StrCat("cannot connect to Redis at ", Address(), ": ", why));
  }
  if (redisSetTimeout(context, tv) != REDIS_OK) {
    redisFree(context);
    return absl::UnavailableError(absl::StrCat("cannot set the timeout on the Redis connection to ", Address()));
  }
  context_ = context;
  if (!options_.password.empty()) {
    bool transport_error = false;
    std::vector<std::string> auth = options_.user.empty() ? std::vector<std::string>{"AUTH", options_.password}
                                                          : std::vector<std::string>{"AUTH", options_.user, options_.password};
    absl::StatusOr<Reply> reply = RunOnce(auth, std::chrono::milliseconds(0), &transport_error);
    if (!reply.ok()) return reply.status();
    if (reply->is_error()) {
      Disconnect();
      return absl::PermissionDeniedError(absl::StrCat("Redis at ", Address(), " refused AUTH",
                                                      options_.user.empty() ? "" : absl::StrCat(" as user ", options_.user),
                                                      ": ", reply->str));
    }
  }
  ++reconnects_;
  return absl::OkStatus();
}

// A server that closed the connection (restart, timeout, CLIENT KILL) leaves the socket
// readable with EOF; detecting that before sending makes even non-retried commands survive.
bool Client::PeerClosed() const {
  if (context_ == nullptr || context_->fd < 0) return true;
  pollfd p{context_->fd, POLLIN, 0};
  int n = poll(&p, 1, 0);
  if (n <= 0) return false;
  if ((p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return true;
  if ((p.revents & POLLIN) != 0) {
    char byte;
    ssize_t got = recv(context_->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }
  return false;
}

absl::StatusOr<Reply> Client::RunOnce(const std::vector<std::string>& argv, std::chrono::milliseconds extra_timeout,
                                      bool* transport_error) {
  *transport_error = false;
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  args.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  if (extra_timeout.count() > 0) redisSetTimeout(context_, ToTimeval(options_.timeout + extra_timeout));
  errno = 0;
  void* raw = redisCommandArgv(context_, static_cast<int>(args.size()), args.data(), lengths.data());
  int saved_errno = errno;
  if (raw == nullptr) {
    *transport_error = true;
    std::string why = context_->errstr;
    bool timed_out = context_->err == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK);
    Disconnect();  // the context is unusable after any error
    if (timed_out) {
      return absl::DeadlineExceededError(
          absl::StrCat("Redis at ", Address(), " did not answer ", argv.empty() ? "" : argv[0], " in time"));
    }
    return absl::UnavailableError(
        absl::StrCat("Redis at ", Address(), " failed during ", argv.empty() ? "" : argv[0], ": ", why));
  }
  if (extra_timeout.count() > 0) redisSetTimeout(context_, ToTimeval(options_.timeout));
  redisReply* reply = static_cast<redisReply*>(raw);
  Reply out = Convert(reply);
  freeReplyObject(reply);
  return out;
}

absl::StatusOr<Reply> Client::Run(const std::vector<std::string>& argv, bool idempotent,
                                  std::chrono::milliseconds extra_timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("empty Redis command");
  if (context_ != nullptr && PeerClosed()) Disconnect();
  if (context_ == nullptr) {
    if (absl::Status status = Reconnect(); !status.ok()) return status;
  }
  bool transport_error = false;
  absl::StatusOr<Reply> reply = RunOnce(argv, extra_timeout, &transport_error);
  if (!transport_error || !idempotent || absl::IsDeadlineExceeded(reply.status())) return reply;
  if (absl::Status status = Reconnect(); !status.ok()) return status;
  return RunOnce(argv, extra_timeout, &transport_error);
}

absl::StatusOr<Reply> Client::Command(const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("empty Redis command");
  return Run(argv, IsRetrySafe(argv[0]));
}

absl::StatusOr<std::string> Client::XAdd(std::string_view stream,
                                         const std::vector<std::pair<std::string, std::string>>& fields,
                                         long long maxlen_approx) {
  if (fields.empty()) return absl::InvalidArgumentError("XADD needs at least one field");
  std::vector<std::string> argv = {"XADD", std::string(stream)};
  if (maxlen_approx > 0) {
    argv.insert(argv.end(), {"MAXLEN", "~", absl::StrCat(maxlen_approx)});
  }
  argv.push_back("*");
  for (const auto& [k, v] : fields) {
    argv.push_back(k);
    argv.push_back(v);
  }
  absl::StatusOr<Reply> reply = Run(argv, /*idempotent=*/false);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return ErrorReply("XADD", *reply);
  if (reply->type != Reply::kString) return Unexpected("XADD", *reply);
  return reply->str;
}

absl::Status Client::EnsureGroup(std::string_view stream, std::string_view group) {
  absl::StatusOr<Reply> reply =
      Run({"XGROUP", "CREATE", std::string(stream), std::string(group), "0", "MKSTREAM"}, /*idempotent=*/true);
  if (!reply.ok()) return reply.status();
  if (reply->is_error() && !absl::StartsWith(reply->str, "BUSYGROUP")) return ErrorReply("XGROUP CREATE", *reply);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StreamEntry>> Client::XReadGroup(std::string_view group, std::string_view consumer,
                                                            std::string_view stream, int count,
                                                            std::chrono::milliseconds block, std::string_view id) {
  std::vector<std::string> argv = {"XREADGROUP", "GROUP", std::string(group), std::string(consumer),
                                   "COUNT", absl::StrCat(count > 0 ? count : 1)};
  if (block.count() > 0) argv.insert(argv.end(), {"BLOCK", absl::StrCat(block.count())});
  argv.insert(argv.end(), {"STREAMS", std::string(stream), std::string(id)});
  absl::StatusOr<Reply> reply = Run(argv, /*idempotent=*/true, block);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) {
    if (absl::StartsWith(reply->str, "NOGROUP")) {
      if (absl::Status status = EnsureGroup(stream, group); !status.ok()) return status;
      return std::vector<StreamEntry>();
    }
    return ErrorReply("XREADGROUP", *reply);
  }
  std::vector<StreamEntry> entries;
  if (reply->is_nil()) return entries;
  if (reply->type != Reply::kArray) return Unexpected("XREADGROUP", *reply);
  for (const Reply& s : reply->elements) {  // [[stream, [entries...]], ...]
    if (s.type != Reply::kArray || s.elements.size() < 2) continue;
    std::vector<StreamEntry> part = ParseEntries(s.elements[1]);
    entries.insert(entries.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return entries;
}

absl::Status Client::XAck(std::string_view stream, std::string_view group, const std::vector<std::string>& ids) {
  if (ids.empty()) return absl::OkStatus();
  std::vector<std::string> argv = {"XACK", std::string(stream), std::string(group)};
  argv.insert(argv.end(), ids.begin(), ids.end());
  absl::StatusOr<Reply> reply = Run(argv, /*idempotent=*/true);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return ErrorReply("XACK", *reply);
  return absl::OkStatus();
}

absl::StatusOr<Client::AutoClaim> Client::XAutoClaim(std::string_view stream, std::string_view group,
                                                     std::string_view consumer, std::chrono::milliseconds min_idle,
                                                     std::string_view start, int count) {
  absl::StatusOr<Reply> reply =
      Run({"XAUTOCLAIM", std::string(stream), std::string(group), std::string(consumer),
           absl::StrCat(min_idle.count()), std::string(start), "COUNT", absl::StrCat(count > 0 ? count : 1)},
          /*idempotent=*/true);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) {
    if (absl::StartsWith(reply->str, "NOGROUP")) {
      if (absl::Status status = EnsureGroup(stream, group); !status.ok()) return status;
      return AutoClaim{"0-0", {}};
    }
    return ErrorReply("XAUTOCLAIM", *reply);
  }
  if (reply->type != Reply::kArray || reply->elements.size() < 2) return Unexpected("XAUTOCLAIM", *reply);
  AutoClaim result;
  result.next_id = reply->elements[0].str;
  result.entries = ParseEntries(reply->elements[1]);
  return result;
}

absl::Status Client::Publish(std::string_view channel, std::string_view message) {
  absl::StatusOr<Reply> reply = Run({"PUBLISH", std::string(channel), std::string(message)}, /*idempotent=*/false);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return ErrorReply("PUBLISH", *reply);
  return absl::OkStatus();
}

absl::StatusOr<long long> Client::XLen(std::string_view stream) {
  absl::StatusOr<Reply> reply = Run({"XLEN", std::string(stream)}, /*idempotent=*/true);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return ErrorReply("XLEN", *reply);
  if (reply->type != Reply::kInteger) return Unexpected("XLEN", *reply);
  return reply->integer;
}

absl::Status Client::Ping() {
  absl::StatusOr<Reply> reply = Run({"PING"}, /*idempotent=*/true);
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return ErrorReply("PING", *reply);
  return absl::OkStatus();
}

}  // namespace kite::redis
