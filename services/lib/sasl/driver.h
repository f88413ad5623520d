// The loop that runs a SASL exchange (exchange.h) between a client and kite-auth: it calls
// kite-auth through AuthClient, writes each challenge and reads each response through the
// protocol's Framing, and returns how the exchange ended. A protocol keeps only its framing:
// how a challenge is written, how a response line is read, and which reply each Outcome gets.
// Plain password checks (IMAP LOGIN, POP3 USER/PASS) come back as the same Outcome.
//
// Both sides are injected, so the loop runs in unit tests with fakes and no socket.
// Untrusted input: response lines, handed to Exchange (bounded there); nothing here logs a
// response, a challenge or a password.
#pragma once

#include <functional>
#include <string>
#include <utility>  // before Asio: awaitable.hpp uses std::exchange without it

// clang-format off
#include <boost/asio/awaitable.hpp>
// clang-format on

#include "absl/status/statusor.h"
#include "lib/sasl/exchange.h"

namespace kite::sasl {

// kite-auth's SASL and password calls, as a protocol daemon makes them for one connection
// (grpc_auth_client.h; fakes in tests/lib/sasl). An error status means kite-auth could not
// be asked (unreachable, deadline): the exchange ends with Result::kUnavailable.
class AuthClient {
 public:
  virtual ~AuthClient() = default;
  // `initial_response` is null when the client sent none (an empty one is not null).
  virtual boost::asio::awaitable<absl::StatusOr<AuthReply>> Start(
      const std::string& mechanism, const std::string* initial_response) = 0;
  virtual boost::asio::awaitable<absl::StatusOr<AuthReply>> Step(const std::string& state,
                                                                 const std::string& response) = 0;
  virtual boost::asio::awaitable<absl::StatusOr<AuthReply>> CheckPassword(
      const std::string& username, const std::string& password) = 0;
};

// What the protocol's reader made of the client's answer to a challenge.
struct Response {
  enum class Kind {
    kLine,        // `text`: the line without its line ending (or ManageSieve's string)
    kTooLong,     // the reader's bound was passed; the line was skipped
    kUnreadable,  // not a response at all (ManageSieve: not a single string)
    kGone,        // connection closed, timed out or broken: nothing more is sent
  };
  Kind kind = Kind::kGone;
  std::string text;
};

// A protocol's framing of the exchange.
struct Framing {
  // Writes `challenge_base64` as the protocol's continuation ("+ ", "334 ", a string);
  // false when the connection is gone.
  std::function<boost::asio::awaitable<bool>(const std::string& challenge_base64)> send_challenge;
  std::function<boost::asio::awaitable<Response>()> read_response;
};

// Runs `exchange` to its end. The outcome is also exchange.outcome().
boost::asio::awaitable<Outcome> Run(AuthClient& auth, const Framing& framing, Exchange& exchange);

// A username/password check: the same outcomes as an exchange (kOk, kInvalidCredentials,
// kThrottled, kEncryptionRequired, kAuthError, kUnavailable).
boost::asio::awaitable<Outcome> CheckPassword(AuthClient& auth, const std::string& username,
                                              const std::string& password);

}  // namespace kite::sasl
