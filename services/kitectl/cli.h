// kitectl's shared plumbing: the parsed command line, configuration, one-line errors, and
// JSON output for scripts. Each group of commands lives in its own cmd_*.cc file and is
// listed in main.cc's table.
//
// Conventions every command keeps: exit 0 on success; 1 on a failure with one line
// "kitectl: <reason>" on stderr; 2 on a usage error; `--help` after any command prints its
// usage; `--json` prints one JSON document on stdout instead of text.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/config/config.h"
#include "lib/password/password.h"
#include "lib/store/pool.h"

namespace kite::kitectl {

struct Cli {
  const config::Config& config;
  std::vector<std::string> args;  // after the command name, with --json/--config removed
  bool json = false;
  bool help = false;  // --help was given after the command
};

// Prints "kitectl: message" and returns `code`.
int Fail(std::string_view message, int code = 1);
int Fail(const absl::Status& status);
// Prints the usage text of a command on stdout (for --help, exit 0) or stderr (misuse, 2).
int Usage(const char* text, bool asked);

// Removes "--flag VALUE" from args; returns VALUE ("" when absent; `present` tells).
std::string TakeOption(std::vector<std::string>& args, std::string_view flag, bool* present = nullptr);
bool TakeFlag(std::vector<std::string>& args, std::string_view flag);

// --password PASS, --password-stdin, or a prompt on a terminal. Refuses empty and weak
// (< 8 characters) passwords.
absl::StatusOr<std::string> ReadPassword(std::vector<std::string>& args);

std::unique_ptr<store::Pool> OpenPool(const config::Config& config);
password::Argon2Params Argon2(const config::Config& config);

// Minimal JSON writing for --json output.
std::string JsonString(std::string_view s);
class JsonObject {
 public:
  JsonObject& Add(std::string_view key, std::string_view value);
  JsonObject& Add(std::string_view key, const char* value) { return Add(key, std::string_view(value)); }
  JsonObject& Add(std::string_view key, const std::string& value) { return Add(key, std::string_view(value)); }
  JsonObject& Add(std::string_view key, int64_t value);
  JsonObject& Add(std::string_view key, int value) { return Add(key, static_cast<int64_t>(value)); }
  JsonObject& Add(std::string_view key, bool value);
  JsonObject& AddRaw(std::string_view key, std::string_view json);  // an already-encoded value
  std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};
std::string JsonArray(const std::vector<std::string>& encoded_items);

}  // namespace kite::kitectl
