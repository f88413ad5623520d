// kitectl — the operator's tool. Reads the same configuration as the daemons (--config FILE,
// $KITE_CONFIG, KITE_* variables) and talks to PostgreSQL, Redis and the daemons directly.
//
//   kitectl migrate                      apply schema migrations (safe twice, from two hosts)
//   kitectl domain add NAME | list
//   kitectl user add ADDRESS [--name N] [--quota SIZE] [--password-stdin | --password P]
//   kitectl user list [DOMAIN] | passwd ADDRESS [--password-stdin | --password P]
//   kitectl health                       gRPC health of every daemon
//   kitectl queue stats                  spool and stream counts
//   kitectl check-config                 validate the configuration
//
// Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/config/config.h"
#include "lib/directory/directory.h"
#include "lib/password/password.h"
#include "lib/redis/client.h"
#include "lib/rpc/rpc.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"
#include "lib/store/url.h"

namespace {

using kite::config::Config;

constexpr const char* kUsage =
    "Usage: kitectl [--config FILE] COMMAND ...\n\n"
    "  migrate                          apply pending schema migrations\n"
    "  domain add NAME                  add a hosted mail domain\n"
    "  domain list\n"
    "  user add ADDRESS [--name NAME] [--quota SIZE] [--password-stdin | --password PASS]\n"
    "  user list [DOMAIN]\n"
    "  user passwd ADDRESS [--password-stdin | --password PASS]\n"
    "  health                           gRPC health of every daemon (SERVING / NOT_SERVING / down)\n"
    "  queue stats                      messages in the spool by state, Redis stream lengths\n"
    "  check-config                     validate the configuration and print it (secrets redacted)\n\n"
    "The configuration is the daemons' own: --config FILE, else $KITE_CONFIG, else defaults;\n"
    "KITE_<SECTION>_<KEY> variables override it.\n";

int Fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "kitectl: %s\n", message.c_str());
  return code;
}
int Fail(const absl::Status& s) { return Fail(std::string(s.message())); }

std::unique_ptr<kite::store::Pool> OpenPool(const Config& c) {
  auto pool = kite::store::Pool::Create({.url = c.String("global", "postgres_url"), .pool_size = 2});
  if (!pool.ok()) {
    Fail(pool.status());
    return nullptr;
  }
  return std::move(*pool);
}

// Takes "--flag VALUE" out of args; "" when absent.
std::string TakeOption(std::vector<std::string>& args, const std::string& flag, bool* present = nullptr) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag) {
      if (present) *present = true;
      std::string v = i + 1 < args.size() ? args[i + 1] : "";
      args.erase(args.begin() + i, args.begin() + std::min(args.size(), i + 2));
      return v;
    }
  }
  return "";
}
bool TakeFlag(std::vector<std::string>& args, const std::string& flag) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag) {
      args.erase(args.begin() + i);
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::string> ReadPassword(std::vector<std::string>& args) {
  bool given = false;
  std::string pass = TakeOption(args, "--password", &given);
  if (TakeFlag(args, "--password-stdin")) {
    if (!std::getline(std::cin, pass)) return absl::InvalidArgumentError("no password on standard input");
    if (!pass.empty() && pass.back() == '\r') pass.pop_back();
  } else if (!given) {
    if (!isatty(0)) return absl::InvalidArgumentError("give --password-stdin or --password");
    char* p = getpass("Password: ");
    pass = p ? p : "";
  }
  if (pass.size() < 8) return absl::InvalidArgumentError("the password must have at least 8 characters");
  return pass;
}

kite::password::Argon2Params Params(const Config& c) {
  return {static_cast<uint32_t>(c.Int("auth", "argon2_memory_kib")), static_cast<uint32_t>(c.Int("auth", "argon2_iterations")),
          static_cast<uint32_t>(c.Int("auth", "argon2_parallelism"))};
}

int Migrate(const Config& c) {
  auto pool = OpenPool(c);
  if (!pool) return 1;
  std::printf("migrating %s (this binary knows schema version %d)\n",
              kite::store::RedactUrl(c.String("global", "postgres_url")).c_str(), kite::store::LatestVersion());
  absl::Status s = kite::store::Migrate(*pool, [](int version, std::string_view name) {
    std::printf("  applying %04d_%.*s ...\n", version, static_cast<int>(name.size()), name.data());
    std::fflush(stdout);
  });
  if (!s.ok()) return Fail(s);
  auto v = kite::store::SchemaVersion(*pool);
  std::printf("schema is at version %d\n", v.ok() ? *v : -1);
  return 0;
}

int Domain(const Config& c, std::vector<std::string> args) {
  if (args.empty()) return Fail("domain: add NAME | list", 2);
  auto pool = OpenPool(c);
  if (!pool) return 1;
  if (args[0] == "add" && args.size() == 2) {
    auto id = kite::directory::CreateDomain(*pool, args[1]);
    if (!id.ok()) {
      if (id.status().code() == absl::StatusCode::kAlreadyExists) return Fail("domain " + args[1] + " already exists");
      return Fail(id.status());
    }
    std::printf("domain %s added\n", args[1].c_str());
    return 0;
  }
  if (args[0] == "list") {
    auto domains = kite::directory::ListDomains(*pool);
    if (!domains.ok()) return Fail(domains.status());
    for (const auto& d : *domains) std::printf("%s\n", d.name.c_str());
    return 0;
  }
  return Fail("domain: add NAME | list", 2);
}

int User(const Config& c, std::vector<std::string> args) {
  if (args.empty()) return Fail("user: add | list | passwd (see kitectl --help)", 2);
  std::string verb = args[0];
  args.erase(args.begin());
  auto pool = OpenPool(c);
  if (!pool) return 1;
  if (verb == "add") {
    std::string name = TakeOption(args, "--name");
    std::string quota_text = TakeOption(args, "--quota");
    auto pass = ReadPassword(args);
    if (!pass.ok()) return Fail(pass.status().message().data(), 2);
    if (args.size() != 1) return Fail("user add ADDRESS [--name NAME] [--quota SIZE] [--password-stdin]", 2);
    uint64_t quota = 0;
    if (!quota_text.empty()) {
      auto q = kite::config::ParseSize(quota_text);
      if (!q.ok()) return Fail("--quota: " + std::string(q.status().message()), 2);
      quota = *q;
    }
    auto hash = kite::password::Hash(*pass, Params(c));
    if (!hash.ok()) return Fail(hash.status());
    auto id = kite::directory::CreateAccount(*pool, args[0], name, *hash, static_cast<int64_t>(quota));
    if (!id.ok()) {
      if (id.status().code() == absl::StatusCode::kAlreadyExists) return Fail("user " + args[0] + " already exists");
      return Fail(id.status());
    }
    std::printf("user %s added (id %lld) with mailboxes INBOX, Drafts, Sent, Trash, Junk, Archive\n", args[0].c_str(),
                static_cast<long long>(*id));
    return 0;
  }
  if (verb == "list") {
    auto accounts = kite::directory::ListAccounts(*pool, args.empty() ? "" : args[0]);
    if (!accounts.ok()) return Fail(accounts.status());
    for (const auto& a : *accounts) {
      std::printf("%-40s %-8s %s\n", a.address.c_str(), a.enabled ? "enabled" : "disabled", a.display_name.c_str());
    }
    return 0;
  }
  if (verb == "passwd") {
    auto pass = ReadPassword(args);
    if (!pass.ok()) return Fail(std::string(pass.status().message()), 2);
    if (args.size() != 1) return Fail("user passwd ADDRESS [--password-stdin]", 2);
    auto a = kite::directory::FindAccount(*pool, args[0]);
    if (!a.ok()) return Fail(a.status());
    if (!*a) return Fail("no such user: " + args[0]);
    auto hash = kite::password::Hash(*pass, Params(c));
    if (!hash.ok()) return Fail(hash.status());
    if (auto s = kite::directory::SetPasswordHash(*pool, (*a)->id, *hash); !s.ok()) return Fail(s);
    std::printf("password of %s changed\n", args[0].c_str());
    return 0;
  }
  return Fail("user: add | list | passwd", 2);
}

int Health(const Config& c) {
  int bad = 0;
  for (const char* section : {"auth", "mta", "submission", "delivery", "imap", "pop3", "caldav", "freebusy"}) {
    std::string addr = c.Address(section, "grpc_listen").ToString();
    auto r = kite::rpc::CheckHealth(addr, {c.String("global", "grpc_tls_cert"), c.String("global", "grpc_tls_key"),
                                           c.String("global", "grpc_tls_ca")},
                                    std::chrono::milliseconds(2000));
    const char* state = !r.ok() ? "DOWN" : (*r ? "SERVING" : "NOT_SERVING");
    if (!r.ok() || !*r) ++bad;
    std::printf("kite-%-12s %-22s %s%s\n", section, addr.c_str(), state,
                r.ok() ? "" : absl::StrCat("  (", r.status().message(), ")").c_str());
  }
  return bad == 0 ? 0 : 1;
}

int Queue(const Config& c, const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "stats") return Fail("queue: stats", 2);
  auto pool = OpenPool(c);
  if (!pool) return 1;
  auto counts = pool->Transact([](pqxx::work& tx) {
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto& row : tx.exec("SELECT kind || '/' || state, count(*) FROM spool_recipients GROUP BY 1 ORDER BY 1")) {
      out.emplace_back(row[0].as<std::string>(), row[1].as<int64_t>());
    }
    return out;
  });
  if (!counts.ok()) return Fail(counts.status());
  std::printf("spool recipients by kind/state:\n");
  if (counts->empty()) std::printf("  (none)\n");
  for (const auto& [k, n] : *counts) std::printf("  %-24s %lld\n", k.c_str(), static_cast<long long>(n));
  auto addr = c.Address("global", "redis");
  auto redis = kite::redis::Client::Connect({.host = addr.host, .port = addr.port, .password = c.String("global", "redis_password")});
  if (!redis.ok()) return Fail(redis.status());
  for (const char* stream : {"kite:deliver", "kite:outbound"}) {
    auto len = (*redis)->XLen(stream);
    auto pending = (*redis)->Command({"XPENDING", stream, "delivery"});
    long long p = pending.ok() && pending->type == kite::redis::Reply::kArray && !pending->elements.empty()
                      ? pending->elements[0].integer : 0;
    std::printf("stream %-16s length %lld, pending %lld\n", stream, len.ok() ? *len : -1LL, p);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string config_path;
  if (const char* env = std::getenv("KITE_CONFIG")) config_path = env;
  bool explicit_config = false;
  std::string from_flag = TakeOption(args, "--config", &explicit_config);
  if (explicit_config) config_path = from_flag;
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, stdout);
    return args.empty() ? 2 : 0;
  }
  auto config = Config::Load(kite::config::KiteSchema(), config_path, kite::config::ProcessEnvironment());
  if (!config.ok()) return Fail("configuration error: " + std::string(config.status().message()), 2);
  std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "migrate") return Migrate(*config);
  if (cmd == "domain") return Domain(*config, rest);
  if (cmd == "user") return User(*config, rest);
  if (cmd == "health") return Health(*config);
  if (cmd == "queue") return Queue(*config, rest);
  if (cmd == "check-config") {
    std::printf("configuration OK\n%s", config->Dump().c_str());
    return 0;
  }
  return Fail("unknown command '" + cmd + "' (try kitectl --help)", 2);
}
