// Kite configuration: one file for every daemon, a section per daemon, every key
// overridable by an environment variable.
//
// The file is YAML with one level of sections and scalar (or list) values:
//
//   global:
//     hostname: mail.example.test
//   mta:
//     smtp_listen: 127.0.0.1:2525
//
// The environment variable KITE_<SECTION>_<KEY> (upper case) overrides a key, so the same
// image runs in docker-compose and Helm: KITE_MTA_SMTP_LISTEN=0.0.0.0:25.
//
// Every key is declared in the schema (schema.cc) with a type, a default that works for the
// local launcher, and a help text. Loading validates everything and names the bad key and
// why: an unknown key (with a suggestion), a value of the wrong type, a failed check.
// Untrusted input: none (operator files), but errors must be clear.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kite::config {

enum class Type { kString, kSecret, kInt, kBool, kDuration, kSize, kHostPort, kList };

struct KeySpec {
  std::string section;
  std::string key;
  Type type = Type::kString;
  std::string default_value;
  std::string help;
  // Extra check on the (already type-checked) value; returns the reason when it fails.
  std::function<absl::Status(std::string_view)> check;
};

class Schema {
 public:
  Schema& Add(KeySpec spec);
  const KeySpec* Find(std::string_view section, std::string_view key) const;
  const std::vector<KeySpec>& keys() const { return keys_; }
  // The closest known "section.key" to a misspelt one, or "" when nothing is close.
  std::string Suggest(std::string_view section, std::string_view key) const;

 private:
  std::vector<KeySpec> keys_;
};

// The schema of every Kite daemon; each daemon validates the whole file so a typo anywhere
// is caught by the first daemon that starts.
const Schema& KiteSchema();

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;
};

absl::StatusOr<HostPort> ParseHostPort(std::string_view text);
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);  // 30s, 5m, 250ms, 2h, 1d
absl::StatusOr<uint64_t> ParseSize(std::string_view text);  // 1024, 64k, 50M, 2G (binary units)

using Environment = std::map<std::string, std::string>;
Environment ProcessEnvironment();

class Config {
 public:
  // Loads `path` (empty: defaults and environment only) against `schema`.
  static absl::StatusOr<Config> Load(const Schema& schema, std::string_view path,
                                     const Environment& env);
  // Parses YAML text directly (tests).
  static absl::StatusOr<Config> FromText(const Schema& schema, std::string_view yaml,
                                         const Environment& env);

  // Accessors for keys declared in the schema; asking for an undeclared key is a bug.
  std::string String(std::string_view section, std::string_view key) const;
  int64_t Int(std::string_view section, std::string_view key) const;
  bool Bool(std::string_view section, std::string_view key) const;
  std::chrono::milliseconds Duration(std::string_view section, std::string_view key) const;
  uint64_t Size(std::string_view section, std::string_view key) const;
  HostPort Address(std::string_view section, std::string_view key) const;
  std::vector<std::string> List(std::string_view section, std::string_view key) const;

  // Where a value came from: "default", "file", or the environment variable's name.
  std::string Origin(std::string_view section, std::string_view key) const;
  // The effective configuration of `section` (or all when empty) as YAML, secrets redacted.
  std::string Dump(std::string_view section = "") const;

  static std::string EnvName(std::string_view section, std::string_view key);

 private:
  struct Value {
    std::string text;
    std::string origin;
  };
  const Value& Get(std::string_view section, std::string_view key) const;
  const Schema* schema_ = nullptr;
  std::map<std::string, Value, std::less<>> values_;  // "section.key"
};

}  // namespace kite::config
