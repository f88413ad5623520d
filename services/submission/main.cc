// kite-submission — authenticated mail submission (RFC 6409) on 587 with STARTTLS and 465
// with implicit TLS (RFC 8314). The SMTP session is kite-mta's (smtp_server/smtp_session.h)
// in Mode::kSubmission; see there for SECURITY and STANDARDS.
// STATUS: AUTH through kite-auth (PLAIN, LOGIN, SCRAM-SHA-256, only over TLS), sender
// checks on MAIL FROM and header From (send-as, send-on-behalf with Sender), local and
// remote recipients into the spool, DKIM signing with the active keys of the From domain
// (`kitectl dkim generate`; see Server::DkimSignatures). Not yet: Message-ID/Date
// completion, per-user sending rate limit.
#include "lib/daemon/backends.h"
#include "lib/daemon/daemon.h"
#include "lib/daemon/listen.h"
#include "lib/rpc/rpc.h"
#include "smtp_server/smtp_session.h"

namespace {
struct State {
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<kite::smtp_server::Server> server;
  std::unique_ptr<kite::net::Listener> starttls_listener;
  std::unique_ptr<kite::net::Listener> tls_listener;
};
}  // namespace

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-submission",
      .section = "submission",
      .summary =
          "authenticated mail submission (RFC 6409) on 587 (STARTTLS) and 465 (implicit TLS)",
      .details =
          "SECURITY: AUTH only over TLS and required before MAIL; MAIL FROM and header\n"
          "From must be addresses the user may use; relaying to remote recipients only when\n"
          "authenticated;\n"
          "bounded command lines, AUTH exchanges and messages; errors per session are limited;\n"
          "250 after DATA means the message is committed in PostgreSQL.\n"
          "Accepted mail is DKIM-signed with the From domain's active keys (kitectl dkim).\n"
          "STANDARDS: RFC 6409, 8314, 4954, 5321, 3207, 1870, 6152, 6531, 2920, 2034, 3463, 3848.",
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
    auto tls = kite::daemon::LoadTls(rt);
    if (!tls.ok()) return tls.status();
    auto channel =
        kite::rpc::MakeChannel(c.Address("global", "auth_address").ToString(), rt.grpc_tls());
    auto directory = std::shared_ptr<kite::directory::v1::Directory::Stub>(
        kite::directory::v1::Directory::NewStub(channel));
    auto auth = std::shared_ptr<kite::auth::v1::Auth::Stub>(kite::auth::v1::Auth::NewStub(channel));
    state.server = std::make_unique<kite::smtp_server::Server>(
        rt, kite::smtp_server::Mode::kSubmission, *state.pool, kite::daemon::RedisOptions(c, rt.spec().section),
        directory, auth,
        kite::smtp_server::Limits{
            .max_message_size = c.Size("submission", "max_message_size"),
            .max_recipients = static_cast<int>(c.Int("submission", "max_recipients")),
            .max_errors = static_cast<int>(c.Int("submission", "max_errors")),
            .command_timeout = c.Duration("submission", "command_timeout"),
            .data_timeout = c.Duration("submission", "data_timeout"),
            .dkim_key_cache = c.Duration("submission", "dkim_key_cache")});
    const auto max_connections = static_cast<size_t>(c.Int("submission", "max_connections"));
    auto handler = [](std::shared_ptr<kite::net::Connection> conn) {
      return state.server->Session(std::move(conn));
    };
    auto starttls =
        kite::daemon::Listen(rt, "submission", "starttls_listen",
                             {.name = "submission",
                              .max_connections = max_connections,
                              .busy_banner = "421 4.3.2 Too many connections, try again later\r\n",
                              .tls = *tls},
                             handler);
    if (!starttls.ok()) return starttls.status();
    state.starttls_listener = std::move(*starttls);
    // RFC 8314: port 465 speaks TLS from the first byte; a busy banner would be plaintext.
    auto implicit = kite::daemon::Listen(rt, "submission", "tls_listen",
                                         {.name = "submissions",
                                          .max_connections = max_connections,
                                          .tls = *tls,
                                          .implicit_tls = true},
                                         handler);
    if (!implicit.ok()) return implicit.status();
    state.tls_listener = std::move(*implicit);
    return absl::OkStatus();
  });
}
