// kitectl freebusy: a person's working hours (reported by kite-freebusy as BUSY-UNAVAILABLE
// outside them), the secret external free/busy URL, cache invalidation, and a free/busy query
// over gRPC (kite.freebusy.v1) for operators and scripts.
//
// Tables: calendar_settings and freebusy_tokens (migration 0013); a token is shown once and
// only its SHA-256 is stored. Changing working hours drops the account's cached answers
// (INCR kite:fb:gen:{<account>} in Redis; a warning, not a failure, when Redis is down: the
// answers then expire by freebusy.cache_ttl).
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "freebusy/cache.h"
#include "freebusy/store.h"
#include "kite/freebusy/v1/freebusy.grpc.pb.h"
#include "kitectl/commands.h"
#include "lib/calendar/calendar.h"
#include "lib/daemon/backends.h"
#include "lib/directory/directory.h"
#include "lib/base/strings.h"
#include "lib/rpc/rpc.h"

namespace kite::kitectl {
namespace {

constexpr char kUsage[] =
    "Usage: kitectl freebusy hours ADDRESS HH:MM-HH:MM [--days mon-fri|all|mon,wed,...] [--timezone ZONE]\n"
    "       kitectl freebusy hours ADDRESS none [--timezone ZONE]   (no working hours)\n"
    "       kitectl freebusy show ADDRESS\n"
    "       kitectl freebusy token create ADDRESS    (prints the external URL; replaces an older one)\n"
    "       kitectl freebusy token revoke ADDRESS\n"
    "       kitectl freebusy invalidate ADDRESS      (drop the account's cached answers)\n"
    "       kitectl freebusy query --viewer ADDRESS [--start T] [--end T] [--address HOST:PORT] TARGET...\n"
    "Working hours are local time in ZONE (an IANA name, default UTC; also the zone of the\n"
    "person's all-day events); outside them kite-freebusy reports BUSY-UNAVAILABLE. Resources\n"
    "keep theirs in their booking policy (kitectl resource). The external URL\n"
    "https://<global.hostname>:<caldav.public_https_port>/freebusy/<token>.ifb shows busy\n"
    "periods only, to anyone holding it. query: times as 20261123T090000Z (default: today\n"
    "00:00 UTC, 7 days); asks kite-freebusy at global.freebusy_address.\n";

absl::StatusOr<int64_t> AccountId(store::Pool& pool, const std::string& address) {
  auto account = directory::FindAccount(pool, address);
  if (!account.ok()) return account.status();
  if (!*account) return absl::NotFoundError("no such account: " + address);
  return (*account)->id;
}

// Drops cached answers; a warning when Redis cannot be reached.
void InvalidateCache(const config::Config& config, int64_t account_id) {
  auto options = daemon::RedisOptions(config, "global");
  options.timeout = std::chrono::milliseconds(2000);
  auto redis = redis::Client::Connect(options);
  absl::Status s = redis.ok() ? freebusy::InvalidateAccount(**redis, account_id) : redis.status();
  if (!s.ok()) {
    std::fprintf(stderr, "kitectl: warning: cached free/busy not dropped (%s); it expires by freebusy.cache_ttl\n",
                 std::string(s.message()).c_str());
  }
}

std::string PublicUrl(const config::Config& config, const std::string& token) {
  std::string host = config.String("global", "hostname");
  int64_t port = config.Int("caldav", "public_https_port");
  return absl::StrCat("https://", host, port == 443 ? "" : absl::StrCat(":", port), "/freebusy/", token, ".ifb");
}

const char* TypeName(kite::freebusy::v1::BusyType t) {
  switch (t) {
    case kite::freebusy::v1::BUSY_TYPE_BUSY_TENTATIVE:
      return "BUSY-TENTATIVE";
    case kite::freebusy::v1::BUSY_TYPE_BUSY_UNAVAILABLE:
      return "BUSY-UNAVAILABLE";
    default:
      return "BUSY";
  }
}

int Query(Cli& cli) {
  auto& a = cli.args;
  std::string viewer = TakeOption(a, "--viewer");
  std::string start_text = TakeOption(a, "--start");
  std::string end_text = TakeOption(a, "--end");
  std::string address = TakeOption(a, "--address");
  if (viewer.empty() || a.empty()) return Usage(kUsage, false);
  for (const auto& s : a) {
    if (s.rfind("--", 0) == 0) return Fail("unknown option " + s, 2);
  }
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  int64_t start = now - now % 86400;
  if (!start_text.empty()) {
    auto t = calendar::ParseUtc(start_text);
    if (!t) return Fail("--start: want a UTC time such as 20261123T090000Z", 2);
    start = *t;
  }
  int64_t end = start + 7 * 86400;
  if (!end_text.empty()) {
    auto t = calendar::ParseUtc(end_text);
    if (!t) return Fail("--end: want a UTC time such as 20261130T090000Z", 2);
    end = *t;
  }
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  auto viewer_id = AccountId(*pool, viewer);
  if (!viewer_id.ok()) return Fail(viewer_id.status());
  if (address.empty()) {
    config::HostPort hp = cli.config.Address("global", "freebusy_address");
    address = absl::StrCat(hp.host, ":", hp.port);
  }
  kite::freebusy::v1::AvailabilityRequest request;
  request.set_viewer_account_id(*viewer_id);
  for (const auto& t : a) request.add_targets(t);
  request.mutable_start()->set_seconds(start);
  request.mutable_end()->set_seconds(end);
  kite::freebusy::v1::AvailabilityResponse response;
  auto stub = kite::freebusy::v1::FreeBusy::NewStub(rpc::MakeChannel(address, {
                                                                                  cli.config.String("global", "grpc_tls_cert"),
                                                                                  cli.config.String("global", "grpc_tls_key"),
                                                                                  cli.config.String("global", "grpc_tls_ca"),
                                                                              }));
  auto context = rpc::ContextWithDeadline(std::chrono::seconds(30));
  grpc::Status st = stub->Availability(context.get(), request, &response);
  if (!st.ok()) return Fail(absl::StrCat("kite-freebusy at ", address, ": ", st.error_message()));
  std::vector<std::string> items;
  for (const auto& r : response.results()) {
    std::vector<std::string> periods;
    if (!cli.json) std::printf("%s%s\n", r.target().c_str(), r.visible() ? "" : "  (not visible)");
    for (const auto& p : r.busy()) {
      if (cli.json) {
        periods.push_back(JsonObject()
                              .Add("start", calendar::FormatUtc(p.start().seconds()))
                              .Add("end", calendar::FormatUtc(p.end().seconds()))
                              .Add("type", TypeName(p.type()))
                              .str());
      } else {
        std::printf("  %s %s %s\n", calendar::FormatUtc(p.start().seconds()).c_str(),
                    calendar::FormatUtc(p.end().seconds()).c_str(), TypeName(p.type()));
      }
    }
    if (cli.json) {
      items.push_back(
          JsonObject().Add("target", r.target()).Add("visible", r.visible()).AddRaw("busy", JsonArray(periods)).str());
    }
  }
  if (cli.json) std::printf("%s\n", JsonArray(items).c_str());
  return 0;
}

int FreeBusy(Cli& cli) {
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  std::string verb = a[0];
  a.erase(a.begin());
  if (verb == "query") return Query(cli);
  if (verb == "token") {
    if (a.empty()) return Usage(kUsage, false);
    verb = "token " + a[0];
    a.erase(a.begin());
  }
  std::string days = TakeOption(a, "--days");
  bool tz_given = false;
  std::string timezone = TakeOption(a, "--timezone", &tz_given);
  for (const auto& s : a) {
    if (s.rfind("--", 0) == 0) return Fail("unknown option " + s, 2);
  }
  size_t want = verb == "hours" ? 2 : 1;
  bool known = verb == "hours" || verb == "show" || verb == "token create" || verb == "token revoke" ||
               verb == "invalidate";
  if (!known || a.size() != want) return Usage(kUsage, false);
  if (verb != "hours" && (tz_given || !days.empty())) return Usage(kUsage, false);

  std::optional<calendar::WorkingHours> hours;
  if (verb == "hours" && a[1] != "none") {
    auto parsed = directory::ParseWorkingHours(a[1], days);
    if (!parsed.ok()) return Fail(SV(parsed.status().message()), 2);
    calendar::WorkingHours h;
    for (int d = 0; d < 7; ++d) {
      if (parsed->days & (1 << d)) h.days[d].emplace_back(parsed->start_minute, parsed->end_minute);
    }
    hours = std::move(h);
  } else if (verb == "hours" && !days.empty()) {
    return Fail("--days goes with working hours, not with none", 2);
  }

  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  auto id = AccountId(*pool, a[0]);
  if (!id.ok()) return Fail(id.status());
  auto target = freebusy::TargetById(*pool, *id);
  if (!target.ok()) return Fail(target.status());
  if (!*target) return Fail("the account " + a[0] + " is disabled");
  const std::string& address = (*target)->address;

  if (verb == "hours") {
    if ((*target)->resource) {
      return Fail("the working hours of a resource are part of its booking policy (kitectl resource)");
    }
    if (!tz_given) timezone = (*target)->timezone;
    if (hours) hours->timezone = timezone;
    if (auto s = freebusy::SetCalendarSettings(*pool, *id, hours, timezone); !s.ok()) return Fail(s);
    InvalidateCache(cli.config, *id);
    std::string described = freebusy::DescribeWorkingHours(hours);
    if (cli.json) {
      std::printf("%s\n", JsonObject()
                              .Add("address", address)
                              .Add("working_hours", described)
                              .Add("timezone", timezone)
                              .Add("ok", true)
                              .str()
                              .c_str());
    } else {
      std::printf("working hours of %s: %s (%s)\n", address.c_str(), hours ? described.c_str() : "none",
                  timezone.c_str());
    }
    return 0;
  }
  if (verb == "show") {
    std::string described = freebusy::DescribeWorkingHours((*target)->hours);
    if (cli.json) {
      std::printf("%s\n", JsonObject()
                              .Add("address", address)
                              .Add("resource", (*target)->resource)
                              .Add("working_hours", described)
                              .Add("timezone", (*target)->timezone)
                              .str()
                              .c_str());
    } else {
      std::printf("address:       %s%s\nworking hours: %s\ntime zone:     %s\n", address.c_str(),
                  (*target)->resource ? " (resource)" : "", described.empty() ? "none" : described.c_str(),
                  (*target)->timezone.c_str());
    }
    return 0;
  }
  if (verb == "token create") {
    auto token = freebusy::CreateToken(*pool, *id);
    if (!token.ok()) return Fail(token.status());
    std::string url = PublicUrl(cli.config, *token);
    if (cli.json) {
      std::printf("%s\n", JsonObject().Add("address", address).Add("url", url).Add("token", *token).str().c_str());
    } else {
      std::printf("%s\n", url.c_str());
    }
    return 0;
  }
  if (verb == "token revoke") {
    auto revoked = freebusy::RevokeToken(*pool, *id);
    if (!revoked.ok()) return Fail(revoked.status());
    if (!*revoked) return Fail(address + " has no free/busy URL");
    if (cli.json) {
      std::printf("%s\n", JsonObject().Add("address", address).Add("ok", true).str().c_str());
    } else {
      std::printf("free/busy URL of %s revoked\n", address.c_str());
    }
    return 0;
  }
  // invalidate
  auto options = daemon::RedisOptions(cli.config, "global");
  auto redis = redis::Client::Connect(options);
  if (!redis.ok()) return Fail(redis.status());
  if (auto s = freebusy::InvalidateAccount(**redis, *id); !s.ok()) return Fail(s);
  if (cli.json) {
    std::printf("%s\n", JsonObject().Add("address", address).Add("ok", true).str().c_str());
  } else {
    std::printf("cached free/busy of %s dropped\n", address.c_str());
  }
  return 0;
}

}  // namespace

static const Registration kFreeBusyCommand{
    "freebusy", FreeBusy, "hours | show | token create|revoke | invalidate | query: free/busy settings"};

}  // namespace kite::kitectl
