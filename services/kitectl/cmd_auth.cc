// kitectl app-password add | list | revoke: per-device passwords (see
// lib/directory/credentials.h). A new app password is printed once and never again; only
// its argon2id hash is stored. Revoking takes effect at the next login attempt.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kitectl/commands.h"
#include "lib/base/strings.h"
#include "lib/directory/credentials.h"

namespace kite::kitectl {
namespace {

constexpr char kAppPasswordUsage[] =
    "Usage: kitectl app-password add ADDRESS NAME     create one; prints it once\n"
    "       kitectl app-password list ADDRESS         names, scopes, created, last used\n"
    "       kitectl app-password revoke ADDRESS NAME  delete it; it stops working at once\n"
    "  An app password works wherever the account password does (IMAP, POP3, SMTP AUTH\n"
    "  PLAIN/LOGIN, CalDAV), except SCRAM-SHA-256. Options: --json.\n";

absl::StatusOr<directory::Credentials> Account(store::Pool& pool, const std::string& address) {
  auto found = directory::FindCredentials(pool, address);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return absl::NotFoundError(absl::StrCat("no account ", address));
  return **found;
}

int AppPassword(Cli& cli) {
  const std::string sub = cli.args.empty() ? "" : cli.args[0];
  const size_t want = sub == "list" ? 2 : 3;
  if (cli.help || (sub != "add" && sub != "list" && sub != "revoke") || cli.args.size() != want) {
    return Usage(kAppPasswordUsage, cli.help);
  }
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  auto account = Account(*pool, cli.args[1]);
  if (!account.ok()) return Fail(account.status());
  if (sub == "add") {
    auto created = directory::CreateAppPassword(*pool, account->account_id, cli.args[2], Argon2(cli.config));
    if (!created.ok()) return Fail(created.status());
    if (cli.json) {
      std::printf("%s\n", JsonObject()
                              .Add("account", account->address)
                              .Add("name", cli.args[2])
                              .Add("password", *created)
                              .str()
                              .c_str());
    } else {
      std::printf("app password \"%s\" for %s: %s\n(shown only now; revoke with: kitectl app-password revoke %s %s)\n",
                  cli.args[2].c_str(), account->address.c_str(), created->c_str(), account->address.c_str(),
                  cli.args[2].c_str());
    }
    return 0;
  }
  if (sub == "revoke") {
    absl::Status s = directory::RevokeAppPassword(*pool, account->account_id, cli.args[2]);
    if (!s.ok()) return Fail(s);
    if (cli.json) {
      std::printf("%s\n", JsonObject().Add("account", account->address).Add("revoked", cli.args[2]).str().c_str());
    } else {
      std::printf("revoked app password \"%s\" of %s\n", cli.args[2].c_str(), account->address.c_str());
    }
    return 0;
  }
  auto list = directory::ListAppPasswords(*pool, account->account_id);
  if (!list.ok()) return Fail(list.status());
  std::vector<std::string> items;
  if (!cli.json && list->empty()) std::printf("%s has no app passwords\n", account->address.c_str());
  for (const auto& p : *list) {
    if (cli.json) {
      std::vector<std::string> scopes;
      for (const auto& s : p.scopes) scopes.push_back(JsonString(s));
      JsonObject o;
      o.Add("name", p.name).AddRaw("scopes", JsonArray(scopes)).Add("created_at", p.created_at);
      if (p.last_used_at.empty()) {
        o.AddRaw("last_used_at", "null");
      } else {
        o.Add("last_used_at", p.last_used_at);
      }
      items.push_back(o.str());
    } else {
      std::printf("%-24s %-24s created %s, last used %s\n", p.name.c_str(), absl::StrJoin(p.scopes, ",").c_str(),
                  p.created_at.c_str(), p.last_used_at.empty() ? "never" : p.last_used_at.c_str());
    }
  }
  if (cli.json) {
    std::printf("%s\n", JsonObject().Add("account", account->address).AddRaw("app_passwords", JsonArray(items)).str().c_str());
  }
  return 0;
}

}  // namespace

static const Registration kAppPasswordCommand{"app-password", AppPassword,
                                              "add | list | revoke per-device passwords of an account"};

}  // namespace kite::kitectl
