// kitectl migrate | health | check-config. (queue: cmd_queue.cc; db roles: cmd_db.cc)
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kitectl/commands.h"
#include "lib/base/strings.h"
#include "lib/rpc/rpc.h"
#include "lib/store/migrations.h"
#include "lib/store/roles.h"
#include "lib/store/url.h"

namespace kite::kitectl {
namespace {

int Migrate(Cli& cli) {
  bool prefix_given = false;
  std::string prefix = TakeOption(cli.args, "--prefix", &prefix_given);
  if (!prefix_given) prefix = std::string(store::kDefaultRolePrefix);
  if (cli.help || !cli.args.empty()) {
    return Usage(
        "Usage: kitectl migrate [--prefix kite_]\n"
        "  Applies pending schema migrations (safe to run twice, and from two hosts at once), as the\n"
        "  owner of Kite's tables (global.postgres_url). Then re-applies the grants of the daemons'\n"
        "  roles that exist (<prefix><daemon>, see kitectl db roles), so a new table is granted.\n",
        cli.help);
  }
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  if (!cli.json) {
    std::printf("migrating %s (this binary knows schema version %d)\n",
                store::RedactUrl(cli.config.String("global", "postgres_url")).c_str(), store::LatestVersion());
  }
  std::vector<std::string> applied;
  absl::Status s = store::Migrate(*pool, [&](int version, std::string_view name) {
    applied.push_back(JsonString(absl::StrFormat("%04d_%s", version, AV(name))));
    if (!cli.json) {
      std::printf("  applying %04d_%.*s ...\n", version, static_cast<int>(name.size()), name.data());
      std::fflush(stdout);
    }
  });
  if (!s.ok()) return Fail(s);
  auto v = store::SchemaVersion(*pool);
  // The roles that exist get the grants of the schema as it is now (no CREATEROLE needed).
  auto roles = store::ApplyRoles(*pool, {.prefix = prefix, .create = false});
  if (!roles.ok()) {
    return Fail(absl::StrCat("the schema is at version ", v.ok() ? *v : -1,
                             ", but re-applying the grants of the daemons' roles failed: ", roles.status().message()));
  }
  std::vector<std::string> names;
  for (const store::RoleReport& r : *roles) names.push_back(r.role);
  if (cli.json) {
    std::vector<std::string> items;
    for (const std::string& n : names) items.push_back(JsonString(n));
    std::printf("%s\n", JsonObject()
                            .Add("version", v.ok() ? *v : -1)
                            .AddRaw("applied", JsonArray(applied))
                            .AddRaw("roles_granted", JsonArray(items))
                            .str()
                            .c_str());
  } else {
    std::printf("schema is at version %d\n", v.ok() ? *v : -1);
    if (!names.empty()) std::printf("grants re-applied to %s\n", absl::StrJoin(names, ", ").c_str());
  }
  return 0;
}

int Health(Cli& cli) {
  if (cli.help) {
    return Usage(
        "Usage: kitectl health [HOST:PORT ...]\n"
        "  gRPC health (grpc.health.v1) of every daemon of the configuration, or of the given\n"
        "  addresses only (a container HEALTHCHECK: kitectl health 127.0.0.1:7001);\n"
        "  exit 0 only when all are SERVING.\n",
        true);
  }
  int bad = 0;
  std::vector<std::string> items;
  rpc::TlsFiles tls{cli.config.String("global", "grpc_tls_cert"), cli.config.String("global", "grpc_tls_key"),
                    cli.config.String("global", "grpc_tls_ca")};
  std::vector<std::pair<std::string, std::string>> targets;  // (name, address)
  for (const std::string& arg : cli.args) {
    auto hp = config::ParseHostPort(arg);
    if (!hp.ok()) return Fail(absl::StrCat("health: ", arg, ": ", hp.status().message()), 2);
    targets.emplace_back(arg, arg);
  }
  if (targets.empty()) {
    for (const char* section : {"auth", "mta", "submission", "delivery", "imap", "pop3", "caldav", "freebusy"}) {
      targets.emplace_back(absl::StrCat("kite-", section), cli.config.Address(section, "grpc_listen").ToString());
    }
  }
  for (const auto& [name, addr] : targets) {
    auto r = rpc::CheckHealth(addr, tls, std::chrono::milliseconds(2000));
    const char* state = !r.ok() ? "DOWN" : (*r ? "SERVING" : "NOT_SERVING");
    if (!r.ok() || !*r) ++bad;
    if (cli.json) {
      items.push_back(JsonObject().Add("daemon", name).Add("address", addr).Add("status", state).str());
    } else {
      std::printf("%-17s %-22s %s%s\n", name.c_str(), addr.c_str(), state,
                  r.ok() ? "" : absl::StrCat("  (", r.status().message(), ")").c_str());
    }
  }
  if (cli.json) std::printf("%s\n", JsonArray(items).c_str());
  return bad == 0 ? 0 : 1;
}

int CheckConfig(Cli& cli) {
  if (cli.help) return Usage("Usage: kitectl check-config\n  Validates the configuration and prints it (secrets redacted).\n", true);
  std::printf("configuration OK\n%s", cli.config.Dump().c_str());
  return 0;
}

}  // namespace

static const Registration kMigrateCommand{"migrate", Migrate, "apply pending schema migrations"};
static const Registration kHealthCommand{"health", Health, "gRPC health of every daemon"};
static const Registration kCheckConfigCommand{"check-config", CheckConfig, "validate the configuration and print it"};

}  // namespace kite::kitectl
