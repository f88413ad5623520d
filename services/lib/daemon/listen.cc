#include "lib/daemon/listen.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/log/log.h"
#include "lib/net/cidr.h"

namespace kite::daemon {

absl::Status CheckTls(const config::Config& c) {
  std::string cert = c.String("global", "tls_cert"), key = c.String("global", "tls_key");
  if (cert.empty() || key.empty()) {
    return absl::InvalidArgumentError(
        "global.tls_cert and global.tls_key must name a PEM certificate and key: every client port offers TLS");
  }
  auto ctx = tls::ServerContext::Create({.cert_file = cert, .key_file = key});
  if (!ctx.ok()) return absl::InvalidArgumentError(absl::StrCat("global.tls_cert/tls_key: ", ctx.status().message()));
  if (auto proxies = net::ParseCidrList(absl::StrJoin(c.List("global", "proxy_trusted"), ",")); !proxies.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("global.proxy_trusted: ", proxies.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<tls::ServerContext>> LoadTls(Runtime& rt) {
  const auto& c = rt.config();
  auto ctx = tls::ServerContext::Create({.cert_file = c.String("global", "tls_cert"), .key_file = c.String("global", "tls_key")});
  if (!ctx.ok()) return absl::InvalidArgumentError(absl::StrCat("global.tls_cert/tls_key: ", ctx.status().message()));
  std::shared_ptr<tls::ServerContext> shared = *ctx;
  boost::asio::co_spawn(
      rt.io(),
      [shared, &rt]() -> boost::asio::awaitable<void> {
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
        while (!rt.stopping()) {
          timer.expires_after(std::chrono::seconds(30));
          boost::system::error_code ec;
          co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
          auto reloaded = shared->ReloadIfChanged();
          if (!reloaded.ok()) {
            log::Error("tls.reload_failed").Kv("error", reloaded.status().message());
          } else if (*reloaded) {
            log::Info("tls.reloaded");
          }
        }
      },
      boost::asio::detached);
  return shared;
}

absl::StatusOr<std::unique_ptr<net::Listener>> Listen(Runtime& rt, const std::string& section, const std::string& key,
                                                      net::ListenerOptions options, net::Handler handler) {
  const auto& c = rt.config();
  config::HostPort hp = c.Address(section, key);
  options.address = hp.host;
  options.port = hp.port;
  auto proxies = net::ParseCidrList(absl::StrJoin(c.List("global", "proxy_trusted"), ","));
  if (!proxies.ok()) return absl::InvalidArgumentError(absl::StrCat("global.proxy_trusted: ", proxies.status().message()));
  options.proxy_trusted = *proxies;
  auto listener = net::Listener::Start(rt.io(), options, std::move(handler));
  if (!listener.ok()) return absl::Status(listener.status().code(), absl::StrCat(section, ".", key, ": ", listener.status().message()));
  net::Listener* l = listener->get();
  rt.OnShutdown([l](std::chrono::milliseconds grace) -> boost::asio::awaitable<void> {
    l->Stop();
    co_await l->Drain(grace);
  });
  log::Info("listener.started").Kv("name", options.name).Kv("address", hp.ToString()).Kv("implicit_tls", options.implicit_tls);
  return listener;
}

}  // namespace kite::daemon
