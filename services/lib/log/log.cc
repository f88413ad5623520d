#include "lib/log/log.h"

#include <chrono>
#include <ctime>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/base/strings.h"

namespace kite::log {
namespace {

struct State {
  std::mutex mu;
  Options options;
};

State& GlobalState() {
  static State* state = new State();
  return *state;
}

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

}  // namespace

void Init(const Options& options) {
  State& s = GlobalState();
  std::lock_guard lock(s.mu);
  s.options = options;
}

Level ParseLevel(std::string_view name) {
  if (name == "debug") return Level::kDebug;
  if (name == "warn") return Level::kWarn;
  if (name == "error") return Level::kError;
  return Level::kInfo;
}

bool Enabled(Level level) {
  return static_cast<int>(level) >= static_cast<int>(GlobalState().options.level);
}

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);  // UTF-8 passes through; invalid bytes are still inert
        }
    }
  }
  return out;
}

std::string Truncate(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  return absl::StrCat(AV(text.substr(0, max)), "...(", text.size(), " bytes)");
}

Event::Event(Level level, std::string_view event) : enabled_(Enabled(level)) {
  if (!enabled_) return;
  const Options& o = GlobalState().options;
  if (o.json) {
    line_ = absl::StrCat("{\"ts\":\"", Timestamp(), "\",\"level\":\"", LevelName(level),
                         "\",\"daemon\":\"", Escape(o.daemon), "\",\"event\":\"", Escape(event), "\"");
  } else {
    line_ = absl::StrCat(Timestamp(), " ", LevelName(level), " ", o.daemon, " ", Escape(event));
  }
}

void Event::Raw(std::string_view key, std::string_view rendered) {
  if (!enabled_) return;
  if (GlobalState().options.json) {
    absl::StrAppend(&line_, ",\"", Escape(key), "\":", AV(rendered));
  } else {
    absl::StrAppend(&line_, " ", Escape(key), "=", AV(rendered));
  }
}

Event& Event::Kv(std::string_view key, std::string_view value) {
  if (enabled_) Raw(key, absl::StrCat("\"", Escape(value), "\""));
  return *this;
}
Event& Event::Kv(std::string_view key, int64_t value) {
  if (enabled_) Raw(key, absl::StrCat(value));
  return *this;
}
Event& Event::Kv(std::string_view key, uint64_t value) {
  if (enabled_) Raw(key, absl::StrCat(value));
  return *this;
}
Event& Event::Kv(std::string_view key, bool value) {
  if (enabled_) Raw(key, value ? "true" : "false");
  return *this;
}
Event& Event::Kv(std::string_view key, double value) {
  if (enabled_) Raw(key, absl::StrCat(value));
  return *this;
}

Event::~Event() {
  if (!enabled_) return;
  State& s = GlobalState();
  if (s.options.json) line_ += "}";
  line_ += "\n";
  std::lock_guard lock(s.mu);
  std::fwrite(line_.data(), 1, line_.size(), s.options.out);
  std::fflush(s.options.out);
}

}  // namespace kite::log
