// The daemons' connections to PostgreSQL and Redis, built from the configuration in one
// place so every daemon names them the same way (global.postgres_url, global.redis, ...).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "lib/config/config.h"
#include "lib/redis/client.h"
#include "lib/store/pool.h"

namespace kite::daemon {

inline absl::StatusOr<std::unique_ptr<store::Pool>> OpenPostgres(const config::Config& c) {
  return store::Pool::Create({.url = c.String("global", "postgres_url"),
                              .pool_size = static_cast<int>(c.Int("global", "postgres_pool_size"))});
}

inline redis::Options RedisOptions(const config::Config& c) {
  config::HostPort hp = c.Address("global", "redis");
  return {.host = hp.host, .port = hp.port, .password = c.String("global", "redis_password")};
}

}  // namespace kite::daemon
