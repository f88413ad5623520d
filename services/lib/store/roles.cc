#include "lib/store/roles.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/base/strings.h"
#include "lib/password/scram.h"
#include "lib/store/migrations.h"
#include "lib/store/pool.h"

namespace kite::store {
namespace {

// ---- The grant matrix ---------------------------------------------------------------------
// One line per table a daemon touches, with the SQL that needs it. Keep it exact: a privilege
// no statement needs is a privilege an attacker inside that daemon gets for free.

// accounts without password_hash and scram_sha256 (kAccountPublicColumns): only kite-auth
// reads credentials. roles_test checks this list against the table.
constexpr std::string_view kAccountsRead =
    "SELECT (id, domain_id, local_part, address, display_name, quota_bytes, enabled, created_at)";
constexpr std::string_view kRead = "SELECT";
constexpr std::string_view kReadWrite = "SELECT, INSERT, UPDATE, DELETE";

// kite-auth: logins (lib/directory/credentials.cc), the SASL state key (auth_service.cc) and
// the directory questions the other daemons ask over gRPC (lib/directory/directory.cc:
// Resolve, CheckSender, GetSharedAccess, ListSharedAccess, FreeBusyVisible, ListDomains,
// MayPost). Writes only what a login changes: the rehashed password and the SCRAM secret
// (UpgradeCredentials), an app password's last use, the shared SASL key on first start.
constexpr TableGrant kAuth[] = {
    {"accounts", "SELECT, UPDATE (password_hash, scram_sha256)"},
    {"app_passwords", "SELECT, UPDATE (last_used_at)"},
    {"auth_secrets", "SELECT, INSERT"},
    {"domains", kRead},
    {"address_claims", kRead},
    {"aliases", kRead},
    {"lists", kRead},
    {"list_members", kRead},
    {"list_senders", kRead},
    {"shared_mailboxes", kRead},
    {"account_grants", kRead},
    {"resources", kRead},
    {"resource_bookers", kRead},
    {"resource_booker_lists", kRead},
};

// kite-mta: inbound SMTP spools (lib/queue SpoolTx, MarkEnqueued; quarantine is an UPDATE);
// the outbound relay (mta/relay/relay.cc) leases, updates and finally deletes spool rows,
// spools DSNs, caches MTA-STS policies and counts TLS results. Surprising: it reads the
// directory (lib/directory Resolve, not over gRPC) to route a DSN to a local sender. It never
// reads mailboxes or messages.
constexpr TableGrant kMta[] = {
    {"spool", kReadWrite},
    {"spool_recipients", "SELECT, INSERT, UPDATE"},
    {"mta_sts_policies", "SELECT, INSERT, UPDATE"},
    {"tls_results", "SELECT, INSERT, UPDATE"},
    {"accounts", kAccountsRead},
    {"domains", kRead},
    {"address_claims", kRead},
    {"aliases", kRead},
    {"shared_mailboxes", kRead},
    {"resources", kRead},
};

// kite-submission: spools (lib/queue SpoolTx: INSERT ... RETURNING id, so only the id column
// is readable: it cannot read other users' spooled mail), marks entries enqueued
// (MarkEnqueued: UPDATE enqueued_at), signs with the domain's DKIM keys
// (smtp_server/dkim_keys.cc). Recipients and senders are checked by kite-auth over gRPC.
constexpr TableGrant kSubmission[] = {
    {"spool", "SELECT (id), INSERT"},
    {"spool_recipients", "SELECT, INSERT, UPDATE (enqueued_at)"},
    {"dkim_keys", kRead},
    {"domains", kRead},
};

// kite-delivery (delivery/engine.cc, itip_outbox.cc, managesieve.cc, lib/sievestore, lib/queue,
// lib/directory Resolve and ExpandAddress, lib/mailstore Filer): reads the spool and
// stores into mailboxes exactly once (deliveries), quota, Sieve scripts and vacation log; it
// also spools what it generates (bounces, vacation replies, redirects) and hands iMIP parts
// to kite-caldav through itip_outbox. It never deletes a mailbox entry or a message body.
constexpr TableGrant kDelivery[] = {
    {"spool", kReadWrite},  // UPDATE: SELECT ... FOR UPDATE on the spool row
    {"spool_recipients", "SELECT, INSERT, UPDATE"},
    {"deliveries", "SELECT, INSERT, DELETE"},
    {"messages", "SELECT, INSERT"},
    {"mailboxes", "SELECT, INSERT, UPDATE"},
    {"mailbox_entries", "SELECT, INSERT"},
    {"uidvalidity_floors", kRead},               // a mailbox created at delivery (Filer)
    {"subscriptions", "SELECT, DELETE"},         // ... takes over a subscription its name kept
    {"quota_usage", "SELECT, INSERT, UPDATE"},
    {"sieve_scripts", kReadWrite},
    {"vacation_replies", "SELECT, INSERT, UPDATE"},
    {"itip_outbox", kReadWrite},
    {"accounts", kAccountsRead},
    {"domains", kRead},
    {"address_claims", kRead},
    {"aliases", kRead},
    {"list_members", kRead},
    {"shared_mailboxes", kRead},
    {"resources", kRead},
};

// kite-imap: lib/mailstore only (mailboxes, entries, flags, APPEND/COPY/MOVE/EXPUNGE, quota,
// the change log); rights on shared mailboxes come from kite-auth over gRPC. DELETE on
// messages: a body no entry refers to any more is dropped at expunge. No spool table.
constexpr TableGrant kImap[] = {
    {"mailboxes", kReadWrite},
    {"mailbox_entries", kReadWrite},
    {"mailbox_expunges", "SELECT, INSERT, UPDATE"},
    {"subscriptions", "SELECT, INSERT, DELETE"},    // subscriptions outliving their mailbox
    {"uidvalidity_floors", "SELECT, INSERT, UPDATE"},  // DELETE keeps UIDVALIDITY rising
    {"mailbox_metadata", kReadWrite},                  // METADATA (RFC 5464)
    {"messages", "SELECT, INSERT, DELETE"},
    {"quota_usage", "SELECT, INSERT, UPDATE"},
    {"accounts", kAccountsRead},  // the quota limit
};

// kite-pop3: lib/mailstore FindMailbox, OpenMailbox, LoadMessages, StoreFlags (\Seen), Expunge.
constexpr TableGrant kPop3[] = {
    {"mailboxes", "SELECT, UPDATE"},
    {"mailbox_entries", "SELECT, UPDATE, DELETE"},
    {"mailbox_expunges", "SELECT, INSERT, UPDATE"},
    {"messages", "SELECT, DELETE"},
    {"quota_usage", "SELECT, INSERT, UPDATE"},
    {"accounts", kAccountsRead},
};

// kite-caldav: calendars, objects, change log, plain WebDAV resources and dead properties
// (caldav/dav_handler.cc, lib/calstore), scheduling (scheduler.cc, scheduling_service.cc:
// attendees, resources and their booking policy, iTIP received from kite-delivery),
// sharing and delegation (calendar_shares, account_grants, lists), the host's domains
// (autoconfig, lib/directory ListDomains, FreeBusyVisible). Surprising: it reads quota_usage
// (DAV quota properties) and spools iMIP mail (lib/queue SpoolTx: INSERT, id only).
constexpr TableGrant kCaldav[] = {
    {"calendars", kReadWrite},
    {"calendar_objects", kReadWrite},
    {"calendar_changes", "SELECT, INSERT"},
    {"calendar_shares", kRead},
    {"dav_resources", kReadWrite},
    {"dav_properties", kReadWrite},
    {"itip_received", "SELECT, INSERT, UPDATE"},
    {"spool", "SELECT (id), INSERT"},
    {"spool_recipients", "SELECT, INSERT, UPDATE (enqueued_at)"},
    {"quota_usage", kRead},
    {"accounts", kAccountsRead},
    {"domains", kRead},
    {"address_claims", kRead},
    {"aliases", kRead},
    {"lists", kRead},
    {"list_members", kRead},
    {"account_grants", kRead},
    {"resources", kRead},
    {"resource_bookers", kRead},
    {"resource_booker_lists", kRead},
};

// kite-freebusy (freebusy/store.cc): reads only. Calendars and objects, the working hours,
// the external-URL tokens, and the directory rows that decide who may see whose
// availability (visibility: same domain, grants, resource bookers through lists).
constexpr TableGrant kFreebusy[] = {
    {"calendars", kRead},
    {"calendar_objects", kRead},
    {"calendar_settings", kRead},
    {"freebusy_tokens", kRead},
    {"accounts", kAccountsRead},
    {"address_claims", kRead},
    {"aliases", kRead},
    {"lists", kRead},
    {"list_members", kRead},
    {"account_grants", kRead},
    {"resources", kRead},
    {"resource_bookers", kRead},
    {"resource_booker_lists", kRead},
};

constexpr DaemonGrants kMatrix[] = {
    {"auth", kAuth, {}},         {"mta", kMta, {}},           {"submission", kSubmission, {}},
    {"delivery", kDelivery, {}}, {"imap", kImap, {}},         {"pop3", kPop3, {}},
    {"caldav", kCaldav, {}},     {"freebusy", kFreebusy, {}},
};

// ---- Helpers ------------------------------------------------------------------------------

bool IsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string Qualified(pqxx::work& tx, const std::string& schema, std::string_view name) {
  return absl::StrCat(tx.quote_name(schema), ".", tx.quote_name(std::string(name)));
}

// 'text' for a statement that takes no parameters (CREATE/ALTER ROLE ... PASSWORD).
std::string Literal(pqxx::work& tx, const std::string& text) { return absl::StrCat("'", tx.esc(text), "'"); }

// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (what psql's \password sends),
// so the password itself never travels or lands in a log.
absl::StatusOr<std::string> Verifier(std::string_view password) {
  auto secret = password::scram::MakeSecret(password);
  if (!secret.ok()) return secret.status();
  return password::scram::Format(*secret);
}

struct RoleRow {
  bool exists = false;
  bool login = false;
  std::vector<std::string> warnings;
};

RoleRow LoadRole(pqxx::work& tx, const std::string& role) {
  RoleRow out;
  pqxx::result r = tx.exec_params(
      "SELECT rolcanlogin, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication, "
      "ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid "
      "      WHERE m.member = r.oid ORDER BY 1)::text "
      "FROM pg_roles r WHERE rolname = $1",
      role);
  if (r.empty()) return out;
  out.exists = true;
  out.login = r[0][0].as<bool>();
  const char* attributes[] = {"",          "SUPERUSER (the grants mean nothing)",
                              "BYPASSRLS", "CREATEROLE",
                              "CREATEDB",  "REPLICATION"};
  for (int i = 1; i <= 5; ++i) {
    if (r[0][i].as<bool>()) out.warnings.push_back(attributes[i]);
  }
  std::string member_of = r[0][6].as<std::string>();
  if (member_of != "{}") out.warnings.push_back(absl::StrCat("member of ", member_of));
  return out;
}

// What `role` can do in `schema` now (effective privileges, PUBLIC and memberships included).
void Describe(pqxx::work& tx, const std::string& schema, RoleReport& report) {
  report.tables.clear();
  report.sequences.clear();
  report.functions.clear();
  // psql's \dp letters, in its order; columns can hold only the first three and REFERENCES.
  pqxx::result rows = tx.exec_params(
      "SELECT c.relname, p.letter, has_table_privilege($2::name, c.oid, p.privilege), "
      "  CASE WHEN p.by_column THEN (SELECT count(*) FROM pg_attribute a "
      "    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
      "    AND has_column_privilege($2::name, c.oid, a.attnum, p.privilege)) ELSE 0 END, "
      "  (SELECT count(*) FROM pg_attribute a "
      "    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "CROSS JOIN (VALUES (1, 'a', 'INSERT', true), (2, 'r', 'SELECT', true), "
      "                   (3, 'w', 'UPDATE', true), (4, 'd', 'DELETE', false), "
      "                   (5, 'D', 'TRUNCATE', false), (6, 'x', 'REFERENCES', true), "
      "                   (7, 't', 'TRIGGER', false)) AS p(ord, letter, privilege, by_column) "
      "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname, p.ord",
      schema, report.role);
  std::string table, privileges;
  auto flush = [&] {
    if (!privileges.empty()) report.tables.emplace_back(table, privileges);
    privileges.clear();
  };
  for (const auto& row : rows) {
    std::string name = row[0].as<std::string>();
    if (name != table) {
      flush();
      table = name;
    }
    if (row[2].as<bool>()) {
      absl::StrAppend(&privileges, row[1].as<std::string>());
    } else if (int64_t n = row[3].as<int64_t>(); n > 0) {
      absl::StrAppend(&privileges, row[1].as<std::string>(), "(", n, "/", row[4].as<int64_t>(),
                      " columns)");
    }
  }
  flush();
  pqxx::result sequences = tx.exec_params(
      "SELECT c.relname, has_sequence_privilege($2::name, c.oid, 'USAGE'), "
      "  has_sequence_privilege($2::name, c.oid, 'SELECT'), "
      "  has_sequence_privilege($2::name, c.oid, 'UPDATE') "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = $1 AND c.relkind = 'S' ORDER BY c.relname",
      schema, report.role);
  for (const auto& s : sequences) {
    std::string p = absl::StrCat(s[1].as<bool>() ? "U" : "", s[2].as<bool>() ? "r" : "",
                                 s[3].as<bool>() ? "w" : "");
    if (!p.empty()) report.sequences.push_back(absl::StrCat(s[0].as<std::string>(), " ", p));
  }
  pqxx::result functions = tx.exec_params(
      "SELECT p.oid::regprocedure::text FROM pg_proc p "
      "JOIN pg_namespace n ON n.oid = p.pronamespace "
      "WHERE n.nspname = $1 AND has_function_privilege($2::name, p.oid, 'EXECUTE') "
      "AND NOT EXISTS (SELECT 1 FROM pg_depend d "
      "  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') "
      "ORDER BY 1",
      schema, report.role);
  for (const auto& f : functions) report.functions.push_back(f[0].as<std::string>());
}

// The sequences behind `table`'s columns (bigserial / identity): an INSERT takes their next
// value, which needs USAGE.
std::vector<std::string> SequencesOf(pqxx::work& tx, const std::string& qualified_table) {
  std::vector<std::string> out;
  for (const auto& row :
       tx.exec_params("SELECT pg_get_serial_sequence($1, a.attname) FROM pg_attribute a "
                      "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                      "AND pg_get_serial_sequence($1, a.attname) IS NOT NULL ORDER BY a.attnum",
                      qualified_table)) {
    out.push_back(row[0].as<std::string>());
  }
  return out;
}

bool GrantsInsert(std::string_view privileges) {
  for (absl::string_view part : absl::StrSplit(AV(privileges), ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::StartsWith(part, "INSERT")) return true;
  }
  return false;
}

}  // namespace

std::span<const DaemonGrants> GrantMatrix() { return kMatrix; }

const DaemonGrants* FindDaemonGrants(std::string_view daemon) {
  for (const DaemonGrants& d : kMatrix) {
    if (d.daemon == daemon) return &d;
  }
  return nullptr;
}

absl::StatusOr<std::string> RoleName(std::string_view prefix, std::string_view daemon) {
  if (prefix.size() > 40 || (!prefix.empty() && !IsIdentifier(prefix))) {
    return absl::InvalidArgumentError(
        "the role prefix must be a lowercase identifier (letters a-z, digits, _; not starting with "
        "a digit; at most 40)");
  }
  if (FindDaemonGrants(daemon) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown daemon \"", AV(daemon), "\""));
  }
  std::string name = absl::StrCat(AV(prefix), AV(daemon));
  if (!IsIdentifier(name))
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is not a valid role name"));
  return name;
}

absl::StatusOr<std::map<std::string, std::string>> ParseRolePasswords(std::string_view text) {
  std::map<std::string, std::string> out;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(AV(text), '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    size_t space = line.find_first_of(" \t");
    std::string daemon(line.substr(0, space));
    std::string password(
        space == absl::string_view::npos ? "" : absl::StripAsciiWhitespace(line.substr(space)));
    // Never quote the line: it holds a password.
    if (FindDaemonGrants(daemon) == nullptr) {
      std::vector<std::string> names;
      for (const DaemonGrants& d : kMatrix) names.emplace_back(d.daemon);
      return absl::InvalidArgumentError(absl::StrCat("passwords line ", number,
                                                     ": the first word must be a daemon (",
                                                     absl::StrJoin(names, ", "), ")"));
    }
    if (password.size() < 8) {
      return absl::InvalidArgumentError(absl::StrCat("passwords line ", number,
                                                     ": the password of ", daemon,
                                                     " is missing or shorter than 8 characters"));
    }
    if (password.size() > 1024) {
      return absl::InvalidArgumentError(
          absl::StrCat("passwords line ", number, ": the password of ", daemon, " is too long"));
    }
    if (!out.emplace(daemon, password).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("passwords line ", number, ": ", daemon, " is named twice"));
    }
  }
  return out;
}

absl::StatusOr<std::vector<RoleReport>> ApplyRoles(Pool& pool, const RoleOptions& options) {
  std::vector<std::pair<std::string, std::string>> roles;  // (daemon, role)
  for (const DaemonGrants& d : kMatrix) {
    auto name = RoleName(options.prefix, d.daemon);
    if (!name.ok()) return name.status();
    roles.emplace_back(std::string(d.daemon), *name);
  }
  for (const auto& [daemon, password] : options.passwords) {
    if (FindDaemonGrants(daemon) == nullptr)
      return absl::InvalidArgumentError(absl::StrCat("unknown daemon \"", daemon, "\""));
  }
  // Verifiers first: hashing is slow and must not hold the transaction open.
  std::map<std::string, std::string> verifiers;
  if (options.create) {
    for (const auto& [daemon, password] : options.passwords) {
      auto v = Verifier(password);
      if (!v.ok()) return v.status();
      verifiers[daemon] = *v;
    }
  }
  return pool.Transact([&](pqxx::work& tx) -> absl::StatusOr<std::vector<RoleReport>> {
    std::vector<RoleReport> reports;
    // One at a time with migrations and other grant runs: concurrent GRANTs on one table fail
    // ("tuple concurrently updated").
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    pqxx::result where = tx.exec(
        "SELECT n.nspname, pg_has_role(current_user, c.relowner, 'USAGE'), "
        "  pg_get_userbyid(c.relowner), current_user, current_database(), "
        "  (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = to_regclass('schema_migrations')");
    if (where.empty()) {
      return absl::FailedPreconditionError(
          "the database has no Kite schema yet: run kitectl migrate first");
    }
    const std::string schema = where[0][0].as<std::string>();
    const std::string owner = where[0][2].as<std::string>();
    const std::string user = where[0][3].as<std::string>();
    const std::string database = where[0][4].as<std::string>();
    if (!where[0][1].as<bool>()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the database user ", user, " does not own Kite's tables (", owner,
                       " does): grant and revoke as the owner, the user of global.postgres_url "
                       "that runs kitectl migrate"));
    }
    if (options.create && !where[0][5].as<bool>()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database user ", user,
          " may not create roles: kitectl db roles needs the owner of Kite's tables with ",
          "CREATEROLE (ALTER ROLE ", user, " CREATEROLE, as a superuser) or a superuser"));
    }
    // Every table of the matrix must exist and belong to the owner: a name that does not is a
    // matrix out of step with the migrations (a bug, caught by roles_test).
    std::set<std::string> tables;
    for (const DaemonGrants& d : kMatrix) {
      for (const TableGrant& t : d.tables) tables.emplace(t.table);
    }
    for (const std::string& t : tables) {
      pqxx::result r = tx.exec_params(
          "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c "
          "WHERE c.oid = to_regclass($1)",
          Qualified(tx, schema, t));
      if (r.empty())
        return absl::InternalError(
            absl::StrCat("the grant matrix names table ", t, ", which ", schema, " lacks"));
      if (!r[0][0].as<bool>()) {
        return absl::FailedPreconditionError(
            absl::StrCat("the database user ", user, " does not own table ", schema, ".", t));
      }
    }

    std::vector<std::pair<std::string, std::string>> handled;  // (daemon, role) this run applies to
    for (const auto& entry : roles) {
      if (options.create || LoadRole(tx, entry.second).exists) handled.push_back(entry);
    }
    if (handled.empty()) return reports;  // migrate without roles: nothing to do

    // PUBLIC: nothing on Kite's tables, sequences and functions (extension members left
    // alone), no EXECUTE on the owner's future functions, no CREATE in the schema.
    const std::string q_schema = tx.quote_name(schema);
    tx.exec0(absl::StrCat("REVOKE ALL ON ALL TABLES IN SCHEMA ", q_schema, " FROM PUBLIC"));
    tx.exec0(absl::StrCat("REVOKE ALL ON ALL SEQUENCES IN SCHEMA ", q_schema, " FROM PUBLIC"));
    pqxx::result routines = tx.exec_params(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = $1 AND pg_has_role(current_user, p.proowner, 'USAGE') "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d "
        "  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')",
        schema);
    for (const auto& f : routines)
      tx.exec0(absl::StrCat("REVOKE ALL ON ROUTINE ", f[0].as<std::string>(), " FROM PUBLIC"));
    tx.exec0("ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON ROUTINES FROM PUBLIC");
    tx.exec0(absl::StrCat("REVOKE CREATE ON SCHEMA ", q_schema, " FROM PUBLIC"));

    for (const auto& [daemon, role] : handled) {
      RoleReport report;
      report.daemon = daemon;
      report.role = role;
      RoleRow row = LoadRole(tx, role);
      const std::string q_role = tx.quote_name(role);
      auto verifier = verifiers.find(daemon);
      if (!row.exists) {
        tx.exec0(absl::StrCat("CREATE ROLE ", q_role,
                              " NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT ",
                              verifier != verifiers.end()
                                  ? absl::StrCat("LOGIN PASSWORD ", Literal(tx, verifier->second))
                                  : std::string("NOLOGIN")));
        report.created = true;
        report.password_set = verifier != verifiers.end();
      } else if (verifier != verifiers.end()) {
        tx.exec0(
            absl::StrCat("ALTER ROLE ", q_role, " LOGIN PASSWORD ", Literal(tx, verifier->second)));
        report.password_set = true;
      }
      // Everything away, then exactly the matrix (a table-level REVOKE takes the column
      // privileges with it).
      tx.exec0(absl::StrCat("REVOKE ALL ON ALL TABLES IN SCHEMA ", q_schema, " FROM ", q_role));
      tx.exec0(absl::StrCat("REVOKE ALL ON ALL SEQUENCES IN SCHEMA ", q_schema, " FROM ", q_role));
      tx.exec0(absl::StrCat("REVOKE ALL ON ALL ROUTINES IN SCHEMA ", q_schema, " FROM ", q_role));
      tx.exec0(absl::StrCat("REVOKE ALL ON SCHEMA ", q_schema, " FROM ", q_role));
      tx.exec0(absl::StrCat("GRANT USAGE ON SCHEMA ", q_schema, " TO ", q_role));
      tx.exec0(absl::StrCat("GRANT CONNECT ON DATABASE ", tx.quote_name(database), " TO ", q_role));
      const DaemonGrants& grants = *FindDaemonGrants(daemon);
      std::set<std::string> sequences;
      for (const TableGrant& t : grants.tables) {
        std::string table = Qualified(tx, schema, t.table);
        tx.exec0(absl::StrCat("GRANT ", AV(t.privileges), " ON TABLE ", table, " TO ", q_role));
        if (GrantsInsert(t.privileges)) {
          for (std::string& s : SequencesOf(tx, table)) sequences.insert(std::move(s));
        }
      }
      for (const std::string& s : sequences)
        tx.exec0(absl::StrCat("GRANT USAGE ON SEQUENCE ", s, " TO ", q_role));
      for (std::string_view f : grants.functions) {
        tx.exec0(absl::StrCat("GRANT EXECUTE ON FUNCTION ", q_schema, ".", AV(f), " TO ", q_role));
      }
      row = LoadRole(tx, role);
      report.login = row.login;
      report.warnings = row.warnings;
      Describe(tx, schema, report);
      reports.push_back(std::move(report));
    }
    return reports;
  });
}

std::string DescribeRole(const RoleReport& r) {
  std::vector<std::string> state{r.login ? "LOGIN" : "NOLOGIN"};
  if (r.created) state.push_back("created");
  if (r.password_set) state.push_back("password set");
  for (const std::string& w : r.warnings) state.push_back(absl::StrCat("WARNING: ", w));
  std::vector<std::string> tables;
  for (const auto& [table, privileges] : r.tables)
    tables.push_back(absl::StrCat(table, " ", privileges));
  std::string out = absl::StrCat(r.role, " (", absl::StrJoin(state, ", "),
                                 "): ", tables.empty() ? "no tables" : absl::StrJoin(tables, ", "));
  if (!r.sequences.empty())
    absl::StrAppend(&out, "; sequences: ", absl::StrJoin(r.sequences, ", "));
  if (!r.functions.empty())
    absl::StrAppend(&out, "; functions: ", absl::StrJoin(r.functions, ", "));
  return out;
}

}  // namespace kite::store
