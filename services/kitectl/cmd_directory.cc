// kitectl domain | user | alias | list | shared | resource | quota: the directory.
//
// Catch-all: `kitectl alias add @DOMAIN TARGET` (as in Postfix's virtual table) or
// `kitectl domain catch-all DOMAIN TARGET|off`; off by default. Removing: `kitectl alias
// remove @DOMAIN [TARGET]` or `kitectl domain catch-all DOMAIN off`.
#include <cinttypes>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "kitectl/commands.h"
#include "lib/base/strings.h"
#include "lib/directory/credentials.h"
#include "lib/directory/directory.h"

namespace kite::kitectl {
namespace {

// ---- helpers ----------------------------------------------------------------------------

std::string Size(int64_t bytes) {
  if (bytes <= 0) return "0";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? absl::StrFormat("%d B", bytes) : absl::StrFormat("%.1f %s", v, units[u]);
}

std::string Duration(int64_t seconds) {
  if (seconds == 0) return "none";
  if (seconds % 86400 == 0) return absl::StrFormat("%dd", seconds / 86400);
  if (seconds % 3600 == 0) return absl::StrFormat("%dh", seconds / 3600);
  if (seconds % 60 == 0) return absl::StrFormat("%dm", seconds / 60);
  return absl::StrFormat("%ds", seconds);
}

std::string JsonStrings(const std::vector<std::string>& items) {
  std::vector<std::string> encoded;
  for (const auto& s : items) encoded.push_back(JsonString(s));
  return JsonArray(encoded);
}

std::string RightsText(const directory::Rights& r) {
  std::vector<std::string> parts;
  if (r.read) parts.push_back("read");
  if (r.write) parts.push_back("write");
  if (r.send_as) parts.push_back("send-as");
  if (r.send_on_behalf) parts.push_back("send-on-behalf");
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

std::string RightsJson(const directory::Rights& r) {
  return JsonObject()
      .Add("read", r.read)
      .Add("write", r.write)
      .Add("send_as", r.send_as)
      .Add("send_on_behalf", r.send_on_behalf)
      .str();
}

// Prints `text` or `json` (one document) and returns 0.
int Done(const Cli& cli, const std::string& text, const std::string& json) {
  if (cli.json) {
    std::printf("%s\n", json.c_str());
  } else if (!text.empty()) {
    std::printf("%s\n", text.c_str());
  }
  return 0;
}

int Ok(const Cli& cli, const std::string& text, JsonObject json) {
  return Done(cli, text, json.Add("ok", true).str());
}

// Options left over after a command took its own are a usage error.
bool Leftover(const std::vector<std::string>& a) {
  for (const auto& s : a) {
    if (s.size() > 1 && s[0] == '-' && s[1] == '-') {
      Fail("unknown option " + s, 2);
      return true;
    }
  }
  return false;
}

// ---- domain -----------------------------------------------------------------------------

int Domain(Cli& cli) {
  static const char* kUsage =
      "Usage: kitectl domain add DOMAIN\n"
      "       kitectl domain list\n"
      "       kitectl domain remove DOMAIN        (refused while it has accounts)\n"
      "       kitectl domain catch-all DOMAIN TARGET|off\n"
      "A catch-all (off by default) receives mail for unknown addresses of DOMAIN;\n"
      "`kitectl alias add @DOMAIN TARGET` does the same.\n";
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  if (Leftover(a)) return 2;
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  if (a[0] == "add" && a.size() == 2) {
    auto id = directory::CreateDomain(*pool, a[1]);
    if (!id.ok()) return Fail(id.status());
    return Done(cli, "domain " + a[1] + " added",
                JsonObject().Add("domain", a[1]).Add("id", *id).str());
  }
  if (a[0] == "list" && a.size() == 1) {
    auto domains = directory::ListDomains(*pool);
    if (!domains.ok()) return Fail(domains.status());
    std::vector<std::string> items;
    for (const auto& d : *domains) {
      if (cli.json) {
        items.push_back(JsonObject()
                            .Add("domain", d.name)
                            .Add("id", d.id)
                            .Add("accounts", d.accounts)
                            .Add("catch_all", d.catch_all)
                            .str());
      } else {
        std::printf("%-40s %6" PRId64 " accounts%s\n", d.name.c_str(), d.accounts,
                    d.catch_all.empty() ? "" : ("  catch-all -> " + d.catch_all).c_str());
      }
    }
    if (cli.json) std::printf("%s\n", JsonArray(items).c_str());
    return 0;
  }
  if (a[0] == "remove" && a.size() == 2) {
    if (auto s = directory::RemoveDomain(*pool, a[1]); !s.ok()) return Fail(s);
    return Ok(cli, "domain " + a[1] + " removed",
              JsonObject().Add("domain", a[1]).Add("removed", true));
  }
  if (a[0] == "catch-all" && a.size() == 3) {
    std::string target = a[2] == "off" ? "" : a[2];
    if (auto s = directory::SetCatchAll(*pool, a[1], target); !s.ok()) return Fail(s);
    return Ok(
        cli,
        target.empty() ? "catch-all of " + a[1] + " off" : "catch-all of " + a[1] + " -> " + target,
        JsonObject().Add("domain", a[1]).Add("catch_all", target));
  }
  return Usage(kUsage, false);
}

// ---- user -------------------------------------------------------------------------------

int UserShow(const Cli& cli, store::Pool& pool, const std::string& address) {
  auto d = directory::ShowAccount(pool, address);
  if (!d.ok()) return Fail(d.status());
  const auto& acct = d->account;
  if (cli.json) {
    std::vector<std::string> to, by;
    for (const auto& g : d->granted_to_others) {
      to.push_back(
          JsonObject().Add("address", g.address).AddRaw("rights", RightsJson(g.rights)).str());
    }
    for (const auto& g : d->granted_by_others) {
      by.push_back(
          JsonObject().Add("address", g.address).AddRaw("rights", RightsJson(g.rights)).str());
    }
    std::printf("%s\n", JsonObject()
                            .Add("address", acct.address)
                            .Add("id", acct.id)
                            .Add("kind", directory::AccountKindName(d->kind))
                            .Add("name", acct.display_name)
                            .Add("enabled", acct.enabled)
                            .Add("quota_bytes", acct.quota_bytes)
                            .Add("used_bytes", d->used_bytes)
                            .Add("used_messages", d->used_messages)
                            .AddRaw("aliases", JsonStrings(d->aliases))
                            .AddRaw("lists", JsonStrings(d->lists))
                            .AddRaw("grants_given", JsonArray(to))
                            .AddRaw("grants_held", JsonArray(by))
                            .str()
                            .c_str());
    return 0;
  }
  std::printf("address:  %s\nid:       %" PRId64 "\nkind:     %s\nname:     %s\nstatus:   %s\n",
              acct.address.c_str(), acct.id, directory::AccountKindName(d->kind),
              acct.display_name.c_str(), acct.enabled ? "enabled" : "disabled");
  std::printf("quota:    %s used of %s (%" PRId64 " messages)\n", Size(d->used_bytes).c_str(),
              acct.quota_bytes == 0 ? "unlimited" : Size(acct.quota_bytes).c_str(),
              d->used_messages);
  for (const auto& s : d->aliases) std::printf("alias:    %s\n", s.c_str());
  for (const auto& s : d->lists) std::printf("member of: %s\n", s.c_str());
  for (const auto& g : d->granted_to_others) {
    std::printf("granted to %s: %s\n", g.address.c_str(), RightsText(g.rights).c_str());
  }
  for (const auto& g : d->granted_by_others) {
    std::printf("holds on %s: %s\n", g.address.c_str(), RightsText(g.rights).c_str());
  }
  return 0;
}

int User(Cli& cli) {
  static const char* kUsage =
      "Usage: kitectl user add ADDRESS [--name NAME] [--quota SIZE] [--password PASS | "
      "--password-stdin]\n"
      "       kitectl user list [DOMAIN]\n"
      "       kitectl user show ADDRESS\n"
      "       kitectl user passwd ADDRESS [--password PASS | --password-stdin]\n"
      "       kitectl user disable|enable ADDRESS\n"
      "       kitectl user remove ADDRESS         (deletes its mailboxes, calendars and mail)\n";
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  std::string verb = a[0];
  a.erase(a.begin());
  if (verb == "add") {
    std::string name = TakeOption(a, "--name");
    std::string quota_text = TakeOption(a, "--quota");
    auto pass = ReadPassword(a);
    if (!pass.ok()) return Fail(pass.status());
    if (Leftover(a)) return 2;
    if (a.size() != 1) return Usage(kUsage, false);
    uint64_t quota = 0;
    if (!quota_text.empty()) {
      auto q = config::ParseSize(quota_text);
      if (!q.ok()) return Fail("--quota: " + std::string(q.status().message()), 2);
      quota = *q;
    }
    // Check the address before the (slow) hash.
    if (auto n = directory::NormalizeAddress(a[0]); !n.ok()) return Fail(n.status());
    auto pool = OpenPool(cli.config);
    if (!pool) return 1;
    // Created with a hash that never verifies, then given its credentials (argon2id and the
    // SCRAM-SHA-256 secret) in one place: directory::SetPassword.
    auto id = directory::CreateAccount(*pool, a[0], name, "!", static_cast<int64_t>(quota));
    if (!id.ok()) return Fail(id.status());
    if (auto s = directory::SetPassword(*pool, *id, *pass, Argon2(cli.config)); !s.ok()) {
      return Fail("user " + a[0] + " was created but its password could not be set (" + std::string(s.message()) +
                  "); set it with: kitectl user passwd " + a[0]);
    }
    if (cli.json) {
      std::printf("%s\n", JsonObject().Add("address", a[0]).Add("id", *id).str().c_str());
    } else {
      std::printf(
          "user %s added (id %lld) with mailboxes INBOX, Drafts, Sent, Trash, Junk, Archive\n",
          a[0].c_str(), static_cast<long long>(*id));
    }
    return 0;
  }
  if (verb == "passwd") {
    auto pass = ReadPassword(a);
    if (!pass.ok()) return Fail(pass.status());
    if (Leftover(a)) return 2;
    if (a.size() != 1) return Usage(kUsage, false);
    auto pool = OpenPool(cli.config);
    if (!pool) return 1;
    auto acct = directory::FindAccount(*pool, a[0]);
    if (!acct.ok()) return Fail(acct.status());
    if (!*acct) return Fail("no such user: " + a[0]);
    if (auto st = directory::SetPassword(*pool, (*acct)->id, *pass, Argon2(cli.config)); !st.ok()) return Fail(st);
    return Done(cli, "password of " + a[0] + " changed",
                JsonObject().Add("address", a[0]).Add("password_changed", true).str());
  }
  if (Leftover(a)) return 2;
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
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
  if (verb == "show" && a.size() == 1) return UserShow(cli, *pool, a[0]);
  if ((verb == "disable" || verb == "enable") && a.size() == 1) {
    bool enabled = verb == "enable";
    if (auto s = directory::SetAccountEnabled(*pool, a[0], enabled); !s.ok()) return Fail(s);
    return Ok(cli, "user " + a[0] + (enabled ? " enabled" : " disabled"),
              JsonObject().Add("address", a[0]).Add("enabled", enabled));
  }
  if (verb == "remove" && a.size() == 1) {
    if (auto s = directory::RemoveAccount(*pool, a[0]); !s.ok()) return Fail(s);
    return Ok(cli, "user " + a[0] + " removed",
              JsonObject().Add("address", a[0]).Add("removed", true));
  }
  return Usage(kUsage, false);
}

// ---- alias ------------------------------------------------------------------------------

int Alias(Cli& cli) {
  static const char* kUsage =
      "Usage: kitectl alias add SOURCE TARGET\n"
      "       kitectl alias remove SOURCE [TARGET]\n"
      "       kitectl alias list [DOMAIN]\n"
      "TARGET is a local address that exists or an external one; one target per alias\n"
      "(use a list for several). SOURCE @DOMAIN is the domain's catch-all (off by default):\n"
      "mail to unknown addresses of DOMAIN goes to TARGET.\n";
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  if (Leftover(a)) return 2;
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  if (a[0] == "add" && a.size() == 3) {
    if (auto s = directory::AddAlias(*pool, a[1], a[2]); !s.ok()) return Fail(s);
    return Ok(cli, "alias " + a[1] + " -> " + a[2] + " added",
              JsonObject().Add("alias", a[1]).Add("target", a[2]));
  }
  if (a[0] == "remove" && (a.size() == 2 || a.size() == 3)) {
    std::string target = a.size() == 3 ? a[2] : "";
    if (auto s = directory::RemoveAlias(*pool, a[1], target); !s.ok()) return Fail(s);
    return Ok(cli, "alias " + a[1] + " removed",
              JsonObject().Add("alias", a[1]).Add("removed", true));
  }
  if (a[0] == "list" && a.size() <= 2) {
    auto aliases = directory::ListAliases(*pool, a.size() == 2 ? a[1] : "");
    if (!aliases.ok()) return Fail(aliases.status());
    std::vector<std::string> items;
    for (const auto& al : *aliases) {
      if (cli.json) {
        items.push_back(JsonObject()
                            .Add("alias", al.address)
                            .Add("target", al.target)
                            .Add("catch_all", !al.address.empty() && al.address[0] == '@')
                            .Add("local", al.local_target)
                            .str());
      } else {
        std::printf("%-40s -> %s\n", al.address.c_str(), al.target.c_str());
      }
    }
    if (cli.json) std::printf("%s\n", JsonArray(items).c_str());
    return 0;
  }
  return Usage(kUsage, false);
}

// ---- list -------------------------------------------------------------------------------

int ListCmd(Cli& cli) {
  static const char* kUsage =
      "Usage: kitectl list add LIST [--policy anyone|members|senders|domain|moderators] [--name "
      "NAME]\n"
      "       kitectl list policy LIST anyone|members|senders|domain|moderators\n"
      "       kitectl list remove LIST\n"
      "       kitectl list member add LIST ADDRESS [--moderator]\n"
      "       kitectl list member remove LIST ADDRESS\n"
      "       kitectl list sender add|remove LIST ADDRESS    (who may post under --policy "
      "senders)\n"
      "       kitectl list show LIST\n"
      "       kitectl list list [DOMAIN]\n"
      "Members and senders are local addresses that exist (accounts, aliases, other lists) or\n"
      "external ones. Policies: anyone; members (of the list); senders (listed with `list "
      "sender`);\n"
      "domain (addresses of the list's domain); moderators (members added with --moderator).\n";
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  std::string verb = a[0];
  a.erase(a.begin());
  bool has_policy = false;
  std::string policy_text = TakeOption(a, "--policy", &has_policy);
  std::string name = TakeOption(a, "--name");
  bool moderator = TakeFlag(a, "--moderator");
  if (Leftover(a)) return 2;
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  if (verb == "add" && a.size() == 1) {
    auto policy = directory::ParsePostingPolicy(has_policy ? policy_text : "anyone");
    if (!policy.ok()) return Fail(SV(policy.status().message()), 2);
    auto id = directory::CreateList(*pool, a[0], *policy, name);
    if (!id.ok()) return Fail(id.status());
    return Done(cli,
                "list " + a[0] + " added (posting: " + directory::PostingPolicyName(*policy) + ")",
                JsonObject()
                    .Add("list", a[0])
                    .Add("id", *id)
                    .Add("policy", directory::PostingPolicyName(*policy))
                    .str());
  }
  if (verb == "policy" && a.size() == 2) {
    auto policy = directory::ParsePostingPolicy(a[1]);
    if (!policy.ok()) return Fail(policy.status());
    if (auto s = directory::SetListPolicy(*pool, a[0], *policy); !s.ok()) return Fail(s);
    return Ok(cli, "list " + a[0] + " posting policy: " + a[1],
              JsonObject().Add("list", a[0]).Add("policy", a[1]));
  }
  if (verb == "remove" && a.size() == 1) {
    if (auto s = directory::RemoveList(*pool, a[0]); !s.ok()) return Fail(s);
    return Ok(cli, "list " + a[0] + " removed",
              JsonObject().Add("list", a[0]).Add("removed", true));
  }
  if ((verb == "member" || verb == "sender") && a.size() == 3 &&
      (a[0] == "add" || a[0] == "remove")) {
    bool add = a[0] == "add";
    absl::Status s;
    if (verb == "member") {
      s = add ? directory::AddListMember(*pool, a[1], a[2], moderator)
              : directory::RemoveListMember(*pool, a[1], a[2]);
    } else {
      s = add ? directory::AddListSender(*pool, a[1], a[2])
              : directory::RemoveListSender(*pool, a[1], a[2]);
    }
    if (!s.ok()) return Fail(s);
    return Ok(cli, verb + " " + a[2] + (add ? " added to " : " removed from ") + a[1],
              JsonObject().Add("list", a[1]).Add(verb, a[2]).Add(add ? "added" : "removed", true));
  }
  if (verb == "show" && a.size() == 1) {
    auto l = directory::ShowList(*pool, a[0]);
    if (!l.ok()) return Fail(l.status());
    if (cli.json) {
      std::vector<std::string> members;
      for (const auto& m : l->members) {
        members.push_back(JsonObject()
                              .Add("address", m.address)
                              .Add("local_account", m.account_id != 0)
                              .Add("moderator", m.moderator)
                              .str());
      }
      std::printf("%s\n", JsonObject()
                              .Add("list", l->address)
                              .Add("id", l->id)
                              .Add("name", l->display_name)
                              .Add("policy", directory::PostingPolicyName(l->policy))
                              .AddRaw("members", JsonArray(members))
                              .AddRaw("senders", JsonStrings(l->senders))
                              .str()
                              .c_str());
      return 0;
    }
    std::printf("list:     %s\nname:     %s\nposting:  %s\n", l->address.c_str(),
                l->display_name.c_str(), directory::PostingPolicyName(l->policy));
    for (const auto& m : l->members)
      std::printf("member:   %s%s\n", m.address.c_str(), m.moderator ? " (moderator)" : "");
    for (const auto& s : l->senders) std::printf("sender:   %s\n", s.c_str());
    return 0;
  }
  if (verb == "list" && a.size() <= 1) {
    auto lists = directory::ListLists(*pool, a.empty() ? "" : a[0]);
    if (!lists.ok()) return Fail(lists.status());
    std::vector<std::string> items;
    for (const auto& l : *lists) {
      if (cli.json) {
        items.push_back(JsonObject()
                            .Add("list", l.address)
                            .Add("policy", directory::PostingPolicyName(l.policy))
                            .str());
      } else {
        std::printf("%-40s %s\n", l.address.c_str(), directory::PostingPolicyName(l.policy));
      }
    }
    if (cli.json) std::printf("%s\n", JsonArray(items).c_str());
    return 0;
  }
  return Usage(kUsage, false);
}

// ---- shared -----------------------------------------------------------------------------

int Shared(Cli& cli) {
  static const char* kUsage =
      "Usage: kitectl shared add ADDRESS [--name NAME] [--quota SIZE]\n"
      "       kitectl shared grant SHARED USER [--read] [--write] [--send-as] [--send-on-behalf]\n"
      "       kitectl shared revoke SHARED USER [--read] [--write] [--send-as] [--send-on-behalf]\n"
      "       kitectl shared show SHARED\n"
      "Grants add to what the user holds; --write implies --read. Send-as lets the user send\n"
      "with From: SHARED; send-on-behalf adds Sender: USER. Send-as wins when both are granted.\n";
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  std::string verb = a[0];
  a.erase(a.begin());
  std::string name = TakeOption(a, "--name");
  std::string quota_text = TakeOption(a, "--quota");
  directory::Rights rights;
  rights.read = TakeFlag(a, "--read");
  rights.write = TakeFlag(a, "--write");
  rights.send_as = TakeFlag(a, "--send-as");
  rights.send_on_behalf = TakeFlag(a, "--send-on-behalf");
  if (Leftover(a)) return 2;
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  if (verb == "add" && a.size() == 1) {
    uint64_t quota = 0;
    if (!quota_text.empty()) {
      auto q = config::ParseSize(quota_text);
      if (!q.ok()) return Fail("--quota: " + std::string(q.status().message()), 2);
      quota = *q;
    }
    auto id = directory::CreateSharedMailbox(*pool, a[0], name, static_cast<int64_t>(quota));
    if (!id.ok()) return Fail(id.status());
    return Done(cli, "shared mailbox " + a[0] + " added",
                JsonObject().Add("shared", a[0]).Add("id", *id).str());
  }
  if ((verb == "grant" || verb == "revoke") && a.size() == 2) {
    if (!rights.any())
      return Fail("give at least one of --read, --write, --send-as, --send-on-behalf", 2);
    auto s = verb == "grant" ? directory::GrantShared(*pool, a[0], a[1], rights)
                             : directory::RevokeShared(*pool, a[0], a[1], rights);
    if (!s.ok()) return Fail(s);
    auto now = directory::ShowAccount(*pool, a[0]);
    directory::Rights held;
    if (now.ok()) {
      for (const auto& g : now->granted_to_others) {
        if (g.address == absl::AsciiStrToLower(a[1])) held = g.rights;
      }
    }
    std::string text =
        absl::StrFormat("%s on %s: %s", a[1], a[0], held.any() ? RightsText(held) : "no rights");
    return Done(cli, text,
                JsonObject()
                    .Add("shared", a[0])
                    .Add("user", a[1])
                    .AddRaw("rights", RightsJson(held))
                    .str());
  }
  if (verb == "show" && a.size() == 1) return UserShow(cli, *pool, a[0]);
  return Usage(kUsage, false);
}

// ---- resource ---------------------------------------------------------------------------

int Resource(Cli& cli) {
  static const char* kUsage =
      "Usage: kitectl resource add ADDRESS --kind room|vehicle|equipment [--name NAME] [--capacity "
      "N]\n"
      "           [--location TEXT] [--max-duration 4h] [--advance 30d] [--hours 08:00-18:00 "
      "[--days mon-fri]]\n"
      "           [--tz Africa/Nairobi] --auto-accept|--moderated [--delegate ADDRESS]\n"
      "           [--bookers all|ADDRESS,...]\n"
      "       kitectl resource show ADDRESS\n"
      "--moderated needs --delegate (who decides). --bookers takes users and lists (groups);\n"
      "the default is all local users. --days: mon-fri (default), all, or e.g. mon,wed,fri.\n";
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  std::string verb = a[0];
  a.erase(a.begin());
  if (verb == "add") {
    bool has_kind = false;
    std::string kind = TakeOption(a, "--kind", &has_kind);
    std::string name = TakeOption(a, "--name");
    std::string capacity = TakeOption(a, "--capacity");
    std::string location = TakeOption(a, "--location");
    std::string max_duration = TakeOption(a, "--max-duration");
    std::string advance = TakeOption(a, "--advance");
    std::string hours = TakeOption(a, "--hours");
    std::string days = TakeOption(a, "--days");
    std::string tz = TakeOption(a, "--tz");
    std::string delegate = TakeOption(a, "--delegate");
    bool has_bookers = false;
    std::string bookers = TakeOption(a, "--bookers", &has_bookers);
    bool auto_accept = TakeFlag(a, "--auto-accept");
    bool moderated = TakeFlag(a, "--moderated");
    if (Leftover(a)) return 2;
    if (a.size() != 1) return Usage(kUsage, false);
    if (!has_kind) return Fail("--kind room|vehicle|equipment is required", 2);
    if (auto_accept == moderated) return Fail("give one of --auto-accept or --moderated", 2);
    directory::ResourcePolicy p;
    auto k = directory::ParseResourceKind(kind);
    if (!k.ok()) return Fail(SV(k.status().message()), 2);
    p.kind = *k;
    if (!capacity.empty() && (!absl::SimpleAtoi(capacity, &p.capacity) || p.capacity <= 0)) {
      return Fail("--capacity: want a positive number", 2);
    }
    p.location = location;
    for (auto [text, out, flag] :
         {std::tuple{&max_duration, &p.max_duration_seconds, "--max-duration"},
          std::tuple{&advance, &p.advance_seconds, "--advance"}}) {
      if (text->empty()) continue;
      auto d = config::ParseDuration(*text);
      if (!d.ok() || d->count() <= 0)
        return Fail(std::string(flag) + ": want a duration such as 4h, 90m, 30d", 2);
      *out = d->count() / 1000;
    }
    if (!hours.empty()) {
      auto h = directory::ParseWorkingHours(hours, days);
      if (!h.ok()) return Fail(SV(h.status().message()), 2);
      p.hours = *h;
    } else if (!days.empty()) {
      return Fail("--days needs --hours", 2);
    }
    if (!tz.empty()) p.timezone = tz;
    p.auto_accept = auto_accept;
    p.delegate = delegate;
    if (has_bookers && bookers != "all") {
      p.bookers_all = false;
      for (absl::string_view b : absl::StrSplit(bookers, ',', absl::SkipWhitespace())) {
        p.bookers.emplace_back(absl::StripAsciiWhitespace(b));
      }
    }
    auto pool = OpenPool(cli.config);
    if (!pool) return 1;
    auto id = directory::CreateResource(*pool, a[0], name, p);
    if (!id.ok()) return Fail(id.status());
    return Done(cli, absl::StrFormat("resource %s (%s) added", a[0], kind),
                JsonObject().Add("resource", a[0]).Add("id", *id).str());
  }
  if (verb == "show" && a.size() == 1) {
    if (Leftover(a)) return 2;
    auto pool = OpenPool(cli.config);
    if (!pool) return 1;
    auto r = directory::ShowResource(*pool, a[0]);
    if (!r.ok()) return Fail(r.status());
    const auto& p = r->policy;
    std::string hours, days;
    if (p.hours) {
      hours = absl::StrFormat("%02d:%02d-%02d:%02d", p.hours->start_minute / 60,
                              p.hours->start_minute % 60, p.hours->end_minute / 60,
                              p.hours->end_minute % 60);
      const char* names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
      for (int i = 0; i < 7; ++i) {
        if (p.hours->days & (1 << i)) days += (days.empty() ? "" : ",") + std::string(names[i]);
      }
    }
    if (cli.json) {
      std::printf("%s\n",
                  JsonObject()
                      .Add("resource", r->account.address)
                      .Add("id", r->account.id)
                      .Add("name", r->account.display_name)
                      .Add("kind", directory::ResourceKindName(p.kind))
                      .Add("capacity", p.capacity)
                      .Add("location", p.location)
                      .Add("booking", p.auto_accept ? "auto-accept" : "moderated")
                      .Add("max_duration_seconds", p.max_duration_seconds)
                      .Add("advance_seconds", p.advance_seconds)
                      .Add("hours", hours)
                      .Add("days", days)
                      .Add("timezone", p.timezone)
                      .Add("delegate", p.delegate)
                      .AddRaw("bookers", p.bookers_all ? JsonString("all") : JsonStrings(p.bookers))
                      .str()
                      .c_str());
      return 0;
    }
    std::string bookers = "all";
    if (!p.bookers_all) {
      bookers.clear();
      for (const auto& b : p.bookers) bookers += (bookers.empty() ? "" : ", ") + b;
    }
    std::printf(
        "resource:     %s\nname:         %s\nkind:         %s\ncapacity:     %s\nlocation:     "
        "%s\nbooking:      %s\n"
        "max duration: %s\nadvance:      %s\nhours:        %s\ntime zone:    %s\ndelegate:     "
        "%s\nbookers:      %s\n",
        r->account.address.c_str(), r->account.display_name.c_str(),
        directory::ResourceKindName(p.kind), p.capacity ? std::to_string(p.capacity).c_str() : "-",
        p.location.c_str(), p.auto_accept ? "auto-accept" : "moderated",
        Duration(p.max_duration_seconds).c_str(), Duration(p.advance_seconds).c_str(),
        p.hours ? (hours + " " + days).c_str() : "always", p.timezone.c_str(),
        p.delegate.empty() ? "-" : p.delegate.c_str(), bookers.c_str());
    return 0;
  }
  return Usage(kUsage, false);
}

// ---- quota ------------------------------------------------------------------------------

int QuotaCmd(Cli& cli) {
  static const char* kUsage =
      "Usage: kitectl quota show ADDRESS\n"
      "       kitectl quota set ADDRESS SIZE     (e.g. 5G, 500M; 0 or unlimited = no limit)\n";
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  if (Leftover(a)) return 2;
  if (a[0] == "set" && a.size() == 3) {
    uint64_t bytes = 0;
    if (a[2] != "unlimited") {
      auto q = config::ParseSize(a[2]);
      if (!q.ok()) return Fail("size: " + std::string(q.status().message()), 2);
      bytes = *q;
    }
    auto pool = OpenPool(cli.config);
    if (!pool) return 1;
    if (auto s = directory::SetQuota(*pool, a[1], static_cast<int64_t>(bytes)); !s.ok())
      return Fail(s);
    return Ok(
        cli,
        "quota of " + a[1] + ": " + (bytes == 0 ? "unlimited" : Size(static_cast<int64_t>(bytes))),
        JsonObject().Add("address", a[1]).Add("quota_bytes", static_cast<int64_t>(bytes)));
  }
  if (a[0] == "show" && a.size() == 2) {
    auto pool = OpenPool(cli.config);
    if (!pool) return 1;
    auto q = directory::GetQuota(*pool, a[1]);
    if (!q.ok()) return Fail(q.status());
    std::string text =
        absl::StrFormat("%s: %s used of %s (%d messages)", q->address, Size(q->used_bytes),
                        q->limit_bytes == 0 ? "unlimited" : Size(q->limit_bytes), q->used_messages);
    if (q->limit_bytes > 0) {
      absl::StrAppendFormat(
          &text, ", %.1f%%",
          100.0 * static_cast<double>(q->used_bytes) / static_cast<double>(q->limit_bytes));
    }
    return Done(cli, text,
                JsonObject()
                    .Add("address", q->address)
                    .Add("quota_bytes", q->limit_bytes)
                    .Add("used_bytes", q->used_bytes)
                    .Add("used_messages", q->used_messages)
                    .str());
  }
  return Usage(kUsage, false);
}

}  // namespace

static const Registration kDomainCommand{"domain", Domain,
                                         "add | list | remove | catch-all hosted mail domains"};
static const Registration kUserCommand{
    "user", User, "add | list | show | passwd | disable | enable | remove accounts"};
static const Registration kAliasCommand{"alias", Alias,
                                        "add | remove | list aliases and catch-alls"};
static const Registration kListCommand{"list", ListCmd,
                                       "distribution lists: add | remove | member | sender | show"};
static const Registration kSharedCommand{"shared", Shared,
                                         "shared mailboxes: add | grant | revoke | show"};
static const Registration kResourceCommand{"resource", Resource,
                                           "bookable rooms, vehicles, equipment: add | show"};
static const Registration kQuotaCommand{"quota", QuotaCmd, "show | set an account's quota"};

}  // namespace kite::kitectl
