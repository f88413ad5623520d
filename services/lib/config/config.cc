#include "lib/config/config.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/base/strings.h"
#include "yaml-cpp/yaml.h"

extern char** environ;

namespace kite::config {
namespace {

// Edit distance for "did you mean" suggestions; keys are short so the O(n*m) table is fine.
size_t Distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string Key(std::string_view section, std::string_view key) {
  return absl::StrCat(AV(section), ".", AV(key));
}

absl::Status CheckType(const KeySpec& spec, std::string_view text) {
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec.section, ".", spec.key, ": ", why, " (got \"", AV(text), "\")"));
  };
  switch (spec.type) {
    case Type::kString:
    case Type::kSecret:
    case Type::kList:
      break;
    case Type::kInt: {
      int64_t v;
      if (!absl::SimpleAtoi(AV(text), &v)) return fail("expected a whole number");
      break;
    }
    case Type::kBool: {
      bool v;
      if (!absl::SimpleAtob(AV(text), &v)) return fail("expected true or false");
      break;
    }
    case Type::kDuration:
      if (auto d = ParseDuration(text); !d.ok()) return fail(d.status().message());
      break;
    case Type::kSize:
      if (auto s = ParseSize(text); !s.ok()) return fail(s.status().message());
      break;
    case Type::kHostPort:
      if (auto h = ParseHostPort(text); !h.ok()) return fail(h.status().message());
      break;
  }
  if (spec.check) {
    if (absl::Status s = spec.check(text); !s.ok()) return fail(s.message());
  }
  return absl::OkStatus();
}

std::string ScalarText(const YAML::Node& node) {
  if (node.IsSequence()) {
    std::vector<std::string> items;
    for (const auto& item : node) items.push_back(item.as<std::string>());
    return absl::StrJoin(items, ",");
  }
  if (node.IsNull()) return "";
  return node.as<std::string>();
}

}  // namespace

Schema& Schema::Add(KeySpec spec) {
  keys_.push_back(std::move(spec));
  return *this;
}

const KeySpec* Schema::Find(std::string_view section, std::string_view key) const {
  for (const auto& spec : keys_) {
    if (spec.section == section && spec.key == key) return &spec;
  }
  return nullptr;
}

std::string Schema::Suggest(std::string_view section, std::string_view key) const {
  std::string wanted = Key(section, key);
  std::string best;
  size_t best_distance = 4;  // farther than this is a different word, not a typo
  for (const auto& spec : keys_) {
    std::string candidate = Key(spec.section, spec.key);
    size_t d = Distance(wanted, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view text) {
  HostPort hp;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError("expected [ipv6]:port");
    }
    hp.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return absl::InvalidArgumentError("expected host:port");
    hp.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  int port;
  if (hp.host.empty()) return absl::InvalidArgumentError("expected host:port, the host is empty");
  if (!absl::SimpleAtoi(AV(port_text), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError("the port must be a number from 0 to 65535");
  }
  hp.port = static_cast<uint16_t>(port);
  return hp;
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  int64_t n;
  if (i == 0 || !absl::SimpleAtoi(AV(text.substr(0, i)), &n)) {
    return absl::InvalidArgumentError("expected a duration such as 250ms, 30s, 5m, 2h or 1d");
  }
  std::string_view unit = text.substr(i);
  int64_t ms;
  if (unit == "ms") {
    ms = n;
  } else if (unit == "s" || unit.empty()) {
    ms = n * 1000;
  } else if (unit == "m") {
    ms = n * 60'000;
  } else if (unit == "h") {
    ms = n * 3'600'000;
  } else if (unit == "d") {
    ms = n * 86'400'000;
  } else {
    return absl::InvalidArgumentError("unknown duration unit (use ms, s, m, h or d)");
  }
  return std::chrono::milliseconds(ms);
}

absl::StatusOr<uint64_t> ParseSize(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  uint64_t n;
  if (i == 0 || i > 15 || !absl::SimpleAtoi(AV(text.substr(0, i)), &n)) {
    return absl::InvalidArgumentError("expected a size such as 1024, 64k, 50M or 2G");
  }
  std::string unit = absl::AsciiStrToLower(AV(text.substr(i)));
  if (unit.empty() || unit == "b") return n;
  if (unit == "k" || unit == "kb" || unit == "kib") return n << 10;
  if (unit == "m" || unit == "mb" || unit == "mib") return n << 20;
  if (unit == "g" || unit == "gb" || unit == "gib") return n << 30;
  return absl::InvalidArgumentError("unknown size unit (use k, M or G)");
}

Environment ProcessEnvironment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    if (kv.substr(0, 5) != "KITE_") continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

std::string Config::EnvName(std::string_view section, std::string_view key) {
  return absl::AsciiStrToUpper(absl::StrCat("KITE_", AV(section), "_", AV(key)));
}

absl::StatusOr<Config> Config::Load(const Schema& schema, std::string_view path,
                                    const Environment& env) {
  std::string text;
  if (!path.empty()) {
    std::ifstream in{std::string(path)};
    if (!in) {
      return absl::NotFoundError(absl::StrCat("cannot read configuration file ", AV(path)));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  auto config = FromText(schema, text, env);
  if (!config.ok() && !path.empty()) {
    return absl::Status(config.status().code(), absl::StrCat(AV(path), ": ", config.status().message()));
  }
  return config;
}

absl::StatusOr<Config> Config::FromText(const Schema& schema, std::string_view yaml,
                                        const Environment& env) {
  Config config;
  config.schema_ = &schema;
  for (const auto& spec : schema.keys()) {
    config.values_[Key(spec.section, spec.key)] = Value{spec.default_value, "default"};
  }

  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("line ", e.mark.line + 1, ": ", e.msg));
  }
  if (root && !root.IsNull()) {
    if (!root.IsMap()) {
      return absl::InvalidArgumentError("expected sections (global:, mta:, imap:, ...) at the top level");
    }
    for (const auto& section : root) {
      std::string name = section.first.as<std::string>();
      if (section.second.IsNull()) continue;
      if (!section.second.IsMap()) {
        return absl::InvalidArgumentError(absl::StrCat("line ", section.first.Mark().line + 1, ": '",
                                                       name, "' must be a section of key: value lines"));
      }
      for (const auto& kv : section.second) {
        std::string key = kv.first.as<std::string>();
        const KeySpec* spec = schema.Find(name, key);
        if (spec == nullptr) {
          std::string hint = schema.Suggest(name, key);
          return absl::InvalidArgumentError(absl::StrCat(
              "line ", kv.first.Mark().line + 1, ": unknown key '", name, ".", key, "'",
              hint.empty() ? "" : absl::StrCat(" (did you mean '", hint, "'?)")));
        }
        if (kv.second.IsMap()) {
          return absl::InvalidArgumentError(absl::StrCat(name, ".", key, ": expected a value, not a section"));
        }
        config.values_[Key(name, key)] = Value{ScalarText(kv.second), "file"};
      }
    }
  }
  for (const auto& spec : schema.keys()) {
    std::string var = EnvName(spec.section, spec.key);
    if (auto it = env.find(var); it != env.end()) {
      config.values_[Key(spec.section, spec.key)] = Value{it->second, var};
    }
  }
  for (const auto& [var, value] : env) {
    // A KITE_ variable that names no key is almost always a typo worth stopping for.
    bool known = false;
    for (const auto& spec : schema.keys()) {
      if (EnvName(spec.section, spec.key) == var) known = true;
    }
    static constexpr std::string_view kNotKeys[] = {"KITE_CONFIG", "KITE_TEST_ENV_DIR", "KITE_SOURCE_DIR", "KITE_BIN_DIR", "KITE_DATA_DIR"};
    if (!known && std::find(std::begin(kNotKeys), std::end(kNotKeys), var) == std::end(kNotKeys)) {
      return absl::InvalidArgumentError(absl::StrCat("environment variable ", var, " names no configuration key"));
    }
  }
  for (const auto& spec : schema.keys()) {
    const Value& v = config.values_[Key(spec.section, spec.key)];
    if (absl::Status s = CheckType(spec, v.text); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(s.message(), v.origin == "default" ? "" : absl::StrCat(" from ", v.origin)));
    }
  }
  return config;
}

const Config::Value& Config::Get(std::string_view section, std::string_view key) const {
  auto it = values_.find(Key(section, key));
  if (it == values_.end()) {
    std::fprintf(stderr, "kite: internal error: configuration key %s.%s is not in the schema\n",
                 std::string(section).c_str(), std::string(key).c_str());
    std::abort();
  }
  return it->second;
}

std::string Config::String(std::string_view section, std::string_view key) const {
  return Get(section, key).text;
}
int64_t Config::Int(std::string_view section, std::string_view key) const {
  int64_t v = 0;
  (void)absl::SimpleAtoi(Get(section, key).text, &v);
  return v;
}
bool Config::Bool(std::string_view section, std::string_view key) const {
  bool v = false;
  (void)absl::SimpleAtob(Get(section, key).text, &v);
  return v;
}
std::chrono::milliseconds Config::Duration(std::string_view section, std::string_view key) const {
  return ParseDuration(Get(section, key).text).value_or(std::chrono::milliseconds(0));
}
uint64_t Config::Size(std::string_view section, std::string_view key) const {
  return ParseSize(Get(section, key).text).value_or(0);
}
HostPort Config::Address(std::string_view section, std::string_view key) const {
  return ParseHostPort(Get(section, key).text).value_or(HostPort{});
}
std::vector<std::string> Config::List(std::string_view section, std::string_view key) const {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(Get(section, key).text, ',', absl::SkipWhitespace())) {
    out.emplace_back(std::string(absl::StripAsciiWhitespace(part)));
  }
  return out;
}
std::string Config::Origin(std::string_view section, std::string_view key) const {
  return Get(section, key).origin;
}

std::string Config::Dump(std::string_view only) const {
  std::string out;
  std::string current;
  for (const auto& spec : schema_->keys()) {
    if (!only.empty() && spec.section != only && spec.section != "global") continue;
    if (spec.section != current) {
      current = spec.section;
      absl::StrAppend(&out, current, ":\n");
    }
    const Value& v = Get(spec.section, spec.key);
    std::string shown = v.text;
    if (spec.type == Type::kSecret && !shown.empty()) shown = "<redacted>";
    absl::StrAppend(&out, "  ", spec.key, ": \"", shown, "\"", v.origin == "default" ? "" : absl::StrCat("  # ", v.origin), "\n");
  }
  return out;
}

}  // namespace kite::config
