#include "imap/notifier.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <cerrno>
#include <unordered_map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"
#include "lib/log/log.h"

namespace kite::imap {
namespace {

namespace asio = boost::asio;

constexpr std::string_view kChannelPrefix = "kite:mbox:";
constexpr const char* kPattern = "kite:mbox:*";
// Without traffic for this long, a PING proves the connection alive (a Redis that vanished
// without closing it: a dead host, a dropped NAT entry).
constexpr std::chrono::milliseconds kPingInterval{15000};
constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{5000};

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

struct ReplyDeleter {
  void operator()(void* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

std::string_view Str(const redisReply* r) {
  if (r == nullptr || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return {};
  return std::string_view(r->str, r->len);
}

absl::Status ContextError(const redisContext* c, std::string_view what) {
  return absl::UnavailableError(absl::StrCat(AV(what), ": ", c->errstr[0] != '\0' ? c->errstr : "connection lost"));
}

}  // namespace

bool MailboxChanges::Includes(int64_t mailbox_id) const {
  return all || std::find(mailboxes.begin(), mailboxes.end(), mailbox_id) != mailboxes.end();
}

// The watches by account, shared by the Notifier and its watches (so a watch can unregister
// after the Notifier is gone). The Redis thread notifies under `mu`, and a watch unregisters
// under it, so a watch is never notified during or after its destruction.
struct Watch::Registry {
  mutable std::mutex mu;
  std::unordered_map<int64_t, std::vector<Watch*>> by_account;
  size_t count = 0;
};

Watch::Watch(std::shared_ptr<Registry> registry, int64_t account_id, asio::any_io_executor executor)
    : registry_(std::move(registry)), account_id_(account_id), executor_(executor), timer_(executor) {}

Watch::~Watch() {
  std::lock_guard<std::mutex> lock(registry_->mu);
  auto it = registry_->by_account.find(account_id_);
  if (it == registry_->by_account.end()) return;
  std::vector<Watch*>& list = it->second;
  auto self = std::find(list.begin(), list.end(), this);
  if (self == list.end()) return;
  *self = list.back();
  list.pop_back();
  --registry_->count;
  if (list.empty()) registry_->by_account.erase(it);
}

void Watch::Notify(int64_t mailbox_id) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_ = true;
  if (!changes_.all) {
    if (mailbox_id < 0 || changes_.mailboxes.size() >= MailboxChanges::kMaxTracked) {
      changes_.all = true;
      changes_.mailboxes.clear();
    } else if (std::find(changes_.mailboxes.begin(), changes_.mailboxes.end(), mailbox_id) ==
               changes_.mailboxes.end()) {
      changes_.mailboxes.push_back(mailbox_id);
    }
  }
  PostWake();
}

void Watch::PostWake() {
  if (wake_posted_) return;
  wake_posted_ = true;
  // During ~Watch (blocked on the registry lock) weak_from_this() is already expired, so the
  // posted wake-up finds nothing to wake.
  asio::post(executor_, [weak = weak_from_this()] {
    if (std::shared_ptr<Watch> self = weak.lock()) self->OnWake();
  });
}

void Watch::OnWake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_posted_ = false;
  }
  timer_.cancel();  // wakes a pending Wait; it reads the flags itself
}

void Watch::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  PostWake();
}

MailboxChanges Watch::TakeChanges() {
  std::lock_guard<std::mutex> lock(mu_);
  MailboxChanges out = std::move(changes_);
  changes_ = MailboxChanges();
  pending_ = false;
  return out;
}

bool Watch::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_;
}

asio::awaitable<WakeReason> Watch::Wait(std::chrono::milliseconds timeout) {
  // The flags are checked on the executor before the timer is armed; a notification that
  // lands in between posts OnWake, which runs on the same executor only after the timer
  // waits, and cancels it.
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) {
      cancelled_ = false;
      co_return WakeReason::kCancelled;
    }
    if (pending_) {
      pending_ = false;
      co_return WakeReason::kNotified;
    }
  }
  timer_.expires_after(timeout);
  boost::system::error_code ec;
  co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) {
    cancelled_ = false;
    co_return WakeReason::kCancelled;
  }
  if (pending_) {
    pending_ = false;
    co_return WakeReason::kNotified;
  }
  co_return WakeReason::kTimeout;
}

Notifier::Notifier(redis::Options redis)
    : options_(std::move(redis)), registry_(std::make_shared<Watch::Registry>()) {}

Notifier::~Notifier() { Stop(); }

std::string Notifier::Channel(int64_t account_id) { return absl::StrCat(AV(kChannelPrefix), account_id); }

void Notifier::Start() {
  std::lock_guard<std::mutex> lock(start_mu_);
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> queue_lock(queue_mu_);
    queue_running_ = true;
    queue_stopping_ = false;
  }
  publish_thread_ = std::thread([this] { PublishLoop(); });
  stopping_ = false;
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { Run(); });
}

void Notifier::Stop() {
  std::lock_guard<std::mutex> lock(start_mu_);
  if (!thread_.joinable()) return;
  stopping_ = true;
  uint64_t one = 1;
  ssize_t ignored = write(stop_fd_, &one, sizeof(one));
  (void)ignored;
  thread_.join();
  {
    std::lock_guard<std::mutex> queue_lock(queue_mu_);
    queue_running_ = false;  // from now on Publish sends at once
    queue_stopping_ = true;
  }
  queue_cv_.notify_one();
  publish_thread_.join();
  close(stop_fd_);
  stop_fd_ = -1;
  subscribed_ = false;
}

std::shared_ptr<Watch> Notifier::WatchAccount(int64_t account_id, asio::any_io_executor executor) {
  std::shared_ptr<Watch> watch(new Watch(registry_, account_id, std::move(executor)));
  std::lock_guard<std::mutex> lock(registry_->mu);
  registry_->by_account[account_id].push_back(watch.get());
  ++registry_->count;
  return watch;
}

size_t Notifier::watches() const {
  std::lock_guard<std::mutex> lock(registry_->mu);
  return registry_->count;
}

absl::Status Notifier::Publish(int64_t account_id, int64_t mailbox_id, std::string_view what) {
  std::string channel = Channel(account_id);
  std::string message = absl::StrCat(mailbox_id, " ", AV(what));
  // Sessions of this replica learn at once (and even while Redis is down); the others
  // through Redis, which also brings this replica the same message again (harmless).
  Dispatch(channel, message, false);
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (queue_running_) {
      if (queue_.size() < kMaxQueued) queue_.emplace_back(std::move(channel), std::move(message));
      queue_cv_.notify_one();
      return absl::OkStatus();
    }
  }
  std::lock_guard<std::mutex> lock(send_mu_);
  return SendNow(channel, message);
}

absl::Status Notifier::SendNow(const std::string& channel, const std::string& message) {
  if (!publisher_) {
    absl::StatusOr<std::unique_ptr<redis::Client>> client = redis::Client::Connect(options_);
    if (!client.ok()) return client.status();
    publisher_ = *std::move(client);
  }
  return publisher_->Publish(channel, message);
}

void Notifier::PublishLoop() {
  std::vector<std::pair<std::string, std::string>> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return queue_stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued was sent
      batch.swap(queue_);
    }
    // Several changes to one mailbox while the previous PUBLISH was out: one notification.
    std::sort(batch.begin(), batch.end());
    batch.erase(std::unique(batch.begin(), batch.end()), batch.end());
    std::lock_guard<std::mutex> lock(send_mu_);
    for (const auto& [channel, message] : batch) {
      absl::Status st = SendNow(channel, message);
      if (!st.ok()) {
        // Redis is away: the rest of this batch is dropped rather than waited for one by one.
        log::Warn("imap.publish_failed").Kv("error", st.message()).Kv("batch", static_cast<int64_t>(batch.size()));
        break;
      }
    }
    batch.clear();
  }
}

void Notifier::Dispatch(std::string_view channel, std::string_view message, bool from_redis) {
  if (channel.substr(0, kChannelPrefix.size()) != kChannelPrefix) return;
  int64_t account_id = 0;
  if (!absl::SimpleAtoi(AV(channel.substr(kChannelPrefix.size())), &account_id)) return;
  int64_t mailbox_id = -1;
  std::string_view first = message.substr(0, message.find(' '));
  if (!absl::SimpleAtoi(AV(first), &mailbox_id) || mailbox_id < 0) mailbox_id = -1;
  if (from_redis) ++messages_;
  std::lock_guard<std::mutex> lock(registry_->mu);
  auto it = registry_->by_account.find(account_id);
  if (it == registry_->by_account.end()) return;
  for (Watch* watch : it->second) watch->Notify(mailbox_id);
}

void Notifier::WakeAll() {
  std::lock_guard<std::mutex> lock(registry_->mu);
  for (auto& [account, list] : registry_->by_account) {
    for (Watch* watch : list) watch->Notify(-1);
  }
}

bool Notifier::Sleep(std::chrono::milliseconds d) {
  pollfd p{stop_fd_, POLLIN, 0};
  poll(&p, 1, static_cast<int>(d.count()));
  return !stopping_;
}

void Notifier::Run() {
  std::chrono::milliseconds backoff = kFirstBackoff;
  while (!stopping_) {
    uint64_t before = subscriptions_;
    absl::Status ended = Session();
    subscribed_ = false;
    if (stopping_) break;
    if (subscriptions_ != before) backoff = kFirstBackoff;  // it worked for a while
    log::Warn("imap.notifier_disconnected")
        .Kv("redis", absl::StrCat(options_.host, ":", options_.port))
        .Kv("error", ended.message())
        .Kv("retry_ms", backoff.count());
    if (!Sleep(backoff)) break;
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

absl::Status Notifier::Session() {
  timeval tv = ToTimeval(options_.timeout);
  Context c(redisConnectWithTimeout(options_.host.c_str(), options_.port, tv));
  if (!c) return absl::ResourceExhaustedError("cannot allocate a Redis context");
  if (c->err != 0) return ContextError(c.get(), "connect");
  // Bounds AUTH and the PSUBSCRIBE confirmation; later reads happen only after poll().
  redisSetTimeout(c.get(), tv);
  redisEnableKeepAlive(c.get());
  if (!options_.password.empty()) {
    ReplyPtr auth(static_cast<redisReply*>(
        options_.user.empty()
            ? redisCommand(c.get(), "AUTH %b", options_.password.data(), options_.password.size())
            : redisCommand(c.get(), "AUTH %b %b", options_.user.data(), options_.user.size(),
                           options_.password.data(), options_.password.size())));
    if (!auth) return ContextError(c.get(), "AUTH");
    if (auth->type == REDIS_REPLY_ERROR) {
      return absl::PermissionDeniedError(absl::StrCat("AUTH: ", AV(Str(auth.get()))));
    }
  }
  ReplyPtr subscribed(static_cast<redisReply*>(redisCommand(c.get(), "PSUBSCRIBE %s", kPattern)));
  if (!subscribed) return ContextError(c.get(), "PSUBSCRIBE");
  if (subscribed->type != REDIS_REPLY_ARRAY || subscribed->elements < 1 ||
      Str(subscribed->element[0]) != "psubscribe") {
    return absl::InternalError("unexpected reply to PSUBSCRIBE");
  }
  // Anything published while we were not subscribed is lost: every session looks again.
  // (Before subscribed() turns true, so a watch created after it sees no stale wake-up.)
  WakeAll();
  subscribed_ = true;
  ++subscriptions_;
  log::Info("imap.notifier_subscribed").Kv("redis", absl::StrCat(options_.host, ":", options_.port));

  bool awaiting_pong = false;
  for (;;) {
    // Replies already read and buffered first: poll() would not report them.
    for (;;) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(c.get(), &raw) != REDIS_OK) return ContextError(c.get(), "reading a reply");
      if (raw == nullptr) break;
      ReplyPtr reply(static_cast<redisReply*>(raw));
      awaiting_pong = false;  // any reply proves the connection alive
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) continue;
      std::string_view kind = Str(reply->element[0]);
      if (kind == "pmessage" && reply->elements >= 4) {
        Dispatch(Str(reply->element[2]), Str(reply->element[3]));
      }
      // "pong" (PING in subscribed mode) needs nothing more.
    }
    if (stopping_) return absl::CancelledError("stopping");
    pollfd fds[2] = {{c->fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    std::chrono::milliseconds wait = awaiting_pong ? options_.timeout : kPingInterval;
    int ready = poll(fds, 2, static_cast<int>(wait.count()));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("poll: ", errno));
    }
    if (stopping_ || (fds[1].revents & POLLIN) != 0) return absl::CancelledError("stopping");
    if (ready == 0) {
      if (awaiting_pong) return absl::DeadlineExceededError("no reply to PING");
      if (redisAppendCommand(c.get(), "PING") != REDIS_OK) return ContextError(c.get(), "PING");
      int done = 0;
      while (done == 0) {
        if (redisBufferWrite(c.get(), &done) != REDIS_OK) return ContextError(c.get(), "PING");
      }
      awaiting_pong = true;
      continue;
    }
    if (redisBufferRead(c.get()) != REDIS_OK) return ContextError(c.get(), "read");
  }
}

}  // namespace kite::imap
