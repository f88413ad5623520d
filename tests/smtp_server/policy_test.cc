#include "smtp_server/policy.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "fixtures/test_env.h"
#include "lib/base/strings.h"

namespace kite::smtp_server {
namespace {

std::string Unique(std::string_view prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(AV(prefix), rng(), "@example.test");
}

redis::Options FixtureRedis() {
  redis::Options o;
  o.port = testing::RedisPort();
  return o;
}

// A time 30 minutes into a clock hour.
constexpr std::time_t kHalfPast = 1795402800 + 1800;

TEST_CASE("Sending rate: over the limit is refused and not counted, the previous hour fades",
          "[smtp][policy]") {
  PolicyRedis redis(FixtureRedis());
  SendRateLimit limit(redis, 3, 0);
  std::string user = Unique("rate");
  for (int i = 0; i < 3; ++i) CHECK(limit.Message(user, kHalfPast + i) == PolicyVerdict::kPass);
  CHECK(limit.Message(user, kHalfPast + 10) == PolicyVerdict::kRefuse);
  CHECK(limit.Message(user, kHalfPast + 11) == PolicyVerdict::kRefuse);
  // Half-way through the next hour the 3 earlier messages weigh 1.5: one more fits.
  CHECK(limit.Message(user, kHalfPast + 3600) == PolicyVerdict::kPass);
  CHECK(limit.Message(user, kHalfPast + 3601) == PolicyVerdict::kRefuse);
  // Another user is counted apart; recipients are unlimited here (0).
  CHECK(limit.Message(Unique("other"), kHalfPast) == PolicyVerdict::kPass);
  for (int i = 0; i < 10; ++i) CHECK(limit.Recipient(user, kHalfPast) == PolicyVerdict::kPass);
}

TEST_CASE("Sending rate: Redis down allows", "[smtp][policy]") {
  redis::Options o;
  o.port = 1;
  o.timeout = std::chrono::milliseconds(300);
  PolicyRedis redis(o);
  SendRateLimit limit(redis, 1, 1);
  CHECK(limit.Message("a@example.test", kHalfPast) == PolicyVerdict::kUnavailable);
  CHECK(limit.Recipient("a@example.test", kHalfPast) == PolicyVerdict::kUnavailable);
  Greylist grey(redis, {.enabled = true});
  CHECK(grey.Check("192.0.2.1", "a@b.test", "c@d.test", kHalfPast) == PolicyVerdict::kUnavailable);
}

TEST_CASE("Greylisting: first sight deferred, a retry after the delay passes, then remembered",
          "[smtp][policy]") {
  PolicyRedis redis(FixtureRedis());
  Greylist grey(redis, {.enabled = true,
                        .delay = std::chrono::seconds(300),
                        .retry_window = std::chrono::seconds(3600),
                        .remember = std::chrono::seconds(86400)});
  std::string from = Unique("sender"), to = Unique("rcpt");
  CHECK(grey.Check("192.0.2.10", from, to, kHalfPast) == PolicyVerdict::kRefuse);
  CHECK(grey.Check("192.0.2.10", from, to, kHalfPast + 299) == PolicyVerdict::kRefuse);
  // Another host of the same /24 counts as the same sender.
  CHECK(grey.Check("192.0.2.99", from, to, kHalfPast + 300) == PolicyVerdict::kPass);
  CHECK(grey.Check("192.0.2.10", from, to, kHalfPast + 301) == PolicyVerdict::kPass);
  // Another network or another recipient is a new triplet.
  CHECK(grey.Check("198.51.100.1", from, to, kHalfPast + 302) == PolicyVerdict::kRefuse);
  CHECK(grey.Check("192.0.2.10", from, Unique("rcpt"), kHalfPast + 302) == PolicyVerdict::kRefuse);
  // IPv6 clients are keyed on their /64.
  CHECK(grey.Check("2001:db8::1", from, to, kHalfPast) == PolicyVerdict::kRefuse);
  CHECK(grey.Check("2001:db8::ffff:2", from, to, kHalfPast + 300) == PolicyVerdict::kPass);

  Greylist off(redis, {});
  CHECK(off.Check("203.0.113.1", from, to, kHalfPast) == PolicyVerdict::kPass);
}

class FakeResolver final : public dns::Resolver {
 public:
  std::map<std::string, absl::StatusOr<std::vector<std::string>>> a;
  absl::StatusOr<std::vector<std::string>> A(std::string_view name) override {
    auto it = a.find(std::string(name));
    if (it == a.end()) return dns::NxDomainError(name);
    return it->second;
  }
  absl::StatusOr<std::vector<std::string>> Txt(std::string_view) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::vector<dns::MxRecord>> Mx(std::string_view) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::vector<std::string>> Aaaa(std::string_view) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::vector<std::string>> Ptr(std::string_view) override {
    return absl::UnimplementedError("");
  }
};

TEST_CASE("DNS blocklists: 127/8 answers list, errors and refusal codes do not", "[smtp][policy]") {
  auto fake = std::make_unique<FakeResolver>();
  fake->a["2.0.0.127.one.test"] = std::vector<std::string>{"127.0.0.2"};
  fake->a["3.0.0.127.one.test"] = absl::UnavailableError("SERVFAIL");
  fake->a["3.0.0.127.two.test"] = std::vector<std::string>{"127.0.0.4"};
  fake->a["4.0.0.127.one.test"] = std::vector<std::string>{"127.255.255.254"};
  fake->a["5.0.0.127.one.test"] = std::vector<std::string>{"192.0.2.1"};
  fake->a["1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.two.test"] =
      std::vector<std::string>{"127.0.0.2"};
  Dnsbl bl(std::move(fake), {"one.test", "two.test"});
  CHECK(bl.enabled());
  CHECK(bl.Listed("127.0.0.2", "s") == "one.test");
  CHECK(bl.Listed("127.0.0.3", "s") == "two.test");  // the first zone failed: the next decides
  CHECK(bl.Listed("127.0.0.4", "s").empty());
  CHECK(bl.Listed("127.0.0.5", "s").empty());
  CHECK(bl.Listed("127.0.0.6", "s").empty());
  CHECK(bl.Listed("2001:db8::1", "s") == "two.test");
  CHECK(bl.Listed("not-an-ip", "s").empty());
  CHECK_FALSE(Dnsbl(nullptr, {}).enabled());
}

}  // namespace
}  // namespace kite::smtp_server
