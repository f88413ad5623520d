// libFuzzer target: sasl::Exchange, the SASL state machine of kite-imap, kite-pop3, the SMTP
// front and ManageSieve, driven by untrusted client input and by scripted kite-auth replies.
// Input: one byte of options (max_response, max_challenges, the "=" convention, whether an
// initial response follows), then lines: the mechanism, the initial response if any, then one
// line per event. While the exchange waits on kite-auth, a line's first byte picks the reply
// ('c' a challenge of the rest, 'o' ok, 'f' RPC failure, others a refusal); while it waits on
// the client, 'T' / 'U' / 'D' report an over-long line, an unreadable one, a hang-up, and
// anything else is the response line itself.
// Invariants: no crash; kite-auth is asked to start once, first, with an upper-cased valid
// mechanism name; a challenge is the base64 of what kite-auth sent; a step carries exactly
// the base64-decoded response, which was within max_response and not "*"; no more than
// max_challenges challenges; "*" cancels; success only after kite-auth said ok.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "lib/sasl/exchange.h"

namespace {

using kite::sasl::AuthReply;
using kite::sasl::Exchange;
using kite::sasl::Result;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::vector<std::string_view> Lines(std::string_view in) {
  std::vector<std::string_view> out;
  while (!in.empty() && out.size() < 64) {
    size_t nl = in.find('\n');
    out.push_back(in.substr(0, nl));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  kite::sasl::Options options;
  if (flags & 0x01) options.max_response = 1 + (flags >> 4) * 4;  // 1..61: the bound is reached
  options.max_challenges = (flags >> 1) & 0x07;
  options.equals_is_empty_initial_response = (flags & 0x10) == 0;
  const bool has_ir = (flags & 0x80) != 0;
  std::vector<std::string_view> lines =
      Lines(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  if (lines.empty()) return 0;
  size_t at = 0;
  const std::string_view mechanism = lines[at++];
  std::optional<std::string_view> ir;
  if (has_ir && at < lines.size()) ir = lines[at++];

  Exchange x(mechanism, ir, options);
  bool started = false;
  bool auth_said_ok = false;
  std::string last_challenge;
  std::string last_line;
  while (x.next() != Exchange::Next::kDone && at < lines.size()) {
    std::string_view line = lines[at++];
    switch (x.next()) {
      case Exchange::Next::kStart: {
        Check(!started);
        started = true;
        Check(kite::sasl::ValidMechanismName(x.mechanism()));
        for (char c : x.mechanism()) Check(!(c >= 'a' && c <= 'z'));
        Check(x.has_initial_response() == ir.has_value());
        [[fallthrough]];
      }
      case Exchange::Next::kStep: {
        if (x.next() == Exchange::Next::kStep) {
          std::string decoded;
          Check(last_line.size() <= options.max_response && last_line != "*");
          Check(absl::Base64Unescape(AV(last_line), &decoded) && decoded == x.response());
        }
        const char kind = line.empty() ? 'i' : line[0];
        const std::string_view rest = line.empty() ? line : line.substr(1);
        if (kind == 'f') {
          x.OnAuthFailed(absl::UnavailableError("down"));
          Check(x.outcome().result == Result::kUnavailable);
          break;
        }
        AuthReply reply;
        if (kind == 'c') {
          reply.done = false;
          reply.challenge = std::string(rest);
          reply.state = "s";
          last_challenge = reply.challenge;
        } else {
          static constexpr AuthReply::Result kResults[] = {AuthReply::Result::kUnspecified,
                                                           AuthReply::Result::kInvalidCredentials,
                                                           AuthReply::Result::kThrottled,
                                                           AuthReply::Result::kEncryptionRequired,
                                                           AuthReply::Result::kUnsupportedMechanism,
                                                           AuthReply::Result::kMalformed};
          reply.result =
              kind == 'o' ? AuthReply::Result::kOk : kResults[static_cast<uint8_t>(kind) % 6];
          auth_said_ok = reply.result == AuthReply::Result::kOk;
        }
        x.OnAuthReply(reply);
        if (x.next() == Exchange::Next::kChallenge) {
          std::string decoded;
          Check(absl::Base64Unescape(AV(x.challenge()), &decoded) && decoded == last_challenge);
        }
        break;
      }
      case Exchange::Next::kChallenge: {
        Check(x.challenges() >= 1 && x.challenges() <= options.max_challenges);
        if (line == "T") {
          x.OnResponseTooLong();
          Check(x.outcome().result == Result::kResponseTooLong);
        } else if (line == "U") {
          x.OnResponseUnreadable();
          Check(x.outcome().result == Result::kResponseUnreadable);
        } else if (line == "D") {
          x.OnDisconnected();
          Check(x.outcome().result == Result::kDisconnected);
        } else {
          last_line = std::string(line);
          x.OnResponse(line);
          if (line.size() > options.max_response)
            Check(x.outcome().result == Result::kResponseTooLong);
          else if (line == "*")
            Check(x.outcome().result == Result::kCancelled);
        }
        break;
      }
      case Exchange::Next::kDone:
        break;
    }
  }
  Check(x.challenges() <= options.max_challenges);
  if (x.next() == Exchange::Next::kDone) {
    const Result r = x.outcome().result;
    Check(r != Result::kOk || auth_said_ok);
    Check(!kite::sasl::Label(r).empty());
    if (!started) {
      Check(r == Result::kUnsupportedMechanism || r == Result::kBadInitialResponse ||
            r == Result::kResponseTooLong);
    }
  }
  return 0;
}
