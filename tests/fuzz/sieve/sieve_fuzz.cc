// libFuzzer target: the Sieve compiler and interpreter (kite_sieve) on an untrusted script,
// run against a fixed message when it compiles. Errors must be returned, never crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lib/sieve/address.h"
#include "lib/sieve/lexer.h"
#include "lib/sieve/sieve.h"

namespace {

class FixedMessage : public kite::sieve::Message {
 public:
  std::vector<std::string> HeaderValues(std::string_view name) const override {
    static const std::pair<const char*, const char*> kHeaders[] = {
        {"From", "\"Coyote, W.\" <coyote@desert.example.org>"},
        {"To", "roadrunner@acme.example.com, grp: a@x.test, (c) \"q x\"@y.test;"},
        {"Cc", "<@route:r@z.test>, <>"},
        {"Subject", "I have a present for you \xC3\xA9"},
        {"List-Id", "<list.example.org>"},
    };
    std::vector<std::string> out;
    for (const auto& [n, v] : kHeaders) {
      if (kite::sieve::EqualsNoCase(n, name)) out.emplace_back(v);
    }
    return out;
  }
  std::string EnvelopeFrom() const override { return "coyote@desert.example.org"; }
  std::string EnvelopeTo() const override { return "roadrunner@acme.example.com"; }
  uint64_t Size() const override { return 4096; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  kite::sieve::Limits limits;
  kite::sieve::CompileError error;
  auto script = kite::sieve::Compile(in, limits, &error);
  if (script.ok()) {
    FixedMessage message;
    kite::sieve::ExecuteOptions options;
    options.mailbox_exists = [](std::string_view name) { return name.size() % 2 == 0; };
    auto result = kite::sieve::Execute(*script, message, options);
    (void)result;
  }
  // The address-list parser on raw input as a header value.
  (void)kite::sieve::ParseAddressList(in.substr(0, 4096));
  return 0;
}
