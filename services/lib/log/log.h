// Structured logging: one line per event, JSON (default) or key=value text.
//
//   kite::log::Info("smtp.accepted").Kv("spool_id", id).Kv("client", addr);
//
// emits, when the temporary goes out of scope,
//   {"ts":"2026-11-23T10:00:00.123Z","level":"info","daemon":"kite-mta","event":"smtp.accepted",...}
//
// Client-supplied text must go through Kv (which escapes it) and never be the event name:
// a client cannot forge a log line. Passwords and secrets are never passed to the logger.
// Thread-safe: each line is formatted then written with one call under a mutex.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace kite::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct Options {
  std::string daemon = "kite";
  Level level = Level::kInfo;
  bool json = true;
  FILE* out = stderr;
};

// Called once by the daemon skeleton; before it, lines go to stderr at level info.
void Init(const Options& options);
Level ParseLevel(std::string_view name);  // unknown names give kInfo
bool Enabled(Level level);

class Event {
 public:
  Event(Level level, std::string_view event);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  Event& Kv(std::string_view key, std::string_view value);
  Event& Kv(std::string_view key, const char* value) { return Kv(key, std::string_view(value)); }
  Event& Kv(std::string_view key, const std::string& value) { return Kv(key, std::string_view(value)); }
  Event& Kv(std::string_view key, int64_t value);
  Event& Kv(std::string_view key, uint64_t value);
  Event& Kv(std::string_view key, int value) { return Kv(key, static_cast<int64_t>(value)); }
  Event& Kv(std::string_view key, unsigned value) { return Kv(key, static_cast<uint64_t>(value)); }
  Event& Kv(std::string_view key, long long value) { return Kv(key, static_cast<int64_t>(value)); }
  Event& Kv(std::string_view key, unsigned long long value) { return Kv(key, static_cast<uint64_t>(value)); }
  Event& Kv(std::string_view key, absl::string_view value) { return Kv(key, std::string_view(value.data(), value.size())); }
  Event& Kv(std::string_view key, bool value);
  Event& Kv(std::string_view key, double value);

 private:
  void Raw(std::string_view key, std::string_view rendered);
  bool enabled_;
  std::string line_;
};

inline Event Debug(std::string_view event) { return Event(Level::kDebug, event); }
inline Event Info(std::string_view event) { return Event(Level::kInfo, event); }
inline Event Warn(std::string_view event) { return Event(Level::kWarn, event); }
inline Event Error(std::string_view event) { return Event(Level::kError, event); }

// JSON string escaping (quotes not included); also used for text format values.
std::string Escape(std::string_view text);
// Shortens client text for logs: at most `max` bytes, marked when cut.
std::string Truncate(std::string_view text, size_t max = 200);

}  // namespace kite::log
