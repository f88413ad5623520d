// kite-imap — mailbox access over IMAP4rev1. See imap_session.h for SECURITY, STANDARDS and
// what is implemented so far.
#include "imap/imap_session.h"
#include "imap/notifier.h"
#include "lib/daemon/backends.h"
#include "lib/daemon/daemon.h"
#include "lib/daemon/listen.h"
#include "lib/mailstore/pg_mail_store.h"
#include "lib/rpc/rpc.h"

namespace {
struct State {
  // Declared first, destroyed last: sessions' watches unregister from it.
  std::unique_ptr<kite::imap::Notifier> notifier;
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<kite::mailstore::PgMailStore> mail;
  std::unique_ptr<kite::imap::Server> server;
  std::vector<std::unique_ptr<kite::net::Listener>> listeners;
};
}  // namespace

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-imap",
      .section = "imap",
      .summary = "IMAP4rev1 mailbox access (STARTTLS on 143, TLS on 993)",
      .details =
          "SECURITY: bounded command parser; LOGIN only after TLS; every query names the owning\n"
          "account (the user's, or a shared mailbox's after kite-auth confirms the right).\n"
          "STANDARDS: RFC 3501, 2177, 2342, 2971, 3348, 3691, 4314, 4315, 4731, 4959, 4978, 5161, 5182,\n"
          "5256, 5258, 5819, 6154, 6851, 7162, 7888, 9208 — see imap_session.h.",
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
    state.mail = std::make_unique<kite::mailstore::PgMailStore>(
        *state.pool, kite::mailstore::PgMailStoreOptions{.durable_flag_changes = c.Bool("imap", "durable_flag_changes")});
    // Changes made anywhere in the cluster reach IDLE and NOOP through Redis.
    state.notifier = std::make_unique<kite::imap::Notifier>(kite::daemon::RedisOptions(c, rt.spec().section));
    state.notifier->Start();
    auto tls = kite::daemon::LoadTls(rt);
    if (!tls.ok()) return tls.status();
    auto channel = kite::rpc::MakeChannel(c.Address("global", "auth_address").ToString(), rt.grpc_tls());
    auto auth = std::shared_ptr<kite::auth::v1::Auth::Stub>(kite::auth::v1::Auth::NewStub(channel));
    auto directory =
        std::shared_ptr<kite::directory::v1::Directory::Stub>(kite::directory::v1::Directory::NewStub(channel));
    state.server = std::make_unique<kite::imap::Server>(
        rt, *state.mail, auth, directory, state.notifier.get(),
        kite::imap::Limits{.idle_timeout = c.Duration("imap", "idle_timeout"),
                           .login_timeout = c.Duration("imap", "login_timeout"),
                           .max_literal = c.Size("imap", "max_literal"),
                           .snapshot_entries = static_cast<size_t>(c.Int("imap", "snapshot_cache_entries"))});
    for (auto [key, implicit] : {std::pair{"starttls_listen", false}, std::pair{"tls_listen", true}}) {
      auto listener = kite::daemon::Listen(
          rt, "imap", key,
          {.name = implicit ? "imaps" : "imap",
           .max_connections = static_cast<size_t>(c.Int("imap", "max_connections")),
           .busy_banner = "* BYE Too many connections, try again later\r\n",
           .tls = *tls,
           .implicit_tls = implicit},
          [](std::shared_ptr<kite::net::Connection> conn) { return state.server->Session(std::move(conn)); });
      if (!listener.ok()) return listener.status();
      state.listeners.push_back(std::move(*listener));
    }
    return absl::OkStatus();
  });
}
