// kite-mta — inbound SMTP from the internet (port 25) and the outbound relay to remote MX
// hosts (mta/relay/relay.h). Either can be switched off (mta.inbound_enabled,
// mta.relay_enabled) to run relay-only or inbound-only replicas. See
// smtp_server/smtp_session.h and mta/relay/relay.h for SECURITY and STANDARDS.
// Inbound mail is checked with SPF, DKIM and DMARC (smtp_server/inbound_checks.h).
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "lib/daemon/backends.h"
#include "lib/daemon/daemon.h"
#include "lib/daemon/listen.h"
#include "lib/dns/cares_resolver.h"
#include "lib/log/log.h"
#include "lib/net/cidr.h"
#include "lib/rpc/rpc.h"
#include "mta/relay/relay.h"
#include "smtp_server/smtp_session.h"

namespace {
struct State {
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<kite::smtp_server::Server> server;
  std::unique_ptr<kite::net::Listener> listener;
  std::unique_ptr<kite::relay::Relay> relay;
};

absl::StatusOr<kite::relay::Options> RelayOptions(const kite::config::Config& c) {
  kite::relay::Options o;
  o.hostname = c.String("global", "hostname");
  o.consumer = c.String("mta", "relay_consumer_name");
  if (o.consumer.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    o.consumer = absl::StrCat(host, "-", getpid());
  }
  int64_t port = c.Int("mta", "relay_port");
  if (port <= 0 || port > 65535) return absl::InvalidArgumentError("mta.relay_port: not a TCP port");
  o.port = static_cast<uint16_t>(port);
  o.smarthost = c.String("mta", "relay_smarthost");
  if (!o.smarthost.empty()) {
    if (auto hp = kite::config::ParseHostPort(o.smarthost); !hp.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("mta.relay_smarthost: ", hp.status().message()));
    }
  }
  o.smarthost_user = c.String("mta", "relay_smarthost_user");
  o.smarthost_password = c.String("mta", "relay_smarthost_password");
  o.smarthost_verify = c.Bool("mta", "relay_smarthost_verify");
  o.tls_ca_file = c.String("mta", "relay_tls_ca");
  o.mta_sts = c.Bool("mta", "relay_mta_sts");
  int64_t sts_port = c.Int("mta", "relay_mta_sts_port");
  if (sts_port <= 0 || sts_port > 65535) return absl::InvalidArgumentError("mta.relay_mta_sts_port: not a TCP port");
  o.mta_sts_port = static_cast<uint16_t>(sts_port);
  o.max_parallel = static_cast<int>(c.Int("mta", "relay_max_parallel"));
  o.per_domain = static_cast<int>(c.Int("mta", "relay_per_domain"));
  o.connect_timeout = c.Duration("mta", "relay_connect_timeout");
  o.command_timeout = c.Duration("mta", "relay_command_timeout");
  o.data_timeout = c.Duration("mta", "relay_data_timeout");
  for (const std::string& item : c.List("mta", "relay_backoff")) {
    auto d = kite::config::ParseDuration(item);
    if (!d.ok()) return absl::InvalidArgumentError(absl::StrCat("mta.relay_backoff: ", d.status().message()));
    o.backoff.push_back(std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(*d)));
  }
  o.reuse_idle = c.Duration("mta", "relay_reuse_idle");
  o.lifetime = std::chrono::duration_cast<std::chrono::seconds>(c.Duration("mta", "relay_lifetime"));
  o.delay_warning = std::chrono::duration_cast<std::chrono::seconds>(c.Duration("mta", "relay_delay_warning"));
  o.claim_idle = c.Duration("mta", "relay_claim_idle");
  o.reconcile_interval = c.Duration("mta", "relay_reconcile_interval");
  // A recipient in flight stays hidden from other replicas for a whole worst-case attempt.
  o.lease = std::chrono::duration_cast<std::chrono::seconds>(o.connect_timeout * 4 + o.command_timeout * 8 +
                                                             o.data_timeout) + std::chrono::seconds(60);
  return o;
}
}  // namespace

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-mta",
      .section = "mta",
      .summary = "SMTP (RFC 5321): inbound mail for local recipients into the durable spool, and the outbound relay to remote MX hosts",
      .details =
          "SECURITY: bounded command lines and messages; DATA ends only at CRLF.CRLF (bare CR/LF refused);\n"
          "only local recipients are accepted (never an open relay); errors per session are limited;\n"
          "250 after DATA means the message is committed in PostgreSQL.\n"
          "SPF, DKIM and DMARC on every message (Authentication-Results); DMARC p=reject refused\n"
          "with 550 5.7.1, p=quarantine filed into Junk (mta.dmarc_enforcement).\n"
          "The relay uses STARTTLS whenever offered, bounds every remote reply and never bounces\n"
          "to the null sender.\n"
          "STANDARDS: RFC 5321, 3207, 1870, 6152, 6531, 2920, 2034, 3463, 3030, 3461, 3464, 7505,\n"
          "7208, 6376, 8463, 7489, 8601, 8461, 5782, 4954 (smarthost).",
      .check = [](const kite::config::Config& c) -> absl::Status {
        if (auto nets = kite::net::ParseCidrList(c.String("mta", "trusted_networks")); !nets.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("mta.trusted_networks: ", nets.status().message()));
        }
        // A relay-only replica has no client port and needs no certificate.
        return c.Bool("mta", "inbound_enabled") ? kite::daemon::CheckTls(c) : absl::OkStatus();
      },
  };
  static State state;
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime& rt) -> absl::Status {
    // Everything holding sockets or strands goes before the io_context (daemon.h OnExit).
    rt.OnExit([] { State done = std::move(state); });
    const auto& c = rt.config();
    auto pool = kite::daemon::OpenPostgres(c, rt.spec().section);
    if (!pool.ok()) return pool.status();
    state.pool = std::move(*pool);
    if (c.Bool("mta", "relay_enabled")) {
      auto options = RelayOptions(c);
      if (!options.ok()) return options.status();
      auto resolver = kite::dns::CaresResolver::Create({.servers = c.List("global", "dns_servers")});
      if (!resolver.ok()) return resolver.status();
      state.relay = std::make_unique<kite::relay::Relay>(rt.io(), *state.pool, kite::daemon::RedisOptions(c, rt.spec().section),
                                                         std::shared_ptr<kite::dns::Resolver>(std::move(*resolver)),
                                                         rt.metrics().registry(), *options);
      // Fail fast when Redis is unreachable; the threads start once the daemon runs, so a
      // failed start never leaves threads behind.
      auto probe = kite::redis::Client::Connect(kite::daemon::RedisOptions(c, rt.spec().section));
      if (!probe.ok()) return probe.status();
      boost::asio::post(rt.io(), [] {
        if (auto s = state.relay->Start(); !s.ok()) kite::log::Error("relay.start_failed").Kv("error", s.message());
      });
      rt.OnShutdown([&rt](std::chrono::milliseconds grace) -> boost::asio::awaitable<void> {
        co_await rt.Blocking([grace] { state.relay->Stop(grace); });
      });
    }
    if (!c.Bool("mta", "inbound_enabled")) return absl::OkStatus();
    auto tls = kite::daemon::LoadTls(rt);
    if (!tls.ok()) return tls.status();
    auto directory = std::shared_ptr<kite::directory::v1::Directory::Stub>(kite::directory::v1::Directory::NewStub(
        kite::rpc::MakeChannel(c.Address("global", "auth_address").ToString(), rt.grpc_tls())));
    state.server = std::make_unique<kite::smtp_server::Server>(
        rt, kite::smtp_server::Mode::kInbound, *state.pool,
        kite::daemon::RedisOptions(c, rt.spec().section),
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
