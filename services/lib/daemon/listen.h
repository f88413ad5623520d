// Client-facing listeners for the protocol daemons: TLS from global.tls_cert/tls_key
// (reloaded when the files change, so cert-manager renewals need no restart), PROXY
// protocol from global.proxy_trusted, and graceful shutdown (stop accepting, drain sessions
// for global.shutdown_grace) wired into the daemon Runtime.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "lib/config/config.h"
#include "lib/daemon/daemon.h"
#include "lib/net/listener.h"
#include "lib/tls/context.h"

namespace kite::daemon {

// Validates that TLS files are configured and load (for Spec::check and start-up).
absl::Status CheckTls(const config::Config& config);

// Loads the TLS context and starts a timer that reloads it when the files change.
absl::StatusOr<std::shared_ptr<tls::ServerContext>> LoadTls(Runtime& rt);

// Starts a listener on the address in [section] `key`; registers Stop + Drain for SIGTERM
// and a connections gauge.
absl::StatusOr<std::unique_ptr<net::Listener>> Listen(Runtime& rt, const std::string& section, const std::string& key,
                                                      net::ListenerOptions options, net::Handler handler);

}  // namespace kite::daemon
