// kitectl db roles: a PostgreSQL role per daemon with only the grants it needs (the matrix is
// services/lib/store/roles.cc; docs/operations.md "Database roles and Redis users"). Runs as
// the owner of Kite's tables (global.postgres_url), which needs CREATEROLE here. Passwords
// come from a file or standard input, never from the command line, and are never printed.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kitectl/commands.h"
#include "lib/store/roles.h"

namespace kite::kitectl {
namespace {

constexpr char kUsage[] =
    "Usage: kitectl db roles [--prefix kite_] [--passwords-from FILE|-]\n"
    "  Creates or updates one PostgreSQL role per daemon (<prefix>auth, <prefix>mta, ...,\n"
    "  <prefix>freebusy) and grants each exactly what its SQL needs, after revoking everything\n"
    "  else (and what PUBLIC would give). Idempotent; run it as the owner of Kite's tables\n"
    "  (global.postgres_url) with CREATEROLE. kitectl migrate re-applies the grants later.\n"
    "  FILE (- = standard input) has lines \"<daemon> <password>\" (# comments and blank lines\n"
    "  ignored): each daemon named gets a LOGIN role with that password (set again when it\n"
    "  exists: rotation); the others get a NOLOGIN role when they have none.\n"
    "  Prints one line per role: what it may do now, in psql's \\dp letters (a INSERT,\n"
    "  r SELECT, w UPDATE, d DELETE; (n/N columns): only some columns; sequences: U USAGE).\n";

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string text;
  char buf[4096];
  size_t n;
  while (text.size() <= (1 << 20) && (n = std::fread(buf, 1, sizeof buf, f)) > 0)
    text.append(buf, n);
  bool failed = std::ferror(f) != 0;
  if (f != stdin) std::fclose(f);
  if (failed) return absl::DataLossError(absl::StrCat("cannot read ", path));
  if (text.size() > (1 << 20))
    return absl::InvalidArgumentError(absl::StrCat(path, " is larger than 1 MiB"));
  return text;
}

int Roles(Cli& cli) {
  bool prefix_given = false, file_given = false;
  std::string prefix = TakeOption(cli.args, "--prefix", &prefix_given);
  std::string file = TakeOption(cli.args, "--passwords-from", &file_given);
  if (!cli.args.empty()) return Usage(kUsage, false);
  store::RoleOptions options;
  options.create = true;
  if (prefix_given) options.prefix = prefix;
  if (file_given) {
    if (file.empty()) return Fail("--passwords-from needs a file (or - for standard input)", 2);
    auto text = ReadAll(file);
    if (!text.ok()) return Fail(text.status());
    auto passwords = store::ParseRolePasswords(*text);
    if (!passwords.ok())
      return Fail(
          absl::StrCat(file == "-" ? "standard input" : file, ": ", passwords.status().message()));
    options.passwords = std::move(*passwords);
  }
  auto pool = OpenPool(cli.config);
  if (!pool) return 1;
  auto reports = store::ApplyRoles(*pool, options);
  if (!reports.ok()) return Fail(absl::StrCat("db roles: ", reports.status().message()));
  std::vector<std::string> items;
  for (const store::RoleReport& r : *reports) {
    if (!cli.json) {
      std::printf("%s\n", store::DescribeRole(r).c_str());
      continue;
    }
    JsonObject tables;
    for (const auto& [table, privileges] : r.tables) tables.Add(table, privileges);
    std::vector<std::string> sequences, functions, warnings;
    for (const std::string& s : r.sequences) sequences.push_back(JsonString(s));
    for (const std::string& f : r.functions) functions.push_back(JsonString(f));
    for (const std::string& w : r.warnings) warnings.push_back(JsonString(w));
    items.push_back(JsonObject()
                        .Add("daemon", r.daemon)
                        .Add("role", r.role)
                        .Add("login", r.login)
                        .Add("created", r.created)
                        .Add("password_set", r.password_set)
                        .AddRaw("warnings", JsonArray(warnings))
                        .AddRaw("tables", tables.str())
                        .AddRaw("sequences", JsonArray(sequences))
                        .AddRaw("functions", JsonArray(functions))
                        .str());
  }
  if (cli.json) std::printf("%s\n", JsonArray(items).c_str());
  return 0;
}

int Db(Cli& cli) {
  auto& a = cli.args;
  if (a.empty()) return Usage(kUsage, cli.help);
  std::string verb = a[0];
  a.erase(a.begin());
  if (cli.help) return Usage(kUsage, true);
  if (verb == "roles") return Roles(cli);
  return Fail(absl::StrCat("db: unknown command '", verb, "' (try kitectl db --help)"), 2);
}

}  // namespace

static const Registration kDbCommand{"db", Db, "database roles of the daemons (least privilege)"};

}  // namespace kite::kitectl
