// The daemons' connections to PostgreSQL and Redis, built from the configuration in one
// place so every daemon names them the same way. A daemon connects with its own section's
// credentials when they are set (<section>.postgres_url, <section>.redis_user,
// <section>.redis_password: a PostgreSQL role and a Redis ACL user per daemon, least
// privilege, docs/operations.md) and with the global ones (global.postgres_url, ...)
// otherwise. kitectl passes "global": it is the operator, and uses the global (owner)
// credentials.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/config/config.h"
#include "lib/redis/client.h"
#include "lib/store/pool.h"

namespace kite::daemon {

// `key` of `section`, or of global when the section leaves it empty (or no section is given).
inline std::string SectionOrGlobal(const config::Config& c, std::string_view section, std::string_view key) {
  if (!section.empty() && section != "global") {
    std::string own = c.String(section, key);
    if (!own.empty()) return own;
  }
  return c.String("global", key);
}

inline std::string PostgresUrl(const config::Config& c, std::string_view section) {
  return SectionOrGlobal(c, section, "postgres_url");
}

inline absl::StatusOr<std::unique_ptr<store::Pool>> OpenPostgres(const config::Config& c, std::string_view section) {
  return store::Pool::Create({.url = PostgresUrl(c, section),
                              .pool_size = static_cast<int>(c.Int("global", "postgres_pool_size"))});
}

inline redis::Options RedisOptions(const config::Config& c, std::string_view section) {
  config::HostPort hp = c.Address("global", "redis");
  return {.host = hp.host,
          .port = hp.port,
          .user = SectionOrGlobal(c, section, "redis_user"),
          .password = SectionOrGlobal(c, section, "redis_password")};
}

}  // namespace kite::daemon
