// kite-auth — accounts, passwords, SASL and the directory, over gRPC.
//
// SECURITY: see auth_service.h. kite-auth holds the only code that reads password hashes;
// the protocol daemons only ever learn "ok + identity" or a refusal.
#include "auth/auth_service.h"
#include "auth/directory_service.h"
#include "lib/daemon/backends.h"
#include "lib/daemon/daemon.h"
#include "lib/log/log.h"

namespace {

struct State {
  std::unique_ptr<kite::store::Pool> pool;
  std::unique_ptr<kite::auth::Throttle> throttle;
  std::unique_ptr<kite::auth::AuthService> auth;
  std::unique_ptr<kite::auth::DirectoryService> directory;
};

}  // namespace

int main(int argc, char** argv) {
  static const kite::daemon::Spec spec{
      .name = "kite-auth",
      .section = "auth",
      .summary = "accounts, passwords (argon2id), SASL, login throttling and the directory, over gRPC",
      .details =
          "SECURITY: passwords are verified here only and never logged; authentication is refused\n"
          "for clients the caller reports as unencrypted; failed logins are throttled per account\n"
          "and per client address (Redis).\n"
          "STANDARDS: RFC 4422 (SASL), RFC 4616 (PLAIN), RFC 9106 (argon2id).",
  };
  static State state;
  return kite::daemon::Main(argc, argv, spec, [](kite::daemon::Runtime& rt) -> absl::Status {
    // Everything holding sockets or strands goes before the io_context (daemon.h OnExit).
    rt.OnExit([] { State done = std::move(state); });
    const auto& c = rt.config();
    auto pool = kite::daemon::OpenPostgres(c, rt.spec().section);
    if (!pool.ok()) return pool.status();
    state.pool = std::move(*pool);
    state.throttle = std::make_unique<kite::auth::Throttle>(
        kite::daemon::RedisOptions(c, rt.spec().section),
        kite::auth::ThrottlePolicy{
            .max_failures = static_cast<int>(c.Int("auth", "max_failures")),
            .window = std::chrono::duration_cast<std::chrono::seconds>(c.Duration("auth", "failure_window")),
            .lockout = std::chrono::duration_cast<std::chrono::seconds>(c.Duration("auth", "lockout")),
            .failure_delay = c.Duration("auth", "failure_delay")},
        rt.metrics());
    state.auth = std::make_unique<kite::auth::AuthService>(
        *state.pool, *state.throttle,
        kite::password::Argon2Params{static_cast<uint32_t>(c.Int("auth", "argon2_memory_kib")),
                                     static_cast<uint32_t>(c.Int("auth", "argon2_iterations")),
                                     static_cast<uint32_t>(c.Int("auth", "argon2_parallelism"))},
        c.Bool("global", "allow_plaintext_auth_loopback"), rt.metrics());
    state.directory = std::make_unique<kite::auth::DirectoryService>(*state.pool);
    rt.AddService(state.auth.get());
    rt.AddService(state.directory.get());
    return absl::OkStatus();
  });
}
