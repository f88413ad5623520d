// kite-caldav — CalDAV (RFC 4791) and WebDAV (RFC 4918) over HTTP, the scheduling inbox for
// iMIP (gRPC from kite-delivery), sharing and delegation of calendars.
//
// See dav_handler.h for the URL space and the authorisation rules, server.h for HTTP and
// authentication, scheduling_service.h for the iMIP hand-over.
#include "caldav/dav_handler.h"
#include "caldav/scheduling_service.h"
#include "caldav/server.h"
#include "lib/daemon/backends.h"
#include "lib/daemon/daemon.h"
#include "lib/daemon/listen.h"
#include "lib/rpc/rpc.h"

namespace {

struct State {
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<kite::caldav::SchedulingService> scheduling;
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
    auto pool = kite::daemon::OpenPostgres(c);
    if (!pool.ok()) return pool.status();
    state.pool = std::move(*pool);
    state.scheduling = std::make_unique<kite::caldav::SchedulingService>(*state.pool, rt.metrics().registry());
    rt.AddService(state.scheduling.get());

    auto tls = kite::daemon::LoadTls(rt);
    if (!tls.ok()) return tls.status();
    const size_t max_size = static_cast<size_t>(c.Size("caldav", "max_resource_size"));
    state.handler = std::make_unique<kite::caldav::DavHandler>(
        *state.pool, kite::caldav::HandlerOptions{.max_resource_size = max_size,
                                                  .sync_prefix = c.String("caldav", "sync_token_prefix")});
    auto channel = kite::rpc::MakeChannel(c.Address("global", "auth_address").ToString(), rt.grpc_tls());
    std::shared_ptr<kite::auth::v1::Auth::StubInterface> auth(kite::auth::v1::Auth::NewStub(channel));
    state.server = std::make_unique<kite::caldav::Server>(
        rt, *state.handler, auth,
        kite::caldav::ServerOptions{.max_header = 16 * 1024,
                                    .max_body = max_size,
                                    .idle_timeout = c.Duration("caldav", "idle_timeout"),
                                    .request_timeout = c.Duration("caldav", "request_timeout"),
                                    .allow_plaintext_loopback = c.Bool("caldav", "allow_plaintext_loopback")});
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
