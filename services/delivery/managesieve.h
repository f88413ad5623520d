// kite-delivery's ManageSieve server (RFC 5804): users upload, check, list and activate their
// Sieve scripts with their mail client's filter editor; the active script is what delivery
// runs (lib/sievestore GetActive).
//
// SECURITY: every byte comes from the client. Commands are parsed by managesieve::Parser
// (bounded lines, strings, literals, commands); a malformed command gets NO and the session
// goes on, until delivery.managesieve_max_errors errors (failed logins included) end it with
// BYE. Authentication only after STARTTLS: before TLS the SASL capability is empty and
// AUTHENTICATE is refused (ENCRYPT-NEEDED). Credentials go to kite-auth only (SASL over gRPC,
// the exchange in lib/sasl: its per-account and per-address throttling applies); they are never logged. Every script
// operation names the authenticated account (lib/sievestore), so a session can only ever see
// its own scripts. Plaintext pipelined behind STARTTLS is dropped (CVE-2011-0411). Uploaded
// scripts are compiled before they are stored; a bad one is refused with its line and reason.
// STANDARDS: RFC 5804 (CAPABILITY, STARTTLS, AUTHENTICATE with SASL-IR, LOGOUT, NOOP,
// HAVESPACE, PUTSCRIPT, LISTSCRIPTS, SETACTIVE, GETSCRIPT, DELETESCRIPT, RENAMESCRIPT,
// CHECKSCRIPT, UNAUTHENTICATE), RFC 4422 (SASL), RFC 5228 (the scripts).
// Not implemented: SASL security layers, REFERRAL, the OWNER-less proxy authorisation.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "kite/auth/v1/auth.grpc.pb.h"
#include "lib/daemon/daemon.h"
#include "lib/net/connection.h"
#include "lib/net/listener.h"
#include "lib/sievestore/sievestore.h"
#include "lib/store/pool.h"
#include "lib/tls/context.h"

namespace kite::delivery {

struct ManageSieveLimits {
  std::chrono::milliseconds login_timeout{60 * 1000};  // before authentication
  std::chrono::milliseconds idle_timeout{10 * 60 * 1000};
  int max_errors = 10;
  sievestore::Limits store;
};

// The sessions' shared state. Owned by the daemon; destroy before the io_context.
class ManageSieveServer {
 public:
  ManageSieveServer(daemon::Runtime& rt, store::Pool& pool,
                    std::shared_ptr<kite::auth::v1::Auth::Stub> auth, ManageSieveLimits limits);
  ~ManageSieveServer();
  boost::asio::awaitable<void> Session(std::shared_ptr<net::Connection> conn);

  // The listener (set by StartManageSieve); released with the server.
  std::unique_ptr<net::Listener> listener;

 private:
  class Session_;
  daemon::Runtime& rt_;
  store::Pool& pool_;
  std::shared_ptr<kite::auth::v1::Auth::Stub> auth_;
  ManageSieveLimits limits_;
  prometheus::Family<prometheus::Counter>& commands_;
  prometheus::Family<prometheus::Counter>& logins_;
};

// Starts the ManageSieve listener on delivery.managesieve_listen with the daemon's TLS
// certificate (global.tls_cert/tls_key) and kite-auth at global.auth_address. Release the
// result in Runtime::OnExit.
absl::StatusOr<std::unique_ptr<ManageSieveServer>> StartManageSieve(daemon::Runtime& rt,
                                                                    store::Pool& pool);

}  // namespace kite::delivery
