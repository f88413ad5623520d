#include "lib/store/pool.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <exception>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/store/commit.h"
#include "lib/store/url.h"

#if defined(__SANITIZE_ADDRESS__)
// LeakSanitizer's built-in suppressions for this program (the sanitizer build only). One
// entry, for a leak inside libpqxx 6.4 (Debian 12's) that no caller can avoid: when a
// statement fails because the connection just broke (server restart or crash, backend
// terminated mid-transaction), connection_base::make_result calls encoding_id() before it
// owns libpq's error PGresult, encoding_id() throws broken_connection, and the PGresult (with
// its blocks, which LeakSanitizer then counts as suppressed too) is never PQclear'ed. Fixed
// upstream in libpqxx 7.7 (https://github.com/jtv/libpqxx/pull/500). Kite never calls libpq's
// exec functions itself, so every PGresult comes from libpqxx, which owns the others. Pool
// keeps this rare: idle connections are checked before use (IdleConnectionUsable below), so
// only a connection that breaks in the middle of a transaction gets here. Tested by
// store_test "A connection that breaks mid-transaction is retried once on a fresh one".
extern "C" const char* __lsan_default_suppressions() { return "leak:PQmakeEmptyPGresult\n"; }
#endif

namespace kite::store {
namespace {

// The payload that marks an in_doubt_error's Status (IsCommitInDoubt).
constexpr char kCommitInDoubt[] = "kite.store/commit-in-doubt";

// libpq messages are multi-line ("...\nHINT: ..."); one line reads better in logs.
std::string OneLine(absl::string_view message, absl::string_view password) {
  std::string s = absl::StrReplaceAll(absl::StripAsciiWhitespace(message), {{"\n", " "}, {"\t", " "}});
  if (!password.empty()) absl::StrReplaceAll({{password, "***"}}, &s);
  return s;
}

std::string PasswordOf(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (error != nullptr) PQfreemem(error);
  std::string password;
  if (options == nullptr) return password;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && std::string_view(o->keyword) == "password") password = o->val;
  }
  PQconninfoFree(options);
  return password;
}

bool IsUrl(absl::string_view url) {
  return absl::StartsWithIgnoreCase(url, "postgresql://") || absl::StartsWithIgnoreCase(url, "postgres://");
}

// Appends libpq parameters that Kite always sets.
std::string WithDefaults(const PgOptions& options) {
  int64_t seconds = std::max<int64_t>(1, (options.connect_timeout.count() + 999) / 1000);
  std::string timeout = absl::StrCat(seconds);
  if (IsUrl(options.url)) {
    char separator = options.url.find('?') == std::string::npos ? '?' : '&';
    return absl::StrCat(options.url, std::string(1, separator), "connect_timeout=", timeout,
                        "&fallback_application_name=kite");
  }
  return absl::StrCat(options.url, " connect_timeout=", timeout, " fallback_application_name=kite");
}

absl::Status WithSqlState(absl::StatusCode code, absl::string_view what, const pqxx::sql_error& e,
                          absl::string_view password) {
  return absl::Status(code, absl::StrCat(what, " [SQLSTATE ", e.sqlstate(), "]: ", OneLine(e.what(), password)));
}

// An idle connection is usable when it is open and its socket has nothing to read: the
// server sends nothing to an idle session of ours (no LISTEN), so readable means it said
// goodbye (a restart or crash: FATAL 57P01 and/or EOF) or something we cannot account for.
// Checking here, before BEGIN, matters beyond saving a retry: libpqxx 6.4 leaks the error
// PGresult when a statement fails on a connection that just broke (connection_base::
// make_result throws from encoding_id() before the result is owned; fixed upstream in
// libpqxx 7.7, jtv/libpqxx#500), and after a restart every pooled connection would.
bool IdleConnectionUsable(const pqxx::connection& connection) {
  if (!connection.is_open()) return false;
  int fd = connection.sock();
  if (fd < 0) return false;
  pollfd p{};
  p.fd = fd;
  p.events = POLLIN;
  int n;
  do {
    n = ::poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  return n == 0;
}

}  // namespace

namespace internal {

ErrorInfo ClassifyException(const std::exception& ex, const std::string& server, const std::string& password) {
  ErrorInfo info;
  std::string message = OneLine(ex.what(), password);
  if (dynamic_cast<const pqxx::in_doubt_error*>(&ex) != nullptr) {
    info.status = absl::UnavailableError(absl::StrCat(
        "connection to PostgreSQL at ", server, " broke during COMMIT; the outcome is unknown: ", message));
    info.status.SetPayload(kCommitInDoubt, absl::Cord("1"));
    info.connection_broken = true;
  } else if (dynamic_cast<const pqxx::broken_connection*>(&ex) != nullptr) {
    info.status = absl::UnavailableError(absl::StrCat("lost connection to PostgreSQL at ", server, ": ", message));
    info.connection_broken = true;
    info.retry = true;
  } else if (const auto* e = dynamic_cast<const pqxx::sql_error*>(&ex); e != nullptr) {
    const std::string& state = e->sqlstate();
    if (state == "23505") {
      info.status = WithSqlState(absl::StatusCode::kAlreadyExists, "unique violation", *e, password);
    } else if (state == "23503") {
      info.status = WithSqlState(absl::StatusCode::kFailedPrecondition, "foreign key violation", *e, password);
    } else if (state == "23502" || state == "23514" || state == "22001" || state == "22P02") {
      info.status = WithSqlState(absl::StatusCode::kInvalidArgument, "invalid value", *e, password);
    } else if (state == "40001" || state == "40P01") {
      info.status = WithSqlState(absl::StatusCode::kAborted, "transaction conflict", *e, password);
      info.retry = true;
    } else if (state == "42501" || dynamic_cast<const pqxx::insufficient_privilege*>(e) != nullptr) {
      // A role without the grant (least privilege, roles.h): a bug in the grant matrix or a
      // daemon connected with the wrong role; PostgreSQL's message names the table.
      // (libpqxx 6.4 throws insufficient_privilege with an empty SQLSTATE.)
      info.status = WithSqlState(absl::StatusCode::kPermissionDenied, "permission denied", *e, password);
    } else if (state == "57014") {
      info.status = WithSqlState(absl::StatusCode::kDeadlineExceeded, "query cancelled", *e, password);
    } else if (absl::StartsWith(state, "08") || state == "57P01" || state == "57P02" || state == "57P03") {
      info.status = WithSqlState(absl::StatusCode::kUnavailable,
                                 absl::StrCat("PostgreSQL at ", server, " unavailable"), *e, password);
      info.connection_broken = true;
      info.retry = true;
    } else if (state == "53300") {
      info.status = WithSqlState(absl::StatusCode::kResourceExhausted, "too many connections", *e, password);
      info.connection_broken = true;
    } else {
      info.status = WithSqlState(absl::StatusCode::kInternal, "SQL error", *e, password);
    }
  } else if (dynamic_cast<const pqxx::transaction_rollback*>(&ex) != nullptr) {
    // A rollback without an SQLSTATE we could read: treat it as a conflict.
    info.status = absl::AbortedError(absl::StrCat("transaction rolled back: ", message));
    info.retry = true;
  } else if (dynamic_cast<const pqxx::unexpected_rows*>(&ex) != nullptr) {
    info.status = absl::NotFoundError(absl::StrCat("unexpected row count: ", message));
  } else if (dynamic_cast<const pqxx::conversion_error*>(&ex) != nullptr) {
    info.status = absl::InternalError(absl::StrCat("cannot convert a column: ", message));
  } else if (dynamic_cast<const pqxx::usage_error*>(&ex) != nullptr) {
    info.status = absl::InternalError(absl::StrCat("libpqxx usage error: ", message));
  } else {
    info.status = absl::InternalError(absl::StrCat("exception in transaction: ", message));
  }
  return info;
}

ErrorInfo ClassifyCurrentException(const std::string& server, const std::string& password) {
  try {
    throw;
  } catch (const std::exception& e) {
    return ClassifyException(e, server, password);
  } catch (...) {
    ErrorInfo info;
    info.status = absl::UnknownError("non-standard exception in transaction");
    return info;
  }
}

}  // namespace internal

absl::Status StatusFromPqxx(const std::exception& e) {
  return internal::ClassifyException(e, "(server)", std::string()).status;
}

bool IsCommitInDoubt(const absl::Status& status) {
  return absl::IsUnavailable(status) && status.GetPayload(kCommitInDoubt).has_value();
}

absl::StatusOr<bool> TransactionCommitted(Pool& pool, int64_t xid, std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (true) {
    // NULL: too old to tell (past wraparound), which no caller waiting on a COMMIT can meet.
    auto state = pool.Transact([xid](pqxx::work& tx) -> std::string {
      pqxx::row row = tx.exec_params1("SELECT txid_status($1)", xid);
      return row[0].is_null() ? std::string("unknown") : row[0].as<std::string>();
    });
    absl::Status why;
    if (state.ok()) {
      if (*state == "committed") return true;
      if (*state == "aborted") return false;
      // "in progress": the server is still finishing the COMMIT the connection lost.
      why = absl::UnavailableError(absl::StrCat("transaction ", xid, " is ", *state));
      if (*state == "unknown") return why;
    } else {
      why = state.status();
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::UnavailableError(absl::StrCat("outcome of transaction ", xid, " still unknown after ",
                                                 absl::FormatDuration(absl::FromChrono(patience)), ": ",
                                                 why.message()));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

Pool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      connection_(std::move(other.connection_)),
      generation_(other.generation_),
      broken_(other.broken_) {}

Pool::Lease& Pool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::exchange(other.pool_, nullptr);
    connection_ = std::move(other.connection_);
    generation_ = other.generation_;
    broken_ = other.broken_;
  }
  return *this;
}

Pool::Lease::~Lease() { Release(); }

void Pool::Lease::Release() {
  if (pool_ != nullptr && connection_ != nullptr) {
    pool_->Return(std::move(connection_), generation_, broken_);
  }
  pool_ = nullptr;
}

Pool::Pool(PgOptions options, std::string conninfo, std::string server, std::string password)
    : options_(std::move(options)),
      conninfo_(std::move(conninfo)),
      server_(std::move(server)),
      password_(std::move(password)) {}

Pool::~Pool() {
  absl::MutexLock lock(&mu_);
  idle_.clear();
}

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(PgOptions options) {
  if (options.url.empty()) return absl::InvalidArgumentError("PostgreSQL URL is empty");
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("PostgreSQL pool_size must be at least 1, not ", options.pool_size));
  }
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options.url.c_str(), &error);
  if (parsed == nullptr) {
    std::string why = error != nullptr ? OneLine(error, "") : "cannot parse";
    // libpq quotes the whole URI in its message, password included.
    absl::StrReplaceAll({{options.url, RedactUrl(options.url)}}, &why);
    if (error != nullptr) PQfreemem(error);
    return absl::InvalidArgumentError(absl::StrCat("invalid PostgreSQL URL ", RedactUrl(options.url), ": ", why));
  }
  PQconninfoFree(parsed);
  std::string conninfo = WithDefaults(options);
  std::string server = ServerAddress(options.url);
  std::string password = PasswordOf(options.url);
  std::unique_ptr<Pool> pool(new Pool(std::move(options), std::move(conninfo), std::move(server), std::move(password)));
  absl::StatusOr<Lease> first = pool->Acquire();
  if (!first.ok()) return first.status();
  return pool;
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> Pool::Connect() {
  try {
    return std::make_unique<pqxx::connection>(conninfo_);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL at ", server_, ": ", OneLine(e.what(), password_)));
  }
}

absl::StatusOr<Pool::Lease> Pool::Acquire() {
  uint64_t generation;
  while (true) {
    std::unique_ptr<pqxx::connection> idle;
    {
      absl::MutexLock lock(&mu_);
      auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !idle_.empty() || open_ < options_.pool_size;
      };
      if (!mu_.AwaitWithTimeout(absl::Condition(&available), absl::FromChrono(options_.acquire_timeout))) {
        return absl::ResourceExhaustedError(absl::StrCat("all ", options_.pool_size,
                                                         " connections to PostgreSQL at ", server_,
                                                         " stayed busy for ", options_.acquire_timeout.count(),
                                                         " ms"));
      }
      generation = generation_;
      if (idle_.empty()) {
        ++open_;  // reserve the slot, connect without holding the lock
        break;
      }
      idle = std::move(idle_.back());
      idle_.pop_back();
    }
    if (IdleConnectionUsable(*idle)) return Lease(this, std::move(idle), generation);
    // Dead while idle (the server restarted): drop it and the other idle ones, then take a
    // fresh connection, so no statement ever runs on it.
    Return(std::move(idle), generation, /*broken=*/true);
  }
  absl::StatusOr<std::unique_ptr<pqxx::connection>> connection = Connect();
  if (!connection.ok()) {
    absl::MutexLock lock(&mu_);
    --open_;
    return connection.status();
  }
  return Lease(this, *std::move(connection), generation);
}

void Pool::Return(std::unique_ptr<pqxx::connection> connection, uint64_t generation, bool broken) {
  bool reuse = !broken && connection->is_open();
  std::vector<std::unique_ptr<pqxx::connection>> to_close;
  {
    absl::MutexLock lock(&mu_);
    if (!reuse) {
      // A broken connection usually means the server restarted: every idle one is dead too.
      ++generation_;
      to_close = std::move(idle_);
      idle_.clear();
      open_ -= static_cast<int>(to_close.size()) + 1;
    } else if (generation != generation_) {
      open_ -= 1;
      reuse = false;
    } else {
      idle_.push_back(std::move(connection));
    }
  }
  // Closing talks to the socket; do it outside the lock.
  to_close.clear();
  if (!reuse) connection.reset();
}

int Pool::open_connections() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

}  // namespace kite::store
