#include "lib/sasl/driver.h"

#include <algorithm>
#include <utility>

namespace kite::sasl {

boost::asio::awaitable<Outcome> Run(AuthClient& auth, const Framing& framing, Exchange& exchange) {
  for (;;) {
    switch (exchange.next()) {
      case Exchange::Next::kStart: {
        const std::string* ir =
            exchange.has_initial_response() ? &exchange.initial_response() : nullptr;
        absl::StatusOr<AuthReply> reply = co_await auth.Start(exchange.mechanism(), ir);
        if (reply.ok()) {
          exchange.OnAuthReply(*reply);
        } else {
          exchange.OnAuthFailed(reply.status());
        }
        break;
      }
      case Exchange::Next::kStep: {
        absl::StatusOr<AuthReply> reply = co_await auth.Step(exchange.state(), exchange.response());
        if (reply.ok()) {
          exchange.OnAuthReply(*reply);
        } else {
          exchange.OnAuthFailed(reply.status());
        }
        break;
      }
      case Exchange::Next::kChallenge: {
        const bool sent = co_await framing.send_challenge(exchange.challenge());
        if (!sent) {
          exchange.OnDisconnected();
          break;
        }
        Response response = co_await framing.read_response();
        switch (response.kind) {
          case Response::Kind::kLine:
            exchange.OnResponse(response.text);
            break;
          case Response::Kind::kTooLong:
            exchange.OnResponseTooLong();
            break;
          case Response::Kind::kUnreadable:
            exchange.OnResponseUnreadable();
            break;
          case Response::Kind::kGone:
            exchange.OnDisconnected();
            break;
        }
        // The response may hold a password: do not keep it around.
        std::fill(response.text.begin(), response.text.end(), '\0');
        break;
      }
      case Exchange::Next::kDone:
        co_return exchange.outcome();
    }
  }
}

boost::asio::awaitable<Outcome> CheckPassword(AuthClient& auth, const std::string& username,
                                              const std::string& password) {
  absl::StatusOr<AuthReply> reply = co_await auth.CheckPassword(username, password);
  if (!reply.ok()) {
    Outcome o;
    o.result = Result::kUnavailable;
    o.rpc_status = reply.status();
    co_return o;
  }
  Outcome o = OutcomeOf(*reply);
  co_return o;
}

}  // namespace kite::sasl
