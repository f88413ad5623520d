// pool.h — a thread-safe pool of PostgreSQL connections (libpqxx 6) and the one way the rest
// of Kite runs SQL: Pool::Transact.
//
// Promises:
//  - No libpqxx (or other) exception leaves this module: Transact turns every one into an
//    absl::Status (see StatusFromPqxx for the mapping by SQLSTATE).
//  - A broken connection is never handed out twice: it is dropped, the other idle
//    connections are dropped with it (a server restart kills them all), and the next
//    acquire opens a fresh one. A PostgreSQL restart therefore costs callers at most one
//    retried transaction, never a restart of the daemon.
//  - Error messages name the server as host:port and never contain the password.
// Input is trusted configuration (the URL) and SQL written by Kite; values from the network
// reach PostgreSQL only as query parameters (exec_params), never spliced into SQL text.
#ifndef KITE_SERVICES_LIB_STORE_POOL_H_
#define KITE_SERVICES_LIB_STORE_POOL_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace kite::store {

struct PgOptions {
  // libpq URL (postgresql://user:pass@host:port/db?sslmode=...) or key=value conninfo.
  std::string url;
  // Most connections open at once; Acquire waits (up to acquire_timeout) when all are busy.
  int pool_size = 4;
  // Passed to libpq as connect_timeout (whole seconds, rounded up).
  std::chrono::milliseconds connect_timeout{5000};
  // How long Acquire waits for a busy pool before failing with ResourceExhausted.
  std::chrono::milliseconds acquire_timeout{30000};
};

namespace internal {

// What a caught exception means for the caller and for the connection it happened on.
struct ErrorInfo {
  absl::Status status;
  bool connection_broken = false;  // drop this connection (and the idle ones)
  bool retry = false;              // safe to run the transaction again
};

// Classifies an exception; the password (if any) is scrubbed from the message.
ErrorInfo ClassifyException(const std::exception& e, const std::string& server, const std::string& password);
// Classifies the exception being handled (call only inside a catch block).
ErrorInfo ClassifyCurrentException(const std::string& server, const std::string& password);

// Transact's result type: StatusOr<R>, or Status for fn returning void or absl::Status;
// StatusOr<T> stays StatusOr<T> (a non-OK result from fn rolls the transaction back).
template <typename R>
struct TransactResult {
  using type = absl::StatusOr<R>;
};
template <>
struct TransactResult<void> {
  using type = absl::Status;
};
template <>
struct TransactResult<absl::Status> {
  using type = absl::Status;
};
template <typename T>
struct TransactResult<absl::StatusOr<T>> {
  using type = absl::StatusOr<T>;
};

}  // namespace internal

// Maps a libpqxx exception to a Status, for store code that drives pqxx directly through a
// Lease:  unique_violation (23505) -> AlreadyExists; foreign key (23503) -> FailedPrecondition;
// not null / check (23502, 23514) -> InvalidArgument; serialization failure / deadlock
// (40001, 40P01) -> Aborted; broken connection, admin shutdown (57P01..3, 08xxx) ->
// Unavailable; commit outcome unknown (in_doubt_error) -> Unavailable (never retried);
// query cancelled / statement timeout (57014) -> DeadlineExceeded; insufficient privilege
// (42501, a role without the grant) -> PermissionDenied; anything else -> Internal.
absl::Status StatusFromPqxx(const std::exception& e);

class Pool {
 public:
  // One borrowed connection, returned to the pool when the Lease is destroyed. For store
  // code that needs a session (advisory locks, migrations); everything else uses Transact.
  // The holder must catch pqxx exceptions itself and call MarkBroken() when the connection
  // failed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    pqxx::connection& connection() { return *connection_; }
    // Close this connection instead of reusing it, and drop the idle ones too.
    void MarkBroken() { broken_ = true; }

   private:
    friend class Pool;
    Lease(Pool* pool, std::unique_ptr<pqxx::connection> connection, uint64_t generation)
        : pool_(pool), connection_(std::move(connection)), generation_(generation) {}
    void Release();

    Pool* pool_ = nullptr;
    std::unique_ptr<pqxx::connection> connection_;
    uint64_t generation_ = 0;
    bool broken_ = false;
  };

  // Validates the options and opens one connection eagerly, so a wrong URL or an unreachable
  // server is reported at startup: Unavailable("cannot connect to PostgreSQL at host:port:
  // ...") or InvalidArgument for a malformed URL. The password never appears in messages.
  static absl::StatusOr<std::unique_ptr<Pool>> Create(PgOptions options);

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool();

  // Borrows a connection: an idle one, a new one while fewer than pool_size are open, or the
  // next one released (waiting up to acquire_timeout, then ResourceExhausted).
  absl::StatusOr<Lease> Acquire();

  // Runs fn(pqxx::work&) in a transaction (READ COMMITTED unless fn says SET TRANSACTION)
  // and commits it. Returns StatusOr<R> for R fn(pqxx::work&), Status for void; if fn returns
  // absl::Status or absl::StatusOr<T>, a non-OK value rolls back and is returned as is.
  // Errors are mapped as StatusFromPqxx describes. Retries, which run fn again from the
  // start (so fn must have no effects outside the transaction):
  //  - serialization failure / deadlock (Aborted): up to 3 more times;
  //  - a broken connection (Unavailable): once, on a freshly opened connection; never when
  //    the connection broke during COMMIT (outcome unknown).
  template <typename F>
  auto Transact(F&& fn) -> typename internal::TransactResult<std::invoke_result_t<F, pqxx::work&>>::type {
    return Run<pqxx::work>(std::forward<F>(fn));
  }

  // Runs fn(pqxx::nontransaction&): each statement in autocommit, no BEGIN and no COMMIT, so a
  // read of one statement costs one round trip. For reads only: fn must be one statement, or
  // statements that need no common snapshot (a single statement always reads one snapshot,
  // however many tables it joins). Same results, errors and retries as Transact (a broken
  // connection is retried once: nothing was written).
  template <typename F>
  auto Read(F&& fn) -> typename internal::TransactResult<std::invoke_result_t<F, pqxx::nontransaction&>>::type {
    return Run<pqxx::nontransaction>(std::forward<F>(fn));
  }

  // Runs fn(pqxx::nontransaction&) for ONE statement that writes, in autocommit: the
  // statement is its own transaction (atomic, one round trip, no BEGIN/COMMIT). For changes
  // a single statement can make whole (data-modifying CTEs). Same results and errors as
  // Transact; a serialization failure or deadlock is retried (nothing was written), a broken
  // connection is not (the statement may have committed: Unavailable).
  template <typename F>
  auto WriteStatement(F&& fn)
      -> typename internal::TransactResult<std::invoke_result_t<F, pqxx::nontransaction&>>::type {
    return Run<pqxx::nontransaction, /*retry_broken=*/false>(std::forward<F>(fn));
  }

  const PgOptions& options() const { return options_; }
  // host:port, for messages.
  const std::string& server() const { return server_; }
  // Connections currently open (idle + leased). For tests and metrics.
  int open_connections() const;

  static constexpr int kMaxSerializationRetries = 3;

 private:
  Pool(PgOptions options, std::string conninfo, std::string server, std::string password);
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect();
  template <typename Txn, bool retry_broken = true, typename F>
  auto Run(F&& fn) -> typename internal::TransactResult<std::invoke_result_t<F, Txn&>>::type;
  void Return(std::unique_ptr<pqxx::connection> connection, uint64_t generation, bool broken);

  const PgOptions options_;
  const std::string conninfo_;  // options_.url plus connect_timeout
  const std::string server_;
  const std::string password_;  // only to scrub it from libpq messages

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  // Bumped when a connection breaks: leases of an older generation are closed on return.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

// A statement prepared once per connection under `name` and run with these parameters.
// libpqxx 6 registers the definition (a no-op when the connection already has it) and
// prepares it on the server at its first use there, so every later run skips parsing and
// planning. `name` must be unique per SQL text in the program (a second text under the same
// name throws pqxx::argument_error, mapped to Internal).
template <typename... Args>
pqxx::result Prepared(pqxx::transaction_base& tx, const char* name, const char* sql, Args&&... args) {
  tx.conn().prepare(name, sql);
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

template <typename Txn, bool retry_broken, typename F>
auto Pool::Run(F&& fn) -> typename internal::TransactResult<std::invoke_result_t<F, Txn&>>::type {
  using R = std::invoke_result_t<F, Txn&>;
  int serialization_retries = 0;
  bool reconnected = false;
  while (true) {
    absl::StatusOr<Lease> lease = Acquire();
    if (!lease.ok()) {
      // Acquire already opened a fresh connection; nothing more to retry here.
      return lease.status();
    }
    internal::ErrorInfo error;
    try {
      Txn txn(lease->connection());
      if constexpr (std::is_void_v<R>) {
        std::invoke(fn, txn);
        txn.commit();
        return absl::OkStatus();
      } else if constexpr (std::is_same_v<R, absl::Status>) {
        absl::Status status = std::invoke(fn, txn);
        if (!status.ok()) return status;  // txn's destructor rolls back
        txn.commit();
        return status;
      } else {
        R result = std::invoke(fn, txn);
        if constexpr (!std::is_same_v<typename internal::TransactResult<R>::type, absl::StatusOr<R>>) {
          if (!result.ok()) return result;  // StatusOr<T> from fn: roll back
        }
        txn.commit();
        return result;
      }
    } catch (...) {
      error = internal::ClassifyCurrentException(server_, password_);
    }
    if (error.connection_broken) lease->MarkBroken();
    if (!error.retry) return error.status;
    if (absl::IsAborted(error.status)) {
      if (++serialization_retries > kMaxSerializationRetries) return error.status;
    } else if (absl::IsUnavailable(error.status)) {
      if (reconnected || !retry_broken) return error.status;
      reconnected = true;
    } else {
      return error.status;
    }
  }
}

}  // namespace kite::store

#endif  // KITE_SERVICES_LIB_STORE_POOL_H_
