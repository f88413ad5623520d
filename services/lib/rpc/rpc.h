// gRPC plumbing shared by every daemon: the server skeleton (with the standard
// grpc.health.v1 service and a graceful drain), client channels, health checks, and the
// mapping between absl::Status and grpc::Status.
//
// gRPC between daemons runs over TLS when certificates are configured (global.grpc_tls_*),
// with the CA verifying both sides; otherwise plaintext, meant for loopback or a mesh.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace kite::rpc {

struct TlsFiles {
  std::string cert;
  std::string key;
  std::string ca;
  bool enabled() const { return !cert.empty(); }
};

// grpc.health.v1.Health, synchronous: gRPC 1.51 refuses to start a server that has no
// synchronous service, and its built-in health service is asynchronous when alone.
class HealthService;

class Server {
 public:
  // Binds `address` and serves `services` plus grpc.health.v1.Health. Health starts
  // NOT_SERVING; the daemon calls SetServing(true) once it is ready.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const std::string& address,
                                                       const std::vector<grpc::Service*>& services,
                                                       const TlsFiles& tls);
  ~Server();
  void SetServing(bool serving);
  // Stops accepting calls and waits up to `grace` for the running ones.
  void Shutdown(std::chrono::milliseconds grace);
  int port() const { return port_; }

 private:
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> service_names_;
  int port_ = 0;
  bool shut_down_ = false;
};

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const TlsFiles& tls);

// SERVING -> true; NOT_SERVING -> false; unreachable -> error.
absl::StatusOr<bool> CheckHealth(const std::string& address, const TlsFiles& tls,
                                 std::chrono::milliseconds deadline, const std::string& service = "");

absl::Status FromGrpc(const grpc::Status& status);
grpc::Status ToGrpc(const absl::Status& status);

// A client context with a deadline `timeout` from now.
std::unique_ptr<grpc::ClientContext> ContextWithDeadline(std::chrono::milliseconds timeout);

}  // namespace kite::rpc
