#include "lib/sasl/driver.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "lib/base/strings.h"
#include "fakes/fake_auth_client.h"

namespace kite::sasl {
namespace {

using testing::FakeAuthClient;

// Runs a coroutine to its end on a private io_context.
template <typename T>
T Sync(boost::asio::awaitable<T> a) {
  boost::asio::io_context io;
  std::optional<T> out;
  boost::asio::co_spawn(io, std::move(a), [&out](std::exception_ptr e, T v) {
    if (e) std::rethrow_exception(e);
    out = std::move(v);
  });
  io.run();
  REQUIRE(out.has_value());
  return std::move(*out);
}

// The client side of a protocol: the challenges it was sent and the answers it gives.
struct FakeClient {
  std::vector<std::string> challenges;  // base64, as the framing would write them
  std::deque<Response> answers;
  bool broken = false;  // writes fail

  void Say(std::string_view text) {
    answers.push_back(Response{Response::Kind::kLine, std::string(text)});
  }
  void SayBase64(std::string_view text) { Say(absl::Base64Escape(AV(text))); }

  Framing framing() {
    Framing f;
    f.send_challenge = [this](const std::string& challenge) -> boost::asio::awaitable<bool> {
      challenges.push_back(challenge);
      co_return !broken;
    };
    f.read_response = [this]() -> boost::asio::awaitable<Response> {
      Response r;  // kGone once the script is over: the client hung up
      if (!answers.empty()) {
        r = answers.front();
        answers.pop_front();
      }
      co_return r;
    };
    return f;
  }
};

Outcome RunExchange(FakeAuthClient& auth, FakeClient& client, std::string_view mechanism,
                    std::optional<std::string_view> ir, Options options = {}) {
  Exchange x(mechanism, ir, options);
  Framing f = client.framing();
  return Sync(Run(auth, f, x));
}

TEST_CASE("PLAIN with an initial response authenticates in one call", "[sasl][driver]") {
  FakeAuthClient auth;
  FakeClient client;
  std::string ir = absl::Base64Escape(AV(std::string("\0alice@example.test\0secret", 26)));
  Outcome o = RunExchange(auth, client, "plain", ir);
  CHECK(o.result == Result::kOk);
  CHECK(o.identity.account_id == 42);
  CHECK(o.identity.address == "alice@example.test");
  CHECK(client.challenges.empty());
  CHECK(auth.calls == std::vector<std::string>{"start PLAIN ir"});
}

TEST_CASE("PLAIN without an initial response sends one empty challenge", "[sasl][driver]") {
  FakeAuthClient auth;
  FakeClient client;
  client.SayBase64(std::string("\0alice@example.test\0secret", 26));
  Outcome o = RunExchange(auth, client, "PLAIN", std::nullopt);
  CHECK(o.result == Result::kOk);
  CHECK(client.challenges == std::vector<std::string>{""});
  CHECK(auth.calls == std::vector<std::string>{"start PLAIN", "step PLAIN"});
}

TEST_CASE("LOGIN asks for the user name and the password; a wrong password is a failure",
          "[sasl][driver]") {
  FakeAuthClient auth;
  FakeClient client;
  client.SayBase64("alice@example.test");
  client.SayBase64("wrong");
  Outcome o = RunExchange(auth, client, "LOGIN", std::nullopt);
  CHECK(o.result == Result::kInvalidCredentials);
  CHECK(o.klass() == Class::kFailure);
  CHECK(client.challenges == std::vector<std::string>{"VXNlcm5hbWU6", "UGFzc3dvcmQ6"});
}

TEST_CASE("\"*\" cancels and kite-auth hears nothing more", "[sasl][driver]") {
  FakeAuthClient auth;
  FakeClient client;
  client.Say("*");
  Outcome o = RunExchange(auth, client, "LOGIN", std::nullopt);
  CHECK(o.result == Result::kCancelled);
  CHECK(auth.calls == std::vector<std::string>{"start LOGIN"});
}

TEST_CASE("Bad base64, an over-long or unreadable answer end the exchange without a step",
          "[sasl][driver]") {
  FakeAuthClient auth;
  FakeClient bad, long_line, unreadable;
  bad.Say("!!");
  long_line.answers.push_back(Response{Response::Kind::kTooLong, ""});
  unreadable.answers.push_back(Response{Response::Kind::kUnreadable, ""});
  CHECK(RunExchange(auth, bad, "PLAIN", std::nullopt).result == Result::kBadResponse);
  CHECK(RunExchange(auth, long_line, "PLAIN", std::nullopt).result == Result::kResponseTooLong);
  CHECK(RunExchange(auth, unreadable, "PLAIN", std::nullopt).result == Result::kResponseUnreadable);
  for (const auto& c : auth.calls) CHECK(c.rfind("start", 0) == 0);
}

TEST_CASE("A client that hangs up or cannot be written to ends the exchange as gone",
          "[sasl][driver]") {
  FakeAuthClient auth;
  FakeClient silent, broken;
  broken.broken = true;
  CHECK(RunExchange(auth, silent, "PLAIN", std::nullopt).result == Result::kDisconnected);
  CHECK(RunExchange(auth, broken, "PLAIN", std::nullopt).result == Result::kDisconnected);
}

TEST_CASE("kite-auth unreachable is a temporary failure", "[sasl][driver]") {
  FakeAuthClient auth;
  auth.unreachable = true;
  FakeClient client;
  Outcome o = RunExchange(auth, client, "PLAIN", "=");
  CHECK(o.result == Result::kUnavailable);
  CHECK(o.klass() == Class::kTemporary);
  CHECK(absl::IsUnavailable(o.rpc_status));
}

TEST_CASE("A mechanism that never finishes is stopped after max_challenges", "[sasl][driver]") {
  FakeAuthClient auth;
  auth.endless = true;
  FakeClient client;
  for (int i = 0; i < 20; ++i) client.Say("");
  Outcome o = RunExchange(auth, client, "ENDLESS", std::nullopt);
  CHECK(o.result == Result::kTooManySteps);
  CHECK(client.challenges.size() == 10);
  CHECK(auth.calls.size() == 11);  // the start and ten steps
}

TEST_CASE("An unknown mechanism is kite-auth's to refuse", "[sasl][driver]") {
  FakeAuthClient auth;
  FakeClient client;
  CHECK(RunExchange(auth, client, "CRAM-MD5", std::nullopt).result ==
        Result::kUnsupportedMechanism);
  CHECK(auth.calls == std::vector<std::string>{"start CRAM-MD5"});
}

TEST_CASE("A throttled login is temporary and carries kite-auth's retry hint", "[sasl][driver]") {
  FakeAuthClient auth;
  auth.throttled = true;
  FakeClient client;
  Outcome o = RunExchange(auth, client, "PLAIN",
                          absl::Base64Escape(AV(std::string("\0alice@example.test\0secret", 26))));
  CHECK(o.result == Result::kThrottled);
  CHECK(o.klass() == Class::kTemporary);
  CHECK(o.retry_after_seconds == 30);
}

TEST_CASE("Password checks give the same outcomes as an exchange", "[sasl][driver]") {
  FakeAuthClient auth;
  CHECK(Sync(CheckPassword(auth, "alice@example.test", "secret")).result == Result::kOk);
  CHECK(Sync(CheckPassword(auth, "alice@example.test", "nope")).result ==
        Result::kInvalidCredentials);
  auth.throttled = true;
  CHECK(Sync(CheckPassword(auth, "alice@example.test", "secret")).result == Result::kThrottled);
  auth.unreachable = true;
  Outcome o = Sync(CheckPassword(auth, "alice@example.test", "secret"));
  CHECK(o.result == Result::kUnavailable);
  CHECK(absl::IsDeadlineExceeded(o.rpc_status));
}

}  // namespace
}  // namespace kite::sasl
