// The server skeleton every Kite daemon's main() wires into (Postfix's single_server idea):
// command line (--help, --version, --config, --check-config), configuration loading with
// clear errors, structured logging, Prometheus /metrics, the gRPC server with the standard
// health service, an Asio io_context for protocol sessions, a thread pool for blocking
// calls (PostgreSQL, Redis, gRPC clients), and graceful shutdown on SIGTERM/SIGINT:
// health goes NOT_SERVING, listeners stop accepting, sessions get `global.shutdown_grace`
// to finish, then the process exits 0.
#pragma once

#include <utility>  // Boost 1.74's awaitable.hpp needs it first

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/config/config.h"
#include "lib/metrics/metrics.h"
#include "lib/rpc/rpc.h"

namespace kite::daemon {

struct Spec {
  std::string name;       // "kite-mta"
  std::string section;    // configuration section, "mta"
  std::string summary;    // one line for --help
  std::string details;    // SECURITY and STANDARDS paragraphs for --help
  // Daemon-specific validation for --check-config and start-up (files readable, ...).
  std::function<absl::Status(const config::Config&)> check;
};

class Runtime {
 public:
  Runtime(const Spec& spec, const config::Config& config, metrics::Metrics& metrics);
  ~Runtime();

  const Spec& spec() const { return spec_; }
  const config::Config& config() const { return config_; }
  boost::asio::io_context& io() { return io_; }
  metrics::Metrics& metrics() { return metrics_; }
  rpc::TlsFiles grpc_tls() const;

  // Registers a gRPC service; call from setup, before the server starts.
  void AddService(grpc::Service* service) { services_.push_back(service); }
  // Called on SIGTERM, in registration order, as coroutines on the io thread: stop
  // accepting, then wait (at most `grace`) for sessions to finish.
  using ShutdownHook = std::function<boost::asio::awaitable<void>(std::chrono::milliseconds grace)>;
  void OnShutdown(ShutdownHook fn) { on_shutdown_.push_back(std::move(fn)); }
  // Called once the event loop has stopped, in reverse registration order, while the
  // io_context and the worker pool still exist: release here everything that holds
  // sockets, timers or strands (listeners, servers, consumers). A daemon's objects must not
  // outlive its io_context (static state destroyed at exit would touch freed Asio services).
  void OnExit(std::function<void()> fn) { on_exit_.push_back(std::move(fn)); }
  // Returns true once SIGTERM arrived; long loops check it.
  bool stopping() const { return stopping_; }

  // Runs a blocking function on the worker pool and resumes the coroutine on its own
  // executor with the result. `f` must not throw.
  template <typename F>
  boost::asio::awaitable<std::invoke_result_t<F>> Blocking(F f) {
    auto home = co_await boost::asio::this_coro::executor;
    co_await boost::asio::post(pool_.get_executor(), boost::asio::use_awaitable);
    if constexpr (std::is_void_v<std::invoke_result_t<F>>) {
      f();
      co_await boost::asio::post(home, boost::asio::use_awaitable);
    } else {
      auto result = f();
      co_await boost::asio::post(home, boost::asio::use_awaitable);
      co_return result;
    }
  }
  boost::asio::thread_pool& pool() { return pool_; }

 private:
  friend int Main(int, char**, const Spec&, std::function<absl::Status(Runtime&)>);
  const Spec& spec_;
  const config::Config& config_;
  metrics::Metrics& metrics_;
  boost::asio::io_context io_{1};
  boost::asio::thread_pool pool_{8};
  std::vector<grpc::Service*> services_;
  std::vector<ShutdownHook> on_shutdown_;
  std::vector<std::function<void()>> on_exit_;
  bool stopping_ = false;
};

// The whole main(): returns the process exit code (0 ok, 1 runtime failure, 2 bad
// configuration or usage).
int Main(int argc, char** argv, const Spec& spec, std::function<absl::Status(Runtime&)> setup);

}  // namespace kite::daemon
