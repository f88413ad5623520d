#include "lib/net/listener.h"

#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <cstdio>
#include <exception>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace kite::net {

namespace asio = boost::asio;
using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;

struct Listener::State {
  State(asio::io_context& io_context, ListenerOptions opts, Handler h)
      : io(io_context), options(std::move(opts)), handler(std::move(h)), strand(asio::make_strand(io)),
        acceptor(strand) {}

  asio::io_context& io;
  const ListenerOptions options;
  const Handler handler;
  asio::strand<asio::io_context::executor_type> strand;  // the acceptor's
  asio::ip::tcp::acceptor acceptor;
  uint16_t port = 0;
  std::atomic<size_t> active{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<bool> stopped{false};

  std::mutex mu;  // guards the two below; connections run on other strands
  std::map<uint64_t, std::weak_ptr<Connection>> connections;
  uint64_t next_id = 0;
};

namespace {

using State = Listener::State;

// One line per event on stderr until the log module is wired in by the daemons. Nothing the
// client sent is printed: addresses are formatted by us, reasons are our own texts.
void Log(const State& s, std::string_view event, std::string_view detail) {
  std::fprintf(stderr, "net listener=%s port=%u event=%.*s %.*s\n", s.options.name.c_str(), s.port,
               static_cast<int>(event.size()), event.data(), static_cast<int>(detail.size()), detail.data());
}

std::string PeerText(const Connection& c) { return absl::StrCat("peer=", c.peer_address(), ":", c.peer_port()); }

// Over the limit: say so without waiting for the client (a non-blocking write into an empty
// socket buffer) and hang up, so a flood cannot hold coroutines or memory.
void RejectBusy(const State& s, asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  if (!s.options.busy_banner.empty()) {
    socket.non_blocking(true, ec);
    socket.write_some(asio::buffer(s.options.busy_banner), ec);
  }
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

awaitable<void> Serve(std::shared_ptr<State> s, std::shared_ptr<Connection> conn) {
  if (!s->options.proxy_trusted.empty() && AnyContains(s->options.proxy_trusted, conn->peer_address())) {
    absl::Status st = co_await conn->ReadProxyHeader(s->options.proxy_timeout);
    if (!st.ok()) {
      Log(*s, "proxy_error", absl::StrCat(PeerText(*conn), " error=\"", st.message(), "\""));
      co_return;
    }
  }
  if (s->options.implicit_tls) {
    absl::Status st = co_await conn->StartTls(s->options.handshake_timeout);
    if (!st.ok()) {
      Log(*s, "tls_error", absl::StrCat(PeerText(*conn), " error=\"", st.message(), "\""));
      co_return;
    }
  }
  try {
    co_await s->handler(conn);
  } catch (const std::exception& e) {
    Log(*s, "handler_exception", absl::StrCat(PeerText(*conn), " what=\"", e.what(), "\""));
  } catch (...) {
    Log(*s, "handler_exception", absl::StrCat(PeerText(*conn), " what=unknown"));
  }
}

awaitable<void> AcceptLoop(std::shared_ptr<State> s) {
  for (;;) {
    // Each connection gets its own strand: handlers of different clients may run in
    // parallel when the io_context has several threads, one client's never do.
    asio::ip::tcp::socket socket(asio::make_strand(s->io));
    boost::system::error_code ec;
    co_await s->acceptor.async_accept(socket, redirect_error(use_awaitable, ec));
    if (s->stopped || !s->acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE, ENFILE, ENOBUFS: pause instead of spinning while the shortage lasts.
      Log(*s, "accept_error", absl::StrCat("error=\"", ec.message(), "\""));
      asio::steady_timer pause(s->strand, std::chrono::milliseconds(100));
      co_await pause.async_wait(redirect_error(use_awaitable, ec));
      continue;
    }
    s->accepted++;
    if (s->active.load() >= s->options.max_connections) {
      s->rejected++;
      RejectBusy(*s, socket);
      continue;
    }
    s->active++;
    auto conn = std::make_shared<Connection>(std::move(socket), s->options.tls);
    uint64_t id;
    {
      std::lock_guard<std::mutex> lock(s->mu);
      id = ++s->next_id;
      s->connections.emplace(id, conn);
    }
    // Cleanup runs in the completion handler, i.e. only when the session really finished; an
    // io_context torn down with sessions suspended just frees their frames.
    asio::co_spawn(conn->executor(), Serve(s, conn), [s, conn, id](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          Log(*s, "session_exception", absl::StrCat(PeerText(*conn), " what=\"", ex.what(), "\""));
        } catch (...) {
          Log(*s, "session_exception", PeerText(*conn));
        }
      }
      conn->Close();
      {
        std::lock_guard<std::mutex> lock(s->mu);
        s->connections.erase(id);
      }
      s->active--;
    });
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Listener>> Listener::Start(asio::io_context& io, ListenerOptions options,
                                                          Handler handler) {
  if (!handler) return absl::InvalidArgumentError("listener needs a handler");
  if (options.implicit_tls && !options.tls) {
    return absl::InvalidArgumentError(absl::StrCat("implicit TLS on listener ", options.name, " needs a certificate"));
  }
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("invalid listen address \"", options.address, "\""));
  std::string where = address.is_v6() ? absl::StrCat("[", options.address, "]:", options.port)
                                      : absl::StrCat(options.address, ":", options.port);
  asio::ip::tcp::endpoint endpoint(address, options.port);

  auto s = std::make_shared<State>(io, std::move(options), std::move(handler));
  auto fail = [&](const boost::system::error_code& error) {
    return absl::Status(error == asio::error::access_denied ? absl::StatusCode::kPermissionDenied
                                                            : absl::StatusCode::kUnavailable,
                        absl::StrCat("cannot listen on ", where, ": ", error.message()));
  };
  s->acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail(ec);
  // Lets a restarted daemon bind while old connections sit in TIME_WAIT; Linux still refuses
  // a port another process is listening on.
  s->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  s->acceptor.bind(endpoint, ec);
  if (ec) return fail(ec);
  s->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(ec);
  s->port = s->acceptor.local_endpoint(ec).port();
  if (ec) return fail(ec);

  asio::co_spawn(s->strand, AcceptLoop(s), [s](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      Log(*s, "accept_loop_exception", ex.what());
    } catch (...) {
      Log(*s, "accept_loop_exception", "unknown");
    }
  });
  return std::unique_ptr<Listener>(new Listener(std::move(s)));
}

Listener::~Listener() { Stop(); }

uint16_t Listener::port() const { return state_->port; }
size_t Listener::active_connections() const { return state_->active.load(); }
uint64_t Listener::accepted_total() const { return state_->accepted.load(); }
uint64_t Listener::rejected_total() const { return state_->rejected.load(); }

void Listener::Stop() {
  if (state_->stopped.exchange(true)) return;
  asio::dispatch(state_->strand, [s = state_] {
    boost::system::error_code ignored;
    s->acceptor.close(ignored);
  });
}

awaitable<void> Listener::Drain(std::chrono::milliseconds deadline) {
  std::shared_ptr<State> s = state_;  // the Listener may be destroyed while we wait
  asio::steady_timer timer(co_await asio::this_coro::executor);
  boost::system::error_code ec;
  auto wait_until = [&](std::chrono::steady_clock::time_point until) -> awaitable<void> {
    while (s->active.load() > 0) {
      auto now = std::chrono::steady_clock::now();
      if (now >= until) break;
      timer.expires_after(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(20), until - now));
      co_await timer.async_wait(redirect_error(use_awaitable, ec));
    }
  };
  co_await wait_until(std::chrono::steady_clock::now() + deadline);
  if (s->active.load() == 0) co_return;

  std::vector<std::shared_ptr<Connection>> rest;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    for (auto& [id, weak] : s->connections) {
      if (auto c = weak.lock()) rest.push_back(std::move(c));
    }
  }
  Log(*s, "drain_close", absl::StrCat("remaining=", rest.size()));
  for (auto& c : rest) asio::post(c->executor(), [c] { c->Close(); });
  // Closing fails their pending I/O; give the handlers a bounded moment to notice and return.
  co_await wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(2));
}

}  // namespace kite::net
