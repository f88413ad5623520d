// A fake kite-auth for sasl::Run and sasl::CheckPassword: PLAIN and LOGIN as kite-auth runs
// them (a stateless state token, "Username:" / "Password:" challenges), one known account,
// and switches for the failures a real one can give (unreachable, throttled, a mechanism that
// never finishes). Records every call so tests can check what reached kite-auth.
#pragma once

#include <string>
#include <vector>

#include "lib/sasl/driver.h"

namespace kite::sasl::testing {

class FakeAuthClient final : public AuthClient {
 public:
  std::string user = "alice@example.test";
  std::string password = "secret";
  bool unreachable = false;        // every call fails (kUnavailable)
  bool throttled = false;          // every verdict is THROTTLED, retry after 30 s
  bool endless = false;            // "ENDLESS" never finishes: a challenge per step
  std::vector<std::string> calls;  // "start MECH [ir]", "step STATE", "password USER"

  boost::asio::awaitable<absl::StatusOr<AuthReply>> Start(
      const std::string& mechanism, const std::string* initial_response) override {
    calls.push_back("start " + mechanism + (initial_response ? " ir" : ""));
    if (unreachable) co_return absl::UnavailableError("connection refused");
    AuthReply r;
    if (mechanism == "PLAIN") {
      if (!initial_response) {
        r.done = false;
        r.state = "PLAIN";
        co_return r;
      }
      co_return Plain(*initial_response);
    }
    if (mechanism == "LOGIN") {
      r.done = false;
      r.state = "LOGIN";
      r.challenge = "Username:";
      co_return r;
    }
    if (mechanism == "ENDLESS" && endless) {
      r.done = false;
      r.state = "ENDLESS";
      r.challenge = "more";
      co_return r;
    }
    r.result = AuthReply::Result::kUnsupportedMechanism;
    co_return r;
  }

  boost::asio::awaitable<absl::StatusOr<AuthReply>> Step(const std::string& state,
                                                         const std::string& response) override {
    calls.push_back("step " + state);
    if (unreachable) co_return absl::UnavailableError("connection refused");
    AuthReply r;
    if (state == "PLAIN") co_return Plain(response);
    if (state == "LOGIN") {
      r.done = false;
      r.state = "LOGIN:" + response;
      r.challenge = "Password:";
      co_return r;
    }
    if (state.rfind("LOGIN:", 0) == 0) co_return Verdict(state.substr(6), response);
    if (state == "ENDLESS") {
      r.done = false;
      r.state = "ENDLESS";
      r.challenge = "more";
      co_return r;
    }
    r.result = AuthReply::Result::kMalformed;
    co_return r;
  }

  boost::asio::awaitable<absl::StatusOr<AuthReply>> CheckPassword(
      const std::string& username, const std::string& pass) override {
    calls.push_back("password " + username);
    if (unreachable) co_return absl::DeadlineExceededError("deadline exceeded");
    co_return Verdict(username, pass);
  }

 private:
  AuthReply Plain(const std::string& message) const {
    size_t a = message.find('\0');
    size_t b = a == std::string::npos ? a : message.find('\0', a + 1);
    if (b == std::string::npos) {
      AuthReply r;
      r.result = AuthReply::Result::kMalformed;
      return r;
    }
    return Verdict(message.substr(a + 1, b - a - 1), message.substr(b + 1));
  }
  AuthReply Verdict(const std::string& u, const std::string& p) const {
    AuthReply r;
    if (throttled) {
      r.result = AuthReply::Result::kThrottled;
      r.retry_after_seconds = 30;
    } else if (u == user && p == password) {
      r.result = AuthReply::Result::kOk;
      r.identity = Identity{42, user, "Alice"};
    } else {
      r.result = AuthReply::Result::kInvalidCredentials;
    }
    return r;
  }
};

}  // namespace kite::sasl::testing
