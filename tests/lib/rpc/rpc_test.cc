#include <catch2/catch.hpp>

#include "lib/rpc/rpc.h"

TEST_CASE("The gRPC server reports health NOT_SERVING until ready and after shutdown starts", "[rpc]") {
  auto server = kite::rpc::Server::Start("127.0.0.1:0", {}, {});
  REQUIRE(server.ok());
  std::string addr = "127.0.0.1:" + std::to_string((*server)->port());
  auto h = kite::rpc::CheckHealth(addr, {}, std::chrono::seconds(5));
  REQUIRE(h.ok());
  CHECK_FALSE(*h);
  (*server)->SetServing(true);
  h = kite::rpc::CheckHealth(addr, {}, std::chrono::seconds(5));
  REQUIRE(h.ok());
  CHECK(*h);
  auto unknown = kite::rpc::CheckHealth(addr, {}, std::chrono::seconds(5), "no.such.Service");
  CHECK(unknown.status().code() == absl::StatusCode::kNotFound);
  (*server)->Shutdown(std::chrono::milliseconds(500));
  CHECK_FALSE(kite::rpc::CheckHealth(addr, {}, std::chrono::milliseconds(500)).ok());
}

TEST_CASE("Status codes survive the trip through gRPC", "[rpc]") {
  absl::Status s = absl::NotFoundError("no such user");
  absl::Status back = kite::rpc::FromGrpc(kite::rpc::ToGrpc(s));
  CHECK(back.code() == absl::StatusCode::kNotFound);
  CHECK(std::string(back.message()) == "no such user");
  CHECK(kite::rpc::FromGrpc(grpc::Status::OK).ok());
}
