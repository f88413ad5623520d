// kite-caldav's HTTP server: one coroutine per connection (HTTP/1.1 keep-alive), HTTP Basic
// authentication through kite-auth (service "caldav"; app passwords work), then
// DavHandler on the worker pool.
//
// SECURITY: Basic credentials only over TLS, except from loopback clients on the plain port
// when caldav.allow_plaintext_loopback is true (the launcher); kite-auth is then told the
// connection is acceptable (tls=true in ClientInfo) since this daemon applied the rule. A
// successful check is cached for the connection (same Authorization header only). Request
// headers are bounded (16 KiB, 431), bodies by caldav.max_resource_size (413), every read has
// a deadline; client text is escaped before it is logged; passwords are never logged.
#ifndef KITE_SERVICES_CALDAV_SERVER_H_
#define KITE_SERVICES_CALDAV_SERVER_H_

#include <chrono>
#include <functional>
#include <optional>
#include <memory>
#include <string>

#include "caldav/dav_handler.h"
#include "kite/auth/v1/auth.grpc.pb.h"
#include "lib/daemon/daemon.h"
#include "lib/net/connection.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"

namespace kite::caldav {

struct ServerOptions {
  size_t max_header = 16 * 1024;
  size_t max_body = 1 << 20;
  std::chrono::milliseconds idle_timeout{60000};     // between requests
  std::chrono::milliseconds request_timeout{30000};  // to receive one whole request
  bool allow_plaintext_loopback = false;
};

class Server {
 public:
  Server(daemon::Runtime& rt, DavHandler& handler, std::shared_ptr<kite::auth::v1::Auth::StubInterface> auth,
         ServerOptions options);
  boost::asio::awaitable<void> Session(std::shared_ptr<net::Connection> conn);

  // Paths served without authentication before CalDAV routing (client setup: autoconfig,
  // Autodiscover, MTA-STS; the external free/busy URL): returns the answer, or nullopt for
  // "not mine". Runs on the worker pool (it may call other services). Set before serving.
  using PublicRoutes = std::function<std::optional<http::Response>(const http::Request&)>;
  void set_public_routes(PublicRoutes routes) { public_routes_ = std::move(routes); }

 private:
  daemon::Runtime& rt_;
  DavHandler& handler_;
  std::shared_ptr<kite::auth::v1::Auth::StubInterface> auth_;
  ServerOptions options_;
  PublicRoutes public_routes_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
};

}  // namespace kite::caldav

#endif  // KITE_SERVICES_CALDAV_SERVER_H_
