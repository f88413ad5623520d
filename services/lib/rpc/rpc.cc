#include "lib/rpc/rpc.h"

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace kite::rpc {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  void Set(bool serving) {
    std::lock_guard lock(mu_);
    status_ = serving ? grpc::health::v1::HealthCheckResponse::SERVING : grpc::health::v1::HealthCheckResponse::NOT_SERVING;
    changed_.notify_all();
  }
  grpc::Status Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest* req,
                     grpc::health::v1::HealthCheckResponse* resp) override {
    if (!req->service().empty() && req->service() != "kite") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
    }
    std::lock_guard lock(mu_);
    resp->set_status(status_);
    return grpc::Status::OK;
  }
  grpc::Status Watch(grpc::ServerContext* ctx, const grpc::health::v1::HealthCheckRequest*,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override {
    std::unique_lock lock(mu_);
    ServingStatus last = grpc::health::v1::HealthCheckResponse::UNKNOWN;
    while (!ctx->IsCancelled() && !shutting_down_) {
      if (status_ != last) {
        last = status_;
        grpc::health::v1::HealthCheckResponse resp;
        resp.set_status(last);
        lock.unlock();
        if (!writer->Write(resp)) return grpc::Status::OK;
        lock.lock();
      }
      changed_.wait_for(lock, std::chrono::seconds(1));
    }
    return grpc::Status::OK;
  }
  void Shutdown() {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    status_ = grpc::health::v1::HealthCheckResponse::NOT_SERVING;
    changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  ServingStatus status_ = grpc::health::v1::HealthCheckResponse::NOT_SERVING;
  bool shutting_down_ = false;
};

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const std::string& address,
                                                      const std::vector<grpc::Service*>& services,
                                                      const TlsFiles& tls) {
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (tls.enabled()) {
    grpc::SslServerCredentialsOptions opts(
        tls.ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                       : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    opts.pem_root_certs = tls.ca.empty() ? "" : ReadFile(tls.ca);
    opts.pem_key_cert_pairs.push_back({ReadFile(tls.key), ReadFile(tls.cert)});
    creds = grpc::SslServerCredentials(opts);
  } else {
    creds = grpc::InsecureServerCredentials();
  }
  auto server = std::unique_ptr<Server>(new Server());
  server->health_ = std::make_unique<HealthService>();
  builder.RegisterService(server->health_.get());
  builder.AddListeningPort(address, creds, &server->port_);
  // Several replicas on one host (tests, the launcher) must not share a port by accident.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (grpc::Service* s : services) {
    builder.RegisterService(s);
  }
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot serve gRPC on ", address, " (is the port in use?)"));
  }
  server->SetServing(false);
  return server;
}

Server::~Server() { Shutdown(std::chrono::milliseconds(0)); }

void Server::SetServing(bool serving) { health_->Set(serving); }

void Server::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_ || !server_) return;
  shut_down_ = true;
  health_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const TlsFiles& tls) {
  grpc::ChannelArguments args;
  // Keep a broken peer from stalling calls: reconnect quickly after a daemon restart.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  if (tls.enabled() || !tls.ca.empty()) {
    grpc::SslCredentialsOptions opts;
    opts.pem_root_certs = ReadFile(tls.ca);
    if (tls.enabled()) {
      opts.pem_private_key = ReadFile(tls.key);
      opts.pem_cert_chain = ReadFile(tls.cert);
    }
    return grpc::CreateCustomChannel(address, grpc::SslCredentials(opts), args);
  }
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

absl::StatusOr<bool> CheckHealth(const std::string& address, const TlsFiles& tls,
                                 std::chrono::milliseconds deadline, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(MakeChannel(address, tls));
  auto ctx = ContextWithDeadline(deadline);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status st = stub->Check(ctx.get(), req, &resp);
  if (!st.ok()) return FromGrpc(st);
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

std::unique_ptr<grpc::ClientContext> ContextWithDeadline(std::chrono::milliseconds timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

}  // namespace kite::rpc
