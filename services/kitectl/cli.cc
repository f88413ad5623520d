#include "kitectl/cli.h"
#include "kitectl/commands.h"

#include <unistd.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "lib/base/strings.h"

namespace kite::kitectl {

std::vector<CommandEntry>& Registry() {
  static auto* registry = new std::vector<CommandEntry>();
  return *registry;
}

int Fail(std::string_view message, int code) {
  std::fprintf(stderr, "kitectl: %.*s\n", static_cast<int>(message.size()), message.data());
  return code;
}
int Fail(const absl::Status& status) { return Fail(SV(status.message())); }

int Usage(const char* text, bool asked) {
  std::fputs(text, asked ? stdout : stderr);
  return asked ? 0 : 2;
}

std::string TakeOption(std::vector<std::string>& args, std::string_view flag, bool* present) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag) {
      if (present) *present = true;
      std::string v = i + 1 < args.size() ? args[i + 1] : "";
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(std::min(args.size(), i + 2)));
      return v;
    }
  }
  return "";
}

bool TakeFlag(std::vector<std::string>& args, std::string_view flag) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag) {
      args.erase(args.begin() + static_cast<long>(i));
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::string> ReadPassword(std::vector<std::string>& args) {
  bool given = false;
  std::string pass = TakeOption(args, "--password", &given);
  if (TakeFlag(args, "--password-stdin")) {
    if (!std::getline(std::cin, pass)) return absl::InvalidArgumentError("no password on standard input");
    if (!pass.empty() && pass.back() == '\r') pass.pop_back();
  } else if (!given) {
    if (!isatty(0)) return absl::InvalidArgumentError("give --password-stdin or --password");
    char* p = getpass("Password: ");
    pass = p ? p : "";
  }
  if (pass.empty()) return absl::InvalidArgumentError("the password is empty");
  if (pass.size() < 8) return absl::InvalidArgumentError("the password is too weak: use at least 8 characters");
  if (pass.size() > password::kMaxPasswordLength) return absl::InvalidArgumentError("the password is too long");
  return pass;
}

std::unique_ptr<store::Pool> OpenPool(const config::Config& c) {
  auto pool = store::Pool::Create({.url = c.String("global", "postgres_url"), .pool_size = 2});
  if (!pool.ok()) {
    Fail(pool.status());
    return nullptr;
  }
  return std::move(*pool);
}

password::Argon2Params Argon2(const config::Config& c) {
  return {static_cast<uint32_t>(c.Int("auth", "argon2_memory_kib")), static_cast<uint32_t>(c.Int("auth", "argon2_iterations")),
          static_cast<uint32_t>(c.Int("auth", "argon2_parallelism"))};
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

JsonObject& JsonObject::AddRaw(std::string_view key, std::string_view json) {
  absl::StrAppend(&body_, body_.empty() ? "" : ",", JsonString(key), ":", AV(json));
  return *this;
}
JsonObject& JsonObject::Add(std::string_view key, std::string_view value) { return AddRaw(key, JsonString(value)); }
JsonObject& JsonObject::Add(std::string_view key, int64_t value) { return AddRaw(key, absl::StrCat(value)); }
JsonObject& JsonObject::Add(std::string_view key, bool value) { return AddRaw(key, value ? "true" : "false"); }

std::string JsonArray(const std::vector<std::string>& items) { return absl::StrCat("[", absl::StrJoin(items, ","), "]"); }

}  // namespace kite::kitectl
