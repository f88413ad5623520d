// kite-mta — inbound SMTP from the internet (port 25). See smtp_server/smtp_session.h for SECURITY and
// STANDARDS. STATUS: inbound to local accounts with SPF/DKIM/DMARC; greylisting and the
// outbound relay come with the SMTP issue.
#include "lib/daemon/backends.h"
#include "lib/daemon/daemon.h"
#include "lib/daemon/listen.h"
#include "lib/rpc/rpc.h"
#include "smtp_server/smtp_session.h"

namespace {
struct State {
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<kite::smtp_server::Server> server;
  std::unique_ptr<kite::net::Listener> listener;
};
}  // namespace

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-mta",
      .section = "mta",
      .summary = "inbound SMTP (RFC 5321): accepts mail for local recipients into the durable spool",
      .details =
          "SECURITY: bounded command lines and messages; DATA ends only at CRLF.CRLF (bare CR/LF refused);\n"
          "only local recipients are accepted (never an open relay); errors per session are limited;\n"
          "250 after DATA means the message is committed in PostgreSQL.\n"
          "SPF, DKIM and DMARC on every message (Authentication-Results); DMARC p=reject refused\n"
          "with 550 5.7.1, p=quarantine filed into Junk (mta.dmarc_enforcement).\n"
          "STANDARDS: RFC 5321, 3207, 1870, 6152, 6531, 2920, 2034, 3463, 7208, 6376, 8463, 7489, 8601.",
      .check = kite::daemon::CheckTls,
  };
  static State state;
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime& rt) -> absl::Status {
    const auto& c = rt.config();
    auto pool = kite::daemon::OpenPostgres(c);
    if (!pool.ok()) return pool.status();
    state.pool = std::move(*pool);
    auto tls = kite::daemon::LoadTls(rt);
    if (!tls.ok()) return tls.status();
    auto directory = std::shared_ptr<kite::directory::v1::Directory::Stub>(kite::directory::v1::Directory::NewStub(
        kite::rpc::MakeChannel(c.Address("global", "auth_address").ToString(), rt.grpc_tls())));
    state.server = std::make_unique<kite::smtp_server::Server>(
        rt, kite::smtp_server::Mode::kInbound, *state.pool,
        kite::daemon::RedisOptions(c),
        directory, nullptr,
        kite::smtp_server::Limits{.max_message_size = c.Size("mta", "max_message_size"),
                          .max_recipients = static_cast<int>(c.Int("mta", "max_recipients")),
                          .max_errors = static_cast<int>(c.Int("mta", "max_errors")),
                          .command_timeout = c.Duration("mta", "command_timeout"),
                          .data_timeout = c.Duration("mta", "data_timeout")});
    auto checks = kite::smtp_server::InboundChecks::Create(rt);
    if (!checks.ok()) return checks.status();
    state.server->SetInboundChecks(std::move(*checks));
    auto listener = kite::daemon::Listen(
        rt, "mta", "smtp_listen",
        {.name = "smtp",
         .max_connections = static_cast<size_t>(c.Int("mta", "max_connections")),
         .busy_banner = "421 4.3.2 Too many connections, try again later\r\n",
         .tls = *tls},
        [](std::shared_ptr<kite::net::Connection> conn) { return state.server->Session(std::move(conn)); });
    if (!listener.ok()) return listener.status();
    state.listener = std::move(*listener);
    return absl::OkStatus();
  });
}
