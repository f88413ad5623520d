#include "lib/daemon/daemon.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "lib/log/log.h"

namespace kite::daemon {

Runtime::Runtime(const Spec& spec, const config::Config& config, metrics::Metrics& metrics)
    : spec_(spec), config_(config), metrics_(metrics) {}

Runtime::~Runtime() {
  pool_.stop();
  pool_.join();
}

rpc::TlsFiles Runtime::grpc_tls() const {
  return {config_.String("global", "grpc_tls_cert"), config_.String("global", "grpc_tls_key"),
          config_.String("global", "grpc_tls_ca")};
}

namespace {

void PrintHelp(const Spec& spec) {
  std::printf(
      "%s — %s\n\n"
      "Usage: %s [--config FILE] [--check-config] [--help] [--version]\n\n"
      "  --config FILE    configuration file (default: $KITE_CONFIG, else built-in defaults)\n"
      "  --check-config   validate the configuration, print the effective [%s] section, exit\n"
      "  --version        print the version\n\n"
      "Every key can be overridden by an environment variable KITE_<SECTION>_<KEY>,\n"
      "for example KITE_%s_GRPC_LISTEN=0.0.0.0:7000. See docs/configuration.md.\n\n%s\n",
      spec.name.c_str(), spec.summary.c_str(), spec.name.c_str(), spec.section.c_str(),
      config::Config::EnvName(spec.section, "").substr(5, spec.section.size()).c_str(),
      spec.details.c_str());
}

// SIGTERM/SIGINT that arrive while the daemon starts (before the Asio signal_set exists):
// remembered here and re-raised once it does, so an early stop is a graceful one, never a
// kill by the default action.
volatile std::sig_atomic_t g_early_signal = 0;
extern "C" void RememberEarlySignal(int signo) { g_early_signal = signo; }

}  // namespace

int Main(int argc, char** argv, const Spec& spec, std::function<absl::Status(Runtime&)> setup) {
  std::string config_path;
  if (const char* env = std::getenv("KITE_CONFIG")) config_path = env;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      PrintHelp(spec);
      return 0;
    } else if (arg == "--version") {
      std::printf("%s %s\n", spec.name.c_str(), KITE_VERSION);
      return 0;
    } else if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.substr(0, 9) == "--config=") {
      config_path = std::string(arg.substr(9));
    } else {
      std::fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", spec.name.c_str(), argv[i]);
      return 2;
    }
  }

  auto config = config::Config::Load(config::KiteSchema(), config_path, config::ProcessEnvironment());
  if (!config.ok()) {
    std::fprintf(stderr, "%s: configuration error: %s\n", spec.name.c_str(),
                 std::string(config.status().message()).c_str());
    return 2;
  }
  if (spec.check) {
    if (absl::Status s = spec.check(*config); !s.ok()) {
      std::fprintf(stderr, "%s: configuration error: %s\n", spec.name.c_str(),
                   std::string(s.message()).c_str());
      return 2;
    }
  }
  if (check_only) {
    std::printf("%s: configuration OK%s\n%s", spec.name.c_str(),
                config_path.empty() ? " (defaults and environment)" : absl::StrCat(" (", config_path, ")").c_str(),
                config->Dump(spec.section).c_str());
    return 0;
  }

  std::signal(SIGTERM, RememberEarlySignal);
  std::signal(SIGINT, RememberEarlySignal);
  // A write to a socket whose peer went away (a restarted Redis under hiredis's write(), a
  // client gone mid-reply) must be an EPIPE error for that connection, not the death of the
  // daemon: SIGPIPE's default action kills silently, with nothing in the log.
  std::signal(SIGPIPE, SIG_IGN);
  log::Init({.daemon = spec.name,
             .level = log::ParseLevel(config->String("global", "log_level")),
             .json = config->String("global", "log_format") == "json"});

  auto metrics = metrics::Metrics::Start(spec.name, config->Address(spec.section, "metrics_listen").ToString());
  if (!metrics.ok()) {
    log::Error("daemon.start_failed").Kv("error", metrics.status().message());
    std::fprintf(stderr, "%s: %s\n", spec.name.c_str(), std::string(metrics.status().message()).c_str());
    return 1;
  }

  Runtime runtime(spec, *config, **metrics);
  if (absl::Status s = setup(runtime); !s.ok()) {
    log::Error("daemon.start_failed").Kv("error", s.message());
    std::fprintf(stderr, "%s: %s\n", spec.name.c_str(), std::string(s.message()).c_str());
    return 1;
  }
  auto server = rpc::Server::Start(config->Address(spec.section, "grpc_listen").ToString(),
                                   runtime.services_, runtime.grpc_tls());
  if (!server.ok()) {
    log::Error("daemon.start_failed").Kv("error", server.status().message());
    std::fprintf(stderr, "%s: %s\n", spec.name.c_str(), std::string(server.status().message()).c_str());
    return 1;
  }

  boost::asio::signal_set signals(runtime.io_, SIGTERM, SIGINT);
  boost::asio::steady_timer grace_timer(runtime.io_);
  auto grace = config->Duration("global", "shutdown_grace");
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log::Info("daemon.stopping").Kv("signal", signo == SIGTERM ? "SIGTERM" : "SIGINT");
    runtime.stopping_ = true;
    (*server)->SetServing(false);
    // A hook that overruns its grace must not keep the process alive forever.
    grace_timer.expires_after(grace + std::chrono::seconds(5));
    grace_timer.async_wait([&](const boost::system::error_code& tec) {
      if (tec) return;
      log::Warn("daemon.grace_expired").Kv("grace_ms", static_cast<int64_t>(grace.count()));
      runtime.io_.stop();
    });
    boost::asio::co_spawn(
        runtime.io_,
        [&]() -> boost::asio::awaitable<void> {
          for (auto& hook : runtime.on_shutdown_) co_await hook(grace);
          runtime.io_.stop();
        },
        boost::asio::detached);
    // A second signal stops at once.
    signals.async_wait([&](const boost::system::error_code& ec2, int) {
      if (!ec2) runtime.io_.stop();
    });
  });
  // A stop requested during start-up is handled now, through the handler above.
  if (int early = g_early_signal; early != 0) std::raise(early);
  (*server)->SetServing(true);
  log::Info("daemon.started")
      .Kv("grpc", config->Address(spec.section, "grpc_listen").ToString())
      .Kv("metrics", config->Address(spec.section, "metrics_listen").ToString());

  runtime.io_.run();
  (*server)->Shutdown(std::chrono::milliseconds(2000));
  runtime.pool_.stop();
  runtime.pool_.join();
  for (auto it = runtime.on_exit_.rbegin(); it != runtime.on_exit_.rend(); ++it) (*it)();
  log::Info("daemon.stopped");
  return 0;
}

}  // namespace kite::daemon
