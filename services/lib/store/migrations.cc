#include "lib/store/migrations.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/store/pool.h"

namespace kite::store {
namespace {

std::string Label(int version, std::string_view name) { return absl::StrFormat("%04d_%s", version, std::string(name)); }

struct Applied {
  std::string name;
  std::string checksum;
};

absl::Status CheckList(std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return absl::InternalError(absl::StrCat("migration list is not numbered 1..N: position ", i + 1, " has version ",
                                              migrations[i].version));
    }
  }
  return absl::OkStatus();
}

// Everything Migrate does once it holds the advisory lock. Throws pqxx exceptions.
absl::Status MigrateLocked(pqxx::connection& connection, std::span<const Migration> migrations,
                           const MigrationProgress& progress) {
  {
    pqxx::work txn(connection);
    txn.exec0(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "  version integer PRIMARY KEY,"
        "  name text NOT NULL,"
        "  applied_at timestamptz NOT NULL DEFAULT now(),"
        "  checksum text NOT NULL)");
    txn.commit();
  }
  std::map<int, Applied> applied;
  {
    pqxx::read_transaction txn(connection);
    for (const auto& row : txn.exec("SELECT version, name, checksum FROM schema_migrations ORDER BY version")) {
      applied[row[0].as<int>()] = Applied{row[1].as<std::string>(), row[2].as<std::string>()};
    }
  }
  int latest = static_cast<int>(migrations.size());
  if (!applied.empty() && applied.rbegin()->first > latest) {
    const auto& [version, row] = *applied.rbegin();
    return absl::FailedPreconditionError(absl::StrCat(
        "the database schema is at version ", Label(version, row.name), " but this binary knows migrations only up to ",
        latest == 0 ? std::string("none") : Label(latest, migrations.back().name),
        "; run a newer Kite (or restore a matching backup), never an older one against this database"));
  }
  for (const auto& [version, row] : applied) {
    const Migration& known = migrations[version - 1];
    if (row.checksum != known.checksum) {
      return absl::FailedPreconditionError(absl::StrCat(
          "migration ", Label(version, row.name), " was applied with checksum ", row.checksum,
          " but this binary's copy (", Label(known.version, known.name), ") has checksum ", std::string(known.checksum),
          ": a released migration was edited; put the change in a new migration instead"));
    }
  }
  for (const Migration& migration : migrations) {
    if (applied.count(migration.version) != 0) continue;
    if (progress) progress(migration.version, migration.name);
    try {
      pqxx::work txn(connection);
      txn.exec(std::string(migration.sql));
      txn.exec_params0("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                       migration.version, std::string(migration.name), std::string(migration.checksum));
      txn.commit();
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const std::exception& e) {
      absl::Status status = StatusFromPqxx(e);
      return absl::Status(status.code(), absl::StrCat("migration ", Label(migration.version, migration.name),
                                                      " failed: ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::span<const Migration> EmbeddedMigrations() {
  return {internal::kEmbeddedMigrations, static_cast<size_t>(internal::kEmbeddedMigrationCount)};
}

int LatestVersion() { return internal::kEmbeddedMigrationCount; }

absl::Status Migrate(Pool& pool, MigrationProgress progress) {
  return Migrate(pool, EmbeddedMigrations(), std::move(progress));
}

absl::Status Migrate(Pool& pool, std::span<const Migration> migrations, MigrationProgress progress) {
  if (absl::Status status = CheckList(migrations); !status.ok()) return status;
  absl::StatusOr<Pool::Lease> lease = pool.Acquire();
  if (!lease.ok()) return lease.status();
  pqxx::connection& connection = lease->connection();
  bool locked = false;
  absl::Status result;
  try {
    {
      // Session lock: held across the per-migration transactions, released by the server
      // if this process dies.
      pqxx::nontransaction txn(connection);
      txn.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
      locked = true;
    }
    result = MigrateLocked(connection, migrations, progress);
    pqxx::nontransaction txn(connection);
    txn.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
    locked = false;
  } catch (const std::exception& e) {
    internal::ErrorInfo info = internal::ClassifyException(e, pool.server(), "");
    if (info.connection_broken || locked) {
      // Closing the session is the sure way to release the advisory lock.
      lease->MarkBroken();
    }
    return absl::Status(info.status.code(), absl::StrCat("migrating the schema: ", info.status.message()));
  }
  return result;
}

absl::StatusOr<int> SchemaVersion(Pool& pool) {
  return pool.Transact([](pqxx::work& txn) {
    if (txn.exec1("SELECT to_regclass('schema_migrations') IS NULL")[0].as<bool>()) return 0;
    return txn.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
  });
}

}  // namespace kite::store
