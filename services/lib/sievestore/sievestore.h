// Sieve scripts per account in PostgreSQL (table sieve_scripts, migration 0003): the storage
// behind `kitectl sieve` and ManageSieve (RFC 5804), and where kite-delivery finds the
// script to run (GetActive).
//
// Promises:
//  - Every call names one account; no query reads or writes another account's scripts.
//  - A stored script always compiled (kite::sieve::Compile) when it was stored: Put refuses
//    a bad one with InvalidArgument "line N: reason" and stores nothing.
//  - At most one script per account is active (also a unique index in the schema); the
//    active script cannot be deleted (RFC 5804 DELETESCRIPT answers NO (ACTIVE)).
//  - Changes of one account are serialised (a transaction-scoped advisory lock), so the
//    script count limit holds under concurrent uploads.
//
// Untrusted input: script names and texts from ManageSieve clients and kitectl. Names follow
// RFC 5804 section 1.6 (UTF-8 "Net-Unicode": no control characters, no U+2028/U+2029) and are
// at most kMaxNameLength characters; texts are valid UTF-8 without NUL, at most
// Limits::sieve.max_script_size octets.
//
// Status codes: NotFound (no such script: NONEXISTENT), FailedPrecondition (deleting the
// active script: ACTIVE), AlreadyExists (rename onto an existing name: ALREADYEXISTS),
// ResourceExhausted (QUOTA; QuotaCode() tells MAXSIZE from MAXSCRIPTS), InvalidArgument (a
// bad name or script; the message is safe to show the client), anything else is a storage
// failure (TRYLATER).
#ifndef KITE_SERVICES_LIB_SIEVESTORE_SIEVESTORE_H_
#define KITE_SERVICES_LIB_SIEVESTORE_SIEVESTORE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/sieve/sieve.h"
#include "lib/store/pool.h"

namespace kite::sievestore {

// RFC 5804 1.6: servers must accept names of up to 128 Unicode characters.
inline constexpr size_t kMaxNameLength = 128;

struct Limits {
  size_t max_scripts = 32;  // per account
  sieve::Limits sieve;      // max_script_size bounds a script's text
};

// The Sieve extensions kite::sieve implements (the ManageSieve SIEVE capability), in the
// order they are advertised.
const std::vector<std::string>& Extensions();

// RFC 5804 1.6 script names. InvalidArgument with the reason when refused.
absl::Status ValidateName(std::string_view name);

// Compiles `text` without storing it (CHECKSCRIPT, `kitectl sieve check`): OK, or
// InvalidArgument "line N: reason", or ResourceExhausted (MAXSIZE) when it is too large.
absl::Status Check(std::string_view text, const Limits& limits = {});

// "QUOTA/MAXSIZE" or "QUOTA/MAXSCRIPTS" for a ResourceExhausted from this module, else "".
std::string QuotaCode(const absl::Status& status);

// Creates or replaces the script `name` (replacing the active script keeps it active).
absl::Status Put(store::Pool& pool, int64_t account_id, std::string_view name,
                 std::string_view text, const Limits& limits = {});

absl::StatusOr<std::string> Get(store::Pool& pool, int64_t account_id, std::string_view name);

struct ScriptInfo {
  std::string name;
  bool active = false;
  int64_t size = 0;  // octets
};
// Sorted by name.
absl::StatusOr<std::vector<ScriptInfo>> List(store::Pool& pool, int64_t account_id);

// Makes `name` the active script (the others become inactive); "" deactivates all.
absl::Status SetActive(store::Pool& pool, int64_t account_id, std::string_view name);

// Refuses (FailedPrecondition) to delete the active script.
absl::Status Delete(store::Pool& pool, int64_t account_id, std::string_view name);

// An active script stays active under its new name.
absl::Status Rename(store::Pool& pool, int64_t account_id, std::string_view from,
                    std::string_view to);

// Whether a script `name` of `size` octets could be stored now (HAVESPACE): OK or
// ResourceExhausted (QuotaCode says which limit), InvalidArgument for a bad name.
absl::Status HaveSpace(store::Pool& pool, int64_t account_id, std::string_view name, uint64_t size,
                       const Limits& limits = {});

struct ActiveScript {
  std::string name;
  std::string text;
};
// The script kite-delivery runs for the account, if one is active.
absl::StatusOr<std::optional<ActiveScript>> GetActive(store::Pool& pool, int64_t account_id);

}  // namespace kite::sievestore

#endif  // KITE_SERVICES_LIB_SIEVESTORE_SIEVESTORE_H_
