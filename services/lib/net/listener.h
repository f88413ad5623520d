// A TCP listener that runs one coroutine per client: the shared server skeleton of Kite's
// line-protocol daemons (Postfix's single_server, as a coroutine).
//
// What: binds, accepts, enforces the connection limit, honours the PROXY protocol from trusted
// balancers, performs implicit TLS, runs the daemon's handler, and shuts down gracefully.
// Standards: PROXY protocol v1/v2 (see proxy_protocol.h); implicit TLS per RFC 8314 (465, 993,
// 995) and HTTPS; the busy reply is the daemon's own (SMTP "421 4.3.2", RFC 3463).
// Untrusted input: connections from anyone. A PROXY header is read only from sources in
// proxy_trusted (and is then required); from anyone else it is ordinary protocol data, so a
// client cannot forge its address. Handshakes and PROXY headers are bounded by deadlines, and
// at most max_connections clients are served at once.
#ifndef KITE_SERVICES_LIB_NET_LISTENER_H_
#define KITE_SERVICES_LIB_NET_LISTENER_H_

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/net/cidr.h"
#include "lib/net/connection.h"
#include "lib/tls/context.h"

namespace kite::net {

struct ListenerOptions {
  std::string name;  // "smtp", for logs
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 = ephemeral (tests); Listener::port() tells the bound one
  // Beyond this many clients, a new connection gets busy_banner (if any) and is closed.
  size_t max_connections = 1000;
  std::string busy_banner;  // e.g. "421 4.3.2 Too many connections\r\n"
  // Non-empty: connections from these sources MUST start with a PROXY header (v1 or v2) within
  // proxy_timeout, others must not (theirs is protocol data). Empty: PROXY disabled.
  std::vector<Cidr> proxy_trusted;
  std::chrono::milliseconds proxy_timeout{5000};
  std::shared_ptr<tls::ServerContext> tls;  // for implicit TLS or STARTTLS
  bool implicit_tls = false;                // handshake immediately (465, 993, 995, 8443)
  std::chrono::milliseconds handshake_timeout{10000};
};

// Runs the session for one client. It may co_return at any time; the listener closes the
// connection afterwards. Exceptions are caught, logged and end only that connection.
using Handler = std::function<boost::asio::awaitable<void>(std::shared_ptr<Connection>)>;

class Listener {
 public:
  // Binds and listens synchronously, so a daemon fails at start with e.g. "cannot listen on
  // 127.0.0.1:25: Address already in use"; then accepts in a coroutine on `io`. Each
  // connection runs on its own strand, so `io` may be run by several threads.
  static absl::StatusOr<std::unique_ptr<Listener>> Start(boost::asio::io_context& io, ListenerOptions options,
                                                         Handler handler);
  // Stop()s; connections in progress continue until their handler returns. Destroy the
  // Listener before its io_context.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  uint16_t port() const;
  size_t active_connections() const;  // handlers running now
  uint64_t accepted_total() const;    // every accepted TCP connection, rejected ones included
  uint64_t rejected_total() const;    // closed at once because of max_connections

  // Stops accepting (graceful shutdown): the listening socket is closed, on the acceptor's
  // strand, shortly after the call. Existing connections continue. Thread-safe.
  void Stop();

  // Waits until no handler runs or the deadline passes; then closes the remaining connections
  // (their pending reads fail with kCancelled) and waits briefly for their handlers to finish.
  boost::asio::awaitable<void> Drain(std::chrono::milliseconds deadline);

  struct State;  // shared with the accept and connection coroutines

 private:
  explicit Listener(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace kite::net

#endif  // KITE_SERVICES_LIB_NET_LISTENER_H_
