// kite-caldav — CalDAV (RFC 4791) and WebDAV (RFC 4918) over HTTP, the scheduling inbox for
// iMIP (gRPC from kite-delivery), sharing and delegation of calendars.
//
// See dav_handler.h for the URL space and the authorisation rules, server.h for HTTP and
// authentication, scheduling_service.h for the iMIP hand-over.
#include <mutex>
#include <set>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "caldav/client_setup.h"
#include "caldav/dav_handler.h"
#include "caldav/scheduler.h"
#include "freebusy/cache.h"
#include "kite/freebusy/v1/freebusy.grpc.pb.h"
#include "lib/base/strings.h"
#include "lib/directory/directory.h"
#include "lib/log/log.h"
#include "lib/queue/queue.h"
#include "lib/redis/client.h"
#include "caldav/scheduling_service.h"
#include "caldav/server.h"
#include "lib/daemon/backends.h"
#include "lib/daemon/daemon.h"
#include "lib/daemon/listen.h"
#include "lib/rpc/rpc.h"

namespace {

// Finishes what a committed write caused: free/busy answers of every account written are
// dropped (kite-freebusy's Redis cache), and the iMIP / notification mail the scheduler
// spooled in the transaction is put on the queue now (the reconcilers would otherwise find
// it within their interval; nothing is lost if Redis is down).
class AfterWrite {
 public:
  AfterWrite(kite::store::Pool& pool, kite::redis::Options redis)
      : pool_(pool), redis_options_(redis), cache_(kite::freebusy::CacheOptions{.redis = redis}) {}

  void Invalidate(int64_t account) {
    if (auto st = cache_.Invalidate(account); !st.ok()) {
      kite::log::Warn("caldav.freebusy_invalidate_failed").Kv("account", account).Kv("error", st.message());
    }
  }

  void Finish() {
    kite::caldav::ScheduleEffects fx = kite::caldav::Scheduler::TakeEffects();
    for (int64_t a : fx.accounts) Invalidate(a);
    if (fx.spooled.empty()) return;
    absl::MutexLock lock(&mu_);
    if (!redis_) {
      auto r = kite::redis::Client::Connect(redis_options_);
      if (!r.ok()) {
        kite::log::Warn("caldav.enqueue_deferred").Kv("error", r.status().message());
        return;  // the reconcilers enqueue it
      }
      redis_ = std::move(*r);
    }
    for (const auto& m : fx.spooled) {
      if (auto st = kite::queue::Enqueue(*redis_, pool_, m.spool_id, m.recipients); !st.ok()) {
        kite::log::Warn("caldav.enqueue_deferred").Kv("spool_id", m.spool_id).Kv("error", st.message());
      }
    }
  }

 private:
  kite::store::Pool& pool_;
  kite::redis::Options redis_options_;
  kite::freebusy::Cache cache_;
  absl::Mutex mu_;
  std::unique_ptr<kite::redis::Client> redis_ ABSL_GUARDED_BY(mu_);
};

// The unauthenticated paths: client setup (client_setup.h) with the local domains read from
// the directory (refreshed every minute), and the external free/busy URL
// /freebusy/<token>.ifb answered by kite-freebusy.
class PublicRoutes {
 public:
  PublicRoutes(kite::store::Pool& pool, kite::caldav::ClientSetupSettings settings,
               std::shared_ptr<kite::freebusy::v1::FreeBusy::StubInterface> freebusy)
      : pool_(pool), settings_(std::move(settings)), freebusy_(std::move(freebusy)) {}

  std::optional<kite::caldav::http::Response> operator()(const kite::caldav::http::Request& req) {
    if (absl::StartsWith(kite::AV(req.path), "/freebusy/")) return ExternalFreeBusy(req);
    std::string_view target = req.target;
    size_t q = target.find('?');
    kite::caldav::ClientSetupSettings settings = Settings();
    std::string host = req.Header("host").value_or("");
    auto answer = kite::caldav::ClientSetup(
        {.method = req.method,
         .path = req.path,
         .query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1),
         .host = host,
         .body = req.body},
        settings);
    if (!answer) return std::nullopt;
    kite::caldav::http::Response r;
    r.status = answer->status;
    if (!answer->content_type.empty()) r.Set("Content-Type", answer->content_type);
    for (auto& [k, v] : answer->headers) r.Set(k, v);
    r.body = std::move(answer->body);
    return r;
  }

 private:
  static kite::caldav::http::Response Text(int status, std::string body) {
    kite::caldav::http::Response r;
    r.status = status;
    r.Set("Content-Type", "text/plain; charset=utf-8");
    r.body = std::move(body);
    return r;
  }

  kite::caldav::http::Response ExternalFreeBusy(const kite::caldav::http::Request& req) {
    if (req.method != "GET" && req.method != "HEAD") {
      auto r = Text(405, "Method not allowed\n");
      r.Set("Allow", "GET, HEAD");
      return r;
    }
    std::string_view name = std::string_view(req.path).substr(std::string_view("/freebusy/").size());
    if (!absl::EndsWith(kite::AV(name), ".ifb") || name.size() > 200) return Text(404, "Not found\n");
    name.remove_suffix(4);
    kite::freebusy::v1::ExternalFreeBusyRequest freq;
    freq.set_token(std::string(name));
    kite::freebusy::v1::ExternalFreeBusyResponse fresp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status st = freebusy_->ExternalFreeBusy(&ctx, freq, &fresp);
    if (st.error_code() == grpc::StatusCode::NOT_FOUND || st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      return Text(404, "Not found\n");
    }
    if (!st.ok()) {
      kite::log::Warn("caldav.freebusy_unavailable").Kv("error", st.error_message());
      return Text(503, "Free/busy service unavailable, try again later\n");
    }
    kite::caldav::http::Response r;
    r.Set("Content-Type", "text/calendar; charset=utf-8");
    r.Set("Cache-Control", "private, max-age=60");
    r.body = std::move(*fresp.mutable_icalendar());
    return r;
  }

  kite::caldav::ClientSetupSettings Settings() {
    absl::MutexLock lock(&mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now >= refresh_at_) {
      auto domains = kite::directory::ListDomains(pool_);
      if (domains.ok()) {
        settings_.local_domains.clear();
        for (const auto& d : *domains) settings_.local_domains.insert(d.name);
        refresh_at_ = now + std::chrono::seconds(60);
      } else {
        kite::log::Warn("caldav.domains_unavailable").Kv("error", domains.status().message());
        refresh_at_ = now + std::chrono::seconds(5);
      }
    }
    return settings_;
  }

  kite::store::Pool& pool_;
  absl::Mutex mu_;
  kite::caldav::ClientSetupSettings settings_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point refresh_at_ ABSL_GUARDED_BY(mu_){};
  std::shared_ptr<kite::freebusy::v1::FreeBusy::StubInterface> freebusy_;
};

struct State {
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<kite::caldav::SchedulingService> scheduling;
  std::unique_ptr<kite::caldav::Scheduler> scheduler;
  std::unique_ptr<AfterWrite> after_write;
  std::unique_ptr<PublicRoutes> public_routes;
  std::unique_ptr<kite::caldav::DavHandler> handler;
  std::unique_ptr<kite::caldav::Server> server;
  std::vector<std::unique_ptr<kite::net::Listener>> listeners;
};

}  // namespace

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-caldav",
      .section = "caldav",
      .summary = "CalDAV and WebDAV over HTTP (RFC 4791, 4918, 6578) and the iMIP scheduling inbox",
      .details =
          "SECURITY: HTTP Basic through kite-auth only over TLS (plain HTTP from loopback only when\n"
          "caldav.allow_plaintext_loopback); every request is authorised against the owner, shares and\n"
          "delegations; bounded headers (16 KiB) and bodies (caldav.max_resource_size); XML parsed by\n"
          "libxml2 without entity expansion or network; iCalendar parsed by libical, never logged.\n"
          "STANDARDS: RFC 4918, 4791, 5397, 5689, 6578, 6764, 4331, 3744 (principal-property-search),\n"
          "RFC 6638 (inbox/outbox), RFC 5546/6047 (iMIP hand-over).",
      .check = kite::daemon::CheckTls,
  };
  static State state;
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime& rt) -> absl::Status {
    rt.OnExit([] { State done = std::move(state); });
    const auto& c = rt.config();
    auto pool = kite::daemon::OpenPostgres(c, rt.spec().section);
    if (!pool.ok()) return pool.status();
    state.pool = std::move(*pool);
    state.scheduling = std::make_unique<kite::caldav::SchedulingService>(*state.pool, rt.metrics().registry());

    auto tls = kite::daemon::LoadTls(rt);
    if (!tls.ok()) return tls.status();
    const size_t max_size = static_cast<size_t>(c.Size("caldav", "max_resource_size"));
    state.handler = std::make_unique<kite::caldav::DavHandler>(
        *state.pool, kite::caldav::HandlerOptions{.max_resource_size = max_size,
                                                  .sync_prefix = c.String("caldav", "sync_token_prefix")});
    state.scheduler = std::make_unique<kite::caldav::Scheduler>(*state.pool);
    state.after_write = std::make_unique<AfterWrite>(*state.pool, kite::daemon::RedisOptions(c, rt.spec().section));
    state.handler->set_hook(state.scheduler.get());
    state.handler->set_on_change([](int64_t account) { state.after_write->Invalidate(account); });
    // An emailed REPLY or CANCEL (iMIP through kite-delivery) changes calendars too.
    state.scheduling->set_on_change([](int64_t account) { state.after_write->Invalidate(account); });
    rt.AddService(state.scheduling.get());
    state.handler->set_before_attempt([] { (void)kite::caldav::Scheduler::TakeEffects(); });
    state.handler->set_after_commit([] { state.after_write->Finish(); });
    kite::caldav::ClientSetupSettings setup{
        .hostname = c.String("global", "hostname"),
        .imap_port = static_cast<int>(c.Int("caldav", "public_imap_port")),
        .imap_starttls_port = static_cast<int>(c.Int("caldav", "public_imap_starttls_port")),
        .pop3_port = static_cast<int>(c.Int("caldav", "public_pop3_port")),
        .pop3_starttls_port = static_cast<int>(c.Int("caldav", "public_pop3_starttls_port")),
        .submission_port = static_cast<int>(c.Int("caldav", "public_submission_port")),
        .submission_starttls_port = static_cast<int>(c.Int("caldav", "public_submission_starttls_port")),
        .https_port = static_cast<int>(c.Int("caldav", "public_https_port")),
        .mta_sts_mode = c.String("caldav", "mta_sts_mode"),
        .mta_sts_mx = c.List("caldav", "mta_sts_mx"),
        .mta_sts_max_age = std::chrono::duration_cast<std::chrono::seconds>(c.Duration("caldav", "mta_sts_max_age")).count(),
    };
    auto fb_channel = kite::rpc::MakeChannel(c.Address("global", "freebusy_address").ToString(), rt.grpc_tls());
    state.public_routes = std::make_unique<PublicRoutes>(
        *state.pool, std::move(setup),
        std::shared_ptr<kite::freebusy::v1::FreeBusy::StubInterface>(kite::freebusy::v1::FreeBusy::NewStub(fb_channel)));
    auto channel = kite::rpc::MakeChannel(c.Address("global", "auth_address").ToString(), rt.grpc_tls());
    std::shared_ptr<kite::auth::v1::Auth::StubInterface> auth(kite::auth::v1::Auth::NewStub(channel));
    state.server = std::make_unique<kite::caldav::Server>(
        rt, *state.handler, auth,
        kite::caldav::ServerOptions{.max_header = 16 * 1024,
                                    .max_body = max_size,
                                    .idle_timeout = c.Duration("caldav", "idle_timeout"),
                                    .request_timeout = c.Duration("caldav", "request_timeout"),
                                    .allow_plaintext_loopback = c.Bool("caldav", "allow_plaintext_loopback")});
    state.server->set_public_routes([](const kite::caldav::http::Request& req) { return (*state.public_routes)(req); });
    for (auto [key, implicit] : {std::pair{"http_listen", false}, std::pair{"https_listen", true}}) {
      auto listener = kite::daemon::Listen(
          rt, "caldav", key,
          {.name = implicit ? "caldavs" : "caldav",
           .max_connections = static_cast<size_t>(c.Int("caldav", "max_connections")),
           .busy_banner = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
           .tls = *tls,
           .implicit_tls = implicit},
          [](std::shared_ptr<kite::net::Connection> conn) { return state.server->Session(std::move(conn)); });
      if (!listener.ok()) return listener.status();
      state.listeners.push_back(std::move(*listener));
    }
    return absl::OkStatus();
  });
}
