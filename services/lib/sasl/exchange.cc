#include "lib/sasl/exchange.h"

#include <algorithm>
#include <utility>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/escaping.h"
#include "lib/base/strings.h"

namespace kite::sasl {

namespace {

// Decoded client messages carry passwords: overwrite them before the memory is reused.
void Wipe(std::string& s) {
  std::fill(s.begin(), s.end(), '\0');
  s.clear();
}

}  // namespace

bool ValidMechanismName(std::string_view name) {
  if (name.empty() || name.size() > 20) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

Class ClassOf(Result r) {
  switch (r) {
    case Result::kOk:
      return Class::kSuccess;
    case Result::kInvalidCredentials:
    case Result::kEncryptionRequired:
    case Result::kUnsupportedMechanism:
    case Result::kMalformed:
      return Class::kFailure;
    case Result::kThrottled:
    case Result::kAuthError:
    case Result::kUnavailable:
      return Class::kTemporary;
    case Result::kCancelled:
    case Result::kBadInitialResponse:
    case Result::kBadResponse:
    case Result::kResponseTooLong:
    case Result::kResponseUnreadable:
    case Result::kTooManySteps:
      return Class::kClientError;
    case Result::kDisconnected:
      return Class::kGone;
  }
  return Class::kFailure;
}

std::string_view Label(Result r) {
  switch (r) {
    case Result::kOk:
      return "ok";
    case Result::kInvalidCredentials:
      return "invalid";
    case Result::kThrottled:
      return "throttled";
    case Result::kEncryptionRequired:
      return "encryption_required";
    case Result::kUnsupportedMechanism:
      return "unsupported";
    case Result::kMalformed:
      return "malformed";
    case Result::kAuthError:
      return "error";
    case Result::kUnavailable:
      return "unavailable";
    case Result::kCancelled:
      return "cancelled";
    case Result::kBadInitialResponse:
    case Result::kBadResponse:
    case Result::kResponseTooLong:
    case Result::kResponseUnreadable:
      return "malformed";
    case Result::kTooManySteps:
      return "too_many_steps";
    case Result::kDisconnected:
      return "disconnected";
  }
  return "error";
}

Outcome OutcomeOf(const AuthReply& reply) {
  Outcome o;
  switch (reply.result) {
    case AuthReply::Result::kOk:
      o.result = Result::kOk;
      o.identity = reply.identity;
      o.additional_data = reply.challenge;
      break;
    case AuthReply::Result::kInvalidCredentials:
      o.result = Result::kInvalidCredentials;
      break;
    case AuthReply::Result::kThrottled:
      o.result = Result::kThrottled;
      o.retry_after_seconds = std::max(0, reply.retry_after_seconds);
      break;
    case AuthReply::Result::kEncryptionRequired:
      o.result = Result::kEncryptionRequired;
      break;
    case AuthReply::Result::kUnsupportedMechanism:
      o.result = Result::kUnsupportedMechanism;
      break;
    case AuthReply::Result::kMalformed:
      o.result = Result::kMalformed;
      break;
    case AuthReply::Result::kUnspecified:
      o.result = Result::kAuthError;
      break;
  }
  return o;
}

Exchange::Exchange(std::string_view mechanism, std::optional<std::string_view> initial_response,
                   Options options)
    : options_(options) {
  mechanism_.assign(mechanism.substr(0, 64));
  for (char& c : mechanism_) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  // The initial response is judged first: a client that sends bad base64 hears about it
  // whatever the mechanism.
  if (initial_response) {
    has_initial_response_ = true;
    if (initial_response->size() > options_.max_response) {
      Finish(Result::kResponseTooLong);
      return;
    }
    if (!(options_.equals_is_empty_initial_response && *initial_response == "=") &&
        !absl::Base64Unescape(AV(*initial_response), &decoded_)) {
      Finish(Result::kBadInitialResponse);
      return;
    }
  }
  // kite-auth would answer "unsupported" to a name that is not a SASL name: say it here.
  if (!ValidMechanismName(mechanism)) {
    Finish(Result::kUnsupportedMechanism);
    return;
  }
  next_ = Next::kStart;
}

void Exchange::ExpectState(Next expected) const {
  ABSL_RAW_CHECK(next_ == expected, "sasl::Exchange: event out of order");
}

void Exchange::Finish(Result r) {
  Wipe(decoded_);
  outcome_ = Outcome{};
  outcome_.result = r;
  next_ = Next::kDone;
}

void Exchange::OnAuthReply(const AuthReply& reply) {
  ABSL_RAW_CHECK(next_ == Next::kStart || next_ == Next::kStep,
                 "sasl::Exchange: reply without a call");
  Wipe(decoded_);
  if (reply.done) {
    outcome_ = OutcomeOf(reply);
    next_ = Next::kDone;
    return;
  }
  if (challenges_ >= options_.max_challenges) return Finish(Result::kTooManySteps);
  ++challenges_;
  challenge_ = absl::Base64Escape(AV(reply.challenge));
  state_ = reply.state;
  next_ = Next::kChallenge;
}

void Exchange::OnAuthFailed(absl::Status status) {
  ABSL_RAW_CHECK(next_ == Next::kStart || next_ == Next::kStep,
                 "sasl::Exchange: failure without a call");
  Finish(Result::kUnavailable);
  outcome_.rpc_status =
      status.ok() ? absl::UnknownError("kite-auth call failed") : std::move(status);
}

void Exchange::OnResponse(std::string_view line) {
  ExpectState(Next::kChallenge);
  challenge_.clear();
  if (line.size() > options_.max_response) return Finish(Result::kResponseTooLong);
  if (line == "*") return Finish(Result::kCancelled);
  if (!absl::Base64Unescape(AV(line), &decoded_)) return Finish(Result::kBadResponse);
  next_ = Next::kStep;
}

void Exchange::OnResponseTooLong() {
  ExpectState(Next::kChallenge);
  Finish(Result::kResponseTooLong);
}

void Exchange::OnResponseUnreadable() {
  ExpectState(Next::kChallenge);
  Finish(Result::kResponseUnreadable);
}

void Exchange::OnDisconnected() {
  ABSL_RAW_CHECK(next_ != Next::kDone, "sasl::Exchange: disconnect after the end");
  Finish(Result::kDisconnected);
}

}  // namespace kite::sasl
