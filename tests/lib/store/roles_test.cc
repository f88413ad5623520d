// The daemons' PostgreSQL roles (lib/store/roles.h) against a real PostgreSQL: after migrate
// and ApplyRoles, each daemon's role is refused the tables it must not touch (kite-imap the
// spool, kite-mta the mailboxes and messages, kite-freebusy every write) and can run what its
// code runs. Roles are cluster-wide, so every test uses its own prefix and drops its roles.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures/test_env.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"
#include "lib/store/roles.h"

namespace kite::store {
namespace {

std::unique_ptr<Pool> MakePool(const std::string& url) {
  absl::StatusOr<std::unique_ptr<Pool>> pool = Pool::Create({.url = url, .pool_size = 2});
  INFO(pool.status().ToString());
  REQUIRE(pool.ok());
  return *std::move(pool);
}

// postgresql://postgres@host:port/db -> postgresql://<user>@host:port/db (the fixture trusts
// loopback, so no password is needed to log in as the daemon roles).
std::string WithUser(const std::string& url, const std::string& user) {
  std::string::size_type scheme = url.find("://");
  std::string::size_type at = url.find('@', scheme + 3);
  REQUIRE(scheme != std::string::npos);
  REQUIRE(at != std::string::npos);
  return url.substr(0, scheme + 3) + user + url.substr(at);
}

std::string UniquePrefix() {
  std::string name = testing::UniqueName("r");  // r_<pid>_<n>_<random>
  return std::string("t").append(name, 1, std::string::npos).append("_");
}

// Drops the roles a test created (their grants first), whatever the test's outcome.
class RoleCleanup {
 public:
  RoleCleanup(std::string url, std::string prefix) : url_(std::move(url)), prefix_(std::move(prefix)) {}
  void Also(std::string role) { extra_.push_back(std::move(role)); }
  ~RoleCleanup() {
    try {
      pqxx::connection c(url_);
      pqxx::nontransaction tx(c);
      std::vector<std::string> roles = extra_;
      for (const DaemonGrants& d : GrantMatrix()) roles.push_back(prefix_ + std::string(d.daemon));
      for (const std::string& role : roles) {
        if (tx.exec_params("SELECT 1 FROM pg_roles WHERE rolname = $1", role).empty()) continue;
        tx.exec0("REASSIGN OWNED BY " + tx.quote_name(role) + " TO CURRENT_USER");  // e.g. the database
        tx.exec0("DROP OWNED BY " + tx.quote_name(role));
        tx.exec0("DROP ROLE " + tx.quote_name(role));
      }
    } catch (const std::exception& e) {
      WARN("role cleanup failed: " << e.what());
    }
  }

 private:
  std::string url_, prefix_;
  std::vector<std::string> extra_;
};

// Runs `sql` as `role` in a transaction that is rolled back; "" when it succeeded, else the
// SQLSTATE and message.
std::string RunAs(const std::string& url, const std::string& role, const std::string& sql) {
  try {
    pqxx::connection c(WithUser(url, role));
    pqxx::work tx(c);
    tx.exec(sql);
    tx.abort();
    return "";
  } catch (const pqxx::insufficient_privilege& e) {
    return std::string("42501 ") + e.what();  // libpqxx 6.4 leaves sqlstate() empty here
  } catch (const pqxx::sql_error& e) {
    return e.sqlstate() + " " + e.what();
  }
}

void Refused(const std::string& url, const std::string& role, const std::string& sql) {
  std::string result = RunAs(url, role, sql);
  INFO(role << ": " << sql << " -> " << (result.empty() ? "allowed" : result));
  CHECK(result.rfind("42501 ", 0) == 0);
  CHECK_THAT(result, Catch::Contains("permission denied"));
}

void Allowed(const std::string& url, const std::string& role, const std::string& sql) {
  std::string result = RunAs(url, role, sql);
  INFO(role << ": " << sql << " -> " << result);
  CHECK(result.empty());
}

// A migrated database with one of everything the statements below refer to.
std::string SeededDatabase(std::string_view tag) {
  std::string url = testing::FreshDatabase(tag);
  std::unique_ptr<Pool> pool = MakePool(url);
  absl::Status migrated = Migrate(*pool);
  INFO(migrated.ToString());
  REQUIRE(migrated.ok());
  pqxx::connection c(url);
  pqxx::work tx(c);
  tx.exec0("INSERT INTO domains (id, name) VALUES (1, 'example.test')");
  tx.exec0("INSERT INTO accounts (id, domain_id, local_part, address, password_hash) "
           "VALUES (1, 1, 'u', 'u@example.test', '$argon2id$x')");
  tx.exec0("INSERT INTO mailboxes (account_id, id, name, uidvalidity) VALUES (1, 1, 'INBOX', 1)");
  tx.exec0("INSERT INTO messages (id, size, body) VALUES (1, 5, 'hello')");
  tx.exec0("INSERT INTO mailbox_entries (account_id, mailbox_id, uid, message_id, modseq, internal_date, size) "
           "VALUES (1, 1, 1, 1, 1, now(), 5)");
  tx.exec0("INSERT INTO spool (id, mail_from, size, body, source) VALUES (1, 'a@remote.test', 5, 'hello', 'mta')");
  tx.exec0("INSERT INTO spool_recipients (spool_id, recipient, kind, account_id) VALUES (1, 'u@example.test', 'local', 1)");
  tx.exec0("INSERT INTO calendars (account_id, id, uri) VALUES (1, 1, 'default')");
  tx.exec0("INSERT INTO calendar_objects (account_id, calendar_id, id, uri, uid, component, ical, etag, size) "
           "VALUES (1, 1, 1, 'e.ics', 'e', 'VEVENT', 'BEGIN:VCALENDAR', 'x', 15)");
  // The ids above were given: move the sequences past them.
  for (const char* table : {"domains", "accounts", "mailboxes", "messages", "spool", "calendars", "calendar_objects"}) {
    tx.exec_params("SELECT setval(pg_get_serial_sequence($1, 'id'), 100)", std::string(table));
  }
  tx.commit();
  return url;
}

absl::StatusOr<std::vector<RoleReport>> CreateRoles(Pool& pool, const std::string& prefix) {
  RoleOptions options;
  options.prefix = prefix;
  options.create = true;
  for (const DaemonGrants& d : GrantMatrix()) options.passwords[std::string(d.daemon)] = "pw-" + std::string(d.daemon) + "-123456";
  return ApplyRoles(pool, options);
}

TEST_CASE("ParseRolePasswords reads daemon/password lines and never echoes a password", "[store][roles]") {
  auto ok = ParseRolePasswords("# daemon password\n\nimap  s3cret-imap-pw \r\nmta\tanother-one-pw\n");
  REQUIRE(ok.ok());
  CHECK(ok->size() == 2);
  CHECK(ok->at("imap") == "s3cret-imap-pw");
  CHECK(ok->at("mta") == "another-one-pw");

  auto unknown = ParseRolePasswords("imap fine-password\nimapd TopSecret-123\n");
  REQUIRE_FALSE(unknown.ok());
  CHECK_THAT(std::string(unknown.status().message()), Catch::Contains("line 2") && !Catch::Contains("TopSecret"));
  auto twice = ParseRolePasswords("pop3 first-password\npop3 second-password\n");
  REQUIRE_FALSE(twice.ok());
  CHECK_THAT(std::string(twice.status().message()), Catch::Contains("line 2") && Catch::Contains("twice"));
  auto short_one = ParseRolePasswords("auth Xq9z\n");
  REQUIRE_FALSE(short_one.ok());
  CHECK_THAT(std::string(short_one.status().message()), Catch::Contains("line 1") && !Catch::Contains("Xq9z"));
  CHECK_FALSE(ParseRolePasswords("auth\n").ok());

  CHECK(RoleName("kite_", "imap").value() == "kite_imap");
  CHECK_FALSE(RoleName("Kite-", "imap").ok());
  CHECK_FALSE(RoleName("kite_", "smtpd").ok());
}

TEST_CASE("The grant matrix names only tables the schema has, and classifies every column of accounts",
          "[store][roles]") {
  std::unique_ptr<Pool> pool = MakePool(testing::FreshDatabase("roles_matrix"));
  REQUIRE(Migrate(*pool).ok());
  auto check = pool->Transact([](pqxx::work& tx) {
    for (const DaemonGrants& d : GrantMatrix()) {
      for (const TableGrant& t : d.tables) {
        INFO(d.daemon << ": " << t.table);
        CHECK(tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", std::string(t.table))[0].as<bool>());
      }
    }
    std::set<std::string> columns, classified;
    for (const auto& row : tx.exec("SELECT column_name FROM information_schema.columns "
                                   "WHERE table_schema = 'public' AND table_name = 'accounts'")) {
      columns.insert(row[0].as<std::string>());
    }
    for (std::string_view c : kAccountPublicColumns) classified.emplace(c);
    for (std::string_view c : kAccountSecretColumns) classified.emplace(c);
    // A new column of accounts must be put in one list or the other (roles.h): readable by
    // every daemon, or by kite-auth only.
    CHECK(columns == classified);
  });
  REQUIRE(check.ok());
  // Every daemon that reads accounts without being kite-auth reads exactly the public columns.
  std::string expected = "SELECT (";
  for (std::string_view c : kAccountPublicColumns) expected += std::string(c) + (c == "created_at" ? ")" : ", ");
  for (const DaemonGrants& d : GrantMatrix()) {
    for (const TableGrant& t : d.tables) {
      if (t.table == "accounts" && d.daemon != "auth") CHECK(t.privileges == expected);
    }
  }
}

TEST_CASE("Each daemon's role is refused the tables it must not touch and can run what it needs",
          "[store][roles]") {
  std::string url = SeededDatabase("roles_refusal");
  std::string prefix = UniquePrefix();
  RoleCleanup cleanup(url, prefix);
  std::unique_ptr<Pool> pool = MakePool(url);
  auto reports = CreateRoles(*pool, prefix);
  INFO(reports.status().ToString());
  REQUIRE(reports.ok());
  REQUIRE(reports->size() == GrantMatrix().size());
  for (const RoleReport& r : *reports) {
    INFO(DescribeRole(r));
    CHECK(r.created);
    CHECK(r.login);
    CHECK(r.password_set);
    CHECK(r.warnings.empty());
    CHECK(r.functions.empty());
    CHECK_THAT(DescribeRole(r), !Catch::Contains("-123456"));
  }
  auto role = [&](const char* daemon) { return prefix + daemon; };

  // kite-imap: mailboxes yes, the spool never.
  Refused(url, role("imap"), "SELECT * FROM spool");
  Refused(url, role("imap"), "SELECT count(*) FROM spool_recipients");
  Refused(url, role("imap"), "INSERT INTO spool (mail_from, size, body, source) VALUES ('', 0, '', 'mta')");
  Refused(url, role("imap"), "DELETE FROM spool");
  Refused(url, role("imap"), "SELECT password_hash FROM accounts");
  Refused(url, role("imap"), "SELECT * FROM calendar_objects");
  Refused(url, role("imap"), "SELECT * FROM sieve_scripts");
  Allowed(url, role("imap"), "INSERT INTO mailboxes (account_id, name, uidvalidity) VALUES (1, 'Sent', 2) RETURNING id");
  Allowed(url, role("imap"),
          "SELECT m.body FROM mailbox_entries e JOIN messages m ON m.id = e.message_id WHERE e.account_id = 1");
  Allowed(url, role("imap"), "UPDATE mailbox_entries SET flags = '{\\\\Seen}', modseq = 2 WHERE account_id = 1");
  Allowed(url, role("imap"),
          "SELECT q.bytes, a.quota_bytes FROM quota_usage q JOIN accounts a ON a.id = q.account_id FOR UPDATE OF q");

  // kite-mta: the spool yes, mailboxes and messages never.
  Refused(url, role("mta"), "SELECT * FROM messages");
  Refused(url, role("mta"), "SELECT body FROM messages WHERE id = 1");
  Refused(url, role("mta"), "SELECT * FROM mailboxes");
  Refused(url, role("mta"), "SELECT * FROM mailbox_entries");
  Refused(url, role("mta"), "INSERT INTO mailbox_entries (account_id, mailbox_id, uid, message_id, modseq, "
                            "internal_date, size) VALUES (1, 1, 2, 1, 2, now(), 5)");
  Refused(url, role("mta"), "SELECT password_hash FROM accounts");
  Refused(url, role("mta"), "SELECT * FROM sieve_scripts");
  Allowed(url, role("mta"),
          "WITH s AS (INSERT INTO spool (mail_from, size, body, source) VALUES ('a@remote.test', 1, 'x', 'mta') "
          "RETURNING id) INSERT INTO spool_recipients (spool_id, recipient, kind) SELECT id, 'u@example.test', 'local' "
          "FROM s");
  Allowed(url, role("mta"), "SELECT body FROM spool WHERE id = 1 FOR UPDATE");
  Allowed(url, role("mta"), "DELETE FROM spool WHERE id = 1");  // cascades to spool_recipients as the owner
  Allowed(url, role("mta"),
          "SELECT c.kind, a.enabled FROM domains d LEFT JOIN address_claims c ON c.address = 'u@example.test' "
          "LEFT JOIN accounts a ON a.id = c.owner_id WHERE d.name = 'example.test'");

  // kite-freebusy: reads calendars, writes nothing.
  Refused(url, role("freebusy"), "INSERT INTO calendars (account_id, uri) VALUES (1, 'other')");
  Refused(url, role("freebusy"), "UPDATE calendar_objects SET ical = '' WHERE account_id = 1");
  Refused(url, role("freebusy"), "DELETE FROM calendar_objects");
  Refused(url, role("freebusy"), "INSERT INTO calendar_settings (account_id) VALUES (1)");
  Refused(url, role("freebusy"), "SELECT * FROM messages");
  Refused(url, role("freebusy"), "SELECT * FROM spool");
  Refused(url, role("freebusy"), "SELECT * FROM dav_properties");
  Allowed(url, role("freebusy"),
          "SELECT o.ical, c.timezone FROM calendar_objects o JOIN calendars c ON c.account_id = o.account_id "
          "AND c.id = o.calendar_id WHERE o.account_id = 1");
  Allowed(url, role("freebusy"), "SELECT t.account_id FROM freebusy_tokens t JOIN accounts a ON a.id = t.account_id");

  // kite-submission: spools without reading the spool.
  Refused(url, role("submission"), "SELECT body FROM spool");
  Refused(url, role("submission"), "DELETE FROM spool");
  Refused(url, role("submission"), "SELECT * FROM messages");
  Refused(url, role("submission"), "UPDATE spool_recipients SET state = 'delivered'");
  Allowed(url, role("submission"),
          "INSERT INTO spool (mail_from, helo, size, body, source) VALUES ('u@example.test', 'c', 1, 'x', "
          "'submission') RETURNING id");
  Allowed(url, role("submission"),
          "UPDATE spool_recipients SET enqueued_at = now() WHERE (spool_id, recipient) IN (SELECT spool_id, recipient "
          "FROM spool_recipients WHERE spool_id = 1 AND state = 'queued' FOR UPDATE SKIP LOCKED)");
  Allowed(url, role("submission"), "SELECT k.private_key_pem FROM dkim_keys k JOIN domains d ON d.id = k.domain_id");

  // kite-delivery: stores mail, never deletes it, no credentials.
  Refused(url, role("delivery"), "DELETE FROM mailbox_entries");
  Refused(url, role("delivery"), "DELETE FROM messages");
  Refused(url, role("delivery"), "SELECT * FROM auth_secrets");
  Refused(url, role("delivery"), "SELECT * FROM calendar_objects");
  Allowed(url, role("delivery"),
          "INSERT INTO messages (sha256, size, body) SELECT sha256(body), size, body FROM spool WHERE id = 1 RETURNING id");
  // ... with its search columns (migration 0019), as Filer::BodyFromSpool writes them.
  Allowed(url, role("delivery"),
          "INSERT INTO messages (sha256, size, body, search_fields, search_header, search_text) "
          "SELECT sha256(body || 'x'), size, body, NULL, E'\\x01fa', E'h\\x01b' FROM spool WHERE id = 1 RETURNING id");
  Allowed(url, role("delivery"),
          "WITH mb AS (UPDATE mailboxes SET uidnext = uidnext + 1 WHERE account_id = 1 AND name = 'INBOX' "
          "RETURNING id, uidnext - 1 AS uid, highest_modseq) INSERT INTO mailbox_entries (account_id, mailbox_id, uid, "
          "message_id, modseq, internal_date, size) SELECT 1, id, uid + 10, 1, highest_modseq, now(), 5 FROM mb "
          "RETURNING mailbox_id, uid");

  // kite-imap: SEARCH on text in the store (MailStore::SearchText, migration 0019: pg_trgm's
  // indexes, no EXECUTE on its functions needed).
  Allowed(url, role("imap"),
          "SELECT e.uid FROM mailbox_entries e JOIN messages m ON m.id = e.message_id WHERE e.account_id = 1 "
          "AND m.search_header ~ 'a[^b]*c' AND m.search_text LIKE '%x\\%%' ESCAPE '\\' UNION ALL "
          "SELECT e.uid FROM mailbox_entries e JOIN messages m ON m.id = e.message_id WHERE m.search_text IS NULL");

  // kite-pop3: reads and expunges, never appends.
  Refused(url, role("pop3"), "INSERT INTO messages (size, body) VALUES (1, 'x')");
  Refused(url, role("pop3"), "SELECT * FROM spool");
  Allowed(url, role("pop3"), "DELETE FROM mailbox_entries WHERE account_id = 1 AND mailbox_id = 1 AND uid = 1");

  // kite-caldav: calendars and its iMIP mail, not the mail store or the spool's contents.
  Refused(url, role("caldav"), "SELECT * FROM messages");
  Refused(url, role("caldav"), "SELECT body FROM spool");
  Refused(url, role("caldav"), "SELECT * FROM mailbox_entries");
  Allowed(url, role("caldav"), "INSERT INTO calendars (account_id, uri, kind) VALUES (1, 'work', 'calendar') RETURNING id");
  Allowed(url, role("caldav"),
          "INSERT INTO spool (mail_from, size, body, source) VALUES ('u@example.test', 1, 'x', 'internal') RETURNING id");

  // kite-auth: credentials, but no mail and no account administration.
  Refused(url, role("auth"), "SELECT * FROM spool");
  Refused(url, role("auth"), "SELECT * FROM messages");
  Refused(url, role("auth"), "UPDATE accounts SET enabled = false");
  Refused(url, role("auth"), "DELETE FROM accounts");
  Allowed(url, role("auth"), "SELECT password_hash, scram_sha256 FROM accounts WHERE address = 'u@example.test'");
  Allowed(url, role("auth"), "UPDATE accounts SET scram_sha256 = NULL WHERE id = 1 AND password_hash = '$argon2id$x'");

  // Through the pool, as the daemons see it: PermissionDenied, naming the table.
  std::unique_ptr<Pool> as_imap = MakePool(WithUser(url, role("imap")));
  absl::Status refused = as_imap->Transact([](pqxx::work& tx) { tx.exec("SELECT count(*) FROM spool"); });
  CHECK(absl::IsPermissionDenied(refused));
  CHECK_THAT(std::string(refused.message()), Catch::Contains("permission denied for table spool"));

  // No role creates objects or calls Kite's functions (PUBLIC's defaults revoked).
  for (const DaemonGrants& d : GrantMatrix()) {
    Refused(url, role(std::string(d.daemon).c_str()), "CREATE TABLE public.kite_intruder (x int)");
    Refused(url, role(std::string(d.daemon).c_str()), "SELECT * FROM schema_migrations");
  }
  pqxx::connection c(url);
  pqxx::work tx(c);
  CHECK_FALSE(tx.exec_params1("SELECT has_function_privilege($1::name, 'kite_claim_address()', 'EXECUTE')", role("mta"))[0]
                  .as<bool>());
  // Passwords are stored as SCRAM verifiers.
  CHECK(tx.exec_params1("SELECT rolpassword LIKE 'SCRAM-SHA-256$4096:%' FROM pg_authid WHERE rolname = $1", role("imap"))[0]
            .as<bool>());
}

TEST_CASE("Applying the roles again is idempotent and takes away grants outside the matrix", "[store][roles]") {
  std::string url = SeededDatabase("roles_again");
  std::string prefix = UniquePrefix();
  RoleCleanup cleanup(url, prefix);
  std::unique_ptr<Pool> pool = MakePool(url);
  auto first = CreateRoles(*pool, prefix);
  REQUIRE(first.ok());
  {
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec0("GRANT SELECT ON spool TO " + tx.quote_name(prefix + "imap"));
    tx.exec0("GRANT SELECT (password_hash) ON accounts TO " + tx.quote_name(prefix + "mta"));
    tx.exec0("GRANT SELECT ON messages TO PUBLIC");
    tx.exec0("GRANT EXECUTE ON FUNCTION kite_claim_address() TO PUBLIC");
    tx.commit();
  }
  Allowed(url, prefix + "imap", "SELECT * FROM spool");
  Allowed(url, prefix + "freebusy", "SELECT * FROM messages");

  // What kitectl migrate does: existing roles only, no password change.
  auto again = ApplyRoles(*pool, {.prefix = prefix, .create = false});
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  REQUIRE(again->size() == first->size());
  for (size_t i = 0; i < again->size(); ++i) {
    INFO(DescribeRole((*again)[i]));
    CHECK_FALSE((*again)[i].created);
    CHECK_FALSE((*again)[i].password_set);
    CHECK((*again)[i].login);
    CHECK((*again)[i].tables == (*first)[i].tables);
    CHECK((*again)[i].sequences == (*first)[i].sequences);
  }
  Refused(url, prefix + "imap", "SELECT * FROM spool");
  Refused(url, prefix + "mta", "SELECT password_hash FROM accounts");
  Refused(url, prefix + "freebusy", "SELECT * FROM messages");
  pqxx::connection c(url);
  pqxx::work tx(c);
  CHECK_FALSE(tx.exec_params1("SELECT has_function_privilege($1::name, 'kite_claim_address()', 'EXECUTE')", prefix + "imap")[0]
                  .as<bool>());
}

TEST_CASE("A table owner without CREATEROLE may migrate and re-grant but is told why db roles fails",
          "[store][roles]") {
  std::string super_url = testing::FreshDatabase("roles_owner");
  std::string prefix = UniquePrefix();
  std::string owner = prefix + "owner";
  RoleCleanup cleanup(super_url, prefix);
  cleanup.Also(owner);
  {
    pqxx::connection c(super_url);
    pqxx::nontransaction tx(c);
    tx.exec0("CREATE ROLE " + tx.quote_name(owner) + " LOGIN");
    tx.exec0("ALTER DATABASE " + tx.quote_name(c.dbname()) + " OWNER TO " + tx.quote_name(owner));
  }
  std::string owner_url = WithUser(super_url, owner);
  std::unique_ptr<Pool> as_owner = MakePool(owner_url);
  REQUIRE(Migrate(*as_owner).ok());

  // Nothing to re-grant yet: no roles, and no CREATEROLE needed.
  auto none = ApplyRoles(*as_owner, {.prefix = prefix, .create = false});
  INFO(none.status().ToString());
  REQUIRE(none.ok());
  CHECK(none->empty());
  auto refused = CreateRoles(*as_owner, prefix);
  REQUIRE_FALSE(refused.ok());
  CHECK(absl::IsFailedPrecondition(refused.status()));
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("CREATEROLE") && Catch::Contains(owner));

  // A superuser creates them once; the owner re-grants from then on (kitectl migrate).
  std::unique_ptr<Pool> as_super = MakePool(super_url);
  REQUIRE(CreateRoles(*as_super, prefix).ok());
  auto regrant = ApplyRoles(*as_owner, {.prefix = prefix, .create = false});
  INFO(regrant.status().ToString());
  REQUIRE(regrant.ok());
  CHECK(regrant->size() == GrantMatrix().size());
  Refused(super_url, prefix + "imap", "SELECT * FROM spool");
  Allowed(super_url, prefix + "imap", "SELECT count(*) FROM mailbox_entries");

  // Someone who owns nothing cannot grant: a clear error instead of PostgreSQL's warnings.
  auto stranger = ApplyRoles(*MakePool(WithUser(super_url, prefix + "imap")), {.prefix = prefix, .create = false});
  REQUIRE_FALSE(stranger.ok());
  CHECK(absl::IsFailedPrecondition(stranger.status()));
  CHECK_THAT(std::string(stranger.status().message()), Catch::Contains("does not own"));
}

TEST_CASE("db roles before migrate says to migrate first", "[store][roles]") {
  std::unique_ptr<Pool> pool = MakePool(testing::FreshDatabase("roles_unmigrated"));
  auto r = ApplyRoles(*pool, {.prefix = UniquePrefix(), .create = true});
  REQUIRE_FALSE(r.ok());
  CHECK(absl::IsFailedPrecondition(r.status()));
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("kitectl migrate"));
}

}  // namespace
}  // namespace kite::store
