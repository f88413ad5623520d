// migrations.h — Kite's PostgreSQL schema as numbered migrations embedded in the binary.
//
// services/lib/store/migrations/NNNN_name.sql are compiled into the library (with the SHA-256
// of each file). Migrate() brings a database up to LatestVersion():
//  - each pending migration runs in its own transaction together with its row in
//    schema_migrations(version, name, applied_at, checksum), so a failed migration leaves
//    the schema at the previous version, never half-applied;
//  - the whole run holds a PostgreSQL session advisory lock, so two hosts (or threads)
//    migrating at once serialise: the second finds nothing to do;
//  - it refuses (FailedPrecondition, with the versions named) when the database is newer
//    than this binary, or when an applied migration's checksum differs from the embedded
//    file: released migrations are never edited, a change is a new migration.
// Migrations must not use statements that cannot run inside a transaction block (CREATE
// INDEX CONCURRENTLY, ALTER TYPE ... ADD VALUE before PostgreSQL 12, VACUUM).
#ifndef KITE_SERVICES_LIB_STORE_MIGRATIONS_H_
#define KITE_SERVICES_LIB_STORE_MIGRATIONS_H_

#include <functional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kite::store {

class Pool;

struct Migration {
  int version;                // 1, 2, 3, ... (the NNNN of the file name)
  std::string_view name;      // "core" for 0001_core.sql
  std::string_view checksum;  // lowercase hex SHA-256 of the file (CRLF normalised to LF)
  std::string_view sql;
};

// The migrations built into this binary, in version order.
std::span<const Migration> EmbeddedMigrations();

// Highest version built into this binary.
int LatestVersion();

using MigrationProgress = std::function<void(int version, std::string_view name)>;

// Applies the pending embedded migrations in order. progress (if set) is called before each
// one is applied. OK when there was nothing to do.
absl::Status Migrate(Pool& pool, MigrationProgress progress = {});

// The same with an explicit list (version order, versions 1..N): for tests and tools.
absl::Status Migrate(Pool& pool, std::span<const Migration> migrations, MigrationProgress progress = {});

// Highest applied version; 0 for a database that was never migrated.
absl::StatusOr<int> SchemaVersion(Pool& pool);

// The advisory lock key Migrate holds (pg_advisory_lock), for operators' diagnostics.
inline constexpr long long kMigrationLockKey = 0x6b697465'6d696772LL;  // "kitemigr"

namespace internal {
extern const Migration kEmbeddedMigrations[];
extern const int kEmbeddedMigrationCount;
}  // namespace internal

}  // namespace kite::store

#endif  // KITE_SERVICES_LIB_STORE_MIGRATIONS_H_
