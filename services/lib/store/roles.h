// roles.h — least privilege in PostgreSQL: one role per daemon (kite_auth, kite_mta, ...),
// granted exactly what the SQL that daemon runs needs, and nothing through PUBLIC.
//
// The grant matrix (GrantMatrix(), roles.cc) is the one place that says which daemon may do
// what to which table. It was derived from the SQL each daemon actually runs: its own code
// under services/<daemon>/ and the functions of the services/lib stores it calls (linking a
// library is not enough: every daemon linking lib/directory links account creation, which
// makes mailboxes through lib/mailstore's Filer, but only kitectl calls it). A change to a
// daemon's SQL or a new migration that a daemon uses needs a line here;
// tests/lib/store/roles_test.cc and the e2e suite (which runs every daemon as its role and
// fails on any "permission denied" in PostgreSQL's log) catch what is missed. docs/operations.md "Database roles and Redis users" is the operator's view.
//
// ApplyRoles runs as the owner of Kite's tables (global.postgres_url, the role that runs the
// migrations), in one transaction under the migration lock, so it is atomic and idempotent:
//  - PUBLIC loses what would defeat the matrix: every privilege on the schema's tables,
//    sequences and functions (PostgreSQL grants EXECUTE on new functions to PUBLIC by
//    default: that default is revoked for the owner's future functions too) and CREATE on
//    the schema (already so in PostgreSQL 15, not in older databases upgraded);
//  - each daemon role first loses every privilege on the schema and its objects, then gets
//    CONNECT on the database, USAGE on the schema, the table privileges of its matrix line
//    (whole tables or listed columns), USAGE on the sequences behind the tables it inserts
//    into (bigserial ids), and EXECUTE on the schema functions it calls (none today: the one
//    function, kite_claim_address, is a trigger and needs no EXECUTE by whoever fires it).
// Foreign-key checks and ON DELETE CASCADE run as the table owner, so a role needs no
// privilege on a table only reached through them.
// Passwords (RoleOptions::passwords) are sent as SCRAM-SHA-256 verifiers, never in clear, so not
// even a server that logs DDL statements records them; nothing here logs or returns a password.
// Untrusted input: none (operator files and configuration), but the passwords file is parsed
// with care: a bad line names its line number, never its content.
#ifndef KITE_SERVICES_LIB_STORE_ROLES_H_
#define KITE_SERVICES_LIB_STORE_ROLES_H_

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kite::store {

class Pool;

inline constexpr std::string_view kDefaultRolePrefix = "kite_";

// One cell of the matrix: the privileges of one daemon on one table, in GRANT syntax
// ("SELECT, INSERT, UPDATE" or with columns: "SELECT (id), INSERT").
struct TableGrant {
  std::string_view table;
  std::string_view privileges;
};

struct DaemonGrants {
  std::string_view daemon;  // configuration section and role suffix: "imap" -> kite_imap
  std::span<const TableGrant> tables;
  std::span<const std::string_view> functions;  // EXECUTE, by signature ("f(bigint)")
};

// Every daemon's line, in the launcher's order (auth mta submission delivery imap pop3
// caldav freebusy).
std::span<const DaemonGrants> GrantMatrix();
const DaemonGrants* FindDaemonGrants(std::string_view daemon);

// The columns of accounts a daemon other than kite-auth may read: all but the password
// hash and the SCRAM secret (kAccountSecretColumns).
inline constexpr std::string_view kAccountPublicColumns[] = {
    "id",           "domain_id",   "local_part", "address",
    "display_name", "quota_bytes", "enabled",    "created_at"};
inline constexpr std::string_view kAccountSecretColumns[] = {"password_hash", "scram_sha256"};

// "kite_" + "imap". The prefix must be a lowercase identifier ([a-z_][a-z0-9_]*, at most 40
// characters): InvalidArgument otherwise.
absl::StatusOr<std::string> RoleName(std::string_view prefix, std::string_view daemon);

// Parses "<daemon> <password>" lines (blank lines and # comments ignored; the password is
// the rest of the line, trimmed). Unknown daemons, a daemon named twice, and passwords
// shorter than 8 characters are refused with the line number.
absl::StatusOr<std::map<std::string, std::string>> ParseRolePasswords(std::string_view text);

struct RoleOptions {
  std::string prefix = std::string(kDefaultRolePrefix);
  // true (kitectl db roles): create every missing role (LOGIN with a password when
  // `passwords` has one, else NOLOGIN) and set the password of those in `passwords`; needs
  // CREATEROLE. false (kitectl migrate): only re-apply the grants of the roles that exist.
  bool create = false;
  std::map<std::string, std::string> passwords;  // daemon -> password
};

struct RoleReport {
  std::string daemon;
  std::string role;
  bool created = false;
  bool password_set = false;  // set or changed by this run
  bool login = false;
  // Attributes that defeat the grants (superuser, bypassrls, createrole, createdb, member
  // of other roles), as the role has them now; empty when none.
  std::vector<std::string> warnings;
  // What the role can do now, from the catalog (effective privileges, PUBLIC included), in
  // psql's \dp letters: "accounts r(8/10 columns)", "mailboxes arwd", sequences "U".
  std::vector<std::pair<std::string, std::string>> tables;
  std::vector<std::string> sequences;
  std::vector<std::string> functions;
};

// Applies the matrix (see the top of this file). FailedPrecondition with a clear message
// when the database was never migrated, when the connected user does not own Kite's tables,
// or (create) when it may not create roles. Returns one report per role handled (with
// create = false: per role that exists).
absl::StatusOr<std::vector<RoleReport>> ApplyRoles(Pool& pool, const RoleOptions& options);

// "kite_imap (LOGIN, password set): accounts r(8/10 columns), mailboxes arwd, ...;
// sequences: mailboxes_id_seq U, ...": one line, for kitectl.
std::string DescribeRole(const RoleReport& report);

}  // namespace kite::store

#endif  // KITE_SERVICES_LIB_STORE_ROLES_H_
