// kitectl sieve: users' Sieve scripts (RFC 5228), the same storage ManageSieve (RFC 5804,
// kite-delivery's port 4190) manages. A script that does not compile is refused with its line
// and reason and nothing is stored; the active script is what kite-delivery runs.
#include <cstdio>
#include <string>
#include <vector>

#include "kitectl/commands.h"
#include "lib/directory/directory.h"
#include "lib/sievestore/sievestore.h"

namespace kite::kitectl {
namespace {

constexpr char kUsage[] =
    "Usage: kitectl sieve put ADDRESS NAME FILE|- [--activate]   (compiled first: a bad script is "
    "refused)\n"
    "       kitectl sieve get ADDRESS NAME\n"
    "       kitectl sieve list ADDRESS\n"
    "       kitectl sieve activate ADDRESS NAME\n"
    "       kitectl sieve deactivate ADDRESS\n"
    "       kitectl sieve rename ADDRESS OLD NEW\n"
    "       kitectl sieve remove ADDRESS NAME                     (not the active script)\n"
    "       kitectl sieve check FILE|-                            (compile only)\n"
    "An account has at most one active script, which kite-delivery runs for each message.\n"
    "Users manage the same scripts with a ManageSieve client (port 4190, STARTTLS).\n";

// Reads FILE or standard input ("-"), at most `max` + 1 octets (the store refuses more).
absl::StatusOr<std::string> ReadScript(const std::string& path, size_t max) {
  FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!f) return absl::NotFoundError("cannot open " + path);
  std::string text;
  char buf[8192];
  size_t n;
  while (text.size() <= max && (n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  bool failed = std::ferror(f) != 0;
  if (f != stdin) std::fclose(f);
  if (failed) return absl::DataLossError("cannot read " + path);
  return text;
}

sievestore::Limits StoreLimits(const config::Config& c) {
  sievestore::Limits limits;
  limits.max_scripts = static_cast<size_t>(c.Int("delivery", "sieve_max_scripts"));
  return limits;
}

// A failed script operation: the compile error, or what the store said.
int ScriptFail(const std::string& name, const absl::Status& s) {
  if (absl::IsInvalidArgument(s) && std::string(s.message()).rfind("line ", 0) == 0) {
    return Fail("script " + name + " refused: " + std::string(s.message()));
  }
  return Fail(s);
}

int Sieve(Cli& cli) {
  auto& a = cli.args;
  if (cli.help || a.empty()) return Usage(kUsage, cli.help);
  std::string verb = a[0];
  a.erase(a.begin());
  bool activate = TakeFlag(a, "--activate");
  for (const auto& s : a) {
    if (s.size() > 1 && s[0] == '-' && s[1] == '-') return Fail("unknown option " + s, 2);
  }
  if (activate && verb != "put") return Usage(kUsage, false);
  sievestore::Limits limits = StoreLimits(cli.config);

  if (verb == "check") {
    if (a.size() != 1) return Usage(kUsage, false);
    auto text = ReadScript(a[0], limits.sieve.max_script_size);
    if (!text.ok()) return Fail(text.status());
    if (auto s = sievestore::Check(*text, limits); !s.ok())
      return ScriptFail(a[0] == "-" ? "(stdin)" : a[0], s);
    if (cli.json) {
      std::printf("%s\n", JsonObject().Add("ok", true).str().c_str());
    } else {
      std::printf("script is valid\n");
    }
    return 0;
  }

  size_t want = verb == "put"                            ? 3
                : verb == "rename"                       ? 3
                : verb == "list" || verb == "deactivate" ? 1
                                                         : 2;
  bool known = verb == "put" || verb == "get" || verb == "list" || verb == "activate" ||
               verb == "deactivate" || verb == "rename" || verb == "remove";
  if (!known || a.size() != want) return Usage(kUsage, false);

  std::string text;
  if (verb == "put") {
    auto read = ReadScript(a[2], limits.sieve.max_script_size);
    if (!read.ok()) return Fail(read.status());
    text = std::move(*read);
  }
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  auto account = directory::FindAccount(*pool, a[0]);
  if (!account.ok()) return Fail(account.status());
  if (!*account) return Fail("no such user: " + a[0]);
  const int64_t id = (*account)->id;
  const std::string& address = (*account)->address;

  if (verb == "put") {
    if (auto s = sievestore::Put(*pool, id, a[1], text, limits); !s.ok())
      return ScriptFail(a[1], s);
    if (activate) {
      if (auto s = sievestore::SetActive(*pool, id, a[1]); !s.ok()) return Fail(s);
    }
    if (cli.json) {
      std::printf("%s\n", JsonObject()
                              .Add("address", address)
                              .Add("name", a[1])
                              .Add("active", activate)
                              .Add("ok", true)
                              .str()
                              .c_str());
    } else {
      std::printf("script %s of %s stored%s\n", a[1].c_str(), address.c_str(),
                  activate ? " and activated" : "");
    }
    return 0;
  }
  if (verb == "get") {
    auto script = sievestore::Get(*pool, id, a[1]);
    if (!script.ok()) return Fail(script.status());
    if (cli.json) {
      std::printf("%s\n", JsonObject()
                              .Add("address", address)
                              .Add("name", a[1])
                              .Add("script", *script)
                              .str()
                              .c_str());
    } else {
      std::fwrite(script->data(), 1, script->size(), stdout);
    }
    return 0;
  }
  if (verb == "list") {
    auto list = sievestore::List(*pool, id);
    if (!list.ok()) return Fail(list.status());
    std::vector<std::string> items;
    for (const auto& s : *list) {
      if (cli.json) {
        items.push_back(
            JsonObject().Add("name", s.name).Add("active", s.active).Add("size", s.size).str());
      } else {
        std::printf("%-40s %8lld B%s\n", s.name.c_str(), static_cast<long long>(s.size),
                    s.active ? "  ACTIVE" : "");
      }
    }
    if (cli.json) std::printf("%s\n", JsonArray(items).c_str());
    return 0;
  }
  absl::Status s;
  std::string done;
  if (verb == "activate") {
    s = sievestore::SetActive(*pool, id, a[1]);
    done = "script " + a[1] + " of " + address + " is active";
  } else if (verb == "deactivate") {
    s = sievestore::SetActive(*pool, id, "");
    done = "no script of " + address + " is active";
  } else if (verb == "rename") {
    s = sievestore::Rename(*pool, id, a[1], a[2]);
    done = "script " + a[1] + " of " + address + " renamed to " + a[2];
  } else {  // remove
    s = sievestore::Delete(*pool, id, a[1]);
    done = "script " + a[1] + " of " + address + " removed";
  }
  if (!s.ok()) return Fail(s);
  if (cli.json) {
    std::printf("%s\n", JsonObject().Add("address", address).Add("ok", true).str().c_str());
  } else {
    std::printf("%s\n", done.c_str());
  }
  return 0;
}

}  // namespace

static const Registration kSieveCommand{
    "sieve", Sieve, "put | get | list | activate | remove users' Sieve scripts"};

}  // namespace kite::kitectl
