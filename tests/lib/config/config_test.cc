#include <catch2/catch.hpp>

#include "lib/config/config.h"
#include "lib/daemon/backends.h"

using kite::config::Config;
using kite::config::KiteSchema;

TEST_CASE("Defaults work without a file", "[config]") {
  auto c = Config::FromText(KiteSchema(), "", {});
  REQUIRE(c.ok());
  CHECK(c->Address("mta", "smtp_listen").port == 2525);
  CHECK(c->Size("mta", "max_message_size") == 50u << 20);
  CHECK(c->Duration("imap", "idle_timeout") == std::chrono::minutes(30));
  CHECK(c->Origin("mta", "smtp_listen") == "default");
}

TEST_CASE("A file value overrides the default and the environment overrides the file", "[config]") {
  const char* yaml = "mta:\n  smtp_listen: 0.0.0.0:25\n  max_recipients: 50\n";
  auto c = Config::FromText(KiteSchema(), yaml, {{"KITE_MTA_MAX_RECIPIENTS", "7"}});
  REQUIRE(c.ok());
  CHECK(c->Address("mta", "smtp_listen").ToString() == "0.0.0.0:25");
  CHECK(c->Int("mta", "max_recipients") == 7);
  CHECK(c->Origin("mta", "max_recipients") == "KITE_MTA_MAX_RECIPIENTS");
  CHECK(c->Origin("mta", "smtp_listen") == "file");
}

TEST_CASE("An unknown key is named with a suggestion", "[config]") {
  auto c = Config::FromText(KiteSchema(), "mta:\n  smtp_lisen: 1.2.3.4:25\n", {});
  REQUIRE_FALSE(c.ok());
  std::string msg(c.status().message());
  CHECK(msg.find("mta.smtp_lisen") != std::string::npos);
  CHECK(msg.find("did you mean 'mta.smtp_listen'") != std::string::npos);
  CHECK(msg.find("line 2") != std::string::npos);
}

TEST_CASE("A value of the wrong type names the key and why", "[config]") {
  auto c = Config::FromText(KiteSchema(), "imap:\n  idle_timeout: soon\n", {});
  REQUIRE_FALSE(c.ok());
  std::string msg(c.status().message());
  CHECK(msg.find("imap.idle_timeout") != std::string::npos);
  CHECK(msg.find("duration") != std::string::npos);
  auto bad_port = Config::FromText(KiteSchema(), "", {{"KITE_MTA_SMTP_LISTEN", "127.0.0.1:99999"}});
  REQUIRE_FALSE(bad_port.ok());
  CHECK(std::string(bad_port.status().message()).find("KITE_MTA_SMTP_LISTEN") != std::string::npos);
  auto bad_level = Config::FromText(KiteSchema(), "global:\n  log_level: loud\n", {});
  REQUIRE_FALSE(bad_level.ok());
  CHECK(std::string(bad_level.status().message()).find("must be one of") != std::string::npos);
}

TEST_CASE("An environment variable naming no key is refused", "[config]") {
  auto c = Config::FromText(KiteSchema(), "", {{"KITE_MTA_SMTP_LISTN", "x"}});
  REQUIRE_FALSE(c.ok());
  CHECK(std::string(c.status().message()).find("KITE_MTA_SMTP_LISTN") != std::string::npos);
}

TEST_CASE("Broken YAML reports the line", "[config]") {
  auto c = Config::FromText(KiteSchema(), "mta:\n  smtp_listen: [\n", {});
  REQUIRE_FALSE(c.ok());
  CHECK(std::string(c.status().message()).find("line") != std::string::npos);
}

TEST_CASE("Secrets are redacted in the dump", "[config]") {
  auto c = Config::FromText(KiteSchema(), "global:\n  postgres_url: postgresql://u:hunter2@db/kite\n", {});
  REQUIRE(c.ok());
  std::string dump = c->Dump("mta");
  CHECK(dump.find("hunter2") == std::string::npos);
  CHECK(dump.find("<redacted>") != std::string::npos);
  CHECK(dump.find("smtp_listen") != std::string::npos);
}

TEST_CASE("Durations, sizes and addresses parse", "[config]") {
  using namespace kite::config;
  CHECK(*ParseDuration("250ms") == std::chrono::milliseconds(250));
  CHECK(*ParseDuration("2h") == std::chrono::hours(2));
  CHECK_FALSE(ParseDuration("5 parsecs").ok());
  CHECK(*ParseSize("64k") == 65536u);
  CHECK_FALSE(ParseSize("99999999999999999999").ok());
  CHECK(ParseHostPort("[::1]:993")->host == "::1");
  CHECK_FALSE(ParseHostPort("nohost").ok());
}

TEST_CASE("A daemon connects with its section's credentials, else the global ones", "[config]") {
  const char* yaml =
      "global:\n  postgres_url: postgresql://owner:o@db/kite\n  redis_password: global-pw\n"
      "imap:\n  postgres_url: postgresql://kite_imap:i@db/kite\n  redis_user: kite-imap\n  redis_password: imap-pw\n";
  auto c = Config::FromText(KiteSchema(), yaml, {{"KITE_MTA_POSTGRES_URL", "postgresql://kite_mta:m@db/kite"}});
  REQUIRE(c.ok());
  using kite::daemon::PostgresUrl;
  using kite::daemon::RedisOptions;
  CHECK(PostgresUrl(*c, "imap") == "postgresql://kite_imap:i@db/kite");
  CHECK(PostgresUrl(*c, "mta") == "postgresql://kite_mta:m@db/kite");  // KITE_MTA_POSTGRES_URL
  CHECK(PostgresUrl(*c, "pop3") == "postgresql://owner:o@db/kite");   // empty section key: global
  CHECK(PostgresUrl(*c, "global") == "postgresql://owner:o@db/kite");  // kitectl
  CHECK(RedisOptions(*c, "imap").user == "kite-imap");
  CHECK(RedisOptions(*c, "imap").password == "imap-pw");
  CHECK(RedisOptions(*c, "pop3").user.empty());  // the default user, AUTH password
  CHECK(RedisOptions(*c, "pop3").password == "global-pw");
  CHECK(RedisOptions(*c, "global").password == "global-pw");
  std::string dump = c->Dump("imap");
  CHECK(dump.find("imap-pw") == std::string::npos);
  CHECK(dump.find(":i@") == std::string::npos);
}
