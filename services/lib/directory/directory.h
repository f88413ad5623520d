// The directory in PostgreSQL: domains, accounts and their default mailboxes, aliases and
// per-domain catch-alls, distribution lists and their posting policy, shared mailboxes and
// the grants on them, bookable resources and their booking policy; and the questions the
// other daemons ask: recipient resolution (every RCPT), may this user send with this From,
// rights on a shared mailbox, may this user see that one's free/busy.
// Used by kite-auth (which answers the other daemons over gRPC) and kitectl.
//
// Addresses are compared in lower case. Two kinds of input:
//  - administrative (kitectl): checked strictly by NormalizeAddress (RFC 5321 dot-atom local
//    part without '+', LDH domain labels); a bad one is InvalidArgument;
//  - what a client sent (Resolve, CheckSender, MayPost, FreeBusyVisible): split leniently
//    (SplitAddress); values travel as query parameters only.
// One namespace: an address is an account (person, shared mailbox or resource), an alias
// or a list, never two (address_claims, 0002); a clash is AlreadyExists.
// Sub-addressing: "user+tag@domain" reaches user; '+' is therefore refused in new addresses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
  std::string catch_all;  // "" = off (unknown local parts are refused at RCPT)
  int64_t accounts = 0;   // ListDomains only
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

// ---- Address syntax ---------------------------------------------------------------------

// Splits "local@domain" and lower-cases it; InvalidArgument when it is not an address.
// Lenient: for addresses a client sent.
absl::StatusOr<std::pair<std::string, std::string>> SplitAddress(std::string_view address);
// Strict check of an address an operator gives; returns it lower-cased. `allow_plus` is for
// external targets (someone else's sub-address); addresses Kite hosts may not contain '+'.
absl::StatusOr<std::string> NormalizeAddress(std::string_view address, bool allow_plus = false);
// Lower-cased LDH domain name (A-labels for IDNs); InvalidArgument otherwise.
absl::StatusOr<std::string> NormalizeDomain(std::string_view name);

// ---- Domains ----------------------------------------------------------------------------

absl::StatusOr<int64_t> CreateDomain(store::Pool& pool, std::string_view name);
absl::StatusOr<std::vector<Domain>> ListDomains(store::Pool& pool);
// Refuses (FailedPrecondition) while the domain has accounts (people, shared mailboxes,
// resources); its aliases and lists go with it. NotFound for an unknown domain.
absl::Status RemoveDomain(store::Pool& pool, std::string_view name);
// The address that receives mail for unknown local parts of `domain`; "" turns it off (the
// default). The target is a local address that exists, or an external one.
absl::Status SetCatchAll(store::Pool& pool, std::string_view domain, std::string_view target);

// ---- Accounts ---------------------------------------------------------------------------

// Creates the account and its default mailboxes in one transaction. The domain must exist.
absl::StatusOr<int64_t> CreateAccount(store::Pool& pool, std::string_view address,
                                      std::string_view display_name, std::string_view password_hash,
                                      int64_t quota_bytes);
absl::StatusOr<std::optional<Account>> FindAccount(store::Pool& pool, std::string_view address);
absl::StatusOr<std::vector<Account>> ListAccounts(store::Pool& pool, std::string_view domain);
absl::Status SetPasswordHash(store::Pool& pool, int64_t account_id, std::string_view hash);

enum class AccountKind { kUser, kShared, kResource };
const char* AccountKindName(AccountKind kind);  // "user" | "shared" | "resource"

struct Rights {
  bool read = false;
  bool write = false;
  bool send_as = false;
  bool send_on_behalf = false;
  bool any() const { return read || write || send_as || send_on_behalf; }
};
struct Grant {
  std::string address;  // the other side: the grantee (on an owner) or the owner (on a grantee)
  Rights rights;
};

struct AccountDetails {
  Account account;
  AccountKind kind = AccountKind::kUser;
  int64_t used_bytes = 0;
  int64_t used_messages = 0;
  std::vector<std::string> aliases;      // local aliases whose target is this account
  std::vector<std::string> lists;        // lists this account is a direct member of
  std::vector<Grant> granted_to_others;  // grants on this account (shared mailbox, delegation)
  std::vector<Grant> granted_by_others;  // grants this account holds
};
// NotFound for an unknown address.
absl::StatusOr<AccountDetails> ShowAccount(store::Pool& pool, std::string_view address);
absl::Status SetAccountEnabled(store::Pool& pool, std::string_view address, bool enabled);
// Removes the account with its mailboxes, messages' entries, calendars, aliases pointing at
// it, list memberships and grants. Refuses (FailedPrecondition) while it is the delegate of
// a moderated resource.
absl::Status RemoveAccount(store::Pool& pool, std::string_view address);

struct Quota {
  std::string address;
  int64_t limit_bytes = 0;  // 0 = unlimited
  int64_t used_bytes = 0;
  int64_t used_messages = 0;
};
absl::StatusOr<Quota> GetQuota(store::Pool& pool, std::string_view address);
absl::Status SetQuota(store::Pool& pool, std::string_view address, int64_t limit_bytes);

// ---- Aliases ----------------------------------------------------------------------------

struct Alias {
  std::string address;  // "@domain" for a catch-all
  std::string target;
  bool local_target = false;  // target is a local account
};
// SOURCE -> TARGET. The source's domain must be hosted; the target is a local address that
// exists (account, alias, list) or an external one. "@domain" as source sets the domain's
// catch-all (SetCatchAll). One target per alias: a second one is AlreadyExists (use a list).
absl::Status AddAlias(store::Pool& pool, std::string_view source, std::string_view target);
// `target` may be "" (any); when given it must match. "@domain" clears the catch-all.
absl::Status RemoveAlias(store::Pool& pool, std::string_view source, std::string_view target);
// Aliases and catch-alls of one domain, or of all when `domain` is "".
absl::StatusOr<std::vector<Alias>> ListAliases(store::Pool& pool, std::string_view domain);

// ---- Distribution lists -----------------------------------------------------------------

enum class PostingPolicy { kAnyone, kDomain, kMembers, kModerators, kSenders };
const char* PostingPolicyName(PostingPolicy policy);
absl::StatusOr<PostingPolicy> ParsePostingPolicy(std::string_view name);

struct ListMember {
  std::string address;
  int64_t account_id = 0;  // 0 unless a local account
  bool moderator = false;
};
struct List {
  int64_t id = 0;
  std::string address;
  std::string display_name;
  PostingPolicy policy = PostingPolicy::kAnyone;
  std::vector<ListMember> members;
  std::vector<std::string> senders;  // for kSenders
};
absl::StatusOr<int64_t> CreateList(store::Pool& pool, std::string_view address,
                                   PostingPolicy policy, std::string_view display_name = "");
absl::Status SetListPolicy(store::Pool& pool, std::string_view list, PostingPolicy policy);
absl::Status RemoveList(store::Pool& pool, std::string_view list);
// Members: a local address that exists (account, alias, another list) or an external one.
absl::Status AddListMember(store::Pool& pool, std::string_view list, std::string_view member,
                           bool moderator = false);
absl::Status RemoveListMember(store::Pool& pool, std::string_view list, std::string_view member);
absl::Status AddListSender(store::Pool& pool, std::string_view list, std::string_view sender);
absl::Status RemoveListSender(store::Pool& pool, std::string_view list, std::string_view sender);
absl::StatusOr<List> ShowList(store::Pool& pool, std::string_view list);
absl::StatusOr<std::vector<List>> ListLists(store::Pool& pool,
                                            std::string_view domain);  // without members
// May `sender` post to `list` under its posting policy? The sender's sub-address tag is
// ignored; "" (the null sender) may post only where anyone may. NotFound when `list` is not
// a list.
struct PostingDecision {
  bool allowed = false;
  PostingPolicy policy = PostingPolicy::kAnyone;
};
absl::StatusOr<PostingDecision> MayPost(store::Pool& pool, std::string_view list,
                                        std::string_view sender);

struct Expansion {
  std::vector<int64_t> account_ids;  // distinct local accounts (disabled ones left out)
  std::vector<std::string> remote;   // distinct addresses outside the hosted domains
};
// Expands a list for delivery: nested lists and local aliases followed, each list once
// (a loop ends there), depth bounded.
absl::StatusOr<Expansion> ExpandList(store::Pool& pool, std::string_view list);
// The same for any address kite-delivery was handed (a list, a forwarding alias, a domain's
// catch-all, an account): every local account and remote address it finally reaches.
absl::StatusOr<Expansion> ExpandAddress(store::Pool& pool, std::string_view address);

// ---- Shared mailboxes -------------------------------------------------------------------

// An account nobody logs in to (its password hash never verifies), with default mailboxes.
absl::StatusOr<int64_t> CreateSharedMailbox(store::Pool& pool, std::string_view address,
                                            std::string_view display_name, int64_t quota_bytes = 0);
// Adds `rights` to what `user` holds on shared mailbox `shared`. NotFound when either does
// not exist; FailedPrecondition when `shared` is not a shared mailbox; InvalidArgument when
// `user` is not a person's account or no right is given.
absl::Status GrantShared(store::Pool& pool, std::string_view shared, std::string_view user,
                         const Rights& rights);
// Takes `rights` away; the grant disappears when nothing is left.
absl::Status RevokeShared(store::Pool& pool, std::string_view shared, std::string_view user,
                          const Rights& rights);
// What account `account_id` may do on the account at `owner_address` (a shared mailbox, or
// a delegating person). No grant = no rights; an unknown address = no rights.
absl::StatusOr<Rights> GetRights(store::Pool& pool, int64_t account_id,
                                 std::string_view owner_address);

// A grant seen from the grantee's side, with the owner's account id so that a protocol
// daemon can open the owner's mailboxes (every mailstore query names the owning account).
struct SharedAccess {
  int64_t owner_account_id = 0;  // 0 when no right is held
  std::string address;           // the owner's address (canonical, lower case)
  Rights rights;
};
// GetRights with the owner's id and canonical address; no grant (or an unknown address, or a
// disabled grantee) = owner_account_id 0 and no rights.
absl::StatusOr<SharedAccess> GetSharedAccess(store::Pool& pool, int64_t account_id,
                                             std::string_view owner_address);
// The shared mailboxes account `account_id` holds any right on, by address (what IMAP lists
// under its shared namespace). None for a disabled account.
absl::StatusOr<std::vector<SharedAccess>> ListSharedAccess(store::Pool& pool, int64_t account_id);

// ---- Resources --------------------------------------------------------------------------

enum class ResourceKind { kRoom, kVehicle, kEquipment };
const char* ResourceKindName(ResourceKind kind);
absl::StatusOr<ResourceKind> ParseResourceKind(std::string_view name);

struct WorkingHours {
  uint8_t days = 0x1f;   // bit 0 = Monday ... bit 6 = Sunday
  int start_minute = 0;  // minutes after midnight, local time
  int end_minute = 0;    // > start_minute
};
// "08:00-18:00"; days "mon-fri" (default), "all", or "mon,wed,fri".
absl::StatusOr<WorkingHours> ParseWorkingHours(std::string_view hours,
                                               std::string_view days = "mon-fri");

struct ResourcePolicy {
  ResourceKind kind = ResourceKind::kRoom;
  int capacity = 0;  // people; 0 = not applicable
  std::string location;
  bool auto_accept = true;            // false = moderated by the delegate
  int64_t max_duration_seconds = 0;   // 0 = no limit
  int64_t advance_seconds = 0;        // booking window ahead of now; 0 = no limit
  std::optional<WorkingHours> hours;  // none = always bookable
  std::string timezone = "UTC";       // IANA name
  std::string delegate;               // account address; required when moderated
  bool bookers_all = true;            // false: only `bookers` (accounts or lists)
  std::vector<std::string> bookers;
};
struct Resource {
  Account account;
  ResourcePolicy policy;
};
absl::StatusOr<int64_t> CreateResource(store::Pool& pool, std::string_view address,
                                       std::string_view display_name, const ResourcePolicy& policy);
absl::StatusOr<Resource> ShowResource(store::Pool& pool, std::string_view address);

// ---- Questions the daemons ask ----------------------------------------------------------

enum class RecipientKind {
  kAccount,
  kUnknownLocal,
  kRemote,
  kDisabled,
  kAlias,
  kList,
  kSharedMailbox,
  kResource
};
struct Resolution {
  RecipientKind kind = RecipientKind::kRemote;
  std::string canonical;  // local@domain without the +detail
  std::string detail;
  int64_t account_id = 0;            // the first of account_ids (0 when none)
  std::vector<int64_t> account_ids;  // see directory.proto's ResolveRecipientResponse
  std::vector<std::string> forward_to;
  bool catch_all = false;
};
// Resolves an RCPT address with one indexed query (domain, address claim, account or alias
// target, catch-all together). Order: the exact address (tag removed), then the domain's
// catch-all, else unknown local; a domain not hosted is remote.
absl::StatusOr<Resolution> Resolve(store::Pool& pool, std::string_view address);

struct SenderDecision {
  bool allowed = false;
  bool add_sender_header = false;  // send-on-behalf: add Sender: sender_address
  std::string sender_address;
};
// May account `account_id` use `from`? Own address (and its sub-addresses), an alias whose
// target is the account, send-as on the owner (no Sender header) or send-on-behalf (Sender:
// the user's address). Send-as wins when both are granted. A disabled account may not.
absl::StatusOr<SenderDecision> CheckSender(store::Pool& pool, int64_t account_id,
                                           std::string_view from);

// May `viewer_account_id` see the free/busy of `target` (a person, shared mailbox or
// resource, or an alias of one)? People and shared mailboxes: the same domain, or a grant.
// Resources: everyone local when unrestricted, else permitted bookers (directly or through
// a list) and the delegate.
absl::StatusOr<bool> FreeBusyVisible(store::Pool& pool, int64_t viewer_account_id,
                                     std::string_view target);

}  // namespace kite::directory
