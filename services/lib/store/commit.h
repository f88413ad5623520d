// commit.h — telling whether a transaction whose COMMIT was cut off did commit.
//
// When the connection to PostgreSQL breaks while COMMIT is in flight (the server crashed or
// restarted right then), libpqxx throws in_doubt_error and Pool::Transact returns
// Unavailable: the transaction may or may not have committed. A caller that must know (a
// front choosing between 250 and 451 for a spooled message) records txid_current() inside
// the transaction, sees IsCommitInDoubt() on the error, and asks TransactionCommitted().
// Input: trusted (a transaction id read from PostgreSQL).
#ifndef KITE_SERVICES_LIB_STORE_COMMIT_H_
#define KITE_SERVICES_LIB_STORE_COMMIT_H_

#include <chrono>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/store/pool.h"

namespace kite::store {

// True for the Status of a transaction whose connection broke during COMMIT.
bool IsCommitInDoubt(const absl::Status& status);

// The outcome of transaction `xid` (a txid_current() value) by txid_status(), asked on
// fresh connections every 200 ms until PostgreSQL answers or `patience` has passed: true
// when it committed, false when it was rolled back (a transaction cut short by a crash
// counts as rolled back once the server is back); Unavailable while that cannot be told.
absl::StatusOr<bool> TransactionCommitted(Pool& pool, int64_t xid, std::chrono::milliseconds patience);

}  // namespace kite::store

#endif  // KITE_SERVICES_LIB_STORE_COMMIT_H_
