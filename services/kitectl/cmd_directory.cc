// kitectl domain | user.
#include "kitectl/commands.h"
#include "lib/directory/directory.h"

namespace kite::kitectl {
namespace {

int Domain(Cli& cli) {
  static const char* kUsage =
      "Usage: kitectl domain add NAME\n"
      "       kitectl domain list\n";
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  if (a[0] == "add" && a.size() == 2) {
    auto id = directory::CreateDomain(*pool, a[1]);
    if (!id.ok()) {
      if (id.status().code() == absl::StatusCode::kAlreadyExists) return Fail("domain " + a[1] + " already exists");
      return Fail(id.status());
    }
    if (cli.json) {
      std::printf("%s\n", JsonObject().Add("domain", a[1]).Add("id", *id).str().c_str());
    } else {
      std::printf("domain %s added\n", a[1].c_str());
    }
    return 0;
  }
  if (a[0] == "list" && a.size() == 1) {
    auto domains = directory::ListDomains(*pool);
    if (!domains.ok()) return Fail(domains.status());
    std::vector<std::string> items;
    for (const auto& d : *domains) {
      if (cli.json) {
        items.push_back(JsonObject().Add("domain", d.name).Add("id", d.id).str());
      } else {
        std::printf("%s\n", d.name.c_str());
      }
    }
    if (cli.json) std::printf("%s\n", JsonArray(items).c_str());
    return 0;
  }
  return Usage(kUsage, false);
}

int User(Cli& cli) {
  static const char* kUsage =
      "Usage: kitectl user add ADDRESS [--name NAME] [--quota SIZE] [--password PASS | --password-stdin]\n"
      "       kitectl user list [DOMAIN]\n"
      "       kitectl user passwd ADDRESS [--password PASS | --password-stdin]\n";
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  std::string verb = a[0];
  a.erase(a.begin());
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  if (verb == "add") {
    std::string name = TakeOption(a, "--name");
    std::string quota_text = TakeOption(a, "--quota");
    auto pass = ReadPassword(a);
    if (!pass.ok()) return Fail(pass.status());
    if (a.size() != 1) return Usage(kUsage, false);
    uint64_t quota = 0;
    if (!quota_text.empty()) {
      auto q = config::ParseSize(quota_text);
      if (!q.ok()) return Fail("--quota: " + std::string(q.status().message()), 2);
      quota = *q;
    }
    auto hash = password::Hash(*pass, Argon2(cli.config));
    if (!hash.ok()) return Fail(hash.status());
    auto id = directory::CreateAccount(*pool, a[0], name, *hash, static_cast<int64_t>(quota));
    if (!id.ok()) {
      if (id.status().code() == absl::StatusCode::kAlreadyExists) return Fail("user " + a[0] + " already exists");
      return Fail(id.status());
    }
    if (cli.json) {
      std::printf("%s\n", JsonObject().Add("address", a[0]).Add("id", *id).str().c_str());
    } else {
      std::printf("user %s added (id %lld) with mailboxes INBOX, Drafts, Sent, Trash, Junk, Archive\n", a[0].c_str(),
                  static_cast<long long>(*id));
    }
    return 0;
  }
  if (verb == "list" && a.size() <= 1) {
    auto accounts = directory::ListAccounts(*pool, a.empty() ? "" : a[0]);
    if (!accounts.ok()) return Fail(accounts.status());
    std::vector<std::string> items;
    for (const auto& acct : *accounts) {
      if (cli.json) {
        items.push_back(JsonObject()
                            .Add("address", acct.address)
                            .Add("id", acct.id)
                            .Add("name", acct.display_name)
                            .Add("enabled", acct.enabled)
                            .Add("quota_bytes", acct.quota_bytes)
                            .str());
      } else {
        std::printf("%-40s %-8s %s\n", acct.address.c_str(), acct.enabled ? "enabled" : "disabled",
                    acct.display_name.c_str());
      }
    }
    if (cli.json) std::printf("%s\n", JsonArray(items).c_str());
    return 0;
  }
  if (verb == "passwd") {
    auto pass = ReadPassword(a);
    if (!pass.ok()) return Fail(pass.status());
    if (a.size() != 1) return Usage(kUsage, false);
    auto acct = directory::FindAccount(*pool, a[0]);
    if (!acct.ok()) return Fail(acct.status());
    if (!*acct) return Fail("no such user: " + a[0]);
    auto hash = password::Hash(*pass, Argon2(cli.config));
    if (!hash.ok()) return Fail(hash.status());
    if (auto s = directory::SetPasswordHash(*pool, (*acct)->id, *hash); !s.ok()) return Fail(s);
    if (cli.json) {
      std::printf("%s\n", JsonObject().Add("address", a[0]).Add("password_changed", true).str().c_str());
    } else {
      std::printf("password of %s changed\n", a[0].c_str());
    }
    return 0;
  }
  return Usage(kUsage, false);
}

}  // namespace

static const Registration kDomainCommand{"domain", Domain, "add | list hosted mail domains"};
static const Registration kUserCommand{"user", User, "add | list | passwd accounts"};

}  // namespace kite::kitectl
