// kite-pop3 — download-and-delete access to the INBOX over POP3. See pop3_session.h for
// SECURITY, STANDARDS, deletion semantics and concurrency; docs/pop3.md for operators.
#include "lib/daemon/backends.h"
#include "lib/daemon/daemon.h"
#include "lib/daemon/listen.h"
#include "lib/mailstore/pg_mail_store.h"
#include "lib/rpc/rpc.h"
#include "pop3/pop3_session.h"

namespace {
struct State {
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<kite::mailstore::PgMailStore> mail;
  std::unique_ptr<kite::pop3::Server> server;
  std::vector<std::unique_ptr<kite::net::Listener>> listeners;
};

}  // namespace

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-pop3",
      .section = "pop3",
      .summary = "POP3 download-and-delete access (STLS on 110, TLS on 995)",
      .details =
          "SECURITY: bounded line reader and command parser; USER/PASS and AUTH only after TLS;\n"
          "credentials checked by kite-auth (throttled there); every query names the account.\n"
          "Messages marked with DELE are removed only at QUIT; a dropped connection removes nothing.\n"
          "STANDARDS: RFC 1939, 2449 (CAPA), 2595 (STLS), 3206 (response codes), 5034 (AUTH).",
      .check = kite::daemon::CheckTls,
  };
  static State state;
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime& rt) -> absl::Status {
    // Everything holding sockets or strands goes before the io_context (daemon.h OnExit).
    rt.OnExit([] { State done = std::move(state); });
    const auto& c = rt.config();
    auto pool = kite::daemon::OpenPostgres(c, rt.spec().section);
    if (!pool.ok()) return pool.status();
    state.pool = std::move(*pool);
    state.mail = std::make_unique<kite::mailstore::PgMailStore>(*state.pool);
    auto tls = kite::daemon::LoadTls(rt);
    if (!tls.ok()) return tls.status();
    auto channel = kite::rpc::MakeChannel(c.Address("global", "auth_address").ToString(), rt.grpc_tls());
    auto auth = std::shared_ptr<kite::auth::v1::Auth::Stub>(kite::auth::v1::Auth::NewStub(channel));
    state.server = std::make_unique<kite::pop3::Server>(
        rt, *state.mail, auth, kite::daemon::RedisOptions(c, rt.spec().section),
        kite::pop3::SessionLimits{.idle_timeout = c.Duration("pop3", "idle_timeout"),
                                  .login_timeout = c.Duration("pop3", "login_timeout"),
                                  .max_errors = static_cast<int>(c.Int("pop3", "max_errors"))});
    for (auto [key, implicit] : {std::pair{"stls_listen", false}, std::pair{"tls_listen", true}}) {
      auto listener = kite::daemon::Listen(
          rt, "pop3", key,
          {.name = implicit ? "pop3s" : "pop3",
           .max_connections = static_cast<size_t>(c.Int("pop3", "max_connections")),
           .busy_banner = "-ERR [SYS/TEMP] Too many connections, try again later\r\n",
           .tls = *tls,
           .implicit_tls = implicit},
          [](std::shared_ptr<kite::net::Connection> conn) { return state.server->Session(std::move(conn)); });
      if (!listener.ok()) return listener.status();
      state.listeners.push_back(std::move(*listener));
    }
    return absl::OkStatus();
  });
}
