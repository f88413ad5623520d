#include "smtp_server/policy.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/base/strings.h"
#include "lib/dns/cares_resolver.h"
#include "lib/log/log.h"
#include "lib/smtp/client_keys.h"

namespace kite::smtp_server {
namespace {

// Sliding-hour counter: KEYS[1] this clock hour, KEYS[2] the previous one; ARGV[1] the
// limit, ARGV[2] the seconds of the previous hour still inside the sliding hour.
constexpr std::string_view kRateScript = R"lua(
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
if cur + prev * tonumber(ARGV[2]) / 3600 + 1 > tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 7300)
return 1
)lua";

// KEYS[1] the triplet; ARGV: now, delay, first-sight lifetime (delay + retry window),
// remember. Values: the first-sight time, or "pass".
constexpr std::string_view kGreylistScript = R"lua(
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  return 0
end
if v == 'pass' then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return 1
end
if tonumber(ARGV[1]) - tonumber(v) < tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], 'pass', 'EX', ARGV[4])
return 1
)lua";

}  // namespace

absl::StatusOr<redis::Reply> PolicyRedis::Command(const std::vector<std::string>& argv) {
  std::lock_guard lock(mu_);
  if (!client_) {
    auto c = redis::Client::Connect(options_);
    if (!c.ok()) return c.status();
    client_ = std::move(*c);
  }
  auto r = client_->Command(argv);
  if (!r.ok()) client_.reset();  // reconnect next time
  return r;
}

PolicyVerdict SendRateLimit::Count(std::string_view kind, std::string_view user, int64_t limit,
                                   std::time_t now) {
  if (limit <= 0) return PolicyVerdict::kPass;
  int64_t hour = now / 3600;
  int64_t left_of_previous = 3600 - now % 3600;
  // {user} keeps both keys of a user in one Redis Cluster slot.
  std::string base = absl::StrCat("kite:sendrate:", AV(kind), ":{", AV(user), "}:");
  auto r = redis_.Command({"EVAL", std::string(kRateScript), "2", absl::StrCat(base, hour),
                           absl::StrCat(base, hour - 1), absl::StrCat(limit),
                           absl::StrCat(left_of_previous)});
  if (!r.ok() || r->type != redis::Reply::kInteger) {
    log::Warn("smtp.rate_limit_unavailable")
        .Kv("user", log::Truncate(user, 320))
        .Kv("error", r.ok() ? r->str : std::string(SV(r.status().message())));
    return PolicyVerdict::kUnavailable;
  }
  return r->integer == 1 ? PolicyVerdict::kPass : PolicyVerdict::kRefuse;
}

PolicyVerdict Greylist::Check(std::string_view client_ip, std::string_view sender,
                              std::string_view recipient, std::time_t now) {
  if (!options_.enabled) return PolicyVerdict::kPass;
  std::string network = smtp::GreylistNetwork(client_ip);
  if (network.empty()) network = std::string(client_ip);
  std::string key =
      absl::StrCat("kite:greylist:", network, " <", AV(sender), "> <", AV(recipient), ">");
  auto r = redis_.Command({"EVAL", std::string(kGreylistScript), "1", key, absl::StrCat(now),
                           absl::StrCat(options_.delay.count()),
                           absl::StrCat(options_.delay.count() + options_.retry_window.count()),
                           absl::StrCat(options_.remember.count())});
  if (!r.ok() || r->type != redis::Reply::kInteger) {
    log::Warn("smtp.greylist_unavailable")
        .Kv("error", r.ok() ? r->str : std::string(SV(r.status().message())));
    return PolicyVerdict::kUnavailable;
  }
  return r->integer == 1 ? PolicyVerdict::kPass : PolicyVerdict::kRefuse;
}

std::string Dnsbl::Listed(std::string_view client_ip, std::string_view sid) {
  if (!enabled()) return "";
  for (const std::string& zone : zones_) {
    std::string name = smtp::DnsblQueryName(client_ip, zone);
    if (name.empty()) return "";
    auto answer = resolver_->A(name);
    if (!answer.ok()) {
      if (!dns::IsVoid(answer.status())) {
        log::Warn("smtp.dnsbl_error")
            .Kv("session", sid)
            .Kv("zone", zone)
            .Kv("error", answer.status().message());
      }
      continue;
    }
    for (const std::string& a : *answer) {
      if (absl::StartsWith(a, "127.") && !absl::StartsWith(a, "127.255.255.")) {
        log::Info("smtp.dnsbl_listed")
            .Kv("session", sid)
            .Kv("client", client_ip)
            .Kv("zone", zone)
            .Kv("answer", a);
        return zone;
      }
    }
    log::Warn("smtp.dnsbl_unexpected_answer")
        .Kv("session", sid)
        .Kv("zone", zone)
        .Kv("answer", (*answer)[0]);
  }
  return "";
}

namespace {

redis::Options PolicyRedisOptions(redis::Options o) {
  // A policy must not stall a session for long when Redis is away: it fails open.
  o.timeout = std::min(o.timeout, std::chrono::milliseconds(1000));
  return o;
}

std::unique_ptr<dns::Resolver> MakeResolver(daemon::Runtime& rt,
                                            const std::vector<std::string>& zones) {
  if (zones.empty()) return nullptr;
  dns::ResolverOptions options;
  options.servers = rt.config().List("global", "dns_servers");
  auto r = dns::CaresResolver::Create(options);
  if (!r.ok()) {
    // Checked at startup by the configuration; a bad list here only disables the lookups.
    log::Error("smtp.dnsbl_disabled").Kv("error", r.status().message());
    return nullptr;
  }
  return std::move(*r);
}

std::vector<std::string> Zones(daemon::Runtime& rt, const std::string& section) {
  if (section != "mta") return {};
  std::vector<std::string> zones;
  for (std::string z : rt.config().List("mta", "dnsbl_zones")) {
    absl::AsciiStrToLower(&z);
    while (!z.empty() && z.back() == '.') z.pop_back();
    if (!z.empty()) zones.push_back(std::move(z));
  }
  return zones;
}

GreylistOptions GreylistConfig(daemon::Runtime& rt, const std::string& section) {
  GreylistOptions o;
  if (section != "mta") return o;
  const auto& c = rt.config();
  o.enabled = c.Bool("mta", "greylist");
  o.delay = std::chrono::duration_cast<std::chrono::seconds>(c.Duration("mta", "greylist_delay"));
  o.retry_window =
      std::chrono::duration_cast<std::chrono::seconds>(c.Duration("mta", "greylist_retry_window"));
  o.remember =
      std::chrono::duration_cast<std::chrono::seconds>(c.Duration("mta", "greylist_remember"));
  o.remember = std::max(o.remember, std::chrono::seconds(1));
  return o;
}

std::vector<net::Cidr> Trusted(daemon::Runtime& rt, const std::string& section) {
  if (section != "mta") return {};
  auto list = net::ParseCidrList(rt.config().String("mta", "trusted_networks"));
  if (!list.ok()) {
    log::Error("smtp.trusted_networks_invalid").Kv("error", list.status().message());
    return {};
  }
  return std::move(*list);
}

}  // namespace

Policies::Policies(daemon::Runtime& rt, const std::string& section, redis::Options redis_options)
    : redis(PolicyRedisOptions(std::move(redis_options))),
      rate(redis, section == "submission" ? rt.config().Int("submission", "messages_per_hour") : 0,
           section == "submission" ? rt.config().Int("submission", "recipients_per_hour") : 0),
      greylist(redis, GreylistConfig(rt, section)),
      dnsbl(MakeResolver(rt, Zones(rt, section)), Zones(rt, section)),
      trusted(Trusted(rt, section)),
      refusals(rt.metrics().Counter(
          "kite_smtp_policy_refusals_total",
          "Commands refused by a policy (rate limit, greylisting, DNS blocklist)")) {}

}  // namespace kite::smtp_server
