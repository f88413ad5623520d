// The kitectl command registry. Each cmd_*.cc file registers its command groups with a
// static Registration, so adding a group touches only its own file:
//
//   static const Registration kDomain{"domain", Domain, "add | list | remove hosted domains"};
#pragma once

#include <vector>

#include "kitectl/cli.h"

namespace kite::kitectl {

struct CommandEntry {
  const char* name;
  int (*run)(Cli&);
  const char* summary;
};

std::vector<CommandEntry>& Registry();

struct Registration {
  Registration(const char* name, int (*run)(Cli&), const char* summary) { Registry().push_back({name, run, summary}); }
};

}  // namespace kite::kitectl
