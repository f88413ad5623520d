// kitectl — the operator's tool. Reads the same configuration as the daemons (--config FILE,
// $KITE_CONFIG, KITE_* variables) and talks to PostgreSQL, Redis and the daemons directly.
// Every command takes --help and --json; see cli.h for the conventions.
#include <cstdlib>
#include <cstring>

#include <algorithm>

#include "kitectl/commands.h"

namespace {

int PrintUsage(FILE* out) {
  std::fprintf(out, "Usage: kitectl [--config FILE] [--json] COMMAND ... [--help]\n\nCommands:\n");
  for (const auto& e : kite::kitectl::Registry()) std::fprintf(out, "  %-14s %s\n", e.name, e.summary);
  std::fprintf(out,
               "\nThe configuration is the daemons' own: --config FILE, else $KITE_CONFIG, else defaults;\n"
               "KITE_<SECTION>_<KEY> variables override it. `kitectl COMMAND --help` for details.\n");
  return out == stdout ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string config_path;
  if (const char* env = std::getenv("KITE_CONFIG")) config_path = env;
  bool explicit_config = false;
  std::string from_flag = kite::kitectl::TakeOption(args, "--config", &explicit_config);
  if (explicit_config) config_path = from_flag;
  bool json = kite::kitectl::TakeFlag(args, "--json");
  std::sort(kite::kitectl::Registry().begin(), kite::kitectl::Registry().end(),
            [](const auto& a, const auto& b) { return std::string_view(a.name) < std::string_view(b.name); });
  if (args.empty()) return PrintUsage(stderr);
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") return PrintUsage(stdout);
  const kite::kitectl::CommandEntry* entry = nullptr;
  for (const auto& e : kite::kitectl::Registry()) {
    if (args[0] == e.name) entry = &e;
  }
  if (entry == nullptr) return kite::kitectl::Fail("unknown command '" + args[0] + "' (try kitectl --help)", 2);
  args.erase(args.begin());
  bool help = kite::kitectl::TakeFlag(args, "--help") || kite::kitectl::TakeFlag(args, "-h");
  auto config = kite::config::Config::Load(kite::config::KiteSchema(), config_path, kite::config::ProcessEnvironment());
  if (!config.ok()) return kite::kitectl::Fail("configuration error: " + std::string(config.status().message()), 2);
  kite::kitectl::Cli cli{*config, args, json, help};
  return entry->run(cli);
}
