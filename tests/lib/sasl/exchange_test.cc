#include "lib/sasl/exchange.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/escaping.h"
#include "lib/base/strings.h"

namespace kite::sasl {
namespace {

std::string B64(std::string_view s) { return absl::Base64Escape(AV(s)); }

AuthReply Challenge(std::string challenge, std::string state) {
  AuthReply r;
  r.done = false;
  r.challenge = std::move(challenge);
  r.state = std::move(state);
  return r;
}

AuthReply Done(AuthReply::Result result) {
  AuthReply r;
  r.result = result;
  if (result == AuthReply::Result::kOk) r.identity = Identity{7, "bob@example.test", "Bob"};
  return r;
}

TEST_CASE("An initial response is decoded and handed to kite-auth with the mechanism upper-cased",
          "[sasl][exchange]") {
  std::string ir = B64(std::string("\0bob\0pw", 7));
  Exchange x("plain", ir);
  REQUIRE(x.next() == Exchange::Next::kStart);
  CHECK(x.mechanism() == "PLAIN");
  CHECK(x.has_initial_response());
  CHECK(x.initial_response() == std::string("\0bob\0pw", 7));
  x.OnAuthReply(Done(AuthReply::Result::kOk));
  REQUIRE(x.next() == Exchange::Next::kDone);
  CHECK(x.outcome().result == Result::kOk);
  CHECK(x.outcome().identity.account_id == 7);
  CHECK(x.outcome().identity.address == "bob@example.test");
  CHECK(x.outcome().klass() == Class::kSuccess);
  CHECK(x.initial_response().empty());  // the password is not kept
}

TEST_CASE("No initial response differs from an empty one, and \"=\" is an empty one",
          "[sasl][exchange]") {
  Exchange none("PLAIN", std::nullopt);
  CHECK(none.next() == Exchange::Next::kStart);
  CHECK_FALSE(none.has_initial_response());

  Exchange equals("PLAIN", "=");
  CHECK(equals.next() == Exchange::Next::kStart);
  CHECK(equals.has_initial_response());
  CHECK(equals.initial_response().empty());

  Exchange empty("PLAIN", "");
  CHECK(empty.has_initial_response());
  CHECK(empty.initial_response().empty());
}

TEST_CASE("ManageSieve's convention: \"=\" as an initial response is base64, and bad",
          "[sasl][exchange]") {
  Options o;
  o.equals_is_empty_initial_response = false;
  Exchange x("PLAIN", "=", o);
  REQUIRE(x.next() == Exchange::Next::kDone);
  CHECK(x.outcome().result == Result::kBadInitialResponse);
}

TEST_CASE("An initial response that is not base64 ends the exchange before kite-auth",
          "[sasl][exchange]") {
  Exchange x("PLAIN", "not base64 !!");
  REQUIRE(x.next() == Exchange::Next::kDone);
  CHECK(x.outcome().result == Result::kBadInitialResponse);
  CHECK(x.outcome().klass() == Class::kClientError);
  CHECK(Label(x.outcome().result) == "malformed");
}

TEST_CASE("A name that is no SASL mechanism is unsupported without asking kite-auth",
          "[sasl][exchange]") {
  for (std::string_view bad : {std::string_view(""), std::string_view("PLAIN!"),
                               std::string_view("A-MECHANISM-NAME-TOO-LONG"),
                               std::string_view("SP ACE"), std::string_view("NU\0L", 4)}) {
    Exchange x(bad, std::nullopt);
    REQUIRE(x.next() == Exchange::Next::kDone);
    CHECK(x.outcome().result == Result::kUnsupportedMechanism);
  }
  CHECK(ValidMechanismName("SCRAM-SHA-256"));
  CHECK(ValidMechanismName("X_OAUTH2"));
  CHECK(ValidMechanismName("ABCDEFGHIJKLMNOPQRST"));  // 20
  // The initial response is judged first, as before the shared exchange.
  Exchange both("BAD NAME", "%%%");
  CHECK(both.outcome().result == Result::kBadInitialResponse);
}

TEST_CASE("A challenge is base64-encoded and the answer decoded for the next step",
          "[sasl][exchange]") {
  Exchange x("LOGIN", std::nullopt);
  x.OnAuthReply(Challenge("Username:", "LOGIN"));
  REQUIRE(x.next() == Exchange::Next::kChallenge);
  CHECK(x.challenge() == "VXNlcm5hbWU6");
  x.OnResponse(B64("bob"));
  REQUIRE(x.next() == Exchange::Next::kStep);
  CHECK(x.state() == "LOGIN");
  CHECK(x.response() == "bob");
  x.OnAuthReply(Challenge("Password:", "LOGIN:bob"));
  REQUIRE(x.next() == Exchange::Next::kChallenge);
  CHECK(x.response().empty());
  x.OnResponse(B64("pw"));
  CHECK(x.state() == "LOGIN:bob");
  x.OnAuthReply(Done(AuthReply::Result::kInvalidCredentials));
  CHECK(x.outcome().result == Result::kInvalidCredentials);
  CHECK(x.outcome().klass() == Class::kFailure);
  CHECK(x.challenges() == 2);
}

TEST_CASE("An empty challenge is sent as an empty line and an empty answer is an empty response",
          "[sasl][exchange]") {
  Exchange x("PLAIN", std::nullopt);
  x.OnAuthReply(Challenge("", "PLAIN"));
  REQUIRE(x.next() == Exchange::Next::kChallenge);
  CHECK(x.challenge().empty());
  x.OnResponse("");
  REQUIRE(x.next() == Exchange::Next::kStep);
  CHECK(x.response().empty());
}

TEST_CASE("\"*\" cancels; bad base64, over-long and unreadable answers end the exchange",
          "[sasl][exchange]") {
  auto after_challenge = [] {
    Exchange x("PLAIN", std::nullopt);
    x.OnAuthReply(Challenge("", "PLAIN"));
    return x;
  };
  Exchange cancel = after_challenge();
  cancel.OnResponse("*");
  CHECK(cancel.outcome().result == Result::kCancelled);
  CHECK(Label(cancel.outcome().result) == "cancelled");

  Exchange bad = after_challenge();
  bad.OnResponse("@@@");
  CHECK(bad.outcome().result == Result::kBadResponse);

  // "=" is only special as an initial response.
  Exchange equals = after_challenge();
  equals.OnResponse("=");
  CHECK(equals.outcome().result == Result::kBadResponse);

  Exchange reader_too_long = after_challenge();
  reader_too_long.OnResponseTooLong();
  CHECK(reader_too_long.outcome().result == Result::kResponseTooLong);

  Exchange unreadable = after_challenge();
  unreadable.OnResponseUnreadable();
  CHECK(unreadable.outcome().result == Result::kResponseUnreadable);

  Exchange gone = after_challenge();
  gone.OnDisconnected();
  CHECK(gone.outcome().result == Result::kDisconnected);
  CHECK(gone.outcome().klass() == Class::kGone);
}

TEST_CASE("Responses are bounded before they are decoded", "[sasl][exchange]") {
  Options o;
  o.max_response = 8;
  Exchange at_limit("PLAIN", std::nullopt, o);
  at_limit.OnAuthReply(Challenge("", "PLAIN"));
  at_limit.OnResponse("QUJDREVG");  // 8 octets
  CHECK(at_limit.next() == Exchange::Next::kStep);

  Exchange over("PLAIN", std::nullopt, o);
  over.OnAuthReply(Challenge("", "PLAIN"));
  over.OnResponse("QUJDREVGRw==");
  CHECK(over.outcome().result == Result::kResponseTooLong);

  Exchange ir("PLAIN", "QUJDREVGRw==", o);
  CHECK(ir.outcome().result == Result::kResponseTooLong);
}

TEST_CASE("The number of challenges is bounded", "[sasl][exchange]") {
  Options o;
  o.max_challenges = 3;
  Exchange x("SCRAM-SHA-256", std::nullopt, o);
  for (int i = 0; i < 3; ++i) {
    x.OnAuthReply(Challenge("c", "s"));
    REQUIRE(x.next() == Exchange::Next::kChallenge);
    x.OnResponse("");
    REQUIRE(x.next() == Exchange::Next::kStep);
  }
  x.OnAuthReply(Challenge("c", "s"));
  REQUIRE(x.next() == Exchange::Next::kDone);
  CHECK(x.outcome().result == Result::kTooManySteps);
  CHECK(x.challenges() == 3);
}

TEST_CASE("kite-auth unreachable is a temporary failure that keeps the RPC status",
          "[sasl][exchange]") {
  Exchange x("PLAIN", std::nullopt);
  x.OnAuthFailed(absl::InvalidArgumentError("bad request"));
  CHECK(x.outcome().result == Result::kUnavailable);
  CHECK(x.outcome().klass() == Class::kTemporary);
  CHECK(absl::IsInvalidArgument(x.outcome().rpc_status));
}

TEST_CASE("kite-auth's verdicts map to results and classes", "[sasl][exchange]") {
  using R = AuthReply::Result;
  struct Case {
    R in;
    Result out;
    Class klass;
    std::string_view label;
  };
  for (const Case& c :
       {Case{R::kOk, Result::kOk, Class::kSuccess, "ok"},
        Case{R::kInvalidCredentials, Result::kInvalidCredentials, Class::kFailure, "invalid"},
        Case{R::kThrottled, Result::kThrottled, Class::kTemporary, "throttled"},
        Case{R::kEncryptionRequired, Result::kEncryptionRequired, Class::kFailure,
             "encryption_required"},
        Case{R::kUnsupportedMechanism, Result::kUnsupportedMechanism, Class::kFailure,
             "unsupported"},
        Case{R::kMalformed, Result::kMalformed, Class::kFailure, "malformed"},
        Case{R::kUnspecified, Result::kAuthError, Class::kTemporary, "error"}}) {
    Outcome o = OutcomeOf(Done(c.in));
    CHECK(o.result == c.out);
    CHECK(o.klass() == c.klass);
    CHECK(Label(o.result) == c.label);
  }
  AuthReply throttled = Done(R::kThrottled);
  throttled.retry_after_seconds = 90;
  CHECK(OutcomeOf(throttled).retry_after_seconds == 90);
  AuthReply extra = Done(R::kOk);
  extra.challenge = "v=abc";
  CHECK(OutcomeOf(extra).additional_data == "v=abc");
}

TEST_CASE("Arbitrary bytes as answers never break the exchange", "[sasl][exchange]") {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (size_t n = 0; n <= all.size(); n += 17) {
    Exchange x("LOGIN", all.substr(0, n));
    if (x.next() == Exchange::Next::kDone) continue;
    x.OnAuthReply(Challenge(all.substr(0, n), "LOGIN"));
    REQUIRE(x.next() == Exchange::Next::kChallenge);
    x.OnResponse(all.substr(n));
    CHECK((x.next() == Exchange::Next::kDone || x.next() == Exchange::Next::kStep));
  }
}

}  // namespace
}  // namespace kite::sasl
