// The directory in PostgreSQL: domains, accounts and their default mailboxes, and recipient
// resolution. Used by kite-auth (which answers the other daemons over gRPC) and kitectl.
// Addresses are compared in lower case; the caller passes what a client sent, unchecked
// beyond the SMTP/IMAP parsers' syntax checks (values travel as query parameters only).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/store/pool.h"

namespace kite::directory {

struct Account {
  int64_t id = 0;
  int64_t domain_id = 0;
  std::string address;
  std::string display_name;
  std::string password_hash;
  int64_t quota_bytes = 0;
  bool enabled = true;
};

struct Domain {
  int64_t id = 0;
  std::string name;
};

// The mailboxes every new account gets (RFC 6154 special-use).
struct DefaultMailbox {
  const char* name;
  const char* special_use;  // "" for none
};
inline constexpr DefaultMailbox kDefaultMailboxes[] = {
    {"INBOX", ""},        {"Drafts", "\\Drafts"}, {"Sent", "\\Sent"},
    {"Trash", "\\Trash"}, {"Junk", "\\Junk"},     {"Archive", "\\Archive"},
};

// Splits "local@domain" and lower-cases it; InvalidArgument when it is not an address.
absl::StatusOr<std::pair<std::string, std::string>> SplitAddress(std::string_view address);

absl::StatusOr<int64_t> CreateDomain(store::Pool& pool, std::string_view name);
absl::StatusOr<std::vector<Domain>> ListDomains(store::Pool& pool);
// Creates the account and its default mailboxes in one transaction. The domain must exist.
absl::StatusOr<int64_t> CreateAccount(store::Pool& pool, std::string_view address,
                                      std::string_view display_name, std::string_view password_hash,
                                      int64_t quota_bytes);
absl::StatusOr<std::optional<Account>> FindAccount(store::Pool& pool, std::string_view address);
absl::StatusOr<std::vector<Account>> ListAccounts(store::Pool& pool, std::string_view domain);
absl::Status SetPasswordHash(store::Pool& pool, int64_t account_id, std::string_view hash);

enum class RecipientKind { kAccount, kUnknownLocal, kRemote, kDisabled };
struct Resolution {
  RecipientKind kind = RecipientKind::kRemote;
  std::string canonical;  // local@domain without the +detail
  std::string detail;
  int64_t account_id = 0;
};
// Resolves an RCPT address: sub-addressing (user+tag@domain reaches user), hosted domain or
// not. Aliases, lists, shared mailboxes and resources come with the directory issue.
absl::StatusOr<Resolution> Resolve(store::Pool& pool, std::string_view address);

}  // namespace kite::directory
