// The SASL exchange (RFC 4422) as every protocol daemon runs it against kite-auth, without
// the protocol's framing: one state machine for IMAP AUTHENTICATE (RFC 3501 6.2.2, SASL-IR
// RFC 4959), POP3 AUTH (RFC 5034), SMTP AUTH (RFC 4954) and ManageSieve AUTHENTICATE (RFC 5804
// 2.1). kite-auth runs the mechanisms (PLAIN, LOGIN, SCRAM-SHA-256); this part owns the
// conventions around them: the base64 of the initial response and of each client response,
// "=" as an empty initial response, "*" as cancel, the challenge loop and its bounds, and
// what kite-auth's answer means (success with an identity, failure, temporary failure).
//
// Pure: no socket, no clock, no RPC. The caller asks Next() what to do and reports what
// happened; driver.h is the loop that does it with a kite-auth client and a protocol's
// framing.
//
// Untrusted input: the mechanism name (checked against RFC 4422 3.1's syntax before kite-auth
// sees it), the initial response and every response line (bounded by Options::max_response
// before they are decoded). The number of challenges is bounded (Options::max_challenges).
// Nothing here keeps a copy of a decoded response once the next action has been taken.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kite::sasl {

struct Options {
  // One response line or the initial response as the client sent it (base64), in octets.
  // kite-auth refuses decoded messages over 4096 octets; this stops far larger ones here.
  size_t max_response = 12 * 1024;
  // Challenges sent before the exchange is refused (SCRAM-SHA-256 needs 3 at most).
  int max_challenges = 10;
  // SASL-IR (RFC 4959), RFC 4954 and RFC 5034: an initial response of "=" is an empty one.
  // ManageSieve sends an empty string instead and decodes "=" as base64 (which fails).
  bool equals_is_empty_initial_response = true;
};

// The account kite-auth authenticated.
struct Identity {
  int64_t account_id = 0;
  std::string address;  // canonical primary address, lowercase
  std::string display_name;
};

// kite-auth's answer to a start, a step or a password check (kite.auth.v1 without protobuf).
struct AuthReply {
  enum class Result {
    kUnspecified,  // kite-auth failed inside (its store is down): a temporary failure
    kOk,
    kInvalidCredentials,
    kThrottled,
    kEncryptionRequired,
    kUnsupportedMechanism,
    kMalformed,
  };
  bool done = true;       // false: send `challenge`, then step with the answer and `state`
  std::string challenge;  // decoded
  std::string state;      // opaque, passed back unchanged
  Result result = Result::kUnspecified;  // when done
  Identity identity;                     // when kOk
  int retry_after_seconds = 0;           // when kThrottled
};

// How an exchange ended.
enum class Result {
  kOk,                    // authenticated: Outcome::identity
  kInvalidCredentials,    // kite-auth refused (unknown user, wrong password, authzid, ...)
  kThrottled,             // kite-auth: too many failures, retry later
  kEncryptionRequired,    // kite-auth: the connection is not encrypted
  kUnsupportedMechanism,  // kite-auth does not offer it (or the name is not a SASL name)
  kMalformed,             // kite-auth could not decode the SASL message
  kAuthError,             // kite-auth answered but failed inside (temporary)
  kUnavailable,           // kite-auth could not be reached (Outcome::rpc_status)
  kCancelled,             // the client answered a challenge with "*"
  kBadInitialResponse,    // the initial response is not base64
  kBadResponse,           // a response line is not base64
  kResponseTooLong,       // a response (or the initial response) passed max_response
  kResponseUnreadable,    // the framing could not read a response (ManageSieve: not one string)
  kTooManySteps,          // max_challenges passed
  kDisconnected,          // the connection went away mid-exchange: send nothing
};

// The classes a protocol maps replies from.
enum class Class {
  kSuccess,
  kFailure,      // kite-auth said no: count it as a failed login
  kTemporary,    // try again later: throttled, kite-auth unreachable or failing
  kClientError,  // the client broke the exchange's rules (cancel, base64, size, steps)
  kGone,
};

Class ClassOf(Result r);
// A short fixed label for logs and metrics ("ok", "invalid", "throttled", ...).
std::string_view Label(Result r);

struct Outcome {
  Result result = Result::kUnavailable;
  Identity identity;            // kOk
  std::string additional_data;  // kOk: data kite-auth sent with success (decoded; rare)
  int retry_after_seconds = 0;  // kThrottled: kite-auth's hint
  absl::Status rpc_status;      // kUnavailable: why (for logs; never shown to the client)
  Class klass() const { return ClassOf(result); }
};

// What a finished kite-auth answer means (also for plain password checks).
Outcome OutcomeOf(const AuthReply& reply);

class Exchange {
 public:
  enum class Next {
    kStart,      // call kite-auth SaslStart(mechanism(), initial_response()), then OnAuthReply
    kStep,       // call kite-auth SaslStep(state(), response()), then OnAuthReply
    kChallenge,  // send challenge() in the protocol's framing, read a line, then OnResponse
    kDone,       // outcome() is final
  };

  // `initial_response`: as the client sent it (base64 text, "=" per Options), or nullopt.
  Exchange(std::string_view mechanism, std::optional<std::string_view> initial_response,
           Options options = {});

  Next next() const { return next_; }

  // kStart: the upper-cased mechanism and the decoded initial response.
  const std::string& mechanism() const { return mechanism_; }
  bool has_initial_response() const { return has_initial_response_; }
  const std::string& initial_response() const { return decoded_; }
  // kStep: kite-auth's state token and the decoded response.
  const std::string& state() const { return state_; }
  const std::string& response() const { return decoded_; }
  // kChallenge: the challenge, base64-encoded (may be empty: an empty challenge).
  const std::string& challenge() const { return challenge_; }
  // kDone.
  const Outcome& outcome() const { return outcome_; }
  // Challenges sent so far.
  int challenges() const { return challenges_; }

  // After kStart or kStep.
  void OnAuthReply(const AuthReply& reply);
  void OnAuthFailed(absl::Status status);  // the RPC failed
  // After kChallenge: the client's line without its line ending.
  void OnResponse(std::string_view line);
  void OnResponseTooLong();     // the framing's reader dropped an over-long line
  void OnResponseUnreadable();  // the framing could not read a response at all
  void OnDisconnected();        // the connection went away (or timed out)

 private:
  void Finish(Result r);
  void ExpectState(Next expected) const;

  Options options_;
  Next next_ = Next::kStart;
  std::string mechanism_;
  bool has_initial_response_ = false;
  std::string decoded_;  // the initial response, then each decoded response
  std::string state_;
  std::string challenge_;
  int challenges_ = 0;
  Outcome outcome_;
};

// RFC 4422 3.1: 1 to 20 characters of A-Z, 0-9, "-" and "_" (compared upper-cased).
bool ValidMechanismName(std::string_view name);

}  // namespace kite::sasl
