// A Message for the Sieve tests: header fields in order, an envelope and a size.
#ifndef KITE_TESTS_LIB_SIEVE_FAKE_MESSAGE_H_
#define KITE_TESTS_LIB_SIEVE_FAKE_MESSAGE_H_

#include <string>
#include <utility>
#include <vector>

#include "lib/sieve/lexer.h"
#include "lib/sieve/sieve.h"

namespace kite::sieve::testing {

class FakeMessage : public Message {
 public:
  FakeMessage& Header(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  FakeMessage& Envelope(std::string from, std::string to) {
    from_ = std::move(from);
    to_ = std::move(to);
    return *this;
  }
  FakeMessage& WithSize(uint64_t size) {
    size_ = size;
    return *this;
  }
  std::vector<std::string> HeaderValues(std::string_view name) const override {
    std::vector<std::string> out;
    for (const auto& [n, v] : headers_) {
      if (EqualsNoCase(n, name)) out.push_back(v);
    }
    return out;
  }
  std::string EnvelopeFrom() const override { return from_; }
  std::string EnvelopeTo() const override { return to_; }
  uint64_t Size() const override { return size_; }

 private:
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string from_ = "sender@example.org";
  std::string to_ = "user@example.com";
  uint64_t size_ = 1000;
};

// The standard message most tests use.
inline FakeMessage StandardMessage() {
  FakeMessage m;
  m.Header("From", "\"Coyote, Wile E.\" <coyote@desert.example.org>")
      .Header("To", "roadrunner@acme.example.com, Boss <boss@Acme.Example.com>")
      .Header("Cc", "team: a@x.test, b@y.test;")
      .Header("Subject", "I have a present for you")
      .Header("X-Caffeine", "C8H10N4O2")
      .Header("Date", "Mon, 23 Nov 2026 04:00:00 +0000")
      .Envelope("coyote@desert.example.org", "roadrunner@acme.example.com")
      .WithSize(2000);
  return m;
}

// "fileinto:Box[flags] keep redirect:addr ..." — a compact rendering of a result.
inline std::string Render(const Result& r) {
  std::string out;
  for (const Action& a : r.actions) {
    if (!out.empty()) out += " ";
    out += ActionKindName(a.kind);
    if (a.kind == Action::Kind::kFileInto) out += ":" + a.mailbox;
    if (a.kind == Action::Kind::kRedirect) out += ":" + a.address;
    if (a.kind == Action::Kind::kReject || a.kind == Action::Kind::kEreject) {
      out += ":" + a.reason;
    }
    if (a.copy) out += "(copy)";
    if (a.create) out += "(create)";
    if (a.implicit) out += "(implicit)";
    if (!a.flags.empty()) {
      out += "[";
      for (size_t i = 0; i < a.flags.size(); ++i) out += (i ? " " : "") + a.flags[i];
      out += "]";
    }
  }
  return out;
}

}  // namespace kite::sieve::testing

#endif  // KITE_TESTS_LIB_SIEVE_FAKE_MESSAGE_H_
